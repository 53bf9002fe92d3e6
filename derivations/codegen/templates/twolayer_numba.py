"""TEMPLATE of the two-layer engine's compiled assembly (issue 20 item 7): not imported.

:func:`derivations.codegen.templates.twolayer.numba_module_source` copies the code below into the generated
module ``derivations/generated/twolayer_kernels_numba.py``: the part between ``# <shared>`` and
``# </shared>`` once, the part after ``# <per activation>`` once per activation with ``_K_``
replaced by the activation's name, so every activation gets its own compiled loops calling its
own derived pair kernels (``_K_kappa``, ``_K_grad``, ``_K_dgrad``, ``_K_hess``, ``_K_self``,
printed from SymPy by the same emitter).  ``_jit`` is ``numba.njit(cache=True,
error_model="numpy")`` there.

The same chain rule as the NumPy engine (:class:`derivations.twolayer.model.Core`), in the same
order of operations where it matters (norms, normalized vectors, clipped cosines, the Kahan
angle for ``|cos phi| > 0.9``, the rejection frame), so both agree to rounding.  The work of one
block of parameter points is split in three calls (:mod:`derivations.twolayer.compiled`):

1. ``prepare``: norms, normalized vectors and the clipped cosines of all pairs (the Gram
   matrix by BLAS through ``np.dot``);
2. ``np.arccos`` of the block's cosines (NumPy's SIMD loop: 1.3 ns per entry against 14 ns for
   a scalar ``math.acos`` in compiled code, measured on the 2-core VM);
3. ``_K_asm_loss`` / ``_K_asm_hess`` / ``_K_asm_hvp``: the stable angle at the edges, the
   derived pair terms and the chain rule, point by point, into preallocated outputs.

The gradient has its own passes over chunks of points: ``prepare_chunk`` (the chunk's students
transposed, the raw student Gram entries by one small BLAS product per point, packed (each
pair once, lower triangle) and scaled by the norms; the student-teacher cosines as one ``(m,
chunk rows)`` array, by one BLAS product per chunk when the teacher is shared; the sines and
the count of edge pairs in the same loops), ``np.arccos`` of the chunk, then ``_K_asm_grad``:
the Kahan angle of the edge pairs (:func:`chunk_edges`), the student-teacher pair terms in long
vectorized rows and their part of ``dl/dU`` as one BLAS product per chunk, then per point the
student pairs in both orders and ``dl/dU_p += A @ U_p`` (BLAS :func:`gemm`, accumulating).
The gradient's pair terms are ``_K_grad_r`` / ``_K_dgrad_r``: the derived kernels with the
negative powers of the first norm as powers of its reciprocal (computed once per unit), so
no pair costs a division.
"""
# flake8: noqa
# pylint: skip-file
import math

import numpy as np

_jit = None  # numba.njit(...) in the generated module

# <shared>
#: pairs with cos(phi)^2 above this get the stable (Kahan) angle (model.EDGE_COS ** 2)
EDGE_C2 = 0.81
#: the norms the engine evaluates (model.NORM_LO, NORM_HI); outside: the "bad vector" return
NORM_LO, NORM_HI = 1e-150, 1e150


from numba import types as _nbtypes
from numba.core.extending import intrinsic as _intrinsic

#: BLAS ``dgemm`` through Numba's own binding (the C helper ``numba_xxgemm`` behind ``np.dot``,
#: which calls scipy.linalg.cython_blas): resolved by symbol name, so cached machine code stays
#: valid; unlike ``np.dot`` it takes leading dimensions, transposes and ``beta`` (accumulate)
_xxgemm = _nbtypes.ExternalFunction("numba_xxgemm", _nbtypes.intc(
    _nbtypes.char, _nbtypes.char, _nbtypes.char, _nbtypes.intp, _nbtypes.intp, _nbtypes.intp,
    _nbtypes.CPointer(_nbtypes.float64), _nbtypes.CPointer(_nbtypes.float64), _nbtypes.intp,
    _nbtypes.CPointer(_nbtypes.float64), _nbtypes.intp, _nbtypes.CPointer(_nbtypes.float64),
    _nbtypes.CPointer(_nbtypes.float64), _nbtypes.intp))


