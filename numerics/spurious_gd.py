"""Compiled gradient descent for the spurious-minima study (issue 21, item 6): every run's whole
GD loop in one Numba-compiled function, built from the two-layer engine's derived coefficients.

The loss (fully connected ReLU network, output weights fixed) is
``L = 1/2 sum_ij a_i a_j kappa(w_i, w_j) - sum_ij a_i b_j kappa(w_i, v_j) + const`` and its
gradient is ``dL/dw_i = 1/2 a_i^2 d1 w_i + sum_{j != i} a_i a_j (ga w_i + gb w_j)
- sum_j a_i b_j (ga w_i + gb v_j)``, where ``d kappa(u, v)/du = ga u + gb v`` and
``grad kappa(u, u) = d1 u``.  Nothing here types those coefficients: they are SymPy's, taken
from :func:`derivations.twolayer.expressions` ("relu": ``ga = |v| sin(phi)/(2 pi |u|)``,
``gb = (pi - phi)/(2 pi)``, ``d1 = 1``) or, for ``source="standin"``, from
:func:`numerics.relu_pairs.derived` (the registered ``gaussian.relu_cross_moment``
differentiated by ``derivations.vectors``), turned into scalar code by ``sympy.lambdify``
(module ``math``) and compiled with ``numba.njit``.

Why compiled: a NumPy step batched over runs costs ~16-20 us per run at k = 20, but the slow
runs (the last few percent, up to ~10^5 iterations) end up stepped alone, where NumPy's per-call
overhead (~100-200 us per gradient) dominates; here a run's loop never leaves compiled code.
Each run is computed on its own (no BLAS, no reduction across runs), so the end points do not
depend on how runs are grouped into tasks or on the number of workers.

Angles as in the engine (``derivations/twolayer/model.py``): ``cos`` from the dot product, and
for ``|cos| > 0.9`` the angle ``2 atan2(|x^ - y^|, |x^ + y^|)`` (Kahan), accurate to a few ulps
near 0 and pi, so the gradient reaches 1e-12 where a student unit meets its teacher.
"""
from __future__ import annotations

import functools
import math

import numpy as np

#: pairs with |cos| above this get the stable (Kahan) angle (the engine's EDGE_COS)
EDGE_COS = 0.9


