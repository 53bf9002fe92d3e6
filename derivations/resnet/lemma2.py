"""Lemma 2's perturbation constants and the bounds of Lemmas 3, 6 and 7, derived (seed 003,
Zhang et al. supplement, ``003_716e9e1090fad773.txt``; spec normalization.md C7, C13, C15, C16).

* ``resnet.lemma2_cx`` (l.150, l.246; C13): the constant c_x of |x^(h)(k) - x^(h)(0)| <= c_x R,
  the supremum over the depth H of the Lemma 4 recursion solved by ``rsolve``
  (:func:`derivations.resnet.lemmas.lemma4_g`) divided by R.  The text prints c_x two ways:
  (sqrt(c_s) L + c_x0/c_w0) e^{2 alpha_max c_w0 L} (Lemma 2, l.150) and the same with
  e^{3 c_w0 L} (Lemma 6, l.246); both are compared with the derived value in the check rows.
* ``resnet.lemma2_I1``, ``lemma2_I2``, ``lemma2_I3`` (l.136-164): the three terms of
  |G_ij(k) - G_ij(0)| H^2/alpha^2 (alpha_H held fixed), each bound built from the per-factor
  bounds of the proof (stated as assumptions) by SymPy products and sums.  I3 is not derived in
  the text ("Similarly, we can prove"); derived here under the hypothesis |a(k) - a(0)|_2 <=
  sqrt(m) R, which the text does not state (its hypothesis line names W and alpha only).
* ``resnet.lemma3_step`` (l.192-199; C16): eta |dL/dW^(h)|_F for h >= 2, with the product of
  the H - h residual factors bounded by its supremum over H (a SymPy limit): sqrt(m) cancels.
* ``resnet.lemma7_lower`` (l.45, l.300-314; C7): (y - u)^T I_1 >= eta lambda_min |y - u|^2 with
  I_1 = -int_0^eta G (u - y) ds integrated by SymPy (the text drops eta).
* ``resnet.product_perturbation`` (l.262-266; C15): |prod A_i - prod B_i|_F with equal per-factor
  constants (|A_i|, |B_i| <= M, |A_i - B_i|_F <= alpha M): the telescoping recursion
  e(k) = M e(k-1) + alpha M^k solved by ``rsolve``.
"""
from __future__ import annotations

import sympy as sp

from ..knobs import cached, knob
from ..registry import Arg, Formula, register
from . import lemmas as LM
from .lemmas import paper_names

SOURCE = "003 Zhang et al. supplement"
c_sig, Lc, c_x0, c_w0, alpha = sp.symbols("c_sigma L c_x0 c_w0 alpha", positive=True)
c_x, a20, a40, R, beta = sp.symbols("c_x a20 a40 R beta", positive=True)
eta, lam, res, M = sp.symbols("eta lam res M", positive=True)
n = sp.Symbol("n", positive=True, integer=True)
H = LM.H


def _pos(name, meaning):
    return Arg(name, "scalar", meaning, positive=True)


# -- c_x (C13) --------------------------------------------------------------------------------


@cached
def lemma2_cx():
    """sup_H g(H)/R with g the solved Lemma 4 recursion (g1 = sqrt(c_s) L R, b = 2 alpha c_w0 L,
    q = alpha L c_x0 R): (1 + b/H)^(H-1) increases to e^b, so the supremum is the limit."""
    g = LM.lemma4_g().subs(LM.hh, H)
    sub = {LM.g1: sp.sqrt(c_sig) * Lc * R, LM.b: knob("resnet.cx_b", 2) * alpha * c_w0 * Lc,
           LM.q: alpha * Lc * c_x0 * R}
    sup = sp.limit(g.subs(sub), H, sp.oo)
    return sp.simplify(sp.expand(sup / R))


def paper_cx_lemma2():
    return (sp.sqrt(c_sig) * Lc + c_x0 / c_w0) * sp.exp(2 * alpha * c_w0 * Lc)


