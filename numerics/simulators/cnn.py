"""The one-hidden-layer CNN of seed 004, ch. 5, simulated on Gaussian patches.

``f(Z, w, a) = sum_i a_i relu(Z_i . w)`` with ``k`` non-overlapping patches ``Z_i ~ N(0, I_p)``;
the student uses weight normalization ``w = v/|v|``.  Per-sample losses and gradients are
computed from the network by back-propagation written out for this two-layer model; nothing
here uses a closed form.
"""
from __future__ import annotations

import numpy as np


def patches(rng: np.random.Generator, n: int, k: int, p: int) -> np.ndarray:
    """``n`` inputs, each ``k`` i.i.d. N(0, I_p) patches: shape ``(n, k, p)``."""
    return rng.standard_normal((n, k, p))


def forward(Z, w, a):
    """Network output ``sum_i a_i relu(Z_i . w)`` for every sample, and the pre-activations."""
    pre = Z @ w  # (n, k)
    return np.maximum(pre, 0.0) @ a, pre


def per_sample(Z, w, a, w_star, a_star):
    """Per-sample loss ``(f - f*)^2 / 2`` and gradients with respect to ``w`` and ``a``."""
    out, pre = forward(Z, w, a)
    target, _ = forward(Z, w_star, a_star)
    resid = out - target
    loss = 0.5 * resid**2
    grad_a = resid[:, None] * np.maximum(pre, 0.0)
    # d/dw sum_i a_i relu(Z_i.w) = sum_i a_i 1{Z_i.w > 0} Z_i
    grad_w = resid[:, None] * np.einsum("nk,nkp->np", a * (pre > 0), Z)
    return loss, grad_w, grad_a


def weight_norm_backward(v, grad_w):
    """Chain rule through ``w = v/|v|``: ``(I - v v^T/|v|^2) grad_w / |v|`` (row-wise)."""
    nv = np.linalg.norm(v)
    vh = v / nv
    return (grad_w - np.outer(grad_w @ vh, vh)) / nv


def samples(rng, n, v, a, w_star, a_star, normalized=True, batch=100_000):
    """Per-sample ``(loss, grad_first_layer, grad_a)`` for ``n`` Gaussian inputs (in batches).

    With ``normalized`` the first argument is ``v`` and the gradient is taken with respect to
    ``v`` through ``w = v/|v|``; otherwise it is an unnormalized ``w``.
    """
    v = np.asarray(v, float)
    w = v / np.linalg.norm(v) if normalized else v
    k, p = len(a), len(v)
    L, GW, GA = [], [], []
    done = 0
    while done < n:
        m = min(batch, n - done)
        loss, gw, ga = per_sample(patches(rng, m, k, p), w, np.asarray(a, float),
                                  np.asarray(w_star, float), np.asarray(a_star, float))
        if normalized:
            gw = weight_norm_backward(v, gw)
        L.append(loss), GW.append(gw), GA.append(ga)
        done += m
    return np.concatenate(L), np.concatenate(GW), np.concatenate(GA)


def activation_gram(rng, n, w, u, k):
    """Per-sample ``relu(Z^T w) relu(Z^T u)^T`` (k x k), whose mean is A(w) (u = w) or B(w, u)."""
    Z = patches(rng, n, k, len(w))
    return np.einsum("ni,nj->nij", np.maximum(Z @ w, 0.0), np.maximum(Z @ u, 0.0))
