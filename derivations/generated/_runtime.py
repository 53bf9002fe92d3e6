"""Run-time helpers for the emitted code: input validation and hardened invariants (NumPy only).

Hand-written (not generated).  Every emitted function in this package converts and validates
its inputs here, computes the invariants (norms, inner products, sums, angle terms) here, and
broadcasts its result here, so that all emitted functions share one set of error messages and
one numerically careful angle.

Fast path and careful path.  The common case (moderate magnitudes, angles away from 0 and pi)
runs plain vectorized NumPy.  Two things switch on a careful path, for the rows that need it:

* **near-parallel rows** (``|cos phi| > NEAR``): the angle terms and the rejection of one vector
  from the other are recomputed in double-double arithmetic (:func:`angle_terms`,
  :func:`rejection`), so ``phi``, ``pi - phi``, ``sin phi`` and the rejection keep full relative
  accuracy down to ``phi = 0`` and up to ``phi = pi``;
* **extreme magnitudes** (a row whose norm leaves ``[SAFE_LO, SAFE_HI]``): :func:`norm` returns
  an :class:`XF` (an array with its own exponent), and the emitted expression, unchanged, is then
  evaluated in extended range; :func:`finish` rounds it back to float64 (raising a ``ValueError``
  naming the argument when the true result is beyond float64).
"""
from __future__ import annotations

import math
import numbers

import numpy

_KAHAN_THRESHOLD = 0.9  # |cos phi| above which arccos loses digits (old helper `angle`)
NEAR = 0.9999  # |cos phi| above which angle terms and rejections use double-double arithmetic
SAFE_LO, SAFE_HI = 1e-60, 1e60  # norms outside this range switch to extended-range arithmetic
_SAFE_LO, _SAFE_HI = 1e-280, 1e280  # squared norms: recomputed scaled (old helper `angle`)
PI_HI, PI_LO = math.pi, 1.2246467991473532e-16  # pi = PI_HI + PI_LO to ~1e-32
SINE_NEAR = 0.9  # |cos phi| above which sine() calls numpy.sin (see there)


class InputError(TypeError, ValueError):
    """An argument of the wrong type (complex, string, None, ...): both a TypeError and a
    ValueError, so ``except ValueError`` (the documented contract) catches it."""


# --------------------------------------------------------------------------------------------
# Conversion and validation
# --------------------------------------------------------------------------------------------


def _reject_kind(name, arr):
    kind = arr.dtype.kind
    if kind == "c":
        raise InputError(f"{name} must be real, got a complex value (imaginary parts are not dropped)")
    if kind in "USa":
        raise InputError(f"{name} must be a number or an array of numbers, got text")
    if kind == "b":
        raise InputError(f"{name} must be a number or an array of numbers, got booleans")
    if kind in "mMV":
        raise InputError(f"{name} must be a number or an array of numbers, got dtype {arr.dtype}")


def _subclass_error(name, x):
    """The error for an ndarray subclass whose entries or operations mean something else than a
    plain array's: a masked array (its masked entries have no value: the data under the mask
    would be used, or ``None`` met), ``numpy.matrix`` (``*`` is a matrix product, rows stay 2-D),
    or any other subclass (units, lazy or labelled arrays) except ``numpy.memmap``."""
    kind = type(x).__name__
    if isinstance(x, numpy.ndarray) and type(x).__module__.startswith("numpy.ma"):
        return InputError(
            f"{name} must be a plain array, got a masked array ({kind}): masked entries have no "
            f"value here; pass {name}.filled(value), or drop the masked rows first")
    if isinstance(x, numpy.matrix):
        return InputError(f"{name} must be a plain array, got numpy.matrix (its * and shapes differ "
                          f"from an array's); pass numpy.asarray({name})")
    return InputError(f"{name} must be a plain numpy.ndarray, got the subclass {type(x).__module__}."
                      f"{kind}; pass numpy.asarray({name}) if its entries are plain numbers")


def _is_plain(x):
    """``x`` unless it is an ndarray subclass other than ``numpy.memmap`` (then None), also
    inside nested lists and tuples (NumPy would drop a mask there silently)."""
    if isinstance(x, numpy.ndarray):
        return type(x) is numpy.ndarray or type(x) is numpy.memmap
    if isinstance(x, (list, tuple)):
        return all(_is_plain(t) for t in x if not isinstance(t, (float, int)))
    return True


def _array(name, x, finite=True):
    if x is None:
        raise InputError(f"{name} is missing (got None); it must be a real number or array")
    if isinstance(x, (str, bytes)):
        raise InputError(f"{name} must be a number or an array of numbers, got text {x!r}")
    if type(x) is numpy.ndarray and x.dtype == numpy.float64:
        arr = x
    else:
        if not _is_plain(x):
            bad = x
            while isinstance(bad, (list, tuple)):  # name the kind of the offending element
                bad = next(t for t in bad if not _is_plain(t))
            raise _subclass_error(name, bad)
        try:
            raw = numpy.asarray(x)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be a real number or array ({exc})") from None
        _reject_kind(name, raw)
        if raw.dtype.kind == "O":
            for t in raw.ravel():
                if t is None or isinstance(t, (str, bytes, complex, numpy.complexfloating, bool)):
                    raise InputError(f"{name} must contain real numbers only, got {t!r}")
                if not isinstance(t, numbers.Real) and not hasattr(t, "__float__"):
                    raise InputError(f"{name} must contain real numbers only, got {type(t).__name__}")
        try:
            with numpy.errstate(over="ignore"):
                arr = numpy.asarray(raw, dtype=numpy.float64)
        except OverflowError:
            raise ValueError(f"{name} is too large for float64") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be a real number or array ({exc})") from None
    # one reduction instead of an elementwise test; the full test only if the sum is not
    # finite (NaN/inf entries, or a sum of finite entries that overflowed).  A single vector
    # is tested here even when a reduction over it would do it (a few entries: no cost)
    if (finite or arr.ndim <= 1) and not _looks_finite(arr):
        _check_finite(name, arr)
    return arr


