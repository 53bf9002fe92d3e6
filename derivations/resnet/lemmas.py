"""The supplement's constants and bounds, derived (seed 003; spec C4, C9, C10, C12, C13).

* ``resnet.gram_H_inf`` (C4): E[G^(H)_ij | x^(H-1)] for w_r ~ N(0, I), a_r ~ N(0, 1), ReLU:
  the wedge probability P(w.x_i > 0, w.x_j > 0) integrated in polar coordinates of the plane of
  (x_i, x_j), times E[a_r^2] (integrated) and alpha_H^2 / H^2 <x_i, x_j> (eq. 2).
* ``resnet.first_layer_norm_var`` (C9): Var |x^(1)|^2 = c_sigma^2 Var[relu(X)^2] / m (= 5/m).
* ``resnet.lemma5_C2`` (C10): c_sigma^2 E(|sigma(0)| + L|X|)^4, integrated; the printed C_2 has
  no c_sigma^2 and 32 L^4 for the exact 3 L^4.
* ``resnet.layer_norm_lower`` (C12): the per-layer bound |x^(h)| >= (1 - a/H)|x^(h-1)| chained
  from |x^(1)| >= 1/2 and solved by ``rsolve``: 1/2 (1 - a/H)^(H-1); printed: 1/2 e^(-a).
* ``resnet.lemma4_g`` (C13): g(h) = (1 + b/H) g(h-1) + q/H, g(1) = g1, solved by ``rsolve``.
"""
from __future__ import annotations

import sympy as sp

from .. import vectors as V
from ..knobs import cached, knob
from ..registry import Arg, Formula, register

SOURCE = "003 Zhang et al. supplement"
t, r, th = sp.symbols("t r theta", real=True)
phi = sp.Symbol("phi", nonnegative=True)
H = sp.Symbol("H", positive=True, integer=True)
hh = sp.Symbol("h", positive=True, integer=True)
m = sp.Symbol("m", positive=True)
alpha_H = sp.Symbol("alpha_H", positive=True)
sigma0, L, c_sigma = sp.symbols("sigma0 L c_sigma", nonnegative=True)
a = sp.Symbol("a", positive=True)
g1, b, q = sp.symbols("g1 b q", positive=True)


def line_density():
    return knob("resnet.gauss_norm", 1 / sp.sqrt(2 * sp.pi)) * sp.exp(-t ** 2 / 2)


def plane_density():
    return knob("resnet.plane_norm", 1 / (2 * sp.pi)) * r * sp.exp(-r ** 2 / 2)


# -- C4 ------------------------------------------------------------------------------------

x_i = V.vector("x_i", "d", r"\mathbf{x}_i")
x_j = V.vector("x_j", "d", r"\mathbf{x}_j")


@cached
def gram_H_inf():
    """alpha_H^2/H^2 <x_i, x_j> E[a^2] P(w.x_i > 0, w.x_j > 0); the wedge is theta in
    (phi - pi/2, pi/2) when x_i = e1 and x_j = (cos phi, sin phi)."""
    wedge = sp.integrate(sp.integrate(plane_density(), (r, 0, sp.oo)), (th, phi - sp.pi / 2, sp.pi / 2))
    a2 = sp.integrate(t ** 2 * line_density(), (t, -sp.oo, sp.oo))
    ang = V.angle(x_i, x_j)
    return sp.simplify(alpha_H ** 2 / H ** 2 * V.dot(x_i, x_j) * a2 * wedge.subs(phi, ang))


# -- C9, C10 -------------------------------------------------------------------------------


@cached
def relu_c_sigma():
    return 1 / sp.integrate(t ** 2 * line_density(), (t, 0, sp.oo))


@cached
def first_layer_norm_var():
    """Var |x^(1)|^2 = (1/m) Var[c_sigma relu(X)^2] (m i.i.d. units, c_sigma relu(X)^2 / m each)."""
    cs = relu_c_sigma()
    e2 = sp.integrate(t ** 2 * line_density(), (t, 0, sp.oo))
    e4 = sp.integrate(t ** 4 * line_density(), (t, 0, sp.oo))
    return sp.simplify(cs ** 2 * (e4 - e2 ** 2) / m)


@cached
def lemma5_C2():
    """c_sigma^2 E(|sigma(0)| + L |X|)^4 (exact; both halves of the line)."""
    f = (sigma0 + L * t) ** 4 * line_density()
    return sp.expand(c_sigma ** 2 * 2 * sp.integrate(sp.expand(f), (t, 0, sp.oo)))


def paper_C2():
    return (sigma0 ** 4 + 4 * sigma0 ** 3 * L * sp.sqrt(2 / sp.pi) + 6 * sigma0 ** 2 * L ** 2
            + 8 * sigma0 * L ** 3 * sp.sqrt(2 / sp.pi) + 32 * L ** 4)


