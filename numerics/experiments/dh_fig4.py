"""DH Fig. 4 / spec DH-E5: distribution of gradient entries at initialization, with and without
channel normalization (seed 000, sec. 4 and the Fig. 4 caption).

Panels (a, b): single-channel linear circulant CNN, n = 100, d = 6, kernel p = n (not stated in
the paper), taps N(0, 1/(np)) (Theorem 1's initialization, the spec's suggestion), with and
without channel normalization (emitted ``circulant.cn_grad_w``, w_out = 1, vs
``circulant.grad``); x ~ N(0, I) centered, y ~ N(0, I).

Panels (c, d): multi-channel ReLU CNN, n = 64, d = 6 hidden layers, filter size 9, 4 channels
(the caption's parameters): ``numerics.simulators.circulant.ConvNet(64, 4, 6, 9)`` (conv -> CN
-> ReLU, 1x1 output layer; backprop FD-checked in tests/test_circulant.py) with fixed CN
(gamma = 1, beta = 0, eps = 1e-5) vs no normalization.  Choices the paper does not state: the
setting of its multi-channel experiment (sec. 3, Fig. 2): x ~ U[0, 1]^n and a step target
(0 on the first half, 1 on the second), both fixed; filters N(0, 1/(c_in * 9)) (fan-in init),
output weights N(0, 1/4); every draw re-initializes all weights.  The entries are those of the
filter gradients of all layers.

Tail statistics are scale-free (the two variants' gradients differ in scale): kurtosis, the
ratio of the 99.9th percentile of |g| to its median, and the fraction of entries beyond 10x the
median.  The histograms are of g / median|g| on a
common grid (counts in the JSON).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._plotting import axis, save

NAME = "dh_fig4"
DESCRIPTION = ("DH Fig. 4 (DH-E5): gradient entries at init with vs without CN; a-b linear CNN "
               "n=100, d=6; c-d ReLU CNN n=64, d=6, filter 9, 4 channels")
#: histogram grid of g / median|g| (symmetric; the outermost bins collect everything beyond)
EDGES = np.linspace(-60.0, 60.0, 241)


def _tails(g):
    g = np.ravel(g)
    a = np.abs(g)
    k = float(np.mean((g - g.mean()) ** 4) / np.var(g) ** 2)
    return {"kurtosis": k, "q999_over_median": float(np.quantile(a, 0.999) / np.median(a)),
            "frac_over_10_median": float(np.mean(a > 10 * np.median(a))),
            "median_abs": float(np.median(a)), "entries": int(g.size)}


def _hist(g):
    v = np.ravel(g) / np.median(np.abs(g))
    counts, _ = np.histogram(np.clip(v, EDGES[0], EDGES[-1]), bins=EDGES)
    return counts


def linear_grads(draws, seed):
    """(a, b): gradient entries of the linear circulant CNN, (without CN, with CN)."""
    from derivations.generated import circulant as G

    n, d = 100, 6
    p = n
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    x -= x.mean()
    y = rng.standard_normal(n)
    w = rng.standard_normal((draws, d, n)) / np.sqrt(n * p)
    return G.grad(w, x, y), G.cn_grad_w(w, 1.0, x, y)


def relu_grads(draws, seed, n=64, channels=4, depth=6, kernel=9):
    """(c, d): filter-gradient entries of the multi-channel ReLU CNN at ``draws`` independent
    initializations, (without CN, with fixed CN); rows are draws."""
    from numerics.simulators import circulant as S

    x = np.random.default_rng(seed).uniform(0.0, 1.0, n)
    y = np.where(np.arange(n) < n // 2, 0.0, 1.0)
    out = {}
    for norm in ("none", "fixed"):
        net = S.ConvNet(n, channels, depth, kernel, norm=norm)
        rows = []
        for i in range(draws):
            params = net.init(np.random.default_rng([seed, 1, i]))   # same weights both ways
            _, g = net.loss_grad(params, x, y)
            rows.append(np.concatenate([g[f"K{l}"].ravel() for l in range(depth)]))
        out[norm] = np.array(rows)
    return out["none"], out["fixed"]


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None) -> dict:
    draws = 200 if quick else 2000
    g, gc = linear_grads(draws, seed)
    if progress:
        progress("a-b (linear CNN) done")
    h, hc = relu_grads(draws, seed)
    if progress:
        progress("c-d (ReLU CNN) done")
    res = {"n": 100, "d": 6, "p": 100, "draws": draws, "without": _tails(g),
           "with_cn": _tails(gc),
           "multichannel": {"n": 64, "channels": 4, "d": 6, "kernel": 9, "draws": draws,
                            "x": "U[0,1]^n", "y": "step (0 | 1)", "init": "N(0, 1/(c_in*9))",
                            "cn": "fixed (gamma=1, beta=0, eps=1e-5)",
                            "without": _tails(h), "with_cn": _tails(hc)},
           "hist_edges": EDGES,
           "hist": {"a_with_cn": _hist(gc), "b_without": _hist(g),
                    "c_with_cn": _hist(hc), "d_without": _hist(h)}}

    def draw(axes, out):
        mids = 0.5 * (EDGES[1:] + EDGES[:-1])
        panels = (("a_with_cn", "(a) linear CNN, with CN"),
                  ("b_without", "(b) linear CNN, without normalization"),
                  ("c_with_cn", "(c) ReLU CNN, with CN"),
                  ("d_without", "(d) ReLU CNN, without normalization"))
        for ax, (key, title) in zip(axes, panels):
            c = np.asarray(out["hist"][key], float)
            ax.bar(mids, c / c.sum(), width=EDGES[1] - EDGES[0], log=True)
            ax.set_title(title, fontsize=9)
            axis(ax, r"gradient entry $g$ / median $|g|$ (beyond $\pm 60$ in the end bins)",
                 "fraction of entries")

    return save(out_dir, NAME, res, draw,
                title=("DH Fig. 4: gradient entries at initialization; (a, b) linear circulant "
                       "CNN, (c, d) 4-channel ReLU CNN (values: a-b; c-d)"),
                params={"n": "100; 64", "d": 6, "p": "n; 9", "k": "1; 4",
                        "init": r"N(0, 1/(np)); N(0, 1/(c_{in} p))", "draws": draws,
                        "seed": seed}, ncols=2, nrows=2, figsize=(10, 8))


def report(result: dict) -> str:
    a, b = result["without"], result["with_cn"]
    m = result["multichannel"]
    c, e = m["without"], m["with_cn"]
    return (f"(a, b) linear CNN n={result['n']}, d={result['d']}, {result['draws']} draws. "
            f"Without normalization: kurtosis {a['kurtosis']:.3g}, q99.9/median "
            f"{a['q999_over_median']:.3g}; with CN: kurtosis {b['kurtosis']:.3g}, q99.9/median "
            f"{b['q999_over_median']:.3g}.\n"
            f"(c, d) ReLU CNN n={m['n']}, d={m['d']}, filter {m['kernel']}, {m['channels']} "
            f"channels, {m['draws']} draws. Without normalization: kurtosis {c['kurtosis']:.3g}, "
            f"q99.9/median {c['q999_over_median']:.3g}; with CN: kurtosis {e['kurtosis']:.3g}, "
            f"q99.9/median {e['q999_over_median']:.3g}.\n"
            "Paper (seed 000 lines 84-86, qualitative, no numbers): without normalization the "
            "tail is much heavier (both networks).")
