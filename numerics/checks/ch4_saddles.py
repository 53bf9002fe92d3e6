"""Checks of thesis ch. 4's descent and saddle statements (seed 004 sec. 4.3, 4.7; derivations/
balance_saddles.py; issue 24).  The model is ``numerics.simulators.balance`` (``mf_loss``,
``mf_step``, the dense Hessian by second differences of the loss); no derived expression is used
by a reference.

* ``balance.mf_saddle_min_eig``: reference = the smallest eigenvalue of the dense Hessian of the
  simulated loss at the stationary point built on ``sigma_j`` (r = 1, random 5 x 4 ``M*`` with
  four singular values); 50 digits.
* ``balance.mf_hessian`` (Lemma 4.2, l.4058; Claims 4.4-4.5, l.4505-4545): at stationary points
  ``U = Phi_S Sigma_S^(1/2) D``, ``V = Psi_S Sigma_S^(1/2) D^(-1)`` (S a subset of the singular
  pairs, D a diagonal imbalance; rank-2 ``M*``, r = 2) with ``eps = |U^T U - V^T V|_F``: the
  direction ``Delta = W - W* R`` (R by SciPy's orthogonal Procrustes) gives Claim 4.4's identity,
  Claim 4.5's bound, (4.17) <= ``-|M - M*|^2 + eps^2/2`` with the formula's quadratic form equal
  to the dense Hessian's, and Lemma 4.2's conclusion (``|M - M*| <= eps`` or a negative Hessian
  eigenvalue).
* ``balance.mf_smoothness`` (Claim 4.2, l.4359; (4.14), Lemma 4.4's (4.16)): simulated GD with the
  step schedule of Theorem 4.4 as read and with the constant step ``1/beta``, ``beta`` the
  formula's smoothness on Claim 4.2's set ``S = {|U|^2, |V|^2 <= 11 sqrt(r)|M*|_F}``: every step
  stays in S and decreases f by at least ``eta_t/2 |grad f|^2``.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes

from ..rows import Check, CheckResult
from ..simulators import balance as B
from . import register
from .bounds import SLACK, violations_row
from .common import mpmath_check, reference_check


def _svd_target(rng, sig, d1=5, d2=4):
    P, _ = np.linalg.qr(rng.standard_normal((d1, d1)))
    Q, _ = np.linalg.qr(rng.standard_normal((d2, d2)))
    k = len(sig)
    return P[:, :k], Q[:, :k], (P[:, :k] * sig) @ Q[:, :k].T


def _saddle_points():
    return [{"sigma_1": np.float64(a), "sigma_j": np.float64(b)}
            for a, b in ((2.0, 1.0), (3.0, 0.0), (1.0, 0.999), (5.0, 0.3), (1.5, 1.5),
                         (0.7, 0.05))]


def _saddle_ref(pt):
    """lambda_min of the dense Hessian of the simulated loss at (sqrt(s_j) phi_j, sqrt(s_j) psi_j),
    M* 5 x 4 with singular values (s_1, s_j, and two below s_j or the origin's fillers)."""
    s1, sj = float(pt["sigma_1"]), float(pt["sigma_j"])
    lower = [0.5 * sj, 0.25 * sj] if sj > 0 else [0.5 * s1, 0.2 * s1]
    rng = np.random.default_rng(int(1000 * s1 + 7 * sj))
    P, Q, M = _svd_target(rng, [s1, sj] + lower)
    U = np.sqrt(sj) * P[:, 1:2]
    V = np.sqrt(sj) * Q[:, 1:2]
    H = B.mf_hessian_matrix(U, V, M)
    return float(np.linalg.eigvalsh(0.5 * (H + H.T))[0])


register(reference_check("balance.mf_saddle_min_eig", _saddle_points, _saddle_ref, tol=1e-8,
                         floor=1e-3, label="dense Hessian of the loss at the stationary point"))
register(mpmath_check("balance.mf_saddle_min_eig", _saddle_points))


# --- Lemma 4.2, Claims 4.4-4.5 at stationary points (rank 2) ---------------------------------


def stationary_points():
    """(U, V, M*, label) at balanced and imbalanced stationary points of f, r = 2."""
    rng = np.random.default_rng(42)
    sig = np.array([2.0, 0.8])
    P, Q, M = _svd_target(rng, sig, 6, 5)
    out = []
    for S in ((), (0,), (1,), (0, 1)):
        for dscale in (1.0, 1.15, 0.7):
            U, V = np.zeros((6, 2)), np.zeros((5, 2))
            for c, k in enumerate(S):
                dk = dscale if c == 0 else 1.0 / dscale
                U[:, c] = np.sqrt(sig[k]) * dk * P[:, k]
                V[:, c] = np.sqrt(sig[k]) / dk * Q[:, k]
            out.append((U, V, M, f"S = {S}, D = {dscale}"))
    return out, (P * np.sqrt(sig), Q * np.sqrt(sig))


def lemma42_measure(hess_fn):
    pts, (Us, Vs) = stationary_points()
    Ws = np.vstack([Us, Vs])
    c44, s45, s417, q_err, l42_bad, n_strict = 0.0, np.inf, np.inf, 0.0, 0, 0
    for U, V, M, _ in pts:
        Rm = U @ V.T - M
        grad = np.concatenate([(Rm @ V).ravel(), (Rm.T @ U).ravel()])
        assert np.max(np.abs(grad)) < 1e-12
        eps = float(np.linalg.norm(U.T @ U - V.T @ V))
        W = np.vstack([U, V])
        R, _ = orthogonal_procrustes(Ws, W)       # min |W* R - W|
        D = W - Ws @ R
        dU, dV = D[: U.shape[0]], D[U.shape[0]:]
        e2 = float(np.sum(Rm * Rm))
        if e2 > 1e-20 * float(np.sum(M * M)):    # (at the global minima both sides are 0)
            c44 = max(c44, abs(float(np.sum(Rm * (dU @ dV.T))) + e2) / e2)
        t2 = float(np.sum((U @ dV.T + dU @ V.T) ** 2))
        scale = e2 + eps ** 2 / 2        # relative slacks (both sides 0 at a balanced optimum)
        nontrivial = scale > 1e-20 * float(np.sum(M * M))
        if nontrivial:
            s45 = min(s45, (e2 + eps ** 2 / 2 - t2) / scale)
        q = float(np.asarray(hess_fn(U, V, M, dU, dV)))
        H = B.mf_hessian_matrix(U, V, M)
        dvec = np.concatenate([dU.ravel(), dV.ravel()])
        qd = float(dvec @ H @ dvec)
        q_err = max(q_err, abs(q - qd) / max(abs(qd), e2, 1e-12))
        if nontrivial:
            s417 = min(s417, (-e2 + eps ** 2 / 2 - q) / scale)
        lmin = float(np.linalg.eigvalsh(0.5 * (H + H.T))[0])
        if np.sqrt(e2) > eps:
            n_strict += 1
            l42_bad += int(not lmin < 0)
    return dict(n=len(pts), c44=c44, s45=s45, s417=s417, q_err=q_err, l42_bad=l42_bad,
                n_strict=n_strict)


def _lemma42(subject, ctx):
    r = lemma42_measure(subject.fn)
    bad = int(r["s45"] < -1e-12) + int(r["s417"] < -1e-12) + r["l42_bad"]
    ok = bad == 0 and r["c44"] <= 1e-10 and r["q_err"] <= 1e-8
    return violations_row("balance.mf_hessian", "Lemma 4.2, Claims 4.4-4.5 at stationary points", bad,
                          r["n"], min(r["s45"], r["s417"]),
                          f"{r['n']} stationary points (r = 2, rank-2 M*, singular values 2, 0.8; S "
                          f"subsets, imbalance D = 1, 1.15, 0.7): Claim 4.4 identity to {r['c44']:.1e}; "
                          f"Claim 4.5 smallest relative slack {r['s45']:.3g}; (4.17) <= -|M - M*|^2 + eps^2/2 "
                          f"smallest relative slack {r['s417']:.3g}, the formula's [grad^2 f](Delta, Delta) = the "
                          f"dense Hessian's to {r['q_err']:.1e}; Lemma 4.2: {r['n_strict']} points with "
                          f"|M - M*| > eps, {r['l42_bad']} without a negative Hessian eigenvalue",
                          ok=ok)


register(Check("balance.mf_hessian", SLACK, "Lemma 4.2, Claims 4.4-4.5 at stationary points",
               _lemma42, independent=False))


# --- Claim 4.2 / (4.14): descent under smoothness on simulated GD ----------------------------


def descent_measure(smooth_fn, steps=300):
    """GD runs (d = 6, r = 1, 2, |M*|_F = 1, init N(0, 0.1^2)): the schedule of Theorem 4.4 as
    read (numerics/checks/balance.py: sqrt(eps/r)/(100 (t+1)^0.6), eps = 0.5) and the constant
    step 1/beta, beta = formula(c = 11 sqrt(r), |M*|_F)."""
    worst, out_of_S, n = np.inf, 0, 0
    for r in (1, 2):
        beta = float(np.asarray(smooth_fn(np.float64(11 * np.sqrt(r)), np.float64(1.0))))
        for sched in ("thesis", "1/beta"):
            rng = np.random.default_rng(4300 + r)
            M = rng.standard_normal((6, r)) @ rng.standard_normal((r, 6))
            M /= np.linalg.norm(M)
            U, V = 0.1 * rng.standard_normal((6, r)), 0.1 * rng.standard_normal((6, r))
            for t in range(steps):
                eta = (np.sqrt(0.5 / r) / (100 * (t + 1) ** 0.6) if sched == "thesis"
                       else 1.0 / beta)
                Rm = U @ V.T - M
                g2 = float(np.sum((Rm @ V) ** 2) + np.sum((Rm.T @ U) ** 2))
                f0 = B.mf_loss(U, V, M)
                U, V = B.mf_step(U, V, M, eta)
                f1 = B.mf_loss(U, V, M)
                out_of_S += int(max(np.sum(U * U), np.sum(V * V)) > 11 * np.sqrt(r))
                dec = eta / 2 * g2
                if dec > 1e-14 * f0:
                    worst = min(worst, (f0 - f1 - dec) / dec)
                    n += 1
    return dict(worst=worst, out=out_of_S, n=n)


def _claim42(subject, ctx):
    r = descent_measure(subject.fn)
    bad = int(r["worst"] < -1e-9) + r["out"]
    return violations_row("balance.mf_smoothness", "Claim 4.2 / (4.14): descent on simulated GD", bad,
                          r["n"], r["worst"],
                          f"4 runs x 300 steps (r = 1, 2; Theorem 4.4's schedule as read and the "
                          f"constant step 1/beta with beta = the formula at c = 11 sqrt(r)): smallest "
                          f"(f_t - f_t+1 - eta_t/2 |grad f|^2)/(eta_t/2 |grad f|^2) = {r['worst']:.3g} "
                          f"(>= 0); iterates outside S: {r['out']}")


register(Check("balance.mf_smoothness", SLACK, "Claim 4.2 / (4.14): descent on simulated GD",
               _claim42, independent=False))
