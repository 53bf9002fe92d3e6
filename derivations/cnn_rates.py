"""Thesis ch. 5 rates (seed 004, sec. 5.3 and 5.9; issue 24 item 2): the quantities of Theorem
5.3, Corollary 5.2 and Lemmas 5.9-5.10, derived from the exact one-step identities of population
GD in :mod:`derivations.cnn_dynamics` (themselves derived from the loss of Theorem 5.1).

1. ``cnn.lambda_t`` (Lemmas 5.5, 5.9; C5-17): the GD step of ``v`` is orthogonal to ``v``
   (:func:`derivations.cnn_dynamics._v_next_plane`); its component toward ``w*`` is ``eta
   lambda^t |v| sin(phi)``: SymPy divides it out, giving ``lambda^t``.
2. ``cnn.cor52_iterations`` (Corollary 5.2 via Lemma 5.7): with ``1^T a^t 1^T a*`` at its largest
   value ``|w*| (1^T a*)^2`` allowed by Lemma 5.4's invariant (general-scale form, C5-20), the
   recursion ``gd_next_dot`` of ``a.a*`` is affine, ``d' = rho d + c``, with the angle frozen
   at ``phi``; :func:`sympy.rsolve` solves it, :func:`sympy.solve` the time at which ``d`` reaches
   the fraction ``q`` of its fixed point ``d* = c/(1 - rho)``.  Since the angle only decreases
   (Lemma 5.2, when eta lambda <= 2) and ``g`` grows as it does, this count is an upper bound on
   the real one (checked by a claim row); it is ``O(1/eta)`` as Corollary 5.2 states.
3. ``cnn.lemma510_iterations`` (Lemma 5.10): the recursion ``gd_next_sum`` of ``1^T a`` at a
   frozen angle, ``S' = rho S + c``, solved by rsolve; the time at which ``|S - S*| = eps |a*|``
   (``S* = c/(1 - rho)``, whose distance to ``|w*| 1^T a*`` is ``|w*||1^T a*|(pi - g)/(k + pi -
   1)``), ``O(log(1/eps)/(eta k))`` as the lemma states.
"""
from __future__ import annotations

import sympy as sp

from . import cnn_dynamics as CD
from .knobs import cached
from .registry import Arg, Formula, register

SOURCE = "004 thesis"
T = sp.Symbol("t", nonnegative=True, integer=True)
Q = sp.Symbol("q", positive=True)
EPS = sp.Symbol("epsilon", positive=True)
DOT0, SUM0 = CD.DOT, CD.SUMA


@cached
def lambda_t() -> sp.Expr:
    """``lambda^t``: the in-plane component of ``v - eta grad_v l`` toward ``w*`` divided by
    ``eta |v| sin(phi)`` (the component along ``v`` is ``|v|``: the step is orthogonal)."""
    x1, x2 = CD._v_next_plane()
    if sp.simplify(x1 - CD.NV) != 0:  # pragma: no cover - a derivation regression
        raise AssertionError("the GD step of v is not orthogonal to v")
    lam = sp.simplify(x2 / (CD.ETA * CD.NV * sp.sin(CD.PHI)))
    if CD.ETA in lam.free_symbols:  # pragma: no cover
        raise ArithmeticError("lambda^t depends on eta: the step is not linear in eta")
    return lam


