"""Thesis ch. 6, SGD for a convolutional filter (seed 004, Theorem 6.4 l.6357, Lemmas 6.2-6.3
l.6729-6830; issue 24): the quantities of the martingale proof, derived by SymPy.

The proof writes the stochastic gradient as ``g(w_t) = E grad l(w_t) + xi_t`` with
``E[xi_t | F_t] = 0`` and ``|xi_t| <= B`` and, on the event ``C_t = {|w_s - w*| <= r1, s <= t}``,

    E[|w_{t+1} - w*|^2 1_{C_t} | F_t] <= (1 - eta alpha) |w_t - w*|^2 + eta^2 B^2        (*)

with ``alpha = gamma(phi1) - eta M^2``, ``M = L(0) + 10 L_cross + 4 beta``.

1. ``filter.sgd_mean_bound``: the recursion (*) with equality, ``e_{t+1} = (1 - eta alpha) e_t
   + eta^2 B^2``, ``e_0 = r0^2``, solved by :func:`sympy.rsolve`; its fixed point ``eta B^2 /
   alpha`` is the shift of the proof's supermartingale ``G_t = (1 - eta alpha)^-t (|w_t - w*|^2
   - eta B^2/alpha)``.
2. ``filter.sgd_stay_failure`` (Lemma 6.2): the increments of ``G_t 1_{C_{t-1}}`` are bounded by
   ``c_t = (1 - eta alpha)^-t (2 eta B M r1 + eta^2 B^2)``; Azuma-Hoeffding with ``lambda = r1^2
   - r0^2`` and a union bound over the ``T`` steps give ``P[exit] <= T exp(-lambda^2 / (2 sum_t
   c_t^2))``.  The sum is summed by :func:`sympy.summation` (a geometric sum; the thesis bounds
   it by ``T (1 + 2 eta alpha T) c^2``).
3. ``filter.sgd_markov_failure`` (Lemma 6.3): Markov's inequality on ``|w_T - w*|^2 1_{C_T} -
   eta B^2/alpha`` with the expectation (1) and Lemma 6.2's failure ``delta``:
   ``P[|w_T - w*|^2 >= eta B^2/alpha + eps^2 |w*|^2] <= (1 - eta alpha)^T (r0^2 - eta B^2/alpha)
   / (eps^2 |w*|^2) + delta``.
4. ``filter.sgd_step_max`` (Lemma 6.2's first condition ``0 < 1 - eta gamma + eta^2 M^2 < 1``):
   the largest step, solved by SymPy (``gamma / M^2``).

The lemmas' event probabilities are simulated in ``nnderive reproduce ch6_sgd``.
"""
from __future__ import annotations

import sympy as sp

from .registry import Arg, Formula, register

SOURCE = "004 thesis, ch. 6"
t = sp.Symbol("t", nonnegative=True, integer=True)
T = sp.Symbol("T", positive=True, integer=True)
ETA = sp.Symbol("eta", positive=True)
ALPHA = sp.Symbol("alpha", positive=True)
B = sp.Symbol("B", positive=True)
M = sp.Symbol("M", positive=True)
R0 = sp.Symbol("r0", nonnegative=True)
R1 = sp.Symbol("r1", positive=True)
EPS = sp.Symbol("epsilon", positive=True)
WS = sp.Symbol("ws_norm", positive=True)
DELTA = sp.Symbol("delta", positive=True)
GAMMA = sp.Symbol("gamma", positive=True)


def sgd_mean_bound() -> sp.Expr:
    """``e_t`` of the recursion (*) with equality, by rsolve."""
    e = sp.Function("e")
    sol = sp.rsolve(e(t + 1) - (1 - ETA * ALPHA) * e(t) - ETA**2 * B**2, e(t), {e(0): R0**2})
    return sp.simplify(sol)


def supermartingale_shift() -> sp.Expr:
    """The fixed point of (*): ``lim_t e_t`` for ``0 < eta alpha < 1`` (``eta B^2/alpha``)."""
    e_t = sgd_mean_bound()
    return sp.simplify(e_t.subs(t, 0) - (e_t.subs(t, 0) - e_t.subs(t, 1)) / (ETA * ALPHA))


def increment_sum() -> sp.Expr:
    """``sum_{s=1}^T (1 - eta alpha)^(-2 s)`` (the squared Azuma increments over ``c^2``)."""
    s = sp.Symbol("s", positive=True, integer=True)
    out = sp.summation((1 - ETA * ALPHA) ** (-2 * s), (s, 1, T))
    if isinstance(out, sp.Piecewise):  # the branch (1 - eta alpha)^2 = 1 is excluded (eta alpha < 1)
        out = next(e for e, c in out.args if c is sp.true)
    return sp.simplify(out)


def _stable_increment_sum() -> sp.Expr:
    """:func:`increment_sum` with ``(1 - eta alpha)^(-2T) - 1`` as ``expm1(-2T log1p(-eta
    alpha))`` (float64 keeps its relative accuracy when ``eta alpha T`` is small); SymPy
    confirms the two forms agree."""
    from sympy.codegen.cfunctions import expm1, log1p

    x = ETA * ALPHA
    stable = expm1(-2 * T * log1p(-x)) / (x * (2 - x))
    exact = increment_sum()
    back = stable.replace(lambda a: isinstance(a, expm1), lambda a: sp.exp(a.args[0]) - 1)
    back = back.replace(lambda a: isinstance(a, log1p), lambda a: sp.log(1 + a.args[0]))
    if sp.simplify(sp.powsimp(sp.expand_log(back - exact, force=True), force=True)) != 0:
        num = [(back - exact).subs({ETA: sp.Rational(1, 100), ALPHA: a, T: n}).evalf(30)
               for a, n in ((sp.Rational(3, 10), 7), (sp.Integer(2), 40))]
        if any(abs(v) > 1e-20 for v in num):  # pragma: no cover - a derivation regression
            raise ArithmeticError("the expm1 form differs from the summed one")
    return stable


