"""The rest of Dai & Heckel's Theorem 1 chain and the CN transform's identities, derived
(seed 000, ``000_170dc71b0c187893.txt``; spec normalization.md A1, A9, A13, A15).  Family
``circulant`` (the formulas sit beside :mod:`derivations.circulant`'s).

* ``circulant.ball_product`` (Lemma 1, eqs. (5)-(6); A9): prod_{i != k} |v_i| <= alpha
  e^{sqrt(d) r/delta} in the ball B(w, r): |v_i| <= |w_i| + |r_i| <= |w_i| e^{|r_i|/delta}, and
  the largest sum_i |r_i| under sum_i |r_i|^2 <= r^2 solved by Lagrange (``solve``): sqrt(d) r
  (the OCR's eq. (6) prints l1 norms, a typo: the check rows show the l1 reading is false).
* ``circulant.ball_product_final`` (App. B.2): prod_i |v_i| <= alpha e^{sqrt d r/delta}
  max_k |v_k| with Lemma 2's alpha = e^{-2cd}/n^{d/2}, delta = e^{-cd}, r = delta/sqrt d and
  max_k |v_k| <= e^{cd} + r substituted: O(1)/n^{d/2}, the text's "Omega(1)/n^{d/2}" (an upper
  bound: Omega read as O, erratum A12).
* ``circulant.escape_steps`` (App. B.2; A13): r/(eta sup|grad L|) with sup|grad L| <= n^{d/2}
  |D| |x| alpha sqrt(d) e^{sqrt d r/delta} (Lemma 1 with the n^{d/2} the statement drops, A8)
  and the same substitutions: e^{cd - 1}/(d eta |D| |x|).
* ``circulant.loss_lower`` (App. B.2 last paragraph, corrected; A15): a frequency t with
  |y^_t| - n^{d/2}|x^_t| >= tau/sqrt n and prod_i |f_t^H v_i| <= 1 gives L = 1/2 sum_j
  |D_j|^2 >= 1/2 (tau/sqrt n)^2 = tau^2/(2n).
* ``circulant.cn_mean``, ``circulant.cn_var`` (sec. 2, line 39; A1): the CN transform z' =
  (z - mean z)/sqrt(var z + eps) gamma + beta has mean beta and (biased) variance gamma^2 var
  /(var + eps): SymPy sums over a symbolic length n.
"""
from __future__ import annotations

import sympy as sp

from .knobs import cached, knob
from .registry import Arg, Formula, register

SOURCE = "000 Dai & Heckel 2019"
alpha, delta, rr, c = sp.symbols("alpha delta r c", positive=True)
eta, nD, nx, tau = sp.symbols("eta norm_D norm_x tau", positive=True)
gamma, beta, var, eps = sp.symbols("gamma beta var eps", real=True)
n, d = sp.symbols("n d", positive=True, integer=True)


@cached
def sum_r_max():
    """max sum_{i=1}^d t_i subject to sum t_i^2 = r^2 (Lagrange: 1 = 2 mu t_i, every t_i equal)."""
    t, mu = sp.symbols("t mu", positive=True)
    sols = sp.solve([1 - 2 * mu * t, d * t ** 2 - rr ** 2], [t, mu], dict=True)
    (sol,) = [s for s in sols if s[t].is_positive is not False]
    return sp.simplify(d * sol[t])


@cached
def ball_product():
    """prod_{i != k} |w_i| e^{|r_i|/delta} <= alpha e^{sum_i |r_i| / delta} (1 + x <= e^x, |w_i|
    >= delta), the sum at its Lagrange maximum over the ball."""
    return alpha * sp.exp(knob("circulant.ball_sum", 1) * sum_r_max() / delta)


def _lemma2_constants():
    return {alpha: sp.exp(-2 * c * d) / n ** (d / 2), delta: sp.exp(-c * d),
            rr: sp.exp(-c * d) / sp.sqrt(d)}


