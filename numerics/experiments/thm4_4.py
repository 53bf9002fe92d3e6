"""Thesis Theorem 4.4 (seed 004, l.4024) and Lemma 4.4 (l.4452): GD on the asymmetric matrix
factorization ``f(U, V) = 1/2 |U V^T - M*|_F^2`` with the theorem's decaying step schedule
converges to a stationary point with ``|U V^T - M*|_F <= eps``.

Schedule as read (the OCR lost most of it; numerics/checks/balance.py reads it the same way):
``eta_t = sqrt(eps/r) / (100 (t + 1)^(1/2 + delta) |M*|_F^(3/2))``, delta = 0.1 (the footnote
allows any delta in (0, 1/2]).  Init ``N(0, s0^2)`` entries, s0 = 1e-2 (ours: the variance is
lost).  d1 = d2 = 4, r = 1, 2, ``M*`` random of rank r scaled to ``|M*|_F = 1``, eps = 0.5
(the theorem needs eps < |M*|_F), 10^7 steps (sum of eta_t = 7.1 / sqrt(r)); ``--quick`` 2 x
10^5 steps.  Measured along every step (Numba loop): the descent (4.16) ``f_{t+1} <= f_t -
eta_t/2 |grad f_t|^2`` (violations counted), ``|U^T U - V^T V|_F <= eps`` (Lemma 4.1 (i)), and
at the end ``|grad f|``, ``|U V^T - M*|_F`` against eps and the Hessian's smallest eigenvalue
(a stationary point that is not a strict saddle).  Every number is ours; the statements are
the thesis's (paper: l.4024, l.4452, l.4399 (4.14), l.4461 (4.16)).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ._plotting import axis, save

NAME = "thm4_4"
DESCRIPTION = "Thm 4.4 / Lemma 4.4: matrix factorization GD with the theorem's step schedule"
LABELS = {"runs": "ours (measured)", "schedule": "paper as read (l.4024 footnote; OCR lost the "
          "constants' layout)", "s0": "ours (the init variance is lost in the OCR)",
          "statements": "paper: Theorem 4.4 (l.4024), Lemma 4.4 (l.4452), (4.14) l.4399"}


@functools.lru_cache(maxsize=1)
def _kernel():
    try:  # the `compiled` extra; without it the same loop runs as plain Python (slowly)
        import numba

        jit = numba.njit(cache=False)
    except ImportError:  # pragma: no cover
        def jit(f):
            return f

    @jit
    def run(U, V, M, eps, r, delta, mnorm, steps, rec_at):
        d1, rr = U.shape
        d2 = V.shape[0]
        R = np.empty((d1, d2))
        GU = np.empty((d1, rr))
        GV = np.empty((d2, rr))
        nrec = rec_at.shape[0]
        rec = np.zeros((nrec, 5))
        j = 0
        bad = 0
        worst_bal = 0.0
        sum_eta = 0.0
        prev_f = 0.0
        prev_eta = 0.0
        prev_g2 = 0.0
        for t in range(steps + 1):
            f = 0.0
            for i in range(d1):
                for k in range(d2):
                    s = -M[i, k]
                    for c in range(rr):
                        s += U[i, c] * V[k, c]
                    R[i, k] = s
                    f += 0.5 * s * s
            g2 = 0.0
            for i in range(d1):
                for c in range(rr):
                    s = 0.0
                    for k in range(d2):
                        s += R[i, k] * V[k, c]
                    GU[i, c] = s
                    g2 += s * s
            for k in range(d2):
                for c in range(rr):
                    s = 0.0
                    for i in range(d1):
                        s += R[i, k] * U[i, c]
                    GV[k, c] = s
                    g2 += s * s
            bal = 0.0
            for a in range(rr):
                for b in range(rr):
                    s = 0.0
                    for i in range(d1):
                        s += U[i, a] * U[i, b]
                    for k in range(d2):
                        s -= V[k, a] * V[k, b]
                    bal += s * s
            bal = np.sqrt(bal)
            if bal > worst_bal:
                worst_bal = bal
            if t > 0:  # (4.16) for the previous step
                if f > prev_f - prev_eta / 2 * prev_g2 + 1e-15 * prev_f:
                    bad += 1
            if j < nrec and t == rec_at[j]:
                rec[j, 0] = t
                rec[j, 1] = f
                rec[j, 2] = np.sqrt(g2)
                rec[j, 3] = bal
                rec[j, 4] = sum_eta
                j += 1
            if t == steps:
                break
            eta = np.sqrt(eps / r) / (100.0 * (t + 1.0) ** (0.5 + delta) * mnorm ** 1.5)
            sum_eta += eta
            for i in range(d1):
                for c in range(rr):
                    U[i, c] -= eta * GU[i, c]
            for k in range(d2):
                for c in range(rr):
                    V[k, c] -= eta * GV[k, c]
            prev_f, prev_eta, prev_g2 = f, eta, g2
        return rec, bad, worst_bal

    return run


def _hessian_min(U, V, M):
    from ..simulators import balance as B

    H = B.mf_hessian_matrix(U, V, M)
    return float(np.linalg.eigvalsh(0.5 * (H + H.T))[0])


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None, steps=None) -> dict:
    steps = steps or (200_000 if quick else 10_000_000)
    d, eps, delta, s0 = 4, 0.5, 0.1, 1e-2
    kernel = _kernel()
    rec_at = np.unique(np.round(np.logspace(0, np.log10(steps), 60)).astype(np.int64))
    rec_at = np.concatenate([[0], rec_at[rec_at < steps], [steps]])
    runs = {}
    for r in (1, 2):
        if progress:
            progress(f"{NAME}: r = {r}, {steps} steps")
        rng = np.random.default_rng([seed, r])
        M = rng.standard_normal((d, r)) @ rng.standard_normal((r, d))
        M /= np.linalg.norm(M)
        U, V = s0 * rng.standard_normal((d, r)), s0 * rng.standard_normal((d, r))
        rec, bad, bal = kernel(U, V, M, eps, float(r), delta, 1.0, steps, rec_at)
        dist = float(np.linalg.norm(U @ V.T - M))
        runs[f"r={r}"] = dict(
            record=rec, descent_violations=int(bad), steps=steps, max_balance=float(bal),
            final_dist=dist, final_grad=float(rec[-1, 2]), sum_eta=float(rec[-1, 4]),
            hessian_min=_hessian_min(U, V, M),
            theorem_holds=bool(dist <= eps), lemma41_i=bool(bal <= eps))
    out = dict(name=NAME, quick=quick, seed=seed, d=d, eps=eps, delta=delta, s0=s0, runs=runs,
               labels=LABELS,
               schedule="eta_t = sqrt(eps/r)/(100 (t+1)^(1/2+delta) |M*|_F^(3/2))")
    return save(out_dir, NAME, out, _draw, ncols=2,
                title="Thm 4.4: GD with the decaying step schedule",
                params={"d": d, "epsilon": eps, "delta": delta, "steps": steps, "seed": seed,
                        "quick": quick})


def _draw(axes, out):
    for ax, (key, r) in zip(axes, out["runs"].items()):
        rec = np.asarray(r["record"])
        t = np.maximum(rec[:, 0], 1)
        ax.loglog(t, rec[:, 1], label=r"$f(U_t, V_t)$")
        ax.loglog(t, rec[:, 2], label=r"$\|\nabla f\|_F$")
        ax.loglog(t, np.maximum(rec[:, 3], 1e-300), label=r"$\|U^\top U - V^\top V\|_F$")
        ax.axhline(out["eps"], color="k", lw=0.6, ls=":", label=r"$\epsilon$")
        ax.set_title(key, fontsize="medium")
        axis(ax, x=r"iteration $t$", y=r"value", legend=True)


def report(result: dict) -> str:
    lines = [f"{NAME}: d = {result['d']}, eps = {result['eps']}, delta = {result['delta']}, init "
             f"N(0, {result['s0']}^2) (ours), schedule {result['schedule']} (as read)"]
    for key, r in result["runs"].items():
        lines.append(
            f"  {key}: {r['steps']} steps, sum eta = {r['sum_eta']:.2f}; (4.16) violations "
            f"{r['descent_violations']}; max |U^T U - V^T V|_F = {r['max_balance']:.2e} (<= eps: "
            f"{r['lemma41_i']}); final |grad f| = {r['final_grad']:.2e}, |UV^T - M*|_F = "
            f"{r['final_dist']:.3e} (<= eps: {r['theorem_holds']}), lambda_min(Hessian) = "
            f"{r['hessian_min']:.2e}")
    return "\n".join(lines)
