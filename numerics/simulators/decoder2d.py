"""A 2-D convolutional generator (a deep-decoder variant; DH sec. 2, Fig. 1), simulated in NumPy.

``z_0`` = a fixed random input volume (k, H, W); ``d`` layers ``z <- relu(CN(conv3x3(z, K_l)))``
with k channels each (CN: per-channel centring and scaling over the H x W pixels, gamma = 1,
beta = 0, eps; or no normalization); output ``G = sum_c a_c z_c`` (a 1x1 convolution to one
grayscale channel).  Convolutions are circular (periodic boundary; the paper does not state its
padding).  Loss ``L = 1/2 |G - x*|^2``.  Backpropagation by hand, checked against finite
differences in tests/test_dh_fig1.py; nothing here imports :mod:`derivations`.

Also :func:`phantom`: a Shepp-Logan-like head phantom drawn from ellipses in NumPy (the
standard ten ellipses' centres, axes, angles and the "modified" intensities), at any size.
"""
from __future__ import annotations

import numpy as np

#: (intensity, a, b, x0, y0, angle in degrees): the modified Shepp-Logan ellipses (Toft 1996)
_ELLIPSES = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)


def phantom(size: int) -> np.ndarray:
    """A ``size x size`` Shepp-Logan-like phantom in [0, 1] (sum of filled ellipses)."""
    if not isinstance(size, (int, np.integer)) or size < 4:
        raise ValueError(f"size must be an integer >= 4, got {size!r}")
    t = (np.arange(size) + 0.5) / size * 2 - 1
    X, Y = np.meshgrid(t, -t)
    img = np.zeros((size, size))
    for rho, a, b, x0, y0, ang in _ELLIPSES:
        th = np.deg2rad(ang)
        xr = (X - x0) * np.cos(th) + (Y - y0) * np.sin(th)
        yr = -(X - x0) * np.sin(th) + (Y - y0) * np.cos(th)
        img[(xr / a) ** 2 + (yr / b) ** 2 <= 1] += rho
    return np.clip(img, 0.0, 1.0)


_SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _stack(z):
    """The 9 circularly shifted copies of ``z`` (c, H, W) -> (9, c, H, W): tap s reads
    ``z[:, i + dy, j + dx]``."""
    return np.stack([np.roll(z, (-dy, -dx), axis=(-2, -1)) for dy, dx in _SHIFTS])


def _unstack(gs):
    """Adjoint of :func:`_stack`: (9, c, H, W) -> (c, H, W)."""
    return sum(np.roll(g, (dy, dx), axis=(-2, -1)) for g, (dy, dx) in zip(gs, _SHIFTS))


class Decoder2D:
    """The generator of DH Fig. 1 (see the module docstring); ``norm`` is "fixed" or "none"."""

    def __init__(self, size, channels, depth, norm="fixed", eps=1e-5):
        self.size, self.k, self.d, self.norm, self.eps = size, channels, depth, norm, eps

    def init(self, rng):
        """Filters N(0, 1/(9 c_in)) (fan-in), output weights N(0, 1/k), the fixed input volume
        U[0, 1] (k, H, W) as in the deep decoder / deep image prior."""
        p = {f"K{l}": rng.standard_normal((self.k, self.k, 9)) / np.sqrt(9 * self.k)
             for l in range(self.d)}
        p["a"] = rng.standard_normal(self.k) / np.sqrt(self.k)
        self.z0 = rng.uniform(0.0, 1.0, (self.k, self.size, self.size))
        return p

    def forward(self, params, cache=None):
        z = self.z0
        for l in range(self.d):
            Zs = _stack(z)
            u = np.einsum("ocs,schw->ohw", params[f"K{l}"], Zs, optimize=True)
            if self.norm == "fixed":
                c = u - u.mean(axis=(-2, -1), keepdims=True)
                sd = np.sqrt(np.mean(c * c, axis=(-2, -1), keepdims=True) + self.eps)
                v = c / sd
            else:
                sd, v = None, u
            if cache is not None:
                cache.append((Zs, v, sd))
            z = np.maximum(v, 0.0)
        return np.einsum("c,chw->hw", params["a"], z)

    def loss_grad(self, params, target):
        cache = []
        G = self.forward(params, cache)
        r = G - target
        L = 0.5 * float(np.sum(r * r))
        grads = {"a": np.einsum("chw,hw->c", np.maximum(cache[-1][1], 0.0), r)}
        g = params["a"][:, None, None] * r[None]            # dL/dz of the last layer
        for l in range(self.d - 1, -1, -1):
            Zs, v, sd = cache[l]
            gv = g * (v > 0)
            if self.norm == "fixed":
                gu = (gv - gv.mean(axis=(-2, -1), keepdims=True)
                      - v * np.mean(gv * v, axis=(-2, -1), keepdims=True)) / sd
            else:
                gu = gv
            grads[f"K{l}"] = np.einsum("ohw,schw->ocs", gu, Zs, optimize=True)
            if l:
                g = _unstack(np.einsum("ocs,ohw->schw", params[f"K{l}"], gu, optimize=True))
        return L, grads


def train_gd(net, params, target, lr, steps, progress=None):
    """Fixed-step GD on all filters and the output weights; (params, losses, per-layer filter
    gradient norms (steps + 1, depth)); stops (NaN padding) if the loss becomes non-finite."""
    params = {k: np.array(v, float) for k, v in params.items()}
    losses = np.full(steps + 1, np.nan)
    gnorms = np.full((steps + 1, net.d), np.nan)
    for t in range(steps + 1):
        with np.errstate(all="ignore"):
            L, g = net.loss_grad(params, target)
        if not np.isfinite(L):
            break
        losses[t] = L
        gnorms[t] = [np.linalg.norm(g[f"K{l}"]) for l in range(net.d)]
        if progress and t % max(1, steps // 10) == 0:
            progress(f"step {t}: loss {L:.4g}")
        if t == steps:
            break
        for k in params:
            params[k] = params[k] - lr * g[k]
    return params, losses, gnorms
