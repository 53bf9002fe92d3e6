"""Run-time helpers of the compiled (Numba) backend: per-row scalar versions of the hardened
invariants of :mod:`._runtime`, and the glue that runs an emitted kernel over a batch.

Hand-written (not generated).  The kernels in ``derivations/generated/<family>_numba.py`` are
emitted by :mod:`derivations.codegen.numba` from the same lines the NumPy emitter prints (the
same SymPy expressions, constants, edge series and completed squares); each kernel is one loop
over the rows that reads every input once and writes every output once, with no temporaries.

Hardening, row by row, as in :mod:`._runtime`:

* **near-parallel rows** (``|cos phi| > NEAR``): angle terms and rejections in double-double
  arithmetic (:func:`near_terms`, :func:`rejection`), here in the kernel itself;
* **edge series** near ``phi = 0`` and ``pi`` (:func:`taylor_zero`, :func:`taylor_pi`), in the
  kernel;
* **completed squares** ``|a x - b y|^2`` from the difference itself, refined in double-double
  where ``a x`` and ``b y`` agree to 1e-3 (:func:`difference`), in the kernel;
* **extended range and bad input** (a norm outside ``[SAFE_LO, SAFE_HI]``, a zero or non-finite
  row, a result that is not finite): the kernel flags the row, and :func:`run` evaluates the
  flagged rows (usually none) with the NumPy core of the same function, which computes them in
  extended range or raises the NumPy backend's own error naming the argument.

A kernel printed as a hybrid pass (one angle-terms line) runs per chunk of rows: its first half
stores ``cos`` (``-cos``) of each row, :func:`run` takes their ``numpy.arccos`` (SIMD) in place,
its second half finishes the rows (:func:`angle_store`, :func:`angle_terms_chunk`); where the
second half forms a difference vector again, only on narrow rows (:func:`run`).

Every jitted function uses ``cache=True``: the machine code is cached next to this file
(``__pycache__``) or, where that is read-only, in the user cache directory Numba picks
(``NUMBA_CACHE_DIR`` overrides both; see docs/guide.md, "Backends").
"""
from __future__ import annotations

import importlib.util
import math
import sys

import numba
import numpy

from .. import runtime as _rt


def _cheap_blas_probe():
    """Import ``numba.np.arraymath`` with a cheaper BLAS probe (issue 25: the first compiled call).

    Numba's first compilation or cache load imports its NumPy implementations; one of them,
    ``numba.np.arraymath``, probes for BLAS at import by importing ``scipy.linalg.cython_blas``,
    i.e. all of ``scipy.linalg`` (whose array-API layer touches every lazy NumPy submodule,
    ``numpy.f2py`` included): 0.12-0.14 s of CPU, a quarter of import + first call, for an
    answer that only picks how Numba compiles ``np.correlate``/``np.convolve`` (BLAS or a loop;
    no kernel here uses either).  Here the probe asks whether SciPy is installed (a dependency
    of this package) and runs Numba's own LP64/ILP64 check (it reads ``scipy.__config__``);
    the real probe is restored right after, so Numba imports SciPy's BLAS when a function using
    it is compiled, as before.  Nothing is done when the module is already imported or Numba's
    internals differ (the probe then runs as Numba has it)."""
    if "numba.np.arraymath" in sys.modules:
        return
    try:
        from numba.np import linalg as la
    except ImportError:
        return
    real = getattr(la, "ensure_blas", None)
    if real is None:
        return

    def probe():
        if importlib.util.find_spec("scipy") is None:
            raise ImportError("scipy 0.16+ is required for linear algebra")
        check = getattr(la, "_check_lapack_int_width", None)
        if check is not None:
            check()

    la.ensure_blas = probe
    try:
        import numba.np.arraymath as am
    finally:
        la.ensure_blas = real
    if getattr(am, "ensure_blas", None) is probe:
        am.ensure_blas = real


_cheap_blas_probe()

NEAR = _rt.NEAR
SAFE_LO2, SAFE_HI2 = _rt.SAFE_LO**2, _rt.SAFE_HI**2
SAFE_HI = _rt.SAFE_HI
NEAR_DIFF = _rt.NEAR_DIFF
SINE_NEAR = _rt.SINE_NEAR
PI_HI, PI_LO = _rt.PI_HI, _rt.PI_LO
_SPLIT = 134217729.0  # 2**27 + 1

