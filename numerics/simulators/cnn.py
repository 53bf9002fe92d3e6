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


# --------------------------------------------------------------------------------------------
# Deterministic reference: the same network averaged by quadrature, patch by patch (~1e-14)
# --------------------------------------------------------------------------------------------
# The patches are independent, so E[(sum_i h_i(Z_i))^2] = sum_i E[h_i^2] + sum_{i != j} E[h_i]
# E[h_j] with h_i(z) = a_i relu(z.w) - a*_i relu(z.w*) (the student's minus the teacher's
# contribution of patch i).  Each single-patch expectation depends on z only through its
# projection on the plane of w and w* (the orthogonal part is independent with mean zero) and
# is integrated by numerics.quadrature with the relu kinks as breakpoints.  Gradients are the
# same expectations of the back-propagated per-sample gradients (as in per_sample above).

def _patch_moments(w, a, w_star, a_star):
    from .. import quadrature as Q

    from .gaussian import plane_basis

    e1, e2 = plane_basis(w, w_star)
    cw, cs = Q.coordinates(w, e1, e2), Q.coordinates(w_star, e1, e2)
    a, a_star = np.asarray(a, float), np.asarray(a_star, float)
    k = len(a)

    def f(z1, z2):
        pw = cw[0] * z1 + cw[1] * z2
        ps = cs[0] * z1 + cs[1] * z2
        rw, rs = np.maximum(pw, 0.0), np.maximum(ps, 0.0)
        h = a * rw[..., None] - a_star * rs[..., None]            # S + (k,)
        ind = (pw > 0).astype(float)
        z = np.stack([z1, z2], axis=-1)                            # S + (2,)
        parts = [h * h, h, rw[..., None], h * rw[..., None], ind[..., None] * z,
                 (h[..., :, None] * (ind[..., None] * z)[..., None, :]).reshape(z1.shape + (2 * k,))]
        return np.concatenate(parts, axis=-1)

    m = Q.plane_expectation(f, kinks=Q.relu_kinks(cw, cs))
    Eh2, Eh, Erw, Ehrw = m[:k], m[k:2 * k], m[2 * k], m[2 * k + 1:3 * k + 1]
    Eiz = m[3 * k + 1:3 * k + 3]
    Ehiz = m[3 * k + 3:].reshape(k, 2)
    return dict(Eh2=Eh2, Eh=Eh, Erw=Erw, Ehrw=Ehrw, Eiz=Eiz, Ehiz=Ehiz, e1=e1, e2=e2, a=a)


def quadrature(v, a, w_star, a_star, normalized=True):
    """``(loss, grad_first_layer, grad_a)`` of ``1/2 E[(f(Z, w, a) - f(Z, w*, a*))^2]`` by
    quadrature; ``normalized`` as in :func:`samples` (first argument ``v``, ``w = v/|v|``)."""
    v = np.asarray(v, float)
    w = v / np.linalg.norm(v) if normalized else v
    M = _patch_moments(w, a, np.asarray(w_star, float), a_star)
    Eh, S = M["Eh"], float(np.sum(M["Eh"]))
    loss = 0.5 * (float(np.sum(M["Eh2"])) + S * S - float(np.sum(Eh * Eh)))
    rest = S - Eh                                                  # sum over the other patches
    grad_a = M["Ehrw"] + rest * M["Erw"]
    c = (M["a"][:, None] * (M["Ehiz"] + rest[:, None] * M["Eiz"][None, :])).sum(axis=0)
    if normalized:
        # the chain rule through w = v/|v|, (I - e1 e1^T)/|v| with e1 = w (plane_basis), in the
        # plane's own coordinates: it keeps the e2 part exactly (projecting c0 e1 + c1 e2 in
        # float64 leaves ~eps |c0|, which near (anti)parallel w, w* is large next to c1)
        grad_w = c[1] * M["e2"] / np.linalg.norm(v)
    else:
        grad_w = c[0] * M["e1"] + c[1] * M["e2"]
    return loss, grad_w, grad_a


def activation_gram_quad(w, u, k):
    """``E[relu(Z^T w) relu(Z^T u)^T]`` (k x k) by quadrature: one patch on the diagonal, two
    independent patches off it."""
    from .. import quadrature as Q

    from .gaussian import plane_basis

    e1, e2 = plane_basis(w, u)
    cw, cu = Q.coordinates(w, e1, e2), Q.coordinates(u, e1, e2)

    def f(z1, z2):
        rw = np.maximum(cw[0] * z1 + cw[1] * z2, 0.0)
        ru = np.maximum(cu[0] * z1 + cu[1] * z2, 0.0)
        return np.stack([rw * ru, rw, ru], axis=-1)

    same, mw, mu = Q.plane_expectation(f, kinks=Q.relu_kinks(cw, cu))
    return np.where(np.eye(k, dtype=bool), same, mw * mu)
