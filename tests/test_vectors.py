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


# --- the emitter's trig-free angle algebra (issue 7): rules derived and proved by SymPy ---------

def test_angle_rewrite_rules_are_identities():
    from derivations import codegen

    c = sp.Symbol("c", real=True)
    rules = codegen.angle_rules()
    assert sp.simplify(rules["cos"][0] - c) == 0
    assert sp.simplify(rules["sin"][0] - sp.sqrt(1 - c**2)) == 0
    assert sp.simplify(rules["sin"][1] ** 2 - (1 - c) * (1 + c)) == 0
    # pi - acos(c) = acos(-c) on [-1, 1]
    assert all(abs(float((rules["psi"][0] - rules["psi"][1]).subs(c, t))) < 1e-15
               for t in (-1, -0.3, 0, 0.7, 1))


def test_rejection_identities():
    """y = (x.y/|x|^2) x + r with r orthogonal to x, |r| = |y| sin(phi): component-wise."""
    x = sp.Matrix(sp.symbols("x0:3", real=True))
    y = sp.Matrix(sp.symbols("y0:3", real=True))
    r = y - (x.dot(y) / x.dot(x)) * x
    assert sp.simplify(r.dot(x)) == 0
    cos = x.dot(y) / sp.sqrt(x.dot(x) * y.dot(y))
    assert sp.simplify(r.dot(r) - y.dot(y) * (1 - cos**2)) == 0


def test_rewritten_coefficients_equal_the_derived_ones():
    """Undo the rewrite (cos, sin, psi -> cos(phi), sin(phi), pi - phi; rejections -> the
    vectors): the emitted coefficients are the derived expression, exactly."""
    import derivations as D
    from derivations import codegen

    cases = [(n, False) for n in ("gaussian.relu_cross_moment", "gaussian.wedge_second_moment",
                                  "cnn.grad_v", "cnn.population_loss", "cnn.population_loss_w",
                                  "cnn.grad_a", "gaussian.g")]
    cases.append(("cnn.grad_a", True))  # as in the fused function: in a - |w*| a*
    for name, vector_differences in cases:
        f = D.get(name)
        plan = codegen._Plan(f, vector_differences=vector_differences)
        if name in ("cnn.population_loss", "cnn.population_loss_w") or vector_differences:
            assert plan.differences, name
        back = {}
        for a in plan.angles:
            back.update(a.back())
        for d in plan.differences:
            X, Y = sp.Symbol(d.x), sp.Symbol(d.y)
            back[d.sq] = (d.A**2 * V.norm(X) ** 2 - 2 * d.A * d.B * V.dot(X, Y)
                          + d.B**2 * V.norm(Y) ** 2)
            back[d.tot] = d.A * V.total(X) - d.B * V.total(Y)
        total = 0
        for c, b in plan.parts:
            c = c.subs(back)
            if b is None:
                total += c
                continue
            diff = [d for d in plan.differences if d.vec == b]
            if diff:
                total += c * (diff[0].A * sp.Symbol(diff[0].x) - diff[0].B * sp.Symbol(diff[0].y))
                continue
            rej = [r for r in plan.rejections if r.symbol == b]
            if rej:
                r = rej[0]
                X, Y = sp.Symbol(r.x), sp.Symbol(r.y)
                b = Y - V.norm(Y) * sp.cos(r.angle.phi) / V.norm(X) * X
            total += c * b
        assert sp.simplify(sp.expand(total - f.expr)) == 0, name


def test_difference_identities():
    """|x|^2 and 1.x in terms of |A x - B y|^2 and 1.(A x - B y): exact, componentwise."""
    from derivations import codegen

    d = codegen.Difference("a", "a_star", sp.Integer(1), sp.Symbol("B"))
    assert d.identities() == (0, 0)
