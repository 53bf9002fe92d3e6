"""Thesis Fig. 2.1 (seed 004, sec. 2.4): two-layer ReLU network trained by GD on synthetic data.

n points uniform on the unit sphere of R^d (thesis: n = d = 1000), labels ~ N(0, 1);
f = m^{-1/2} sum_r a_r relu(w_r.x), w_r ~ N(0, I), a_r ~ U{-1, 1} fixed; GD on W for the given
number of epochs with a fixed step eta = 1/||H_inf|| (H_inf from the derived closed form,
kernels.gram("h_inf"); the thesis does not state eta).  Metrics per iteration, for several
widths m: the training loss, the fraction of activation patterns that changed,
(1/(mn)) sum_{r,i} 1{sign(w_r(k).x_i) != sign(w_r(0).x_i)}, and max_r |w_r(k) - w_r(0)|.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._plotting import axis, save

NAME = "fig2_1"
DESCRIPTION = "Thesis Fig. 2.1: loss, pattern changes, max weight movement vs iteration for several m"


def train(X, y, m, eta, epochs, rng):
    n, d = X.shape
    W = rng.standard_normal((m, d))
    a = rng.choice([-1.0, 1.0], size=m)
    W0, S0 = W.copy(), (X @ W.T > 0)
    loss, change, move = [], [], []
    for k in range(epochs + 1):
        pre = X @ W.T  # (n, m)
        u = np.maximum(pre, 0.0) @ a / math.sqrt(m)
        r = u - y
        loss.append(0.5 * float(r @ r))
        change.append(float(np.mean((pre > 0) != S0)))
        move.append(float(np.max(np.linalg.norm(W - W0, axis=1))))
        if k == epochs:
            break
        G = ((r[:, None] * (pre > 0)) * a[None, :]).T @ X / math.sqrt(m)  # dL/dW, (m, d)
        W -= eta * G
    return loss, change, move


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None) -> dict:
    from derivations import kernels as K

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n, d, widths, epochs = (60, 60, (50, 200, 800), 40) if quick else (1000, 1000, (100, 400, 1600),
                                                                      100)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.standard_normal(n)
    Hinf = K.gram("h_inf", X)
    ev = np.linalg.eigvalsh(Hinf)
    eta = 1.0 / ev[-1]
    runs = []
    for m in widths:
        if progress:
            progress(f"{NAME}: m = {m}, n = d = {n}, {epochs} epochs")
        loss, change, move = train(X, y, m, eta, epochs, np.random.default_rng([seed, m]))
        runs.append({"m": m, "loss": loss, "pattern_change": change, "max_movement": move})
    out = {"name": NAME, "quick": quick, "seed": seed,
           "params": {"n": n, "d": d, "widths": list(widths), "epochs": epochs, "eta": eta},
           "lambda_0_H_inf": float(ev[0]), "lambda_max_H_inf": float(ev[-1]), "runs": runs}
    p = out["params"]
    title = (f"Thesis Fig. 2.1: two-layer ReLU, points on $S^{{{p['d'] - 1}}}$, labels "
             r"$\mathcal{N}(0,1)$, GD with $\eta = 1/\|H^\infty\|$")
    return save(out_dir, NAME, out, _draw, title=title, params={**p, "seed": seed}, ncols=3,
                figsize=(12, 3.9))


def _draw(ax, out):
    for r in out["runs"]:
        ax[0].semilogy(r["loss"], label=f"m = {r['m']}")
        ax[1].plot(r["pattern_change"], label=f"m = {r['m']}")
        ax[2].plot(r["max_movement"], label=f"m = {r['m']}")
    for a, y in zip(ax, (r"training loss $\frac{1}{2}\|u(k)-y\|^2$", "fraction of pattern changes",
                         r"$\max_r\|w_r(k)-w_r(0)\|_2$")):
        axis(a, x=r"iteration $k$", y=y, legend=True)


def report(result: dict) -> str:
    rows = [f"{NAME}: n = d = {result['params']['n']}, lambda_0(H_inf) = "
            f"{result['lambda_0_H_inf']:.4g}"]
    for r in result["runs"]:
        rows.append(f"  m = {r['m']:>5}: loss {r['loss'][0]:.4g} -> {r['loss'][-1]:.4g}, "
                    f"pattern changes {r['pattern_change'][-1]:.4f}, max movement "
                    f"{r['max_movement'][-1]:.4f}")
    ch = [r["pattern_change"][-1] for r in result["runs"]]
    mv = [r["max_movement"][-1] for r in result["runs"]]
    rows.append("  thesis Fig. 2.1: wider nets converge as fast and change fewer patterns / move "
                "less; here pattern changes decrease with m: "
                f"{all(a >= b for a, b in zip(ch, ch[1:]))}, movement decreases with m: "
                f"{all(a >= b for a, b in zip(mv, mv[1:]))}")
    return "\n".join(rows)