#: the decorator of every compiled function: machine code cached on disk, IEEE division
#: (x/0 -> inf or NaN, as NumPy: the row is then flagged, not an exception), no GIL held
jit = numba.njit(cache=True, error_model="numpy", nogil=True)
helper = numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")


# --------------------------------------------------------------------------------------------
# Double-double arithmetic
# --------------------------------------------------------------------------------------------


@helper
def two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@helper
def two_prod(a, b):
    p = a * b
    c = _SPLIT * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLIT * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@helper
def dd_div(ah, al, bh, bl):
    q1 = ah / bh
    ph, pl = two_prod(q1, bh)
    r = ((ah - ph) - pl + al - q1 * bl)
    return two_sum(q1, r / bh)


@helper
def pow2(x, ix):
    """``2**-k`` with ``max|x| 2**-k`` in [0.5, 1) (1.0 for a zero row): an exact scale."""
    m = 0.0
    for j in range(x.shape[1]):
        m = max(m, abs(x[ix, j]))
    if m == 0.0:
        return 1.0, 0
    k = math.frexp(m)[1]
    return math.ldexp(1.0, -k), k


@helper
def dd_dot(x, ix, sx, y, iy, sy):
    """``(sx x).(sy y)`` as a double-double (Ogita-Rump-Oishi Dot2; sx, sy exact scales)."""
    sh, sl = two_prod(x[ix, 0] * sx, y[iy, 0] * sy)
    for j in range(1, x.shape[1]):
        ph, pl = two_prod(x[ix, j] * sx, y[iy, j] * sy)
        sh, e = two_sum(sh, ph)
        sl = sl + (e + pl)
    return two_sum(sh, sl)


@helper
def dd_norm(u, iu):
    """``|u|`` as a double-double ``(hi, lo)``."""
    sh, sl = dd_dot(u, iu, 1.0, u, iu, 1.0)
    h = math.sqrt(sh)
    if h > 0:
        ph, pl = two_prod(h, h)
        corr = ((sh - ph) - pl + sl) / (2.0 * h)
    else:
        corr = 0.0
    return two_sum(h, corr)


# --------------------------------------------------------------------------------------------
# Invariants of one row (ok = False: the row goes to the NumPy core).  A vector is passed as
# its array of rows and a row index (``x, ix``): no array view per row (a view costs two
# atomic reference counts in Numba, measured 1.6x on the whole CNN kernel)
# --------------------------------------------------------------------------------------------


@helper
def norms_and_dot(x, ix, y, iy):
    sx = sy = sxy = 0.0
    for j in range(x.shape[1]):
        sx += x[ix, j] * x[ix, j]
        sy += y[iy, j] * y[iy, j]
        sxy += x[ix, j] * y[iy, j]
    ok = SAFE_LO2 <= sx <= SAFE_HI2 and SAFE_LO2 <= sy <= SAFE_HI2
    return math.sqrt(sx), math.sqrt(sy), sxy, ok


@helper
def sqnorms_and_dot(x, ix, y, iy):
    """``|x|^2, |y|^2, x.y`` in one pass (the NumPy emitter's ``sqnorm``, ``sqnorm``, ``dot``)."""
    sx = sy = sxy = 0.0
    for j in range(x.shape[1]):
        sx += x[ix, j] * x[ix, j]
        sy += y[iy, j] * y[iy, j]
        sxy += x[ix, j] * y[iy, j]
    ok = SAFE_LO2 <= sx <= SAFE_HI2 and SAFE_LO2 <= sy <= SAFE_HI2 and abs(sxy) <= SAFE_HI2
    return sx, sy, sxy, ok


@helper
def sqnorm(x, ix):
    s = 0.0
    for j in range(x.shape[1]):
        s += x[ix, j] * x[ix, j]
    return s, SAFE_LO2 <= s <= SAFE_HI2


@helper
def norm(x, ix):
    s, ok = sqnorm(x, ix)
    return math.sqrt(s), ok


@helper
def dot(x, ix, y, iy):
    s = 0.0
    for j in range(x.shape[1]):
        s += x[ix, j] * y[iy, j]
    return s, abs(s) <= SAFE_HI2


