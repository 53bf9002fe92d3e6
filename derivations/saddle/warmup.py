"""The warm-up examples of thesis ch. 7, sec. 7.3 (seed 004): GD escape times derived from the
GD map on the model's pieces (issue 24 item 9).

Thin band (sec. 7.3, "Initialize uniformly within an extremely thin band"): ``f(x1, x2) =
x1^2 - x2^2`` on ``U = [-1, 1]^2``.  Far away (sec. 7.3, eq. (7.2)): ``f = -4 x1 + x2^2`` for
``x1 < -2``, the same saddle on ``U``, and a C^2 connector ``h`` between (which only adds O(1)
steps).

Derivation (no formula typed):

1. GD map ``x -> x - eta grad f`` (eq. (7.1)) on each piece, coordinate by coordinate; SymPy
   checks each map is ``x -> m x`` (the quadratic coordinates) or ``x -> x + c`` (the slope).
2. The recursions are solved by ``sympy.rsolve``: ``x2_t = (1 + 2 eta)^t x2_0`` at the saddle,
   ``x2_t = (1 - 2 eta)^t x2_0`` and ``x1_t = x1_0 + 4 eta t`` on the slope.
3. Escape times: SymPy solves ``|x2_T| = 1`` for ``T`` (thin band), ``x1_t1 = 0`` for the
   steps ``t1`` spent reaching the saddle from ``x1_0 = -R`` and then ``|x2| = 1`` for the
   steps after (far away); the band half-width is ``T = exp(1/eps)`` solved for ``x2_0``.
4. ``log(1 + u)``, ``u`` a function of eta, is rewritten as ``log1p(u)`` (exact; float64-accurate
   for small eta); ``log(x2)`` stays (``log1p(x2 - 1)`` would lose a tiny x2).
"""
from __future__ import annotations

import sympy as sp

from ..knobs import cached, knob
from ..registry import Arg, Formula, register
from . import rates as R

SOURCE = "004 thesis, ch. 7"

x1, x2 = sp.symbols("x1 x2", real=True)
eta = sp.Symbol("eta", positive=True)
#: |x2_0| (by the symmetry x2 -> -x2 of both examples), R the distance of the start to the
#: saddle along x1, eps of the thin band.
X2 = sp.Symbol("x2", positive=True)
RR = sp.Symbol("R", positive=True)
EPS = sp.Symbol("eps", positive=True)
_t = sp.Symbol("t", integer=True, nonnegative=True)
T = sp.Symbol("T", positive=True)

#: sec. 7.3: f(x1, x2) = x1^2 - x2^2 on U = [-1, 1]^2 (the saddle at 0, both examples)
SADDLE = x1**2 - x2**2
#: eq. (7.2), x1 < -2: the long slope
SLOPE = -4 * x1 + x2**2


