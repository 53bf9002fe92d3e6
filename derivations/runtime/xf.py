"""Extended-range arrays.  In: float64 arrays whose rows leave ``[SAFE_LO, SAFE_HI]``.  Out:
:class:`XF` (an array with its own per-row exponent) on which the emitted expression, unchanged,
is evaluated; ``finish`` rounds it back.

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import threading

import numpy


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


# Which rows of a batch left the float range.  A batch holding one row beyond [SAFE_LO, SAFE_HI]
# is evaluated in extended range as a whole (an XF has one type for every row), which skips the
# float path's refinements (the completed square's double-double, the near-parallel angle terms)
# on the ordinary rows too.  The driver of an emitted core (blocking.by_rows) opens a record; the
# places where a batch first goes to extended range (rows.norm, dot, total; differences.difference)
# note the rows that took it there; the driver then evaluates the other rows again, apart.
_EXTREME = threading.local()


def _open_extreme():
    """Start recording the extreme rows of the batch about to be evaluated (nests)."""
    try:
        stack = _EXTREME.stack
    except AttributeError:
        stack = _EXTREME.stack = []
    stack.append([])
    return stack


def _note_extreme(rows):
    """Record ``rows`` (a boolean array over the batch, or ``True`` for all of them) as the rows
    beyond the float range that sent the current batch to extended range (no-op outside a
    record, e.g. a runtime helper called directly)."""
    stack = getattr(_EXTREME, "stack", None)
    if stack:
        stack[-1].append(rows)
