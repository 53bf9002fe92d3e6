"""Dukler, Gu & Montufar (seed 002, ``002_ed9ef0b38b0c2dbd.txt``), eq. (2.2): the BN/WN analogy
E_x[w^T x x^T w] = w^T S w = |w|_S^2 (spec B3), derived.  Family ``wn``.

The covariance is a spiked S = a I + b u u^T (the registry's arguments are vectors and scalars):
x = sqrt(a) xi + sqrt(b) zeta u with xi ~ N(0, I), zeta ~ N(0, 1) independent, so E x = 0 and
E x x^T = S.  Then w^T x = sqrt(a) g + sqrt(b) (w.u) zeta with g = w^T xi ~ N(0, |w|^2)
independent of zeta; (w^T x)^2 is expanded and each monomial g^k zeta^l replaced by its
moments, integrated against the Gaussian densities.  WN is the case S = I (a = 1, b = 0): |w|^2.
The sec. 4 rows (lambda_min(Lambda) >= max{...}, Proposition 2's rate comparison, Lemma 4.1's
positive definiteness on the experiments' data) are checks of existing formulas
(numerics/checks/wn_sec4.py).
"""
from __future__ import annotations

import sympy as sp

from . import vectors as V
from .knobs import cached, knob
from .registry import Arg, Formula, register

SOURCE = "002 Dukler, Gu & Montufar 2020"
W = V.vector("w", "p")
U = V.vector("u", "p")
a, b = sp.symbols("a b", nonnegative=True)
_t = sp.Symbol("t", real=True)


def _moment(k, sd):
    dens = knob("wn.bn_density", 1 / sp.sqrt(2 * sp.pi)) / sd * sp.exp(-_t ** 2 / (2 * sd ** 2))
    return sp.simplify(sp.integrate(_t ** k * dens, (_t, -sp.oo, sp.oo)))


@cached
def bn_energy():
    g, z = sp.symbols("g zeta", real=True)
    proj = sp.sqrt(a) * g + sp.sqrt(b) * V.dot(W, U) * z
    out = 0
    for term in sp.Add.make_args(sp.expand(proj ** 2)):
        kg, kz = sp.degree(term, g), sp.degree(term, z)
        coeff = term / (g ** kg * z ** kz)
        out += coeff * _moment(kg, V.norm(W)) * _moment(kz, 1)
    return sp.simplify(out)


register(Formula(
    "wn.bn_energy", f"{SOURCE}, eq. (2.2), E_x[w^T x x^T w] = |w|_S^2 (spec B3)",
    (Arg("w", "vector", "weight vector w", "p"), Arg("u", "vector", "spike direction u of S", "p"),
     Arg("a", "scalar", "S = a I + b u u^T: isotropic part", domain=(">= 0",)),
     Arg("b", "scalar", "S = a I + b u u^T: spike", domain=(">= 0",))),
    "x = sqrt(a) xi + sqrt(b) zeta u, xi ~ N(0, I), zeta ~ N(0, 1) independent: E x = 0, "
    "E x x^T = S = a I + b u u^T; WN is S = I", bn_energy,
    r"\mathbb E_{\mathbf x}[\mathbf w^\top\mathbf x\mathbf x^\top\mathbf w]",
))


# -- sec. 2 remark (spec B4) and eq. (4.1)'s gradient-flow rate (spec B13) -------------------------

X_ = V.vector("x_in", "p", r"\mathbf{x}")
alpha_, omega, t_, L0 = sp.symbols("alpha omega t L0", positive=True)


@cached
def init_output_var():
    """Var f(x) at initialization (2.4): w_k = g_k v_k/|v_k| with g_k = |v_k|/alpha is v_k/alpha
    (SymPy: the substitution cancels |v_k|), so w_k ~ N(0, I) whatever alpha: the law of the
    unnormalized net (1.1).  f = m^{-1/2} sum_k c_k relu(w_k.x), c_k = +-1 independent: E f = 0
    and Var f = E relu(w.x)^2 with w.x ~ N(0, |x|^2), integrated."""
    vn = sp.Symbol("norm_v", positive=True)
    w_over_v = sp.simplify((vn / alpha_) / vn)            # g_k / |v_k|
    if w_over_v != 1 / alpha_:
        raise ArithmeticError(f"w_k is not v_k/alpha: {w_over_v}")
    sd = V.norm(X_)
    dens = knob("wn.init_density", 1 / sp.sqrt(2 * sp.pi)) / sd * sp.exp(-_t ** 2 / (2 * sd ** 2))
    return sp.simplify(sp.integrate(_t ** 2 * dens, (_t, 0, sp.oo)))


@cached
def flow_loss_bound():
    """eq. (4.1): d/dt |f - y|^2 = -2 (f - y)^T Lambda (f - y) <= -omega |f - y|^2 when
    lambda_min(Lambda(t)) >= omega/2; the comparison equation L' = -omega L, L(0) = L0, solved
    by ``dsolve`` (Gronwall: L(t) <= its solution)."""
    Lf = sp.Function("L")
    rate = knob("wn.flow_rate", 1) * omega
    sol = sp.dsolve(sp.Eq(Lf(t_).diff(t_), -rate * Lf(t_)), Lf(t_), ics={Lf(0): L0})
    return sp.simplify(sol.rhs)


register(Formula(
    "wn.init_output_var", f"{SOURCE}, sec. 2 remark after (2.4) and App. A (spec B4)",
    (Arg("x_in", "vector", "input x", "p"),),
    "initialization (2.4): v_k ~ N(0, alpha^2 I), g_k = |v_k|/alpha, c_k = +-1 with probability 1/2; "
    "ReLU; f = m^{-1/2} sum_k c_k relu(g_k v_k.x/|v_k|); E f = 0", init_output_var,
    r"\operatorname{Var} f(\mathbf x)",
))
register(Formula(
    "wn.flow_loss_bound", f"{SOURCE}, sec. 4, eq. (4.1) and the gradient-flow rate (spec B13)",
    (Arg("L0", "scalar", "|f(0) - y|^2", domain=(">= 0",)),
     Arg("omega", "scalar", "omega: lambda_min(Lambda(t)) >= omega/2 for t <= T", domain=(">= 0",)),
     Arg("t", "scalar", "time t", domain=(">= 0",))),
    "gradient flow on (v, g); lambda_min(Lambda(s)) >= omega/2 for s in [0, t]", flow_loss_bound,
    r"\|\mathbf f(t) - \mathbf y\|^2 \le",
))
