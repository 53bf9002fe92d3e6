"""Run-time helpers for the emitted code: input validation and hardened invariants (NumPy only).

Hand-written (not generated).  Every emitted function in this package converts and validates
its inputs here, computes the invariants (norms, inner products, sums, angles) here, and
broadcasts its result here, so that all emitted functions share one set of error messages and
one numerically careful angle.
"""
from __future__ import annotations

import math

import numpy

_KAHAN_THRESHOLD = 0.9  # |cos phi| above which arccos loses digits and Kahan's form is used


def _array(name, x):
    try:
        arr = numpy.asarray(x, dtype=numpy.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or array, got {type(x).__name__}") from None
    # one reduction instead of an elementwise test; the full test only if the sum is not
    # finite (NaN/inf entries, or a sum of finite entries that overflowed)
    if not numpy.isfinite(arr.sum()) and not numpy.all(numpy.isfinite(arr)):
        raise ValueError(f"{name} must be finite (got NaN or inf)")
    return arr


def vector(name, x):
    """``x`` as a float64 array with the vector on the last axis; rejects NaN/inf and 0-d."""
    arr = _array(name, x)
    if arr.ndim == 0:
        raise ValueError(f"{name} must be a vector (array with the vector on the last axis)")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def scalar(name, x):
    """``x`` as a float64 array broadcasting over the batch axes; rejects NaN/inf."""
    return _array(name, x)


def integer(name, k, minimum=1):
    """A Python integer ``>= minimum``."""
    if isinstance(k, bool) or not isinstance(k, (int, numpy.integer)):
        raise ValueError(f"{name} must be an integer, got {k!r}")
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


def batch_shape(*specs):
    """The broadcast batch shape of ``(name, array, rank)`` arguments (rank 1 for vectors)."""
    if all(arr.ndim == rank for _, arr, rank in specs):  # fast path: one point, no batch axes
        return ()
    shape = ()
    for name, arr, rank in specs:
        own = arr.shape[: arr.ndim - rank]
        try:
            shape = numpy.broadcast_shapes(shape, own)
        except ValueError:
            raise ValueError(
                f"the batch axes of {name} {own} do not broadcast with the others {shape}"
            ) from None
    return shape


def require(condition, name, message):
    """Raise ``ValueError(f"{name} {message}")`` unless ``condition`` holds everywhere."""
    if not numpy.all(condition):
        raise ValueError(f"{name} {message}")


def positive(name, x):
    require(x > 0, name, "must be > 0")


def nonzero(name, norm_x):
    """A zero vector has no direction: its angle (or normalization) is undefined."""
    if isinstance(norm_x, float):
        if norm_x > 0:
            return
        raise ValueError(f"{name} must be nonzero (its direction and angle are undefined)")
    require(norm_x > 0, name, "must be nonzero (its direction and angle are undefined)")


def dot(x, y):
    if x.ndim == 1 and y.ndim == 1:
        return float(x @ y)
    return numpy.einsum("...i,...i->...", x, y)


_SAFE_LO, _SAFE_HI = 1e-280, 1e280  # squared norms outside this range are recomputed scaled


def norm(x):
    """``|x|_2`` without underflow or overflow: ``math.hypot`` for one vector; in a batch, rows
    whose sum of squares leaves the safe range are recomputed as ``m |x/m|``, ``m = max|x_i|``."""
    if x.ndim == 1:  # fast path, one vector: math.hypot neither underflows nor overflows
        return math.hypot(*x.tolist())
    s = dot(x, x)
    bad = ~((s > _SAFE_LO) & (s < _SAFE_HI))
    if not numpy.any(bad):
        return numpy.sqrt(s)
    m = numpy.max(numpy.abs(x), axis=-1)
    safe = numpy.where(m > 0, m, 1.0)[..., None]
    return numpy.where(bad, m * numpy.sqrt(dot(x / safe, x / safe)), numpy.sqrt(s))


def total(x):
    if x.ndim == 1:
        return float(x.sum())
    return numpy.sum(x, axis=-1)


def angle(x, y, norm_x, norm_y, dot_xy):
    """The angle between ``x`` and ``y`` in ``[0, pi]``, accurate to full precision.

    ``arccos`` of the cosine where ``|cos| <= 0.9``; elsewhere (near 0 and pi, where arccos
    loses up to half the digits), and wherever ``x.y`` may have under- or overflowed, Kahan's
    ``2 atan2(|x^ - y^|, |x^ + y^|)`` on the unit vectors.  Exactly parallel
    vectors give exactly 0, antiparallel ones exactly pi: no NaN, no warning.
    """
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
    # near 0 / pi, or where x.y may have under/overflowed: Kahan's form on unit vectors
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


def col(c):
    """A coefficient array with one trailing axis, to multiply a vector."""
    return numpy.asarray(c, dtype=numpy.float64)[..., None]


def col2(c):
    """A coefficient array with two trailing axes, to multiply a matrix."""
    return numpy.asarray(c, dtype=numpy.float64)[..., None, None]


def outer(x, y):
    return x[..., :, None] * y[..., None, :]


def finish(result, shape, rank=0):
    """Broadcast ``result`` to ``shape`` + its last ``rank`` axes (fresh float64; 0-d -> scalar)."""
    if not shape and not rank:
        return numpy.float64(result)
    result = numpy.asarray(result, dtype=numpy.float64)
    trailing = result.shape[result.ndim - rank :] if rank else ()
    target = tuple(shape) + tuple(trailing)
    if result.shape == target and result.base is None and result.flags.writeable:
        return result  # already a fresh array of the right shape
    out = numpy.broadcast_to(result, target)
    out = numpy.array(out)
    return out[()] if out.ndim == 0 else out