def _looks_finite(arr):
    """One pass that is True when every entry is finite: the sum of the entries (a NaN/inf entry
    makes it NaN/inf; so may a finite array whose sum overflows, entries beyond ~1e304: False
    only sends the caller to the full entry-by-entry test).

    ``numpy.add.reduce`` (pairwise, SIMD), never BLAS: a BLAS ``ddot`` of more than 10000
    entries wakes OpenBLAS's thread pool, which on a busy machine waits milliseconds for its
    second thread (issue 23: circulant.loss_and_grads 8.0 ms vs 0.59 ms single-threaded).
    Measured single-threaded (OPENBLAS_NUM_THREADS=1, best of 15): 2^17 entries 23 us vs 31 us
    for ``vdot`` in blocks of 8192 (below the threshold), 2^20 entries 173 us vs 257 us."""
    if arr.size <= 64:  # a few entries (one point): Python floats (no warning on overflow)
        return math.isfinite(sum(arr.ravel().tolist()))
    with numpy.errstate(over="ignore", invalid="ignore"):
        return math.isfinite(numpy.add.reduce(arr, axis=None))


def _check_finite(name, arr):
    if not numpy.all(numpy.isfinite(arr)):
        bad = numpy.asarray(arr)[~numpy.isfinite(arr)].ravel()[0]
        raise ValueError(f"{name} must be finite (got {bad}; float64 inputs beyond 1.8e308 are inf)")


def array(name, x):
    """``x`` as a float64 array of finite real numbers (any shape), with the checks and messages
    of the emitted code's arguments: for the hand-written public functions."""
    return _array(name, x, True)


def vector(name, x, finite=True):
    """``x`` as a float64 array with the vector on the last axis; rejects NaN/inf and 0-d.
    ``finite=False`` defers the NaN/inf test to ``norm(x, name)`` (same message, one pass less)."""
    arr = _array(name, x, finite)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be a vector (array with the vector on the last axis)")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def scalar(name, x, finite=True):
    """``x`` as a float64 array broadcasting over the batch axes; rejects NaN/inf
    (``finite=False``: left to an interval check, :func:`within`, that follows)."""
    return _array(name, x, finite)


def integer(name, k, minimum=1):
    """A Python integer ``>= minimum``."""
    if isinstance(k, bool) or not isinstance(k, (int, numpy.integer)):
        raise InputError(f"{name} must be an integer, got {k!r}")
    if k < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {k}")
    return int(k)


def same_length(*named):
    """Vectors of one space must have equal length: ``same_length(("v", v), ("w_star", w))``."""
    first_name, first = named[0]
    for name, arr in named[1:]:
        if arr.shape[-1] != first.shape[-1]:
            raise ValueError(
                f"{name} has length {arr.shape[-1]} but {first_name} has length "
                f"{first.shape[-1]}; they must live in the same space"
            )


class Shape(tuple):
    """The broadcast batch shape, remembering the named arguments (for error messages)."""

    args = ()


def _shape(shape, specs):
    out = Shape(shape)
    out.args = specs
    return out


def batch_shape(*specs):
    """The broadcast batch shape of ``(name, array, rank)`` arguments (rank 1 for vectors)."""
    if len(specs) == 1:  # fast path: one argument, its own batch axes
        arr, rank = specs[0][1], specs[0][2]
        return _shape(arr.shape[: arr.ndim - rank], specs)
    if all(arr.ndim == rank for _, arr, rank in specs):  # fast path: one point, no batch axes
        return _shape((), specs)
    own = {arr.shape[: arr.ndim - rank] for _, arr, rank in specs}
    if len(own) == 1 or (len(own) == 2 and () in own):  # fast path: one batch shape (or single points)
        return _shape(max(own, key=len), specs)
    shape, seen = (), []
    for name, arr, rank in specs:
        own = arr.shape[: arr.ndim - rank]
        try:
            shape = numpy.broadcast_shapes(shape, own)
        except ValueError:
            others = ", ".join(f"{n} {s}" for n, s in seen if len(s))
            raise ValueError(
                f"the batch axes of {name} {own} do not broadcast with those of {others} "
                f"(batch shape so far {shape})"
            ) from None
        seen.append((name, own))
    return _shape(shape, specs)


def require(condition, name, message):
    """Raise ``ValueError(f"{name} {message}")`` unless ``condition`` holds everywhere."""
    if not numpy.all(condition):
        raise ValueError(f"{name} {message}")


def within(x, lo, hi, name, message):
    """Raise ``ValueError(f"{name} {message}")`` unless ``lo <= x <= hi`` everywhere (two
    reductions, no boolean temporaries; NaN and inf fail, with the "must be finite" message)."""
    if isinstance(x, numpy.ndarray) and x.ndim:
        ok = x.size == 0 or (x.min() >= lo and x.max() <= hi)
    else:
        ok = lo <= x <= hi
    if not ok:
        _check_finite(name, x)  # NaN fails the comparisons too: name it as such
        raise ValueError(f"{name} {message}, got {_outside(x, lo, hi)}")


