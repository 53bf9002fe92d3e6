"""Independent simulator of the normalization-free ResNet (spec C0; seed 003): forward pass,
loss, complex-step derivatives, hand-written backprop for the experiments, and GD.

Does not import :mod:`derivations`.  ``c_sigma = 1 / E[sigma(X)^2]`` is computed by Gauss
quadrature of the activation (:func:`numerics.quadrature.line_expectation`).

The complex-step derivative ``Im L(theta + i h e_j) / h`` (h = 1e-30) of the forward pass is
exact to rounding (~1e-16 relative), needs no step tuning and never crosses a ReLU kink (ReLU
is applied to the real part's sign: ``relu(z) = z if Re z > 0 else 0``, analytic on each side),
so it is the high-precision reference for every gradient of the family.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..quadrature import line_expectation


def relu(z):
    return np.where(np.real(z) > 0, z, 0.0 * z)


def drelu(z):
    return (np.real(z) > 0).astype(float)


def softplus(z):
    return np.logaddexp(0.0, z) if not np.iscomplexobj(z) else np.log1p(np.exp(z))


ACTIVATIONS = {"relu": relu, "softplus": softplus}


def c_sigma(activation: str = "relu") -> float:
    """``1 / E[sigma(X)^2]`` by quadrature (relu: 2)."""
    f = ACTIVATIONS[activation]
    kinks = (0.0,) if activation == "relu" else ()
    return 1.0 / float(line_expectation(lambda z: np.real(f(z)) ** 2, kinks=kinks))


@dataclass
class Params:
    W1: np.ndarray          # (m, d)
    W: np.ndarray           # (H - 1, m, m)
    alpha: np.ndarray       # (H - 1,)
    a: np.ndarray           # (m,)

    def flat(self) -> np.ndarray:
        return np.concatenate([self.W1.ravel(), self.W.ravel(), self.alpha.ravel(), self.a.ravel()])

    @classmethod
    def unflat(cls, v, m, d, H):
        i = 0
        W1 = v[i:i + m * d].reshape(m, d); i += m * d
        W = v[i:i + (H - 1) * m * m].reshape(H - 1, m, m); i += (H - 1) * m * m
        alpha = v[i:i + H - 1]; i += H - 1
        return cls(W1, W, alpha, v[i:i + m])

    def copy(self):
        return Params(self.W1.copy(), self.W.copy(), self.alpha.copy(), self.a.copy())


def check_params(X, y, p: Params):
    """ValueError naming the argument for shapes that do not chain or non-finite entries."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be an (n, d) matrix, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    if p.W1.ndim != 2 or p.W1.shape[1] != X.shape[1] or p.W1.shape[0] < 1:
        raise ValueError(f"W1 must be (m, d) with m >= 1 and d = {X.shape[1]}, got {p.W1.shape}")
    m = p.W1.shape[0]
    if p.W.ndim != 3 or p.W.shape[1:] != (m, m):
        raise ValueError(f"W must be (H - 1, m, m) with m = {m}, got {p.W.shape}")
    if p.alpha.shape != (p.W.shape[0],):
        raise ValueError(f"alpha must have shape ({p.W.shape[0]},), got {p.alpha.shape}")
    if p.a.shape != (m,):
        raise ValueError(f"a must have shape ({m},), got {p.a.shape}")
    for name, v in (("X", X), ("y", y), ("W1", p.W1), ("W", p.W), ("alpha", p.alpha), ("a", p.a)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite")


def forward(X, p: Params, activation="relu", cs=None, residual_scale=True):
    """Activations ``[x^(1), ..., x^(H)]`` (each (n, m)) and pre-activations; output u.

    ``residual_scale=False`` drops the 1/(H sqrt m) of the residual branches (replaced by
    1/sqrt m: the "standard" initialization of experiment zr_thm3)."""
    f = ACTIVATIONS[activation]
    cs = c_sigma(activation) if cs is None else cs
    m = p.W1.shape[0]
    H = p.W.shape[0] + 1
    z = X @ p.W1.T
    xs, zs = [math.sqrt(cs / m) * f(z)], [z]
    for h in range(2, H + 1):
        z = xs[-1] @ p.W[h - 2].T
        scale = p.alpha[h - 2] / ((H if residual_scale else 1) * math.sqrt(m))
        xs.append(xs[-1] + scale * f(z))
        zs.append(z)
    return xs, zs, xs[-1] @ p.a


def loss(X, y, p: Params, **kw) -> float:
    u = forward(X, p, **kw)[2]
    return 0.5 * np.sum((y - u) ** 2)


def complex_step_gradient(X, y, p: Params, h: float = 1e-30, **kw) -> Params:
    """dL/dtheta for every parameter by the complex step (exact to rounding)."""
    m, d = p.W1.shape
    H = p.W.shape[0] + 1
    v = p.flat().astype(complex)
    out = np.empty(v.size)
    Xc = X.astype(complex)
    for j in range(v.size):
        v[j] += 1j * h
        q = Params.unflat(v, m, d, H)
        out[j] = np.imag(loss(Xc, y, q, **kw)) / h
        v[j] -= 1j * h
    return Params.unflat(out, m, d, H)


def complex_step_output_jacobian(X, p: Params, h: float = 1e-30, **kw) -> np.ndarray:
    """du_i/dtheta_j, shape (n, P), by the complex step."""
    m, d = p.W1.shape
    H = p.W.shape[0] + 1
    v = p.flat().astype(complex)
    Xc = X.astype(complex)
    J = np.empty((X.shape[0], v.size))
    for j in range(v.size):
        v[j] += 1j * h
        J[:, j] = np.imag(forward(Xc, Params.unflat(v, m, d, H), **kw)[2]) / h
        v[j] -= 1j * h
    return J


def backprop(X, y, p: Params, residual_scale=True, cs=None) -> tuple[Params, np.ndarray]:
    """Hand-written ReLU backprop (for the experiments; checked against the complex step in
    the tests).  Returns (gradient, u)."""
    cs = c_sigma() if cs is None else cs
    check_params(X, y, p)
    xs, zs, u = forward(X, p, cs=cs, residual_scale=residual_scale)
    m = p.W1.shape[0]
    H = p.W.shape[0] + 1
    r = u - y
    g = r[:, None] * p.a[None, :]
    gW = np.zeros_like(p.W)
    gal = np.zeros_like(p.alpha)
    for h in range(H, 1, -1):
        s = 1.0 / ((H if residual_scale else 1) * math.sqrt(m))
        act = relu(zs[h - 1])
        gal[h - 2] = s * np.sum(g * act)
        delta = drelu(zs[h - 1]) * g * (p.alpha[h - 2] * s)
        gW[h - 2] = delta.T @ xs[h - 2]
        g = g + delta @ p.W[h - 2]
    gW1 = (math.sqrt(cs / m) * drelu(zs[0]) * g).T @ X
    ga = r @ xs[-1]
    return Params(gW1, gW, gal, ga), u


def init(rng, n_in: int, m: int, H: int) -> Params:
    """Gaussian initialization of Lemma 5: N(0, 1) weights, alpha_h = 1, a ~ N(0, 1)."""
    for name, v in (("n_in", n_in), ("m", m), ("H", H)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    return Params(rng.standard_normal((m, n_in)), rng.standard_normal((H - 1, m, m)),
                  np.ones(H - 1), rng.standard_normal(m))


def unit_inputs(rng, n: int, d: int) -> np.ndarray:
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def output_jacobian(X, p: Params, residual_scale=True) -> tuple[np.ndarray, list[slice]]:
    """J[i, :] = du_i/dtheta (flattened W1, W, alpha, a) by backprop with residual e_i; also the
    slices of the parameter groups (W1, W^(2), ..., W^(H), alpha, a)."""
    n = X.shape[0]
    u = forward(X, p, residual_scale=residual_scale)[2]
    rows = []
    for i in range(n):
        g, _ = backprop(X[i:i + 1], u[i:i + 1] - 1.0, p, residual_scale=residual_scale)
        rows.append(g.flat())
    m, d = p.W1.shape
    H = p.W.shape[0] + 1
    sl, o = [slice(0, m * d)], m * d
    for _ in range(H - 1):
        sl.append(slice(o, o + m * m))
        o += m * m
    sl += [slice(o, o + H - 1), slice(o + H - 1, o + H - 1 + m)]
    return np.array(rows), sl


def gd(X, y, p: Params, eta: float, steps: int, record=None, residual_scale=True):
    """Plain GD on all parameters; ``record(k, p, u)`` is called before every step and at the end."""
    p = p.copy()
    m, d = p.W1.shape
    H = p.W.shape[0] + 1
    for k in range(steps + 1):
        g, u = backprop(X, y, p, residual_scale=residual_scale)
        if record is not None:
            record(k, p, u)
        if k == steps:
            break
        p = Params.unflat(p.flat() - eta * g.flat(), m, d, H)
    return p