@cached
def ball_product_final():
    """alpha e^{sqrt d r/delta} (e^{cd} + r) at Lemma 2's alpha, delta, r (max_k |w_k| <= e^{cd})."""
    k = _lemma2_constants()
    vmax = sp.exp(c * d) + rr
    return sp.simplify(sp.powsimp(sp.expand((ball_product() * vmax).subs(k)), force=True))


@cached
def escape_steps():
    """r / (eta n^{d/2} |D| |x| alpha sqrt d e^{sqrt d r/delta}) at Lemma 2's constants."""
    grad_sup = knob("circulant.esc_scale", 1) * n ** (d / 2) * nD * nx * sp.sqrt(d) * ball_product()
    return sp.simplify(sp.powsimp((rr / (eta * grad_sup)).subs(_lemma2_constants()), force=True))


@cached
def loss_lower():
    """L = 1/2 sum_j |D_j|^2 >= 1/2 |D_t|^2 and |D_t| >= |y^_t| - n^{d/2} |x^_t| prod|f_t^H v_i| >=
    tau/sqrt n (reverse triangle inequality, the product <= 1)."""
    gap = sp.Symbol("g", positive=True)
    half = knob("circulant.loss_half", sp.Rational(1, 2))
    return sp.simplify((half * gap ** 2).subs(gap, tau / sp.sqrt(n)))


def paper_loss_lower():
    return tau


_z = sp.IndexedBase("z")
_j = sp.Symbol("j", integer=True)
_mu = sp.Symbol("mu", real=True)


def _channel_sums(expr):
    """Sum over the channel j = 1..n, then sum_j z_j = n mu and sum_j z_j^2 = n (var + mu^2)
    (mu the mean, var the biased variance: their definitions)."""
    tot = 0
    for term in sp.Add.make_args(sp.expand(expr)):   # linearity of the sum
        coeff, rest = term.as_independent(_z[_j])
        tot += coeff * (n if rest == 1 else sp.Sum(rest, (_j, 1, n)))
    return sp.expand(tot.subs({sp.Sum(_z[_j] ** 2, (_j, 1, n)): n * (var + _mu ** 2),
                               sp.Sum(_z[_j], (_j, 1, n)): n * _mu}))


def _z_prime():
    return (_z[_j] - _mu) / sp.sqrt(var + eps) * gamma + knob("circulant.cn_beta", 1) * beta


@cached
def cn_mean():
    """mean(z') = (1/n) sum_j z'_j."""
    out = sp.simplify(_channel_sums(_z_prime()) / n)
    if out.has(_z, _mu):
        raise ArithmeticError(f"the mean of z' depends on z: {out}")
    return out


@cached
def cn_var():
    """var(z') = (1/n) sum_j (z'_j - mean z')^2."""
    out = sp.simplify(_channel_sums((_z_prime() - cn_mean()) ** 2) / n)
    if out.has(_z, _mu):
        raise ArithmeticError(f"the variance of z' depends on z beyond var: {out}")
    return out