_PI32 = float(numpy.float32(math.pi))  # float32(pi) = pi + 8.74e-08 as a float64


def _outside(x, lo, hi):
    """The first entry of ``x`` outside ``[lo, hi]``, to full precision (``repr``), and how far
    outside; float32(pi), which exceeds pi, is called by its name."""
    flat = numpy.asarray(x, dtype=numpy.float64).reshape(-1)
    bad = float(flat[numpy.flatnonzero((flat < lo) | (flat > hi))[0]])
    where = f"{bad - hi:.3g} above {hi!r}" if bad > hi else f"{lo - bad:.3g} below {lo!r}"
    text = f"{bad!r} ({where})"
    if bad == _PI32 and hi == math.pi:
        text += ": float32(pi) is above pi; pass the angle in float64 (numpy.pi)"
    return text


def positive(name, x):
    require(x > 0, name, "must be > 0")


def _nonzero_error(name):
    raise ValueError(f"{name} must be nonzero (its direction and angle are undefined)")


def nonzero(name, norm_x):
    """A zero vector has no direction: its angle (or normalization) is undefined."""
    if isinstance(norm_x, float):
        if norm_x > 0:
            return
        raise ValueError(f"{name} must be nonzero (its direction and angle are undefined)")
    if isinstance(norm_x, XF):
        norm_x = norm_x.m
    require(norm_x > 0, name, "must be nonzero (its direction and angle are undefined)")


# --------------------------------------------------------------------------------------------
# Extended-range arrays (the scaled form of a homogeneous formula)
# --------------------------------------------------------------------------------------------

_ZERO_E = -(2**40)  # exponent of an exact zero (smaller than any real exponent)


_XF_COMPARISONS = (numpy.greater, numpy.greater_equal, numpy.less, numpy.less_equal,
                   numpy.equal, numpy.not_equal)


class XF:
    """``m * 2**e`` with float64 mantissas ``0.5 <= |m| < 1`` (or 0) and int64 exponents.

    Arithmetic (``+ - * / **``, ``numpy.sqrt``) never overflows or underflows, so an emitted
    expression evaluated on XF invariants gives the exact-scale answer for any finite input.
    ``names`` are the arguments the value came from (named when a result overflows float64).
    """

    __slots__ = ("m", "e", "names")

    def __init__(self, m, e=0, names=frozenset()):
        m = numpy.asarray(m, dtype=numpy.float64)
        f, k = numpy.frexp(m)
        e = numpy.asarray(e, dtype=numpy.int64) + k
        self.m = f
        self.e = numpy.where(f == 0, _ZERO_E, e)
        self.names = frozenset(names)

    @staticmethod
    def of(x):
        if isinstance(x, XF):
            return x
        return XF(x)

    def value(self):
        """Rounded to float64 (inf where the value is beyond float64)."""
        e = numpy.clip(self.e, -2200, 2200)
        with numpy.errstate(over="ignore", under="ignore"):
            return numpy.ldexp(self.m, e)

    def __getitem__(self, idx):
        return XF._raw(self.m[idx], self.e[idx], self.names)

    @staticmethod
    def _raw(m, e, names):
        out = XF.__new__(XF)
        out.m, out.e, out.names = m, e, names
        return out

    @property
    def shape(self):
        return numpy.broadcast_shapes(numpy.shape(self.m), numpy.shape(self.e))

    # NumPy dispatches ufuncs (and ndarray operators) with an XF operand here
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            return NotImplemented
        if ufunc is numpy.power:
            base, k = inputs
            return XF._pow(XF.of(base), k)
        xs = [XF.of(t) for t in inputs]
        names = frozenset().union(*(t.names for t in xs))
        if ufunc is numpy.multiply:
            a, b = xs
            return XF(a.m * b.m, a.e + b.e, names)
        if ufunc is numpy.true_divide:
            a, b = xs
            return XF(a.m / b.m, a.e - b.e, names)
        if ufunc in (numpy.add, numpy.subtract):
            a, b = xs
            e = numpy.maximum(a.e, b.e)
            bm = b.m if ufunc is numpy.add else -b.m
            m = (numpy.ldexp(a.m, numpy.maximum(a.e - e, -2200))
                 + numpy.ldexp(bm, numpy.maximum(b.e - e, -2200)))
            return XF(m, numpy.where(e == _ZERO_E, 0, e), names)
        if ufunc is numpy.negative:
            return XF._raw(-xs[0].m, xs[0].e, names)
        if ufunc is numpy.positive:
            return xs[0]
        if ufunc is numpy.absolute:
            return XF._raw(numpy.abs(xs[0].m), xs[0].e, names)
        if ufunc is numpy.sqrt:
            return XF._pow(xs[0], 0.5)
        if ufunc is numpy.square:
            return XF._pow(xs[0], 2)
        if ufunc in _XF_COMPARISONS:  # the sign of the exact-scale difference
            a, b = xs
            return ufunc(numpy.subtract(a, b).m, 0)
        return NotImplemented

    # a Piecewise of the printer is numpy.select: choose mantissas and exponents alike
    def __array_function__(self, func, types, args, kwargs):
        if func is not numpy.select:
            return NotImplemented
        condlist, choicelist = args[0], args[1]
        default = kwargs.get("default", args[2] if len(args) > 2 else 0)
        xs = [XF.of(c) for c in choicelist]
        d = XF.of(default)
        names = frozenset().union(*(t.names for t in xs))
        shape = numpy.broadcast_shapes(*(numpy.shape(c) for c in condlist), *(t.shape for t in xs))
        m = numpy.select(condlist, [numpy.broadcast_to(t.m, shape) for t in xs], d.m)
        e = numpy.select(condlist, [numpy.broadcast_to(t.e, shape) for t in xs], d.e)
        return XF._raw(m, e, names)

    @staticmethod
    def _pow(a, k):
        if isinstance(k, XF) or numpy.ndim(k) != 0:
            return NotImplemented
        k = float(k)
        if k == int(k):
            k = int(k)
            return XF(a.m**k, numpy.where(a.e == _ZERO_E, 0, a.e) * k, a.names)
        # 2**(e k) = 2**(floor(e k)) * 2**frac(e k)
        ek = numpy.where(a.e == _ZERO_E, 0, a.e) * k
        whole = numpy.floor(ek)
        with numpy.errstate(invalid="ignore", divide="ignore"):
            m = a.m**k * numpy.exp2(ek - whole)
        return XF(m, whole.astype(numpy.int64), a.names)

    def __add__(self, o):
        return numpy.add(self, o)

    def __radd__(self, o):
        return numpy.add(o, self)

    def __sub__(self, o):
        return numpy.subtract(self, o)

    def __rsub__(self, o):
        return numpy.subtract(o, self)

    def __mul__(self, o):
        return numpy.multiply(self, o)

    def __rmul__(self, o):
        return numpy.multiply(o, self)

    def __truediv__(self, o):
        return numpy.true_divide(self, o)

    def __rtruediv__(self, o):
        return numpy.true_divide(o, self)

    def __pow__(self, k):
        return XF._pow(self, k)

    def __neg__(self):
        return numpy.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return numpy.absolute(self)


