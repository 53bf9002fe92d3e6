"""Independent simulators for thesis ch. 4 (auto-balancing): bias-free homogeneous MLPs and a
1-D convolutional net (forward, hand-written backprop, GD), and matrix factorization GD.

Does not import :mod:`derivations`.  The backprop here is checked against complex-step
derivatives in the tests (:func:`complex_step_grads`).
"""
from __future__ import annotations

import numpy as np

SLOPE = {"relu": 0.0, "leaky": 0.1, "linear": 1.0}


def act(z, kind):
    s = SLOPE[kind]
    return np.where(np.real(z) > 0, z, s * z)


def dact(z, kind):
    s = SLOPE[kind]
    return np.where(np.real(z) > 0, 1.0, s)


def check_weights(Ws, X=None):
    """ValueError naming the argument for shapes that do not chain or non-finite entries."""
    if not Ws:
        raise ValueError("Ws must contain at least one weight matrix")
    for h, W in enumerate(Ws):
        W = np.asarray(W)
        if W.ndim != 2 or min(W.shape) < 1:
            raise ValueError(f"Ws[{h}] must be a non-empty matrix, got shape {W.shape}")
        if not np.all(np.isfinite(W)):
            raise ValueError(f"Ws[{h}] must be finite")
        if h and W.shape[1] != Ws[h - 1].shape[0]:
            raise ValueError(f"Ws[{h}] has {W.shape[1]} columns but Ws[{h - 1}] has "
                             f"{Ws[h - 1].shape[0]} rows: shapes do not chain")
    if X is not None and np.asarray(X).shape[0] != Ws[0].shape[1]:
        raise ValueError(f"X must have {Ws[0].shape[1]} rows (one column per point), got "
                         f"{np.asarray(X).shape}")


def forward(Ws, X, kind="relu"):
    """Columns of X are points.  Returns pre-activations and activations per layer."""
    hs, zs = [X], []
    for h, W in enumerate(Ws):
        z = W @ hs[-1]
        zs.append(z)
        hs.append(act(z, kind) if h < len(Ws) - 1 else z)
    return zs, hs


def loss(Ws, X, Y, kind="relu"):
    return 0.5 * np.sum((forward(Ws, X, kind)[1][-1] - Y) ** 2)


def grads(Ws, X, Y, kind="relu"):
    """dL/dW^(h) for L = 1/2 |f(X) - Y|_F^2 by backprop."""
    zs, hs = forward(Ws, X, kind)
    d = hs[-1] - Y
    out = [None] * len(Ws)
    for h in range(len(Ws) - 1, -1, -1):
        out[h] = d @ hs[h].T
        if h:
            d = (Ws[h].T @ d) * dact(zs[h - 1], kind)
    return out


def complex_step_grads(Ws, X, Y, kind="relu", step=1e-30):
    out = []
    for h, W in enumerate(Ws):
        G = np.empty(W.shape)
        for idx in np.ndindex(W.shape):
            Wc = [w.astype(complex) for w in Ws]
            Wc[h][idx] += 1j * step
            G[idx] = np.imag(loss(Wc, X.astype(complex), Y, kind)) / step
        out.append(G)
    return out


def gd_step(Ws, X, Y, eta, kind="relu"):
    G = grads(Ws, X, Y, kind)
    return [W - eta * g for W, g in zip(Ws, G)], G


def neuron_balance(Ws):
    """|W^h[i,:]|^2 - |W^{h+1}[:,i]|^2 for every hidden unit: list of arrays per layer h."""
    return [np.sum(Ws[h] ** 2, axis=1) - np.sum(Ws[h + 1] ** 2, axis=0) for h in range(len(Ws) - 1)]


def layer_norms(Ws):
    return np.array([np.sum(W ** 2) for W in Ws])


