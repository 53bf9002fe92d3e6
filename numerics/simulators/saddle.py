"""The saddle construction of seed 004, ch. 7, built numerically from its definition.

Independent of ``derivations``: the connector polynomials are obtained here by solving their
boundary conditions as *linear systems* (NumPy in float64, or mpmath at any precision), not by
evaluating the SymPy closed forms; the octopus, its gradient and Hessian are written out from
the thesis's definition (7.6)-(7.18).  Used as the reference in the checks and as the model
that the GD/PGD integrators (:mod:`numerics.simulators.saddle_gd`) descend.

The conditions (read off the quadratic pieces ``-gamma x^2`` and ``L (x - 4 tau)^2`` that the
connectors join, Lemma 7.4 and Theorem 7.4):

* ``p = g1'``: cubic, ``p(tau) = -2 gamma tau``, ``p'(tau) = -2 gamma``,
  ``p(2 tau) = -4 L tau``, ``p'(2 tau) = 2 L``;
* ``g1(x) = int_tau^x p - gamma tau^2``; ``nu = -g1(2 tau) + 4 L tau^2``;
* ``g2``: quintic, ``g2(tau) = L``, ``g2(2 tau) = -gamma``, ``g2' = g2'' = 0`` at both ends.

Polynomials are stored in the scaled variable ``s = (x - tau)/tau`` (coefficients ``c[k]`` of
``s^k``), evaluated by Horner's rule with plain arithmetic, so the same code runs on floats,
NumPy arrays and mpmath numbers (object arrays).
"""
from __future__ import annotations

import math

import numpy as np


def check_params(L, gamma, tau) -> None:
    """``ValueError`` naming the argument unless ``L >= gamma > 0`` and ``tau > 0`` (finite)."""
    for name, val in (("L", L), ("gamma", gamma), ("tau", tau)):
        if not math.isfinite(float(val)):
            raise ValueError(f"{name} must be finite, got {val!r}")
    if not float(gamma) > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    if not float(tau) > 0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    if not float(L) >= float(gamma):
        raise ValueError(f"L must be >= gamma (the proofs need L >= gamma > 0), got L={L!r}, gamma={gamma!r}")


def _solve(rows, rhs, mp):
    if mp:
        import mpmath

        return list(mpmath.lu_solve(mpmath.matrix(rows), mpmath.matrix(rhs)))
    return [float(c) for c in np.linalg.solve(np.array(rows, float), np.array(rhs, float))]


def _deriv_row(n: int, degree: int, s: int) -> list[int]:
    """Row of ``d^n/ds^n sum c_k s^k`` at ``s`` (0 or 1) in the unknowns ``c_0..c_degree``."""
    row = []
    for k in range(degree + 1):
        if k < n:
            row.append(0)
        else:
            row.append(math.perm(k, n) * (s ** (k - n) if k - n > 0 else 1))
    return row


def horner(c, s):
    out = c[-1]
    for a in reversed(c[:-1]):
        out = out * s + a
    return out


def polyder(c):
    return [k * c[k] for k in range(1, len(c))] or [0 * c[0]]


