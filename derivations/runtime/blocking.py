"""Large batches.  In: a batch shape and an emitted core function.  Out: the number of rows
per block (``blocks``; ``BLOCK_ROWS``), the core evaluated block by block (``by_blocks``), with
its rows beyond the float range apart from the others (``by_rows``), and the final result
checked and broadcast (``finish``).

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import math

import numpy

from .xf import _open_extreme, XF
from .checks import _shape
from .assembly import _bounded, buffers, _failure


BLOCK_ROWS = 32768  # rows per block (fewer for long vectors: see blocks())
_BLOCK_ENTRIES = 2**19  # at most this many entries of the longest vector argument per block


def blocks(shape, busy=False):
    """Rows per block when the batch is large enough to be evaluated block by block, else 0.

    Every emitted function is row-wise (each batch row is its own point), so a large batch can
    be cut into blocks of rows.  Then every temporary is a few hundred KB, reused from the heap
    and still in cache for the next operation, where whole-batch temporaries are MBs of fresh
    pages for the allocator to map and fault in, and to stream from memory, on every call.
    Measured (N = 1e6, against hand-written NumPy): the CNN loss 0.84x -> 0.34x, its gradient in
    w 0.52x -> 0.37x, the fused loss and gradients 0.48x -> 0.36x.  Batches of fewer than four
    blocks gain nothing (their temporaries mostly stay in cache) and pay the per-block Python
    overhead, so they are evaluated at once.
    Only batches whose arguments are each either the whole batch or a single point are split
    (the split is then a view); others are evaluated at once.

    ``busy``: a body with many batch-sized temporaries (the emitter counts its operations; the
    CNN losses and their fused gradients): blocked from two blocks on, since there the
    allocator's share is large already at N = 1e5 (the CNN loss, against hand-written NumPy, in
    four blocks of 25000 rows: 1.02x -> 0.55x while the allocator faults fresh pages in,
    1.10x -> 1.03x when it does not; see docs/guide.md).  The rows are shared out evenly: a
    short last block would pay a whole block's fixed cost for a few rows."""
    n = math.prod(shape)
    if n < 2 * 1024:
        return 0
    width = max([arr.shape[-1] for _, arr, rank in shape.args if rank] + [1])
    least = 2 if busy else 4
    rows = min(BLOCK_ROWS, max(1024, _BLOCK_ENTRIES // width))
    if n < least * rows:
        return 0
    full = tuple(shape)
    for _, arr, rank in shape.args:
        own = arr.shape[: arr.ndim - rank]
        if own != full and math.prod(own) != 1:
            return 0
    return -(-n // -(-n // rows))  # blocks of equal size (no short last block), at most ``rows``


def by_blocks(fn, shape, args, out=None, busy=False):
    """``fn(block_shape, *args)`` (the core of an emitted function, on checked arguments; it
    returns one result or a tuple) evaluated on blocks of :func:`blocks` rows and assembled;
    ``out``: the fused functions' buffers (validated by the first block's :func:`finish`, then
    written block by block).  A block's shape keeps the named arguments of ``shape``, so an
    error raised in any block names the argument responsible."""
    rows = blocks(shape, busy)
    n = math.prod(shape)
    full = tuple(shape)
    parts = []
    for x in args:
        spec = next((s for s in shape.args if s[1] is x), None)
        if spec is None:  # an integer argument (a dimension): the same for every block
            parts.append((x, False))
            continue
        rank = spec[2]
        core = x.shape[x.ndim - rank :]
        own = x.shape[: x.ndim - rank]
        parts.append((x.reshape((n,) + core), True) if own == full else (x.reshape(core), False))
    ranks = _ranks(shape, args)
    results = None
    bshape = _shape((rows,), shape.args)
    for i in range(0, n, rows):
        j = min(n, i + rows)
        block = [x[i:j] if split else x for x, split in parts]
        if bshape[0] != j - i:  # the last block: up to one row per block shorter
            bshape = _shape((j - i,), shape.args)
        if results is None:  # first block: learn the result shapes, then allocate (or check out)
            r = by_rows(fn, bshape, block, ranks=ranks)
            tup = isinstance(r, tuple)
            rs = r if tup else (r,)
            bufs = (None,) * len(rs) if out is None else buffers(out, len(rs))
            results, views = [], []
            for k, x in enumerate(rs):
                target = full + numpy.shape(x)[1:]
                o = bufs[k]
                if o is None:
                    o = numpy.empty(target)
                else:
                    _check_out(o, target)
                flat = o.reshape((n,) + target[len(full):]) if o.flags.c_contiguous else \
                    numpy.empty((n,) + target[len(full):])
                flat[i:j] = x
                results.append(o)
                views.append(flat)
            continue
        if out is None:
            r = by_rows(fn, bshape, block, ranks=ranks)
            rs = r if tup else (r,)
            for flat, x in zip(views, rs):
                flat[i:j] = x
        else:
            by_rows(fn, bshape, block, tuple(flat[i:j] for flat in views), ranks=ranks)
    for o, flat in zip(results, views):  # a non-contiguous out buffer: filled once at the end
        if not numpy.shares_memory(flat, o):
            numpy.copyto(o, flat.reshape(o.shape))
    return tuple(results) if tup else results[0]


def by_rows(fn, shape, args, out=None, ranks=None):
    """``fn(shape, *args)`` (the core of an emitted function, on checked arguments; ``out``: the
    fused functions' buffers), with the rows beyond the float range evaluated apart from the
    others.

    A batch holding a row whose norm, inner product or sum leaves ``[SAFE_LO, SAFE_HI]`` is
    evaluated in extended range (:class:`XF`) as a whole, which skips the float path's
    refinements (the completed square's double-double, :func:`difference`; the near-parallel
    angle terms) on every row: a student at its teacher would lose all digits of its loss's
    gradient in ``a`` to one extreme row elsewhere in its batch.  The places where a batch goes
    to extended range note the rows that took it there (:func:`~.xf._note_extreme`); the other
    rows are then evaluated again, as a batch of their own (recursively: they may hold rows
    beyond the range in another way), and written over their extended-range results.  So each
    row gets what it gets alone, the common case pays one record per call, and a batch with
    extreme rows pays a second evaluation of its ordinary rows.  ``ranks``: the core rank of
    each argument (``None`` for an integer argument), else found in ``shape.args``."""
    if not shape:  # one point: nothing to set apart
        return fn(shape, *args) if out is None else fn(shape, *args, out=out)
    stack = _open_extreme()
    try:
        r = fn(shape, *args) if out is None else fn(shape, *args, out=out)
    finally:
        noted = stack.pop()
    if not noted:
        return r
    return _apart(fn, shape, args, out, ranks, r, noted)


def _ranks(shape, args):
    """The core rank of each of ``args`` as ``shape.args`` gives it (``None``: not an array
    argument, e.g. an integer dimension)."""
    return tuple(next((s[2] for s in shape.args if s[1] is x), None) for x in args)


def _apart(fn, shape, args, out, ranks, r, noted):
    """:func:`by_rows` after a first evaluation ``r`` that noted extreme rows: the other rows
    evaluated again and written into (a copy of) ``r``."""
    full = tuple(shape)
    bad = numpy.zeros(full, dtype=bool)
    for rows in noted:
        rows = numpy.asarray(rows, dtype=bool)
        if rows.ndim > len(full):  # rows of a matrix argument: its batch row is extreme if one is
            rows = rows.reshape(rows.shape[: len(full)] + (-1,)).any(axis=-1)
        try:
            bad |= rows
        except ValueError:  # not over the batch (a shared argument's rows): all rows alike
            return r
    if bad.all() or not bad.any():
        return r
    idx = numpy.flatnonzero(~bad.reshape(-1))
    ix = numpy.unravel_index(idx, full)
    ranks = _ranks(shape, args) if ranks is None else ranks
    sub = []
    for x, rank in zip(args, ranks):
        if rank is None:
            sub.append(x)
            continue
        own = x.shape[: x.ndim - rank]
        lead = (1,) * (len(full) - len(own)) + own
        xs = x.reshape(lead + x.shape[x.ndim - rank:])
        sub.append(xs[tuple(0 if d == 1 else i for i, d in zip(ix, lead))])
    try:
        s = by_rows(fn, _shape((idx.size,), shape.args), tuple(sub), ranks=ranks)
    except (ValueError, FloatingPointError):  # the float path fails where extended range did
        return r  # not: the whole batch in extended range, as before
    tup = isinstance(r, tuple)
    rs, ss = (r, s) if tup else ((r,), (s,))
    if out is None:  # (a copy: a result of the core may be one of its arguments)
        rs = tuple(numpy.array(o, dtype=numpy.float64) for o in rs)
    for o, v in zip(rs, ss):
        o[ix] = v
    return rs if tup else rs[0]


def _check_out(out, target):
    """An ``out=`` buffer must be a float64 array of exactly the result's shape."""
    if not isinstance(out, numpy.ndarray) or out.dtype != numpy.float64 or out.shape != target:
        raise ValueError(
            f"out must be a float64 array of shape {target}, got "
            f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
        )


def finish(result, shape, rank=0, out=None, checked=None):
    """Broadcast ``result`` to ``shape`` + its last ``rank`` axes (fresh float64; 0-d -> scalar).

    An :class:`XF` result is rounded to float64 here; a result beyond float64 raises a
    ``ValueError`` naming the argument(s) responsible.  The scan for NaN/inf is skipped when
    ``checked`` shows the result is finite (see :func:`_bounded`: vector and matrix results
    are then checked through their per-row coefficients, not entry by entry).  ``out``: write
    into this float64 array (of exactly the result's shape) and return it.
    """
    names = ()
    if isinstance(result, XF):  # extended range (rare): rounded, then tested entry by entry
        names = result.names
        result = result.value()
        if not numpy.all(numpy.isfinite(result)):
            raise _failure(shape, names)
        checked = True
    if not shape and not rank and out is None:
        value = numpy.float64(result)
        if not math.isfinite(value):
            raise _failure(shape, names)
        return value
    result = numpy.asarray(result, dtype=numpy.float64)
    if not (checked is not None and _bounded(checked)) and not numpy.isfinite(result.sum()) \
            and not numpy.all(numpy.isfinite(result)):
        raise _failure(shape, names)
    trailing = result.shape[result.ndim - rank :] if rank else ()
    target = tuple(shape) + tuple(trailing)
    if out is not None:
        _check_out(out, target)
        numpy.copyto(out, numpy.broadcast_to(result, target))
        return out
    if result.shape == target and result.base is None and result.flags.writeable:
        return result  # already a fresh array of the right shape
    res = numpy.array(numpy.broadcast_to(result, target))
    return res[()] if res.ndim == 0 else res
