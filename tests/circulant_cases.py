"""Data of the circulant backend tests (shared by tests/test_backend_circulant.py and
tests/test_jax_circulant.py): filters ``w (batch..., d, n)`` scaled so the depth-d products stay
O(1), a centered input ``x`` and a target ``y``."""
import numpy as np


def circulant_data(rng, batch, d, n, scale=None):
    w = rng.standard_normal(batch + (d, n)) / np.sqrt(n * n if scale is None else scale)
    x = rng.standard_normal(n)
    x -= x.mean()
    return w, x, rng.standard_normal(n)