def sgd_stay_failure() -> sp.Expr:
    """Lemma 6.2: ``T exp(-(r1^2 - r0^2)^2 / (2 c^2 sum_s (1 - eta alpha)^(-2 s)))``."""
    c = 2 * ETA * B * M * R1 + ETA**2 * B**2
    return T * sp.exp(-(R1**2 - R0**2) ** 2 / (2 * c**2 * _stable_increment_sum()))


def sgd_markov_failure() -> sp.Expr:
    """Lemma 6.3: Markov on the shifted expectation plus Lemma 6.2's ``delta``."""
    shift = supermartingale_shift()
    e_T = sgd_mean_bound().subs(t, T)
    return sp.simplify((e_T - shift) / (EPS**2 * WS**2)) + DELTA


def sgd_step_max() -> sp.Expr:
    """The supremum of steps with ``0 < 1 - eta gamma + eta^2 M^2 < 1`` (Lemma 6.2)."""
    q = 1 - ETA * GAMMA + ETA**2 * M**2
    sol = sp.solve_univariate_inequality(q < 1, ETA, relational=False)
    # q > 0 for every eta iff its discriminant gamma^2 - 4 M^2 is negative (gamma <= L(0) <= M)
    disc = sp.discriminant(sp.Poly(q, ETA))
    if sp.simplify(disc - (GAMMA**2 - 4 * M**2)) != 0:  # pragma: no cover
        raise ArithmeticError(f"unexpected discriminant {disc}")
    return sp.simplify(sol.sup)


_ETA_A = Arg("eta", "scalar", "step size", positive=True)
_ALPHA_A = Arg("alpha", "scalar", "alpha = gamma(phi1) - eta M^2 (contraction per unit step)",
               positive=True)
_B_A = Arg("B", "scalar", "bound of the gradient noise |xi_t| <= B", positive=True)
_R0_A = Arg("r0", "scalar", "|w0 - w*|", domain=(">= 0",))
_MODEL = ("SGD w_{t+1} = w_t - eta (E grad l(w_t) + xi_t), E[xi_t | F_t] = 0, |xi_t| <= B; "
          "on C_t: E|w_{t+1} - w*|^2 <= (1 - eta alpha)|w_t - w*|^2 + eta^2 B^2")
_ONE_STEP = ('_rt.require(eta * alpha < 1, "eta", "must satisfy eta alpha < 1 (a contraction)")',)

register(Formula(
    "filter.sgd_mean_bound", f"{SOURCE}, proof of Lemmas 6.2-6.3 (l.6760-6830)",
    (Arg("t", "scalar", "iteration", domain=(">= 0",)), _ETA_A, _ALPHA_A, _B_A, _R0_A), _MODEL,
    sgd_mean_bound, lhs=r"\mathbb{E}\|\mathbf w_t-\mathbf w^*\|^2\mathbb 1_{C_t}\le e_t",
    validate=_ONE_STEP,
))
register(Formula(
    "filter.sgd_stay_failure", f"{SOURCE}, Lemma 6.2 (l.6729; Azuma-Hoeffding, union over T)",
    (Arg("T", "int", "number of iterations"), _ETA_A, _ALPHA_A, _B_A,
     Arg("M", "scalar", "M = L(0) + 10 L_cross + 4 beta (gradient bound / |w - w*|)",
         positive=True), _R0_A, Arg("r1", "scalar", "radius of the ball", positive=True,
                             domain=("> r0: the ball must contain the start",))),
    _MODEL + "; |E grad l(w)| <= M |w - w*|", sgd_stay_failure,
    lhs=r"\delta_{6.2}", validate=_ONE_STEP,
    notes=("the thesis bounds sum_{s<=T} (1 - eta alpha)^(-2s) by T (1 + 2 eta alpha T) "
           "(l.6790); here the sum is exact"),
))
register(Formula(
    "filter.sgd_markov_failure", f"{SOURCE}, Lemma 6.3 (l.6808; Markov + Lemma 6.2)",
    (Arg("T", "int", "number of iterations"), _ETA_A, _ALPHA_A, _B_A, _R0_A,
     Arg("epsilon", "scalar", "target accuracy", positive=True),
     Arg("ws_norm", "scalar", "|w*|", positive=True),
     Arg("delta", "scalar", "Lemma 6.2's failure probability", domain=(">= 0",))),
    _MODEL, sgd_markov_failure,
    lhs=r"\mathbb P[\|\mathbf w_T-\mathbf w^*\|^2\ge\eta B^2/\alpha+\epsilon^2\|\mathbf w^*\|^2]\le",
    validate=_ONE_STEP, where={WS: (r"\|\mathbf w^*\|", "the teacher's norm")},
))
register(Formula(
    "filter.sgd_step_max", f"{SOURCE}, Lemma 6.2 (l.6729), 0 < 1 - eta gamma + eta^2 M^2 < 1",
    (Arg("gamma", "scalar", "gamma(phi1)", positive=True),
     Arg("M", "scalar", "L(0) + 10 L_cross + 4 beta (>= gamma)", positive=True)),
    "gamma <= 2 M (so that 1 - eta gamma + eta^2 M^2 > 0)", sgd_step_max, lhs=r"\eta_{\max}",
))