def paper_cx_lemma6():
    return (sp.sqrt(c_sig) * Lc + c_x0 / c_w0) * sp.exp(3 * c_w0 * Lc)


# -- I1, I2, I3 (l.136-164) -----------------------------------------------------------------------
# G~_ij = P_ij S_ij with P_ij = x_i^T x_j (layer H - 1) and S_ij = (1/m) sum_r a_r^2 s'(z_ir) s'(z_jr):
# P(k)S(k) - P(0)S(0) = dP S(k) + P(0) (1/m) sum a_r(0)^2 d(s's') + P(0) (1/m) sum d(a_r^2) s's'(k).


@cached
def lemma2_I1():
    """|dP| |S(k)|: |dx_i| <= c_x R, |x_j(k)| <= c_x0 + c_x R, |x_i(0)| <= c_x0 (triangle
    inequality on dP = dx_i^T x_j(k) + x_i(0)^T dx_j), |S(k)| <= L^2 a20^2."""
    dP = c_x * R * (c_x0 + c_x * R) + c_x0 * c_x * R
    return sp.expand(dP * Lc ** 2 * a20 ** 2)


def paper_I1():
    return 3 * c_x0 * c_x * Lc ** 2 * a20 ** 2 * R


@cached
def lemma2_I2():
    """|P(0)| (1/m) sum a_r^2 |d(s'_i s'_j)| <= c_x0^2 (beta L/m) sum a_r^2 (|dz_ir| + |dz_jr|)
    <= c_x0^2 (beta L/m) |a|_4^2 (|dz_i|_2 + |dz_j|_2) (Cauchy-Schwarz), |a|_4^2 <= a40^2 sqrt m,
    |dz_i|_2 <= |dW|_F |x_i(k)| + |W(0)|_2 |dx_i| <= sqrt m R (c_x0 + c_x R) + c_w0 sqrt m c_x R."""
    m = sp.Symbol("m", positive=True)
    dz = sp.sqrt(m) * R * (c_x0 + c_x * R) + c_w0 * sp.sqrt(m) * c_x * R
    return sp.expand(sp.simplify(c_x0 ** 2 * beta * Lc / m * a40 ** 2 * sp.sqrt(m) * 2 * dz))


def paper_I2():
    return 2 * beta * c_x0 ** 2 * (2 * c_x * c_w0 + c_x0) * Lc ** 2 * R


@cached
def lemma2_I3():
    """|P(0)| (1/m) sum |a_r(k)^2 - a_r(0)^2| |s'_i s'_j| <= c_x0^2 L^2 (1/m) |a(k) - a(0)|_2
    |a(k) + a(0)|_2 (Cauchy-Schwarz) with |a(k) - a(0)|_2 <= sqrt m R (assumed: not in the text)
    and |a(k)|, |a(0)| <= a20 sqrt m."""
    m = sp.Symbol("m", positive=True)
    return sp.simplify(c_x0 ** 2 * Lc ** 2 / m * (sp.sqrt(m) * R) * (2 * a20 * sp.sqrt(m)))


def paper_I3():
    return 12 * Lc ** 2 * c_x0 ** 2 * a20 * R


# -- Lemma 3 step (C16), Lemma 7 (C7), product perturbation (C15) ---------------------------------


@cached
def lemma3_step():
    """eta alpha/(H sqrt m) |sum_i r_i (J_i B_i^T a) x_i^T|_F <= eta alpha/(H sqrt m) sum_i |r_i|
    L |B_i|_2 |a| |x_i| with |B_i|_2 <= (1 + alpha L c_w0/H)^(H-h) <= e^{alpha L c_w0} (the
    supremum over H, a limit), |a| <= a20 sqrt m, |x_i| <= c_x0, sum |r_i| <= sqrt n |r|."""
    m = sp.Symbol("m", positive=True)
    prod = sp.limit((1 + alpha * Lc * c_w0 / H) ** H, H, sp.oo)
    pre = eta * alpha / (H * sp.sqrt(m))
    return sp.simplify(pre * Lc * prod * a20 * sp.sqrt(m) * c_x0 * sp.sqrt(n) * res)


