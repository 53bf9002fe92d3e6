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

The gradient has its own pair of passes over cache-sized chunks of points: ``prepare_pairs``
(the raw Gram entries by BLAS, one ``U T^T`` product per chunk when the teacher is shared,
over the products of the norms; each student pair once, packed), ``np.arccos`` of the chunk,
then ``_K_asm_grad`` (sines, the Kahan angle of the edge pairs, the pair terms in both orders
in flat loops, and ``dl/dU_p = A @ [U_p; T]`` as one BLAS product per point).
"""
# flake8: noqa
# pylint: skip-file
import math

import numpy as np

_jit = None  # numba.njit(...) in the generated module

# <shared>
#: pairs with cos(phi)^2 above this get the stable (Kahan) angle (model.EDGE_COS ** 2)
EDGE_C2 = 0.81


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
            if r == 0.0:
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


@_jit_fast
def prepare_pairs(U2, T, n, s0, s1, nx, C, NI, NJ, Gs, Gt, TT, rn):
    """Pass 1 of the gradient for the points ``s0 <= p < s1`` (chunk row ``q = p - s0``) of
    the students ``U2 (N n, d)`` and teachers ``T (1 or N, m, d)``: ``nx[q] (n+m)`` the norms,
    ``C[q] (L)`` the clipped cosines of the pairs, packed: the student pairs (i, j), i < j,
    row by row, then the student-teacher pairs (i, t) row by row, and ``NI[q]``, ``NJ[q]``
    the norms of each pair's first and second vector.  The cosines are the raw Gram entries
    over the product of the norms (BLAS: per point ``U_p U_p^T``; ``U T^T`` for the whole chunk
    when the teacher is shared; ``Gs``, ``Gt``, ``TT``, ``rn``: scratch).  Returns the number of
    pairs with ``c^2 > EDGE_C2`` (to be redone with the stable angle), or -1 if a student
    vector is zero, -2 if a teacher vector is (then nothing else is meaningful)."""
    d = U2.shape[1]
    m = T.shape[1]
    nm = n + m
    nss = n * (n - 1) // 2
    tb = T.shape[0] > 1
    B = s1 - s0
    bad = 0
    if not tb:
        for t in range(m):
            x = T[0, t]
            sq = 0.0
            for l in range(d):
                sq += x[l] * x[l]
                TT[l, t] = x[l]
            r = math.sqrt(sq)
            for q in range(B):
                nx[q, n + t] = r
            if r == 0.0:
                bad = -2
        np.dot(U2[s0 * n:s1 * n], TT, Gt[:B * n])
    edges = 0
    for p in range(s0, s1):
        q = p - s0
        Up = U2[p * n:(p + 1) * n]
        np.dot(Up, Up.T, Gs)
        Gq = Gt[q * n:(q + 1) * n]
        nxq = nx[q]
        if tb:
            Tp = T[p]
            np.dot(Up, Tp.T, Gq)
            for t in range(m):
                x = Tp[t]
                sq = 0.0
                for l in range(d):
                    sq += x[l] * x[l]
                r = math.sqrt(sq)
                nxq[n + t] = r
                if r == 0.0 and bad == 0:
                    bad = -2
        for i in range(n):
            r = math.sqrt(Gs[i, i])
            nxq[i] = r
            if r == 0.0:
                bad = -1
        if bad:
            return bad
        for j in range(nm):
            rn[j] = 1.0 / nxq[j]
        Cq = C[q]
        NIq = NI[q]
        NJq = NJ[q]
        off = 0
        for i in range(n):
            ri = rn[i]
            ni = nxq[i]
            L = n - 1 - i
            src = Gs[i, i + 1:]
            dst = Cq[off:off + L]
            rj = rn[i + 1:n]
            for r in range(L):
                dst[r] = src[r] * ri * rj[r]
            NIq[off:off + L] = ni
            NJq[off:off + L] = nxq[i + 1:n]
            off += L
        for i in range(n):
            ri = rn[i]
            src = Gq[i]
            dst = Cq[nss + i * m:nss + (i + 1) * m]
            rt = rn[n:]
            for t in range(m):
                dst[t] = src[t] * ri * rt[t]
            NI[q, nss + i * m:nss + (i + 1) * m] = nxq[i]
            NJ[q, nss + i * m:nss + (i + 1) * m] = nxq[n:]
        ne = 0
        for r in range(Cq.shape[0]):
            c = Cq[r]
            c = c if c < 1.0 else 1.0
            c = c if c > -1.0 else -1.0
            Cq[r] = c
            ne += 1 if c * c > EDGE_C2 else 0
        edges += ne
    return edges


@_jit
def packed_edges(U2, T, n, p, tp, nxq, Cq, Pq, Sq):
    """The pairs of point ``p`` with ``c^2 > EDGE_C2`` in the packing of
    :func:`prepare_pairs`: ``(c, s, phi)`` redone with the Kahan angle ``2 atan2(|x^ - y^|,
    |x^ + y^|)`` of the normalized vectors, as ``model._geometry``."""
    m = T.shape[1]
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            if Cq[k] * Cq[k] > EDGE_C2:
                kahan(U2[p * n + i], U2[p * n + j], nxq[i], nxq[j], Cq, Pq, Sq, k)
            k += 1
    for i in range(n):
        for t in range(m):
            if Cq[k] * Cq[k] > EDGE_C2:
                kahan(U2[p * n + i], T[tp, t], nxq[i], nxq[n + t], Cq, Pq, Sq, k)
            k += 1


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
def _K_asm_grad(U2, a, T, b, prm, n, s0, s1, nx, C, P, NI, NJ, edges, want_a, F, S, A, X,
                gU, gA):
    """``gU[p] = dl/dU`` (and ``gA[p] = dl/da`` when ``want_a``; without it the kernel itself
    is not evaluated) for the points ``s0 <= p < s1`` of a chunk prepared by
    :func:`prepare_pairs` (``nx``, ``C``, ``NI``, ``NJ``; ``P`` the arccos of ``C``; ``edges``
    its count of edge pairs).  Each student pair is evaluated once, in both of its orders; the
    pair terms in flat loops over the packed pairs (``F (6, L)``: scratch), then the chain rule
    as one matrix product per point, ``gU[p] = A @ [U_p; T_p]`` with ``A (n, n+m)`` the pair
    coefficients (``a`` and ``b`` folded in).  ``S (2, n)``, ``X (n+m, d)``: scratch."""
    m = T.shape[1]
    nss = n * (n - 1) // 2
    L = C.shape[1]
    tb = T.shape[0] > 1
    sq, g1, g2, h1, h2, kk = F[0], F[1], F[2], F[3], F[4], F[5]
    coef, ka = S[0], S[1]
    if not tb:
        for t in range(m):
            X[n + t] = T[0, t]
    for p in range(s0, s1):
        q = p - s0
        tp = p if tb else 0
        ap = a[p]
        bp = b[tp]
        nxq = nx[q]
        Cq = C[q]
        Pq = P[q]
        NIq = NI[q]
        NJq = NJ[q]
        for r in range(L):
            c = Cq[r]
            sq[r] = math.sqrt(1.0 - c * c)
        if edges:
            packed_edges(U2, T, n, p, tp, nxq, Cq, Pq, sq)
        if want_a:
            for r in range(L):
                kk[r], g1[r], g2[r] = _K_grad(NIq[r], NJq[r], Cq[r], sq[r], Pq[r], prm)
        else:
            for r in range(L):
                g1[r], g2[r] = _K_dgrad(NIq[r], NJq[r], Cq[r], sq[r], Pq[r], prm)
        for r in range(nss):  # the student pairs in the order (j, i)
            h1[r], h2[r] = _K_dgrad(NJq[r], NIq[r], Cq[r], sq[r], Pq[r], prm)
        for i in range(n):
            D, d1, _h0, _h11 = _K_self(nxq[i], prm)
            coef[i] = 0.5 * ap[i] * d1
            ka[i] = ap[i] * D
        k = 0
        for i in range(n):
            ai = ap[i]
            Ai = A[i]
            ci = 0.0
            ki = 0.0
            for j in range(i + 1, n):
                aj = ap[j]
                ci += g1[k] * aj
                Ai[j] = ai * g2[k] * aj
                coef[j] += h1[k] * ai
                A[j, i] = aj * h2[k] * ai
                if want_a:
                    ki += kk[k] * aj
                    ka[j] += kk[k] * ai
                k += 1
            coef[i] += ci
            ka[i] += ki
        for i in range(n):
            ai = ap[i]
            Ai = A[i]
            o = nss + i * m
            ci = 0.0
            ki = 0.0
            for t in range(m):
                bt = bp[t]
                ci += g1[o + t] * bt
                Ai[n + t] = -ai * g2[o + t] * bt
                if want_a:
                    ki += kk[o + t] * bt
            Ai[i] = ai * (coef[i] - ci)
            if want_a:
                gA[p, i] = ka[i] - ki
        X[:n] = U2[p * n:(p + 1) * n]
        if tb:
            for t in range(m):
                X[n + t] = T[tp, t]
        np.dot(A, X, gU[p])


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
