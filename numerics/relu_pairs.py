"""The ReLU pair kernel's derivatives, derived by SymPy, for the spurious-minima study (issue 21).

The population loss of a fully connected two-layer ReLU teacher-student network (x ~ N(0, I_d),
f(x) = sum_i a_i relu(w_i.x), teacher sum_j b_j relu(v_j.x)) is

    L = 1/2 sum_ij a_i a_j kappa(w_i, w_j) - sum_ij a_i b_j kappa(w_i, v_j)
        + 1/2 sum_ij b_i b_j kappa(v_i, v_j),

with kappa(u, w) = E[relu(u.x) relu(w.x)].  Nothing here types kappa: it is the registered,
already-derived ``gaussian.relu_cross_moment`` (004 thesis, Lemma 5.6 (iv), derived by polar
integration in derivations/gaussian.py).  Its gradient and Hessian with respect to the vectors
come from :func:`derivations.vectors.grad` (SymPy's chain rule through |u|, |w| and the angle):

    grad_u kappa = c_u u + c_w w,
    d^2 kappa / du dz^T = c_z I + u (grad_z c_u)^T + w (grad_z c_w)^T     (z = u or w),

and every ``grad_z c`` is again a combination ``p u + q w`` whose coefficients SymPy derives.
The self pair kappa(u, u) is the derived form at angle 0 with |w| = |u| (SymPy substitution).

Two evaluators consume the same SymPy coefficients: NumPy (:mod:`numerics.relu_teacher`, the
float stand-in for issue 20's engine) and python-flint's ball arithmetic
(:mod:`numerics.certify`, rigorous enclosures) through :func:`arb_eval`, which walks the SymPy
tree with exact rationals (no float constants).
"""
from __future__ import annotations

import functools

import sympy as sp


@functools.lru_cache(maxsize=None)
def derived() -> dict:
    """The SymPy coefficients (in the invariants |u|, |w|, phi) of kappa's derivatives.

    Returns ``{"symbols": (norm_u, norm_w, phi), "kappa": F, "self": S(norm_u),
    "grad": {"u": c_u, "w": c_w}, "hess": {(z, c, b): coefficient}, "self_grad": s,
    "self_hess": t}`` where ``hess[(z, c, b)]`` is the coefficient of the basis vector ``b`` in
    ``grad_z c_c``; the self term is ``grad S = s u`` and ``d^2 S/du^2 = s I + t u u^T``.
    """
    import derivations
    from derivations import gaussian as G
    from derivations import vectors as V

    F = derivations.get("gaussian.relu_cross_moment").expr
    U, W = G.U, G.W
    nu, nw, phi = V.norm(U), V.norm(W), V.angle(U, W)
    vec = {"u": U, "w": W}

    def split(expr):
        parts = {str(b): c for c, b in V.components(expr, 1)}
        unknown = set(parts) - {"u", "w"}
        if unknown:  # pragma: no cover - the derivation changed shape
            raise AssertionError(f"unexpected basis {unknown}")
        return {b: parts.get(b, sp.Integer(0)) for b in ("u", "w")}

    grad = split(V.grad(F, U))
    hess = {}
    for z in ("u", "w"):
        for c in ("u", "w"):
            for b, coef in split(V.grad(grad[c], vec[z])).items():
                hess[(z, c, b)] = coef
    S = sp.simplify(F.subs(phi, 0).subs(nw, nu))
    sg = split(V.grad(S, U))
    if sg["w"] != 0:  # pragma: no cover
        raise AssertionError("self term depends on w")
    st = split(V.grad(sg["u"], U))
    return {"symbols": (nu, nw, phi), "kappa": F, "self": S, "grad": grad, "hess": hess,
            "self_grad": sg["u"], "self_hess": st["u"]}


@functools.lru_cache(maxsize=None)
def numpy_functions() -> dict:
    """The coefficients of :func:`derived` as NumPy functions of ``(norm_u, norm_w, phi)``
    (``lambdify``; the self coefficients take ``norm_u`` only; ``grad_s``: the gradient
    coefficients as functions of ``(norm_u, norm_w, phi, sin_phi)``)."""
    D = derived()
    args = D["symbols"]

    def f(expr, a=args):
        return sp.lambdify(a, expr, "numpy")

    nu, nw, phi = args
    s = sp.Symbol("sin_phi", positive=True)
    return {"kappa": f(D["kappa"]), "self": f(D["self"], args[:1]),
            "grad": {b: f(c) for b, c in D["grad"].items()},
            # the same coefficients with sin(phi) an argument (the caller has a stable sine)
            "grad_s": {b: f(c.xreplace({sp.sin(phi): s}), (nu, nw, phi, s))
                       for b, c in D["grad"].items()},
            "hess": {key: f(c) for key, c in D["hess"].items()},
            "self_grad": f(D["self_grad"], args[:1]), "self_hess": f(D["self_hess"], args[:1])}


def arb_eval(expr: sp.Expr, env: dict):
    """Evaluate the SymPy expression ``expr`` in python-flint ball arithmetic.

    ``env`` maps symbols to ``flint.arb`` balls.  Rationals become exact quotients, ``pi`` the
    arb enclosure of pi; supported: Add, Mul, Pow (integer or half-integer exponents), sin, cos,
    tan, acos, sqrt.  The result encloses the exact value for every point of the input balls.
    """
    import flint

    cache: dict = {}

    def ev(e):
        if e in cache:
            return cache[e]
        if e.is_Symbol:
            out = env[e]
        elif e.is_Integer:
            out = flint.arb(int(e))
        elif e.is_Rational:
            out = flint.arb(int(e.p)) / int(e.q)
        elif e is sp.pi:
            out = flint.arb.pi()
        elif e.is_Add:
            out = flint.arb(0)
            for t in e.args:
                out = out + ev(t)
        elif e.is_Mul:
            out = flint.arb(1)
            for t in e.args:
                out = out * ev(t)
        elif e.is_Pow:
            base, ex = e.args
            b = ev(base)
            if ex.is_Integer:
                n = int(ex)
                out = b ** abs(n) if n >= 0 else 1 / (b ** abs(n))
            elif ex.is_Rational and ex.q == 2:
                r = b.sqrt()
                n = int(ex.p)
                out = r ** abs(n) if n >= 0 else 1 / (r ** abs(n))
            else:
                raise ValueError(f"arb_eval: unsupported power {e}")
        elif isinstance(e, sp.sin):
            out = ev(e.args[0]).sin()
        elif isinstance(e, sp.cos):
            out = ev(e.args[0]).cos()
        elif isinstance(e, sp.tan):
            out = ev(e.args[0]).tan()
        elif isinstance(e, sp.acos):
            out = ev(e.args[0]).acos()
        else:
            raise ValueError(f"arb_eval: unsupported node {type(e).__name__} in {e}")
        cache[e] = out
        return out

    return ev(sp.sympify(expr))
