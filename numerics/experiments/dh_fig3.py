"""DH Fig. 3 / spec DH-E4: the loss landscape around the point of convergence, with and without
channel normalization (seed 000, sec. 3, lines 63-67).

Panels (a, b): multi-channel ReLU CNN, d = 10 layers, filter 9, 4 channels (the caption), with
fixed CN (gamma = 1, beta = 0, eps = 1e-5) and without normalization; (c, d): single-channel
linear circulant CNN, d = 10, filter 9, with fixed CN and without.  Model:
``numerics.simulators.circulant.ConvNet`` (backprop FD-checked in tests/test_circulant.py).

Choices the paper does not state: n = 64; (a, b) x ~ U[0, 1]^n and the step target of sec. 3
(Fig. 2's setting), fan-in init, eta = 0.01; (c, d) the problem of ``dh_fig5`` (centered Gaussian
x, representable y = C(h) x with |y| = sqrt(n), taps N(0, 1/(np)), output scale a = 1, eta =
1e-4); "convergence" = the end of a fixed number of GD steps (full 2000 / 3000, quick 150 /
300).  The slice: L(theta* + s delta_1 + t delta_2) on a grid s, t in [-1, 1], with two random
Gaussian directions normalized filter by filter to the norm of the converged filter (and of the
output weights), the usual "filter normalization" of loss-landscape plots (the paper names no
directions; spec DH-E4 suggests two random normalized ones).  Reported: the loss range over
the slice relative to the centre's loss, and the mean |L - L(theta*)| on the circle of radius
0.25.  Paper (line 63, qualitative): without normalization the surface is very flat, with CN
steep.  All numbers are ours.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._plotting import axis, save

NAME = "dh_fig3"
DESCRIPTION = "DH Fig. 3 (DH-E4): loss landscape at convergence, ReLU 4-ch and linear CNN, CN vs none"
PANELS = (("a", "relu", "fixed"), ("b", "relu", "none"), ("c", "linear", "fixed"),
          ("d", "linear", "none"))


def _problem(kind, n, p, seed):
    from .dh_fig5 import problem

    if kind == "linear":
        return problem(n, p, seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, n)
    y = np.where(np.arange(n) < n // 2, 0.0, 1.0)
    return x, y


def _converge(kind, norm, n, d, p, steps, seed):
    from numerics.simulators import circulant as S

    x, y = _problem(kind, n, p, seed)
    if kind == "linear":
        net = S.ConvNet(n, 1, d, p, norm=norm, relu=False)
        params = net.init(np.random.default_rng(seed + 1), scale=1 / np.sqrt(n * p))
        params["a"] = np.ones(1)
        eta = 1e-4
    else:
        net = S.ConvNet(n, 4, d, p, norm=norm)
        params = net.init(np.random.default_rng(seed + 1))
        eta = 0.01
    params, L, G = S.train_gd(net, params, x, y, eta, steps)
    return net, params, x, y, L, G, eta


def _directions(params, rng):
    """Two Gaussian directions, each filter (and the output weights) scaled to the norm of the
    converged one; gamma/beta are not trained by these variants and are not perturbed."""
    out = []
    for _ in range(2):
        dirs = {}
        for k, v in params.items():
            if k.startswith("K"):
                r = rng.standard_normal(v.shape)
                fn = np.linalg.norm(v, axis=-1, keepdims=True)   # per filter (out, in, taps)
                dirs[k] = r / np.linalg.norm(r, axis=-1, keepdims=True) * fn
            elif k == "a":
                r = rng.standard_normal(v.shape)
                dirs[k] = r / np.linalg.norm(r) * np.linalg.norm(v)
        out.append(dirs)
    return out


def _slice(net, params, x, y, dirs, grid):
    L = np.empty((len(grid), len(grid)))
    for i, s in enumerate(grid):
        for j, t in enumerate(grid):
            q = {k: (v + s * dirs[0][k] + t * dirs[1][k]) if k in dirs[0] else v
                 for k, v in params.items()}
            with np.errstate(all="ignore"):
                f = net.forward(q, x)
            r = f - y
            L[i, j] = 0.5 * float(r @ r)
    return L


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None) -> dict:
    n, d, p = 64, 10, 9
    steps = {"relu": 150, "linear": 300} if quick else {"relu": 2000, "linear": 3000}
    m = 9 if quick else 25
    grid = np.linspace(-1.0, 1.0, m)
    res = {"n": n, "d": d, "p": p, "steps": steps, "grid": grid, "panels": {}}
    for key, kind, norm in PANELS:
        net, params, x, y, L, G, eta = _converge(kind, norm, n, d, p, steps[kind], seed)
        dirs = _directions(params, np.random.default_rng([seed, ord(key)]))
        S = _slice(net, params, x, y, dirs, grid)
        c = S[m // 2, m // 2]
        # mean |L - L*| on the circle of radius 0.25 (16 points)
        th = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ring = []
        for a in th:
            q = {k: (v + 0.25 * np.cos(a) * dirs[0][k] + 0.25 * np.sin(a) * dirs[1][k])
                 if k in dirs[0] else v for k, v in params.items()}
            r = net.forward(q, x) - y
            ring.append(abs(0.5 * float(r @ r) - c))
        res["panels"][key] = {
            "network": "4-channel ReLU CNN" if kind == "relu" else "1-channel linear CNN",
            "normalization": norm, "eta": eta, "train_loss": L, "final_loss": float(L[-1]),
            "grad_norm_final_mean": float(np.nanmean(G[-1])), "slice": S, "center": float(c),
            "range_over_center": float((np.nanmax(S) - np.nanmin(S)) / c),
            "ring_mean_abs_change_over_center": float(np.mean(ring) / c)}
        if progress:
            progress(f"({key}) {kind}, {norm}: final loss {L[-1]:.4g}, slice range / centre "
                     f"{res['panels'][key]['range_over_center']:.3g}")

    def draw(axes, out):
        g = np.asarray(out["grid"])
        for ax, (key, kind, norm) in zip(axes, PANELS):
            P = out["panels"][key]
            Z = np.log10(np.asarray(P["slice"], float))
            cs = ax.contourf(g, g, Z.T, levels=20, cmap="viridis")
            cb = ax.figure.colorbar(cs, ax=ax, label=r"$\log_{10} L$", format="%.10g")
            ax.plot([0], [0], "r+")
            ax.set_title(f"({key}) {P['network']}, "
                         f"{'with CN' if norm == 'fixed' else 'no normalization'}\n"
                         f"range/centre {P['range_over_center']:.2g}", fontsize=9)
            axis(ax, r"step $s$ along $\delta_1$", r"step $t$ along $\delta_2$")

    return save(out_dir, NAME, res, draw,
                title=("DH Fig. 3: loss $L(\\theta^* + s\\delta_1 + t\\delta_2)$ around the point "
                       "of convergence (filter-normalized random directions)"),
                params={"n": n, "d": d, "p": p, "k": "4; 1", "steps": f"{steps['relu']}; "
                        f"{steps['linear']}", "eta": "0.01; 1e-4", "seed": seed, "quick": quick},
                ncols=2, nrows=2, figsize=(10, 8.4))


def report(result: dict) -> str:
    lines = [f"ours: n={result['n']}, d={result['d']}, filter {result['p']}, GD steps "
             f"{result['steps']}; slice s, t in [-1, 1] ({len(result['grid'])}^2 points)"]
    for key, kind, norm in PANELS:
        P = result["panels"][key]
        lines.append(f"({key}) {P['network']:22s} {norm:5s}: final loss {P['final_loss']:.4g}, "
                     f"slice range/centre {P['range_over_center']:.3g}, mean |dL|/L at r = 0.25 "
                     f"{P['ring_mean_abs_change_over_center']:.3g}")
    lines.append("paper (seed 000 line 63, qualitative, no numbers): without normalization the "
                 "loss surface is very flat, with CN steep")
    return "\n".join(lines)