def _pow2_scale(x):
    """Per-row power of two ``2**k`` with ``max|x| * 2**-k`` in [0.5, 1) (k = 0 for zero rows)."""
    mx = numpy.max(numpy.abs(x), axis=-1)
    _, k = numpy.frexp(mx)
    return k.astype(numpy.int64)


def _scaled(x, k):
    return numpy.ldexp(x, -numpy.asarray(k)[..., None])


# --------------------------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------------------------


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
        k = _pow2_scale(x)
        return XF(math.hypot(*_scaled(x, k).tolist()), k, {name})
    s = rowdot(x, x)
    if name is not None:
        lo, hi = s.min(initial=numpy.inf), s.max(initial=0.0)
        if SAFE_LO**2 <= lo and hi <= SAFE_HI**2:  # (so no row is zero: nonzero holds)
            return numpy.sqrt(s, out=s) if s.ndim else numpy.sqrt(s)
        _check_finite(name, x)
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
        return total(x, XF(1.0))
    return t


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
            return _difference_scaled(x, y, a, b, names) + (None, None)
        if 0.0 < sq < 1e-290 or (sq == 0.0 and d.any()):
            return _difference_scaled(x, y, a, b, names) + (None, None)
        return sq, tot, d, None
    with numpy.errstate(over="ignore", invalid="ignore", under="ignore"):
        sq, tot, d, xy = _difference_rows(x, y, a, b, keep, with_dot)
    if not (sq.size == 0 or sq.max() <= SAFE_HI**2):  # NaN fails too
        _check_finite(names[0], x)
        _check_finite(names[1], y)
        return _difference_scaled(x, y, a, b, names) + (None, None)
    if sq.size and sq.min() < 1e-290:  # exact zeros are fine; a square that underflowed is not
        few = numpy.flatnonzero(sq.reshape(-1) < 1e-290)
        shape = sq.shape
        xa, ya = (numpy.broadcast_to(v, shape + v.shape[-1:]).reshape(-1, v.shape[-1])[few]
                  for v in (x, y))
        aa, bb = (numpy.broadcast_to(numpy.asarray(v, dtype=numpy.float64), shape).reshape(-1)[few]
                  for v in (a, b))
        if (aa[:, None] * xa - bb[:, None] * ya).any():
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


# --------------------------------------------------------------------------------------------
# Double-double arithmetic (near-parallel rows only)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Angle terms, rejection, edge series
# --------------------------------------------------------------------------------------------


def _ratio(dot_xy, norm_x, norm_y, norm_xy=None):
    if norm_xy is not None:  # |x||y| given (shared with the formula): not overwritten
        if isinstance(dot_xy, XF) or isinstance(norm_xy, XF):
            return (dot_xy / norm_xy).value()
        return dot_xy / norm_xy
    if isinstance(dot_xy, XF) or isinstance(norm_x, XF) or isinstance(norm_y, XF):
        return (dot_xy / (norm_x * norm_y)).value()
    c = norm_x * norm_y
    if isinstance(c, numpy.ndarray) and c.shape == numpy.shape(dot_xy):
        return numpy.divide(dot_xy, c, out=c)
    return dot_xy / c