def _affine(rec: sp.Expr, x: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """``rec = rho x + c``: SymPy's coefficient and remainder (and a check that it is affine)."""
    rec = sp.expand(rec)
    rho, c = sp.simplify(sp.diff(rec, x)), sp.simplify(rec.subs(x, 0))
    if sp.simplify(rec - rho * x - c) != 0 or x in rho.free_symbols:  # pragma: no cover
        raise ArithmeticError("the recursion is not affine")
    return rho, c


def _hitting_time(rec: sp.Expr, x: sp.Symbol, target_gap: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """Solve ``x_{t+1} = rec(x_t)`` (affine) by rsolve from ``x_0 = x``; return the time ``t``
    at which ``|x_t - x*|`` equals ``target_gap`` and the fixed point ``x*``."""
    rho, c = _affine(rec, x)
    f = sp.Function("x_seq")
    sol = sp.rsolve(f(T + 1) - rho * f(T) - c, f(T), {f(0): x})
    fixed = sp.simplify(c / (1 - rho))
    gap = sp.simplify(sol - fixed)  # (x - x*) rho^t
    if sp.simplify(gap - (x - fixed) * rho**T) != 0:  # pragma: no cover
        raise ArithmeticError(f"rsolve gave {sol}")
    y = sp.Symbol("y", positive=True)  # y = rho^t in (0, 1)
    (ysol,) = sp.solve(sp.Eq(sp.Abs(x - fixed) * y, target_gap), y)
    return sp.log(ysol) / sp.log(rho), fixed


@cached
def dot_fixed_point() -> sp.Expr:
    rec = CD.gd_next_dot().subs(CD.SUMA, CD.SUMS * CD.NWS)
    return sp.factor(sp.simplify(_affine(rec, DOT0)[1] / (1 - _affine(rec, DOT0)[0])))


@cached
def cor52_iterations() -> sp.Expr:
    """Corollary 5.2: iterations for ``a.a*`` to go from ``a_dot < q d*`` to ``q d*`` under the
    lower recursion of Lemma 5.7 at the frozen angle ``phi`` (see the module docstring)."""
    rec = CD.gd_next_dot().subs(CD.SUMA, CD.SUMS * CD.NWS)
    # 1^T a* cancels here (tests/test_cnn_rates.py); a knob mutant may leave it, and then sets
    # it to the one value the argument list cannot supply (0), which the checks must catch
    rec = sp.expand(rec).subs(CD.SUMS, 0)
    fixed = dot_fixed_point()
    t, _ = _hitting_time(rec, DOT0, (1 - Q) * fixed)
    return sp.simplify(t.subs(sp.Abs(DOT0 - fixed), fixed - DOT0))


@cached
def lemma510_iterations() -> sp.Expr:
    """Lemma 5.10: iterations for ``1^T a`` to come within ``eps |a*|`` of its frozen-angle fixed
    point (``|S_0 - S*| > eps |a*|``)."""
    rec = CD.gd_next_sum()
    t, _ = _hitting_time(rec, SUM0, EPS * CD.NAS)
    return sp.simplify(t)


_ETA = Arg("eta", "scalar", "step size", positive=True)
_PHI = Arg("phi", "scalar", "angle theta(v, w*) in [0, pi] (frozen)")
_PHI_OK = '_rt.require((phi >= 0) & (phi <= numpy.pi), "phi", "must lie in [0, pi]")'
_MODEL = CD._MODEL + "; " + CD._GD

register(Formula(
    "cnn.lambda_t", f"{SOURCE}, Lemmas 5.5 and 5.9 (l.5347, l.5827), C5-17",
    (CD._STATE_ARGS[0], CD._STATE_ARGS[1], CD._STATE_ARGS[2], CD._STATE_ARGS[4]), _MODEL,
    lambda_t, lhs=r"\lambda^t", validate=(_PHI_OK,),
    where={CD.NV: (r"\|\mathbf v^t\|", "the norm of v^t"),
           CD.DOT: (r"(\mathbf a^t)^\top\mathbf a^*", "the second layer's overlap with the teacher"),
           CD.NWS: (r"\|\mathbf w^*\|", "the teacher filter's norm")},
    notes="v^{t+1} = v^t + eta lambda^t |v^t| sin(phi^t) e_2 (e_2 toward w*, orthogonal to v)",
))
register(Formula(
    "cnn.cor52_iterations", f"{SOURCE}, Corollary 5.2 (l.5799) via Lemma 5.7",
    (_ETA, Arg("phi", "scalar", "angle theta(v, w*) (frozen), below pi/2 so that d* > 0",
               domain=(">= 0", "< pi/2: g(phi) > 1, so the fixed point d* is positive")),
     Arg("a_dot", "scalar", "(a^0)^T a* (below q d*)",
         domain=("< q*ws_norm*as_norm**2*((pi - phi)*cos(phi) + sin(phi) - 1)/(pi - 1): "
                 "below the target q d*",)),
     Arg("ws_norm", "scalar", "|w*|", positive=True),
     Arg("as_norm", "scalar", "|a*|", positive=True),
     Arg("q", "scalar", "target fraction of the fixed point d* = |w*|(g(phi)-1)|a*|^2/(pi-1)",
         positive=True, domain=("< 1",))),
    _MODEL + "; angle frozen at phi; 1^T a 1^T a* at Lemma 5.4's bound |w*| (1^T a*)^2",
    cor52_iterations, lhs=r"T_{5.2}",
    validate=('_rt.require(eta * (numpy.pi - 1) < 2 * numpy.pi, "eta", '
              '"must be < 2 pi/(pi - 1) (contraction)")',),
))
register(Formula(
    "cnn.lemma510_iterations", f"{SOURCE}, Lemma 5.10 (l.5927)",
    (_ETA, Arg("k", "int", "number of patches", "k"), _PHI,
     Arg("a_sum", "scalar", "1^T a^0"), Arg("ws_norm", "scalar", "|w*|", positive=True),
     Arg("as_sum", "scalar", "1^T a*"), Arg("as_norm", "scalar", "|a*|", positive=True),
     Arg("epsilon", "scalar", "target accuracy eps (|S_T - S*| = eps |a*|)", positive=True)),
    _MODEL + "; angle frozen at phi",
    lemma510_iterations, lhs=r"T_{5.10}",
    validate=(_PHI_OK, '_rt.require(eta * (k + numpy.pi - 1) < 2 * numpy.pi, "eta", '
              '"must be < 2 pi/(k + pi - 1) (contraction)")'),
))