# -- C12, C13 ------------------------------------------------------------------------------


@cached
def layer_norm_lower():
    """B(h) = (1 - a/H) B(h - 1), B(1) = 1/2 (the w.h.p. bound on |x^(1)|), solved; at h = H."""
    B = sp.Function("B")
    k = sp.Symbol("k", integer=True)
    start = knob("resnet.first_norm_lower", sp.Rational(1, 2))
    sol = sp.rsolve(B(k) - (1 - a / H) * B(k - 1), B(k), {B(1): start})
    return sp.simplify(sol.subs(k, H))


def paper_layer_norm_lower():
    return sp.Rational(1, 2) * sp.exp(-a)


@cached
def lemma4_g():
    """g(h) = (1 + b/H) g(h - 1) + q/H, g(1) = g1 (Lemma 4 proof, with the 1/H factors)."""
    G = sp.Function("G")
    k = sp.Symbol("k", integer=True)
    sol = sp.rsolve(G(k) - (1 + b / H) * G(k - 1) - q / H, G(k), {G(1): g1})
    return sp.simplify(sol.subs(k, hh))


# -- registration ----------------------------------------------------------------------------

#: The supplement's names of the Lemma 2-7 constants (l.120-200): ``c_{x,0}``, ``c_{w,0}``,
#: ``a_{2,0}``, ``a_{4,0}`` (Python names ``c_x0``, ``c_w0``, ``a20``, ``a40``).
PAPER_NAMES = {
    "c_x0": (r"c_{x,0}", "bound on the initial layer outputs |x^(h)(0)|"),
    "c_w0": (r"c_{w,0}", "|W^(h)(0)|_2 <= c_{w,0} sqrt m"),
    "a20": (r"a_{2,0}", "|a|_2 <= a_{2,0} sqrt m"),
    "a40": (r"a_{4,0}", "|a|_4 <= a_{4,0} m^{1/4}"),
}


def paper_names(formula: Formula) -> Formula:
    """``formula`` with the supplement's names of the constants it takes (:data:`PAPER_NAMES`)
    in its ``where`` entries, so its LaTeX reads ``c_{x,0}``, not ``c_{x0}``."""
    for a in formula.args:
        if a.name in PAPER_NAMES:
            formula.where.setdefault(sp.Symbol(a.name, positive=True), PAPER_NAMES[a.name])
    return formula


register(paper_names(Formula(
    "resnet.gram_H_inf", f"{SOURCE}, eq. (2) in the infinite-width limit (spec C4)",
    (Arg("x_i", "vector", "x_i^(H-1)", space="d"), Arg("x_j", "vector", "x_j^(H-1)", space="d"),
     Arg("alpha_H", "scalar", "alpha_H", positive=True), Arg("H", "int", "depth H")),
    "ReLU; w_r ~ N(0, I), a_r ~ N(0, 1) independent of x^(H-1); expectation conditional on "
    "x^(H-1)", gram_H_inf, r"\mathbb E[G^{(H)}_{ij}]",
)))
register(paper_names(Formula(
    "resnet.first_layer_norm_var", f"{SOURCE}, Lemma 5 proof (spec C9)",
    (Arg("m", "scalar", "width m", positive=True),),
    "ReLU, W^(1) entries N(0, 1), |x| = 1", first_layer_norm_var,
    r"\operatorname{Var}\|x^{(1)}\|^2",
)))
register(paper_names(Formula(
    "resnet.lemma5_C2", f"{SOURCE}, Lemma 5 proof, C_2 (spec C10)",
    (Arg("sigma0", "scalar", "|sigma(0)|", domain=(">= 0: an absolute value",)),
     Arg("L", "scalar", "Lipschitz constant of sigma", domain=(">= 0: a Lipschitz constant",)),
     Arg("c_sigma", "scalar", "1/E[sigma(X)^2]", positive=True)),
    "sigma L-Lipschitz; X ~ N(0, 1)", lemma5_C2, r"C_2",
    paper=paper_C2, paper_reading="C_2 = sigma(0)^4 + 4|sigma(0)|^3 L sqrt(2/pi) + 6 sigma(0)^2 "
    "L^2 + 8|sigma(0)| L^3 sqrt(2/pi) + 32 L^4 (bounds c_sigma^2 E(...)^4 / m by C_2 / m)",
)))
register(paper_names(Formula(
    "resnet.layer_norm_lower", f"{SOURCE}, Lemma 5 proof, lower bound (spec C12)",
    (Arg("a", "scalar", "a = c_{w,0} L (per-layer growth constant), a < H", positive=True),
     Arg("H", "int", "depth H")),
    "|x^(1)| >= 1/2 and |x^(h)| >= (1 - a/H) |x^(h-1)| for h = 2..H", layer_norm_lower,
    r"\min\|x^{(H)}\|", paper=paper_layer_norm_lower,
    validate=('_rt.require(a < H, "a", "must be < H (the per-layer factor 1 - a/H must be positive)")',),
    paper_reading="'which implies 1/2 e^{-c_{w,0} L} <= |x^(h)(0)|'",
)))
register(paper_names(Formula(
    "resnet.lemma4_g", f"{SOURCE}, Lemma 4 proof recursion (spec C13)",
    (Arg("g1", "scalar", "g(1) = sqrt(c_sigma) L R", positive=True),
     Arg("b", "scalar", "b = 2 alpha c_{w,0} L", positive=True),
     Arg("q", "scalar", "q = alpha L c_{x,0} R", positive=True),
     Arg("H", "int", "depth H"),
     Arg("h", "int", "layer h", domain=("<= H: a layer of the depth-H network",))),
    "the recursion of the Lemma 4 proof, with its 1/H factors", lemma4_g, r"g(h)",
)))