@helper
def total(x, ix):
    s = 0.0
    for j in range(x.shape[1]):
        s += x[ix, j]
    return s, abs(s) <= SAFE_HI


@helper
def difference(x, ix, y, iy, a, b, u, iu, v, iv, has_u, has_v, split, d):
    """``(|a x - b y|^2, 1.(a x - b y), x.y, ok)`` of one row, ``a x - b y`` written into
    ``d[0]``; the rows where ``a x`` and ``b y`` agree to ~1e-3 are formed again with the scales
    that are norms (of ``u``, ``v`` when ``has_u``, ``has_v``) in double-double and the products
    split exactly (as :func:`._runtime._refine_difference`).  ``split``: formed as
    ``a (x - (b/a) y)`` (the NumPy helper's rounding when the vector is not kept; ``d`` is then
    not written).  Not ok: beyond ``SAFE_HI^2``, NaN, or a square that underflowed (extended
    range: the NumPy core)."""
    sq = tot = xy = 0.0
    nz = False
    n = x.shape[1]
    if split:
        r = b / a
        for j in range(n):
            dj = x[ix, j] - r * y[iy, j]
            sq += dj * dj
            tot += dj
            xy += x[ix, j] * y[iy, j]
            nz |= dj != 0.0
        sq *= a
        sq *= a
        tot *= a
    else:
        for j in range(n):
            dj = a * x[ix, j] - b * y[iy, j]
            d[0, j] = dj
            sq += dj * dj
            tot += dj
            xy += x[ix, j] * y[iy, j]
            nz |= dj != 0.0
    if not (sq <= SAFE_HI2 and abs(xy) <= SAFE_HI2):
        return sq, tot, xy, False
    if sq < 1e-290 and nz:
        return sq, tot, xy, False
    if sq < NEAR_DIFF * abs(a * b * xy):
        if has_u:
            ah, al = dd_norm(u, iu)
        else:
            ah, al = a, 0.0
        if has_v:
            bh, bl = dd_norm(v, iv)
        else:
            bh, bl = b, 0.0
        sq2 = tot2 = 0.0
        for j in range(n):
            p1, e1 = two_prod(ah, x[ix, j])
            p2, e2 = two_prod(bh, y[iy, j])
            dj = (p1 - p2) + ((e1 - e2) + (al * x[ix, j] - bl * y[iy, j]))
            tot2 += dj
            sq2 += dj * dj
        if math.isfinite(sq2) and math.isfinite(tot2):
            for j in range(n):
                p1, e1 = two_prod(ah, x[ix, j])
                p2, e2 = two_prod(bh, y[iy, j])
                d[0, j] = (p1 - p2) + ((e1 - e2) + (al * x[ix, j] - bl * y[iy, j]))
            sq, tot = sq2, tot2
    return sq, tot, xy, True


@helper
def difference_fast(x, ix, y, iy, a, b, u, iu, v, iv, has_u, has_v, split, d):
    """:func:`difference` of the fast pass: not ok (the row goes to the careful pass) also where
    the square would need refining.  (The refinement's code, even never run, slows the whole
    loop: measured 1.17x vs 1.38x the bare loop on the fused CNN kernel.)"""
    sq = tot = xy = 0.0
    nz = False
    n = x.shape[1]
    if split:
        r = b / a
        for j in range(n):
            dj = x[ix, j] - r * y[iy, j]
            sq += dj * dj
            tot += dj
            xy += x[ix, j] * y[iy, j]
            nz |= dj != 0.0
        sq *= a
        sq *= a
        tot *= a
    else:
        for j in range(n):
            dj = a * x[ix, j] - b * y[iy, j]
            d[0, j] = dj
            sq += dj * dj
            tot += dj
            xy += x[ix, j] * y[iy, j]
            nz |= dj != 0.0
    ok = (sq <= SAFE_HI2 and abs(xy) <= SAFE_HI2 and not (sq < 1e-290 and nz)
          and not sq < NEAR_DIFF * abs(a * b * xy))
    return sq, tot, xy, ok


# --------------------------------------------------------------------------------------------
# Angle terms, rejection, edge series
# --------------------------------------------------------------------------------------------