@cached
def lemma7_lower():
    """I_1^i = -int_0^eta <L'(theta), u_i'(theta)> ds = -eta (G (u - y))_i, so (y - u)^T I_1 =
    eta r^T G r >= eta lambda_min |r|^2 (Rayleigh; G >= G^(H) in the Loewner order)."""
    s = sp.Symbol("s", positive=True)
    return sp.integrate(lam * res ** 2, (s, 0, eta))


def paper_lemma7_lower():
    return lam * res ** 2


@cached
def product_perturbation():
    """e(k) = |prod_{i<=k} A_i - prod_{i<=k} B_i|_F <= M e(k-1) + alpha M * M^(k-1) (telescoping:
    A_k P_A - B_k P_B = A_k (P_A - P_B) + (A_k - B_k) P_B), e(1) = alpha M; solved at k = n."""
    E = sp.Function("E")
    k = sp.Symbol("k", integer=True)
    sol = sp.rsolve(E(k) - M * E(k - 1) - alpha * M ** k, E(k),
                    {E(1): knob("resnet.pp_start", 1) * alpha * M})
    return sp.simplify(sol.subs(k, n))


# -- registration ----------------------------------------------------------------------------

register(paper_names(Formula(
    "resnet.lemma2_cx", f"{SOURCE}, Lemma 2 proof l.150 and Lemma 6 proof l.246, c_x (spec C13)",
    (_pos("c_sigma", "c_sigma = 1/E[sigma(X)^2]"), _pos("L", "Lipschitz constant of sigma"),
     _pos("c_x0", "c_{x,0}: |x^(h)(0)| <= c_x0"), _pos("c_w0", "c_{w,0}: |W^(h)(0)|_2 <= c_w0 sqrt m"),
     _pos("alpha", "alpha_max: alpha_h(k) <= alpha")),
    "Lemma 4's hypotheses: |W^(h)(k) - W^(h)(0)|_F <= sqrt(m) R, R <= c_w0, |x| = 1; "
    "c_x = sup over H of the solved recursion g(H) / R", lemma2_cx, r"c_x",
    paper=paper_cx_lemma2,
    paper_reading="'c_x = (sqrt(c_sigma) L + c_{x,0}/c_{w,0}) e^{2 alpha_max c_{w,0} L}' (l.150); "
    "Lemma 6 (l.246) prints e^{3 c_{w,0} L}",
)))
_I_ARGS = (_pos("c_x0", "c_{x,0}: |x_i^(H-1)(0)| <= c_x0"),
           _pos("c_x", "c_x: |x_i^(H-1)(k) - x_i^(H-1)(0)| <= c_x R"),
           _pos("L", "Lipschitz constant of sigma (|sigma'| <= L)"))
