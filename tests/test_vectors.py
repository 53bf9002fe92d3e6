"""The invariant-coordinate calculus: its gradient rules agree with component-wise SymPy."""
import sympy as sp

from derivations import vectors as V

X = V.vector("tx", "t3")
Y = V.vector("ty", "t3")


def components(expr_inv, n=3):
    """Substitute explicit components for the invariants of tx, ty (3-vectors)."""
    x = sp.symbols("x0:3", real=True)
    y = sp.symbols("y0:3", real=True)
    nx = sp.sqrt(sum(t**2 for t in x))
    ny = sp.sqrt(sum(t**2 for t in y))
    dxy = sum(s * t for s, t in zip(x, y))
    subs = {V.norm(X): nx, V.norm(Y): ny, V.dot(X, Y): dxy, V.total(X): sum(x),
            V.angle(X, Y): sp.acos(dxy / (nx * ny))}
    return x, y, subs


def check_grad(F):
    x, y, subs = components(F)
    G = V.grad(F, X)
    point = {**dict(zip(x, (0.3, -1.1, 0.7))), **dict(zip(y, (0.9, 0.2, -0.4)))}
    for j in range(3):
        explicit = sp.diff(F.subs(subs), x[j]).subs(point)
        lifted = sum(sp.diff(G, b) * vec[j] for b, vec in ((X, x), (Y, y)))
        lifted += sp.diff(G, V.ones("t3"))  # the all-ones direction (component 1)
        lifted = sp.sympify(lifted).subs(subs).subs(point)
        assert abs(float(explicit) - float(lifted)) < 1e-12


def test_grad_of_dot_norm_total():
    check_grad(V.dot(X, Y) * V.norm(X) ** 3 + V.total(X) ** 2)


def test_grad_through_the_angle():
    phi = V.angle(X, Y)
    check_grad((sp.pi - phi) * sp.cos(phi) * V.norm(X) + sp.sin(phi) ** 2)


def test_components_roundtrip_and_linearity():
    e = 3 * V.norm(X) * X - V.dot(X, Y) * Y
    parts = dict((b, c) for c, b in V.components(e, 1))
    assert parts[X] == 3 * V.norm(X) and parts[Y] == -V.dot(X, Y)
    import pytest

    with pytest.raises(ValueError):
        V.components(X * Y, 1)