@jit
def near_terms(x, ix, y, iy):
    """cos, sin, phi, pi - phi of a near-parallel pair, by the double-double rejection of
    ``y`` from ``x`` (as :func:`._runtime._near_terms`).  (Not inlined: rare rows.)"""
    sx, _ = pow2(x, ix)
    sy, _ = pow2(y, iy)
    dh, dl = dd_dot(x, ix, sx, y, iy, sy)
    nh, nl = dd_dot(x, ix, sx, x, ix, sx)
    kh, kl = dd_div(dh, dl, nh, nl)
    nx2 = ny2 = nr2 = 0.0
    for j in range(x.shape[1]):
        xj, yj = x[ix, j] * sx, y[iy, j] * sy
        ph, pl = two_prod(kh, xj)
        s, e = two_sum(yj, -ph)
        r = s + (e - pl - kl * xj)
        nx2 += xj * xj
        ny2 += yj * yj
        nr2 += r * r
    nr = math.sqrt(nr2)
    ny = math.sqrt(ny2)
    along = kh * math.sqrt(nx2)
    return along / ny, nr / ny, math.atan2(nr, along), math.atan2(nr, -along)


@helper
def angle_terms(x, ix, y, iy, dot_xy, norm_xy, want_phi, want_psi):
    """``(cos, sin, phi, pi - phi)``, each to full relative accuracy (see
    :func:`._runtime.angle_terms`); ``phi`` (``pi - phi``) is 0 unless ``want_phi``
    (``want_psi``): one arccos per row where only one is used."""
    c = dot_xy / norm_xy
    if abs(c) <= NEAR:
        phi = math.acos(c) if want_phi else 0.0
        psi = math.acos(-c) if want_psi else 0.0
        return c, math.sqrt((1.0 - c) * (1.0 + c)), phi, psi
    return near_terms(x, ix, y, iy)


@helper
def angle_terms_fast(dot_xy, norm_xy, want_phi, want_psi):
    """:func:`angle_terms` of the fast pass: ``(cos, sin, phi, pi - phi, ok)``, not ok on a
    near-parallel row (the careful pass takes it)."""
    c = dot_xy / norm_xy
    phi = math.acos(c) if want_phi else 0.0
    psi = math.acos(-c) if want_psi else 0.0
    return c, math.sqrt((1.0 - c) * (1.0 + c)), phi, psi, abs(c) <= NEAR


@helper
def clear_row(cs, r):
    for j in range(cs.shape[1]):
        cs[r, j] = 0.0


@helper
def angle_store(dot_xy, norm_xy, cs, r, col_phi, col_psi, scalar):
    """The first half of the hybrid fast pass: ``cos`` (column ``col_phi``) and ``-cos``
    (``col_psi``) of one row into the chunk ``cs`` (a column < 0: not wanted), for
    ``numpy.arccos`` in place (SIMD); their ``acos`` here when ``scalar`` (a small batch).  A
    near-parallel or non-finite row stores 0 (the second half flags it; arccos of 0 raises no
    warning)."""
    c = dot_xy / norm_xy
    if not abs(c) <= NEAR:
        c = 0.0
    if col_phi >= 0:
        cs[r, col_phi] = math.acos(c) if scalar else c
    if col_psi >= 0:
        cs[r, col_psi] = math.acos(-c) if scalar else -c


@helper
def angle_terms_chunk(dot_xy, norm_xy, cs, r, col_phi, col_psi):
    """:func:`angle_terms_fast` with ``phi`` (``pi - phi``) read from the chunk ``cs`` (the
    arccos of what :func:`angle_store` wrote for the row)."""
    c = dot_xy / norm_xy
    phi = cs[r, col_phi] if col_phi >= 0 else 0.0
    psi = cs[r, col_psi] if col_psi >= 0 else 0.0
    return c, math.sqrt((1.0 - c) * (1.0 + c)), phi, psi, abs(c) <= NEAR


