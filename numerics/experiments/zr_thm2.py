"""ZR Theorem 2 (seed 003): no vanishing or exploding gradient during training.

|du_i/dxi|_2 for every parameter group xi (W^(1), each W^(h), alpha, a) and every point i,
tracked over GD; the theorem claims m_1 <= |du_i/dxi| <= M = O(sqrt n) for all k.  Same setting
as zr_thm1 (ReLU, spec C0, Gaussian init, GD on all parameters, eta = 0.5/lambda_max(J J^T(0))).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..simulators import resnet as S
from ._plotting import axis, save

NAME = "zr_thm2"
DESCRIPTION = "ZR Thm 2: per-group gradient magnitudes |du_i/dxi| over training stay bounded"


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None) -> dict:
    n, d, m, H = (5, 5, 32, 4) if quick else (10, 10, 256, 8)
    steps = 100 if quick else 1000
    every = max(1, steps // 25)
    rng = np.random.default_rng(seed)
    X = S.unit_inputs(rng, n, d)
    y = rng.standard_normal(n)
    p = S.init(rng, d, m, H)
    J, sl = S.output_jacobian(X, p)
    eta = 0.5 / float(np.linalg.eigvalsh(J @ J.T)[-1])
    names = ["W^{(1)}"] + [f"W^{{({h})}}" for h in range(2, H + 1)] + [r"\alpha", "a"]
    track = {"k": [], "min": [], "max": [], "loss": []}

    def record(k, q, u):
        if k % every:
            return
        Jk, _ = S.output_jacobian(X, q)
        norms = np.array([np.linalg.norm(Jk[:, s], axis=1) for s in sl])  # groups x points
        track["k"].append(k)
        track["min"].append(norms.min(axis=1))
        track["max"].append(norms.max(axis=1))
        track["loss"].append(float(np.sum((y - u) ** 2)))

    if progress:
        progress(f"{NAME}: m = {m}, H = {H}, {steps} steps")
    S.gd(X, y, p, eta, steps, record=record)
    mn, mx = np.array(track["min"]), np.array(track["max"])
    out = dict(name=NAME, quick=quick, seed=seed, n=n, d=d, m=m, H=H, eta=eta, steps=steps,
               groups=names, k=track["k"], min=mn, max=mx, loss=track["loss"],
               overall_min=mn.min(axis=0), overall_max=mx.max(axis=0),
               sqrt_n=float(np.sqrt(n)))
    return save(out_dir, NAME, out, _draw, title="ZR Thm 2: gradient magnitudes per group",
                params={"n": n, "m": m, "H": H, "eta": round(eta, 4), "seed": seed})


def _draw(ax, out):
    k = np.array(out["k"])
    mn, mx = np.array(out["min"]), np.array(out["max"])
    for g, name in enumerate(out["groups"]):
        line, = ax.plot(k, mx[:, g], label=f"${name}$")
        ax.plot(k, mn[:, g], ":", color=line.get_color())
    axis(ax, x=r"iteration $k$", y=r"$\max_i$ (solid) / $\min_i$ (dotted) $\|\partial u_i/\partial\xi\|_2$",
         log_y=True)
    ax.legend(fontsize="x-small", ncol=2)


def report(result: dict) -> str:
    lines = [f"{NAME}: n = {result['n']}, m = {result['m']}, H = {result['H']}, eta = "
             f"{result['eta']:.3g}, {result['steps']} steps (seed {result['seed']}"
             f"{', quick' if result['quick'] else ''})",
             f"{'group':>10} {'min_k,i':>10} {'max_k,i':>10}"]
    for g, lo, hi in zip(result["groups"], result["overall_min"], result["overall_max"]):
        lines.append(f"{g.replace('{', '').replace('}', ''):>10} {lo:10.4g} {hi:10.4g}")
    lines.append(f"Paper (Thm 2): m_1 <= |du_i/dxi| <= M = O(sqrt n) (sqrt n = {result['sqrt_n']:.3g}). "
                 f"Measured: all groups stay within [{min(result['overall_min']):.3g}, "
                 f"{max(result['overall_max']):.3g}] over training (loss {result['loss'][0]:.3g} -> "
                 f"{result['loss'][-1]:.3g}).")
    return "\n".join(lines)
