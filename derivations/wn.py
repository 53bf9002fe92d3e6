"""Weight normalization (seed 002: Dukler, Gu & Montufar, ICML 2020), sections 2-4.

Reparametrization (2.1): ``w = g v / |v|``.  Network (1.2): ``f(x) = m^{-1/2} sum_k c_k
sigma(g_k v_k.x / |v_k|)``; initialization (2.4): ``v_k ~ N(0, alpha^2 I)``, ``g_k = |v_k|/alpha``.

Derivation, in the order of the paper:

1. Chain rule (sec. 2, "Properties of WN"): for a function of ``w`` with gradient ``q = grad_w``
   at the point, only the linear part ``q.w(v, g) = g (q.v)/|v|`` matters; SymPy differentiates
   it through the invariants (:func:`derivations.vectors.grad`) to ``grad_v`` and ``d/dg``.
   ``<grad_v, v> = 0`` and one GD step ``|v - eta grad_v|^2 = |v|^2 + eta^2 |grad_v|^2`` (2.3)
   follow by SymPy algebra on the derived components.
2. Output gradients (sec. 3): the neuron ``c sigma(g v.x/|v|)/sqrt(m)`` on its active side
   (``g v.x >= 0``) is linear in ``w``, so step 1 with ``q = c x/sqrt(m)`` gives ``df/dv`` and
   ``df/dg`` (zero on the inactive side; ``sigma'(0) := 0`` is immaterial).
3. Per-neuron Gram terms: ``m alpha^2 <df(x)/dv, df(y)/dv>`` (V, eq. 3.3), ``m df(x)/dg df(y)/dg``
   (G, eq. 3.4) and ``m <df(x)/dw, df(y)/dw>`` (H, eq. 3.6), by SymPy from step 2; the Grams are
   their means over neurons.  Proposition 1 and Observation 1 are SymPy identities at
   ``g = |v|/alpha`` (proved in the checks).
4. ``N = S S^T`` with ``S = dw/d(v, g)`` (sec. 4, natural gradient): the block of one neuron,
   from the derived Jacobian; the printed ``S_k`` has ``|v|`` where ``|v|^2`` belongs.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import vectors as V
from .registry import Arg, Formula, register

from .knobs import cached, knob

SOURCE = "002 WN (Dukler, Gu & Montufar)"

VV = V.vector("v", "p")
Q = V.vector("grad_w", "p", r"\nabla_{\mathbf{w}}f")
XP = V.vector("x_p", "p", r"\mathbf{x}")
YP = V.vector("y_p", "p", r"\mathbf{y}")
G_ = sp.Symbol("g", real=True)
ETA = sp.Symbol("eta", positive=True)
ALPHA = sp.Symbol("alpha", positive=True)
C_ = sp.Symbol("c", real=True)
M_ = sp.Symbol("m", positive=True)
OUTER_VV = V.outer(VV, VV)
EYE = V.eye("p")


# --- 1. the reparametrization ---------------------------------------------------------------


def reparam_linear(q: sp.Symbol) -> sp.Expr:
    """``q.w(v, g)`` with ``w = g v/|v|`` (eq. 2.1); its constants (the scale 1 and the power 1
    of ``|v|``) are knobs."""
    scale = knob("wn.reparam_scale", 1)
    power = knob("wn.norm_power", 1)
    return scale * G_ * V.dot(q, VV) / V.norm(VV) ** power


@cached
def grad_v() -> sp.Expr:
    """``grad_v F = (dw/dv)^T grad_w F`` by SymPy through the invariants."""
    return V.grad(reparam_linear(Q), VV)


@cached
def grad_g() -> sp.Expr:
    """``dF/dg = (dw/dg).grad_w F``: a scalar."""
    return sp.simplify(sp.diff(reparam_linear(Q), G_))


def components(expr, basis=(Q, VV)):
    return {b: sp.simplify(sp.diff(expr, b)) for b in basis}


def _dot(e1, e2, basis):
    """Inner product of two linear combinations of the ``basis`` vectors (invariants)."""
    c1, c2 = components(e1, basis), components(e2, basis)
    return sp.simplify(sum(c1[a] * c2[b] * V.dot(a, b) for a in basis for b in basis))


def orthogonality() -> sp.Expr:
    """``<grad_v, v>`` (simplifies to 0)."""
    return sp.simplify(_dot(grad_v(), VV, (Q, VV)))


@cached
def norm_after_gd_step() -> sp.Expr:
    """``|v - eta grad_v|^2`` expanded through the invariants (eq. 2.3), then with ``q.v`` written
    as ``|q||v| cos(phi)``: the cancelling ``|q|^2|v|^2 - (q.v)^2`` becomes ``|q|^2|v|^2
    sin^2(phi)``, which the emitted code takes from the near-parallel double-double angle terms
    (the cancelling form lost 6e-11 of the value at p = 1, where grad_v = 0; issue 19 item 3)."""
    step = VV - ETA * grad_v()
    expr = sp.simplify(sp.expand(_dot(step, step, (Q, VV))))
    phi = V.angle(Q, VV)
    return sp.simplify(expr.subs(V.dot(Q, VV), V.norm(Q) * V.norm(VV) * sp.cos(phi)))


def paper_norm_after_gd_step() -> sp.Expr:
    return V.norm(VV) ** 2 + ETA**2 * _dot(grad_v(), grad_v(), (Q, VV))


def paper_grad_v() -> sp.Expr:
    nv = V.norm(VV)
    return G_ / nv * (Q - V.dot(VV, Q) / nv**2 * VV)


def paper_grad_g_vector() -> sp.Expr:
    """The printed ``df/dg = (grad_w f)^v = v v^T grad_w f / |v|^2`` (a vector)."""
    return V.dot(VV, Q) / V.norm(VV) ** 2 * VV


# --- 2. output gradients of one neuron (sec. 3) -----------------------------------------------


def _active(expr: sp.Expr) -> sp.Expr:
    """``expr`` on the active side ``g v.x >= 0`` of the ReLU, 0 elsewhere."""
    return sp.Piecewise((expr, G_ * V.dot(VV, XP) >= 0), (0, True))


@cached
def df_dv() -> sp.Expr:
    """``d f(x)/d v_k`` for the neuron ``c sigma(g v.x/|v|)/sqrt(m)``: on the active side the
    neuron is ``(c/sqrt(m)) x.w``, so the chain rule of step 1 with ``q = c x/sqrt(m)``."""
    lin = C_ / sp.sqrt(M_) * reparam_linear(XP)
    g = V.grad(lin, VV)
    return sum(_active(c) * b for b, c in components(g, (XP, VV)).items())


@cached
def df_dg() -> sp.Expr:
    lin = C_ / sp.sqrt(M_) * reparam_linear(XP)
    return _active(sp.simplify(sp.diff(lin, G_)))


# --- 3. per-neuron Gram terms ------------------------------------------------------------------


def _active_xy(expr):
    """``expr 1{v.x >= 0} 1{v.y >= 0}`` (nested, so that the emitted conditions broadcast)."""
    inner = sp.Piecewise((expr, V.dot(VV, YP) >= 0), (0, True))
    return sp.Piecewise((inner, V.dot(VV, XP) >= 0), (0, True))


def _linear_part(pw: sp.Expr) -> sp.Expr:
    """The active-side expression of (nested) ``Piecewise((e, cond), (0, True))``."""
    while isinstance(pw, sp.Piecewise):
        pw = pw.args[0][0]
    return pw


@cached
def v_term() -> sp.Expr:
    """``m alpha^2 <df(x)/dv, df(y)/dv>`` (one neuron's term of V, eq. 3.3; ``c^2 = 1``, ``g > 0``)."""
    gx = sum(_linear_part(c) * b for b, c in components(df_dv(), (XP, VV)).items())
    gy = gx.subs(XP, YP).subs(V.dot(VV, XP), V.dot(VV, YP))
    val = M_ * ALPHA**2 * _dot(gx, gy, (XP, YP, VV))
    return _active_xy(sp.simplify(val.subs(C_**2, 1)))


@cached
def g_term() -> sp.Expr:
    """``m df(x)/dg df(y)/dg`` (one neuron's term of G, eq. 3.4)."""
    ax = _linear_part(df_dg())
    ay = ax.subs(V.dot(VV, XP), V.dot(VV, YP))
    return _active_xy(sp.simplify((M_ * ax * ay).subs(C_**2, 1)))


@cached
def h_term() -> sp.Expr:
    """``m <df(x)/dw, df(y)/dw>`` for the unnormalized neuron ``c sigma(w.x)/sqrt(m)`` at
    ``w = v/alpha`` (H, eq. 3.6): ``grad_w (c w.x/sqrt(m)) = c x/sqrt(m)`` on the active side."""
    gx = V.grad(C_ / sp.sqrt(M_) * V.dot(VV, XP) / ALPHA, VV) * ALPHA  # d/dw = alpha d/dv
    gy = gx.subs(XP, YP)
    return _active_xy(sp.simplify((M_ * _dot(gx, gy, (XP, YP))).subs(C_**2, 1)))


def at_init(expr: sp.Expr) -> sp.Expr:
    """Substitute the initialization (2.4): ``g = |v|/alpha``."""
    return expr.subs(G_, V.norm(VV) / ALPHA)


# --- Lemma 4.1 proof sketch: theta_i and phi_i --------------------------------------------


@cached
def grad_theta() -> sp.Expr:
    """``grad_v theta_i`` for ``theta_i(v) = sigma(v.x_i)/|v|`` (the intended reading of the
    printed ``sigma(x_i^v)``): on the active side ``theta = v.x/|v|``, differentiated by SymPy."""
    lin = knob("wn.reparam_scale", 1) * V.dot(VV, XP) / V.norm(VV) ** knob("wn.norm_power", 1)
    g = V.grad(lin, VV)
    return sum(sp.Piecewise((c, V.dot(VV, XP) >= 0), (0, True)) * b
               for b, c in components(g, (XP, VV)).items())


def paper_grad_theta() -> sp.Expr:
    """The printed claim "phi_i corresponds to d theta_i/dv": ``phi_i = x^{v perp} 1{x.v >= 0}``."""
    nv2 = V.norm(VV) ** 2
    return sum(sp.Piecewise((c, V.dot(VV, XP) >= 0), (0, True)) * b
               for b, c in ((XP, sp.Integer(1)), (VV, -V.dot(VV, XP) / nv2)))


# --- 4. natural-gradient metric block (sec. 4) ----------------------------------------------


_NCV, _NCVT = sp.symbols("v v^T", commutative=False)  # v and v^T in the matrix algebra


def _nc_transpose(e: sp.Expr) -> sp.Expr:
    """Transpose of a polynomial in ``v``, ``v^T`` (noncommutative) with scalar coefficients:
    each product reversed, ``v <-> v^T`` (``I^T = I`` is the scalar 1)."""
    swap = {_NCV: _NCVT, _NCVT: _NCV}
    out = []
    for t in sp.Add.make_args(sp.expand(e)):
        c, nc = t.args_cnc()
        out.append(sp.Mul(*c) * sp.Mul(*[swap[f] for f in reversed(nc)]))
    return sp.Add(*out)


def reparam_vector() -> sp.Expr:
    """``w = g v/|v|`` (eq. 2.1) as an invariant vector expression, with the same knobs as
    :func:`reparam_linear`."""
    return knob("wn.reparam_scale", 1) * G_ * VV / V.norm(VV) ** knob("wn.norm_power", 1)


@cached
def n_block() -> sp.Expr:
    """``S_k S_k^T`` with ``S_k = [dw/dv, dw/dg]`` (d x (d+1)), by SymPy matrix algebra.

    ``dw/dv = a I + b v v^T`` is read off the derived ``grad_v`` (``grad_v = (dw/dv)^T q`` for
    every ``q``: ``a`` the coefficient of ``q``, ``b v.q`` that of ``v``); ``dw/dg = c v`` by
    ``sp.diff`` of ``w = g v/|v|`` in ``g``.  In the algebra of noncommutative ``v``, ``v^T``
    (``I`` the unit), ``S S^T = (dw/dv)(dw/dv)^T + (dw/dg)(dw/dg)^T`` is expanded by SymPy and
    ``v^T v`` replaced by the scalar ``|v|^2`` (which gives the projector identity ``(v v^T)^2 =
    |v|^2 v v^T``); what remains is ``alpha I + beta v v^T``."""
    c = components(grad_v(), (Q, VV))
    a = c[Q]
    b_vv = sp.simplify(c[VV] / V.dot(VV, Q)) if c[VV] != 0 else 0
    dw_dg = sp.diff(reparam_vector(), G_)
    c_g = sp.simplify(sp.diff(dw_dg, VV))
    if sp.simplify(dw_dg - c_g * VV) != 0:
        raise ArithmeticError(f"dw/dg is not along v: {dw_dg}")
    jac_v = a + b_vv * _NCV * _NCVT
    jac_g = c_g * _NCV
    ss = sp.expand(jac_v * _nc_transpose(jac_v) + jac_g * _nc_transpose(jac_g))
    ss = sp.expand(ss.subs(_NCVT * _NCV, V.norm(VV) ** 2))
    outer = sp.Dummy("vvT")
    ss = sp.expand(ss.subs(_NCV * _NCVT, outer))
    if not ss.is_commutative:
        raise ArithmeticError(f"S S^T is not in span(I, v v^T): {ss}")
    beta = sp.simplify(ss.coeff(outer))
    alpha = sp.simplify(ss.subs(outer, 0))
    return sp.expand(alpha * EYE + beta * OUTER_VV)


def paper_n_block() -> sp.Expr:
    """The printed ``S_k = [g/|v| (I - v v^T/|v|), v/|v|]`` (|v| where |v|^2 belongs), squared."""
    nv = V.norm(VV)
    a = G_ / nv
    b = -a / nv  # the printed projector's v v^T coefficient times a
    return sp.expand(a**2 * EYE + (2 * a * b + b**2 * nv**2) * OUTER_VV + OUTER_VV / nv**2)


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

_ARGS = (Arg("v", "vector", "direction parameter v (w = g v/|v|)", "p", nonzero=True),
         Arg("g", "scalar", "length parameter g"),
         Arg("grad_w", "vector", "gradient of the function with respect to w at w(v, g)", "p"))
_RE = "w = g v/|v| (eq. 2.1)"

register(Formula(
    "wn.grad_v", f"{SOURCE}, sec. 2 'Properties of WN'", _ARGS, _RE, grad_v, rank=1,
    lhs=r"\nabla_{\mathbf{v}}f", paper=paper_grad_v,
    paper_reading="grad_v f = g/|v| (grad_w f)^{v perp}, x^{v perp} = (I - v v^T/|v|^2) x",
))
register(Formula(
    "wn.grad_g", f"{SOURCE}, sec. 2 'Properties of WN'", _ARGS, _RE, grad_g,
    lhs=r"\frac{\partial f}{\partial g}",
    paper_reading="df/dg = (grad_w f)^v = v v^T grad_w f/|v|^2: a VECTOR for a scalar g",
))
register(Formula(
    "wn.norm_after_gd_step", f"{SOURCE}, eq. (2.3)",
    _ARGS + (Arg("eta", "scalar", "step size", positive=True),),
    _RE + "; v(s+1) = v(s) - eta grad_v", norm_after_gd_step,
    lhs=r"\|\mathbf{v}-\eta\nabla_{\mathbf{v}}f\|^2", paper=paper_norm_after_gd_step,
    paper_reading="eq. (2.3): |v(s+1)|^2 = |v(s)|^2 + eta^2 |grad_v f|^2 (grad_v L meant)",
))

_NEURON = (Arg("v", "vector", "neuron direction v_k", "p", nonzero=True),
           Arg("g", "scalar", "neuron length g_k"),
           Arg("c", "scalar", "output weight c_k in {-1, 1}"),
           Arg("x_p", "vector", "data point x_i", "p"),
           Arg("m", "scalar", "width m", positive=True))
_NET = "f(x) = m^{-1/2} sum_k c_k relu(g_k v_k.x/|v_k|) (eq. 1.2); relu'(0) := 0"

register(Formula(
    "wn.df_dv", f"{SOURCE}, sec. 3 (gradient of f_i w.r.t. v_k)", _NEURON, _NET, df_dv, rank=1,
    lhs=r"\frac{\partial f(\mathbf{x})}{\partial\mathbf{v}_k}",
))
register(Formula(
    "wn.df_dg", f"{SOURCE}, sec. 3 (gradient of f_i w.r.t. g_k)", _NEURON, _NET, df_dg,
    lhs=r"\frac{\partial f(\mathbf{x})}{\partial g_k}",
))

_TERM = (Arg("v", "vector", "neuron direction v_k", "p", nonzero=True),
         Arg("g", "scalar", "neuron length g_k > 0", positive=True),
         Arg("x_p", "vector", "data point x_i", "p"),
         Arg("y_p", "vector", "data point x_j", "p"),
         Arg("alpha", "scalar", "initialization scale alpha", positive=True))
_T = _NET + "; c_k^2 = 1; the Gram matrix is the mean of the term over the m neurons"
register(Formula(
    "wn.v_term", f"{SOURCE}, eq. (3.3) (one neuron's term of V)", _TERM, _T, v_term,
    lhs=r"m\alpha^2\left\langle\frac{\partial f(\mathbf{x})}{\partial\mathbf{v}_k},"
        r"\frac{\partial f(\mathbf{y})}{\partial\mathbf{v}_k}\right\rangle",
))
register(Formula(
    "wn.g_term", f"{SOURCE}, eq. (3.4) (one neuron's term of G)", _TERM, _T, g_term,
    lhs=r"m\frac{\partial f(\mathbf{x})}{\partial g_k}\frac{\partial f(\mathbf{y})}{\partial g_k}",
))
register(Formula(
    "wn.h_term", f"{SOURCE}, eq. (3.6) (one neuron's term of the NTK H at w_k = v_k/alpha)",
    _TERM, _T + "; unnormalized neuron c relu(w.x)/sqrt(m), w = v/alpha", h_term,
    lhs=r"m\left\langle\frac{\partial f(\mathbf{x})}{\partial\mathbf{w}_k},"
        r"\frac{\partial f(\mathbf{y})}{\partial\mathbf{w}_k}\right\rangle",
))
register(Formula(
    "wn.grad_theta", f"{SOURCE}, sec. 4 proof sketch of Lemma 4.1 (theta_i, phi_i)",
    (Arg("v", "vector", "direction v", "p", nonzero=True),
     Arg("x_p", "vector", "data point x_i", "p")),
    "theta_i(v) = relu(v.x_i)/|v| (the printed sigma(x_i^v) applies sigma to a vector)",
    grad_theta, rank=1, lhs=r"\nabla_{\mathbf{v}}\theta_i(\mathbf{v})", paper=paper_grad_theta,
    paper_reading="'each phi_i corresponds to d theta_i/dv', phi_i(v) = x_i^{v perp} 1{x_i.v >= 0}",
))
register(Formula(
    "wn.n_block", f"{SOURCE}, sec. 4 'Connection with natural gradient' (S_k S_k^T)",
    _ARGS[:2], _RE + "; S_k = d w_k / d(v_k, g_k) in R^{d x (d+1)}", n_block, rank=2,
    lhs=r"\mathbf{S}_k\mathbf{S}_k^\top", paper=paper_n_block,
    paper_reading="S_k = [g/|v| (I - v v^T/|v|_2), v/|v|_2] as printed; Lambda = J S^T S J^T",
))


# --------------------------------------------------------------------------------------------
# Public numeric API: Gram matrices of a finite WN network (emitted terms, no SymPy)
# --------------------------------------------------------------------------------------------


def grams(Vk, g, X, alpha):
    """``(V, G, H)`` of eqs. (3.3), (3.4), (3.6) for neurons ``Vk`` (m, d), lengths ``g`` (m,),
    data ``X`` (n, d): means over neurons of the emitted per-neuron terms.  ``Lambda = V/alpha^2
    + G`` (3.5)."""
    from . import runtime as _rt
    from .generated import wn as gen

    # (rejects masked arrays, np.matrix, NaN/inf, text, complex, naming the argument)
    Vk, g, X = _rt.array("Vk", Vk), _rt.array("g", g), _rt.array("X", X)
    if Vk.ndim != 2 or X.ndim != 2 or Vk.shape[1] != X.shape[1]:
        raise ValueError("X must have shape (n, d) and Vk shape (m, d) with the same d")
    if g.shape != (Vk.shape[0],):
        raise ValueError(f"g must have shape ({Vk.shape[0]},), got {g.shape}")
    if X.shape[0] == 0:
        raise ValueError("X must contain at least one data point")
    a = Vk[:, None, None, :]
    gg = g[:, None, None]
    xi, xj = X[None, :, None, :], X[None, None, :, :]
    return tuple(getattr(gen, t)(a, gg, xi, xj, alpha).mean(axis=0)
                 for t in ("v_term", "g_term", "h_term"))


# --------------------------------------------------------------------------------------------
# 5. Width conditions of Theorems 4.1-4.2 and Proposition 2; alpha = sqrt(n/mu_0) (issue 24)
# --------------------------------------------------------------------------------------------
#
# The conditions m = Omega(...) are the theorems' HYPOTHESES: their proofs (App. B-C) are not in
# the seed (002 has the main text; 001's appendix has its math stripped), so the polynomials are
# premises, stated with the unknown Omega-constant set to 1 (a knob, ``wn.width_const``), like
# the model definitions.  What follows from them is derived: the alpha at which Theorem 4.2's two
# terms meet (``solve``) and the width there (substitution), the sec. 4 remark "taking
# alpha = sqrt(n/mu_0) gives m = Omega(n^2 log(n/delta)/mu_0^2)".

N_, DELTA, LAM0, MU0 = sp.symbols("n delta lambda_0 mu_0", positive=True)


def _log_term():
    return sp.log(N_ / DELTA)


def width_thm41_expr() -> sp.Expr:
    """Theorem 4.1's hypothesis ``m = Omega(n^4 log(n/delta)/lambda_0^4)`` (premise, constant 1)."""
    return knob("wn.width_const", 1) * N_**4 * _log_term() / LAM0**4


def _thm42_terms():
    k = knob("wn.width_const", 1)
    return (k * N_**4 * _log_term() / (ALPHA**4 * MU0**4), k * N_**2 * _log_term() / MU0**2)


@cached
def width_thm42_expr() -> sp.Expr:
    """Theorem 4.2's hypothesis ``m = Omega(max{n^4 log(n/delta)/(alpha^4 mu_0^4),
    n^2 log(n/delta)/mu_0^2})`` (premise, constant 1), written with the max resolved at the
    crossing :func:`alpha_opt_expr` (the first term decreases in alpha)."""
    t1, t2 = _thm42_terms()
    return sp.Piecewise((t1, ALPHA < alpha_opt_expr()), (t2, True))


def width_prop2_expr() -> sp.Expr:
    """Proposition 2's hypothesis ``m = Omega(n^4 log(n/delta)/min{lambda_0^4, mu_0^4})``."""
    k = knob("wn.width_const", 1)
    return sp.Piecewise((k * N_**4 * _log_term() / LAM0**4, LAM0 <= MU0),
                        (k * N_**4 * _log_term() / MU0**4, True))


@cached
def alpha_opt_expr() -> sp.Expr:
    """The smallest alpha at which Theorem 4.2's width is its alpha-free term: the first term
    decreases in alpha (SymPy: its derivative is negative), so the max is smallest from the
    alpha where the two terms meet, ``solve`` (positive root): ``sqrt(n/mu_0)``."""
    t1, t2 = _thm42_terms()
    if not sp.simplify(sp.diff(t1, ALPHA) / t1).is_negative:   # log(n/delta) > 0 cancels
        raise ArithmeticError("Theorem 4.2's first term is not decreasing in alpha")
    sol = [r for r in sp.solve(sp.Eq(t1, t2), ALPHA) if r.is_positive]
    if len(sol) != 1:
        raise ArithmeticError(f"no unique positive alpha where the terms meet: {sol}")
    return sp.simplify(sol[0])


@cached
def width_opt_expr() -> sp.Expr:
    """Theorem 4.2's width at ``alpha = alpha_opt`` (substitution; the two terms are equal)."""
    t1, t2 = _thm42_terms()
    a = alpha_opt_expr()
    if sp.simplify(t1.subs(ALPHA, a) - t2) != 0 or ALPHA in t2.free_symbols:
        raise ArithmeticError("the terms do not meet at alpha_opt")
    return t2


_WARGS_N = Arg("n", "scalar", "number of training points n", positive=True)
_WARGS_D = Arg("delta", "scalar", "failure probability delta", positive=True,
               domain=("< 1: a probability",))
_WARGS_L = Arg("lambda_0", "scalar", "lambda_0 = lambda_min(V_inf)", positive=True)
_WARGS_M = Arg("mu_0", "scalar", "mu_0 = lambda_min(G_inf)", positive=True)
_WARGS_A = Arg("alpha", "scalar", "initialization scale alpha", positive=True)
_PREMISE = ("Assumptions 1-2; the Omega-constant set to 1 (the hypothesis is a premise: its proof "
            "is not in the seed)")

register(Formula(
    "wn.width_thm41", f"{SOURCE}, Theorem 4.1 (hypothesis m = Omega(n^4 log(n/delta)/lambda_0^4))",
    (_WARGS_N, _WARGS_D, _WARGS_L), _PREMISE, width_thm41_expr, lhs=r"m_{4.1}",
    paper=lambda: N_**4 * sp.log(N_ / DELTA) / LAM0**4,
    paper_reading="m = Omega(n^4 log(n/delta)/lambda_0^4)"))
register(Formula(
    "wn.width_thm42", f"{SOURCE}, Theorem 4.2 (hypothesis on m)",
    (_WARGS_N, _WARGS_D, _WARGS_A, _WARGS_M), _PREMISE, width_thm42_expr, lhs=r"m_{4.2}",
    paper=lambda: sp.Piecewise((N_**4 * sp.log(N_ / DELTA) / (ALPHA**4 * MU0**4),
                                ALPHA < sp.sqrt(N_) / sp.sqrt(MU0)),
                               (N_**2 * sp.log(N_ / DELTA) / MU0**2, True)),  # the printed max
    paper_reading="m = Omega(max{n^4 log(n/delta)/alpha^4 mu_0^4, n^2 log(n/delta)/mu_0^2})"))
register(Formula(
    "wn.width_prop2", f"{SOURCE}, Proposition 2 (hypothesis on m)",
    (_WARGS_N, _WARGS_D, _WARGS_L, _WARGS_M), _PREMISE, width_prop2_expr, lhs=r"m_{\mathrm{P}2}",
    paper=lambda: sp.Piecewise((N_**4 * sp.log(N_ / DELTA) / LAM0**4, LAM0 <= MU0),
                               (N_**4 * sp.log(N_ / DELTA) / MU0**4, True)),
    paper_reading="m = Omega(n^4 log(n/delta)/min{lambda_0^4, mu_0^4})"))
register(Formula(
    "wn.alpha_opt", f"{SOURCE}, sec. 4 after Theorem 4.2 ('taking alpha = sqrt(n/mu_0)')",
    (_WARGS_N, _WARGS_M), "Theorem 4.2's width condition (constant 1)", alpha_opt_expr,
    lhs=r"\alpha^*", paper=lambda: sp.sqrt(N_ / MU0), paper_reading="alpha = sqrt(n/mu_0)"))
register(Formula(
    "wn.width_opt", f"{SOURCE}, sec. 4 after Theorem 4.2 (width at alpha = sqrt(n/mu_0))",
    (_WARGS_N, _WARGS_D, _WARGS_M), "Theorem 4.2's width condition (constant 1)", width_opt_expr,
    lhs=r"m_{4.2}(\alpha^*)", paper=lambda: N_**2 * sp.log(N_ / DELTA) / MU0**2,
    paper_reading="m = Omega(n^2 log(n/delta)/mu_0^2)"))
