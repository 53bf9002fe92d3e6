"""Independent model of Dai & Heckel's circulant CNNs (seed 000_170dc71b0c187893.txt), dense.

Builds the model from its definition, with dense matrices and explicit loops/backpropagation;
it does not import ``derivations`` and never evaluates a derived expression:

* ``circulant(c)``: ``C(c)[i, j] = c[(i - j) mod n]`` (first column ``c``);
* ``forward(w, x)``: ``W_d ... W_1 x`` as a product of dense matrices;
* ``loss`` / ``grad``: ``1/2 |y - f|^2`` and its gradient by reverse-mode chain rule on the
  dense product (``dL/dw_k[m] = -r^T (W_d..W_{k+1}) S^m (W_{k-1}..W_1) x``, ``S`` the cyclic
  shift, ``C(e_m) = S^m``);
* channel normalization layer by layer (``channel_norm``: ``(v - mean v)/sqrt(var v + eps)
  gamma + beta`` with the biased variance, DH sec. 2), ``cn_forward`` (the network with CN after
  every layer, output ``w_out * z_{d+1} / sqrt(n)``: DH absorbs the sqrt(n) into w_{d+1}) and
  ``cn_grad`` by backpropagation through the layerwise definition (checked by finite
  differences in the tests);
* the multi-channel 1-D ReLU CNN of DH sec. 3 (Fig. 2) with optional CN (:class:`ConvNet`),
  forward and backward in NumPy;
* ``mp_*``: the same model at 50 digits with mpmath (dense sums), for the high-precision FD.
"""
from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------------------------
# Dense single-channel model
# --------------------------------------------------------------------------------------------


def circulant(c) -> np.ndarray:
    c = np.asarray(c, dtype=float)
    m = c.shape[-1]
    i = np.arange(m)
    return c[..., (i[:, None] - i[None, :]) % m]


def product(w) -> np.ndarray:
    """``W_d ... W_1`` for filters ``w`` of shape (d, n)."""
    w = np.asarray(w, float)
    M = np.eye(w.shape[-1])
    for wi in w:
        M = circulant(wi) @ M
    return M


def forward(w, x) -> np.ndarray:
    z = np.asarray(x, float)
    for wi in np.asarray(w, float):
        z = circulant(wi) @ z
    return z


def loss(w, x, y) -> float:
    r = np.asarray(y, float) - forward(w, x)
    return 0.5 * float(r @ r)


def _shift_corr(back, fwd):
    """``g[m] = sum_i back[i] fwd[(i - m) mod n]`` = back^T C(e_m) fwd."""
    m = len(back)
    idx = (np.arange(m)[None, :] - np.arange(m)[:, None]) % m   # [m, i] -> (i - m) mod n
    return fwd[idx] @ back


def backprop(w, x, g_out) -> np.ndarray:
    """Gradient w.r.t. the filters of ``<g_out, W_d...W_1 x>`` (dense reverse mode)."""
    w = np.asarray(w, float)
    fwd = [np.asarray(x, float)]
    for wi in w:
        fwd.append(circulant(wi) @ fwd[-1])
    out = np.empty_like(w)
    back = np.asarray(g_out, float)
    for k in range(len(w) - 1, -1, -1):
        out[k] = _shift_corr(back, fwd[k])
        back = circulant(w[k]).T @ back
    return out


def grad(w, x, y) -> np.ndarray:
    r = np.asarray(y, float) - forward(w, x)
    return backprop(w, x, -r)


def grad_dense_formula(w, x, y) -> np.ndarray:
    """``-X_k^T (y - X_k w_k)`` with dense ``X_k = prod_{i != k} W_i X`` (A6 corrected)."""
    w = np.asarray(w, float)
    X = circulant(x)
    out = np.empty_like(w)
    for k in range(len(w)):
        Xk = product(np.delete(w, k, axis=0)) @ X
        out[k] = -Xk.T @ (np.asarray(y, float) - Xk @ w[k])
    return out


# --------------------------------------------------------------------------------------------
# Channel normalization, layer by layer
# --------------------------------------------------------------------------------------------


def channel_norm(v, gamma=1.0, beta=0.0, eps=0.0):
    v = np.asarray(v, float)
    c = v - v.mean(axis=-1, keepdims=True)
    var = np.mean(c * c, axis=-1, keepdims=True)
    return c / np.sqrt(var + eps) * gamma + beta


