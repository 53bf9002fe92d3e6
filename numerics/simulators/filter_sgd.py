"""SGD simulators for thesis ch. 6's martingale lemmas (seed 004, Lemmas 6.2-6.3, Theorem 6.4).

Independent of the formulas of :mod:`derivations.ch6_sgd`: these run the model's SGD and never
evaluate a derived expression.

* :func:`quadratic_sgd` -- SGD on ``l(w) = c/2 |w - w*|^2`` with noise uniform on the sphere of
  radius ``B`` (``E xi = 0``, ``|xi| = B``): there ``E|w_{t+1} - w*|^2 = (1 - eta c)^2 |w_t -
  w*|^2 + eta^2 B^2`` holds with equality, so the recursion of the proof is exact with
  ``alpha = 2 c - eta c^2`` and ``M = c``;
* :func:`patch_sgd` -- SGD on the convolutional filter model (``f = (1/k) sum_i relu(w.Z_i)``)
  whose population is the empirical distribution of a fixed sample of patches (exact full-batch
  gradient) plus bounded noise on the sphere of radius ``B``, or (``noise="sample"``) the
  gradient of one sample drawn uniformly (true SGD).
"""
from __future__ import annotations

import numpy as np


def sphere(rng, shape, radius):
    """Uniform on the sphere of ``radius`` in the last axis of ``shape``."""
    g = rng.standard_normal(shape)
    return radius * g / np.linalg.norm(g, axis=-1, keepdims=True)


def quadratic_sgd(rng, runs, T, eta, c, B, r0, dim=3):
    """Squared distances ``(runs, T + 1)`` of SGD on ``c/2 |w - w*|^2`` (w* = 0) from starts at
    distance ``r0`` (random directions), noise uniform on the sphere of radius ``B``."""
    w = sphere(rng, (runs, dim), r0)
    out = np.empty((runs, T + 1))
    out[:, 0] = np.sum(w * w, 1)
    for t in range(T):
        w = w - eta * (c * w + sphere(rng, (runs, dim), B))
        out[:, t + 1] = np.sum(w * w, 1)
    return out


def patch_grads(Z, W, w_star):
    """Per-sample gradients ``(R, n, s)`` of ``1/2 (f(w) - f(w*))^2`` for the runs' ``W (R, s)``
    on the sample ``Z (n, k, s)`` (chain rule on the network)."""
    k = Z.shape[1]
    pw = np.einsum("nks,rs->rnk", Z, W)
    ps = Z @ w_star
    f = np.maximum(pw, 0).sum(-1) / k
    fs = np.maximum(ps, 0).sum(-1) / k
    act = np.einsum("rnk,nks->rns", (pw > 0).astype(float), Z) / k
    return (f - fs[None])[..., None] * act


def population_grad(Z, W, w_star):
    """Full-batch (population of the empirical distribution) gradient ``(R, s)``."""
    return patch_grads(Z, W, w_star).mean(1)


def patch_sgd(rng, Z, w_star, W0, eta, T, B=0.0, noise="sphere", record=None):
    """SGD on the patch model from the runs' starts ``W0 (R, s)``; returns squared distances
    ``(R, T + 1)``, the largest noise norm seen, and (if ``record``) the iterates of the first
    ``record`` runs ``(record, T + 1, s)``."""
    W = np.array(W0, float)
    R, s = W.shape
    out = np.empty((R, T + 1))
    out[:, 0] = np.sum((W - w_star) ** 2, 1)
    path = None if not record else np.empty((record, T + 1, s))
    if path is not None:
        path[:, 0] = W[:record]
    biggest = 0.0
    n = len(Z)
    for t in range(T):
        if noise == "sphere":
            g = population_grad(Z, W, w_star)
            xi = sphere(rng, (R, s), B) if B > 0 else 0.0
            g = g + xi
            biggest = max(biggest, B)
        elif noise == "sample":
            idx = rng.integers(0, n, R)
            G = patch_grads(Z, W, w_star)
            full = G.mean(1)
            g = G[np.arange(R), idx]
            biggest = max(biggest, float(np.max(np.linalg.norm(g - full, axis=1))))
        else:
            raise ValueError(f"noise must be 'sphere' or 'sample', got {noise!r}")
        W = W - eta * g
        out[:, t + 1] = np.sum((W - w_star) ** 2, 1)
        if path is not None:
            path[:, t + 1] = W[:record]
    return out, biggest, path