def angle_terms(x, y, norm_x, norm_y, dot_xy, need="cos sin phi psi", norm_xy=None,
                zero_ok=False):
    """``(cos phi, sin phi, phi, pi - phi)`` of the angle between ``x`` and ``y`` (entries not
    in ``need`` are ``None``), each to full relative accuracy, with no trigonometric call:
    ``cos = x.y / (|x||y|)``, ``sin = sqrt((1 - cos)(1 + cos))``, ``phi = arccos(cos)``, and
    on near-parallel rows (``|cos| > NEAR``) the double-double rejection (``sin = |r|/|y|``,
    ``phi = atan2(|r|, x^.y)``, ``pi - phi = atan2(|r|, -x^.y)``).  Exactly parallel vectors
    give exactly 0 and pi, no NaN, no warning.  ``norm_xy``: the product ``|x||y|`` when the
    caller has it (then ``norm_x``, ``norm_y`` may be None).  ``zero_ok``: an operand may be
    zero (a gradient; the formula's argument is not declared nonzero): there the angle is
    undefined, and the expression only uses it multiplied by that operand's norm (it came from
    ``x.y = |x||y| cos phi``), so those rows take cos = 0, sin = 1, phi = pi - phi = pi/2 (any
    value gives the same result) instead of 0/0."""
    want = need.split()
    if zero_ok:
        if norm_xy is None:
            norm_xy = norm_x * norm_y
        c = cosine_or_zero(dot_xy, norm_xy)
    else:
        c = _ratio(dot_xy, norm_x, norm_y, norm_xy)
    if isinstance(c, float):  # one pair
        if abs(c) <= NEAR:
            s = math.sqrt((1.0 - c) * (1.0 + c)) if "sin" in want else None
            phi = math.acos(c) if "phi" in want else None
            psi = math.acos(-c) if "psi" in want else None
            return (c, s, phi, psi)
        c, s, phi, psi = (float(t[0]) for t in _near_terms(x[None, :], y[None, :]))
        return tuple(t if n in want else None for t, n in zip((c, s, phi, psi), ("cos", "sin", "phi", "psi")))
    if not isinstance(c, numpy.ndarray) or c.base is not None or not c.flags.writeable:
        c = numpy.array(c, dtype=numpy.float64)
    idx = _beyond(c, NEAR)  # the near-parallel rows (usually none)
    anynear = idx is not None
    if anynear:
        c.reshape(-1)[idx] = 0.0
    s = phi = psi = None
    if "sin" in want:  # sqrt((1 - c)(1 + c)): 1 - c is exact, no cancellation
        s = 1.0 - c
        one_plus = c + 1.0
        s *= one_plus
        numpy.sqrt(s, out=s)
        if "psi" in want:  # -c in the array of 1 + c (no new temporary)
            psi = numpy.negative(c, out=one_plus)
        del one_plus
    elif "psi" in want:
        psi = numpy.negative(c)
    if "phi" in want:
        phi = numpy.arccos(c)
    if psi is not None:
        numpy.arccos(psi, out=psi)
    if anynear:
        shape = c.shape
        p = numpy.shape(x)[-1]
        where = numpy.unravel_index(idx, shape)  # no copy of the (broadcast) operands
        terms = _near_terms(*(numpy.broadcast_to(v, shape + (p,))[where] for v in (x, y)))
        out = []
        for t, arr in zip(terms, (c, s, phi, psi)):
            if arr is not None:
                if arr.shape != shape:
                    arr = numpy.array(numpy.broadcast_to(arr, shape))
                arr.reshape(-1)[idx] = t  # fresh arrays of the batch shape: patched in place
            out.append(arr)
        c, s, phi, psi = out
    return (c if "cos" in want else None, s, phi, psi)


def rejection(y, x, sqnorm_x, dot_xy, cos_xy, scale=None):
    """``y - (x.y/|x|^2) x``: the component of ``y`` orthogonal to ``x``, without cancellation
    (double-double on the rows with ``|cos| > NEAR``).  ``sqnorm_x = |x|^2``.  An XF when the
    invariants are.  ``scale``: per-row coefficient multiplying the result (in place: one
    full-size array in all)."""
    r = _rejection(y, x, sqnorm_x, dot_xy, cos_xy)
    if scale is None:
        return r
    if (isinstance(r, XF) or isinstance(scale, XF) or r.base is not None
            or numpy.broadcast_shapes(numpy.shape(scale) + (1,), r.shape) != r.shape):
        return col(scale) * r
    r *= col(scale)
    return r


def _rejection(y, x, sqnorm_x, dot_xy, cos_xy):
    if isinstance(sqnorm_x, XF) or isinstance(dot_xy, XF):
        ky = _pow2_scale(y)
        ys, xs = numpy.broadcast_arrays(_scaled(y, ky), _scaled(x, _pow2_scale(x)))
        r = numpy.array(ys - (numpy.einsum("...i,...i->...", xs, ys)
                              / numpy.einsum("...i,...i->...", xs, xs))[..., None] * xs)
        near = numpy.abs(numpy.asarray(cos_xy)) > NEAR
        if near.any():
            flat = r.reshape(-1, r.shape[-1])
            m = numpy.broadcast_to(near, r.shape[:-1]).reshape(-1)
            flat[m] = _rejection_dd(ys.reshape(-1, ys.shape[-1])[m], xs.reshape(-1, xs.shape[-1])[m])[0]
        names = getattr(sqnorm_x, "names", frozenset()) | getattr(dot_xy, "names", frozenset())
        return XF(r, ky[..., None], names)
    k = dot_xy / sqnorm_x
    if isinstance(k, float):
        if abs(cos_xy) <= NEAR:
            return y - k * x
        ky, kx = _pow2_scale(y), _pow2_scale(x)
        return numpy.ldexp(_rejection_dd(_scaled(y, ky)[None], _scaled(x, kx)[None])[0][0], ky)
    r = k[..., None] * x
    if r.shape == y.shape:
        numpy.subtract(y, r, out=r)
    else:
        r = y - r
    c = numpy.asarray(cos_xy)
    if c.size and (c.max() > NEAR or c.min() < -NEAR):  # two reductions; rarely true
        shape = r.shape[:-1]
        idx = numpy.flatnonzero(numpy.broadcast_to(numpy.abs(c) > NEAR, shape))
        where = numpy.unravel_index(idx, shape)
        r[where] = _near_rejection(numpy.broadcast_to(y, r.shape)[where],
                                   numpy.broadcast_to(x, r.shape)[where])
    return r


