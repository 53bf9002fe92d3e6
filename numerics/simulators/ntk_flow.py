"""The two-layer ReLU network of thesis ch. 2 (seed 004, sec. 2.1, l.410-425) trained by gradient
flow (SciPy's ``solve_ivp``) and by gradient descent; a simulator: it never evaluates a derived
expression.

``u_i = m^{-1/2} sum_r a_r relu(w_r . x_i)``, ``L(W) = 1/2 |y - u|^2``, ``a_r in {-1, 1}`` fixed,
``dw_r/dt = -dL/dw_r = m^{-1/2} a_r sum_i (y_i - u_i) 1{w_r.x_i > 0} x_i``.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp


def outputs(W, a, X):
    """``u`` for weights ``W`` (m, d), signs ``a`` (m,), inputs ``X`` (n, d)."""
    return np.maximum(X @ W.T, 0.0) @ a / np.sqrt(W.shape[0])


def grad(W, a, X, y):
    """``dL/dW`` (m, d) by the chain rule of the network (ReLU' = 1{s > 0})."""
    S = (X @ W.T > 0).astype(np.float64)          # (n, m)
    res = outputs(W, a, X) - y                    # (n,)
    return (a[:, None] * (S * res[:, None]).T @ X) / np.sqrt(W.shape[0])


def gram(W, X):
    """``H(W)_ij = x_i.x_j/m sum_r 1{w_r.x_i > 0, w_r.x_j > 0}`` (eq. (2.5), the patterns)."""
    S = (X @ W.T > 0).astype(np.float64)
    return (X @ X.T) * (S @ S.T) / W.shape[0]


def flow(W0, a, X, y, times, rtol=1e-10, atol=1e-12):
    """Gradient flow from ``W0`` sampled at ``times`` (increasing, from 0): list of ``W(t)``."""
    m, d = W0.shape

    def rhs(_t, w):
        return -grad(w.reshape(m, d), a, X, y).ravel()

    sol = solve_ivp(rhs, (0.0, float(times[-1])), W0.ravel(), method="DOP853", t_eval=times,
                    rtol=rtol, atol=atol)
    if not sol.success:  # pragma: no cover
        raise RuntimeError(sol.message)
    return [sol.y[:, k].reshape(m, d) for k in range(len(times))]


def gd(W0, a, X, y, eta, steps):
    """Gradient descent ``W <- W - eta dL/dW``: the iterates ``W(0..steps)``."""
    out = [W0]
    W = W0
    for _ in range(steps):
        W = W - eta * grad(W, a, X, y)
        out.append(W)
    return out


def random_instance(n, d, m, seed):
    """Thesis sec. 2.1 initialization: ``|x_i| = 1``, ``y ~ N(0, 1)``, ``w_r ~ N(0, I)``,
    ``a_r ~ U{-1, 1}``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.standard_normal(n)
    W0 = rng.standard_normal((m, d))
    a = rng.choice([-1.0, 1.0], m)
    return X, y, W0, a


def quarter_active_instance(m, resid0, d=3, seed=0):
    """One input ``x = e_1`` (``H_inf = 1/2 = lambda_0``), exactly ``m/4`` neurons active
    (``w_r.x = 1/2``, ``a_r = 1``), the rest inactive (``w_r.x = -1/2``), and ``y = u(0) +
    resid0``: then ``H(t) = 1/4 = lambda_0/2`` for all t (active neurons only grow along x), the
    extremal case of Lemma 2.3's hypothesis."""
    if m % 4:
        raise ValueError("m must be a multiple of 4")
    rng = np.random.default_rng(seed)
    W0 = rng.standard_normal((m, d))
    W0[:, 0] = -0.5
    W0[: m // 4, 0] = 0.5
    a = rng.choice([-1.0, 1.0], m)
    a[: m // 4] = 1.0
    X = np.eye(d)[:1]
    y = outputs(W0, a, X) + resid0
    return X, y, W0, a
