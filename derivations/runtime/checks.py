"""Argument conversion and validation.  In: the raw arguments of an emitted function.  Out:
float64 arrays (``vector``, ``scalar``, ``integer``), the batch shape (``batch_shape``), or an
:class:`InputError` / ``ValueError`` naming the argument (``require``, ``within``,
``positive``, ``nonzero``).

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import math
import numbers

import numpy

from .xf import XF


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
    if finite is not None and (finite or arr.ndim <= 1) and not _looks_finite(arr):
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


def finite(name, x, unless=None):
    """The NaN/inf test of an argument converted with ``finite=None`` (``scalar(name, x,
    finite=None)``: the test deferred; same message), unless ``unless`` (the compiled function
    the call dispatches to) lists ``name`` in its ``later``: that kernel flags a row where ``x``
    is not finite, and its runner makes this test before anything else can raise
    (:func:`derivations.runtime.numba.run`)."""
    if name in getattr(unless, "later", ()):
        return
    if not _looks_finite(x):
        _check_finite(name, x)


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
    (``finite=False``: left to an interval check, :func:`within`, that follows; ``None``: left
    to :func:`finite`, which the emitted function calls after its other checks, or first when
    one of them fails)."""
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
