"""The two-layer weight-normalized ReLU network of seed 002 (Dukler, Gu & Montufar), simulated.

``f(x) = m^{-1/2} sum_k c_k relu(g_k v_k.x / |v_k|)`` (eq. 1.2), initialization (2.4):
``v_k ~ N(0, alpha^2 I)``, ``c_k ~ U{-1, 1}`` (fixed), ``g_k = |v_k| / alpha``; loss
``L = |f - y|^2 / 2`` (2.5).  Everything here is computed from the network: hand-written
back-propagation (Jacobians of the outputs with respect to every ``v_k`` and ``g_k``), Gram
matrices as Jacobian products (``V = alpha^2 J_v J_v^T``, ``G = J_g J_g^T``, and the NTK
``H = J_w J_w^T`` of the unnormalized network at ``w_k = g_k v_k/|v_k|``), plain gradient descent
and RK4 gradient flow.  Nothing here imports :mod:`derivations`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def relu(s):
    return np.maximum(s, 0.0)


@dataclass
class WNNet:
    v: np.ndarray  # (m, d)
    g: np.ndarray  # (m,)
    c: np.ndarray  # (m,)
    alpha: float

    @property
    def m(self) -> int:
        return len(self.g)

    def copy(self) -> "WNNet":
        return WNNet(self.v.copy(), self.g.copy(), self.c.copy(), self.alpha)


def init(rng: np.random.Generator, m: int, d: int, alpha: float) -> WNNet:
    """Initialization (2.4)."""
    v = alpha * rng.standard_normal((m, d))
    c = rng.choice([-1.0, 1.0], size=m)
    g = np.linalg.norm(v, axis=1) / alpha
    return WNNet(v, g, c, alpha)


def weights(net: WNNet) -> np.ndarray:
    """``w_k = g_k v_k / |v_k|`` (eq. 2.1)."""
    return net.g[:, None] * net.v / np.linalg.norm(net.v, axis=1, keepdims=True)


def forward(net: WNNet, X: np.ndarray) -> np.ndarray:
    return relu(X @ weights(net).T) @ net.c / math.sqrt(net.m)


def jacobians(net: WNNet, X: np.ndarray):
    """Back-propagation: ``(J_v, J_g, J_w)`` with ``J_v[i, k] = d f_i / d v_k`` (n, m, d),
    ``J_g[i, k] = d f_i / d g_k`` (n, m), ``J_w[i, k] = d f_i / d w_k`` (n, m, d).

    Chain: ``f_i = m^{-1/2} sum_k c_k relu(s_ik)``, ``s_ik = w_k.x_i``, ``w_k = g_k v_k/|v_k|``;
    ``d w_k / d v_k = (g_k/|v_k|)(I - v_k v_k^T/|v_k|^2)``, ``d w_k / d g_k = v_k/|v_k|``.
    """
    nv = np.linalg.norm(net.v, axis=1)
    u = net.v / nv[:, None]
    w = net.g[:, None] * u
    s = X @ w.T  # (n, m)
    act = (s > 0).astype(float)  # relu'(0) := 0
    jw = (net.c * act / math.sqrt(net.m))[:, :, None] * X[:, None, :]  # (n, m, d)
    jw_u = np.einsum("ikd,kd->ik", jw, u)
    jv = (net.g / nv)[None, :, None] * (jw - jw_u[:, :, None] * u[None, :, :])
    jg = jw_u
    return jv, jg, jw


def grams(net: WNNet, X: np.ndarray):
    """``V = alpha^2 J_v J_v^T`` (3.3), ``G = J_g J_g^T`` (3.4), ``H = J_w J_w^T`` (3.6)."""
    jv, jg, jw = jacobians(net, X)
    V = net.alpha**2 * np.einsum("ikd,jkd->ij", jv, jv)
    G = jg @ jg.T
    H = np.einsum("ikd,jkd->ij", jw, jw)
    return V, G, H


def gram_terms(rng: np.random.Generator, X: np.ndarray, m: int, alpha: float = 1.0) -> dict:
    """Per-neuron terms (m, n, n) of the finite-width Grams at initialization (their means over
    neurons are V(0), G(0), H(0), and K1 = (1/m) sum relu(w.x_i) relu(w.x_j))."""
    net = init(rng, m, X.shape[1], alpha)
    jv, jg, jw = jacobians(net, X)
    scale = net.m  # the 1/sqrt(m) of each Jacobian, squared, undone per neuron
    w = weights(net)
    a = relu(X @ w.T)  # (n, m)
    return {
        "V": scale * net.alpha**2 * np.einsum("ikd,jkd->kij", jv, jv),
        "G": scale * np.einsum("ik,jk->kij", jg, jg),
        "H": scale * np.einsum("ikd,jkd->kij", jw, jw),
        "K1": np.einsum("ik,jk->kij", a, a),
    }


def loss(net: WNNet, X, y) -> float:
    r = forward(net, X) - y
    return 0.5 * float(r @ r)


def gradients(net: WNNet, X, y):
    """``(dL/dv, dL/dg)`` by back-propagation."""
    r = forward(net, X) - y
    jv, jg, _ = jacobians(net, X)
    return np.einsum("i,ikd->kd", r, jv), r @ jg


def gd(net: WNNet, X, y, eta: float, steps: int, record=None):
    """Plain gradient descent on ``(v, g)`` (``c`` fixed); returns the history of the residual
    ``|f - y|^2`` and of ``|v_k|`` (steps + 1 rows)."""
    net = net.copy()
    res, norms = [], []
    for s in range(steps + 1):
        r = forward(net, X) - y
        res.append(float(r @ r))
        norms.append(np.linalg.norm(net.v, axis=1))
        if record is not None:
            record(s, net)
        if s == steps:
            break
        gv, gg = gradients(net, X, y)
        net.v -= eta * gv
        net.g -= eta * gg
    return np.array(res), np.array(norms), net


def flow(net: WNNet, X, y, t_end: float, dt: float):
    """Gradient flow by classical RK4 on ``(v, g)``; returns times, ``|v_k(t)|`` and ``|f - y|^2``."""
    net = net.copy()

    def field(v, g):
        n2 = WNNet(v, g, net.c, net.alpha)
        gv, gg = gradients(n2, X, y)
        return -gv, -gg

    steps = int(round(t_end / dt))
    ts, norms, res = [0.0], [np.linalg.norm(net.v, axis=1)], [2 * loss(net, X, y)]
    v, g = net.v, net.g
    for s in range(steps):
        k1 = field(v, g)
        k2 = field(v + dt / 2 * k1[0], g + dt / 2 * k1[1])
        k3 = field(v + dt / 2 * k2[0], g + dt / 2 * k2[1])
        k4 = field(v + dt * k3[0], g + dt * k3[1])
        v = v + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        g = g + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        ts.append((s + 1) * dt)
        norms.append(np.linalg.norm(v, axis=1))
        res.append(2 * loss(WNNet(v, g, net.c, net.alpha), X, y))
    return np.array(ts), np.array(norms), np.array(res)


def unit_data(rng, n, d):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)
