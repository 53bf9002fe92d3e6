"""Differences ``a x - b y`` formed without cancellation.  In: two vector arguments and their
scales.  Out: the squared norm, sum (and the vector, the inner product) of the difference
(``difference``, refined in double-double on near-cancelling rows), ``sqnorm_difference``,
``cosine_or_zero``, ``product_minus``.

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import numpy

from .limits import SAFE_HI
from .xf import _note_extreme, _pow2_scale, _scaled, XF, _ZERO_E
from .checks import _check_finite
from .rows import _column_sums, dot, _in_range, _release, _scratch, _short_rows
from .assembly import col
from .doubledouble import _dd_dot, _two_prod, _two_sum


def difference(x, y, a=1.0, b=1.0, names=("x", "y"), vector=False, with_dot=False, scales=None):
    """``(|a x - b y|^2, 1.(a x - b y))`` over the last axis, for per-row scalars ``a``, ``b``
    (norms: floats, arrays of the batch shape, or :class:`XF`); with ``vector`` also
    ``a x - b y`` itself (float64).

    The emitter completes the square ``a^2|x|^2 - 2ab x.y + b^2|y|^2`` of a derived formula
    into this (``|a - |w*| a*|^2`` in the CNN loss, ``a - |w*| a*`` in its gradient): computed
    from the difference itself it keeps full relative accuracy where ``a x`` and ``b y`` nearly
    cancel (a student at its teacher), where the three invariants lose it all.  Also the NaN/inf
    test of ``x`` and ``y`` (``names``): a non-finite entry makes the square NaN or inf.  Rows
    beyond ``SAFE_HI^2``, or whose difference is so small that its square underflows, are done
    in extended range (the square and sum are then XF; the vector is then computed directly, so
    it may overflow: the result built from it is then tested).  ``with_dot``: also ``x.y``,
    formed in the same pass over the blocks of rows (as :func:`dot` without norms: its own range
    check, an XF beyond it).  ``scales``: ``(u, v)``, the vectors whose norms ``a`` and ``b`` are
    (``None`` for an exact scale such as 1.0): the rows where ``a x`` and ``b y`` agree to 1e-3
    are then formed again with the norms and products in double-double
    (:func:`_refine_difference`), so the rounding of ``|w*|`` and of ``|w*| a*`` does not limit
    the difference (relative error ~1e-16 instead of ~1e-16 |b y| / |a x - b y|)."""
    sq, tot, d, xy = _difference(x, y, a, b, names, vector, with_dot)
    if scales is not None and not isinstance(sq, XF):
        sq, tot, d = _refine_difference(x, y, a, b, scales, sq, tot, d, xy, vector)
    out = (sq, tot)
    if vector:
        if d is None:
            with numpy.errstate(over="ignore", invalid="ignore"):
                d = col(_plain(a)) * x - col(_plain(b)) * y
        out += (d,)
    if with_dot:
        if xy is None or isinstance(sq, XF):  # one point, or extended range: the plain product
            xy = dot(x, y, None, None, names)
        elif not _in_range(xy):  # (x and y are finite: tested by the square above)
            with numpy.errstate(invalid="ignore"):
                _note_extreme(~(numpy.abs(xy) <= SAFE_HI**2))
            xy = dot(x, y, XF(1.0), XF(1.0))
        out += (xy,)
    return out


def _plain(v):
    return v.value() if isinstance(v, XF) else v


def _difference(x, y, a, b, names, keep, with_dot=False):
    """``(sq, tot, d or None, x.y or None)``: the float path where it is exact, else XF."""
    if isinstance(a, XF) or isinstance(b, XF):
        return _difference_scaled(x, y, a, b, names) + (None, None)
    if x.ndim == 1 and y.ndim == 1 and numpy.ndim(a) == 0 and numpy.ndim(b) == 0:
        with numpy.errstate(over="ignore", invalid="ignore"):
            d = float(a) * x - float(b) * y
            sq, tot = sum((d * d).tolist()), sum(d.tolist())
        if not sq <= SAFE_HI**2:
            _check_finite(names[0], x)
            _check_finite(names[1], y)
            _note_extreme(True)
            return _difference_scaled(x, y, a, b, names) + (None, None)
        if 0.0 < sq < 1e-290 or (sq == 0.0 and d.any()):
            _note_extreme(True)
            return _difference_scaled(x, y, a, b, names) + (None, None)
        return sq, tot, d, None
    with numpy.errstate(over="ignore", invalid="ignore", under="ignore"):
        sq, tot, d, xy = _difference_rows(x, y, a, b, keep, with_dot)
    if not (sq.size == 0 or sq.max() <= SAFE_HI**2):  # NaN fails too
        _check_finite(names[0], x)
        _check_finite(names[1], y)
        _note_extreme(~(sq <= SAFE_HI**2))
        return _difference_scaled(x, y, a, b, names) + (None, None)
    if sq.size and sq.min() < 1e-290:  # exact zeros are fine; a square that underflowed is not
        few = numpy.flatnonzero(sq.reshape(-1) < 1e-290)
        shape = sq.shape
        xa, ya = (numpy.broadcast_to(v, shape + v.shape[-1:]).reshape(-1, v.shape[-1])[few]
                  for v in (x, y))
        aa, bb = (numpy.broadcast_to(numpy.asarray(v, dtype=numpy.float64), shape).reshape(-1)[few]
                  for v in (a, b))
        lost = (aa[:, None] * xa - bb[:, None] * ya).any(axis=-1)
        if lost.any():
            rows = numpy.zeros(sq.size, dtype=bool)
            rows[few[lost]] = True
            _note_extreme(rows.reshape(shape))
            return _difference_scaled(x, y, a, b, names) + (None, None)
    return sq, tot, d, xy


def _difference_rows(x, y, a, b, keep=False, with_dot=False):
    """Float64 ``|a x - b y|^2``, ``1.(a x - b y)`` and (``keep``) ``a x - b y``: short rows of
    one shape by blocks of rows (the difference is formed block by block, in a reused buffer
    unless it is kept), else by broadcasting."""
    p = x.shape[-1]
    batch = x.shape[:-1]
    scalars = all(numpy.ndim(v) == 0 or numpy.shape(v) == batch for v in (a, b))
    if not (scalars and _short_rows(x, y)):
        d = col(a) * x - col(b) * y
        xy = numpy.einsum("...i,...i->...", x, y) if with_dot else None
        return numpy.einsum("...i,...i->...", d, d), d.sum(axis=-1), d, xy
    xs, ys = x.reshape(-1, p), y.reshape(-1, p)
    n = xs.shape[0]
    a1 = float(a) if numpy.ndim(a) == 0 else numpy.asarray(a, dtype=numpy.float64).reshape(-1)
    b1 = float(b) if numpy.ndim(b) == 0 else numpy.asarray(b, dtype=numpy.float64).reshape(-1)
    unit = isinstance(a1, float) and a1 == 1.0
    # a x - b y = a (x - (b/a) y): one scale per row (the ratio formed block by block in the
    # array of the sums, before they are written); the square and sum are scaled back at the end
    # unless the vector itself is kept (then a x and b y are formed apart, exactly as written)
    split = not unit and not keep
    sq, tot = numpy.empty(n), numpy.empty(n)
    xy = numpy.empty(n) if with_dot else None
    whole = numpy.empty((n, p)) if keep else None
    rows = 2**16 // p
    scratch = _scratch()  # two buffers of rows x p (2^17 entries in all)
    buf, buf2 = scratch[: rows * p].reshape(rows, p), scratch[2**16 : 2**16 + rows * p].reshape(rows, p)

    def scale(u, c, out):  # out = c u; a per-row c column by column (a (rows, 1) * (rows, p)
        if isinstance(c, float):  # broadcast has an inner loop of length p)
            numpy.multiply(u, c, out=out)
            return
        for k in range(p):
            numpy.multiply(u[:, k], c, out=out[:, k])

    for i in range(0, n, rows):
        j = min(n, i + rows)
        d = whole[i:j] if keep else buf[: j - i]
        bs = b1 if isinstance(b1, float) else b1[i:j]
        if split:
            bs = numpy.divide(bs, a1 if isinstance(a1, float) else a1[i:j],
                              out=None if isinstance(bs, float) and isinstance(a1, float) else tot[i:j])
            bs = float(bs) if numpy.ndim(bs) == 0 else bs
        scale(ys[i:j], bs, d)
        if unit or split:
            numpy.subtract(xs[i:j], d, out=d)
        else:
            ax = buf2[: j - i]
            scale(xs[i:j], a1 if isinstance(a1, float) else a1[i:j], ax)
            numpy.subtract(ax, d, out=d)
        _column_sums(d, tot[i:j])
        sqr = buf2[: j - i]
        numpy.multiply(d, d, out=sqr)
        _column_sums(sqr, sq[i:j])
        if with_dot:  # x.y while the rows of x and y are in cache
            numpy.multiply(xs[i:j], ys[i:j], out=sqr)
            _column_sums(sqr, xy[i:j])
    if split:
        sq *= a1
        sq *= a1
        tot *= a1
    _release(scratch)
    return (sq.reshape(batch), tot.reshape(batch), None if whole is None else whole.reshape(x.shape),
            None if xy is None else xy.reshape(batch))


def _difference_scaled(x, y, a, b, names):
    """:func:`difference` in extended range: ``a x`` and ``b y`` brought to a common power of two
    per row, subtracted in float64, squared and summed as XF (exact scale, same rounding)."""
    a, b = XF.of(a), XF.of(b)
    kx, ky = _pow2_scale(x), _pow2_scale(y)
    ea = numpy.where(a.m == 0, _ZERO_E, a.e + kx)
    eb = numpy.where(b.m == 0, _ZERO_E, b.e + ky)
    e = numpy.maximum(ea, eb)
    with numpy.errstate(under="ignore"):
        u = numpy.ldexp(numpy.asarray(a.m)[..., None] * _scaled(x, kx),
                        numpy.maximum(ea - e, -2200)[..., None])
        v = numpy.ldexp(numpy.asarray(b.m)[..., None] * _scaled(y, ky),
                        numpy.maximum(eb - e, -2200)[..., None])
        d = u - v
    e = numpy.where(e == _ZERO_E, 0, e)
    names = frozenset(names)
    return (XF(numpy.einsum("...i,...i->...", d, d), 2 * e, names),
            XF(d.sum(axis=-1), e, names))


#: rows with |a x - b y|^2 < NEAR_DIFF |a b x.y| (a x and b y agreeing to ~1e-3) are refined
NEAR_DIFF = 1e-6


def _dd_norm(u):
    """``|u|`` over the last axis as a double-double ``(hi, lo)`` (rows of a 2-D array)."""
    sh, sl = _dd_dot(u, u)
    h = numpy.sqrt(sh)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        ph, pl = _two_prod(h, h)
        corr = numpy.where(h > 0, ((sh - ph) - pl + sl) / (2.0 * h), 0.0)
    return _two_sum(h, corr)


def _refine_difference(x, y, a, b, scales, sq, tot, d, xy, vector):
    """:func:`difference` on the rows where ``a x`` and ``b y`` nearly cancel, again: the scales
    that are norms (``scales = (u, v)``, ``None`` for an exact scale) in double-double, the
    products ``a x_i``, ``b y_i`` split exactly (Dekker), so ``a x - b y`` is accurate to
    rounding of itself.  Returns ``(sq, tot, d)`` with those rows replaced (fresh arrays)."""
    p = x.shape[-1]
    shape = numpy.shape(sq)

    def top(v):  # max |v| by two reductions (no temporaries)
        v = numpy.asarray(_plain(v))
        return max(float(v.max()), -float(v.min())) if v.size else 0.0

    # candidates by one comparison with a scalar: |a b x.y| <= max|a| max|b| max|x.y| (x.y from
    # the same pass when given, else bounded by p max|x_i| max|y_i|)
    with numpy.errstate(over="ignore", invalid="ignore"):
        cap = NEAR_DIFF * top(a) * top(b) * (top(xy) if xy is not None and not isinstance(xy, XF)
                                             else p * top(x) * top(y))
        if not numpy.asarray(sq).min(initial=numpy.inf) < cap:
            return sq, tot, d
        idx = numpy.flatnonzero(numpy.broadcast_to(numpy.asarray(sq) < cap, shape))
    rows = lambda v: numpy.broadcast_to(v, shape + (p,)).reshape(-1, p)[idx]  # noqa: E731
    scal = lambda v: numpy.broadcast_to(numpy.asarray(_plain(v), dtype=numpy.float64), shape).reshape(-1)[idx]  # noqa: E731
    xr, yr = rows(x), rows(y)
    with numpy.errstate(over="ignore", invalid="ignore"):  # the exact test on the candidates
        keep = (numpy.broadcast_to(numpy.asarray(sq), shape).reshape(-1)[idx]
                < NEAR_DIFF * numpy.abs(scal(a) * scal(b) * numpy.einsum("ij,ij->i", xr, yr)))
    if not keep.any():
        return sq, tot, d
    idx, xr, yr = idx[keep], xr[keep], yr[keep]
    parts = []
    for scale, vec in ((a, scales[0]), (b, scales[1])):
        if vec is None:
            hi = scal(scale)
            parts.append((hi, numpy.zeros_like(hi)))
        else:
            vr = numpy.broadcast_to(vec, shape + (vec.shape[-1],)).reshape(-1, vec.shape[-1])[idx]
            parts.append(_dd_norm(vr))
    (ah, al), (bh, bl) = parts
    with numpy.errstate(over="ignore", invalid="ignore"):
        p1, e1 = _two_prod(ah[:, None], xr)
        p2, e2 = _two_prod(bh[:, None], yr)
        dr = (p1 - p2) + ((e1 - e2) + (al[:, None] * xr - bl[:, None] * yr))
        sqr, totr = numpy.einsum("ij,ij->i", dr, dr), dr.sum(axis=-1)
    ok = numpy.isfinite(sqr) & numpy.isfinite(totr)
    if not ok.all():  # extreme rows keep the float path (its own range handling)
        idx, dr, sqr, totr = idx[ok], dr[ok], sqr[ok], totr[ok]
    sq = numpy.array(numpy.broadcast_to(sq, shape), dtype=numpy.float64)
    tot = numpy.array(numpy.broadcast_to(tot, shape), dtype=numpy.float64)
    sq.reshape(-1)[idx] = sqr
    tot.reshape(-1)[idx] = totr
    if vector:
        if d is None:
            with numpy.errstate(over="ignore", invalid="ignore"):
                d = col(_plain(a)) * x - col(_plain(b)) * y
        d = numpy.array(numpy.broadcast_to(d, shape + (p,)), dtype=numpy.float64)
        d.reshape(-1, p)[idx] = dr
    if shape == ():
        return float(sq), float(tot), d
    return sq, tot, d


def cosine_or_zero(dot_xy, norm_xy):
    """``x.y / (|x||y|)``, and 0 where ``|x||y| = 0`` (a zero gradient: its rejection is 0)."""
    with numpy.errstate(invalid="ignore", divide="ignore"):
        if isinstance(dot_xy, XF) or isinstance(norm_xy, XF):
            c = numpy.asarray((dot_xy / norm_xy).value())
            zero = numpy.asarray(XF.of(norm_xy).m) == 0
        else:
            c = numpy.true_divide(dot_xy, norm_xy)
            zero = numpy.asarray(norm_xy) == 0
    if numpy.any(zero):
        c = numpy.where(zero, 0.0, c)
    return float(c) if numpy.ndim(c) == 0 else c


def product_minus(a, b, c):
    """``a b - c`` with the product split exactly (Dekker): accurate to rounding of the result
    where ``a b`` and ``c`` nearly cancel."""
    with numpy.errstate(over="ignore", invalid="ignore"):
        p, e = _two_prod(numpy.asarray(a, dtype=numpy.float64), numpy.asarray(b, dtype=numpy.float64))
        out = (p - c) + e
        out = numpy.where(numpy.isfinite(out), out, numpy.asarray(a) * b - c)  # huge: plain form
    return float(out) if numpy.ndim(out) == 0 else out


def sqnorm_difference(x, y, names=("x", "y")):
    """``|x|^2 - |y|^2`` over the last axis, the two sums of squares accumulated in double-double
    (:func:`_dd_dot`, scaled by a common power of two per call), so the difference is accurate to
    rounding of itself where the two norms nearly agree.  NaN/inf in ``x`` or ``y`` raise
    ``ValueError`` naming the argument; a result beyond float64 raises too."""
    with numpy.errstate(over="ignore", invalid="ignore", under="ignore"):
        k = numpy.zeros((), numpy.int64)
        for v in (x, y):
            if v.size and v.shape[-1]:
                k = numpy.maximum(k, _pow2_scale(v))
        xs, ys = _scaled(x, k), _scaled(y, k)
        ah, al = _dd_dot(xs, xs) if xs.shape[-1] else (numpy.zeros(xs.shape[:-1]),) * 2
        bh, bl = _dd_dot(ys, ys) if ys.shape[-1] else (numpy.zeros(ys.shape[:-1]),) * 2
        h, e = _two_sum(ah, -bh)
        out = h + (e + (al - bl))
    if not numpy.all(numpy.isfinite(out)):
        _check_finite(names[0], x)
        _check_finite(names[1], y)
    with numpy.errstate(over="ignore"):
        out = numpy.ldexp(out, 2 * k)
    if not numpy.all(numpy.isfinite(out)):
        raise ValueError(f"|{names[0]}|^2 - |{names[1]}|^2 overflows float64")
    return float(out) if numpy.ndim(out) == 0 else out
