"""Angle terms, rejections and edge series.  In: inner products and norms of two vectors
(or a scalar angle).  Out: ``cos``, ``sin``, ``phi``, ``pi - phi`` without trigonometric
calls (``angle_terms``; double-double on near-parallel rows), ``rejection`` /
``rejection_pair``, ``sine``, ``pi_minus`` and the near-edge Taylor patches ``taylor``,
``taylor_zero``, ``taylor_pi`` that the emitter's edge series call.

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import math

import numpy

from .limits import _KAHAN_THRESHOLD, NEAR, PI_HI, PI_LO, _SAFE_HI, _SAFE_LO, SINE_NEAR
from .xf import _pow2_scale, _scaled, XF
from .rows import dot, norm
from .assembly import COEFF_BOUND, col, combine, _overflow
from .doubledouble import _near_terms, _rejection_dd
from .differences import cosine_or_zero


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