# -- issue 24, item 6: Lemma 5's tail bound (4) and the upper half of Lemma 5's norm bounds ------

c_w0 = sp.Symbol("c_w0", positive=True)
c_ratio = sp.Symbol("c", positive=True)


@cached
def lemma5_tail():
    """(4): P(|W|_2 > c_{w,0} sqrt m) for W in R^{m x cm}, N(0, 1) entries, from the deviation
    bound P(s_max > sqrt m + sqrt(cm) + t) <= e^{-t^2/2}: t solved from sqrt m + sqrt(c m) + t =
    c_{w,0} sqrt m, then substituted into e^{-t^2/2} (valid for c_{w,0} > sqrt c + 1, t >= 0)."""
    tt = sp.Symbol("t", real=True)
    (tsol,) = sp.solve(sp.Eq(sp.sqrt(m) + sp.sqrt(c_ratio * m) + tt, c_w0 * sp.sqrt(m)), tt)
    half = knob("resnet.tail_half", sp.Rational(1, 2))
    return sp.simplify(sp.exp(-half * sp.expand(tsol ** 2)))


def paper_lemma5_tail():
    return sp.exp(-(c_w0 - sp.sqrt(c_ratio) - 1) ** 2 * m / 2)


@cached
def layer_norm_upper():
    """B(h) = (1 + a/H) B(h - 1), B(1) = 2 (the w.h.p. bound |x^(1)| <= 2), solved; at h = H."""
    B = sp.Function("B")
    k = sp.Symbol("k", integer=True)
    start = knob("resnet.first_norm_upper", sp.Integer(2))
    sol = sp.rsolve(B(k) - (1 + a / H) * B(k - 1), B(k), {B(1): start})
    return sp.simplify(sol.subs(k, H))


def paper_layer_norm_upper():
    return 2 * sp.exp(a)


register(paper_names(Formula(
    "resnet.lemma5_tail", f"{SOURCE}, Lemma 5 proof, eq. (4) (spec C11)",
    (Arg("c_w0", "scalar", "c_{w,0}: the bound |W|_2 <= c_{w,0} sqrt(m)",
         domain=("> sqrt(c) + 1: t >= 0 in the deviation bound",)),
     Arg("c", "scalar", "W is m x cm", positive=True),
     Arg("m", "scalar", "rows m", positive=True)),
    "W in R^{m x cm} with i.i.d. N(0, 1) entries; c_{w,0} > sqrt(c) + 1; the Gaussian deviation "
    "bound P(s_max(W) > sqrt m + sqrt(cm) + t) <= e^{-t^2/2}", lemma5_tail,
    r"\Pr\left(\|W\|_2 > c_{w,0}\sqrt m\right) \le",
    paper=paper_lemma5_tail,
    paper_reading="'with probability at least 1 - exp(-(c_{w,0} - sqrt c - 1)^2 m / 2) ... (4)'",
)))
register(paper_names(Formula(
    "resnet.layer_norm_upper", f"{SOURCE}, Lemma 5 proof, upper bound (spec C12)",
    (Arg("a", "scalar", "a = c_{w,0} L (per-layer growth constant)", positive=True),
     Arg("H", "int", "depth H")),
    "|x^(1)| <= 2 and |x^(h)| <= (1 + a/H) |x^(h-1)| for h = 2..H", layer_norm_upper,
    r"\max\|x^{(H)}\|", paper=paper_layer_norm_upper,
    paper_reading="'which implies ... |x^(h)(0)| <= 2 e^{c_{w,0} L}' (valid: (1 + a/H)^(H-1) <= e^a)",
)))