def random_net(rng, widths, n_points, scale=1.0):
    Ws = [scale * rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
    X = rng.standard_normal((widths[0], n_points))
    Y = rng.standard_normal((widths[-1], n_points))
    return Ws, X, Y


# -- 1-D convolutional network with shared taps (Thm 4.3) -----------------------------------


def conv_matrix(v, n):
    """Circular convolution with taps v as an n x n matrix (weight sharing pattern g_h)."""
    C = np.zeros((n, n), dtype=np.result_type(v, float))
    for i in range(n):
        for j, t in enumerate(v):
            C[i, (i + j) % n] += t
    return C


def conv_loss(vs, X, Y, kind="relu"):
    n = X.shape[0]
    return loss([conv_matrix(v, n) for v in vs], X, Y, kind)


def conv_euler_terms(vs, X, Y, kind="relu", step=1e-30):
    """<v^h, dL/dv^h> per layer (complex step through the shared-weight map)."""
    out = []
    for h, v in enumerate(vs):
        g = np.empty(v.size)
        for j in range(v.size):
            vc = [w.astype(complex) for w in vs]
            vc[h][j] += 1j * step
            g[j] = np.imag(conv_loss(vc, X.astype(complex), Y, kind)) / step
        out.append(float(v @ g))
    return np.array(out)


# -- matrix factorization ---------------------------------------------------------------------


def mf_loss(U, V, M):
    return 0.5 * np.sum((U @ V.T - M) ** 2)


def mf_step(U, V, M, eta):
    R = U @ V.T - M
    return U - eta * R @ V, V - eta * R.T @ U


def mf_balanced_step(U, V, M, eta, lam=0.25):
    """GD on (4.3): f + lam/4 ... here f + (1/8)|U^T U - V^T V|_F^2 (the regularized objective
    of Ge et al.; lam = 1/4 as printed in (4.3) read as 1/8 |.|^2)."""
    R = U @ V.T - M
    D = U.T @ U - V.T @ V
    return U - eta * (R @ V + lam * 2 * U @ D), V - eta * (R.T @ U - lam * 2 * V @ D)


def mf_hessian_matrix(U, V, M):
    """Dense Hessian of ``mf_loss`` in the flattened parameters (U, V), by second differences of
    the simulated loss: f is a quartic along every line, so the 5-point second difference of
    ``t -> f(p + t d)`` is exact up to rounding; the off-diagonal entries by polarization,
    H_ij = (D^2 f[e_i + e_j] - D^2 f[e_i - e_j]) / 4."""
    p0 = np.concatenate([U.ravel(), V.ravel()])
    nU = U.size
    h = 0.25 * max(1.0, float(np.max(np.abs(p0))))

    def f(p):
        return mf_loss(p[:nU].reshape(U.shape), p[nU:].reshape(V.shape), M)

    def d2(d):
        return (-f(p0 + 2 * h * d) + 16 * f(p0 + h * d) - 30 * f(p0) + 16 * f(p0 - h * d)
                - f(p0 - 2 * h * d)) / (12 * h * h)

    n = p0.size
    E = np.eye(n)
    H = np.empty((n, n))
    for i in range(n):
        H[i, i] = d2(E[i])
        for j in range(i):
            H[i, j] = H[j, i] = (d2(E[i] + E[j]) - d2(E[i] - E[j])) / 4
    return H


def mf_lambda_max(U, V, M):
    """Largest eigenvalue of :func:`mf_hessian_matrix` (``numpy.linalg.eigvalsh``)."""
    return float(np.linalg.eigvalsh(mf_hessian_matrix(U, V, M))[-1])


def rank1_gd(u0, v0, M, eta, steps):
    """Plain GD on 1/2 |u v^T - M|_F^2 (vectors); returns the iterates (steps + 1, d1), (steps + 1, d2)."""
    us, vs = [u0], [v0]
    u, v = u0, v0
    for _ in range(steps):
        R = np.outer(u, v) - M
        u, v = u - eta * R @ v, v - eta * R.T @ u
        us.append(u)
        vs.append(v)
    return np.array(us), np.array(vs)
