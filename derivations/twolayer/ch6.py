"""Thesis ch. 6 (seed 004, sec. 6.3, l.6280-6330) with k overlapping patches on the two-layer
engine's convolutional model under Gaussian input: the patch second moments of Assumptions
6.2-6.3 and the constants gamma, L, beta, L_cross they define.

Model (eq. 6.1, l.6100): ``f(w, x) = (1/k) sum_i relu(w.Z_i)``, ``Z_i = x[P_i]`` (the engine's
``convolutional`` / ``patches`` with ``a = a* = 1/k``), ``x ~ N(0, I_d)``.  For a region
``R`` of the signs of ``(w.Z_i, w*.Z_i)`` (``"++"`` = S(w, w*), ``"+-"`` = S(w, -w*),
``"-+"`` = S(-w, w*), l.6282) the thesis averages ``Z_R = (1/k) sum_i Z_i 1{Z_i in R}`` and uses

    M_{R,R'}(w, w*) = E[Z_R Z_R'^T] = (1/k^2) sum_{i,j} E[Z_i Z_j^T 1{Z_i in R} 1{Z_j in R'}].

For ``i != j`` and overlapping patches the four signs ``(w.Z_i, w*.Z_i, w.Z_j, w*.Z_j)`` are
four correlated Gaussians: ``E[X_a X_b 1{Y > 0}]`` is a 4-D Gaussian orthant moment.  It is
reduced here, by Gaussian integration by parts twice (Stein), to orthant probabilities:

    E[X_a X_b 1{Y>0}] = C_ab P_m(R) + sum_{k != l} C(X_a, Y_k) C(X_b, Y_l | Y_k) phi_kl(0, 0)
                        P_{m-2}(R | Y_k = Y_l = 0),

with the orthant probabilities from SymPy (:func:`derived`): ``P_2`` by the polar integral of
the Gaussian density over the wedge (:func:`derivations.gaussian.plane_expectation`), the
density at the origin ``phi_2(0, 0; rho) = dP_2/drho`` (Plackett's identity), ``P_3`` by
SymPy's integral of Plackett's identity, and ``P_4`` (no closed form in general) as the
integral of Plackett's identity along the straight path ``I + t (R - I)``, whose integrand is
the SymPy-derived ``rho_kl phi_2(0, 0; t rho_kl) P_2(rho_{mn.kl}(t))``, by Gauss-Legendre
quadrature (substitution ``t = 1 - s^2`` for the edge ``|rho| -> 1``).

The constants (Assumption 6.2 eq. 6.4, Assumption 6.3; ``theta(w, w*) <= phi`` reading) are
then optimizations over the directions ``w`` at angle ``theta`` from ``w*``: a grid on the
sphere of such directions (exact for patch size 2, a circle for size 3) refined locally.
They are numbers of the patch structure and ``w*``, not closed forms.

Checks (independent: Monte Carlo of the network's patches, and the one-patch case against the
plane quadrature of :mod:`numerics.simulators.filter`): ``numerics/checks/ch6.py``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

REGIONS = {"++": (1.0, 1.0), "+-": (1.0, -1.0), "-+": (-1.0, 1.0)}
#: region pairs that appear in Assumptions 6.2-6.3
PAIRS = (("++", "++"), ("+-", "+-"), ("++", "+-"), ("++", "-+"), ("+-", "-+"))
SOURCE = "004 thesis, ch. 6, sec. 6.3, Assumptions 6.2-6.3 (l.6301-6320)"


@functools.lru_cache(maxsize=None)
def derived() -> dict:
    """SymPy: the orthant probabilities ``P2(rho)``, ``P3(r12, r13, r23)`` and the density at
    the origin ``phi2(rho)`` of a standard bivariate normal, derived from the Gaussian plane
    integral (not typed); returned as SymPy expressions and NumPy functions."""
    import sympy as sp

    from .. import gaussian as G

    rho, r = sp.symbols("rho r", real=True)
    r12, r13, r23 = sp.symbols("r12 r13 r23", real=True)
    wedge = G.plane_expectation(sp.Integer(1), G.WEDGE)          # P(u.x > 0, v.x > 0), angle phi
    P2 = sp.simplify(wedge.subs(G.PHI, sp.acos(rho)))
    phi2 = sp.simplify(sp.diff(P2, rho))                         # Plackett: dP2/drho = phi2(0,0)
    # Plackett for three: dP3/dr_kl = phi2(0, 0; r_kl) P1(cond) with P1 = 1/2 (a centered
    # Gaussian given Y_k = Y_l = 0); P3 = 1/8 at r = 0 (independent)
    half = sp.Rational(1, 2)
    P3 = sp.Rational(1, 8) + sum(sp.integrate(half * phi2.subs(rho, r), (r, 0, x))
                                 for x in (r12, r13, r23))
    P3 = sp.simplify(P3)
    return {"P2": P2, "phi2": phi2, "P3": P3, "rho": rho, "r": (r12, r13, r23),
            "P2_np": sp.lambdify(rho, P2, "numpy"), "phi2_np": sp.lambdify(rho, phi2, "numpy"),
            "P3_np": sp.lambdify((r12, r13, r23), P3, "numpy")}


def _clip(x):
    return np.clip(x, -1.0, 1.0)


def orthant2(rho):
    """``P(Y1 > 0, Y2 > 0)`` for standard normals with correlation ``rho`` (SymPy-derived)."""
    return derived()["P2_np"](_clip(np.asarray(rho, float)))


def orthant3(r12, r13, r23):
    """``P(Y1, Y2, Y3 > 0)`` (SymPy integral of Plackett's identity)."""
    return derived()["P3_np"](*(_clip(np.asarray(x, float)) for x in (r12, r13, r23)))


_GL = np.polynomial.legendre.leggauss(40)
_PAIRS4 = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def _partial_corr(R, k, l):
    """Correlation of the other two coordinates given ``Y_k = Y_l = 0`` (``R`` (..., 4, 4))."""
    m, n = [i for i in range(4) if i not in (k, l)]
    a, b, c = R[..., k, k], R[..., l, l], R[..., k, l]
    det = a * b - c * c
    det = np.where(det > 0, det, np.finfo(float).tiny)

    def cond(i, j):  # R_ij - R_i,kl R_kl^-1 R_kl,j
        ri = np.stack([R[..., i, k], R[..., i, l]], -1)
        rj = np.stack([R[..., j, k], R[..., j, l]], -1)
        inv = np.stack([np.stack([b, -c], -1), np.stack([-c, a], -1)], -2) / det[..., None, None]
        return R[..., i, j] - np.einsum("...a,...ab,...b->...", ri, inv, rj)

    vm, vn, cmn = cond(m, m), cond(n, n), cond(m, n)
    den = np.sqrt(np.maximum(vm, 0) * np.maximum(vn, 0))
    return np.where(den > 0, cmn / np.where(den > 0, den, 1.0), 0.0)


def orthant4(R):
    """``P(Y > 0)`` for ``Y ~ N(0, R)``, ``R`` (..., 4, 4) a correlation matrix: ``1/16`` plus
    the integral of Plackett's identity along ``I + t (R - I)`` (Gauss-Legendre in ``s``,
    ``t = 1 - s^2``)."""
    R = np.asarray(R, float)
    d = derived()
    s, wts = (_GL[0] + 1) / 2, _GL[1] / 2
    t = 1 - s * s
    jac = 2 * s * wts
    eye = np.eye(4)
    Rt = eye + t.reshape((-1,) + (1,) * R.ndim) * (R[None] - eye)
    total = 0.0
    for k, l in _PAIRS4:
        rkl = R[..., k, l]
        rt = Rt[..., k, l]
        total = total + rkl * d["phi2_np"](_clip(rt)) * d["P2_np"](_partial_corr(Rt, k, l))
    jac = jac.reshape((-1,) + (1,) * (total.ndim - 1))
    return 1.0 / 16 + np.sum(jac * total, axis=0)


def orthant_second_moment(A, B, Y):
    """``E[(A x)(B x)^T 1{Y x > 0}]`` for ``x ~ N(0, I_d)``: ``A`` (..., na, d), ``B``
    (..., nb, d), ``Y`` (..., m, d) with m in {1, 2, 4} linearly independent rows.  The Stein
    reduction to orthant probabilities (module docstring)."""
    A, B, Y = (np.asarray(v, float) for v in (A, B, Y))
    m = Y.shape[-2]
    C = Y @ np.swapaxes(Y, -1, -2)
    sd = np.sqrt(np.einsum("...ii->...i", C))
    Rn = C / (sd[..., :, None] * sd[..., None, :])
    cab = A @ np.swapaxes(B, -1, -2)
    caY = A @ np.swapaxes(Y, -1, -2)
    cbY = B @ np.swapaxes(Y, -1, -2)
    phi2 = derived()["phi2_np"]
    if m == 1:
        return 0.5 * cab
    if m == 2:
        Pm = orthant2(Rn[..., 0, 1])
    elif m == 4:
        Pm = orthant4(Rn)
    else:
        raise ValueError(f"Y must have 1, 2 or 4 rows, got {m}")
    out = cab * Pm[..., None, None]
    for k in range(m):
        for l in range(m):
            if l == k:
                continue
            dens = phi2(_clip(Rn[..., k, l])) / (sd[..., k] * sd[..., l])
            cb = cbY[..., :, l] - cbY[..., :, k] * (C[..., k, l] / C[..., k, k])[..., None]
            if m == 2:
                rest = np.ones_like(dens)
            else:
                rest = orthant2(_partial_corr(Rn, k, l))
            out = out + (dens * rest)[..., None, None] * (caY[..., :, k, None] * cb[..., None, :])
    return out


def _patch_maps(d: int, patches) -> np.ndarray:
    """``(k, s, d)``: row ``a`` of map ``i`` picks coordinate ``patches[i][a]`` of ``x``."""
    P = np.asarray(patches)
    if P.ndim != 2 or P.dtype.kind not in "iu" or np.any(P < 0) or np.any(P >= d):
        raise ValueError(f"patches must be k index lists of one size with entries in [0, d={d})")
    k, s = P.shape
    E = np.zeros((k, s, d))
    E[np.arange(k)[:, None], np.arange(s)[None, :], P] = 1.0
    return E


def conv_patches(d: int, patch_size: int, stride: int = 1) -> list:
    """The patches ``[s i, s i + patch_size)`` of the engine's ``convolutional`` model."""
    n = (d - patch_size) // stride + 1
    return [list(range(stride * i, stride * i + patch_size)) for i in range(n)]


#: below this angle from w* (or from -w*) the 4-D path loses accuracy (the conditional
#: correlations given two nearly collinear signs cancel: ~2e-10 absolute at 1e-4, 3e-6 at
#: 1e-6, NaN at 1e-8): there the matrices are interpolated (quadratic in the angle) between the
#: exact limit at the edge (2-D orthant moments) and two direct values at 2 EDGE and 4 EDGE;
#: continuous across EDGE to ~2e-10 absolute on matrices of size ~0.1 (tests)
EDGE = 1e-4


def _check_args(w, w_star, d, patches):
    from .networks import _array, _dim

    d = _dim(d, "d")
    E = _patch_maps(d, patches)
    w = _array(w, "w", 1)
    w_star = _array(w_star, "w_star", 1)
    s = E.shape[1]
    if s < 2:
        raise ValueError("patches must have at least 2 entries (an angle needs a plane)")
    for name, v in (("w", w), ("w_star", w_star)):
        if v.shape[-1] != s:
            raise ValueError(f"{name} must have length patch size {s}, got {v.shape[-1]}")
        if np.any(np.linalg.norm(v, axis=-1) == 0):
            raise ValueError(f"{name} must be nonzero (its direction is undefined)")
    w, w_star = np.broadcast_arrays(w, w_star)
    return w, w_star, E


def _direct(w, w_star, E):
    k, s, _ = E.shape
    U = np.einsum("...a,iad->...id", w, E)        # w.Z_i as a functional of x
    T = np.einsum("...a,iad->...id", w_star, E)
    out = {}
    for R1, R2 in PAIRS:
        (s1, s2), (s3, s4) = REGIONS[R1], REGIONS[R2]
        tot = np.zeros(w.shape[:-1] + (s, s))
        for i in range(k):
            for j in range(k):
                if i == j:
                    if R1 != R2:
                        continue                  # one patch is in one region only
                    Y = np.stack([s1 * U[..., i, :], s2 * T[..., i, :]], -2)
                else:
                    Y = np.stack([s1 * U[..., i, :], s2 * T[..., i, :], s3 * U[..., j, :],
                                  s4 * T[..., j, :]], -2)
                tot = tot + orthant_second_moment(
                    np.broadcast_to(E[i], Y.shape[:-2] + E[i].shape),
                    np.broadcast_to(E[j], Y.shape[:-2] + E[j].shape), Y)
        out[(R1, R2)] = tot / k**2
    return out


def _limit(w, sign, E):
    """The matrices at ``w* = sign c w`` (c > 0): each region is ``{s w.Z > 0}`` or empty."""
    k, s, _ = E.shape
    U = np.einsum("...a,iad->...id", w, E)
    out = {}
    for R1, R2 in PAIRS:
        (s1, s2), (s3, s4) = REGIONS[R1], REGIONS[R2]
        tot = np.zeros(w.shape[:-1] + (s, s))
        if s1 * sign == s2 and s3 * sign == s4:   # both regions nonempty
            for i in range(k):
                for j in range(k):
                    if i == j and R1 != R2:
                        continue
                    Y = (s1 * U[..., i, :])[..., None, :] if i == j else np.stack(
                        [s1 * U[..., i, :], s3 * U[..., j, :]], -2)
                    tot = tot + orthant_second_moment(
                        np.broadcast_to(E[i], Y.shape[:-2] + E[i].shape),
                        np.broadcast_to(E[j], Y.shape[:-2] + E[j].shape), Y)
        out[(R1, R2)] = tot / k**2
    return out


def second_moments(w, w_star, d: int, patches) -> dict:
    """``M_{R,R'}(w, w*) = E[Z_R Z_R'^T]`` (Assumptions 6.2-6.3, l.6282-6320) for the region
    pairs :data:`PAIRS`, Gaussian input ``x ~ N(0, I_d)`` and patches ``Z_i = x[patches[i]]``.
    ``w``, ``w_star``: (..., s).  Returns ``{(R, R'): (..., s, s)}``.  Finite and continuous at
    every angle, including ``w`` parallel or antiparallel to ``w*`` (the limits there are
    exact; within :data:`EDGE` of them the absolute accuracy is ~2e-10)."""
    w, w_star, E = _check_args(w, w_star, d, patches)
    uw = w / np.linalg.norm(w, axis=-1, keepdims=True)
    us = w_star / np.linalg.norm(w_star, axis=-1, keepdims=True)
    theta = 2 * np.arctan2(np.linalg.norm(uw - us, axis=-1), np.linalg.norm(uw + us, axis=-1))
    with np.errstate(all="ignore"):
        out = _direct(w, w_star, E)
    for sign, dist in ((1.0, theta), (-1.0, np.pi - theta)):
        near = dist < EDGE
        if not np.any(near):
            continue
        wn, un = uw[near], sign * us[near]
        rej = wn - np.einsum("ns,ns->n", wn, un)[:, None] * un
        nr = np.linalg.norm(rej, axis=-1)
        fallback = np.linalg.qr(np.column_stack([un[0], np.eye(un.shape[1])]))[0][:, 1]
        e = np.where(nr[:, None] > 0, rej / np.where(nr > 0, nr, 1)[:, None],
                     fallback - (un @ fallback)[:, None] * un)
        e /= np.linalg.norm(e, axis=-1, keepdims=True)
        nodes = (0.0, 2 * EDGE, 4 * EDGE)
        vals = [_limit(un, sign, E)]
        for t in nodes[1:]:
            with np.errstate(all="ignore"):
                vals.append(_direct(math.cos(t) * un + math.sin(t) * e, sign * un, E))
        x = dist[near][:, None, None]
        lag = [((x - nodes[1]) * (x - nodes[2])) / ((0 - nodes[1]) * (0 - nodes[2])),
               ((x - nodes[0]) * (x - nodes[2])) / ((nodes[1] - nodes[0]) * (nodes[1] - nodes[2])),
               ((x - nodes[0]) * (x - nodes[1])) / ((nodes[2] - nodes[0]) * (nodes[2] - nodes[1]))]
        for key in out:
            out[key][near] = sum(l * v[key] for l, v in zip(lag, vals))
    return out


def directions_at_angle(w_star, theta, n: int = 24, seed: int = 0) -> np.ndarray:
    """Unit ``w`` at angle ``theta`` from ``w*``: ``(n_theta, n_dir, s)``; the directions
    orthogonal to ``w*`` are both signs (s = 2), a grid of ``n`` on the circle (s = 3), or ``n``
    fixed random ones plus the coordinate axes' projections (s >= 4)."""
    w_star = np.asarray(w_star, float)
    s = len(w_star)
    ws = w_star / np.linalg.norm(w_star)
    Q, _ = np.linalg.qr(np.column_stack([ws, np.eye(s)]))
    basis = Q[:, 1:s].T * np.sign(Q[:, 0] @ ws)  # (s-1, s) orthonormal, orthogonal to w*
    if s == 2:
        dirs = np.array([basis[0], -basis[0]])
    elif s == 3:
        a = np.linspace(0, 2 * math.pi, n, endpoint=False)
        dirs = np.cos(a)[:, None] * basis[0] + np.sin(a)[:, None] * basis[1]
    else:
        g = np.random.default_rng(seed).standard_normal((n, s - 1))
        g = np.concatenate([g, np.eye(s - 1), -np.eye(s - 1)])
        dirs = (g / np.linalg.norm(g, axis=1, keepdims=True)) @ basis
    theta = np.atleast_1d(np.asarray(theta, float))
    return (np.cos(theta)[:, None, None] * ws + np.sin(theta)[:, None, None] * dirs[None])


def _sym_eigs(M):
    return np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, -1, -2)))


