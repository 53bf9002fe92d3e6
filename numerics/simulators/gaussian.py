"""Monte Carlo samples of the Gaussian-input quantities of Lemma 5.6 (seed 004, ch. 5).

Each function returns per-sample values (first axis = sample) of the random quantity whose
expectation the lemma states, computed directly from ``z ~ N(0, I_p)``.  The harness averages
them and estimates the standard error.
"""
from __future__ import annotations

import numpy as np


def relu(x):
    return np.maximum(x, 0.0)


def gaussian_vectors(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    return rng.standard_normal((n, p))


def relu_mean(rng, n, w):
    z = gaussian_vectors(rng, n, len(w))
    return relu(z @ w)


def relu_cross_moment(rng, n, w, u):
    z = gaussian_vectors(rng, n, len(w))
    return relu(z @ w) * relu(z @ u)


def halfspace_second_moment(rng, n, w):
    """Samples of ``z z^T 1{z.w > 0} w = z (z.w) 1{z.w > 0}``."""
    z = gaussian_vectors(rng, n, len(w))
    s = z @ w
    return z * (s * (s > 0))[:, None]


def wedge_second_moment(rng, n, w, u):
    """Samples of ``z z^T 1{z.w > 0, z.u > 0} u``."""
    z = gaussian_vectors(rng, n, len(w))
    s, t = z @ w, z @ u
    return z * (t * ((s > 0) & (t > 0)))[:, None]


def g_samples(rng, n, phi):
    """Samples of ``2 pi sigma(z.e1) sigma(z.u)`` with ``u = (cos phi, sin phi)`` in the plane."""
    z = gaussian_vectors(rng, n, 2)
    return 2 * np.pi * relu(z[:, 0]) * relu(np.cos(phi) * z[:, 0] + np.sin(phi) * z[:, 1])


# --------------------------------------------------------------------------------------------
# Deterministic references: the same random quantities integrated by quadrature (~1e-14)
# --------------------------------------------------------------------------------------------
# Each function projects z onto the plane of its vectors (numerics.quadrature.plane_basis): the
# quantities depend on z only through z.w and z.u, and the component of z orthogonal to the
# plane is independent of them with mean zero.  The integrand is the model's (relu of the
# projections, indicators), with the relu kinks as angular breakpoints.

def plane_basis(w, u=None):
    """Orthonormal ``(e1, e2)`` with ``e1 = w/|w|`` and ``u`` in their span: two Gram-Schmidt
    passes (stable to ~1e-16 for nearly parallel vectors); any ``e2 _|_ e1`` when ``u`` is
    parallel to ``w`` or absent (also for ``p = 2``)."""
    w = np.asarray(w, float)
    e1 = w / np.linalg.norm(w)
    if len(w) == 1 and np.all(np.isfinite(e1)):
        # R^1: e2 = 0, so z = z1 e1 + z2 e2 integrates z2 out exactly (the integrands depend on
        # z only through its projections): the model in d = 1 (issue 19 item 3)
        return e1, np.zeros(1)
    cands = ([np.asarray(u, float)] if u is not None else []) + \
        [np.eye(1, len(w), int(i))[0] for i in np.argsort(np.abs(e1))[:3]]
    for c in cands:
        r = c - (c @ e1) * e1
        r = r - (r @ e1) * e1
        nr = np.linalg.norm(r)
        if nr > 0 and (c is cands[0] and u is not None or nr > 0.5):
            return e1, r / nr
    raise ValueError("w must be a nonzero vector of length >= 2")


def _plane(*vectors):
    e1, e2 = plane_basis(*vectors)
    return e1, e2, [np.array([v @ e1, v @ e2]) for v in map(np.asarray, vectors)]


def relu_mean_quad(w):
    from .. import quadrature as Q

    w = np.asarray(w, float)
    nw = float(np.linalg.norm(w))
    return Q.line_expectation(lambda z: relu(nw * z), kinks=(0.0,))


def relu_cross_moment_quad(w, u):
    from .. import quadrature as Q

    _, _, (cw, cu) = _plane(w, u)
    return Q.plane_expectation(
        lambda z1, z2: relu(cw[0] * z1 + cw[1] * z2) * relu(cu[0] * z1 + cu[1] * z2),
        kinks=Q.relu_kinks(cw, cu))


def halfspace_second_moment_quad(w):
    """``E[z (z.w) 1{z.w > 0}]`` (a vector of R^p)."""
    from .. import quadrature as Q

    w = np.asarray(w, float)
    e1, e2, (cw,) = _plane(w)

    def f(z1, z2):
        s = cw[0] * z1 + cw[1] * z2
        v = s * (s > 0)
        return np.stack([z1 * v, z2 * v], axis=-1)

    c = Q.plane_expectation(f, kinks=Q.relu_kinks(cw))
    return c[0] * e1 + c[1] * e2


def wedge_second_moment_quad(w, u):
    """``E[z (z.u) 1{z.w > 0, z.u > 0}]`` (a vector of R^p)."""
    from .. import quadrature as Q

    e1, e2, (cw, cu) = _plane(w, u)

    def f(z1, z2):
        s, t = cw[0] * z1 + cw[1] * z2, cu[0] * z1 + cu[1] * z2
        v = t * ((s > 0) & (t > 0))
        return np.stack([z1 * v, z2 * v], axis=-1)

    c = Q.plane_expectation(f, kinks=Q.relu_kinks(cw, cu))
    return c[0] * e1 + c[1] * e2


def g_quad(phi):
    """``2 pi E[sigma(z1) sigma(cos(phi) z1 + sin(phi) z2)]`` (the definition of g)."""
    from .. import quadrature as Q

    c, s = np.cos(phi), np.sin(phi)
    return 2 * np.pi * Q.plane_expectation(
        lambda z1, z2: relu(z1) * relu(c * z1 + s * z2), kinks=Q.relu_kinks((1.0, 0.0), (c, s)))