def cn_layers(w, x, gammas=None, betas=None, eps=0.0):
    """``z_1 = x``, ``z_{i+1} = CN(W_i z_i)`` (CN centers, so x need not be); all the z_i."""
    zs = [np.asarray(x, float)]
    for i, wi in enumerate(np.asarray(w, float)):
        g = 1.0 if gammas is None else gammas[i]
        b = 0.0 if betas is None else betas[i]
        zs.append(channel_norm(circulant(wi) @ zs[-1], g, b, eps))
    return zs


def cn_forward(w, w_out, x):
    """DH eq. (7) setting: CN after every layer, output ``w_out z_{d+1} / sqrt(n)``."""
    z = cn_layers(w, x)[-1]
    return w_out * z / np.sqrt(len(z))


def cn_loss(w, w_out, x, y):
    r = np.asarray(y, float) - cn_forward(w, w_out, x)
    return 0.5 * float(r @ r)


def _cn_backward(u, g, gamma=1.0, eps=0.0):
    """Backprop of ``CN(u)`` (gamma scale, beta shift) given ``g = dL/dCN``: returns dL/du
    and dL/dgamma, dL/dbeta."""
    m = u.shape[-1]
    c = u - u.mean()
    var = np.mean(c * c)
    sd = np.sqrt(var + eps)
    xhat = c / sd
    dxhat = g * gamma
    du = (dxhat - dxhat.mean() - xhat * np.mean(dxhat * xhat)) / sd
    return du, float(g @ xhat), float(g.sum())


def cn_grad(w, w_out, x, y):
    """(dL/dw (d, n), dL/dw_out) of the layerwise CN network by backpropagation."""
    w = np.asarray(w, float)
    zs = cn_layers(w, x)
    m = len(x)
    f = w_out * zs[-1] / np.sqrt(m)
    r = np.asarray(y, float) - f
    g_out = float(-r @ zs[-1] / np.sqrt(m))
    g = -r * w_out / np.sqrt(m)
    out = np.empty_like(w)
    for k in range(len(w) - 1, -1, -1):
        u = circulant(w[k]) @ zs[k]
        gu, _, _ = _cn_backward(u, g)
        out[k] = _shift_corr(gu, zs[k])
        g = circulant(w[k]).T @ gu
    return out, g_out


# --------------------------------------------------------------------------------------------
# 50-digit dense model (for high-precision finite differences)
# --------------------------------------------------------------------------------------------


def mp_forward(w, x, dps=50):
    import mpmath

    with mpmath.workdps(dps):
        z = [mpmath.mpf(float(t)) for t in x]
        m = len(z)
        for wi in w:
            c = [mpmath.mpf(float(t)) if not isinstance(t, mpmath.mpf) else t for t in wi]
            z = [mpmath.fsum(c[(i - j) % m] * z[j] for j in range(m)) for i in range(m)]
        return z


def mp_loss(w, x, y, dps=50):
    import mpmath

    with mpmath.workdps(dps):
        f = mp_forward(w, x, dps)
        return mpmath.fsum((mpmath.mpf(float(t)) - u) ** 2 for t, u in zip(y, f)) / 2


# --------------------------------------------------------------------------------------------
# Multi-channel 1-D ReLU CNN with channel normalization (DH sec. 3, Fig. 2; Fig. 4 c-d)
# --------------------------------------------------------------------------------------------


def _taps(n, q, sign):
    """Index array ``(n, q)``: ``[i, t] -> (i + sign * t) mod n`` (cached per shape)."""
    key = (n, q, sign)
    if key not in _TAPS:
        _TAPS[key] = (np.arange(n)[:, None] + sign * np.arange(q)[None, :]) % n
    return _TAPS[key]


_TAPS: dict = {}


def _conv(z, K):
    """Circular multi-channel convolution: z (cin, n), K (cout, cin, q) -> (cout, n);
    out[o, i] = sum_{c, t} K[o, c, t] z[c, (i - t) mod n] (taps 0..q-1, like C(w))."""
    shifted = z[:, _taps(z.shape[-1], K.shape[-1], -1)]            # (cin, n, q)
    return np.einsum("oct,cit->oi", K, shifted)


def _conv_back(z, K, g):
    """Gradients of <g, conv(z, K)> w.r.t. K and z: dK[o, c, t] = sum_i g[o, i] z[c, i - t],
    dz[c, j] = sum_{o, t} K[o, c, t] g[o, j + t] (indices mod n)."""
    n, q = z.shape[-1], K.shape[-1]
    dK = np.einsum("oi,cit->oct", g, z[:, _taps(n, q, -1)])
    dz = np.einsum("oct,ojt->cj", K, g[:, _taps(n, q, +1)])
    return dK, dz


