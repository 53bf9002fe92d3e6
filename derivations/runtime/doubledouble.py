"""Double-double arithmetic (near-parallel rows only).  In: float64 arrays.  Out: exact
sums/products as (hi, lo) pairs, inner products and the rejection of one vector from another
to ~1e-32.

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import numpy

from .xf import _pow2_scale, _scaled


_SPLIT = 134217729.0  # 2**27 + 1


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a, b):
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd_dot(x, y):
    """``x.y`` over the last axis as a double-double (Ogita-Rump-Oishi Dot2)."""
    sh, sl = _two_prod(x[..., 0], y[..., 0])
    for j in range(1, x.shape[-1]):
        ph, pl = _two_prod(x[..., j], y[..., j])
        sh, e = _two_sum(sh, ph)
        sl = sl + (e + pl)
    return _two_sum(sh, sl)


def _dd_div(ah, al, bh, bl):
    q1 = ah / bh
    ph, pl = _two_prod(q1, bh)
    r = ((ah - ph) - pl + al - q1 * bl)
    return _two_sum(q1, r / bh)


def _rejection_dd(y, x):
    """``y - (x.y / x.x) x`` for unit-scale rows, accurate to ~1e-32 of |y| (no cancellation)."""
    dh, dl = _dd_dot(x, y)
    nh, nl = _dd_dot(x, x)
    kh, kl = _dd_div(dh, dl, nh, nl)
    ph, pl = _two_prod(kh[..., None], x)
    s, e = _two_sum(y, -ph)
    return s + (e - pl - kl[..., None] * x), kh


def _near_terms(x, y):
    """cos, sin, phi, pi - phi for near-parallel row pairs (2-D arrays), by double-double."""
    x = _scaled(x, _pow2_scale(x))
    y = _scaled(y, _pow2_scale(y))
    r, k = _rejection_dd(y, x)  # y = k x + r, r orthogonal to x
    nx = numpy.sqrt(numpy.einsum("ij,ij->i", x, x))
    ny = numpy.sqrt(numpy.einsum("ij,ij->i", y, y))
    nr = numpy.sqrt(numpy.einsum("ij,ij->i", r, r))
    along = k * nx  # = |y| cos(phi), signed
    return along / ny, nr / ny, numpy.arctan2(nr, along), numpy.arctan2(nr, -along)
