"""Key observation (7.3) of the seed 004 thesis (sec. 7.3): two saddles in a row.

On the (discontinuous) two-dimensional function

    f = -gamma x1^2 + L x2^2        x1 in [0, 1], x2 in [0, 1]
      = L (x1 - 2)^2 - gamma x2^2   x1 in [1, 3], x2 in [0, 1]
      = L (x1 - 2)^2 + L (x2 - 2)^2 x1 in [1, 3], x2 in [1, 3]

GD escapes the first saddle at ``t1 = min{t : x1 >= 1}`` and the second at
``t2 = min{t : x2 >= 1}``; the thesis shows ``t2 >= [2 eta (L+gamma) t1 + log(1/x2^(0))] /
(2 eta gamma) >= ((L + gamma)/gamma) t1``.  GD is simulated step by step from the gradient of
the pieces above (float64 is exact enough here: the pending coordinate never drops below
~1e-60), from 200 starts ``U(0, 1]^2`` per (L, eta).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._plotting import axis, save

NAME = "key_observation"
DESCRIPTION = "Key observation (7.3): t2 >= ((L+gamma)/gamma) t1 for GD on two consecutive saddles"
LS = (1.0, 1.5, 2.0, math.e, 3.0)
GAMMA = 1.0


def grad(x, L, gamma):
    """Gradient of (7.3) at the rows of ``x`` (piece chosen by x1 < 1, x2 < 1)."""
    x1, x2 = x[:, 0], x[:, 1]
    first = x1 < 1
    g1 = np.where(first, -2 * gamma * x1, 2 * L * (x1 - 2))
    g2 = np.where(first, 2 * L * x2, np.where(x2 < 1, -2 * gamma * x2, 2 * L * (x2 - 2)))
    return np.stack([g1, g2], axis=1)


def escape_times(x0, L, gamma, eta, max_steps=10**6):
    x = np.array(x0, float)
    n = len(x)
    t1 = np.full(n, -1)
    t2 = np.full(n, -1)
    t = 0
    while (t2 < 0).any() and t < max_steps:
        t1[(t1 < 0) & (x[:, 0] >= 1)] = t
        t2[(t2 < 0) & (x[:, 1] >= 1)] = t
        if not (t2 < 0).any():
            break
        x = x - eta * grad(x, L, gamma)
        t += 1
    return t1, t2


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = 40 if quick else 200
    rows = []
    for L in LS:
        for label, eta in (("1/(4L)", 1 / (4 * L)), ("1/(40L)", 1 / (40 * L))):
            if progress:
                progress(f"{NAME}: L = {L:.4g}, eta = {label}")
            x0 = 1.0 - rng.random((n, 2))  # U(0, 1]
            t1, t2 = escape_times(x0, L, GAMMA, eta)
            bound = (L + GAMMA) / GAMMA
            fine = (2 * eta * (L + GAMMA) * t1 + np.log(1 / x0[:, 1])) / (2 * eta * GAMMA)
            ok = t1 > 0
            rows.append({
                "L": L, "eta": label, "starts": n,
                "bound": bound,
                "min_ratio_t2_t1": float(np.min(t2[ok] / t1[ok])),
                "median_ratio_t2_t1": float(np.median(t2[ok] / t1[ok])),
                "holds_fraction": float(np.mean(t2[ok] >= bound * t1[ok])),
                "holds_refined_fraction": float(np.mean(t2 >= fine)),
                "median_t1": float(np.median(t1)), "median_t2": float(np.median(t2)),
            })
    out = {"name": NAME, "gamma": GAMMA, "seed": seed, "quick": quick, "results": rows}
    params = {"gamma": GAMMA, "eta": "1/(4L), 1/(40L)", "starts": n, "seed": seed}
    return save(out_dir, NAME, out, _draw, params=params,
                title=r"Key observation (7.3): $t_2 \geq ((L+\gamma)/\gamma)\, t_1$ for GD")


def _draw(ax, out: dict) -> None:
    rows = out["results"]
    for lab, mk in (("1/(4L)", "o"), ("1/(40L)", "s")):
        rs = [r for r in rows if r["eta"] == lab]
        ax.plot([r["L"] for r in rs], [r["min_ratio_t2_t1"] for r in rs], mk + "-",
                label=f"min $t_2/t_1$ over starts, $\\eta = {lab}$")
    ax.plot(LS, [(L + GAMMA) / GAMMA for L in LS], "k--", label=r"bound $(L+\gamma)/\gamma$")
    axis(ax, x=r"curvature $L$ of the stable direction", y=r"escape-time ratio $t_2/t_1$",
         legend=True)


def report(result: dict) -> str:
    lines = [f"{NAME}: GD on (7.3), gamma = 1, {result['results'][0]['starts']} starts U(0,1]^2 per row",
             f"{'L':>6} {'eta':>8} {'(L+g)/g':>8} {'min t2/t1':>10} {'holds':>6} {'refined holds':>13}"]
    for r in result["results"]:
        lines.append(f"{r['L']:6.3g} {r['eta']:>8} {r['bound']:8.3f} {r['min_ratio_t2_t1']:10.3f} "
                     f"{r['holds_fraction']:6.0%} {r['holds_refined_fraction']:13.0%}")
    allok = all(r["holds_fraction"] == 1 and r["holds_refined_fraction"] == 1 for r in result["results"])
    lines.append(f"Paper: t2 >= ((L+gamma)/gamma) t1.  Holds on every start: {allok}.")
    if result.get("png_note"):
        lines.append(result["png_note"])
    return "\n".join(lines)
