"""Random networks of thesis Definition 3.4's general architecture (seed 004, l.2893-2925):
``x^(h) = d_h x^(h-1) + (s_h/sqrt(m)) sigma(W^(h) x^(h-1))`` (main-text scaling, Remark 3.6),
``W^(h)`` entries N(0, 1), ``d_1 = 0``, output ``a^T x^(H)`` with ``a_r = +-1``.  A simulator: the
pre-activations ``W^(h) x^(h-1)`` of the n data points are drawn exactly from their Gaussian law
(each of the m rows ~ N(0, Gram of x^(h-1))); no derived expression is used."""
from __future__ import annotations

import math

import numpy as np

from .kernels import _act


def _rows(rng, m, G):
    w, V = np.linalg.eigh(G)
    return rng.standard_normal((m, len(w))) @ (V * np.sqrt(np.clip(w, 0.0, None))).T


def general_network(rng, X, layers, m, activation="relu"):
    """One random network of width ``m``: the layer Grams ``<x_i^(h), x_j^(h)>`` (h < H), the
    means ``1^T x^(h)/sqrt(m)`` and the Gram of the last layer's weight gradients."""
    f, fp = _act(activation)
    x = None
    G = X @ X.T
    grams, means = [G], []
    H = len(layers)
    for h, (s, d) in enumerate(layers, start=1):
        pre = _rows(rng, m, G)                       # (m, n)
        if h == H:
            D = fp(pre)
            return {"K": grams, "b": means, "K_H": (s * s / m) * (D.T @ D) * G}
        x = (0.0 if x is None else d * x) + s / math.sqrt(m) * f(pre)
        G = x.T @ x
        grams.append(G)
        means.append(x.sum(axis=0) / math.sqrt(m))
    raise ValueError("layers must be non-empty")  # pragma: no cover


def general_reference(X, layers, activation="relu"):
    """The width -> oo limit of :func:`general_network`, layer by layer (W^(h) independent of
    x^(h-1)): ``<x_i^(h), x_j^(h)> -> d^2 K + s d (b e^T + e b^T) + s^2 E[f(u) f(v)]``, ``1^T
    x^(h)/sqrt(m) -> d b + s e`` (``e = E f(u)``: the cross terms ``sum_r x_{i,r}
    f(w_r.x_j)/sqrt(m)`` average to ``b_i e_j``), the gradient Gram -> ``s_H^2 K E[f'(u)
    f'(v)]``; the expectations by the plane / line quadrature of
    :mod:`numerics.simulators.kernels` (no layer map or closed form)."""
    from .kernels import _pair_expectation, _single_expectation

    K = np.asarray(X, float) @ np.asarray(X, float).T
    Ks, bs, b = [K], [], np.zeros(K.shape[0])
    for s, d in layers[:-1]:
        e = _single_expectation(K, activation)
        K = d * d * K + s * d * (np.outer(b, e) + np.outer(e, b)) + s * s * _pair_expectation(
            K, activation)
        b = d * b + s * e
        Ks.append(K)
        bs.append(b)
    s = layers[-1][0]
    return {"K": Ks, "b": bs, "K_H": s * s * K * _pair_expectation(K, activation, True)}
