"""The two-layer engine (issue 20): any two-layer network under Gaussian input, fully connected
or convolutional (overlapping patches, several filters), for several activations.

    from derivations.twolayer import fully_connected
    net = fully_connected(d=7, k=7, m=7, activation="relu")
    net.loss(W, a, V, b), net.grad(W, a, V, b), net.hessian(W, a, V, b), net.hvp(...)

Layer 1 (:mod:`.kernels`, SymPy): the pair kernel kappa(u, v) = E[sigma(u.x) sigma(v.x)] and its
derivatives, derived per activation and emitted to ``derivations/generated/twolayer_kernels.py``
(:mod:`.emit`); :func:`expressions` gives them as SymPy for LaTeX and interval certificates.
Layer 2 (:mod:`.model`, :mod:`.networks`, NumPy only): the chain rule over all unit pairs at once;
on the Numba backend the same chain rule compiled (:mod:`.compiled`, the loops of
``derivations/generated/twolayer_kernels_numba.py``); on JAX (:mod:`.jax`, ``net.jax()`` or
``set_backend("jax")``) the same chain rule in ``jax.numpy`` on the kernels emitted as JAX
(``derivations/generated/twolayer_kernels_jax.py``).
SymPy is imported only by :func:`expressions` and :mod:`.latex`.
"""
from .networks import (Convolutional, FullyConnected, Patches, convolutional, fully_connected,
                       patches)

ACTIVATIONS = ("relu", "leaky_relu", "abs", "identity", "quadratic", "step", "erf")

__all__ = ["fully_connected", "convolutional", "patches", "FullyConnected", "Convolutional",
           "Patches", "expressions", "ACTIVATIONS"]


def expressions(activation: str) -> dict:
    """The per-activation SymPy expressions (kappa, its gradient and Hessian coefficients, the
    diagonal), see :func:`derivations.twolayer.kernels.expressions`."""
    from . import kernels

    return kernels.expressions(activation)
