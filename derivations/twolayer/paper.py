"""Printed forms of other papers' results on the two-layer network, TRANSCRIBED (``paper``
forms, issue 20 item 5): compared with the derived engine, never used by it.

* Tian, "An analytical formula of population gradient for two-layered ReLU network and its
  applications in convergence and critical point analysis", ICML 2017 (arXiv:1703.00560),
  Sec. 3: for ``J(w) = 1/2 E[(sum_j sigma(w_j.x) - sum_j sigma(w*_j.x))^2]``, ReLU ``sigma``,
  ``x ~ N(0, I_d)`` and all output weights 1, the population gradient is

      dJ/dw_j = sum_j' g(w_j, w_j') - sum_j' g(w_j, w*_j'),
      g(w, w*) = 1/(2 pi) [(pi - theta) w* + (|w*|/|w|) sin(theta) w],

  ``theta`` the angle between ``w`` and ``w*`` (the sum over ``j'`` includes ``j' = j``,
  where ``g(w, w) = w/2``).  The same ``g`` is what Tian's published code evaluates
  (``utils.compute_term``, with units as columns, returning ``-dJ/dw``).

:func:`tian_g` gives ``g`` as SymPy (the coefficients of ``w*`` and ``w``, for LaTeX);
:func:`tian_gradient` evaluates the printed sum in NumPy (NumPy only at run time).
"""
from __future__ import annotations

import numpy as np

TIAN_SOURCE = ("Tian, ICML 2017 (arXiv:1703.00560), Sec. 3: population gradient of the "
               "two-layered ReLU network, g(w, w*) = [(pi - theta) w* + |w*|/|w| sin(theta) w]"
               "/(2 pi)")


def tian_g():
    """``g(w, w*) = c_star w* + c_w w`` as printed: ``{"c_star": ..., "c_w": ...}`` in the
    symbols ``theta, nw = |w|, nws = |w*|``."""
    import sympy as sp

    theta = sp.Symbol("theta", nonnegative=True)
    nw, nws = sp.symbols("nw nws", positive=True)
    return {"c_star": (sp.pi - theta) / (2 * sp.pi), "c_w": nws * sp.sin(theta) / (2 * sp.pi * nw),
            "symbols": (theta, nw, nws)}


def _angles(X, Y):
    """Angles between the rows of X (..., n, d) and of Y (..., m, d), by Kahan's
    ``2 atan2(|x^ - y^|, |x^ + y^|)`` (exact 0 for a vector with itself)."""
    Xh = X / np.linalg.norm(X, axis=-1, keepdims=True)
    Yh = Y / np.linalg.norm(Y, axis=-1, keepdims=True)
    diff = np.linalg.norm(Xh[..., :, None, :] - Yh[..., None, :, :], axis=-1)
    summ = np.linalg.norm(Xh[..., :, None, :] + Yh[..., None, :, :], axis=-1)
    return 2.0 * np.arctan2(diff, summ)


def _g_sum(W, X):
    """``sum_j' g(w_j, x_j')`` for every row ``w_j`` of W: (..., k, d)."""
    theta = _angles(W, X)
    nw = np.linalg.norm(W, axis=-1)[..., :, None]
    nx = np.linalg.norm(X, axis=-1)[..., None, :]
    c_star = (np.pi - theta) / (2 * np.pi)
    c_w = nx * np.sin(theta) / (2 * np.pi * nw)
    return c_star @ X + np.sum(c_w, axis=-1)[..., None] * W


def tian_gradient(W, V):
    """Tian's printed ``dJ/dW`` (rows of ``W (..., k, d)`` are student units, rows of
    ``V (..., m, d)`` teacher units, all output weights 1)."""
    W, V = np.asarray(W, float), np.asarray(V, float)
    return _g_sum(W, W) - _g_sum(W, V)
