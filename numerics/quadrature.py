"""Gaussian expectations by deterministic quadrature: the independent high-precision reference.

The closed forms of the Gaussian-input families are expectations over ``z ~ N(0, I_p)`` of a
network built from ReLUs.  Such an expectation depends on ``z`` only through its projection on
the plane (or line) spanned by the weight vectors involved, so it can be computed to ~1e-14 by
quadrature of the *model's own integrand* over that plane, with no closed form involved:

* :func:`plane_expectation` -- ``E[f(z1, z2)]`` for ``(z1, z2) ~ N(0, I_2)``, in polar
  coordinates: Gauss-Legendre in the angle on every sector between the *kinks* (directions where
  ``f`` is not smooth, e.g. the boundary of ``{a.z > 0}``), and in the radius the Gauss rule of
  the weight ``r exp(-r^2/2)`` on ``[0, inf)`` (built here from its moments), which is exact for
  integrands that are polynomial in ``r`` along each ray (products of ReLUs of projections);
* :func:`line_expectation` -- ``E[f(z)]`` for ``z ~ N(0, 1)`` with breakpoints;
* :func:`plane_basis` and :func:`relu_kinks` -- project vectors of ``R^p`` onto their plane and
  list the kink directions of ``relu(a.z)`` terms.

Nothing here imports :mod:`derivations`.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Default number of Gauss-Legendre nodes per angular sector and of radial nodes.
N_THETA, N_R = 40, 30
#: Longest angular sector (longer kink-free sectors are split).
MAX_SECTOR = math.pi / 2


@lru_cache(maxsize=None)
def radial_rule(n: int = N_R) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``n``-point Gauss rule for ``int_0^inf g(r) r e^{-r^2/2} dr``.

    Built from the moments ``int_0^inf r^k r e^{-r^2/2} dr = 2^{k/2} Gamma(k/2 + 1)`` by
    Chebyshev's algorithm at high precision (the Hankel system is ill-conditioned), then the
    Golub-Welsch eigenvalue problem.  Exact for polynomials ``g`` of degree ``<= 2n - 1``.
    """
    import mpmath
    from scipy.linalg import eigh_tridiagonal

    with mpmath.workdps(40 + 4 * n):
        mu = [mpmath.power(2, mpmath.mpf(k) / 2) * mpmath.gamma(mpmath.mpf(k) / 2 + 1)
              for k in range(2 * n)]
        a, b = [mpmath.mpf(0)] * n, [mpmath.mpf(0)] * n
        prev = [mpmath.mpf(0)] * (2 * n)
        cur = list(mu)
        a[0], b[0] = mu[1] / mu[0], mu[0]
        for k in range(1, n):
            nxt = [mpmath.mpf(0)] * (2 * n)
            for l in range(k, 2 * n - k):
                nxt[l] = cur[l + 1] - a[k - 1] * cur[l] - b[k - 1] * prev[l]
            a[k] = nxt[k + 1] / nxt[k] - cur[k] / cur[k - 1]
            b[k] = nxt[k] / cur[k - 1]
            prev, cur = cur, nxt
        diag = np.array([float(x) for x in a])
        off = np.array([float(mpmath.sqrt(x)) for x in b[1:]])
        mu0 = float(mu[0])
    nodes, vecs = eigh_tridiagonal(diag, off)
    return nodes, mu0 * vecs[0, :] ** 2


def _sectors(kinks, lo: float, hi: float, max_len: float, wrap: bool = True):
    """Sub-intervals of ``[lo, hi]`` split at ``kinks`` (wrapped into the interval when ``wrap``,
    for angles; kinks already inside are kept exactly) and at most ``max_len`` long."""
    inside = {float(k) for k in kinks if lo <= float(k) <= hi}
    if wrap:
        inside |= {lo + ((float(k) - lo) % (hi - lo)) for k in kinks if not lo <= float(k) <= hi}
    pts = sorted({lo, hi} | inside)
    out = []
    for s, t in zip(pts[:-1], pts[1:]):
        if t - s <= 1e-15:
            continue
        m = max(1, math.ceil((t - s) / max_len))
        edges = np.linspace(s, t, m + 1)
        out.extend(zip(edges[:-1], edges[1:]))
    return out


@lru_cache(maxsize=None)
def _legendre(n: int):
    return np.polynomial.legendre.leggauss(n)


