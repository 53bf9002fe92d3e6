"""Assembly of a result.  In: coefficients and basis vectors/matrices.  Out: ``col``,
``col2``, ``combine`` (a sum of scaled vectors in one buffer), ``outer``, ``filled``,
``add_diagonal``, ``set_diagonal``, ``gamma``, ``buffers``; the overflow errors of a result.

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import math

import numpy

from .xf import XF
from .checks import InputError, _is_plain, Shape, _subclass_error
from .rows import _release, _scratch


def col(c):
    """A coefficient array with one trailing axis, to multiply a vector."""
    if isinstance(c, XF):
        return XF._raw(numpy.asarray(c.m)[..., None], numpy.asarray(c.e)[..., None], c.names)
    return numpy.asarray(c, dtype=numpy.float64)[..., None]


_BLOCK = 2**17  # entries per block when a scaled vector is added into a result (1 MB)


def _add_scaled(out, c, y):
    """``out += c[..., None] * y`` in blocks of rows, through one reused buffer: no full-size
    temporary (``out`` is a fresh C-contiguous result array)."""
    p = out.shape[-1]
    if (out.size <= _BLOCK or not out.flags.c_contiguous
            or (y.ndim > 1 and (y.shape != out.shape or not y.flags.c_contiguous))):
        out += col(c) * y
        return out
    o2 = out.reshape(-1, p)
    n = o2.shape[0]
    c1 = numpy.broadcast_to(numpy.asarray(c, dtype=numpy.float64), out.shape[:-1]).reshape(-1)
    y2 = y.reshape(-1, p) if y.ndim > 1 else None
    rows = max(1, _BLOCK // p)
    scratch = _scratch()
    buf = scratch[: rows * p].reshape(rows, p)
    for i in range(0, n, rows):
        j = min(n, i + rows)
        b = buf[: j - i]
        numpy.multiply(c1[i:j, None], y if y2 is None else y2[i:j], out=b)
        o2[i:j] += b
    _release(scratch)
    return out


def combine(*terms):
    """``sum_i c_i[..., None] * x_i`` over the pairs ``(c_i, x_i)`` of a vector-valued result
    (``x_i = None``: the all-ones vector, i.e. ``c_i`` added to every entry).  The first vector
    term makes the fresh result and the others are added into it in blocks of rows, so the sum
    allocates one full-size array instead of one per term: at batch sizes of 1e5 the page faults
    of fresh arrays cost about as much as the arithmetic."""
    if all(isinstance(c, float) and (x is None or x.ndim == 1) for c, x in terms):
        out = 0.0  # one point (float coefficients, single vectors): plain arithmetic
        for c, x in terms:
            out = out + (c if x is None else c * x)
        return out
    vec = [(c, x) for c, x in terms if x is not None]
    if not vec or any(isinstance(c, XF) or isinstance(x, XF) for c, x in terms):
        out = 0.0
        for c, x in terms:
            out = out + (col(c) if x is None else col(c) * x)
        return out
    shape = numpy.broadcast_shapes(*(numpy.shape(c) + (1,) for c, _ in terms),
                                   *(x.shape for _, x in vec))
    c0, x0 = vec[0]
    out = col(c0) * x0
    if out.shape != shape or out.base is not None:
        out = numpy.array(numpy.broadcast_to(out, shape))
    for c, x in vec[1:]:
        _add_scaled(out, c, x)
    for c, x in terms:
        if x is None:
            out += col(c)
    return out


def col2(c):
    """A coefficient array with two trailing axes, to multiply a matrix."""
    if isinstance(c, XF):
        return XF._raw(numpy.asarray(c.m)[..., None, None], numpy.asarray(c.e)[..., None, None],
                       c.names)
    return numpy.asarray(c, dtype=numpy.float64)[..., None, None]


def outer(x, y):
    return x[..., :, None] * y[..., None, :]


def filled(c, n):
    """``c`` times the all-ones ``(n, n)`` matrix, per batch row: a fresh contiguous array
    (``repeat`` writes it in one pass; a broadcast multiply loops over rows of length n)."""
    if isinstance(c, XF):
        return col2(c) * numpy.ones((n, n))
    c = numpy.asarray(c, dtype=numpy.float64)
    m = numpy.repeat(c.reshape(-1), n * n)
    try:  # reshaped in place: stays a base array, so finish() need not copy it
        m.shape = c.shape + (n, n)
    except (AttributeError, ValueError):  # (if NumPy ever forbids setting the shape)
        m = m.reshape(c.shape + (n, n)).copy()
    return m


def add_diagonal(m, d):
    """``m + d I`` for a fresh array ``m`` of matrices (written in place: one strided pass over
    the diagonals instead of a full ``d * eye(n)`` product and sum)."""
    n = m.shape[-1]
    if isinstance(m, XF) or isinstance(d, XF):
        return m + col2(d) * numpy.eye(n)
    d = numpy.asarray(d, dtype=numpy.float64)
    batch = numpy.broadcast_shapes(m.shape[:-2], d.shape)
    if m.shape[:-2] != batch or not m.flags.c_contiguous or not m.flags.writeable:
        m = numpy.array(numpy.broadcast_to(m, batch + (n, n)))
    m.reshape(-1, n * n)[:, :: n + 1] += numpy.broadcast_to(d, batch).reshape(-1, 1)
    return m


def _gamma1(x):
    try:
        return math.gamma(x)
    except OverflowError:  # Gamma(x) > 1.8e308: inf, its sign that of Gamma near x
        return math.inf if x > 0 or math.floor(x) % 2 == 0 else -math.inf
    except ValueError:  # a pole (0, -1, -2, ...)
        return math.nan


_gamma_array = numpy.vectorize(_gamma1, otypes=[numpy.float64])


def gamma(x):
    """Gamma of a float or an array (emitted for SymPy's ``gamma``): ``math.gamma`` entry by
    entry, inf beyond the float64 range and NaN at the poles instead of an exception."""
    if isinstance(x, numpy.ndarray) and x.ndim:
        return _gamma_array(x)
    return _gamma1(float(x))


def set_diagonal(m, d):
    """``m`` with its diagonal replaced by ``d`` (a fresh array ``m`` of matrices, written in
    place): the emitted form of ``c_J J + c_I I`` when the diagonal ``c_J + c_I`` cancels and is
    computed as one coefficient (see ``derivations.codegen._diagonal_whole``)."""
    n = m.shape[-1]
    if isinstance(m, XF) or isinstance(d, XF):
        return m * (1.0 - numpy.eye(n)) + col2(d) * numpy.eye(n)
    d = numpy.asarray(d, dtype=numpy.float64)
    batch = numpy.broadcast_shapes(m.shape[:-2], d.shape)
    if m.shape[:-2] != batch or not m.flags.c_contiguous or not m.flags.writeable:
        m = numpy.array(numpy.broadcast_to(m, batch + (n, n)))
    m.reshape(-1, n * n)[:, :: n + 1] = numpy.broadcast_to(d, batch).reshape(-1, 1)
    return m


def _overflow(shape, names=()):
    names = sorted(names)
    if not names and isinstance(shape, Shape) and shape.args:
        sizes = [(float(numpy.max(numpy.abs(a))) if a.size else 0.0, n) for n, a, _ in shape.args]
        names = [max(sizes)[1]]
    which = " and ".join(names) if names else "an argument"
    return ValueError(
        f"the result overflows float64 (its true value is beyond 1.8e308): {which} too large "
        "(or, where the formula divides by it, too small) in magnitude for this formula"
    )


def buffers(out, n):
    """Validate the ``out=`` tuple of a fused function: ``n`` writable float64 arrays (or None),
    plain ndarrays (a masked buffer would keep its mask over the written values)."""
    if not isinstance(out, (tuple, list)) or len(out) != n:
        raise InputError(f"out must be a tuple of {n} float64 arrays (or None entries)")
    for k, o in enumerate(out):
        if o is None:
            continue
        if isinstance(o, numpy.ndarray) and not _is_plain(o):
            raise _subclass_error(f"out[{k}]", o)
        if isinstance(o, numpy.ndarray) and not o.flags.writeable:
            raise ValueError(f"out[{k}] is read-only (flags.writeable is False): pass a writable "
                             "float64 array, or None to get a fresh one")
    return tuple(out)


COEFF_BOUND = 1e150  # |coefficient| below which a term of bounded basis vectors cannot overflow


def _bounded(checked):
    """Whether the emitter's evidence ``checked`` shows the assembled result is finite without
    scanning it: ``True`` (proved when emitting: constant coefficients of sum <= 1 times finite
    arguments), or ``(coefficients, norms)``: every coefficient a float (array) with
    ``|c| <= COEFF_BOUND`` (NaN fails), and every norm of a basis vector a plain float (array),
    i.e. within ``[SAFE_LO, SAFE_HI]`` (an XF means extreme rows: scan).  Entries of the bases
    are then <= 1e60 (outer products 1e120), so no term and no sum of a few terms overflows."""
    if checked is True:
        return True
    if not checked:
        return False
    coeffs, norms = checked
    for n in norms:
        if isinstance(n, XF):
            return False
    for c in coeffs:
        if isinstance(c, XF):
            return False
        if isinstance(c, numpy.ndarray) and c.ndim:
            if c.size and not (c.max() <= COEFF_BOUND and c.min() >= -COEFF_BOUND):
                return False
        elif not abs(c) <= COEFF_BOUND:
            return False
    return True


def _failure(shape, names=()):
    """The error for a non-finite result: a non-finite argument if there is one (the emitted code
    leaves the NaN/inf test of some arguments to their inner products, sums and this final
    check), else an overflow naming the argument(s) responsible."""
    if isinstance(shape, Shape):
        for name, arr, _ in shape.args:
            if not numpy.all(numpy.isfinite(arr)):
                bad = numpy.asarray(arr)[~numpy.isfinite(arr)].ravel()[0]
                return ValueError(f"{name} must be finite (got {bad}; float64 inputs beyond "
                                  "1.8e308 are inf)")
    return _overflow(shape, names)