@jit
def near_rejection(y, iy, x, ix, scale, out, io):
    """:func:`rejection` of a near-parallel pair in double-double (not inlined: rare rows)."""
    z = 0.0
    sy, ky = pow2(y, iy)
    sx, _ = pow2(x, ix)
    dh, dl = dd_dot(x, ix, sx, y, iy, sy)
    nh, nl = dd_dot(x, ix, sx, x, ix, sx)
    kh, kl = dd_div(dh, dl, nh, nl)
    for j in range(y.shape[1]):
        xj, yj = x[ix, j] * sx, y[iy, j] * sy
        ph, pl = two_prod(kh, xj)
        s, e = two_sum(yj, -ph)
        r = math.ldexp(s + (e - pl - kl * xj), ky) * scale
        out[io, j] = r
        z += r * 0.0
    return z == 0.0


@helper
def rejection(y, iy, x, ix, sqnorm_x, dot_xy, cos_xy, scale, out, io):
    """``out[io] = scale (y - (x.y/|x|^2) x)``; double-double on near-parallel rows.  Returns
    whether every entry is finite."""
    if abs(cos_xy) > NEAR:
        return near_rejection(y, iy, x, ix, scale, out, io)
    return rejection_fast(y, iy, x, ix, sqnorm_x, dot_xy, 0.0, scale, out, io)


@helper
def rejection_fast(y, iy, x, ix, sqnorm_x, dot_xy, cos_xy, scale, out, io):
    """:func:`rejection` of the fast pass: False (the careful pass takes the row) on a
    near-parallel row or a non-finite entry."""
    fin = abs(cos_xy) <= NEAR  # (e - e == 0 for a finite e: an and-reduction, vectorized)
    k = dot_xy / sqnorm_x
    for j in range(y.shape[1]):
        r = (y[iy, j] - k * x[ix, j]) * scale
        out[io, j] = r
        fin &= (r - r) == 0.0
    return fin


@helper
def rejection_bounded(y, iy, x, ix, sqnorm_x, dot_xy, cos_xy, scale, out, io):
    """:func:`rejection_fast` where the norms of ``y`` and ``x`` have been checked to be at most
    ``SAFE_HI``: every entry of ``y - (x.y/|x|^2) x`` is then at most ``2 SAFE_HI``, so the result
    is finite when ``|scale| <= 1e240`` (one test instead of one per entry: the loop vectorizes)."""
    k = dot_xy / sqnorm_x
    for j in range(y.shape[1]):
        out[io, j] = (y[iy, j] - k * x[ix, j]) * scale
    return abs(cos_xy) <= NEAR and abs(scale) <= 1e240


@helper
def cosine_or_zero(dot_xy, norm_xy):
    """``x.y / (|x||y|)``, and 0 where ``|x||y| = 0`` (as :func:`._runtime.cosine_or_zero`)."""
    if norm_xy == 0.0:
        return 0.0
    return dot_xy / norm_xy


@helper
def pi_minus(phi):
    return (PI_HI - phi) + PI_LO


@helper
def sine(phi, cos):
    if abs(cos) > SINE_NEAR:
        return math.sin(phi)
    return math.sqrt((1.0 - cos) * (cos + 1.0))


@helper
def poly(t, start, step, coeffs):
    u = t * t if step == 2 else t**step
    acc = coeffs[len(coeffs) - 1]
    for i in range(len(coeffs) - 2, -1, -1):
        acc = acc * u + coeffs[i]
    return acc * t**start


@helper
def taylor(h, t, below, start, step, coeffs):
    if t < below:
        return poly(t, start, step, coeffs)
    return h


@helper
def taylor_zero(h, cos, sin, edge, below, start, step, coeffs):
    """:func:`._runtime.taylor_zero`; ``edge = cos(below) (1 - 1e-12)`` (a constant of the
    emitted call)."""
    if cos > edge:
        return taylor(h, math.atan2(sin, cos), below, start, step, coeffs)
    return h


@helper
def taylor_pi(h, phi, below, start, step, coeffs):
    return taylor(h, pi_minus(phi), below, start, step, coeffs)



# --------------------------------------------------------------------------------------------
# The near-parallel test by squares (the fast pass of a rejection whose ``|x|`` serves only the
# test: weight normalization's gradients; printed by codegen/numba.py, ``_squares_plan``)
# --------------------------------------------------------------------------------------------

NEAR2 = NEAR * NEAR