@_intrinsic
def _ptr(typingctx, arr):
    """The data pointer of an array (its first element), for :func:`gemm`."""
    sig = _nbtypes.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        return context.make_array(signature.args[0])(context, builder, args[0]).data
    return sig, codegen


@_jit_inline
def gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, sc):
    """``C (M, N) := op(A) @ op(B) + beta C`` by BLAS on row-major operands given by their
    first element and leading dimension (``ta``/``tb``: the operand is stored transposed,
    ``(K, M)`` / ``(N, K)``); ``sc``: two floats of scratch (alpha and beta go by pointer)."""
    sc[0] = 1.0
    sc[1] = beta
    # column-major BLAS: C^T = op(B)^T op(A)^T
    return _xxgemm(np.int8(100), np.int8(116 if tb else 110), np.int8(116 if ta else 110),
                   N, M, K, _ptr(sc), _ptr(B), ldb, _ptr(A), lda, _ptr(sc[1:]), _ptr(C), ldc)


@_jit_fast
def prepare(U, T, R, nx, Xh, C):
    """Pass 1 for a block: ``nx (B, n+m)`` norms, ``Xh (B, n+m, d)`` normalized vectors,
    ``C (B, R, n+m)`` clipped cosines of the first ``R`` vectors with all.  Returns 0, or 1 if
    a student vector is zero, 2 if a teacher vector is (then nothing else is meaningful)."""
    B, n, d = U.shape
    m = T.shape[1]
    bad = 0
    for p in range(B):
        tp = p if T.shape[0] > 1 else 0
        Xp = Xh[p]
        for i in range(n + m):
            x = U[p, i] if i < n else T[tp, i - n]
            sq = 0.0
            for l in range(d):
                sq += x[l] * x[l]
            r = math.sqrt(sq)
            nx[p, i] = r
            if r < NORM_LO or r > NORM_HI:
                if i < n:
                    bad = 1
                elif bad == 0:
                    bad = 2
                r = 1.0
            y = Xp[i]
            for l in range(d):
                y[l] = x[l] / r
        if bad:
            continue
        Cp = C[p]
        np.dot(Xp[:R], Xp.T, Cp)
        for i in range(R):
            row = Cp[i]
            for j in range(n + m):
                row[j] = min(max(row[j], -1.0), 1.0)
    return bad


@_jit_inline
def geom(Cp, Pp, Xp, i, j):
    """``(c, s, phi)`` of the pair (i, j) of one point, as ``model._geometry``."""
    c = Cp[i, j]
    if c * c > EDGE_C2:
        x = Xp[i]
        y = Xp[j]
        s1 = 0.0
        s2 = 0.0
        for l in range(x.shape[0]):
            dm = x[l] - y[l]
            dp = x[l] + y[l]
            s1 += dm * dm
            s2 += dp * dp
        phi = 2.0 * math.atan2(math.sqrt(s1), math.sqrt(s2))
        return math.cos(phi), math.sin(phi), phi
    return c, math.sqrt(1.0 - c * c), Pp[i, j]


@_jit_inline
def row_geom(Cp, Pp, Xp, r, j0, j1, cs, ss, ps):
    """``(c, s, phi)`` of the pairs (r, j), j0 <= j < j1, into ``cs, ss, ps``: a loop the
    compiler vectorizes (it also counts the edge pairs), then, if there are any besides the
    diagonal (r, r), those redone by :func:`geom` (the diagonal is left as it is: the caller
    replaces it by the self terms)."""
    cr = Cp[r]
    pr = Pp[r]
    ne = 0
    for j in range(j0, j1):
        c = cr[j]
        cs[j] = c
        ss[j] = math.sqrt(1.0 - c * c)
        ps[j] = pr[j]
        ne += 1 if c * c > EDGE_C2 else 0
    if ne > (1 if j0 <= r < j1 else 0):
        for j in range(j0, j1):
            c = cr[j]
            if j != r and c * c > EDGE_C2:
                cs[j], ss[j], ps[j] = geom(Cp, Pp, Xp, r, j)