class Octopus:
    """The octopus function of (7.12)-(7.18) with numerically solved connectors.

    ``mp=True`` works with mpmath numbers at the current ``mpmath.mp.dps`` (inputs are then
    object arrays of ``mpf``).
    """

    def __init__(self, L=math.e, gamma=1.0, tau=math.e, mp: bool = False):
        check_params(L, gamma, tau)
        self.mp = mp
        if mp:
            import mpmath

            num = mpmath.mpf
        else:
            num = float
        self.num = num
        self.L, self.gamma, self.tau = num(L), num(gamma), num(tau)
        L, gamma, tau = self.L, self.gamma, self.tau
        # p(x) = P(s), s = (x - tau)/tau: p' = P'(s)/tau.
        rows = [_deriv_row(0, 3, 0), _deriv_row(1, 3, 0), _deriv_row(0, 3, 1), _deriv_row(1, 3, 1)]
        rhs = [-2 * gamma * tau, -2 * gamma * tau, -4 * L * tau, 2 * L * tau]
        self.P = _solve(rows, rhs, mp)
        # g1 = tau * int_0^s P - gamma tau^2
        self.G1 = [-gamma * tau**2] + [tau * c / (k + 1) for k, c in enumerate(self.P)]
        self.nu = -horner(self.G1, num(1)) + 4 * L * tau**2
        rows = [_deriv_row(n, 5, s) for s in (0, 1) for n in (0, 1, 2)]
        rhs = [L, 0, 0, -gamma, 0, 0]
        self.G2 = _solve(rows, rhs, mp)
        self.dP, self.dG2 = polyder(self.P), polyder(self.G2)
        self.ddG2 = polyder(self.dG2)

    # -- connectors (x is the active coordinate) ---------------------------------------------
    def s(self, x):
        return (x - self.tau) / self.tau

    def p(self, x):
        return horner(self.P, self.s(x))

    def dp(self, x):
        return horner(self.dP, self.s(x)) / self.tau

    def g1(self, x):
        return horner(self.G1, self.s(x))

    def g2(self, x):
        return horner(self.G2, self.s(x))

    def dg2(self, x):
        return horner(self.dG2, self.s(x)) / self.tau

    def ddg2(self, x):
        return horner(self.ddG2, self.s(x)) / self.tau**2

    # -- regions -----------------------------------------------------------------------------
    def active(self, y):
        """Index of the active coordinate (first ``|x_j| < 2 tau``; ``d`` if none), ``y = |x|``."""
        below = y < 2 * self.tau
        return np.where(below.any(axis=-1), np.argmax(below, axis=-1), y.shape[-1])

    def in_domain(self, x) -> np.ndarray:
        """Membership in D of (7.13) (boolean per point)."""
        y = np.abs(np.asarray(x))
        a = self.active(y)
        j = np.arange(y.shape[-1])
        ok_conv = np.where(j < a[..., None], y <= 6 * self.tau, True)
        ok_rest = np.where(j > a[..., None], y <= self.tau, True)
        return np.all(ok_conv & ok_rest, axis=-1)

    def _roles(self, x):
        x = np.asarray(x) if self.mp else np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[-1] < 2:
            raise ValueError("x must have length d >= 2")
        if not np.all(self.in_domain(x)):
            raise ValueError("x must lie in the octopus domain D")
        y = np.abs(x)
        n, d = y.shape
        a = self.active(y)
        rows = np.arange(n)
        zero = self.num(0)
        u = np.where(a < d, y[rows, np.minimum(a, d - 1)], zero)
        v = np.where(a + 1 < d, y[rows, np.minimum(a + 1, d - 1)], zero)
        quad = u <= self.tau
        return x, y, a, u, v, quad

    # -- the function ------------------------------------------------------------------------
    def f(self, x):
        """Octopus value at each row of ``x`` (shape (n, d) or (d,))."""
        x, y, a, u, v, quad = self._roles(x)
        L, gamma, tau = self.L, self.gamma, self.tau
        d = y.shape[-1]
        out = -a * self.nu
        for j in range(d):
            conv_term = L * (y[:, j] - 4 * tau) ** 2
            tail_term = L * y[:, j] ** 2
            out = out + np.where(j < a, conv_term, 0) + np.where(j > a + 1, tail_term, 0)
        piece1 = -gamma * u**2 + L * v**2                       # (7.6) / (7.8)
        piece2 = self.g1(u) + self.g2(u) * v**2                 # (7.7) / (7.9)
        return out + np.where(quad, piece1, piece2)

    def grad(self, x):
        """Gradient of the octopus, rows of ``x``: ``sign(x_j) dF/dy_j``."""
        x, y, a, u, v, quad = self._roles(x)
        L, gamma, tau = self.L, self.gamma, self.tau
        d = y.shape[-1]
        j = np.arange(d)[None, :]
        A, U, V, Q = a[:, None], u[:, None], v[:, None], quad[:, None]
        g = np.where(j < A, 2 * L * (y - 4 * tau), 0 * y)
        g = np.where(j > A + 1, 2 * L * y, g)
        g = np.where(j == A, np.where(Q, -2 * gamma * U, self.p(U) + self.dg2(U) * V**2), g)
        g = np.where(j == A + 1, np.where(Q, 2 * L * V, 2 * self.g2(U) * V), g)
        return np.sign(x) * g

    def hessian(self, x):
        """Hessian of the octopus, shape (n, d, d)."""
        x, y, a, u, v, quad = self._roles(x)
        L, gamma = self.L, self.gamma
        n, d = y.shape
        H = np.zeros((n, d, d), dtype=object if self.mp else float)
        for r in range(n):
            for jj in range(d):
                if jj < a[r] or jj > a[r] + 1:
                    H[r, jj, jj] = 2 * L
                elif jj == a[r]:
                    H[r, jj, jj] = -2 * gamma if quad[r] else self.dp(u[r]) + self.ddg2(u[r]) * v[r] ** 2
                else:
                    H[r, jj, jj] = 2 * L if quad[r] else 2 * self.g2(u[r])
            if a[r] + 1 < d and not quad[r]:
                i = a[r]
                c = 2 * self.dg2(u[r]) * v[r] * np.sign(x[r, i]) * np.sign(x[r, i + 1])
                H[r, i, i + 1] = H[r, i + 1, i] = c
        return H

    # -- stationary points of Lemma 7.1 ------------------------------------------------------
    def saddle(self, d: int, k: int, signs=None):
        """Saddle ``k`` (0-based: ``k`` converged coordinates at ``+-4 tau``), or the minimum
        for ``k = d``."""
        pt = [self.num(0)] * d
        for j in range(k):
            pt[j] = 4 * self.tau * (1 if signs is None else signs[j])
        return np.array(pt, dtype=object if self.mp else float)
