"""The warm-up examples of thesis ch. 7 sec. 7.3 (seed 004) as functions, and plain GD on them.

Written from the MODEL (the pieces of sec. 7.3 and eq. (7.2)), never from the derived escape
times: ``f = x1^2 - x2^2`` on ``U = [-1, 1]^2`` (thin band); ``f = -4 x1 + x2^2`` for
``x1 < -2``, the saddle on ``x1 >= -1``, and on ``[-2, -1]`` a connector ``h = g1(x1) + g2(x1)
x2^2`` whose ``g1``, ``g2`` are quintic Hermite interpolants (SciPy ``BPoly.from_derivatives``)
of the two pieces' values and first two derivatives at both ends, so that f is C^2 (the thesis
builds h with splines, Appendix; ``g2`` goes from 1 to -1 with flat ends, so ``x2`` does not
suddenly increase there).  For ``x1 > 1`` the saddle piece continues (GD never goes there: x1
contracts in U).  Gradients are by hand from the same pieces.
"""
from __future__ import annotations

import math

import numpy as np


def band_grad(x1: float, x2: float) -> tuple[float, float]:
    """grad of x1^2 - x2^2."""
    return 2.0 * x1, -2.0 * x2


class FarAway:
    """eq. (7.2) with a C^2 quintic connector on [-2, -1]."""

    def __init__(self):
        from scipy.interpolate import BPoly

        # (value, first, second derivative) of the pieces' x2-free parts and x2^2 coefficients
        slope_g1 = lambda x: (-4.0 * x, -4.0, 0.0)  # noqa: E731  -4 x1
        saddle_g1 = lambda x: (x * x, 2.0 * x, 2.0)  # noqa: E731  x1^2
        self.g1 = BPoly.from_derivatives([-2.0, -1.0], [list(slope_g1(-2.0)), list(saddle_g1(-1.0))])
        self.g2 = BPoly.from_derivatives([-2.0, -1.0], [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
        self.dg1, self.dg2 = self.g1.derivative(), self.g2.derivative()

    def f(self, x1: float, x2: float) -> float:
        if x1 < -2:
            return -4.0 * x1 + x2 * x2
        if x1 <= -1:
            return float(self.g1(x1)) + float(self.g2(x1)) * x2 * x2
        return x1 * x1 - x2 * x2

    def grad(self, x1: float, x2: float) -> tuple[float, float]:
        if x1 < -2:
            return -4.0, 2.0 * x2
        if x1 <= -1:
            return (float(self.dg1(x1)) + float(self.dg2(x1)) * x2 * x2,
                    2.0 * float(self.g2(x1)) * x2)
        return 2.0 * x1, -2.0 * x2


def escape_steps(grad, x1: float, x2: float, eta: float, limit: int = 10**6) -> int:
    """Plain GD ``x <- x - eta grad f(x)`` (eq. (7.1)) from ``(x1, x2)``; the first step count
    with ``|x2| > 1`` (the iterate has left ``U`` through the unstable direction)."""
    for t in range(1, limit + 1):
        g1, g2 = grad(x1, x2)
        x1, x2 = x1 - eta * g1, x2 - eta * g2
        if abs(x2) > 1:
            return t
        if x2 == 0.0 or not math.isfinite(x2):
            raise ArithmeticError(f"x2 became {x2} at step {t} (float64 underflow)")
    raise ArithmeticError(f"no escape in {limit} steps")


def escape_steps_batch(x2s: np.ndarray, eta: float) -> np.ndarray:
    """Thin band: escape steps from ``(0.5, x2)`` for many ``x2`` at once (vectorized GD)."""
    x1 = np.full(len(x2s), 0.5)
    x2 = np.array(x2s, dtype=float)
    out = np.zeros(len(x2), dtype=np.int64)
    t = 0
    while np.any(out == 0):
        t += 1
        g1, g2 = band_grad(x1, x2)
        x1, x2 = x1 - eta * g1, x2 - eta * g2
        out[(out == 0) & (np.abs(x2) > 1)] = t
        if t > 10**6:
            raise ArithmeticError("no escape")
    return out
