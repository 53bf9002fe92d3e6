"""DH Fig. 4 (a, b) / spec DH-E5: distribution of gradient entries at initialization,
single-channel linear circulant CNN, n = 100, d = 6, kernel p = n (not stated in the paper),
taps N(0, 1/(np)) (Theorem 1's initialization, the spec's suggestion), with and without channel
normalization (``circulant.cn_grad_w``, w_out = 1, vs ``circulant.grad``).  Tail statistics are
reported scale-free: kurtosis and the ratio of the 99.9th percentile of |g| to its median.
Panels (c, d) (multi-channel ReLU CNN) are not implemented yet.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NAME = "dh_fig4"
DESCRIPTION = "DH Fig. 4 a-b (DH-E5): gradient entries at init, n=100, d=6, with vs without CN"


def _tails(g):
    g = np.ravel(g)
    a = np.abs(g)
    k = float(np.mean((g - g.mean()) ** 4) / np.var(g) ** 2)
    return {"kurtosis": k, "q999_over_median": float(np.quantile(a, 0.999) / np.median(a)),
            "median_abs": float(np.median(a))}


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None) -> dict:
    from derivations.generated import circulant as G

    n, d = 100, 6
    p = n
    draws = 200 if quick else 2000
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    x -= x.mean()
    y = rng.standard_normal(n)
    w = rng.standard_normal((draws, d, n)) / np.sqrt(n * p)
    g = G.grad(w, x, y)
    gc = G.cn_grad_w(w, 1.0, x, y)
    res = {"n": n, "d": d, "p": p, "draws": draws, "without": _tails(g), "with_cn": _tails(gc)}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{NAME}.json").write_text(json.dumps(res, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axs = plt.subplots(1, 2, figsize=(9, 3.5))
        for ax, arr, t in ((axs[0], gc, "with CN"), (axs[1], g, "without normalization")):
            v = np.ravel(arr) / np.median(np.abs(arr))
            ax.hist(v, bins=200, log=True)
            ax.set_xlabel(r"gradient entry / median $|g|$")
            ax.set_ylabel("count")
            ax.set_title(f"{t}: n={n}, d={d}, taps N(0,1/(np))", fontsize=9)
        fig.tight_layout()
        fig.savefig(out_dir / f"{NAME}.png", dpi=120)
        plt.close(fig)
    except ImportError:
        pass
    return res


def report(result: dict) -> str:
    a, b = result["without"], result["with_cn"]
    return (f"n={result['n']}, d={result['d']}, {result['draws']} draws. Without normalization: "
            f"kurtosis {a['kurtosis']:.3g}, q99.9/median {a['q999_over_median']:.3g}; with CN: "
            f"kurtosis {b['kurtosis']:.3g}, q99.9/median {b['q999_over_median']:.3g}. Paper: "
            "without normalization the tail is much heavier.")