def _near_rejection(yn, xn):
    """``rej(y, x)`` of near-parallel row pairs (2-D arrays), in double-double arithmetic."""
    ky, kx = _pow2_scale(yn), _pow2_scale(xn)
    return numpy.ldexp(_rejection_dd(_scaled(yn, ky), _scaled(xn, kx))[0], ky[:, None])


def rejection_pair(x, alpha, y, beta, alpha_rej, dot_xy, cos_xy, norm_x=None, sqnorm_x=None):
    """``alpha x + beta y``, a vector sum whose two terms nearly cancel when ``x`` and ``y`` are
    nearly parallel.  The rows with ``|cos| <= NEAR`` (at least 0.014 rad from parallel: the
    sum loses at most a factor 1/sin(phi) < 71 there, as the float64 rejection does) take the
    direct sum, two products as hand-written code would; the near-parallel rows take the equal
    ``alpha_rej x + beta rej(y, x)`` (``alpha_rej = alpha + beta x.y/|x|^2``, derived by SymPy),
    with the rejection in double-double arithmetic (as in :func:`rejection`).  ``alpha_rej`` is
    a function computing that coefficient, called only when some row is near-parallel (or on
    the extended-range path, the only one using ``|x|`` or ``|x|^2``)."""
    if any(isinstance(t, XF) for t in (alpha, beta, norm_x, sqnorm_x, dot_xy)):
        sq = sqnorm_x if sqnorm_x is not None else norm_x * norm_x
        return col(alpha_rej()) * x + col(beta) * rejection(y, x, sq, dot_xy, cos_xy)
    if isinstance(cos_xy, float):  # one pair (other arguments may still carry batch axes)
        if abs(cos_xy) <= NEAR:
            return combine((alpha, x), (beta, y))
        return col(alpha_rej()) * x + col(beta) * _near_rejection(y[None], x[None])[0]
    out = combine((alpha, x), (beta, y))
    c = numpy.asarray(cos_xy)
    if c.size and (c.max() > NEAR or c.min() < -NEAR):  # two reductions; rarely true
        shape = out.shape[:-1]
        idx = numpy.flatnonzero(numpy.broadcast_to(numpy.abs(c) > NEAR, shape))
        where = numpy.unravel_index(idx, shape)
        xn = numpy.broadcast_to(x, out.shape)[where]
        yn = numpy.broadcast_to(y, out.shape)[where]
        ar = alpha_rej()
        if isinstance(ar, XF) or not numpy.all(numpy.abs(numpy.broadcast_to(ar, shape)[where])
                                               <= COEFF_BOUND):
            raise _overflow(None)
        a = numpy.broadcast_to(ar, shape)[where][:, None]
        b = numpy.broadcast_to(beta, shape)[where][:, None]
        out[where] = a * xn + b * _near_rejection(yn, xn)
    return out


def ldexp(x, k):
    """``x * 2**k`` (exact unless the result leaves float64; then inf or 0, without a warning:
    ``finish`` reports an overflow naming the argument)."""
    with numpy.errstate(over="ignore", under="ignore"):
        return numpy.ldexp(x, k)


def sine(phi, cos):
    """``sin(phi)`` of a scalar angle ``phi`` in ``[0, pi]`` (the caller has checked it) whose
    cosine ``cos = numpy.cos(phi)`` the formula needs too: ``sqrt((1 - c)(1 + c))``, which is
    nonnegative on ``[0, pi]`` (the rule of :func:`derivations.codegen.angle_rules`), in four
    cheap passes where ``numpy.sin`` costs as much as the cosine (1e5 angles: ~0.15 ms vs 1 ms).
    A relative error ``e`` in ``c`` becomes ``(c/s)^2 e`` in ``s``, so the rows with
    ``|c| > SINE_NEAR`` (``phi`` within 0.45 of 0 or pi; ``(c/s)^2`` would pass 4.3) call
    ``numpy.sin`` on those rows only; elsewhere the sine is within ~1e-15 (relative) of the
    correctly rounded one (tests/test_edges.py: 50-digit values).  A single point, or a few,
    calls ``numpy.sin``."""
    if not isinstance(cos, numpy.ndarray) or cos.size < 64:
        return numpy.sin(phi)
    s = 1.0 - cos
    s *= cos + 1.0
    numpy.sqrt(s, out=s)
    idx = _beyond(cos, SINE_NEAR)  # the rows near 0 or pi
    if idx is not None:
        s.reshape(-1)[idx] = numpy.sin(phi.reshape(-1)[idx])  # (cos has the shape of phi)
    return s


