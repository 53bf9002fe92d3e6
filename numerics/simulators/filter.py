"""The ch. 6 convolutional filter, simulated from the network (seed 004, thesis ch. 6).

One neuron ``f(w, z) = relu(w.z)`` (or ``(1/k) sum_i relu(w.Z_i)`` over patches), teacher
``w*``, per-sample loss ``1/2 (f(w) - f(w*))^2``.  Provides per-sample losses and gradients
(back-propagation written out), Gaussian expectations of the model's integrands by polar
quadrature in the plane of ``w`` and ``w*`` (the orthogonal complement handled exactly: it is
independent of the indicators), overlapping 1-D patch extraction, and GD on general patch
distributions for Figure 6.3.  Nothing here imports :mod:`derivations`.
"""
from __future__ import annotations

import math

import numpy as np

from .. import quadrature as Q


def per_sample(z, w, w_star):
    """Per-sample ``(loss, grad_w)`` for inputs ``z`` of shape ``(n, p)``."""
    pw, ps = z @ w, z @ w_star
    resid = np.maximum(pw, 0.0) - np.maximum(ps, 0.0)
    return 0.5 * resid**2, resid[:, None] * (pw > 0)[:, None] * z


def _basis(w, w_star):
    w, w_star = np.asarray(w, float), np.asarray(w_star, float)
    if len(w) == 2:
        e1 = w / np.linalg.norm(w)
        return e1, np.array([-e1[1], e1[0]])
    return Q.plane_basis(w, w_star)


def plane_moments(w, w_star):
    """Quadrature of the model's integrands in the plane of ``(w, w*)``: returns ``loss``,
    ``grad`` (R^p), ``A_plus``, ``A_minus`` (p x p) for ``z ~ N(0, I_p)``."""
    w, w_star = np.asarray(w, float), np.asarray(w_star, float)
    p = len(w)
    e1, e2 = _basis(w, w_star)
    cw, cs = Q.coordinates(w, e1, e2), Q.coordinates(w_star, e1, e2)

    def integrand(z1, z2):
        pw = cw[0] * z1 + cw[1] * z2
        ps = cs[0] * z1 + cs[1] * z2
        resid = np.maximum(pw, 0.0) - np.maximum(ps, 0.0)
        ip = ((pw > 0) & (ps > 0)).astype(float)
        im = ((pw > 0) & (ps <= 0)).astype(float)
        g = resid * (pw > 0)
        return np.stack([0.5 * resid**2, g * z1, g * z2,
                         ip * z1 * z1, ip * z1 * z2, ip * z2 * z2, ip,
                         im * z1 * z1, im * z1 * z2, im * z2 * z2, im], axis=-1)

    m = Q.plane_expectation(integrand, Q.relu_kinks(cw, cs))
    E = np.stack([e1, e2])
    comp = np.eye(p) - np.outer(e1, e1) - np.outer(e2, e2)

    def mat(a, b, c, prob):
        return E.T @ np.array([[a, b], [b, c]]) @ E + prob * comp

    return {"loss": m[0], "grad": m[1] * e1 + m[2] * e2,
            "A_plus": mat(m[3], m[4], m[5], m[6]), "A_minus": mat(m[7], m[8], m[9], m[10])}


def sample(rng, n, w, w_star, batch=200_000):
    """Per-sample ``(loss, grad, zz^T 1{++}, zz^T 1{+-})`` for ``n`` Gaussian inputs."""
    w, w_star = np.asarray(w, float), np.asarray(w_star, float)
    out = [[], [], [], []]
    done = 0
    while done < n:
        m = min(batch, n - done)
        z = rng.standard_normal((m, len(w)))
        loss, grad = per_sample(z, w, w_star)
        pw, ps = z @ w > 0, z @ w_star > 0
        zz = np.einsum("ni,nj->nij", z, z)
        out[0].append(loss), out[1].append(grad)
        out[2].append(zz * (pw & ps)[:, None, None]), out[3].append(zz * (pw & ~ps)[:, None, None])
        done += m
    return [np.concatenate(o) for o in out]


def patches_1d(x, size, stride=1):
    """Overlapping 1-D patches of signals ``x`` (n, d): shape ``(n, k, size)``."""
    idx = np.arange(0, x.shape[1] - size + 1, stride)[:, None] + np.arange(size)
    return x[:, idx]


def conv_per_sample_grad(Z, w, w_star):
    """Per-sample gradient of ``1/2 (f(w) - f(w*))^2``, ``f = (1/k) sum_i relu(w.Z_i)``, by the
    chain rule on the network (``Z``: (n, k, p))."""
    k = Z.shape[1]
    pw, ps = Z @ w, Z @ w_star
    f = np.maximum(pw, 0).sum(1) / k
    fs = np.maximum(ps, 0).sum(1) / k
    return (f - fs)[:, None] * np.einsum("nk,nkp->np", (pw > 0).astype(float), Z) / k


def unit_patches(rng, n, w_star, sigma, mix=0.5):
    """Unit-norm patches in the plane of ``w*`` (and a random orthogonal spread): the angle to
    ``w*`` is ``N(0, sigma^2)`` truncated to [-pi/2, pi/2] (prob. ``mix``) or the same around
    ``pi`` (pointing away from ``w*``): the E6 / Fig. 6.3a distribution (our reading of the
    garbled OCR; see docs/filter.md)."""
    w_star = np.asarray(w_star, float)
    p = len(w_star)
    e1 = w_star / np.linalg.norm(w_star)
    ang = rng.normal(0.0, sigma, 4 * n)
    ang = ang[np.abs(ang) <= math.pi / 2][:n]
    while len(ang) < n:  # pragma: no cover - tiny sigma never gets here
        more = rng.normal(0.0, sigma, n)
        ang = np.concatenate([ang, more[np.abs(more) <= math.pi / 2]])[:n]
    ang = ang + math.pi * (rng.random(n) > mix)
    d = rng.standard_normal((n, p))
    d -= np.outer(d @ e1, e1)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * d