def available() -> bool:
    """Whether Numba is installed (extra ``fast``)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


@functools.lru_cache(maxsize=None)
def coefficients(source: str = "twolayer"):
    """``(ga, gb, d1)``: SymPy expressions of the gradient coefficients and the symbols they
    take, ``(a, b, c, s, phi)`` for the pair terms (|u|, |v|, cos, sin, angle) and ``(a,)``
    for the self term."""
    import sympy as sp

    if source == "twolayer":
        from derivations import twolayer

        e = twolayer.expressions("relu")
        s = e["symbols"]
        args = (s["a"], s["b"], s["c"], s["s"], s["phi"])
        return e["pair"]["ga"], e["pair"]["gb"], e["self"]["d1"], args
    if source == "standin":
        from .relu_pairs import derived

        D = derived()
        nu, nw, phi = D["symbols"]
        c, s = sp.Symbol("c", real=True), sp.Symbol("s", positive=True)
        rep = {sp.sin(phi): s, sp.cos(phi): c}
        return (D["grad"]["u"].xreplace(rep), D["grad"]["w"].xreplace(rep), D["self_grad"],
                (nu, nw, c, s, phi))
    raise ValueError(f"source must be 'twolayer' or 'standin', got {source!r}")


@functools.lru_cache(maxsize=None)
def kernel(source: str = "twolayer"):
    """The compiled ``gd(W, a, V, b, eta, tol, cap, iters, gnorm)``: gradient descent on every
    run ``W[r]`` (in place) until ``|grad|_F <= tol`` or ``cap`` steps; writes the iteration
    count (``cap`` when capped, or when the gradient became NaN: a unit reached norm 0, where
    the kernel is not differentiable) and the last ``|grad|_F``.  Compiled once per process."""
    import sympy as sp
    from numba import njit

    ga_e, gb_e, d1_e, args = coefficients(source)
    ga = njit(sp.lambdify(args, ga_e, "math"))
    gb = njit(sp.lambdify(args, gb_e, "math"))
    d1 = njit(sp.lambdify(args[:1], d1_e, "math"))
    edge = EDGE_COS

    @njit(nogil=True, cache=False)
    def angle(c, X, i, Y, j, nx, ny):
        """(cos, sin, phi) of the pair from its cosine; Kahan's angle for |cos| > edge."""
        c = min(1.0, max(-1.0, c))
        if abs(c) > edge:
            d = X.shape[1]
            s1 = 0.0
            s2 = 0.0
            for l in range(d):
                p = X[i, l] / nx
                q = Y[j, l] / ny
                s1 += (p - q) * (p - q)
                s2 += (p + q) * (p + q)
            phi = 2.0 * math.atan2(math.sqrt(s1), math.sqrt(s2))
            return math.cos(phi), math.sin(phi), phi
        return c, math.sqrt(1.0 - c * c), math.acos(c)

    @njit(nogil=True, cache=False)
    def grad(X, a, V, b, VT, nv, ident, w):
        """``w.g = dL/dX`` (workspace ``w``: a tuple of arrays); returns ``|g|_F``.  The three
        products (Gram matrices, gb-weighted sums of partners) go to BLAS; with the identity
        teacher (``ident``) two of them are copies."""
        G, T, B1, B2, CA, nw, g, h = w
        k, d = X.shape
        m = V.shape[0]
        np.dot(X, X.T, G)
        if ident:
            T[:, :] = X
        else:
            np.dot(X, VT, T)
        for i in range(k):
            nw[i] = math.sqrt(G[i, i])
            CA[i] = 0.5 * a[i] * a[i] * d1(nw[i])
            B1[i, i] = 0.0
        for i in range(k):
            for j in range(i + 1, k):
                c, s, phi = angle(G[i, j] / (nw[i] * nw[j]), X, i, X, j, nw[i], nw[j])
                A = a[i] * a[j]
                CA[i] += A * ga(nw[i], nw[j], c, s, phi)
                CA[j] += A * ga(nw[j], nw[i], c, s, phi)
                B1[i, j] = A * gb(nw[i], nw[j], c, s, phi)
                B1[j, i] = A * gb(nw[j], nw[i], c, s, phi)
            for j in range(m):
                c, s, phi = angle(T[i, j] / (nw[i] * nv[j]), X, i, V, j, nw[i], nv[j])
                A = -a[i] * b[j]
                CA[i] += A * ga(nw[i], nv[j], c, s, phi)
                B2[i, j] = A * gb(nw[i], nv[j], c, s, phi)
        np.dot(B1, X, g)
        if ident:
            h[:, :] = B2
        else:
            np.dot(B2, V, h)
        t = 0.0
        for i in range(k):
            for l in range(d):
                v = g[i, l] + h[i, l] + CA[i] * X[i, l]
                g[i, l] = v
                t += v * v
        return math.sqrt(t)

    @njit(nogil=True, cache=False)
    def workspace(k, d, m):
        return (np.empty((k, k)), np.empty((k, m)), np.empty((k, k)), np.empty((k, m)),
                np.empty(k), np.empty(k), np.empty((k, d)), np.empty((k, d)))

    @njit(nogil=True, cache=False)
    def teacher(V):
        m, d = V.shape
        nv = np.empty(m)
        ident = m == d
        for j in range(m):
            s = 0.0
            for l in range(d):
                s += V[j, l] * V[j, l]
                if V[j, l] != (1.0 if j == l else 0.0):
                    ident = False
            nv[j] = math.sqrt(s)
        return np.ascontiguousarray(V.T), nv, ident

    @njit(nogil=True, cache=False)
    def gd(W, a, V, b, eta, tol, cap, iters, gnorm):
        n, k, d = W.shape
        VT, nv, ident = teacher(V)
        w = workspace(k, d, V.shape[0])
        g = w[6]
        for r in range(n):
            X = W[r]
            it = cap
            gn = 0.0
            for t in range(cap + 1):
                gn = grad(X, a, V, b, VT, nv, ident, w)
                if gn <= tol:
                    it = t
                    break
                if gn != gn:  # NaN (a unit reached 0): stop, reported as capped
                    break
                if t == cap:
                    break
                for i in range(k):
                    for l in range(d):
                        X[i, l] -= eta * g[i, l]
            iters[r] = it
            gnorm[r] = gn

    @njit(nogil=True, cache=False)
    def grads(W, a, V, b, out):
        n, k, d = W.shape
        VT, nv, ident = teacher(V)
        w = workspace(k, d, V.shape[0])
        for r in range(n):
            grad(W[r], a, V, b, VT, nv, ident, w)
            out[r] = w[6]

    return gd, grads


def _args(W, a, V, b):
    W = np.ascontiguousarray(W, dtype=np.float64)
    if W.ndim != 3:
        raise ValueError(f"W must have shape (runs, k, d), got {W.shape}")
    n, k, d = W.shape
    V = np.ascontiguousarray(V, dtype=np.float64)
    if V.ndim != 2 or V.shape[1] != d:
        raise ValueError(f"V must have shape (m, {d}), got {V.shape}")
    a = np.ascontiguousarray(np.broadcast_to(np.asarray(a, float), (k,)))
    b = np.ascontiguousarray(np.broadcast_to(np.asarray(b, float), (V.shape[0],)))
    if not (np.isfinite(W).all() and np.isfinite(V).all()):
        raise ValueError("W and V must be finite")
    return W, a, V, b


def gradients(W, a, V, b, source: str = "twolayer") -> np.ndarray:
    """``dL/dW`` of every run ``W[r]`` (runs, k, d), by the compiled kernel."""
    W, a, V, b = _args(W, a, V, b)
    out = np.empty_like(W)
    kernel(source)[1](W, a, V, b, out)
    return out


def descend(W, a, V, b, eta: float, tol: float, cap: int, source: str = "twolayer"):
    """Gradient descent ``W <- W - eta grad L(W)`` on every run of ``W`` (runs, k, d) until
    ``|grad L|_F <= tol`` or ``cap`` steps.  Returns ``(W_end, iters, gnorm)``; a capped run has
    ``iters == cap``."""
    W, a, V, b = _args(W, a, V, b)
    W = W.copy()
    iters = np.empty(len(W), dtype=np.int64)
    gnorm = np.empty(len(W))
    if not (eta > 0 and tol > 0 and int(cap) >= 0):
        raise ValueError("eta and tol must be > 0 and cap >= 0")
    kernel(source)[0](W, a, V, b, float(eta), float(tol), int(cap), iters, gnorm)
    return W, iters, gnorm
