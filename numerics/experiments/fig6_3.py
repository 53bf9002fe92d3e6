"""Figure 6.3a (thesis ch. 6, l.6434; spec E6), qualitative: the convergence rate of GD for
one convolutional filter neuron vs the spread sigma of the input distribution.

Unit-norm patches whose angle to w* is N(0, sigma^2) truncated to [-pi/2, pi/2] around w*
(probability 1/2) or around -w* (1/2), with a uniformly random direction orthogonal to w*
(numerics.simulators.filter.unit_patches; our reading of the garbled OCR).  GD on the loss
averaged over a fixed sample of N patches (the network's per-sample gradients, no closed form),
p = 5, |w*| = 1, w0 at angle 1 rad from w* with |w0| = 1, eta = 2.  Reported: the linear rate
-d log|w_t - w*| / dt fitted over the iterations, per sigma.  Thesis: smaller sigma (spikier
distribution, larger L/gamma and beta) converges more slowly; sigma -> infinity approaches
rotation invariance.
"""
from __future__ import annotations

import math

import numpy as np

NAME = "fig6_3"
DESCRIPTION = "Thesis Fig. 6.3a (qualitative): filter GD rate vs spread sigma of the input"


def start(rng, p):
    """The teacher ``w* = e_1`` and the GD start at angle 1 rad from it in a random direction
    (shared with fig6_3b)."""
    w_star = np.eye(p)[0]
    e = rng.standard_normal(p)
    e -= (e @ w_star) * w_star
    e /= np.linalg.norm(e)
    return w_star, math.cos(1.0) * w_star + math.sin(1.0) * e


def gd_rate(w, w_star, grad, eta, iters):
    """GD ``w <- w - eta grad(w)`` for ``iters`` steps: the fitted linear rate of
    ``log |w - w*|`` (points above 1e-12) and the distances (shared with fig6_3b)."""
    dist = []
    for _ in range(iters + 1):
        dist.append(float(np.linalg.norm(w - w_star)))
        w = w - eta * grad(w)
    d = np.log(np.maximum(dist, 1e-300))
    t = np.arange(iters + 1)
    good = d > math.log(1e-12)
    return float(-np.polyfit(t[good], d[good], 1)[0]), dist


def run(out_dir, quick=False, seed=0, progress=None):
    from ..simulators import filter as F
    from ._plotting import save

    p, eta = 5, 2.0
    n = 4000 if quick else 40000
    iters = 150 if quick else 400
    sigmas = (0.1, 0.3, 1.0, 3.0)
    rng = np.random.default_rng(seed)
    w_star, w0 = start(rng, p)
    curves, rates = {}, {}
    for s in sigmas:
        z = F.unit_patches(rng, n, w_star, s)
        w = w0.copy()
        rates[s], curves[s] = gd_rate(
            w, w_star, lambda w, z=z: F.per_sample(z, w, w_star)[1].mean(axis=0), eta, iters)
        if progress:
            progress(f"sigma={s}: rate {rates[s]:.4f} per iteration")
    result = {"name": NAME, "sigmas": list(sigmas), "rates": {str(k): v for k, v in rates.items()},
              "curves": {str(k): v for k, v in curves.items()}, "monotone":
              bool(all(rates[a] <= rates[b] for a, b in zip(sigmas, sigmas[1:])))}

    def draw(ax, out):
        for s in sigmas:
            ax.semilogy(np.maximum(curves[s], 1e-300), label=rf"$\sigma={s}$")
        ax.set_xlabel(r"iteration $t$")
        ax.set_ylabel(r"$\|\mathbf{w}_t-\mathbf{w}^*\|$")
        ax.legend()

    return save(out_dir, NAME, result, draw, title="Fig. 6.3a: GD rate vs input spread",
                params={"p": p, "eta": eta, "samples": n, "seed": seed})


def report(result) -> str:
    lines = ["Fig. 6.3a reproduction (qualitative): linear rate -d log|w_t - w*|/dt per sigma"]
    for s in result["sigmas"]:
        lines.append(f"  sigma = {s:4}: {result['rates'][str(s)]:.4f}")
    lines.append(f"rate increases with sigma: {result['monotone']} (thesis: yes)")
    return "\n".join(lines)