@numba.njit(cache=True, error_model="numpy", nogil=True, fastmath={"reassoc", "contract"})
def sqnorm_for_test(x, ix):
    """``|x|^2`` summed in any order (vectorized): only for a test that decides which pass takes
    the row, never for a result.  (Not inlined by Numba: its fast-math flags stay its own; LLVM
    inlines it.  Summed in order, beside ``|y|^2`` and ``x.y``, it cost 1.5x the bare loop on
    ``wn.grad_g_and_grads``, vectorized 1.25x.)"""
    s = 0.0
    for j in range(x.shape[1]):
        s += x[ix, j] * x[ix, j]
    return s


@numba.njit(cache=True, error_model="numpy", nogil=True, fastmath={"reassoc", "contract"})
def row_sums(x, ix, y, iy):
    """``(|x|^2, |y|^2, x.y)`` of one row in one vectorized pass: summed in any order (SIMD
    partial sums, fused multiply-adds), not in the order of :func:`norms_and_dot` and the NumPy
    core (``runtime.rows._row_products``: column by column).  The sums are as accurate (the
    error bound of partial sums is smaller: about ``(p/w + log2 w) eps`` of ``sum |x_j y_j|``
    for ``w`` lanes, vs ``p eps`` in order); they differ from the NumPy backend's by a few ulp
    of ``sum |x_j y_j|``: ``|y|^2`` by a few ulp relative (positive terms), ``x.y`` by a few ulp
    of ``|x| |y|`` (absolutely: the agreement rule of ``wn.grad_g``, tests/test_backend_wn.py).
    In order, the two chains of ten dependent additions per row bound how many rows the CPU
    overlaps: ``wn.grad_g_and_grads``' kernel 1.17x the bare loop with the sums in order (and
    ``|x|^2`` alone vectorized, :func:`sqnorm_for_test`), 0.99-1.01x with all three here, at
    p = 10; 0.89x at p = 50 (N = 1e5, paired rounds, load 5).  (Not inlined by Numba: its
    fast-math flags stay its own; LLVM inlines it.)"""
    sx = sy = sxy = 0.0
    for j in range(x.shape[1]):
        sx += x[ix, j] * x[ix, j]
        sy += y[iy, j] * y[iy, j]
        sxy += x[ix, j] * y[iy, j]
    return sx, sy, sxy


@helper
def norm_and_dot_far(x, ix, y, iy):
    """``(|y|, x.y, far, ok)`` of one row, the sums in any order (:func:`row_sums`); ``far``:
    the pair is not near-parallel,
    ``(x.y)^2 <= NEAR^2 |x|^2 |y|^2`` (``|cos| <= NEAR`` without a square root or a division);
    ``ok``: both norms lie in ``[SAFE_LO, SAFE_HI]``.  Both are tested once, after the row is
    written (:func:`rejection_far`; an early exit on ``ok``, or ``ok`` and ``far`` folded into
    one flag, cost 5-8% of the loop)."""
    sx, sy, sxy = row_sums(x, ix, y, iy)
    ok = SAFE_LO2 <= sx <= SAFE_HI2 and SAFE_LO2 <= sy <= SAFE_HI2
    return math.sqrt(sy), sxy, sxy * sxy <= NEAR2 * (sx * sy), ok


@helper
def norm_sq_and_dot_far(x, ix, y, iy):
    """:func:`norm_and_dot_far` with ``|y|^2`` as summed (before the square root) as well:
    ``(|y|, |y|^2, x.y, far, ok)``, for a rejection that divides by ``|y|^2`` (printed by
    codegen/numba.py, ``_squares_plan``)."""
    sx, sy, sxy = row_sums(x, ix, y, iy)
    ok = SAFE_LO2 <= sx <= SAFE_HI2 and SAFE_LO2 <= sy <= SAFE_HI2
    return math.sqrt(sy), sy, sxy, sxy * sxy <= NEAR2 * (sx * sy), ok


@helper
def rejection_far(y, iy, x, ix, sqnorm_x, dot_xy, far, scale, out, io):
    """:func:`rejection_bounded` with the near-parallel test of :func:`norm_and_dot_far`
    (``far``) in place of the cosine; True when not near-parallel and ``|scale| <= 1e240`` (with
    the norms in range, every entry is then finite); else the careful pass takes the row."""
    k = dot_xy / sqnorm_x
    for j in range(y.shape[1]):
        out[io, j] = (y[iy, j] - k * x[ix, j]) * scale
    return far and abs(scale) <= 1e240