register(paper_names(Formula(
    "resnet.lemma2_I1", f"{SOURCE}, Lemma 2 proof, I_1 (l.136-147)",
    _I_ARGS + (_pos("a20", "a_{2,0}: |a|_2 <= a20 sqrt m"), _pos("R", "perturbation radius R")),
    "|sigma'| <= L; |a(k)|_2 <= a20 sqrt m; |dx_i| <= c_x R", lemma2_I1, r"I_1^{ij} \le",
    paper=paper_I1, paper_reading="'<= 3 c_{x,0} c_x L^2 a_{2,0}^2 R' (uses c_x R <= c_{x,0})",
)))
register(paper_names(Formula(
    "resnet.lemma2_I2", f"{SOURCE}, Lemma 2 proof, I_2 (l.151-160)",
    _I_ARGS + (_pos("c_w0", "c_{w,0}: |W^(H)(0)|_2 <= c_w0 sqrt m"),
               _pos("a40", "a_{4,0}: |a(0)|_4 <= a40 m^(1/4)"),
               _pos("beta", "sigma' is beta-Lipschitz"), _pos("R", "perturbation radius R")),
    "sigma' beta-Lipschitz and |sigma'| <= L; |W^(H)(k) - W^(H)(0)|_F <= sqrt(m) R", lemma2_I2,
    r"I_2^{ij} \le", paper=paper_I2,
    paper_reading="'I_2 <= 2 beta c_{x,0}^2 (2 c_x c_{w,0} + c_{x,0}) L^2 R' (l.160; a_{4,0}^2 "
    "dropped, it reappears in the Frobenius sum l.163)",
)))
register(paper_names(Formula(
    "resnet.lemma2_I3", f"{SOURCE}, Lemma 2 proof, I_3 (l.161; not derived in the text)",
    (_pos("c_x0", "c_{x,0}: |x_i^(H-1)(0)| <= c_x0"), _pos("L", "|sigma'| <= L"),
     _pos("a20", "a_{2,0}: |a(k)|_2, |a(0)|_2 <= a20 sqrt m"), _pos("R", "perturbation radius R")),
    "|a(k) - a(0)|_2 <= sqrt(m) R (our hypothesis: the text states none for a)", lemma2_I3,
    r"I_3^{ij} \le", paper=paper_I3,
    paper_reading="'Similarly, we can prove, I_3 <= 12 L^2 c_{x,0}^2 a_{2,0} R' (l.161)",
)))
register(paper_names(Formula(
    "resnet.lemma3_step", f"{SOURCE}, Lemma 3 proof, the step bound (l.192-199; spec C16)",
    (_pos("eta", "step size"), _pos("alpha", "alpha_max"), _pos("L", "|sigma'| <= L"),
     _pos("a20", "a_{2,0}: |a|_2 <= a20 sqrt m"), _pos("c_x0", "c_{x,0}: |x_i^(h-1)| <= c_x0"),
     _pos("c_w0", "c_{w,0}: |W^(l)|_2 <= c_w0 sqrt m"), Arg("n", "int", "samples n"),
     Arg("H", "int", "depth H"), Arg("res", "scalar", "|y - u(s)|_2", domain=(">= 0: a norm",))),
    "h >= 2; |J^(l)|_2 <= L; |I + alpha/(H sqrt m) J W| <= 1 + alpha L c_w0/H", lemma3_step,
    r"\|W^{(h)}(s+1) - W^{(h)}(s)\|_F \le",
    where={res: (r"\|\mathbf y - \mathbf u(s)\|_2", "the residual at step s")},
)))
register(paper_names(Formula(
    "resnet.lemma7_lower", f"{SOURCE}, Lemma 7 (l.45) and its proof (l.300-314; spec C7)",
    (_pos("eta", "step size"), Arg("lam", "scalar", "lambda_min(G^(H)(k))", domain=(">= 0",)),
     Arg("res", "scalar", "|y - u(k)|_2", domain=(">= 0: a norm",))),
    "I_1 = -int_0^eta <L'(theta(k)), u_i'(theta(k))> ds; G = J J^T >= G^(H)", lemma7_lower,
    r"(y - u)^\top I_1 \ge", paper=paper_lemma7_lower,
    where={lam: (r"\lambda_{\min}(\mathbf G^{(H)}(k))", "the least eigenvalue of the Gram"),
           res: (r"\|\mathbf y - \mathbf u(k)\|_2", "the residual at step k")},
    paper_reading="'(y - u(k))^T I_1(k) >= lambda_min(G^(H)(k)) |y - u(k)|_2^2' (no eta)",
)))
register(paper_names(Formula(
    "resnet.product_perturbation", f"{SOURCE}, Lemma 6 proof, product perturbation (l.262-266; "
    "spec C15)",
    (Arg("alpha", "scalar", "|A_i - B_i|_F <= alpha M", domain=(">= 0",)),
     _pos("M", "|A_i|_2, |B_i|_2 <= M"), Arg("n", "int", "number of factors n")),
    "equal per-factor constants alpha_i = alpha, M_i = M (the text's sum alpha_i prod M_i)",
    product_perturbation, r"\|\prod A_i - \prod B_i\|_F \le",
)))
