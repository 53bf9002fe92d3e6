"""Gradient descent on the convolutional ResNet of thesis ch. 3 (seed 004, sec. 3.6, Theorem 3.3
l.1414; the network of Definition 3.3): ``m`` channels on ``p`` pixels, patches of 3 pixels
(stride 1, zero padding), layer 1 ``x^(1) = sqrt(c_sigma/m) sigma(W^(1) phi(x^(0)))``, blocks
``x^(h) = x^(h-1) + c_res/(H sqrt(m)) sigma(W^(h) phi(x^(h-1)))`` (h >= 2), output ``u = sum_{r,s}
a_rs x^(H)_rs`` with ``a_rs ~ U{-1, 1}`` fixed, ``W^(h)`` entries ``N(0, 1)``, loss ``1/2 |y -
u|^2``, all ``W^(h)`` trained (as numerics.simulators.kernels.wide_network's convresnet).  A
simulator: forward and reverse mode by hand, checked against finite differences
(tests/test_deep_rates.py), no derived expression."""
from __future__ import annotations

import math

import numpy as np

from .kernels import _act, c_sigma_quadrature

Q = 3  # patch size


def patches(x):
    """``(c, n, p) -> (3c, n, p)``: pixel ``s`` gets pixels ``s - 1, s, s + 1`` (zeros outside)."""
    c, n, p = x.shape
    out = np.zeros((Q * c, n, p))
    for o in range(Q):
        sh = o - Q // 2
        lo, hi = max(0, -sh), min(p, p - sh)
        out[o * c:(o + 1) * c, :, lo:hi] = x[:, :, lo + sh:hi + sh]
    return out


def patches_adjoint(g, c):
    """The adjoint of :func:`patches`: ``(3c, n, p) -> (c, n, p)``."""
    _, n, p = g.shape
    out = np.zeros((c, n, p))
    for o in range(Q):
        sh = o - Q // 2
        lo, hi = max(0, -sh), min(p, p - sh)
        out[:, :, lo + sh:hi + sh] += g[o * c:(o + 1) * c, :, lo:hi]
    return out


def init(rng, d0, m, H, p):
    Ws = [rng.standard_normal((m, Q * d0))] + [rng.standard_normal((m, Q * m))
                                                 for _ in range(H - 1)]
    return Ws, rng.choice([-1.0, 1.0], (m, p))


def forward(Ws, a, X, activation="softplus", c_res=1.0, cs=None):
    """``X`` ``(n, p, d0)``; outputs ``u`` (n,) and the cache per layer."""
    f, _ = _act(activation)
    cs = c_sigma_quadrature(activation) if cs is None else cs
    H, m = len(Ws), Ws[0].shape[0]
    x = np.transpose(np.asarray(X, float), (2, 0, 1))   # (d0, n, p)
    cache = []
    for h, W in enumerate(Ws, start=1):
        P = patches(x)
        pre = np.einsum("rk,kns->rns", W, P)
        cache.append((x.shape[0], P, pre))
        if h == 1:
            x = math.sqrt(cs / m) * f(pre)
        else:
            x = x + c_res / (H * math.sqrt(m)) * f(pre)
    return np.einsum("rs,rns->n", a, x), cache


def loss(Ws, a, X, y, **kw):
    u, _ = forward(Ws, a, X, **kw)
    return 0.5 * float(np.sum((u - y) ** 2))


def grads(Ws, a, X, y, activation="softplus", c_res=1.0, cs=None):
    """``dL/dW^(h)`` for every layer (reverse mode)."""
    _, fp = _act(activation)
    cs = c_sigma_quadrature(activation) if cs is None else cs
    H, m = len(Ws), Ws[0].shape[0]
    u, cache = forward(Ws, a, X, activation, c_res, cs)
    dx = a[:, None, :] * (u - y)[None, :, None]          # dL/dx^(H), (m, n, p)
    out = [None] * H
    for h in range(H, 0, -1):
        c, P, pre = cache[h - 1]
        scale = math.sqrt(cs / m) if h == 1 else c_res / (H * math.sqrt(m))
        dpre = dx * scale * fp(pre)
        out[h - 1] = np.einsum("rns,kns->rk", dpre, P)
        back = patches_adjoint(np.einsum("rk,rns->kns", Ws[h - 1], dpre), c)
        dx = back if h == 1 else dx + back
    return out


def gd(Ws, a, X, y, eta, steps, **kw):
    """Losses ``L(0..steps)`` of GD from ``Ws`` (copied)."""
    Ws = [W.copy() for W in Ws]
    out = [loss(Ws, a, X, y, **kw)]
    for _ in range(steps):
        for W, g in zip(Ws, grads(Ws, a, X, y, **kw)):
            W -= eta * g
        out.append(loss(Ws, a, X, y, **kw))
    return np.array(out)