def gd_map(piece: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """``var - eta d piece/d var``: the GD map (7.1) of one coordinate of a separable piece."""
    return sp.expand(var - knob("saddle.warmup_step", 1) * eta * sp.diff(piece, var))


def multiplier(piece: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """``m`` with GD map ``var -> m var`` (a quadratic coordinate)."""
    m = sp.simplify(gd_map(piece, var) / var)
    if m.has(x1) or m.has(x2):
        raise ArithmeticError(f"GD map of {var} on {piece} is not linear: {m}")
    return m


def drift(piece: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """``c`` with GD map ``var -> var + c`` (the slope coordinate)."""
    c = sp.simplify(gd_map(piece, var) - var)
    if c.has(x1) or c.has(x2):
        raise ArithmeticError(f"GD map of {var} on {piece} is not a shift: {c}")
    return c


def _log1p_form(expr: sp.Expr) -> sp.Expr:
    """Logarithms split (``expand_log``), then ``log(1 + u)`` with ``u`` a function of ``eta``
    rewritten as ``log1p(u)`` (exact; float64-accurate for small eta).  ``log(x2)``, ``log(R)``
    stay: ``log1p(x2 - 1)`` would lose a tiny x2 entirely."""
    from sympy.codegen.cfunctions import log1p

    e = sp.expand_log(sp.expand(expr), force=True)
    return e.replace(lambda a: isinstance(a, sp.log) and a.args[0].has(eta),
                     lambda a: log1p(sp.expand(a.args[0] - 1)))


def _solve_steps(eq: sp.Expr) -> sp.Expr:
    (sol,) = sp.solve(sp.Eq(sp.expand_log(eq, force=True), 0), T)
    return sp.simplify(sol)


def _escape_log() -> sp.Expr:
    """Steps for ``|x2|`` to grow from ``x2_0`` to 1 at the saddle: ``log(x2_T) = 0`` solved for
    ``T`` (in logarithms)."""
    m_up = multiplier(SADDLE, x2)
    traj = R.trajectory(m_up).subs(R._x0, X2).subs(_t, T)
    return _solve_steps(sp.log(traj))


@cached
def band_escape_time() -> sp.Expr:
    """Steps for ``|x2|`` to grow from ``x2_0`` to 1 at the saddle (the escape from U; x1
    contracts and stays in U), with log1p forms."""
    return _log1p_form(_escape_log())


@cached
def band_halfwidth() -> sp.Expr:
    """The half-width of the thin band: the ``x2_0`` whose escape time is ``exp(1/eps)``."""
    (sol,) = sp.solve(sp.Eq(_escape_log(), sp.exp(1 / EPS)), X2)
    return sp.simplify(sol)


def paper_band_halfwidth() -> sp.Expr:
    """sec. 7.3 prints the band [-(3/2)^(-exp(1/eps)), (3/2)^(-exp(1/eps))] for eta = 1/4."""
    return sp.Rational(3, 2) ** (-sp.exp(1 / EPS))


@cached
def far_escape_time() -> sp.Expr:
    """Steps from ``x1_0 = -R`` (``x2_0``) until ``|x2| = 1``, to leading order in R: ``t1``
    steps down the slope to the saddle (``x1_0 + c t1 = 0``), during which ``x2`` shrinks by
    ``m_down`` per step, then the band escape from ``x2_0 m_down^t1`` (the connector and the
    offsets -2, -1 add O(1) steps, measured in the numerics)."""
    c = drift(SLOPE, x1)
    X1 = sp.Function("X1")
    x1_t = sp.rsolve(X1(_t + 1) - X1(_t) - c, X1(_t), {X1(0): -RR})
    (t1,) = sp.solve(sp.Eq(x1_t.subs(_t, T), 0), T)
    m_down = multiplier(SLOPE, x2)
    shrunk = R.trajectory(m_down).subs(R._x0, X2).subs(_t, t1)
    m_up = multiplier(SADDLE, x2)
    back = R.trajectory(m_up).subs(R._x0, shrunk).subs(_t, T)
    t2 = _solve_steps(sp.log(back))
    return sp.simplify(_log1p_form(sp.expand(sp.expand_log(t1 + t2, force=True))))


def paper_far_steps() -> sp.Expr:
    """sec. 7.3 (eta = 1/4): 't ~ R' steps to reach the saddle, x2 ~ x2_0 (1/2)^R; with the
    thin band's (3/2) growth the total escape time is R + log(2^R / x2_0)/log(3/2)."""
    return RR + sp.log(2**RR / X2) / sp.log(sp.Rational(3, 2))


_ETA = Arg("eta", "scalar", "GD step size", positive=True,
           domain=("< 1/2: else the stable coordinate overshoots (1 - 2 eta <= 0)",))

register(Formula(
    "saddle.band_escape_time", f"{SOURCE}, sec. 7.3 (thin band: f = x1^2 - x2^2 on U, GD (7.1))",
    (Arg("x2", "scalar", "initial |x2| (0 < |x2| <= 1)", positive=True,
         domain=("<= 1: the start is in U",)), _ETA),
    "f(x1, x2) = x1^2 - x2^2 on U = [-1,1]^2; GD x <- x - eta grad f; escape = |x2| reaches 1",
    band_escape_time, r"T_{\mathrm{band}}",
    notes="Continuous escape time: the first integer step with |x2| > 1 is floor(T) + 1. At "
          "eta = 1/4: log(1/x2)/log(3/2).",
))
register(Formula(
    "saddle.band_halfwidth", f"{SOURCE}, sec. 7.3 (thin band: the initialization band)",
    (Arg("eps", "scalar", "the band's parameter epsilon", positive=True), _ETA),
    "the x2_0 whose band escape time is exp(1/eps); a start with |x2_0| below it needs at least "
    "exp(1/eps) steps",
    band_halfwidth, r"w_{\mathrm{band}}(\epsilon)",
    where={EPS: (r"\epsilon", "the band's parameter")},
    paper=paper_band_halfwidth,
    paper_reading="sec. 7.3: initialize uniformly within [-1,1] x [-(3/2)^(-exp(1/eps)), "
                  "(3/2)^(-exp(1/eps))] (eta = 1/4; OCR '(%)_e\"p(%)')",
    notes="Underflows in float64 (to 0) once exp(1/eps) log(1 + 2 eta) > 745, i.e. eps < ~0.15 "
          "at eta = 1/4.",
))
register(Formula(
    "saddle.far_escape_time", f"{SOURCE}, sec. 7.3 (far away: eq. (7.2), GD (7.1))",
    (Arg("R", "scalar", "distance of the start x1_0 = -R to the saddle", positive=True),
     Arg("x2", "scalar", "initial |x2| (0 < |x2| <= 1)", positive=True,
         domain=("<= 1: the start is in [-oo, 1] x [-1, 1]",)), _ETA),
    "f = -4 x1 + x2^2 (x1 < -2), x1^2 - x2^2 on U, a C^2 connector between (eq. (7.2)); "
    "leading order in R (the connector and the offsets add O(1) steps)",
    far_escape_time, r"T_{\mathrm{far}}",
    paper=paper_far_steps,
    paper_reading="sec. 7.3 (eta = 1/4): 't ~ R and so x2 ~ x2_0 (1/2)^R' (OCR '(1)E'), then the "
                  "thin band's escape",
))
