"""The circulant loss near its target.  In: the FFT value of the loss, the filter, inputs and
targets.  Out: the rows below ``NEAR_FIT`` recomputed with dense products in double-double
(``refine_circulant_loss``).

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import numpy

from .doubledouble import _dd_div, _two_prod, _two_sum


# --- the circulant loss near its target, in double-double (dense products, few rows) --------

#: a row is refined when its loss is below NEAR_FIT times the squared target (|f - y| < 1e-4 |y|;
#: above it the FFT value's relative error, ~1e-16 |y|^2 / L, is below ~1e-11)
NEAR_FIT = 1e-8
#: largest d n^2 (entries of the dense circulant products) refined per row (about 0.2 us per
#: entry: n = 1024 at d = 4 takes ~0.8 s a row); beyond it the FFT value stands (docs/guide.md)
DENSE_BUDGET = 2**22


def _dd_tree_sum(hi, lo):
    """Sum over the last axis of double-doubles ``hi + lo`` by a pairwise two-sum tree."""
    while hi.shape[-1] > 1:
        if hi.shape[-1] % 2:
            pad = [(0, 0)] * (hi.ndim - 1) + [(0, 1)]
            hi, lo = numpy.pad(hi, pad), numpy.pad(lo, pad)
        s, e = _two_sum(hi[..., ::2], hi[..., 1::2])
        lo = lo[..., ::2] + lo[..., 1::2] + e
        hi = s
    return _two_sum(hi[..., 0], lo[..., 0])


def _dd_circulant(w, zh, zl):
    """``C(w) z`` for one filter ``w`` (length n) and a double-double ``z``: the dense product,
    each term split exactly (Dekker), summed by :func:`_dd_tree_sum` in blocks of rows."""
    n = w.shape[-1]
    out_h, out_l = numpy.empty(n), numpy.empty(n)
    step = max(1, 2**18 // n)
    for i in range(0, n, step):
        rows = numpy.arange(i, min(n, i + step))
        cw = w[(rows[:, None] - numpy.arange(n)[None, :]) % n]
        p, e = _two_prod(cw, zh[None, :])
        e = e + cw * zl[None, :]
        out_h[rows], out_l[rows] = _dd_tree_sum(p, e)
    return out_h, out_l


def _dd_output(w, xh, xl):
    """``W_d ... W_1 x`` (rows of ``w``: the filters) in double-double."""
    zh, zl = xh, xl
    for k in range(w.shape[0]):
        zh, zl = _dd_circulant(w[k], zh, zl)
    return zh, zl


def refine_circulant_loss(L, w, x, y, half, normalized=None):
    """:func:`circulant` losses ``half |f - y|^2`` on the rows where the network nearly fits the
    target (``L < NEAR_FIT half |y|^2``), again with ``f`` from the dense circulant products in
    double-double: the FFT's rounding (~1e-16 |f|) then no longer limits the residual.
    ``normalized``: ``w_out`` for the channel-normalized output ``w_out z/|z|`` of the centered
    ``x`` (centering, norm and quotient in double-double too).  Rows with ``d n^2`` beyond
    :data:`DENSE_BUDGET` keep the FFT value.  The threshold :data:`NEAR_FIT` and the budget
    bound the cost: only fits closer than 1e-4 |y| pay the O(d n^2) products."""
    n, d = w.shape[-1], w.shape[-2]
    if d * n * n > DENSE_BUDGET:
        return L
    shape = numpy.shape(L)
    yy = numpy.einsum("...i,...i->...", y, y)
    with numpy.errstate(invalid="ignore"):
        near = numpy.broadcast_to(numpy.asarray(L) < NEAR_FIT * half * yy, shape)
    if not near.any():
        return L
    out = numpy.array(numpy.broadcast_to(L, shape), dtype=numpy.float64)
    ws = numpy.broadcast_to(w, shape + (d, n)).reshape(-1, d, n)
    xs = numpy.broadcast_to(x, shape + (n,)).reshape(-1, n)
    ys = numpy.broadcast_to(y, shape + (n,)).reshape(-1, n)
    wo = None if normalized is None else numpy.broadcast_to(normalized, shape).reshape(-1)
    with numpy.errstate(over="ignore", invalid="ignore"):
        for r in numpy.flatnonzero(near.reshape(-1)):
            xh, xl = xs[r], numpy.zeros(n)
            if wo is not None:  # x - mean(x) in double-double
                sh, sl = _dd_tree_sum(xs[r][None, :], numpy.zeros((1, n)))
                mh, ml = _dd_div(sh, sl, numpy.array([float(n)]), numpy.zeros(1))
                xh, xl = _two_sum(xs[r], -mh[0])
                xl = xl - ml[0]
            fh, fl = _dd_output(ws[r], xh, xl)
            if wo is not None:  # w_out z/|z|
                ph, pl = _two_prod(fh, fh)
                qh, ql = _dd_tree_sum(ph[None, :], (pl + 2 * fh * fl)[None, :])
                nh, nl = _dd_norm_from_square(qh, ql)
                ch, cl = _dd_div(numpy.array([float(wo[r])]), numpy.zeros(1), nh, nl)
                gh, gl = _two_prod(fh, ch[0])
                fh, fl = _two_sum(gh, gl + fh * cl[0] + fl * ch[0])
            res = (fh - ys[r]) + fl
            val = half * float(numpy.dot(res, res))
            if numpy.isfinite(val):
                out.reshape(-1)[r] = val
    return out if shape else float(out)


def _dd_norm_from_square(sh, sl):
    """``sqrt(sh + sl)`` as a double-double."""
    h = numpy.sqrt(sh)
    ph, pl = _two_prod(h, h)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        corr = numpy.where(h > 0, ((sh - ph) - pl + sl) / (2.0 * h), 0.0)
    return _two_sum(h, corr)