def _beyond(c, limit):
    """The flat indices of the entries of the array ``c`` with ``|c| > limit``, or None when there
    are none: two reductions (no temporaries) decide first, since usually no row is near an
    edge; then the integer indices of the few that are, so patching them costs ~nothing."""
    if c.size == 0 or not (c.max() > limit or c.min() < -limit):
        return None
    return numpy.flatnonzero(numpy.abs(c) > limit)


def pi_minus(phi):
    """``pi - phi`` for a float64 angle, exact to ~1e-32 (pi carried as PI_HI + PI_LO)."""
    return (PI_HI - phi) + PI_LO


def taylor(h, t, below, start, step, coeffs):
    """Replace ``h`` by ``sum_j coeffs[j] t**(start + step j)`` on the rows with ``t < below``
    (a Taylor series derived by SymPy, used where the closed form cancels)."""
    if isinstance(t, float) or numpy.ndim(t) == 0:
        if not float(t) < below:
            return h
        return _poly(float(t), start, step, coeffs)
    if t.size == 0 or not t.min() < below:  # one reduction: usually no row is near the edge
        return h
    idx = numpy.flatnonzero(t < below)  # integer indices of the (few) rows near the edge
    shape = numpy.broadcast_shapes(numpy.shape(h), t.shape)
    if isinstance(h, numpy.ndarray) and h.shape == shape and h.base is None and h.flags.writeable:
        out = h  # the emitted code's own fresh array (``_h<i> = <sum>`` just above): in place
    else:
        out = numpy.array(numpy.broadcast_to(h, shape), dtype=numpy.float64)
    tt = numpy.broadcast_to(t, shape).reshape(-1)
    if t.shape != shape:
        idx = numpy.flatnonzero(numpy.broadcast_to(t < below, shape))
    out.reshape(-1)[idx] = _poly(tt[idx], start, step, coeffs)
    return out


def taylor_zero(h, cos, sin, below, start, step, coeffs):
    """:func:`taylor` at ``phi = 0`` of a vector angle given by its cosine and sine: the rows
    with ``phi < below`` are those with ``cos > cos(below)`` (one reduction), and ``phi`` is
    formed on those rows only, as ``atan2(sin, cos)`` (``sin`` is exact to rounding there: the
    double-double path of :func:`angle_terms`), so no batch-sized ``arccos`` is needed."""
    edge = math.cos(below) * (1 - 1e-12)
    if isinstance(cos, float) or numpy.ndim(cos) == 0:
        if not float(cos) > edge:
            return h
        return taylor(h, math.atan2(float(sin), float(cos)), below, start, step, coeffs)
    if cos.size == 0 or not cos.max() > edge:
        return h
    shape = numpy.broadcast_shapes(numpy.shape(h), cos.shape)
    cf = numpy.broadcast_to(cos, shape).reshape(-1)
    idx = numpy.flatnonzero(cf > edge)
    t = numpy.arctan2(numpy.broadcast_to(sin, shape).reshape(-1)[idx], cf[idx])
    return _patch_rows(h, shape, idx, t, below, start, step, coeffs)


def taylor_pi(h, phi, below, start, step, coeffs):
    """:func:`taylor` with ``t = pi - phi`` for a scalar angle ``phi``: the rows near pi are
    found from ``phi`` itself and ``t`` is formed on those rows only (no batch-sized ``t``)."""
    if isinstance(phi, float) or numpy.ndim(phi) == 0:
        return taylor(h, pi_minus(float(phi)), below, start, step, coeffs)
    edge = PI_HI - below * (1 + 1e-9)  # t = (PI_HI - phi) + PI_LO < below implies phi > edge
    if phi.size == 0 or not phi.max() > edge:  # one reduction: usually no row
        return h
    shape = numpy.broadcast_shapes(numpy.shape(h), phi.shape)
    pf = numpy.broadcast_to(phi, shape).reshape(-1)
    idx = numpy.flatnonzero(pf > edge)
    t = pi_minus(pf[idx])
    return _patch_rows(h, shape, idx, t, below, start, step, coeffs)


def _patch_rows(h, shape, idx, t, below, start, step, coeffs):
    """``h`` (broadcast to ``shape``) with the flat rows ``idx`` whose edge distance ``t`` is
    below ``below`` replaced by the series; ``h`` itself when it is the emitted code's own fresh
    array (``_h<i> = <sum>`` just above), else a copy."""
    keep = t < below
    idx, t = idx[keep], t[keep]
    if isinstance(h, numpy.ndarray) and h.shape == shape and h.base is None and h.flags.writeable:
        out = h
    else:
        out = numpy.array(numpy.broadcast_to(h, shape), dtype=numpy.float64)
    out.reshape(-1)[idx] = _poly(t, start, step, coeffs)
    return out


def _poly(t, start, step, coeffs):
    u = t * t if step == 2 else t**step
    acc = numpy.full_like(t, coeffs[-1]) if isinstance(t, numpy.ndarray) else 0.0 * t + coeffs[-1]
    for c in coeffs[-2::-1]:
        acc *= u
        acc += c
    acc *= t**start
    return acc