register(Formula(
    "circulant.ball_product", f"{SOURCE}, Lemma 1, eqs. (5)-(6) (spec A9)",
    (Arg("alpha", "scalar", "alpha >= max_k prod_{i != k} |w_i|", positive=True),
     Arg("delta", "scalar", "delta <= min_i |w_i|", positive=True),
     Arg("r", "scalar", "radius r of the ball B(w, r)",
         domain=(">= 0", "<= 100*delta: Theorem 1 uses r = delta/sqrt(d); beyond, the bound "
                 "exceeds e^(100 sqrt d)")),
     Arg("d", "int", "depth d")),
    "v in B(w, r) = {v: sum_i |v_i - w_i|^2 <= r^2}; min_i |w_i| >= delta; max_k prod_{i != k} "
    "|w_i| <= alpha", ball_product, r"\max_k\prod_{i\ne k}\|v_i\| \le",
))
register(Formula(
    "circulant.ball_product_final", f"{SOURCE}, App. B.2, prod |v_i| <= Omega(1)/n^(d/2) in the ball",
    (Arg("c", "scalar", "Lemma 2's rate c", positive=True), Arg("n", "int", "signal length n"),
     Arg("d", "int", "depth d")),
    "Lemma 2's events: max_k prod_{i != k} |w_i| <= e^{-2cd}/n^{d/2}, min |w_i| >= e^{-cd}, max "
    "|w_i| <= e^{cd}; v in B(w, e^{-cd}/sqrt d)", ball_product_final,
    r"\prod_i\|v_i\| \le",
))
register(Formula(
    "circulant.escape_steps", f"{SOURCE}, App. B.2, steps to leave the ball r/(eta sup|grad L|) "
    "(spec A13)",
    (Arg("c", "scalar", "Lemma 2's rate c", positive=True), Arg("d", "int", "depth d"),
     Arg("eta", "scalar", "step size", positive=True),
     Arg("norm_D", "scalar", "sup of |D(v)| in the ball", positive=True),
     Arg("norm_x", "scalar", "|x|", positive=True)),
    "Lemma 2's events (alpha = e^{-2cd}/n^{d/2}, delta = e^{-cd}, r = delta/sqrt d); projected GD "
    "moves at most eta |grad L| per step; Lemma 1 with n^{d/2}", escape_steps,
    r"T_{\mathrm{escape}} \ge",
    where={nD: (r"\sup\|D(\mathbf v)\|", "sup of |D(v)| over the ball"),
           nx: (r"\|\mathbf{x}\|", "the input's norm")},
))
register(Formula(
    "circulant.loss_lower", f"{SOURCE}, App. B.2 last paragraph, the loss lower bound (corrected, "
    "spec A15)",
    (Arg("tau", "scalar", "tau: some t has |y^_t| - n^{d/2}|x^_t| >= tau/sqrt n", domain=(">= 0",)),
     Arg("n", "int", "signal length n")),
    "some frequency t with |f_t^H y| - n^{d/2} |f_t^H x| >= tau/sqrt(n) and prod_i |f_t^H v_i| <= 1 "
    "(e.g. |v_i| <= 1); L = 1/2 |y - f|^2", loss_lower, r"L(\mathbf v) \ge",
    paper=paper_loss_lower, paper_reading="'L(v) = sum_j |...| > tau' (with the existence claim "
    "|f_t^H y| - n^{d/2}|f_t^H x| >= tau, false: A15)",
))
register(Formula(
    "circulant.cn_mean", f"{SOURCE}, sec. 2, CN transform (line 39; spec A1)",
    (Arg("gamma", "scalar", "gamma_ij"), Arg("beta", "scalar", "beta_ij"),
     Arg("var", "scalar", "biased variance of z over the channel", domain=(">= 0",)),
     Arg("eps", "scalar", "epsilon", domain=("> 0",))),
    "z' = (z - mean z)/sqrt(var z + eps) gamma + beta over one channel (length n)", cn_mean,
    r"\operatorname{mean}(z')",
    where={var: (r"\operatorname{var}(z)", "the biased variance of z over the channel"),
           eps: (r"\epsilon", "the stabilizer epsilon")},
))
register(Formula(
    "circulant.cn_var", f"{SOURCE}, sec. 2, CN transform (line 39; spec A1)",
    (Arg("gamma", "scalar", "gamma_ij"), Arg("beta", "scalar", "beta_ij"),
     Arg("var", "scalar", "biased variance of z over the channel", domain=(">= 0",)),
     Arg("eps", "scalar", "epsilon", domain=("> 0",))),
    "z' = (z - mean z)/sqrt(var z + eps) gamma + beta; var the biased (1/n) variance", cn_var,
    r"\operatorname{var}(z')",
    where={var: (r"\operatorname{var}(z)", "the biased variance of z over the channel"),
           eps: (r"\epsilon", "the stabilizer epsilon")},
))
