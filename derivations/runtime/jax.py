"""Run-time helpers of the JAX backend: one-row versions of the hardened invariants of
:mod:`._runtime`, written in ``jax.numpy`` so that the emitted functions are jittable and compose
with ``jax.vmap`` and ``jax.grad``; and the glue that runs an emitted row function over a batch
for the public (NumPy-facing) functions.

Hand-written (not generated).  The row functions in ``derivations/generated/<family>_jax.py``
are emitted by :mod:`derivations.codegen.jax` from the same lines the NumPy emitter prints (the
same SymPy expressions, constants, edge series and completed squares).  Every helper here has
the signature of its NumPy counterpart in :mod:`._runtime` (the checked-row helpers return one
more value, ``ok``: the row is in the float64 range the kernel handles).

Hardening, as in :mod:`._runtime`, branch-free (``jnp.where`` with the *safe-where* pattern: the
branch not taken is evaluated at a harmless operand, so its value and its derivative are finite
and ``jax.grad`` of the selected branch carries no NaN):

* **near-parallel pairs** (``|cos phi| > NEAR``): cos, sin, phi, pi - phi and the rejection in
  double-double arithmetic (Ogita-Rump-Oishi Dot2, Dekker products), unrolled over the entries;
* **edge series** near ``phi = 0`` and ``pi`` (:func:`taylor_zero`, :func:`taylor`,
  :func:`taylor_pi`): the SymPy Taylor polynomials the emitter prints;
* **completed squares** ``|a x - b y|^2`` from the difference itself, refined in double-double
  where ``a x`` and ``b y`` agree to ``NEAR_DIFF`` (:func:`difference`);
* **square roots at zero** (an exactly parallel pair: the rejection is 0): ``sqrt0`` has value 0
  and derivative 0 there, so ``jax.grad`` at the student on the teacher is finite (the angle's
  one-sided derivative is taken as 0; every emitted loss is flat in the angle at 0).

The public functions under ``set_backend("jax")`` run the rows in a fast mode (see
:func:`fast`): the rare rows that need a careful branch go to the NumPy core instead.  The raw
functions users compose run the careful branches only on the points that need them
(:func:`point_function`: ``lax.cond`` at one point, a ``custom_vmap`` rule under ``jax.vmap``,
a ``custom_jvp`` of the branch-free row for derivatives).  Not
carried at all (the public functions hand those rows to the NumPy core, see :func:`run`): extended
range (norms outside ``[SAFE_LO, SAFE_HI]``, squares that underflow) and the errors for bad
rows (zero or non-finite vectors).  A raw JAX function returns whatever float64 gives there.

float64 is required: importing this module turns ``jax_enable_x64`` on (JAX's default is
float32, which would lose the accuracy every check of this toolkit asserts), and :func:`run`
refuses to work if it has been turned off since.
"""
from __future__ import annotations

import functools
import math

import jax
import numpy

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from .. import runtime as _rt  # noqa: E402

NEAR = _rt.NEAR
SAFE_LO2, SAFE_HI2 = _rt.SAFE_LO**2, _rt.SAFE_HI**2
SAFE_HI = _rt.SAFE_HI
NEAR_DIFF = _rt.NEAR_DIFF
SINE_NEAR = _rt.SINE_NEAR
PI_HI, PI_LO = _rt.PI_HI, _rt.PI_LO
_SPLIT = 134217729.0  # 2**27 + 1


