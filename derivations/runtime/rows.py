"""Row products: inner products, norms and sums over the last axis.  In: checked vector
arguments.  Out: ``dot``, ``rowdot``, ``norm``, ``norms_and_dot``, ``sqnorm``, ``total``,
``check_nonzero`` per row (ddot/dgemv chunked so small work never wakes OpenBLAS's threads; an
:class:`~.xf.XF` where a norm leaves the safe range).

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import math

import numpy

from .limits import SAFE_HI, _SAFE_HI, SAFE_LO, _SAFE_LO
from .xf import _note_extreme, _pow2_scale, _scaled, XF
from .checks import _check_finite, _nonzero_error


def dot(x, y, norm_x=None, norm_y=None, names=None):
    """``x.y`` over the last axis (``matmul`` when one side is a single vector, else einsum);
    extended range (XF) when either norm is an XF.

    When a norm is not given (not computed), the inner product checks its own range, and with
    ``names=(name_x, name_y)`` it also stands for the finiteness test of the arguments whose norm
    is missing: a NaN/inf entry makes its row's inner product NaN or inf (NaN and inf propagate
    through products and sums; inf * 0 and inf - inf are NaN), so the full entry-by-entry scan,
    which names the argument, runs only when the range check fails."""
    if isinstance(norm_x, XF) or isinstance(norm_y, XF):
        kx, ky = _pow2_scale(x), _pow2_scale(y)
        d = numpy.einsum("...i,...i->...", _scaled(x, kx), _scaled(y, ky))
        names_ = (getattr(norm_x, "names", frozenset()) | getattr(norm_y, "names", frozenset()))
        return XF(d, kx + ky, names_)
    if x.ndim == 1 and y.ndim == 1:
        d = _vecdot(x, y)
    elif y.ndim == 1:
        d = _matvec(x, y)
    elif x.ndim == 1:
        d = _matvec(y, x)
    else:
        d = rowdot(x, y)
    if (norm_x is None or norm_y is None) and not _in_range(d):  # a norm not computed: own check
        if names is not None:
            for name, arr, n in ((names[0], x, norm_x), (names[1], y, norm_y)):
                if n is None:
                    _check_finite(name, arr)
        with numpy.errstate(invalid="ignore"):
            _note_extreme(~(numpy.abs(d) <= SAFE_HI**2))
        return dot(x, y, XF(1.0), XF(1.0))
    return d


# Input checks and invariants must never wake OpenBLAS's thread pool for small work: on a busy
# machine a threaded call waits milliseconds for its second thread (issue 23).  Measured with
# numpy 2.4's OpenBLAS 0.3.31 (CPU time of the pool's threads over 1000-5000 calls,
# tests/test_threads.py): ddot is threaded above 10000 entries, dgemv (rows @ vector) stays
# single-threaded up to at least 400000 entries and is threaded at 2^19.
_BLAS_CHUNK = 2**18  # entries per matrix-vector call (dgemv: single-threaded below ~2^19)
_DOT_CHUNK = 8192  # entries per ddot call (single-threaded up to 10000 entries)


def _vecdot(x, y):
    """``x.y`` of two 1-D vectors: one ddot below OpenBLAS's threading threshold, else ddot
    over blocks of ``_DOT_CHUNK`` entries (each single-threaded), summed in order."""
    n = x.shape[0]
    if n <= _DOT_CHUNK:
        return float(x @ y)
    return math.fsum(float(x[i:i + _DOT_CHUNK] @ y[i:i + _DOT_CHUNK]) for i in range(0, n, _DOT_CHUNK))


def _matvec(x, v):
    """``x @ v`` for a batch of rows ``x`` (..., p) and one vector ``v`` (p,): BLAS
    matrix-vector products (much faster than a reduction over a short last axis), in blocks of
    at most 2^18 entries, below OpenBLAS's threading threshold (on a loaded machine a threaded
    call of a few MB can wait milliseconds for its second thread)."""
    with numpy.errstate(over="ignore", invalid="ignore"):  # NaN/inf are tested on the result
        if x.size <= _BLAS_CHUNK:
            return x @ v
        p = x.shape[-1]
        rows = x.reshape(-1, p)
        out = numpy.empty(rows.shape[0])
        step = max(1, _BLAS_CHUNK // p)
        for i in range(0, rows.shape[0], step):
            numpy.matmul(rows[i:i + step], v, out=out[i:i + step])
    return out.reshape(x.shape[:-1])


_SHORT = 7  # rows up to this length: inner products by blocks of products and column sums
_SCRATCH: list = []  # reusable 1 MB block buffers (list.pop/append: safe across threads)


def _scratch():
    try:
        return _SCRATCH.pop()
    except IndexError:
        return numpy.empty(2**17)


def _release(buf):
    if len(_SCRATCH) < 8:
        _SCRATCH.append(buf)


def _column_sums(b, out):
    """``out = b[:, 0] + b[:, 1] + ...`` in column order (bit-identical to ``b.sum(axis=-1)`` for
    short rows), through strided column views: no reduction over a short last axis."""
    numpy.add(b[:, 0], b[:, 1], out=out)
    for k in range(2, b.shape[1]):
        out += b[:, k]
    return out


def rowdot(x, y):
    """``x.y`` over the last axis of two batches of the same shape.  Short rows (length <= 7,
    e.g. the filters and second layers of the CNN family): the products of a block of rows
    (one 512 KB buffer), then their columns added in order, which is bit-identical to
    ``numpy.sum(x * y, axis=-1)`` and about 1.5x as fast as ``einsum`` (whose per-row overhead
    dominates for short rows).  Longer rows, or operands that broadcast: ``einsum``."""
    if not _short_rows(x, y):
        return numpy.einsum("...i,...i->...", x, y)
    return _row_products(x, y, ((0, 1),))[0]


def _short_rows(x, y):
    """Whether ``x`` and ``y`` are batches of one shape of short contiguous rows (the case of the
    blocked products of :func:`_row_products`)."""
    p = x.shape[-1]
    return not (p > _SHORT or p < 2 or x.ndim < 2 or x.shape != y.shape or not x.flags.c_contiguous
                or not y.flags.c_contiguous or x.size <= 4 * p)


def _row_products(x, y, pairs):
    """The row inner products ``(x, y)[a] . (x, y)[b]`` for each ``(a, b)`` in ``pairs``, in one pass
    over blocks of rows (one 512 KB buffer; each block of ``x`` and ``y`` read while in cache):
    products, then their columns added in order (bit-identical to ``numpy.sum(u * v, axis=-1)``).
    NaN/inf propagate (tested on the results by the callers)."""
    p = x.shape[-1]
    xs, ys = x.reshape(-1, p), y.reshape(-1, p)
    n = xs.shape[0]
    outs = [numpy.empty(n) for _ in pairs]
    rows = 2**16 // p
    scratch = _scratch()
    buf = scratch[: rows * p].reshape(rows, p)
    with numpy.errstate(over="ignore", invalid="ignore"):
        for i in range(0, n, rows):
            j = min(n, i + rows)
            b, both = buf[: j - i], (xs[i:j], ys[i:j])
            for (ka, kb), out in zip(pairs, outs):
                numpy.multiply(both[ka], both[kb], out=b)
                _column_sums(b, out[i:j])
    _release(scratch)
    return [o.reshape(x.shape[:-1]) for o in outs]


def _in_range(d, hi=SAFE_HI**2):
    """Whether an inner product (|d| <= SAFE_HI^2) or a sum (|d| <= SAFE_HI, like a norm) stays
    where products of a few of them cannot overflow; two reductions, no temporaries.  (The
    emitter's static finiteness proofs rely on these bounds.)"""
    if isinstance(d, float):
        return abs(d) <= hi
    return d.size == 0 or (d.max() <= hi and d.min() >= -hi)


def norm(x, name=None, nonzero=False):
    """``|x|_2``.  With ``name``: also the NaN/inf test of ``x`` (a non-finite row shows in its
    sum of squares), and rows outside ``[SAFE_LO, SAFE_HI]`` make the result an :class:`XF`
    (extended range: no overflow, no underflow, no silent loss).  Without ``name`` (old
    interface): a float array, rows out of range recomputed as ``m |x/m|``."""
    if x.ndim == 1:  # one vector: math.hypot neither underflows nor overflows
        n = math.hypot(*x.tolist())
        if name is None or SAFE_LO <= n <= SAFE_HI:
            return n
        _check_finite(name, x)
        if nonzero and n == 0:
            _nonzero_error(name)
        _note_extreme(True)
        k = _pow2_scale(x)
        return XF(math.hypot(*_scaled(x, k).tolist()), k, {name})
    s = rowdot(x, x)
    if name is not None:
        lo, hi = s.min(initial=numpy.inf), s.max(initial=0.0)
        if SAFE_LO**2 <= lo and hi <= SAFE_HI**2:  # (so no row is zero: nonzero holds)
            return numpy.sqrt(s, out=s) if s.ndim else numpy.sqrt(s)
        _check_finite(name, x)
        _note_extreme(~((s >= SAFE_LO**2) & (s <= SAFE_HI**2)))
        k = _pow2_scale(x)
        xs = _scaled(x, k)
        n = numpy.sqrt(numpy.einsum("...i,...i->...", xs, xs))  # >= 0.5 unless the row is 0
        if nonzero and not n.min(initial=1.0) > 0:
            _nonzero_error(name)
        return XF(n, k, {name})
    bad = ~((s > _SAFE_LO) & (s < _SAFE_HI))
    if not numpy.any(bad):
        return numpy.sqrt(s)
    m = numpy.max(numpy.abs(x), axis=-1)
    safe = numpy.where(m > 0, m, 1.0)[..., None]
    return numpy.where(bad, m * numpy.sqrt(dot(x / safe, x / safe)), numpy.sqrt(s))


def norms_and_dot(x, y, names, nonzero=(False, False)):
    """``(|x|, |y|, x.y)``, exactly as :func:`norm` (with its checks, named by ``names``) and
    :func:`dot` give them, in one pass when ``x`` and ``y`` are batches of short rows of one shape:
    each block of rows is read once for its three products, instead of once per product (the
    CNN loss at N = 1e5: 2-4% faster).  Rows out of range, NaN/inf or other shapes: the calls
    themselves."""
    if _short_rows(x, y):
        sx, sy, sxy = _row_products(x, y, ((0, 0), (1, 1), (0, 1)))
        if all(SAFE_LO**2 <= s.min() and s.max() <= SAFE_HI**2 for s in (sx, sy)):  # (NaN fails)
            return numpy.sqrt(sx, out=sx), numpy.sqrt(sy, out=sy), sxy
    nx, ny = norm(x, names[0], nonzero[0]), norm(y, names[1], nonzero[1])
    return nx, ny, dot(x, y, nx, ny)


def sqnorm(x, name, nonzero=False):
    """``|x|^2`` (``x.x``), with the checks of :func:`norm` (an XF for extreme rows)."""
    if x.ndim == 1:
        n = norm(x, name, nonzero)
        return n * n
    s = rowdot(x, x)
    lo, hi = s.min(initial=numpy.inf), s.max(initial=0.0)
    if SAFE_LO**2 <= lo and hi <= SAFE_HI**2:
        return s
    n = norm(x, name, nonzero)
    return n * n


def total(x, norm_x=None, name=None):
    """``1.x``, the sum of the coordinates (an XF when ``norm_x`` is one).  Without a norm it
    checks its own range and, with ``name``, stands for the finiteness test of ``x`` (a NaN/inf
    entry makes its row sum NaN or inf; the full scan naming ``x`` runs only then)."""
    if isinstance(norm_x, XF):
        k = _pow2_scale(x)
        return XF(numpy.sum(_scaled(x, k), axis=-1), k, norm_x.names)
    # x @ ones (BLAS matrix-vector product) is ~10x faster than numpy.sum over a short last axis
    t = float(x.sum()) if x.ndim == 1 else _matvec(x, numpy.ones(x.shape[-1]))
    if norm_x is None and not _in_range(t, SAFE_HI):
        if name is not None:
            _check_finite(name, x)
        with numpy.errstate(invalid="ignore"):
            _note_extreme(~(numpy.abs(t) <= SAFE_HI))
        return total(x, XF(1.0))
    return t


def check_nonzero(x, name):
    """Validate ``x`` (finite entries, no zero vector) where its norm is not needed.  The row sums
    (one BLAS pass) are finite iff the entries are (a non-finite entry makes its row sum NaN or
    inf; a sum that overflows only sends us to the full scan), and a row with a nonzero sum is
    nonzero; only the rows summing to exactly 0 are looked at entry by entry."""
    s = numpy.asarray(x.sum() if x.ndim == 1 else _matvec(x, numpy.ones(x.shape[-1])))
    if not numpy.isfinite(s.max(initial=0.0) - s.min(initial=0.0)):
        _check_finite(name, x)
    zero = s == 0
    if zero.any():
        rows = x.reshape(-1, x.shape[-1])[zero.reshape(-1)]
        if not rows.any(axis=-1).all():
            _nonzero_error(name)