# --------------------------------------------------------------------------------------------
# Running a kernel over a batch (Python side)
# --------------------------------------------------------------------------------------------


def rows(x, shape, rank):
    """``x`` as an array of rows ``(n,) + core`` (``n`` the batch size): the rows themselves
    (C-contiguous) for a whole batch, a stride-0 view of its one point when one point is shared
    by every row (Numba compiles one kernel per layout it meets)."""
    core = x.shape[x.ndim - rank:]
    own = x.shape[: x.ndim - rank]
    n = math.prod(shape)
    if own == tuple(shape):
        r = x.reshape((n,) + core)
        if not r.flags.c_contiguous:
            r = numpy.ascontiguousarray(r)
    elif math.prod(own) == 1:
        r = numpy.ascontiguousarray(x.reshape(core))
        r = numpy.broadcast_to(r, (n,) + core)
    else:  # a partly broadcast argument (rare): the rows written out
        r = numpy.ascontiguousarray(numpy.broadcast_to(x, tuple(shape) + core).reshape((n,) + core))
    return (r,)


def outputs(out, shape, cores):
    """The output arrays the kernel writes (``(n,) + core`` each, C-contiguous) and the arrays
    returned: fresh, or the validated ``out=`` buffers (written directly when contiguous)."""
    n = math.prod(shape)
    bufs = (None,) * len(cores) if out is None else _rt.buffers(out, len(cores))
    flat, final = [], []
    for o, core in zip(bufs, cores):
        target = tuple(shape) + core
        if o is None:
            o = numpy.empty(target)
        else:
            _rt._check_out(o, target)
        final.append(o)
        if o.shape == (n,) + core:  # (a 1-d batch: the array itself)
            flat.append(o if o.flags.c_contiguous else numpy.empty((n,) + core))
        else:
            flat.append(o.reshape((n,) + core) if o.flags.c_contiguous else numpy.empty((n,) + core))
    return flat, final


#: rows per chunk of a hybrid fast pass: at most ``CHUNK``, and the rows' inputs within
#: ``CHUNK_BYTES`` (they stay in L2 between the two halves); below ``HYBRID_ROWS`` rows the
#: arccos is taken in the compiled first half
CHUNK = 2048
CHUNK_BYTES = 1 << 19
HYBRID_ROWS = 32