def require_x64():
    """Raise if ``jax_enable_x64`` is off (every emitted function computes in float64)."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError("the JAX backend needs float64: jax.config.update('jax_enable_x64', True) "
                           "(it was turned off after derivations.runtime.jax was imported)")


# --------------------------------------------------------------------------------------------
# Safe elementary functions and double-double arithmetic
# --------------------------------------------------------------------------------------------


def sqrt0(s):
    """``sqrt(s)`` for ``s >= 0`` with value and derivative 0 at ``s = 0`` (safe where)."""
    pos = s > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, s, 1.0)), 0.0)


def two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def split(a):
    c = _SPLIT * a
    ah = c - (c - a)
    return ah, a - ah


def two_prod(a, b):
    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def dd_div(ah, al, bh, bl):
    q1 = ah / bh
    ph, pl = two_prod(q1, bh)
    r = ((ah - ph) - pl + al - q1 * bl)
    return two_sum(q1, r / bh)


def dd_dot(x, y):
    """``x.y`` as a double-double (Dot2, the order of :func:`._runtime._dd_dot`), one
    ``lax.scan`` over the entries (a small program: the unrolled loop compiles slowly)."""
    sh, sl = two_prod(x[0], y[0])

    def step(carry, xy):
        sh, sl = carry
        ph, pl = two_prod(xy[0], xy[1])
        sh, e = two_sum(sh, ph)
        return (sh, sl + (e + pl)), None

    (sh, sl), _ = jax.lax.scan(step, (sh, sl), (x[1:], y[1:]))
    return two_sum(sh, sl)


def dd_norm(u):
    """``|u|`` as a double-double ``(hi, lo)``."""
    sh, sl = dd_dot(u, u)
    h = sqrt0(sh)
    hs = jnp.where(h > 0, h, 1.0)
    ph, pl = two_prod(h, h)
    corr = jnp.where(h > 0, ((sh - ph) - pl + sl) / (2.0 * hs), 0.0)
    return two_sum(h, corr)


def pow2(x):
    """An exact power-of-two scale ``2**-k`` with ``max|x| 2**-k`` in [0.5, 1) (1 for a zero
    row), as a constant for ``jax.grad``."""
    m = jax.lax.stop_gradient(jnp.max(jnp.abs(x)))
    _, k = jnp.frexp(jnp.where(m > 0, m, 1.0))
    k = jnp.where(m > 0, k, 0)
    return jnp.ldexp(1.0, -k)


# --------------------------------------------------------------------------------------------
# Invariants of one row (the NumPy helpers' signatures; ``ok``: in the range handled here)
# --------------------------------------------------------------------------------------------


# The batch runner's fast mode.  The careful branches (double-double near-parallel terms and
# rejections, the refined completed square) are needed on few rows but, branch-free, cost every
# row (3-4x the whole function at N = 1e5).  While :func:`run` traces a row function in fast
# mode, each helper computes its ordinary branch only and records the rows that need the careful
# one; those rows are flagged (``ok`` false) and evaluated by the NumPy core, as the extended-range
# rows are.  The raw functions (``<family>_jax.<name>``) evaluate the careful branches
# themselves, on the points that need them (:func:`point_function`, which uses the same masks).
_FAST: list = []  # the masks recorded while a row function is traced in fast mode


def _defer(mask) -> bool:
    """In fast mode: record ``mask`` (rows needing the careful branch) and return True."""
    if not _FAST:
        return False
    _FAST[-1].append(mask)
    return True


def fast(rowfn):
    """``rowfn`` in fast mode: its ``ok`` is false also on the rows needing a careful branch."""
    def row(*args):
        _FAST.append([])
        try:
            res = rowfn(*args)
        finally:
            masks = _FAST.pop()
        ok = res[-1]
        for m in masks:
            ok = ok & ~m
        return tuple(res[:-1]) + (ok,)

    return row


def _fast_need(rowfn):
    """``rowfn`` in fast mode, returning ``(results..., need)``: ``need`` is true on the points
    where a careful branch was skipped, ``None`` if ``rowfn`` has none (``ok`` dropped)."""
    def row(*args):
        _FAST.append([])
        try:
            res = rowfn(*args)
        finally:
            masks = _FAST.pop()
        need = functools.reduce(jnp.logical_or, masks) if masks else None
        return tuple(res[:-1]), need

    return row


def _results(rowfn):
    def row(*args):
        return tuple(rowfn(*args)[:-1])

    return row


#: under vmap the rows needing a careful branch are evaluated ``ceil(n * FEW)`` at a time
FEW = 1 / 16


def point_function(rowfn):
    """The one-point function ``rowfn`` (returning ``(results..., ok)``) as the raw JAX function
    users compose: ``results`` (a tuple), where the careful branches (double-double near-parallel
    terms, refined completed squares) are evaluated only where needed, also under ``jax.vmap``.

    Branch-free code evaluates every careful branch on every row of a ``vmap`` (6-7x the plain
    formula for the fused CNN function; a ``lax.cond`` per point becomes a select under ``vmap``
    and evaluates both as well).  Here:

    * one point: the fast branches, then ``lax.cond(need, careful, fast)`` (one branch runs);
    * under ``jax.vmap`` (a :func:`jax.custom_batching.custom_vmap` rule): the fast branches on
      every row and the mask ``need``; no row needs more (the common case): done; else the
      rows that do are gathered, ``ceil(n FEW)`` at a time (a ``lax.while_loop``: one compiled
      careful branch), evaluated carefully and scattered back.  A batch where every row needs
      care costs about what the branch-free row costs.  On rows where ``need`` is false the
      careful function computes the fast one's formulas (``jnp.where(near, careful, plain)``).
    * derivatives (``jax.grad``, ``jax.jvp``, ``jax.jacfwd``, also under ``vmap``): a
      :func:`jax.custom_jvp` whose rule is ``jax.jvp`` of the branch-free ``rowfn`` (the
      safe-where hardening: finite derivatives at the edges), since JAX cannot differentiate
      through a custom batching rule.  The derivative therefore costs what it did (careful
      branches on every row).
    """
    from jax.custom_batching import custom_vmap

    fast_need = _fast_need(rowfn)
    careful = _results(rowfn)

    def one(*args):
        res, need = fast_need(*args)
        if need is None:
            return res
        return jax.lax.cond(need, lambda: careful(*args), lambda: res)

    @custom_vmap
    def batched(*args):
        return one(*args)

    @batched.def_vmap
    def _rule(axis_size, in_batched, *args):
        axes = tuple(0 if b else None for b in in_batched)
        res, need = jax.vmap(fast_need, in_axes=axes, axis_size=axis_size)(*args)
        if need is None:
            return res, (True,) * len(res)
        m = max(1, math.ceil(axis_size * FEW))
        chunks = -(-axis_size // m)

        def some():
            # the rows needing care in order, then indices past the end (gathered clipped, not
            # written back); evaluated carefully m rows at a time (one compiled careful branch)
            idx = jnp.nonzero(need, size=chunks * m, fill_value=axis_size)[0]
            count = jnp.sum(need)

            def body(state):
                i, out = state
                at = jax.lax.dynamic_slice(idx, (i * m,), (m,))
                sub = [x if a is None else jnp.take(x, at, axis=0, mode="clip")
                       for x, a in zip(args, axes)]
                c = jax.vmap(careful, in_axes=axes, axis_size=m)(*sub)
                return i + 1, tuple(r.at[at].set(v, mode="drop") for r, v in zip(out, c))

            return jax.lax.while_loop(lambda st: st[0] * m < count, body, (jnp.int32(0), res))[1]

        out = jax.lax.cond(jnp.any(need), some, lambda: res)
        return out, (True,) * len(out)

    @jax.custom_jvp
    def f(*args):
        return batched(*args)

    @f.defjvp
    def _jvp(primals, tangents):
        return jax.jvp(careful, primals, tangents)

    return f


def _in(s):
    return (s >= SAFE_LO2) & (s <= SAFE_HI2)


def norms_and_dot(x, y, names=None, nonzero=None):
    sx, sy, sxy = jnp.sum(x * x), jnp.sum(y * y), jnp.sum(x * y)
    return sqrt0(sx), sqrt0(sy), sxy, _in(sx) & _in(sy)


def sqnorm(x, name=None, nonzero=False):
    s = jnp.sum(x * x)
    return s, _in(s)


def norm(x, name=None, nonzero=False):
    s = jnp.sum(x * x)
    return sqrt0(s), _in(s)


def dot(x, y, norm_x=None, norm_y=None, names=None):
    s = jnp.sum(x * y)
    return s, jnp.abs(s) <= SAFE_HI2


def total(x, norm_x=None, name=None):
    s = jnp.sum(x)
    return s, jnp.abs(s) <= SAFE_HI


def difference(x, y, a=1.0, b=1.0, names=None, vector=False, with_dot=False, scales=None):
    """``(|a x - b y|^2, 1.(a x - b y)[, a x - b y][, x.y], ok)`` of one row; where ``a x`` and
    ``b y`` agree to ``NEAR_DIFF`` the difference is formed again with the scales that are norms
    (of ``scales = (u, v)``) in double-double and the products split exactly (as
    :func:`._runtime._refine_difference`)."""
    d = a * x - b * y
    sq, tot, xy = jnp.sum(d * d), jnp.sum(d), jnp.sum(x * y)
    near = sq < NEAR_DIFF * jnp.abs(a * b * xy)
    ok = (sq <= SAFE_HI2) & (jnp.abs(xy) <= SAFE_HI2) & ~((sq < 1e-290) & jnp.any(d != 0.0))
    if _defer(near):
        return (sq, tot) + ((d,) if vector else ()) + ((xy,) if with_dot else ()) + (ok,)
    u, v = scales if scales is not None else (None, None)
    ah, al = dd_norm(u) if u is not None else (a, 0.0)
    bh, bl = dd_norm(v) if v is not None else (b, 0.0)
    p1, e1 = two_prod(ah, x)
    p2, e2 = two_prod(bh, y)
    d2 = (p1 - p2) + ((e1 - e2) + (al * x - bl * y))
    d = jnp.where(near, d2, d)
    sq, tot = jnp.where(near, jnp.sum(d2 * d2), sq), jnp.where(near, jnp.sum(d2), tot)
    out = (sq, tot) + ((d,) if vector else ()) + ((xy,) if with_dot else ())
    return out + (ok,)


# --------------------------------------------------------------------------------------------
# Angle terms, rejection, edge series
# --------------------------------------------------------------------------------------------


def _rejection_dd(y, x):
    """``y - (x.y/x.x) x`` for unit-scale rows in double-double, and ``x.y/x.x``."""
    dh, dl = dd_dot(x, y)
    nh, nl = dd_dot(x, x)
    kh, kl = dd_div(dh, dl, nh, nl)
    ph, pl = two_prod(kh, x)
    s, e = two_sum(y, -ph)
    return s + (e - pl - kl * x), kh


def near_terms(x, y):
    """cos, sin, phi, pi - phi of a near-parallel pair by the double-double rejection."""
    x = x * pow2(x)
    y = y * pow2(y)
    r, k = _rejection_dd(y, x)
    nx, ny, nr = sqrt0(jnp.sum(x * x)), sqrt0(jnp.sum(y * y)), sqrt0(jnp.sum(r * r))
    along = k * nx
    return along / ny, nr / ny, jnp.arctan2(nr, along), jnp.arctan2(nr, -along)


def angle_terms(x, y, norm_x, norm_y, dot_xy, need="cos sin phi psi", norm_xy=None, zero_ok=False):
    """``(cos, sin, phi, pi - phi)`` to full relative accuracy (as :func:`._runtime.angle_terms`):
    ``arccos`` of the cosine, and the double-double terms where ``|cos| > NEAR``."""
    if norm_xy is None:
        norm_xy = norm_x * norm_y
    if zero_ok:
        zero = norm_xy == 0
        c = jnp.where(zero, 0.0, dot_xy / jnp.where(zero, 1.0, norm_xy))
    else:
        c = dot_xy / norm_xy
    near = jnp.abs(c) > NEAR
    cs = jnp.where(near, 0.0, c)  # safe operand of the ordinary branch
    terms = (cs, jnp.sqrt((1.0 - cs) * (1.0 + cs)), jnp.arccos(cs), jnp.arccos(-cs))
    if _defer(near):
        return terms
    # the near branch is finite, with finite derivatives, on any pair of nonzero vectors (a
    # zero operand, allowed with ``zero_ok``, is replaced by the other's ones)
    xn, yn = (_nonzero(x), _nonzero(y)) if zero_ok else (x, y)
    nt = near_terms(xn, yn)
    return tuple(jnp.where(near, n, t) for n, t in zip(nt, terms))


def _near_rejection(y, x, scale):
    sy, sx = pow2(y), pow2(x)
    r, _ = _rejection_dd(y * sy, x * sx)
    return r / sy * scale


def rejection(y, x, sqnorm_x, dot_xy, cos_xy, scale=None):
    """``scale (y - (x.y/|x|^2) x)``; double-double where ``|cos| > NEAR``."""
    scale = 1.0 if scale is None else scale
    near = jnp.abs(cos_xy) > NEAR
    plain = (y - dot_xy / sqnorm_x * x) * scale
    if _defer(near):
        return plain
    return jnp.where(near, _near_rejection(_nonzero(y), _nonzero(x), scale), plain)


def _nonzero(x):
    """``x``, or all ones where ``x`` is the zero vector (a safe operand for a branch not taken)."""
    return jnp.where(jnp.any(x != 0), x, 1.0)


def cosine_or_zero(dot_xy, norm_xy):
    zero = norm_xy == 0
    return jnp.where(zero, 0.0, dot_xy / jnp.where(zero, 1.0, norm_xy))


def pi_minus(phi):
    return (PI_HI - phi) + PI_LO


def sine(phi, cos):
    near = jnp.abs(cos) > SINE_NEAR
    cs = jnp.where(near, 0.0, cos)
    return jnp.where(near, jnp.sin(phi), jnp.sqrt((1.0 - cs) * (cs + 1.0)))


def _poly(t, start, step, coeffs):
    u = t * t if step == 2 else t**step
    acc = 0.0 * t + coeffs[-1]
    for c in coeffs[-2::-1]:
        acc = acc * u + c
    return acc * t**start


def taylor(h, t, below, start, step, coeffs):
    """``h``, replaced by the SymPy Taylor polynomial where ``t < below``."""
    small = t < below
    return jnp.where(small, _poly(jnp.where(small, t, 0.0), start, step, coeffs), h)


def taylor_zero(h, cos, sin, below, start, step, coeffs):
    """:func:`taylor` in ``t = atan2(sin, cos)`` on the rows with ``cos > cos(below)(1 - 1e-12)``."""
    edge = math.cos(below) * (1 - 1e-12)
    return jnp.where(cos > edge, taylor(h, jnp.arctan2(sin, cos), below, start, step, coeffs), h)


def taylor_pi(h, phi, below, start, step, coeffs):
    return taylor(h, pi_minus(phi), below, start, step, coeffs)


def col(c):
    return c


def combine(*terms):
    out = 0.0
    for c, x in terms:
        out = out + (c if x is None else c * x)
    return out


# --------------------------------------------------------------------------------------------
# Running a row function over a batch (the public functions under set_backend("jax"))
# --------------------------------------------------------------------------------------------

_batched: dict = {}


def _vmapped(rowfn, axes):
    key = (rowfn, axes)
    fn = _batched.get(key)
    if fn is None:
        fn = _batched[key] = jax.jit(jax.vmap(fast(rowfn), in_axes=axes))
    return fn


#: batches of fewer rows than this are padded to the next 2**k or 1.5 * 2**k rows (each batch
#: shape is one XLA compilation); larger batches run at their own size
PAD_BELOW = 4096


def _bucket(n):
    if n >= PAD_BELOW or n <= 2:
        return max(n, 1)
    k = 1 << (n - 1).bit_length()
    return 3 * k // 4 if 3 * k // 4 >= n else k


def run(rowfn, core, shape, args, ranks, out):
    """Evaluate the emitted row function ``rowfn`` (returning ``(results..., ok)``) on checked
    arguments of batch shape ``shape`` (``ranks``: 1 vector, 0 scalar, None integer), as
    NumPy arrays; the rows it cannot finish (``ok`` false or a non-finite result) are evaluated
    by ``core``, the NumPy core of the same function (extended range, or its error)."""
    require_x64()
    n = math.prod(shape)
    ins, axes = [], []
    for x, r in zip(args, ranks):
        if r is None:
            ins.append(x)
            axes.append(None)
            continue
        core_shape = x.shape[x.ndim - r:]
        own = x.shape[: x.ndim - r]
        if math.prod(own) == 1:
            ins.append(numpy.reshape(x, core_shape))
            axes.append(None)
        else:
            ins.append(numpy.broadcast_to(x, tuple(shape) + core_shape).reshape((n,) + core_shape))
            axes.append(0)
    if n == 0 or all(a is None for a in axes):  # one point (or none): a batch of one row
        ins = [x if a is None and r is None else numpy.broadcast_to(x, (max(n, 1),) + numpy.shape(x))
               for x, a, r in zip(ins, axes, ranks)]
        axes = [None if r is None else 0 for r in ranks]
    m = _bucket(n)
    if m != n:  # small batches padded to a few sizes (repeating the first row): fewer compiles
        ins = [x if a is None else numpy.concatenate([x, numpy.broadcast_to(x[:1], (m - len(x),) + x.shape[1:])])
               for x, a in zip(ins, axes)]
    fn = _vmapped(rowfn, tuple(axes))
    res = fn(*ins)
    flat = [numpy.asarray(r) for r in res[:-1]]
    flat = [f[:n] for f in flat]
    bad = ~numpy.asarray(res[-1])[:n]
    for f in flat:
        bad |= ~numpy.isfinite(f.reshape(f.shape[0], -1)).all(axis=1)
    if bad.any():
        flat = [numpy.array(f) for f in flat]
        _patch(core, shape, args, ranks, bad, flat)
    final = [f.reshape(tuple(shape) + f.shape[1:]) for f in flat]
    if out is not None:  # the given buffers, written (as the NumPy backend returns them)
        bufs = _rt.buffers(out, len(final))
        final = [f if o is None else _copy(o, f) for o, f in zip(bufs, final)]
    else:
        final = [f[()] if f.ndim == 0 else f for f in final]
    return tuple(final) if len(final) > 1 else final[0]


def _copy(o, f):
    _rt._check_out(o, f.shape)
    numpy.copyto(o, f)
    return o


def _patch(core, shape, args, ranks, bad, flat):
    idx = numpy.flatnonzero(bad)
    sub = []
    for x, r in zip(args, ranks):
        if r is None:
            sub.append(x)
            continue
        own = x.shape[: x.ndim - r]
        core_shape = x.shape[x.ndim - r:]
        if math.prod(own) == 1 and own != tuple(shape):
            sub.append(x.reshape(core_shape))
        else:
            sub.append(numpy.broadcast_to(x, tuple(shape) + core_shape).reshape((-1,) + core_shape)[idx])
    res = core(_rt._shape((len(idx),), shape.args), *sub)
    res = res if isinstance(res, tuple) else (res,)
    for f, r in zip(flat, res):
        f[idx] = r
