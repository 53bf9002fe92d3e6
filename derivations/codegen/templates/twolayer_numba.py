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
3. ``_K_asm_loss`` / ``_K_asm_grad`` / ``_K_asm_hess`` / ``_K_asm_hvp``: the stable angle at the edges, the
   derived pair terms and the chain rule, point by point, into preallocated outputs.
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


@_jit_inline
def stack(U, T, p, X):
    """``X (n+m, d)`` := the raw student and teacher vectors of point ``p``."""
    n = U.shape[1]
    tp = p if T.shape[0] > 1 else 0
    for i in range(n):
        X[i] = U[p, i]
    for j in range(T.shape[1]):
        X[n + j] = T[tp, j]
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


@_jit_fast
def _K_asm_grad(U, a, T, b, prm, nx, Xh, C, P, want_a, S, GB, X, gU, gA):
    """``gU = dl/dU`` (and ``gA = dl/da`` when ``want_a``; without it the kernel itself is not
    evaluated).  ``S (6, n+m)``, ``GB (n, n+m)``, ``X (n+m, d)``: scratch."""
    B, n, d = U.shape
    m = T.shape[1]
    cs, ss, ps, g1, g2, kk = S[0], S[1], S[2], S[3], S[4], S[5]
    for p in range(B):
        tp = p if T.shape[0] > 1 else 0
        ap = a[p]
        bp = b[tp]
        Cp = C[p]
        Pp = P[p]
        Xp = Xh[p]
        nxp = nx[p]
        for i in range(n):
            row_geom(Cp, Pp, Xp, i, 0, n + m, cs, ss, ps)
            ni = nxp[i]
            if want_a:
                for l in range(n + m):
                    kk[l], g1[l], g2[l] = _K_grad(ni, nxp[l], cs[l], ss[l], ps[l], prm)
            else:
                for l in range(n + m):
                    g1[l], g2[l] = _K_dgrad(ni, nxp[l], cs[l], ss[l], ps[l], prm)
            g1[i] = 0.0
            g2[i] = 0.0
            row = GB[i]
            coef = 0.0
            for l in range(n):
                coef += g1[l] * ap[l]
                row[l] = g2[l] * ap[l]
            for j in range(m):
                coef -= g1[n + j] * bp[j]
                row[n + j] = -g2[n + j] * bp[j]
            D, d1, _h0, _h11 = _K_self(ni, prm)
            row[i] = coef + 0.5 * ap[i] * d1
            if want_a:
                kk[i] = 0.0
                ka = 0.0
                for l in range(n):
                    ka += kk[l] * ap[l]
                for j in range(m):
                    ka -= kk[n + j] * bp[j]
                gA[p, i] = ka + ap[i] * D
        stack(U, T, p, X)
        gp = gU[p]
        np.dot(GB, X, gp)
        for i in range(n):
            ai = ap[i]
            g = gp[i]
            for l in range(d):
                g[l] *= ai


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
