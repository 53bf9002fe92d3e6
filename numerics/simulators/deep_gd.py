"""Gradient descent on the deep networks of thesis ch. 3 (seed 004, sec. 3.3-3.5, eqs. (3.1)-(3.3)):
fully connected ``x^(h) = sqrt(c_sigma/m) sigma(W^(h) x^(h-1))`` and ResNet ``x^(h) = x^(h-1) +
c_res/(H sqrt(m)) sigma(W^(h) x^(h-1))`` (h >= 2; the first layer as fc), output ``u = a^T x^(H)``
with ``a_r ~ U{-1, 1}`` fixed, ``W^(h)`` entries ``N(0, 1)``, loss ``1/2 |y - u|^2``; all ``W^(h)``
trained.  The same parameterization as :func:`numerics.simulators.kernels.deep_network` (whose
width -> oo Grams are K^(h)); a simulator: forward and reverse mode by hand, checked against
finite differences (tests/test_deep_rates.py), no derived expression."""
from __future__ import annotations

import math

import numpy as np

from .kernels import _act, c_sigma_quadrature


def init(rng, d, m, H):
    Ws = [rng.standard_normal((m, d))] + [rng.standard_normal((m, m)) for _ in range(H - 1)]
    a = rng.choice([-1.0, 1.0], m)
    return Ws, a


def forward(Ws, a, X, arch="fc", activation="softplus", c_res=1.0, cs=None):
    """Outputs ``u`` (n,) and the cache (inputs and pre-activations per layer)."""
    f, _ = _act(activation)
    cs = c_sigma_quadrature(activation) if cs is None else cs
    H, m = len(Ws), Ws[0].shape[0]
    x, cache = X.T, []
    for h, W in enumerate(Ws, start=1):
        pre = W @ x
        cache.append((x, pre))
        if arch == "fc" or h == 1:
            x = math.sqrt(cs / m) * f(pre)
        else:
            x = x + c_res / (H * math.sqrt(m)) * f(pre)
    return a @ x, cache


def loss(Ws, a, X, y, **kw):
    u, _ = forward(Ws, a, X, **kw)
    return 0.5 * float(np.sum((u - y) ** 2))


def grads(Ws, a, X, y, arch="fc", activation="softplus", c_res=1.0, cs=None):
    """``dL/dW^(h)`` for every layer (reverse mode)."""
    _, fp = _act(activation)
    cs = c_sigma_quadrature(activation) if cs is None else cs
    H, m = len(Ws), Ws[0].shape[0]
    u, cache = forward(Ws, a, X, arch, activation, c_res, cs)
    dx = np.outer(a, u - y)                       # dL/dx^(H), (m, n)
    out = [None] * H
    for h in range(H, 0, -1):
        x, pre = cache[h - 1]
        W = Ws[h - 1]
        scale = math.sqrt(cs / m) if (arch == "fc" or h == 1) else c_res / (H * math.sqrt(m))
        dpre = dx * scale * fp(pre)
        out[h - 1] = dpre @ x.T
        back = W.T @ dpre
        dx = back if (arch == "fc" or h == 1) else dx + back
    return out


def gd(Ws, a, X, y, eta, steps, **kw):
    """Losses ``L(theta(k))``, k = 0..steps, of GD on every layer."""
    cs = c_sigma_quadrature(kw.get("activation", "softplus"))
    kw = dict(kw, cs=cs)
    Ws = [W.copy() for W in Ws]
    out = []
    for _ in range(steps):
        out.append(loss(Ws, a, X, y, **kw))
        G = grads(Ws, a, X, y, **kw)
        Ws = [W - eta * g for W, g in zip(Ws, G)]
    out.append(loss(Ws, a, X, y, **kw))
    return np.array(out)
