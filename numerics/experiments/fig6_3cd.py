"""Figures 6.3(c)-(d) and 6.4 (thesis ch. 6, sec. 6.4, l.6448-6470) on a STAND-IN data set:
scikit-learn's bundled 8x8 handwritten digits (1797 images, shipped with the package), because
MNIST cannot be downloaded here.  The numbers are ours, not comparable with the thesis's.

Thesis: labels from a planted filter on MNIST, either entries ~ N(0, 1) ("random", Fig. 6.3c,
6.4a) or a Gabor filter (Fig. 6.3d, 6.4b); SGD from different initializations; "better
initializations give faster rates"; the metric is the relative loss, the logarithm of the
squared error over the square of the mean (of the labels); SGD "often cannot converge to the
exact filter but rather a filter with near zero loss".  Filter size, stride, step and batch are
not given.

Here: images scaled to [0, 1]; a 4x4 filter on all 25 stride-1 patches, ``f(w, x) = (1/25)
sum_i relu(w.Z_i)`` (eq. 6.1); labels ``f(w*, x)``; minibatch SGD (batch 32, fixed step) from
starts at relative distance 0.3, 1 and 2 from ``w*`` (in a fixed random direction; the farthest
is the worst initialization); the relative loss ``log10(mean (f(w) - y)^2 / mean(y)^2)`` on the
data set per epoch, and the learned filters next to the true ones (Fig. 6.4).
"""
from __future__ import annotations

import math

import numpy as np

NAME = "fig6_3cd"
DESCRIPTION = ("Thesis Fig. 6.3(c)-(d), 6.4 on a stand-in (scikit-learn's 8x8 digits, not MNIST): "
               "SGD for a planted random / Gabor filter from several initializations")

SIZE = 4