def plane_expectation(f, kinks=(), n_theta: int = N_THETA, n_r: int = N_R):
    """``E[f(z1, z2)]`` for ``(z1, z2) ~ N(0, I_2)`` by polar Gauss quadrature.

    ``f(z1, z2)`` receives two float arrays of one shape ``S`` and returns an array of shape
    ``S + out`` (``out`` may be empty).  ``kinks`` are angles (radians, any range) of the rays
    across which ``f`` is not smooth; between kinks ``f`` must be smooth along rays and in the
    angle.  Accuracy ~1e-14 relative for piecewise-polynomial-in-``r`` integrands (ReLU
    networks); smooth integrands converge exponentially in ``n_r``.
    """
    x, w = _legendre(n_theta)
    thetas, tw = [], []
    for s, t in _sectors(kinks, 0.0, 2 * math.pi, MAX_SECTOR):
        thetas.append(0.5 * (t - s) * x + 0.5 * (t + s))
        tw.append(0.5 * (t - s) * w)
    theta, wt = np.concatenate(thetas), np.concatenate(tw)
    r, wr = radial_rule(n_r)
    z1 = r[None, :] * np.cos(theta)[:, None]
    z2 = r[None, :] * np.sin(theta)[:, None]
    vals = np.asarray(f(z1, z2), dtype=np.float64)
    weights = (wt[:, None] * wr[None, :]) / (2 * math.pi)
    return np.tensordot(weights, vals, axes=([0, 1], [0, 1]))


def line_expectation(f, kinks=(), n: int = 24, cutoff: float = 40.0, max_len: float = 1.0):
    """``E[f(z)]`` for ``z ~ N(0, 1)``: Gauss-Legendre on pieces between ``kinks`` (truncated at
    ``+-cutoff``, where the density is below 1e-340).  ``f`` maps an array of shape ``S`` to
    ``S + out``."""
    x, w = _legendre(n)
    zs, ws = [], []
    inner = [k for k in kinks if -cutoff < k < cutoff]
    for s, t in _sectors(inner, -cutoff, cutoff, max_len, wrap=False):
        zs.append(0.5 * (t - s) * x + 0.5 * (t + s))
        ws.append(0.5 * (t - s) * w)
    z, wz = np.concatenate(zs), np.concatenate(ws)
    dens = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    vals = np.asarray(f(z), dtype=np.float64)
    return np.tensordot(wz * dens, vals, axes=([0], [0]))


def plane_basis(*vectors) -> tuple[np.ndarray, np.ndarray]:
    """An orthonormal basis ``(e1, e2)`` of a plane containing the given vectors of ``R^p``
    (``p >= 1``; for ``p = 1``, ``e2 = 0``): ``e1`` along the first nonzero vector, ``e2`` along the first other vector's
    rejection (any unit vector orthogonal to ``e1`` if all are parallel).  Uses a QR
    factorisation (Householder), so nearly parallel vectors are handled stably."""
    vs = [np.asarray(v, dtype=np.float64) for v in vectors]
    p = len(vs[0])
    if p == 1:
        # R^1: the line itself; e2 = 0, so z = z1 e1 + z2 e2 integrates z2 out exactly (the
        # integrand depends on z only through its projections)
        s = -1.0 if next((float(v[0]) for v in vs if v[0] != 0), 1.0) < 0 else 1.0
        return np.array([s]), np.zeros(1)
    if p < 2:
        raise ValueError("plane_basis needs vectors of length >= 1")
    # candidates for a second direction when all are parallel: the unit vectors of the two
    # smallest entries of the first vector (not all p of them: p x p is 0.5 GB at p = 8193)
    lead = next((v for v in vs if np.any(v != 0)), vs[0])
    extra = np.argsort(np.abs(lead), kind="stable")[:2] if p > 8 else range(p)
    M = np.column_stack(vs + [np.eye(1, p, int(i))[0] for i in extra])
    q, rr = np.linalg.qr(M)
    cols = [i for i in range(q.shape[1]) if abs(rr[i, i]) > 1e-300][:2]
    cols += [i for i in range(q.shape[1]) if i not in cols][: 2 - len(cols)]  # all parallel
    e1, e2 = q[:, cols[0]], q[:, cols[1]]
    s = 1.0 if vs[0] @ e1 >= 0 else -1.0
    return s * e1, e2


def coordinates(v, e1, e2) -> np.ndarray:
    """In-plane coordinates ``(v.e1, v.e2)`` of ``v``."""
    v = np.asarray(v, dtype=np.float64)
    return np.array([v @ e1, v @ e2])


def relu_kinks(*coefs) -> list[float]:
    """Angles of the rays where ``a.z = 0`` for each in-plane coefficient pair ``a`` (2-vectors):
    ``atan2(a2, a1) +- pi/2``.  Pass them as ``kinks`` for integrands with ``relu(a.z)`` or
    ``1{a.z > 0}`` factors."""
    out = []
    for a in coefs:
        a = np.asarray(a, dtype=np.float64)
        if np.any(a != 0):
            c = math.atan2(a[1], a[0])
            out += [c + math.pi / 2, c - math.pi / 2]
    return out