def _opnorm(M):
    return np.linalg.norm(M, ord=2, axis=(-2, -1))


def constants(w_star, d: int, patches, phis, n_dir: int = 24) -> dict:
    """Assumption 6.2 (eq. 6.4) and 6.3 on the grid ``phis`` (increasing, in (0, pi/2]), with the
    ``theta(w, w*) <= phi`` reading (running min / max over the grid below ``phi``):

    * ``gamma[phi] = min lambda_min(M_{++,++})``, ``L[phi] = max lambda_max(M_{++,++})``;
    * ``beta = max_phi max_{theta <= phi} lambda_max(M_{+-,+-}) / phi``;
    * ``L_cross = max_phi max_{theta <= phi} (|M_{++,+-}| + |M_{++,-+}| + |M_{+-,-+}|) / phi``
      (operator norms, as in the proof of Thm 6.3, l.6640).

    The extrema over directions are over :func:`directions_at_angle` (exact for s = 2; a grid
    of ``n_dir`` on the circle for s = 3; sampled for s >= 4): an upper (gamma) / lower (L,
    beta, L_cross) estimate of the true extremum up to the grid."""
    phis = np.asarray(phis, float)
    if np.any(np.diff(phis) <= 0) or phis[0] <= 0:
        raise ValueError("phis must be increasing and positive")
    W = directions_at_angle(w_star, phis, n_dir)
    M = second_moments(W, np.asarray(w_star, float), d, patches)
    e_pp = _sym_eigs(M[("++", "++")])
    lam_min = e_pp[..., 0].min(axis=1)
    lam_max = e_pp[..., -1].max(axis=1)
    minus = _sym_eigs(M[("+-", "+-")])[..., -1].max(axis=1)
    cross = (_opnorm(M[("++", "+-")]) + _opnorm(M[("++", "-+")])
             + _opnorm(M[("+-", "-+")])).max(axis=1)
    gamma = np.minimum.accumulate(lam_min)
    L = np.maximum.accumulate(lam_max)
    beta_curve = np.maximum.accumulate(minus) / phis
    cross_curve = np.maximum.accumulate(cross) / phis
    half = phis <= math.pi / 2 + 1e-12
    return {"phis": phis, "gamma": gamma, "L": L, "gamma_eq": lam_min, "L_eq": lam_max,
            "beta": float(beta_curve[half].max()), "L_cross": float(cross_curve[half].max()),
            "beta_curve": beta_curve, "L_cross_curve": cross_curve}