def digit_patches():
    """``(n, 25, 16)`` stride-1 4x4 patches of scikit-learn's digits, pixels in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise ImportError("fig6_3cd needs scikit-learn (pip install 'nnderive[digits]')") from exc
    img = load_digits().images / 16.0
    n, h, w = img.shape
    idx = [(r, c) for r in range(h - SIZE + 1) for c in range(w - SIZE + 1)]
    return np.stack([img[:, r:r + SIZE, c:c + SIZE].reshape(n, -1) for r, c in idx], axis=1)


def gabor(size=SIZE, theta=math.pi / 4, lam=3.0, sigma=1.2):
    """A real Gabor filter on a ``size x size`` grid (unit norm)."""
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size] - c
    xr = x * math.cos(theta) + y * math.sin(theta)
    yr = -x * math.sin(theta) + y * math.cos(theta)
    g = np.exp(-(xr**2 + yr**2) / (2 * sigma**2)) * np.cos(2 * math.pi * xr / lam)
    return (g / np.linalg.norm(g)).ravel()


def network(Z, w):
    """``f(w, x) = (1/k) sum_i relu(w.Z_i)`` for patches ``Z (n, k, p)``."""
    return np.maximum(Z @ w, 0.0).mean(axis=1)


def sgd(Z, y, w0, eta, epochs, rng, batch=32):
    """Minibatch SGD on ``1/2 (f(w, x) - y)^2``; the relative loss per epoch and the last w."""
    w = w0.copy()
    n, k, _ = Z.shape
    denom = float(np.mean(y) ** 2)
    rel = [math.log10(float(np.mean((network(Z, w) - y) ** 2)) / denom)]
    for _ in range(epochs):
        for b in np.array_split(rng.permutation(n), max(1, n // batch)):
            zb = Z[b]
            pre = zb @ w
            resid = np.maximum(pre, 0).mean(1) - y[b]
            g = np.einsum("n,nk,nkp->p", resid, (pre > 0).astype(float), zb) / (k * len(b))
            w = w - eta * g
        rel.append(math.log10(max(float(np.mean((network(Z, w) - y) ** 2)), 1e-300) / denom))
    return rel, w


def run(out_dir, quick=False, seed=0, progress=None):
    from ._plotting import save

    Z = digit_patches()
    if quick:
        Z = Z[:400]
    epochs = 8 if quick else 60
    eta = 5.0  # divided by the mean squared patch norm (5.15 on the full set): step ~0.97
    rng = np.random.default_rng(seed)
    targets = {"random": rng.standard_normal(SIZE * SIZE), "gabor": gabor()}
    direction = rng.standard_normal(SIZE * SIZE)
    direction /= np.linalg.norm(direction)
    result = {"name": NAME, "stand_in": "scikit-learn digits (8x8), not MNIST",
              "curves": {}, "final": {}, "filters": {}}
    for name, w_star in targets.items():
        y = network(Z, w_star)
        result["filters"][name] = {"true": w_star.tolist()}
        for dist in (0.3, 1.0, 2.0):
            w0 = w_star + dist * np.linalg.norm(w_star) * direction
            curve, w = sgd(Z, y, w0, eta / float(np.mean(np.sum(Z**2, -1))), epochs,
                           np.random.default_rng([seed, int(10 * dist)]))
            key = f"{name}/{dist}"
            result["curves"][key] = curve
            cos = float(w @ w_star / (np.linalg.norm(w) * np.linalg.norm(w_star)))
            result["final"][key] = {"relative_loss": curve[-1],
                                    "rel_dist": float(np.linalg.norm(w - w_star)
                                                      / np.linalg.norm(w_star)),
                                    "cosine": cos}
            if dist == 0.3:
                result["filters"][name]["learned"] = w.tolist()
            if progress:
                progress(f"{key}: relative loss {curve[-1]:.2f}")
    result["better_init_lower_loss"] = {
        name: bool(all(result["curves"][f"{name}/{a}"][-1] <= result["curves"][f"{name}/{b}"][-1]
                       + 1e-9 for a, b in ((0.3, 1.0), (1.0, 2.0)))) for name in targets}

    def draw(axes, out):
        for ax, name in zip(axes[:2], targets):
            for dist in (0.3, 1.0, 2.0):
                ax.plot(out["curves"][f"{name}/{dist}"], label=f"start at {dist} |w*|")
            ax.set_xlabel("epoch")
            ax.set_ylabel(r"$\log_{10}$ relative loss")
            ax.set_title(f"{name} filter (stand-in data)")
            ax.legend()
        for ax, (name, kind) in zip(axes[2:], [(n, k) for n in targets for k in ("true",
                                                                               "learned")]):
            ax.imshow(np.array(out["filters"][name][kind]).reshape(SIZE, SIZE), cmap="gray")
            ax.set_title(f"{name}: {kind}")
            ax.set_xlabel("column")
            ax.set_ylabel("row")

    return save(out_dir, NAME, result, draw, ncols=3, nrows=2, figsize=(12, 7),
                title="Fig. 6.3(c)-(d), 6.4 on scikit-learn's digits (stand-in for MNIST)",
                params={"filter": "4x4, stride 1, k = 25", "batch": 32, "epochs": epochs,
                        "step": "5 / mean |Z_i|^2",
                        "images": len(Z), "seed": seed})


def report(result) -> str:
    out = ["Fig. 6.3(c)-(d), 6.4 on a STAND-IN (scikit-learn's 8x8 digits, not MNIST): final "
           "log10 relative loss, |w - w*|/|w*| and cos(w, w*) per start"]
    for key, f in result["final"].items():
        out.append(f"  {key:>10}: {f['relative_loss']:.2f}, rel. distance {f['rel_dist']:.3g}, "
                   f"cosine {f['cosine']:.4f}")
    out.append("better initialization -> lower loss at the end (thesis: faster rates): "
               + ", ".join(f"{k}: {v}" for k, v in result["better_init_lower_loss"].items()))
    return "\n".join(out)