def angle(x, y, norm_x, norm_y, dot_xy):
    """The angle between ``x`` and ``y`` in ``[0, pi]`` (kept for custom emitters; the default
    emitter uses :func:`angle_terms`)."""
    scale = norm_x * norm_y
    if isinstance(scale, float) and _SAFE_LO < scale < _SAFE_HI:  # fast path: one pair
        c = dot_xy / scale
        if abs(c) <= _KAHAN_THRESHOLD:
            return math.acos(c)
        xs, ys = x / norm_x, y / norm_y
        return 2.0 * math.atan2(math.sqrt(dot(xs - ys, xs - ys)), math.sqrt(dot(xs + ys, xs + ys)))
    norm_x, norm_y = numpy.asarray(norm_x, numpy.float64), numpy.asarray(norm_y, numpy.float64)
    scale = norm_x * norm_y
    with numpy.errstate(invalid="ignore", divide="ignore"):
        c = numpy.clip(dot_xy / scale, -1.0, 1.0)
    phi = numpy.atleast_1d(numpy.arccos(c))
    near = numpy.atleast_1d(
        ~(numpy.abs(c) <= _KAHAN_THRESHOLD) | ~((scale > _SAFE_LO) & (scale < _SAFE_HI))
    )
    if near.any():
        xs, ys = numpy.broadcast_arrays(
            x / numpy.asarray(norm_x)[..., None], y / numpy.asarray(norm_y)[..., None]
        )
        xs = xs.reshape(-1, xs.shape[-1])[near.reshape(-1)]
        ys = ys.reshape(-1, ys.shape[-1])[near.reshape(-1)]
        phi = phi.copy()
        phi[near] = 2.0 * numpy.arctan2(norm(xs - ys), norm(xs + ys))
    return phi.reshape(numpy.shape(c))


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Large batches: evaluation in blocks of rows
# --------------------------------------------------------------------------------------------

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
    results = None
    bshape = _shape((rows,), shape.args)
    for i in range(0, n, rows):
        j = min(n, i + rows)
        block = [x[i:j] if split else x for x, split in parts]
        if bshape[0] != j - i:  # the last block: up to one row per block shorter
            bshape = _shape((j - i,), shape.args)
        if results is None:  # first block: learn the result shapes, then allocate (or check out)
            r = fn(bshape, *block)
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
            r = fn(bshape, *block)
            rs = r if tup else (r,)
            for flat, x in zip(views, rs):
                flat[i:j] = x
        else:
            fn(bshape, *block, out=tuple(flat[i:j] for flat in views))
    for o, flat in zip(results, views):  # a non-contiguous out buffer: filled once at the end
        if not numpy.shares_memory(flat, o):
            numpy.copyto(o, flat.reshape(o.shape))
    return tuple(results) if tup else results[0]


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


# --------------------------------------------------------------------------------------------
# Gamma functions of integer-valued arguments (dimensions): no overflow, full relative accuracy
# --------------------------------------------------------------------------------------------

_GAMMA_DIRECT = 170.0  # math.gamma overflows float64 above 171.62; ratios of values below this are direct


def _gamma_ratio_scalar(a, b):
    if a < _GAMMA_DIRECT and b < _GAMMA_DIRECT:
        return math.gamma(a) / math.gamma(b)
    import mpmath  # a main dependency; imported only for large arguments

    with mpmath.workdps(30):
        return float(mpmath.gammaprod([mpmath.mpf(a)], [mpmath.mpf(b)]))


def gamma_ratio(a, b):
    """``Gamma(a) / Gamma(b)`` for real ``a, b > 0`` (issue 23 item 2).

    ``math.gamma`` overflows from 171.62 on, so ``math.gamma(a) / math.gamma(b)`` raised
    OverflowError for p >= 343 in ``Gamma((p+1)/2)/Gamma(p/2)``, and ``exp(lgamma(a) -
    lgamma(b))`` loses ``log10(lgamma(a))`` digits to cancellation (1.2e-12 relative at
    p = 10^4).  Below 170 both Gammas are computed directly (a few ulp); above, mpmath's
    ``gammaprod`` at 30 digits, rounded once.  Arrays are evaluated element by element.
    """
    if numpy.ndim(a) == 0 and numpy.ndim(b) == 0:
        return _gamma_ratio_scalar(float(a), float(b))
    f = numpy.frompyfunc(lambda u, v: _gamma_ratio_scalar(float(u), float(v)), 2, 1)
    return f(a, b).astype(numpy.float64)


def mp_constant(fn, *integers):
    """``float(fn(mpmath, *integers))`` evaluated at ``30 + digits`` decimal digits, ``digits``
    the length of the largest integer argument: for closed forms in Gamma functions of
    dimensions whose float64 evaluation cancels (``c_2 = 1 - sqrt(2/p) Gamma((p+1)/2)/Gamma(p/2)
    ~ 1/(4p)`` loses ``log10(4p)`` digits; ``rate_c = -log(1 - c_2)/4`` likewise).  The
    working precision covers the cancellation (at most ``log10(4p)`` digits), so the float64
    result is the correctly rounded value up to one rounding."""
    import mpmath

    digits = max([len(str(abs(int(k)))) for k in integers] + [1])
    with mpmath.workdps(30 + 2 * digits):
        return float(fn(mpmath, *[mpmath.mpf(int(k)) for k in integers]))


# --------------------------------------------------------------------------------------------
# The backend in use (NumPy or the compiled kernels): see _backend.py
# --------------------------------------------------------------------------------------------

from ._backend import compiled  # noqa: E402,F401  (the emitted functions' dispatch)
