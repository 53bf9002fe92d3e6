"""Two-layer networks under Gaussian input, simulated from the model (issue 20).

The network ``f(x) = sum_i c_i sigma(u_i.x)``, ``x ~ N(0, I_d)``, with the activations written
out here in NumPy/SciPy (never the derived kernels).  Provides:

* :func:`pair_quadrature` -- ``E[sigma(u.x) sigma(v.x)]`` by polar Gauss quadrature of the
  model's integrand in the plane of ``u`` and ``v`` (:func:`numerics.quadrature.plane_expectation`,
  kinks at the rays where either projection changes sign), ~1e-14;
* :func:`loss_quadrature` -- ``1/2 E[(f - f*)^2]``, the square expanded over unit pairs, each
  pair by :func:`pair_quadrature` (the expansion is algebra of the network, not a kernel);
* :func:`loss_mc` -- per-sample losses of the network for Monte Carlo;
* :func:`richardson_grad` / :func:`richardson_hessian` -- Richardson-extrapolated central
  differences of a simulated loss.

Nothing here imports :mod:`derivations`.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from .. import quadrature as Q

#: The activations, as the model defines them.
SIGMA = {
    "relu": lambda t: np.maximum(t, 0.0),
    "leaky_relu": lambda t, alpha=0.01: np.where(t > 0, t, alpha * t),
    "abs": np.abs,
    "identity": lambda t: t,
    "quadratic": lambda t: t * t,
    "step": lambda t: (t > 0).astype(float),
    "erf": special.erf,
}
#: activations whose integrand has kinks/jumps (or, for erf with large weights, steep fronts)
#: where a projection changes sign: the quadrature breaks its angular sectors there
KINKED = {"relu", "leaky_relu", "abs", "step", "erf"}


def _sigma(activation, params=()):
    f = SIGMA[activation]
    return (lambda t: f(t, *params)) if params else f


def pair_quadrature(activation: str, u, v, params=(), n_r: int | None = None) -> float:
    """``E[sigma(u.x) sigma(v.x)]`` for ``x ~ N(0, I_d)`` by quadrature in the plane of u, v."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    sig = _sigma(activation, params)
    if len(u) == 1:
        cu, cv = np.array([u[0], 0.0]), np.array([v[0], 0.0])
    else:
        e1, e2 = Q.plane_basis(u, v)
        cu, cv = Q.coordinates(u, e1, e2), Q.coordinates(v, e1, e2)
    kinks = Q.relu_kinks(cu, cv) if activation in KINKED else ()
    smooth = activation == "erf"  # not polynomial along rays: more radial and angular nodes
    return float(Q.plane_expectation(
        lambda z1, z2: sig(cu[0] * z1 + cu[1] * z2) * sig(cv[0] * z1 + cv[1] * z2),
        kinks, n_theta=80 if smooth else 40, n_r=n_r or (80 if smooth else 30)))


def loss_quadrature(activation: str, U, a, T, b, params=()) -> float:
    """``1/2 E[(sum_i a_i sigma(u_i.x) - sum_j b_j sigma(t_j.x))^2]``: the square expanded over
    all unit pairs, each pair expectation by :func:`pair_quadrature`."""
    units = np.concatenate([np.asarray(U, float), np.asarray(T, float)])
    coef = np.concatenate([np.asarray(a, float), -np.asarray(b, float)])
    total = 0.0
    for i in range(len(units)):
        for j in range(i, len(units)):
            e = pair_quadrature(activation, units[i], units[j], params)
            total += (1.0 if i == j else 2.0) * coef[i] * coef[j] * e
    return 0.5 * total


def loss_mc(activation: str, U, a, T, b, rng, n: int, params=(), chunk: int = 100_000):
    """Per-sample losses ``1/2 (f(x) - f*(x))^2`` of ``n`` Gaussian inputs."""
    sig = _sigma(activation, params)
    U, T = np.asarray(U, float), np.asarray(T, float)
    out = []
    left = n
    while left > 0:
        m = min(chunk, left)
        x = rng.standard_normal((m, U.shape[-1]))
        resid = sig(x @ U.T) @ np.asarray(a, float) - sig(x @ T.T) @ np.asarray(b, float)
        out.append(0.5 * resid**2)
        left -= m
    return np.concatenate(out)


def richardson_grad(f, x, h: float = 1e-3):
    """Gradient of ``f`` at ``x`` (flat) by ``(4 D(h/2) - D(h))/3`` central differences."""
    x = np.asarray(x, float)
    g = np.empty_like(x)
    for j in range(len(x)):
        hj = h * (1.0 + abs(x[j]))
        d = []
        for step in (hj, hj / 2):
            e = np.zeros_like(x)
            e[j] = step
            d.append((f(x + e) - f(x - e)) / (2 * step))
        g[j] = (4 * d[1] - d[0]) / 3
    return g


def richardson_hessian(f, x, h: float = 1e-2):
    """Hessian of ``f`` at ``x`` by Richardson-extrapolated four-point second differences
    (truncation O(h^4), rounding ~eps_f/h^2)."""
    x = np.asarray(x, float)
    P = len(x)
    H = np.empty((P, P))
    for i in range(P):
        for j in range(i, P):
            d = []
            for s in (h, h / 2):
                ei, ej = np.zeros(P), np.zeros(P)
                ei[i] += s
                ej[j] += s
                d.append((f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej))
                         / (4 * s * s))
            H[i, j] = H[j, i] = (4 * d[1] - d[0]) / 3
    return H


def conv_units(w, d: int, patches) -> np.ndarray:
    """Effective vectors of a filter ``w`` placed on index sets ``patches`` of ``R^d``."""
    w = np.asarray(w, float)
    U = np.zeros((len(patches), d))
    for i, p in enumerate(patches):
        U[i, list(p)] = w
    return U


def safran_shamir_minimum() -> tuple:
    """The k = m = d = 7 spurious local minimum printed in the README of Safran, Yehudai &
    Shamir's code (teacher V = I_7, a = b = 1): ``(W, a, V, b)``."""
    W = np.full((7, 7), -0.0350801559)
    W[0, :] = 0.1859910463
    W[0, 0] = -0.6327039049
    for j in range(1, 7):
        W[j, 0] = 0.2616910758
        W[j, j] = 0.9969227988
    return W, np.ones(7), np.eye(7), np.ones(7)


def angle_pair(rng, d: int, a: float, b: float, phi: float):
    """Vectors of lengths ``a``, ``b`` at angle ``phi`` (exact at 0 and pi) in ``R^d``."""
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    r = rng.standard_normal(d)
    e = r - (r @ u) * u
    e /= np.linalg.norm(e)
    if phi == 0.0:
        v = u.copy()
    elif phi == math.pi:
        v = -u
    else:
        v = math.cos(phi) * u + math.sin(phi) * e
    return a * u, b * v
