"""Growth factor of GD escape times from saddle to saddle (thesis sec. 7.3 key observation,
Lemma 7.2, sec. 7.5), derived from the GD map on the quadratic pieces.

1. GD map ``x -> x - eta f'(x)`` (eq. (7.1)) on the two quadratic pieces a pending coordinate
   lives in: the tail term ``L x^2`` of (7.6) (while earlier saddles are escaped) and the
   active term ``-gamma x^2`` (at its own saddle).  SymPy computes each map and checks it is
   linear, ``x -> m x``.
2. The recursion ``x_{t+1} = m x_t`` is solved by ``sympy.rsolve``: ``x_t = m^t x_0``.
3. Exit condition: a coordinate that shrank for ``T`` steps needs ``D`` steps to return to its
   starting level, ``x_0 m_down^T m_up^D = x_0``; SymPy solves it for ``D = rho T``.
4. Escape times: ``T_k = T_{k-1} + D_k`` and ``D_{k+1} = rho T_k`` (the coordinate k+1 shrank
   during the whole ``T_k``); SymPy simplifies ``D_{k+1}/D_k`` (spline steps and the start only
   add O(1) per saddle, negligible as ``k -> infinity``).
5. For float64 the logarithms ``log(1 + u)`` are rewritten as ``log1p(u)`` (exact for
   ``eta -> 0``: ``eta = 1e-17`` gives ``1 + L/gamma``; the naive form divides 0 by 0).

The proof's bound ``(L + gamma)/gamma`` is the small-step limit (and a lower bound for every
``0 < eta < 1/(2L)`` by ``log(1+z) <= z``): a loose-but-valid bound, checked in the numerics.
"""
from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import log1p

from ..knobs import cached, knob
from ..registry import Arg, Formula, register
from . import connectors as C

eta = sp.Symbol("eta", positive=True)
T, D = sp.symbols("T D", positive=True)
_t = sp.Symbol("t", integer=True, nonnegative=True)
_x0 = sp.Symbol("x0", positive=True)


def gd_multiplier(piece: sp.Expr) -> sp.Expr:
    """``m`` with ``x - eta piece'(x) = m x`` (the GD map (7.1) on a quadratic piece)."""
    step = knob("saddle.gd_step", 1) * eta
    m = sp.simplify((C.x - step * sp.diff(piece, C.x)) / C.x)
    if m.has(C.x):
        raise ArithmeticError(f"GD map on {piece} is not linear: {m}")
    return m


def trajectory(m: sp.Expr) -> sp.Expr:
    """``x_t`` solving ``x_{t+1} = m x_t``, ``x_0 = x0`` (``sympy.rsolve``)."""
    X = sp.Function("X")
    return sp.rsolve(X(_t + 1) - m * X(_t), X(_t), {X(0): _x0})


@cached
def escape_ratio_log() -> sp.Expr:
    """``lim D_{k+1}/D_k`` in logarithms, solved from the GD map (module docstring)."""
    tail = knob("saddle.tail_coeff", 1) * C.NEXT_LEFT * C.x**2  # L x_j^2, tail term of (7.6)
    active = C.left_piece()                # -gamma x_i^2, the saddle's own term
    m_down, m_up = gd_multiplier(tail), gd_multiplier(active)
    shrunk = trajectory(m_down).subs(_t, T)
    back = trajectory(m_up).subs({_t: D, _x0: shrunk})
    # exit condition back = x0, in logarithms (all factors positive for 0 < eta < 1/(2L))
    lhs = sp.expand_log(sp.log(back / _x0), force=True)
    (Dsol,) = sp.solve(sp.Eq(lhs, 0), D)
    rho = sp.simplify(Dsol / T)
    Tprev = sp.Symbol("T_prev", positive=True)
    Dk = rho * Tprev
    Dk1 = rho * (Tprev + Dk)
    return sp.simplify(Dk1 / Dk)


def _log1p_form(expr: sp.Expr) -> sp.Expr:
    """Rewrite every ``log(a)`` as ``log1p(a - 1)`` (exact; accurate in float64 near a = 1)."""
    return expr.replace(sp.log, lambda a: log1p(sp.expand(a - 1)))


@cached
def escape_ratio() -> sp.Expr:
    """The escape ratio with ``log1p`` forms for float64 (module docstring, step 5)."""
    e = escape_ratio_log()
    hard = _log1p_form(e)
    u = sp.Symbol("u", positive=True)
    # proof that the rewrite is an identity: log1p(u) = log(1 + u)
    if sp.simplify(log1p(u).rewrite(sp.log) - sp.log(1 + u)) != 0:
        raise ArithmeticError("log1p rewrite is not exact")
    return hard


def proof_bound() -> sp.Expr:
    """The key observation's / Lemma 7.2's factor ``(L + gamma)/gamma``."""
    return (C.L + C.gamma) / C.gamma


register(Formula(
    "saddle.escape_ratio", "004 thesis, ch. 7, sec. 7.3 (key observation) and sec. 7.5",
    (Arg("L", "scalar", "stable curvature (L >= gamma)", positive=True),
     Arg("gamma", "scalar", "unstable curvature", positive=True),
     Arg("eta", "scalar", "GD step size, 0 < eta < 1/(2L)", positive=True,
         domain=("< 1/(2*L): else pending coordinates are zeroed and GD never escapes",))),
    "GD with constant step on the tube/octopus; escape times large (k -> infinity)",
    escape_ratio, r"\lim_{k\to\infty} D_{k+1}/D_k",
    paper=proof_bound,
    paper_reading="sec. 7.5: 'the number of iterations to escape a saddle point increase at each "
                  "time with a multiplicative factor (L+gamma)/gamma' (OCR '%')",
    validate=("_rt.require(L >= gamma, 'L', 'must be >= gamma (the proofs need L >= gamma > 0)')",),
    notes="At eta = 1/(4L) this is 1 + ln 2 / ln(1 + gamma/(2L)); log1p forms keep eta -> 0 "
          "accurate (eta = 1e-17 gives 1 + L/gamma).",
))