class ConvNet:
    """``z_0 = x`` (1 channel); ``d`` hidden layers ``z <- relu(CN(conv(z, K_l)))`` with
    ``k`` channels; output ``sum_c a_c z_c`` (a 1x1 conv).  ``norm`` is ``"learned"``
    (per-channel gamma, beta trained), ``"fixed"`` (gamma = 1, beta = 0) or ``"none"``.
    ``relu=False`` gives the linear network."""

    def __init__(self, n, channels, depth, kernel, norm="fixed", relu=True, eps=1e-5):
        self.n, self.k, self.d, self.q = n, channels, depth, kernel
        self.norm, self.relu, self.eps = norm, relu, eps

    def init(self, rng, scale=None):
        params = {}
        cin = 1
        for l in range(self.d):
            sd = scale if scale is not None else 1.0 / np.sqrt(cin * self.q)
            params[f"K{l}"] = rng.standard_normal((self.k, cin, self.q)) * sd
            params[f"g{l}"] = np.ones(self.k)
            params[f"b{l}"] = np.zeros(self.k)
            cin = self.k
        params["a"] = rng.standard_normal(self.k) / np.sqrt(self.k)
        return params

    def forward(self, params, x, cache=None):
        z = np.asarray(x, float)[None, :]
        for l in range(self.d):
            u = _conv(z, params[f"K{l}"])
            if self.norm != "none":
                gam = params[f"g{l}"][:, None] if self.norm == "learned" else 1.0
                bet = params[f"b{l}"][:, None] if self.norm == "learned" else 0.0
                c = u - u.mean(axis=-1, keepdims=True)
                sd = np.sqrt(np.mean(c * c, axis=-1, keepdims=True) + self.eps)
                xhat = c / sd
                v = xhat * gam + bet
            else:
                xhat, sd, v = None, None, u
            h = np.maximum(v, 0.0) if self.relu else v
            if cache is not None:
                cache.append((z, u, xhat, sd, v))
            z = h
        return params["a"] @ z

    def loss_grad(self, params, x, y):
        """(L = 1/2 |y - f|^2, {name: dL/dparam}) by backpropagation."""
        cache = []
        f = self.forward(params, x, cache)
        r = f - np.asarray(y, float)
        L = 0.5 * float(r @ r)
        grads = {}
        z_last = cache[-1]
        h_last = np.maximum(z_last[4], 0.0) if self.relu else z_last[4]
        grads["a"] = h_last @ r
        g = np.outer(params["a"], r)           # dL/dh of the last hidden layer
        for l in range(self.d - 1, -1, -1):
            z, u, xhat, sd, v = cache[l]
            gv = g * (v > 0) if self.relu else g
            if self.norm != "none":
                gam = params[f"g{l}"][:, None] if self.norm == "learned" else 1.0
                if self.norm == "learned":
                    grads[f"g{l}"] = np.sum(gv * xhat, axis=-1)
                    grads[f"b{l}"] = np.sum(gv, axis=-1)
                else:
                    grads[f"g{l}"] = np.zeros(self.k)
                    grads[f"b{l}"] = np.zeros(self.k)
                dx = gv * gam
                gu = (dx - dx.mean(axis=-1, keepdims=True)
                      - xhat * np.mean(dx * xhat, axis=-1, keepdims=True)) / sd
            else:
                grads[f"g{l}"] = np.zeros(self.k)
                grads[f"b{l}"] = np.zeros(self.k)
                gu = gv
            dK, g = _conv_back(z, params[f"K{l}"], gu)
            grads[f"K{l}"] = dK
        return L, grads


# --------------------------------------------------------------------------------------------
# Plain gradient descent on a ConvNet (DH Fig. 2 / Fig. 5 experiments)
# --------------------------------------------------------------------------------------------


def train_gd(net, params, x, y, lr, steps):
    """Fixed-step GD on ``net.loss_grad`` (all parameters; gamma/beta move only for
    ``norm="learned"``, their gradients are zero otherwise).  Returns (params, losses
    (steps + 1,), per-layer filter-gradient norms (steps + 1, depth)); stops early (padding
    with NaN) if the loss becomes non-finite."""
    params = {k: np.array(v, float) for k, v in params.items()}
    losses = np.full(steps + 1, np.nan)
    gnorms = np.full((steps + 1, net.d), np.nan)
    for t in range(steps + 1):
        with np.errstate(all="ignore"):
            L, g = net.loss_grad(params, x, y)
        if not np.isfinite(L):
            break
        losses[t] = L
        gnorms[t] = [np.linalg.norm(g[f"K{l}"]) for l in range(net.d)]
        if t == steps:
            break
        for k in params:
            params[k] = params[k] - lr * g[k]
    return params, losses, gnorms