@_jit_inline
def frame(Xp, i, j, c, e):
    """``e`` := unit rejection of ``x^_j`` from ``x^_i`` (zero if parallel), as
    ``model._frame``."""
    x = Xp[i]
    y = Xp[j]
    d = x.shape[0]
    for l in range(d):
        e[l] = y[l] - c * x[l]
    t = 0.0
    for l in range(d):
        t += e[l] * x[l]
    sq = 0.0
    for l in range(d):
        e[l] -= t * x[l]
        sq += e[l] * e[l]
    nr = math.sqrt(sq)
    if nr > 0.0:
        for l in range(d):
            e[l] = e[l] / nr
    else:
        for l in range(d):
            e[l] = 0.0


@_jit_inline
def grad_views(V, n, m, d, Bm, tb):
    """The gradient's scratch as views of one flat workspace ``V`` (``grad_ws_size`` floats) for
    chunks of at most ``Bm`` points: ``(nu, rn, nt, Th, G, UT, GT, UC, CB, PB, SB, AT, ct, kt, A,
    cf, ka, Y, Z, bs)`` (one array argument instead of nineteen: each costs ~0.1 us to unbox)."""
    R = Bm * n
    bt = Bm if tb else 1
    L = Bm * (n * (n - 1) // 2 + n * m)
    o = 0
    nu = V[o:o + R]
    o += R
    rn = V[o:o + R]
    o += R
    nt = V[o:o + bt * m].reshape((bt, m))
    o += bt * m
    Th = V[o:o + bt * m * d].reshape((bt, m, d))
    o += bt * m * d
    G = V[o:o + n * n].reshape((n, n))
    o += n * n
    UT = V[o:o + d * n].reshape((d, n))
    o += d * n
    GT = V[o:o + m * n].reshape((m, n))
    o += m * n
    UC = V[o:o + d * R]
    o += d * R
    CB = V[o:o + L]
    o += L
    PB = V[o:o + L]
    o += L
    SB = V[o:o + L]
    o += L
    AT = V[o:o + m * R]
    o += m * R
    ct = V[o:o + R]
    o += R
    kt = V[o:o + R]
    o += R
    A = V[o:o + n * n].reshape((n, n))
    o += n * n
    cf = V[o:o + n]
    o += n
    ka = V[o:o + n]
    o += n
    Y = V[o:o + n * d].reshape((n, d))
    o += n * d
    Z = V[o:o + n * m].reshape((n, m))
    o += n * m
    bs = V[o:o + 2]
    return nu, rn, nt, Th, G, UT, GT, UC, CB, PB, SB, AT, ct, kt, A, cf, ka, Y, Z, bs


def grad_ws_layout(n, m, d, Bm, tb):
    """``(size, offset of CB)`` of :func:`grad_views`' workspace, in floats (plain Python, for
    the caller: it runs ``np.arccos`` on ``CB`` into ``PB``, which follows it)."""
    R = Bm * n
    bt = Bm if tb else 1
    L = Bm * (n * (n - 1) // 2 + n * m)
    cb = 2 * R + bt * m + bt * m * d + n * n + d * n + m * n + d * R
    return cb + 3 * L + m * R + 2 * R + n * n + 2 * n + n * d + n * m + 2, cb


@_jit_grad
def prepare_chunk(U2, T, n, s0, s1, Bm, V):
    """Pass 1 of the gradient for the points ``s0 <= p < s1`` (``B <= Bm`` of them, chunk rows
    ``r = (p - s0) n + i``) of the students ``U2 (N n, d)`` and teachers ``T (1 or N, m, d)``,
    into views of the workspace ``V`` (:func:`grad_views`): ``nu[r]``, ``rn[r]`` the student
    norms and their reciprocals, ``nt (1 or B, m)`` the teacher norms and ``Th`` the normalized
    teachers, ``CB`` the clipped cosines of the chunk in two regions: the student pairs (i, j),
    j > i, of each point packed row by row of the lower triangle (``B nss``, ``nss = n (n-1)/2``),
    then the student-teacher pairs as an ``(m, B n)`` array (one row per teacher: long rows for
    the pass), and ``SB`` their sines ``sqrt(1 - c^2)`` (in the same loops).  Student cosines:
    the raw Gram entry ``U_p U_p^T`` (BLAS, one small product per point, :func:`gemm` on the
    point's columns of the chunk's transposed copy ``UC`` (flat, ``(d, B n)``); ``G``: scratch)
    over the norms; student-teacher cosines: ``Th @ U^T`` (one BLAS product for the chunk when
    the teacher is shared, on ``UC``: two C-ordered operands are BLAS's fast case; per point
    otherwise) over the student norm.  Returns the number of pairs with ``c^2 > EDGE_C2`` (for
    :func:`chunk_edges`), or -1 if a student vector is zero, -2 if a teacher vector is (then
    nothing else is meaningful)."""
    d = U2.shape[1]
    m = T.shape[1]
    tb = T.shape[0] > 1
    (nu, rn, nt, Th, G, _UT, _GT, UC, CB, _PB, SB, _AT, _ct, _kt, _A, _cf, _ka, _Y, _Z,
     bs) = grad_views(V, n, m, d, Bm, tb)
    B = s1 - s0
    R = B * n
    nss = n * (n - 1) // 2
    bad = 0
    for g in range(B if tb else 1):
        for t in range(m):
            x = T[s0 + g if tb else 0, t]
            sq = 0.0
            for l in range(d):
                sq += x[l] * x[l]
            r = math.sqrt(sq)
            nt[g, t] = r
            if r < NORM_LO or r > NORM_HI:
                bad = -2
                r = 1.0
            y = Th[g, t]
            for l in range(d):
                y[l] = x[l] / r
    o = B * nss
    Ct = CB[o:o + m * R].reshape((m, R))
    St = SB[o:o + m * R].reshape((m, R))
    UCv = UC[:d * R].reshape((d, R))
    edges = 0
    for q in range(B):
        p = s0 + q
        Uq = U2[p * n:(p + 1) * n]
        base = q * n
        for l in range(d):      # the transpose, written row by row (contiguous stores)
            uc = UCv[l, base:base + n]
            for i in range(n):
                uc[i] = Uq[i, l]
        # G := UC_p^T UC_p (the point's n columns of UC, leading dimension R)
        gemm(True, False, n, n, d, UC[base:], R, UC[base:], R, 0.0, G, n, bs)
        for i in range(n):
            r = math.sqrt(G[i, i])
            if r < NORM_LO or r > NORM_HI:
                return -1
            nu[base + i] = r
            rn[base + i] = 1.0 / r
        k = q * nss
        for j in range(1, n):
            gj = G[j]
            rj = rn[base + j]
            rr = rn[base:base + j]
            dst = CB[k:k + j]
            for i in range(j):
                c = gj[i] * rj * rr[i]
                c = c if c < 1.0 else 1.0
                dst[i] = c if c > -1.0 else -1.0
            k += j
        if tb and bad == 0:     # Ct[:, base:base + n] := Th_p @ UC_p
            gemm(False, False, m, n, d, Th[q], d, UC[base:], R, 0.0, CB[o + base:], R, bs)
    if bad:
        return bad
    for x in range(o):      # the student pairs' sines: one long loop (the rows above are short)
        c = CB[x]
        SB[x] = math.sqrt(1.0 - c * c)
        edges += 1 if c * c > EDGE_C2 else 0
    if not tb:
        np.dot(Th[0], UCv, Ct)
    for t in range(m):
        ct = Ct[t]
        st = St[t]
        for r in range(R):
            c = ct[r] * rn[r]
            c = c if c < 1.0 else 1.0
            c = c if c > -1.0 else -1.0
            ct[r] = c
            st[r] = math.sqrt(1.0 - c * c)
            edges += 1 if c * c > EDGE_C2 else 0
    return edges


@_jit
def chunk_edges(U2, T, n, s0, s1, nu, nt, CB, PB, SB):
    """The pairs of a chunk (packed as by :func:`prepare_chunk`) with ``c^2 > EDGE_C2``:
    ``(c, s, phi)`` redone with the Kahan angle ``2 atan2(|x^ - y^|, |x^ + y^|)`` of the
    normalized vectors, as ``model._geometry``."""
    m = T.shape[1]
    tb = T.shape[0] > 1
    B = s1 - s0
    R = B * n
    nss = n * (n - 1) // 2
    for x in range(B * nss):
        c = CB[x]
        if c * c > EDGE_C2:
            q = x // nss
            k = x - q * nss
            j = 1
            while k >= j:
                k -= j
                j += 1
            r0 = (s0 + q) * n
            kahan(U2[r0 + k], U2[r0 + j], nu[q * n + k], nu[q * n + j], CB, PB, SB, x)
    for y in range(m * R):
        x = B * nss + y
        c = CB[x]
        if c * c > EDGE_C2:
            t = y // R
            r = y - t * R
            g = r // n if tb else 0
            kahan(U2[s0 * n + r], T[s0 + g if tb else 0, t], nu[r], nt[g, t], CB, PB, SB, x)


@_jit_inline
def kahan(x, y, nx, ny, Cq, Pq, Sq, k):
    """``Cq[k], Sq[k], Pq[k]`` := cos, sin of the angle ``2 atan2(|x^ - y^|, |x^ + y^|)`` of
    ``x, y`` (norms ``nx, ny``), and the angle."""
    s1 = 0.0
    s2 = 0.0
    for l in range(x.shape[0]):
        xl = x[l] / nx
        yl = y[l] / ny
        dm = xl - yl
        dp = xl + yl
        s1 += dm * dm
        s2 += dp * dp
    phi = 2.0 * math.atan2(math.sqrt(s1), math.sqrt(s2))
    Cq[k] = math.cos(phi)
    Sq[k] = math.sin(phi)
    Pq[k] = phi
# </shared>


# <per activation>
@_jit_fast
def _K_asm_loss(U, a, T, b, prm, nx, Xh, C, P, S, out):
    """``1/2 [a^T K(U,U) a - 2 a^T K(U,T) b + b^T K(T,T) b]`` of every point (C, P: the
    cosines and arccos of all n+m vectors with all; ``S (4, n+m)``: scratch)."""
    B, n, d = U.shape
    m = T.shape[1]
    cs, ss, ps, kk = S[0], S[1], S[2], S[3]
    for p in range(B):
        tp = p if T.shape[0] > 1 else 0
        ap = a[p]
        bp = b[tp]
        Cp = C[p]
        Pp = P[p]
        Xp = Xh[p]
        nxp = nx[p]
        qa = 0.0
        sa = 0.0
        cr = 0.0
        for i in range(n):
            row_geom(Cp, Pp, Xp, i, i + 1, n + m, cs, ss, ps)
            ni = nxp[i]
            for l in range(i + 1, n + m):
                kk[l] = _K_kappa(ni, nxp[l], cs[l], ss[l], ps[l], prm)
            for l in range(i + 1, n):
                qa += ap[i] * ap[l] * kk[l]
            for j in range(m):
                cr += ap[i] * bp[j] * kk[n + j]
            sa += ap[i] * ap[i] * _K_self(ni, prm)[0]
        qb = 0.0
        sb = 0.0
        for j in range(m):
            row_geom(Cp, Pp, Xp, n + j, n + j + 1, n + m, cs, ss, ps)
            nj = nxp[n + j]
            for l in range(n + j + 1, n + m):
                kk[l] = _K_kappa(nj, nxp[l], cs[l], ss[l], ps[l], prm)
            for l in range(j + 1, m):
                qb += bp[j] * bp[l] * kk[n + l]
            sb += bp[j] * bp[j] * _K_self(nj, prm)[0]
        out[p] = 0.5 * ((2.0 * qa + sa) + (2.0 * qb + sb)) - cr


@_jit_grad
def _K_asm_grad(U2, a2, T, b, prm, n, s0, s1, Bm, V, want_a, gU2, gA, edges):
    """``dl/dU`` (rows ``gU2[p n:(p+1) n]``) and, when ``want_a``, ``gA[p] = dl/da`` (without it
    the kernel itself is not evaluated) for the points ``s0 <= p < s1`` of a chunk prepared by
    :func:`prepare_chunk` in the workspace ``V`` (:func:`grad_views`: ``nu``, ``rn``, ``nt``,
    ``CB``; ``PB`` the arccos of ``CB``).

    ``edges``: :func:`prepare_chunk`'s count of edge pairs (redone first by :func:`chunk_edges`
    when there are any; ``SB`` holds the sines).  Flat passes over the whole chunk: the student-teacher pair terms in
    long rows of ``(m, B n)`` into ``AT`` (the coefficient of teacher t in the gradient of
    student row r) and the sums ``ct``, ``kt`` over the teachers, and ``dl/dU = AT^T @ T`` as
    one BLAS product for the chunk when the teacher is shared.  Then per point the student
    pairs, each once in both orders, into ``A (n, n)`` (diagonal: the self term and the
    partner sums) and ``gU_p += A @ U_p`` (BLAS :func:`gemm`, accumulating).  ``cf``, ``ka
    (n)``: scratch (views of ``V``).  ``a2``: the output weights flat ``(N n)``."""
    d = U2.shape[1]
    m = T.shape[1]
    tb = T.shape[0] > 1
    (nu, rn, nt, Th, G, UT, GT, UC, CB, PB, SB, AT, ct, kt, A, cf, ka, Y,
     Z, bs) = grad_views(V, n, m, d, Bm, tb)
    B = s1 - s0
    R = B * n
    nss = n * (n - 1) // 2
    if edges:
        chunk_edges(U2, T, n, s0, s1, nu, nt, CB, PB, SB)
    ab = a2[s0 * n:s1 * n]
    for r in range(R):
        ct[r] = 0.0
        kt[r] = 0.0
    o = B * nss
    ATc = AT[:m * R].reshape((m, R))
    nseg = B if tb else 1
    seg = n if tb else R
    for t in range(m):
        for g in range(nseg):
            r0 = o + t * R + g * seg    # slices first: indices from 0 vectorize (no wraparound)
            cr = CB[r0:r0 + seg]
            sr = SB[r0:r0 + seg]
            pr = PB[r0:r0 + seg]
            atr = ATc[t, g * seg:(g + 1) * seg]
            abr = ab[g * seg:(g + 1) * seg]
            nur = nu[g * seg:(g + 1) * seg]
            rnr = rn[g * seg:(g + 1) * seg]
            ctr = ct[g * seg:(g + 1) * seg]
            ktr = kt[g * seg:(g + 1) * seg]
            nj = nt[g, t]
            bt = b[s0 + g if tb else 0, t]
            if want_a:
                for r in range(seg):
                    kk, g1, g2 = _K_grad_r(nur[r], rnr[r], nj, cr[r], sr[r], pr[r], prm)
                    atr[r] = -abr[r] * bt * g2
                    ctr[r] -= bt * g1
                    ktr[r] -= bt * kk
            else:
                for r in range(seg):
                    g1, g2 = _K_dgrad_r(nur[r], rnr[r], nj, cr[r], sr[r], pr[r], prm)
                    atr[r] = -abr[r] * bt * g2
                    ctr[r] -= bt * g1
    gUc = gU2[s0 * n:s1 * n]
    if not tb:
        np.dot(ATc.T, T[0], gUc)
    for q in range(B):
        p = s0 + q
        base = q * n
        if tb:      # gU_p := AT_p^T @ T_p (AT_p: columns base.. of AT, leading dimension R)
            gemm(True, False, n, d, m, AT[base:], R, T[p], d, 0.0, gUc[base:base + n], d, bs)
        for i in range(n):
            cf[i] = 0.0
            ka[i] = 0.0
        k = q * nss
        nuq = nu[base:base + n]
        rnq = rn[base:base + n]     # the reciprocal norms: the kernels' 1/a as products
        aq = ab[base:base + n]
        for j in range(1, n):
            nj = nuq[j]
            rj = rnq[j]
            aj = aq[j]
            Aj = A[j]
            cr = CB[k:k + j]
            sr = SB[k:k + j]
            pr = PB[k:k + j]
            cj = 0.0
            kj = 0.0
            for i in range(j):
                ni = nuq[i]
                ri = rnq[i]
                ai = aq[i]
                c = cr[i]
                s = sr[i]
                ph = pr[i]
                if want_a:
                    kk, g1, g2 = _K_grad_r(ni, ri, nj, c, s, ph, prm)
                    ka[i] += aj * kk
                    kj += ai * kk
                else:
                    g1, g2 = _K_dgrad_r(ni, ri, nj, c, s, ph, prm)
                h1, h2 = _K_dgrad_r(nj, rj, ni, c, s, ph, prm)
                w = ai * aj
                cf[i] += aj * g1
                A[i, j] = w * g2
                Aj[i] = w * h2
                cj += ai * h1
            cf[j] += cj
            ka[j] += kj
            k += j
        for i in range(n):
            ai = aq[i]
            D, d1, _h0, _h11 = _K_self(nuq[i], prm)
            A[i, i] = ai * ((cf[i] + 0.5 * ai * d1) + ct[base + i])
            if want_a:
                gA[p, i] = (ka[i] + ai * D) + kt[base + i]
        # gU_p += A @ U_p (BLAS, accumulating: no temporary, no add pass)
        gemm(False, False, n, d, n, A, n, U2[p * n:(p + 1) * n], d, 1.0, gUc[base:base + n], d,
             bs)


@_jit_inline
def _K_asm_terms(nxp, Cp, Pp, Xp, i, j, prm, e):
    """The 12 pair terms of (i, j) and the frame vector ``e`` (filled in)."""
    c, s, phi = geom(Cp, Pp, Xp, i, j)
    frame(Xp, i, j, c, e)
    return _K_hess(nxp[i], nxp[j], c, s, phi, prm)


@_jit
def _K_asm_point_pieces(p, U, a, T, b, prm, nx, Xh, C, P, E, TT, DB, own, Kaa, train):
    """For point ``p``: ``E (n, n+m, d)`` frames, ``TT (n, n+m, 12)`` pair terms (zero on the
    diagonal), ``DB (n, d, d)`` the diagonal blocks of d2l/dU2, and when ``train`` ``own (n,
    d)`` (the i == l column of d2l/du_i da_l) and ``Kaa (n, n)``."""
    B, n, d = U.shape
    m = T.shape[1]
    tp = p if T.shape[0] > 1 else 0
    ap = a[p]
    bp = b[tp]
    Cp = C[p]
    Pp = P[p]
    Xp = Xh[p]
    nxp = nx[p]
    for i in range(n):
        xi = Xp[i]
        c0 = 0.0
        cuu = 0.0
        cross = np.zeros(d)
        blk = DB[i]
        for l in range(d):
            for q in range(d):
                blk[l, q] = 0.0
        for j in range(n + m):
            tt = TT[i, j]
            e = E[i, j]
            if j == i:
                for q in range(12):
                    tt[q] = 0.0
                for l in range(d):
                    e[l] = 0.0
                continue
            h = _K_asm_terms(nxp, Cp, Pp, Xp, i, j, prm, e)
            for q in range(12):
                tt[q] = h[q]
            w = ap[i] * ap[j] if j < n else -ap[i] * bp[j - n]
            c0 += w * h[3]
            cuu += w * h[4]
            w12 = w * h[5]
            w22 = w * h[6]
            for l in range(d):
                cross[l] += w12 * e[l]
            for l in range(d):
                el = w22 * e[l]
                bl = blk[l]
                for q in range(d):
                    bl[q] += el * e[q]
        D, d1, dh0, dh11 = _K_self(nxp[i], prm)
        c0 += 0.5 * ap[i] * ap[i] * dh0
        cuu += 0.5 * ap[i] * ap[i] * dh11
        for l in range(d):
            bl = blk[l]
            for q in range(d):
                bl[q] += cuu * xi[l] * xi[q] + xi[l] * cross[q] + cross[l] * xi[q]
            bl[l] += c0
        if train:
            coef = 0.0
            for l in range(n):
                coef += TT[i, l, 1] * ap[l]
                Kaa[i, l] = TT[i, l, 0]
            Kaa[i, i] = D
            coef += ap[i] * d1
            for j in range(m):
                coef -= TT[i, n + j, 1] * bp[j]
            ow = own[i]
            for q in range(d):
                ow[q] = coef * U[p, i, q]
            for l in range(n):
                w = TT[i, l, 2] * ap[l]
                for q in range(d):
                    ow[q] += w * U[p, l, q]
            for j in range(m):
                w = TT[i, n + j, 2] * bp[j]
                for q in range(d):
                    ow[q] -= w * T[tp, j, q]


@_jit
def _K_asm_hess(U, a, T, b, prm, nx, Xh, C, P, train, E, TT, DB, own, Kaa, H):
    """Dense ``H (B, P, P)`` in the effective vectors (order U.ravel(), then a)."""
    B, n, d = U.shape
    nd = n * d
    for p in range(B):
        _K_asm_point_pieces(p, U, a, T, b, prm, nx, Xh, C, P, E, TT, DB, own, Kaa, train)
        ap = a[p]
        Xp = Xh[p]
        Hp = H[p]
        for i in range(n):
            xi = Xp[i]
            for l in range(n):
                if l == i:
                    blk = DB[i]
                    for al in range(d):
                        r = Hp[i * d + al]
                        for be in range(d):
                            r[i * d + be] = blk[al, be]
                    continue
                h = TT[i, l]
                w = ap[i] * ap[l]
                v0 = w * h[7]
                v11 = w * h[8]
                v12 = w * h[9]
                v21 = w * h[10]
                v22 = w * h[11]
                e = E[i, l]
                for al in range(d):
                    r = Hp[i * d + al]
                    f1 = v11 * xi[al] + v21 * e[al]
                    f2 = v12 * xi[al] + v22 * e[al]
                    for be in range(d):
                        r[l * d + be] = f1 * xi[be] + f2 * e[be]
                    r[l * d + al] += v0
        if train:
            for i in range(n):
                for al in range(d):
                    r = Hp[i * d + al]
                    for l in range(n):
                        if l == i:
                            v = own[i, al]
                        else:
                            v = ap[i] * (TT[i, l, 1] * U[p, i, al] + TT[i, l, 2] * U[p, l, al])
                        r[nd + l] = v
                        Hp[nd + l, i * d + al] = v
            for i in range(n):
                for l in range(n):
                    Hp[nd + i, nd + l] = Kaa[i, l]


@_jit
def _K_asm_hvp(U, a, T, b, prm, nx, Xh, C, P, dU, dA, train, E, TT, DB, own, Kaa, hU, hA):
    """``H [dU, dA]`` without forming H: ``hU (B, n, d)``, ``hA (B, n)`` (when ``train``)."""
    B, n, d = U.shape
    for p in range(B):
        _K_asm_point_pieces(p, U, a, T, b, prm, nx, Xh, C, P, E, TT, DB, own, Kaa, train)
        ap = a[p]
        Xp = Xh[p]
        dp = dU[p]
        for i in range(n):
            xi = Xp[i]
            hi = hU[p, i]
            blk = DB[i]
            di = dp[i]
            for al in range(d):
                acc = 0.0
                bl = blk[al]
                for be in range(d):
                    acc += bl[be] * di[be]
                hi[al] = acc
            for l in range(n):
                if l == i:
                    continue
                h = TT[i, l]
                w = ap[i] * ap[l]
                e = E[i, l]
                dl = dp[l]
                pu = 0.0
                pe = 0.0
                for q in range(d):
                    pu += xi[q] * dl[q]
                    pe += e[q] * dl[q]
                v0 = w * h[7]
                f1 = w * (h[8] * pu + h[9] * pe)
                f2 = w * (h[10] * pu + h[11] * pe)
                for q in range(d):
                    hi[q] += v0 * dl[q] + f1 * xi[q] + f2 * e[q]
        if train:
            da = dA[p]
            ha = hA[p]
            for l in range(n):
                acc = 0.0
                for i in range(n):
                    acc += Kaa[l, i] * da[i]
                ha[l] = acc
            for i in range(n):
                hi = hU[p, i]
                di = dp[i]
                for l in range(n):
                    if l == i:
                        col = own[i]
                        acc = 0.0
                        for q in range(d):
                            hi[q] += col[q] * da[i]
                            acc += col[q] * di[q]
                    else:
                        g1 = ap[i] * TT[i, l, 1]
                        g2 = ap[i] * TT[i, l, 2]
                        acc = 0.0
                        for q in range(d):
                            v = g1 * U[p, i, q] + g2 * U[p, l, q]
                            hi[q] += v * da[l]
                            acc += v * di[q]
                    ha[l] += acc
