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