def run(kernel, careful, core, shape, args, ranks, cores, out, angles=None, later=()):
    """Run ``kernel`` (the emitted fast loop over rows) on checked arguments and return what the
    NumPy function returns; rows it flags (near-parallel, a completed square to refine, extended
    range, bad input) are evaluated again by ``careful`` (the same body with the double-double
    paths), and rows that one flags by ``core`` (the NumPy core of the same function: extended
    range, or its error).  ``ranks``: 1 for a vector argument, 0 for a scalar, None for an
    integer (passed as it is).  A kernel whose last batch had mostly rare rows (GD near the
    teacher) runs the careful pass alone.  ``angles``: ``(first half, columns)`` of a hybrid
    fast pass (:func:`derivations.codegen.numba.kernel_source`): per chunk of ``CHUNK`` rows
    the first half stores the cosines, ``numpy.arccos`` (SIMD) turns them into angles in place,
    and ``kernel`` finishes the rows.  ``angles`` of five, ``(first half, columns, scalars,
    second half, row bytes)``: the hybrid pass (that second half) on ``CHUNK`` or more rows of
    at most that many bytes of input, ``kernel`` (one pass) on wider rows or fewer (the fused
    CNN function, whose second half forms its difference vector again: below a chunk its
    extra calls, ~4 us, cost more than the arccos saves; measured 16 vs 13 us at 64 rows,
    equal at 2048).  ``later``: ``(name, argument)`` of the scalars whose NaN/inf test the
    public function left to this call (``_rt.scalar(name, x, finite=None)``; the fast kernel
    flags every row where one is not finite, :func:`derivations.codegen.numba._later_scalars`):
    tested (:func:`derivations.runtime.finite`, the NumPy backend's message) before the careful
    pass or the NumPy core sees a flagged row, and before an ``out=`` error, i.e. before any
    error that comes after it in the NumPy backend's order; a batch with no flagged row has
    none (one pass over the argument less: ``g`` of ``wn.grad_g_and_grads`` at N = 1e5, ~0.02
    ms, a read of 0.8 MB the kernel makes anyway)."""
    n = math.prod(shape)
    try:
        flat, final = outputs(out, shape, cores)
    except Exception:
        for name, x in later:
            _rt.finite(name, x)
        raise
    ins = []
    for x, r in zip(args, ranks):
        if r is None:
            ins.append(x)
        else:
            ins.extend(rows(x, shape, r))
    bad = numpy.zeros(n, dtype=numpy.uint8)
    skip = _mostly_rare.get(kernel, 0)
    if skip:  # the careful pass alone (the fast one is tried again every 8th call)
        _mostly_rare[kernel] = skip - 1
        for name, x in later:
            _rt.finite(name, x)
        nbad = careful(numpy.arange(n), *ins, *flat, bad)
    else:
        if angles is not None and len(angles) > 3:  # hybrid on narrow rows, a chunk or more
            angles = angles if n >= CHUNK and _row_bytes(ins) <= angles[4] else None
        if angles is None:
            nflag = kernel(n, *ins, *flat, bad)
        else:
            nflag = _hybrid(kernel if len(angles) == 3 else angles[3], angles, n, ins, flat, bad)
        nbad = 0
        if nflag:
            for name, x in later:
                _rt.finite(name, x)
            nbad = careful(numpy.flatnonzero(bad), *ins, *flat, bad)
        if n >= 16 and 2 * nflag > n:
            _mostly_rare[kernel] = 8
    if nbad:
        _patch(core, shape, args, ranks, bad, flat)
    for f, o in zip(flat, final):  # (a view of o: written in place; ``shares_memory`` of two
        if f is not o and f.base is not o and not numpy.shares_memory(f, o):  # 8 MB, ~6 us)
            numpy.copyto(o, f.reshape(o.shape))
    if out is None:
        final = [f[()] if f.ndim == 0 else f for f in final]
    return tuple(final) if len(final) > 1 else final[0]


def _chunk(ins):
    """Rows per chunk: the rows' inputs within ``CHUNK_BYTES`` (kept in L2 between the halves),
    between 256 and ``CHUNK`` rows."""
    return max(256, min(CHUNK, CHUNK_BYTES // max(_row_bytes(ins), 1)))


def _row_bytes(ins):
    """Bytes of input per row (the vector arguments that vary by row)."""
    return sum(x.itemsize * (x.size // x.shape[0]) for x in ins
               if isinstance(x, numpy.ndarray) and x.ndim and x.strides[0])


def _hybrid(kernel, angles, n, ins, flat, bad):
    first, ncol, nkept = angles[:3]
    chunk = _chunk(ins)
    m = min(n, chunk)
    cs, cv = numpy.empty((m, ncol)), numpy.empty((m, nkept))
    scalar = n < HYBRID_ROWS
    nflag = 0
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        first(lo, hi, *ins, cs, cv, scalar)
        if not scalar:
            c = cs[: hi - lo]
            numpy.arccos(c, out=c)
        nflag += kernel(lo, hi, *ins, *flat, bad, cs, cv)
    return nflag


_mostly_rare: dict = {}  # kernel -> calls left on the careful pass alone (most rows were rare)


def _patch(core, shape, args, ranks, bad, flat):
    idx = numpy.flatnonzero(bad)
    sub = []
    for x, r in zip(args, ranks):
        if r is None:
            sub.append(x)
            continue
        own = x.shape[: x.ndim - r]
        coreshape = x.shape[x.ndim - r:]
        if math.prod(own) == 1 and own != tuple(shape):
            sub.append(x.reshape(coreshape))
        else:
            sub.append(numpy.broadcast_to(x, tuple(shape) + coreshape).reshape((-1,) + coreshape)[idx])
    res = core(_rt._shape((len(idx),), shape.args), *sub)
    res = res if isinstance(res, tuple) else (res,)
    for f, r in zip(flat, res):
        f[idx] = r
