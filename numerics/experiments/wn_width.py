"""WN Theorems 4.1-4.2: from which width m do the rates hold?  (seed 002, sec. 4; issue 24)

The theorems assume ``m = Omega(n^4 log(n/delta)/lambda_0^4)`` (4.1, alpha <= 1) and
``m = Omega(max{n^4 log(n/delta)/(alpha^4 mu_0^4), n^2 log(n/delta)/mu_0^2})`` (4.2,
alpha >= 1; at ``alpha* = sqrt(n/mu_0)`` the second term alone).  The paper runs no experiment:
this sweep measures, for each width m and initialization scale alpha, over independent draws
of the initialization (2.4), whether the two conclusions hold along GD:

1. ``lambda_min(Lambda(s)) >= lambda_0/(2 alpha^2)`` (Thm 4.1) or ``>= mu_0/2`` (Thm 4.2) at
   every checkpoint s (``Lambda = V/alpha^2 + G`` from the simulated network's Jacobians);
2. ``|f(s) - y|^2 <= (1 - eta lambda_0/(2 alpha^2))^s |f(0) - y|^2`` (4.1) or
   ``(1 - eta mu_0/2)^s`` (4.2) at every step.

Data: n = 10 unit points in d = 50 (Assumptions 1-2), y ~ N(0, I) (|y|_inf = O(1));
``lambda_0``, ``mu_0`` from the derived closed-form Grams (``kernels.gram``); step
``eta = 0.5/||V_inf/alpha^2 + G_inf||`` (as ``wn_rates``; the theorems' ``eta = O(...)`` leave the
constant open).  The predicted widths are the registered ``wn.width_thm41`` / ``wn.width_thm42``
with delta = 0.1 and the unknown Omega-constant set to 1, so only their order of magnitude is
comparable.  Cells (alpha, m, draw) are independent tasks with their own seeds
(``numerics.sweep``: in process, or ``--workers N`` / ``--scheduler ADDRESS`` on Dask).
Labels: the seed prints no numbers for this ("paper": the conditions only); everything measured
is "ours"; the predicted widths are "ours" too (the registered formulas at constant 1).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._plotting import axis, save

NAME = "wn_width"
DESCRIPTION = "WN Thms 4.1/4.2: sweep the width m; where the rates start to hold vs the predicted widths"
DELTA = 0.1


def add_arguments(parser) -> None:
    parser.add_argument("--workers", type=int, default=None,
                        help="run the cells on a local Dask cluster with N workers")
    parser.add_argument("--scheduler", default=None,
                        help="attach to a running Dask scheduler at ADDRESS")


def _setup(seed: int):
    from derivations import kernels as K
    from ..simulators import wn as sim

    n, d = 10, 50
    rng = np.random.default_rng(seed)
    X = sim.unit_data(rng, n, d)
    y = rng.standard_normal(n)
    Vinf, Ginf = K.gram("v_inf", X), K.gram("g_inf", X)
    return X, y, Vinf, Ginf


def cell(task: dict) -> dict:
    """One (alpha, m, draw): GD from a fresh initialization; both conclusions checked."""
    from ..simulators import wn as sim
    from ..sweep import seed_for

    X, y, Vinf, Ginf = _setup(task["seed"])
    alpha, m, steps = task["alpha"], task["m"], task["steps"]
    lam0, mu0 = float(np.linalg.eigvalsh(Vinf)[0]), float(np.linalg.eigvalsh(Ginf)[0])
    eta = 0.5 / float(np.linalg.eigvalsh(Vinf / alpha**2 + Ginf)[-1])
    regime = "4.1" if alpha <= 1 else "4.2"
    floor = lam0 / (2 * alpha**2) if regime == "4.1" else mu0 / 2
    rate = eta * floor                       # (1 - eta lambda_0/(2 alpha^2)) or (1 - eta mu0/2)
    net = sim.init(seed_for(task["seed"], task["ia"], m, task["k"]), m, X.shape[1], alpha)
    lams = []

    def record(s, nt):
        if s % task["every"] == 0:
            V, G, _ = sim.grams(nt, X)
            lams.append(float(np.linalg.eigvalsh(V / alpha**2 + G)[0]))

    res, _, _ = sim.gd(net, X, y, eta, steps, record=record)
    s = np.arange(steps + 1)
    bound = (1 - rate) ** s * res[0]
    live = res > 1e-20 * res[0]
    rate_ok = bool(np.all(res[live] <= bound[live] * (1 + 1e-12)))
    lam_ok = bool(min(lams) >= floor)
    return {"alpha": alpha, "m": m, "k": task["k"], "rate_held": rate_ok, "lambda_held": lam_ok,
            "min_lambda_over_floor": min(lams) / floor,
            "worst_residual_over_bound": float(np.max(res[live] / bound[live]))}


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None, workers=None,
        scheduler=None) -> dict:
    from derivations.generated import wn as W

    from ..sweep import run as sweep

    X, y, Vinf, Ginf = _setup(seed)
    n = X.shape[0]
    lam0, mu0 = float(np.linalg.eigvalsh(Vinf)[0]), float(np.linalg.eigvalsh(Ginf)[0])
    a_star = float(W.alpha_opt(float(n), mu0))
    alphas = (0.5, 4.0, a_star)
    widths = (5, 10, 20, 40, 80, 160, 320, 640, 1280) if not quick else (5, 20, 80, 320)
    draws, steps = (8, 100) if not quick else (3, 30)
    tasks = [{"seed": seed, "ia": ia, "alpha": a, "m": m, "k": k, "steps": steps,
              "every": max(1, steps // 5)}
             for ia, a in enumerate(alphas) for m in widths for k in range(draws)]
    cells = sweep(cell, tasks, workers=workers, scheduler=scheduler, progress=progress,
                  desc=NAME, label=lambda t: f"alpha={t['alpha']:.3g} m={t['m']} draw {t['k']}")
    rows = []
    for a in alphas:
        pred = (float(W.width_thm41(float(n), DELTA, lam0)) if a <= 1
                else float(W.width_thm42(float(n), DELTA, a, mu0)))
        per_m = []
        for m in widths:
            cs = [c for c in cells if c["alpha"] == a and c["m"] == m]
            per_m.append({"m": m, "rate_fraction": float(np.mean([c["rate_held"] for c in cs])),
                          "lambda_fraction": float(np.mean([c["lambda_held"] for c in cs])),
                          "both_fraction": float(np.mean([c["rate_held"] and c["lambda_held"]
                                                          for c in cs])),
                          "min_lambda_over_floor": float(min(c["min_lambda_over_floor"] for c in cs))})
        # the smallest width from which every draw held both conclusions at every larger width
        m_hold = None
        for i in range(len(widths)):
            if all(r["both_fraction"] == 1.0 for r in per_m[i:]):
                m_hold = widths[i]
                break
        rows.append({"alpha": a, "theorem": "4.1" if a <= 1 else "4.2", "predicted_width": pred,
                     "m_hold": m_hold, "per_m": per_m})
    out = {"name": NAME, "quick": quick, "seed": seed, "n": n, "d": X.shape[1], "delta": DELTA,
           "lambda_0": lam0, "mu_0": mu0, "alpha_star": a_star, "widths": list(widths),
           "draws": draws, "steps": steps, "rows": rows, "cells": cells,
           "predicted_width_alpha_star": float(W.width_opt(float(n), DELTA, mu0)),
           "compare": {"paper": {"seed_line": "002:239 (Thm 4.1), 002:256 (Thm 4.2), 002:265 "
                                 "(alpha = sqrt(n/mu_0))", "numbers": None},
                       "predicted": "ours: registered wn.width_* with the Omega-constant 1"}}
    title = (r"WN Thms 4.1/4.2: fraction of draws where $\lambda_{\min}(\Lambda(s))$ and the "
             rf"rate hold vs width $m$; $\lambda_0 = {lam0:.3g}$, $\mu_0 = {mu0:.3g}$; dotted: "
             r"predicted widths (Omega-constant 1)")
    return save(out_dir, NAME, out, _draw, title=title,
                params={"n": n, "d": X.shape[1], "delta": DELTA, "draws": draws, "steps": steps,
                        "eta": r"0.5/\|\Lambda^\infty\|", "seed": seed, "quick": quick},
                ncols=len(rows), figsize=(4.2 * len(rows), 4.0))


def _draw(axes, out):
    widths = out["widths"]
    for ax, r in zip(axes, out["rows"]):
        ax.semilogx(widths, [p["rate_fraction"] for p in r["per_m"]], "o-", label="rate held")
        ax.semilogx(widths, [p["lambda_fraction"] for p in r["per_m"]], "s--",
                    label=r"$\lambda_{\min}$ floor held")
        ax.axvline(r["predicted_width"], color="k", ls=":", label="predicted width")
        if r["m_hold"] is not None:
            ax.axvline(r["m_hold"], color="C2", lw=0.8, label="all draws hold from here")
        ax.set_xlim(widths[0] / 2, r["predicted_width"] * 5)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(rf"$\alpha = {r['alpha']:.3g}$ (Thm {r['theorem']}); predicted "
                     rf"$m \approx {r['predicted_width']:.2g}$", fontsize=9)
        axis(ax, r"width $m$", r"fraction of draws", legend=ax is axes[0])


def report(result: dict) -> str:
    lines = [f"{NAME} (ours): n = {result['n']}, d = {result['d']}, lambda_0 = "
             f"{result['lambda_0']:.4g}, mu_0 = {result['mu_0']:.4g}, alpha* = sqrt(n/mu_0) = "
             f"{result['alpha_star']:.4g}; {result['draws']} draws x {result['steps']} GD steps "
             f"per width"]
    for r in result["rows"]:
        fr = ", ".join(f"{p['m']}: {p['both_fraction']:.2f}" for p in r["per_m"])
        lines.append(f"  alpha = {r['alpha']:.4g} (Thm {r['theorem']}): fraction of draws with both "
                     f"conclusions {fr}; holds from m = {r['m_hold']}; predicted width (constant "
                     f"1, delta = {result['delta']}) {r['predicted_width']:.3g}")
    lines.append("paper (seed 002 lines 239, 256, 265): the width conditions only, no experiment; "
                 "the Omega-constants are not stated, so only orders of magnitude compare")
    return "\n".join(lines)
