"""Growth factor of GD escape times from saddle to saddle (thesis sec. 7.3 key observation,
Lemma 7.2, sec. 7.5).

While saddle ``k`` is being escaped, every pending coordinate lives in a quadratic piece with
curvature ``+2L`` and shrinks by ``1 - 2 eta L`` per GD step; once its own saddle is reached it
grows by ``1 + 2 eta gamma`` per step (eq. (7.6)).  A coordinate that shrank for ``T`` steps
therefore needs ``D`` steps to come back to a fixed level, with

    (1 - 2 eta L)^T (1 + 2 eta gamma)^D = 1.

Solving for ``D`` gives ``D = rho T``; since ``T_{k+1} = T_k + D_{k+1}``, consecutive escape
times grow by ``D_{k+1} / D_k -> 1 + rho`` (the spline steps and the starting point only add
O(1) per saddle).  The proof's bound ``(L + gamma)/gamma`` is the small-step limit (and a lower
bound for every ``0 < eta < 1/(2L)`` by ``log(1+z) <= z``), checked in the numerics.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from ..registry import Arg, Formula, register
from . import connectors as C

eta = sp.Symbol("eta", positive=True)
T, D = sp.symbols("T D", positive=True)


@lru_cache(maxsize=None)
def escape_ratio() -> sp.Expr:
    """``lim D_{k+1}/D_k`` solved from the exit condition (module docstring)."""
    cond = sp.Eq(T * sp.log(1 - 2 * eta * C.L) + D * sp.log(1 + 2 * eta * C.gamma), 0)
    (Dsol,) = sp.solve(cond, D)
    return sp.simplify(1 + Dsol / T)


def proof_bound() -> sp.Expr:
    """The key observation's / Lemma 7.2's factor ``(L + gamma)/gamma``."""
    return (C.L + C.gamma) / C.gamma


register(Formula(
    "saddle.escape_ratio", "004 thesis, ch. 7, sec. 7.3 (key observation) and sec. 7.5",
    (Arg("L", "scalar", "stable curvature (L >= gamma)", positive=True),
     Arg("gamma", "scalar", "unstable curvature", positive=True),
     Arg("eta", "scalar", "GD step size, 0 < eta < 1/(2L)", positive=True)),
    "GD with constant step on the tube/octopus; escape times large (k -> infinity)",
    escape_ratio, r"\lim_{k\to\infty} D_{k+1}/D_k",
    paper=proof_bound,
    paper_reading="sec. 7.5: 'the number of iterations to escape a saddle point increase at each "
                  "time with a multiplicative factor (L+gamma)/gamma' (OCR '%')",
    validate=("_rt.require(L >= gamma, 'L', 'must be >= gamma (the proofs need L >= gamma > 0)')",
              "_rt.require(2 * eta * L < 1, 'eta', 'must be < 1/(2L) (else pending coordinates "
              "are zeroed and GD never escapes)')"),
    notes="At eta = 1/(4L) this is 1 + ln 2 / ln(1 + gamma/(2L)).",
))
