"""The infinite-width kernels' MODELS: Monte Carlo integrands and quadrature references.

Nothing here imports :mod:`derivations` or evaluates a derived closed form.  Each kernel is an
expectation over a Gaussian weight vector; this module provides

* per-sample integrands for Monte Carlo (``w ~ N(0, I_d)`` or ``v ~ N(0, alpha^2 I_d)`` drawn
  in full dimension ``d``), and
* deterministic references: the same integrand projected on the plane of ``x`` and ``y`` and
  integrated by :func:`numerics.quadrature.plane_expectation` (kinks at the ReLU boundaries).
  For the weight-normalized kernels the integrand contains ``1/|v|^2``, which also depends on
  the ``d - 2`` coordinates orthogonal to the plane; by rotation invariance the in-plane angle
  is independent of ``(r^2, Q) = (|v_plane|^2, |v_perp|^2)`` (independent chi-squares with 2 and
  ``d - 2`` degrees of freedom), so the reference is the plane integral of the integrand at
  ``|v| = r`` times ``E[r^2/(r^2 + Q)]``, the latter by adaptive 1-D quadrature of the two
  chi-square densities (SciPy).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import quadrature as Q


def relu(s):
    return np.maximum(s, 0.0)


# --------------------------------------------------------------------------------------------
# Monte Carlo integrands (first axis = sample)
# --------------------------------------------------------------------------------------------


def _draws(rng, n, d, alpha=1.0):
    return alpha * rng.standard_normal((n, d))


def h_inf_samples(rng, n, x, y, alpha=1.0):
    """``x.y 1{w.x >= 0} 1{w.y >= 0}``."""
    w = _draws(rng, n, len(x), alpha)
    return (x @ y) * ((w @ x >= 0) & (w @ y >= 0))


def arccos1_samples(rng, n, x, y):
    """``relu(w.x) relu(w.y)``, ``w ~ N(0, I_d)``."""
    w = _draws(rng, n, len(x))
    return relu(w @ x) * relu(w @ y)


def _proj(v, x):
    """``x^v = v v^T x / |v|^2`` for each row ``v``."""
    return (v @ x / np.einsum("ij,ij->i", v, v))[:, None] * v


def g_inf_samples(rng, n, x, y, alpha=1.0):
    """``<x^v, y^v> 1{v.x >= 0} 1{v.y >= 0}``, ``v ~ N(0, alpha^2 I_d)`` (WN eq. 4.3)."""
    v = _draws(rng, n, len(x), alpha)
    ind = (v @ x >= 0) & (v @ y >= 0)
    return np.einsum("ij,ij->i", _proj(v, x), _proj(v, y)) * ind


def v_inf_samples(rng, n, x, y, alpha=1.0):
    """``<x^{v perp}, y^{v perp}> 1 1`` (WN eq. 4.2)."""
    v = _draws(rng, n, len(x), alpha)
    ind = (v @ x >= 0) & (v @ y >= 0)
    xp, yp = x - _proj(v, x), y - _proj(v, y)
    return np.einsum("ij,ij->i", xp, yp) * ind


def layer_map_samples(rng, n, rx, ry, phi, derivative=False):
    """``sigma(u) sigma(v)`` (or ``sigma'(u) sigma'(v)``) for ``(u, v)`` centred Gaussian with
    standard deviations ``rx, ry`` and correlation ``cos(phi)`` (drawn by Cholesky)."""
    z = rng.standard_normal((n, 2))
    u = rx * z[:, 0]
    v = ry * (math.cos(phi) * z[:, 0] + math.sin(phi) * z[:, 1])
    if derivative:
        return ((u >= 0) & (v >= 0)).astype(float)
    return relu(u) * relu(v)


def init_residual_samples(rng, n, y, m=64, d=6):
    """``|y - u(0)|^2`` for the ch. 2 network at initialization: ``n_data = len(y)`` unit points
    in ``R^d`` (fixed by a seed), ``m`` neurons ``w_r ~ N(0, I)``, ``a_r ~ U{-1, 1}``."""
    npts = len(y)
    X = np.random.default_rng(1234).standard_normal((npts, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    out = np.empty(n)
    for s in range(0, n, 2048):
        b = min(2048, n - s)
        W = rng.standard_normal((b, m, d))
        a = rng.choice([-1.0, 1.0], size=(b, m))
        u = np.einsum("bm,bmn->bn", a, relu(np.einsum("bmd,nd->bmn", W, X))) / math.sqrt(m)
        out[s:s + b] = np.sum((y - u) ** 2, axis=1)
    return out


# --------------------------------------------------------------------------------------------
# Quadrature references (~1e-13)
# --------------------------------------------------------------------------------------------


def _plane(x, y):
    """In-plane coordinates of ``x`` and ``y`` and the kinks of ``1{a.z >= 0}``, ``1{b.z >= 0}``."""
    if len(x) == 2:  # the plane is R^2 itself (Q.plane_basis needs a second direction there)
        e1 = np.asarray(x, float) / np.linalg.norm(x)
        e2 = np.array([-e1[1], e1[0]])
    else:
        e1, e2 = Q.plane_basis(x, y)
    a, b = Q.coordinates(x, e1, e2), Q.coordinates(y, e1, e2)
    return a, b, Q.relu_kinks(a, b)


def _lin(c, z1, z2):
    return c[0] * z1 + c[1] * z2


@lru_cache(maxsize=None)
def radial_factor(d: int) -> float:
    """``E[r^2/(r^2 + Q)]``, ``r^2 ~ chi^2_2`` (density e^{-t/2}/2), ``Q ~ chi^2_{d-2}``; adaptive
    quadrature of the model's densities (no Beta-function identity used)."""
    if d == 2:
        return 1.0
    from scipy import integrate, stats

    k = d - 2

    def inner(q):
        # E_t[t/(t + q)] for t ~ Exp(mean 2)
        val, _ = integrate.quad(lambda t: t / (t + q) * 0.5 * math.exp(-t / 2), 0, np.inf,
                                epsabs=1e-15, epsrel=1e-13, limit=200)
        return val

    dens = stats.chi2(k).pdf
    hi = stats.chi2(k).isf(1e-17)
    pieces = np.linspace(0.0, hi, 9)
    total = 0.0
    for s, t in zip(pieces[:-1], pieces[1:]):
        val, _ = integrate.quad(lambda q: inner(q) * dens(q), s, t, epsabs=1e-15, epsrel=1e-13,
                                limit=200)
        total += val
    return total


def h_inf_reference(x, y):
    a, b, kinks = _plane(x, y)
    xy = float(np.dot(x, y))
    return float(Q.plane_expectation(
        lambda z1, z2: xy * ((_lin(a, z1, z2) >= 0) & (_lin(b, z1, z2) >= 0)), kinks))


def arccos1_reference(x, y):
    a, b, kinks = _plane(x, y)
    return float(Q.plane_expectation(
        lambda z1, z2: relu(_lin(a, z1, z2)) * relu(_lin(b, z1, z2)), kinks))


def g_inf_reference(x, y):
    """``E[relu(v.x) relu(v.y)/|v|^2]``: the angular plane integral at ``|v| = r`` times the
    radial factor ``E[r^2/(r^2 + Q)]`` (alpha cancels from the integrand)."""
    a, b, kinks = _plane(x, y)
    if len(x) == 1:
        # d = 1: v = z1 e1 is all in the line, |v|^2 = z1^2 and relu(v x) relu(v y) / |v|^2 =
        # x y 1{v x >= 0} 1{v y >= 0} (no radial factor; the orthogonal parts vanish)
        return float(Q.plane_expectation(
            lambda z1, z2: a[0] * b[0] * ((_lin(a, z1, z2) >= 0) & (_lin(b, z1, z2) >= 0)),
            kinks))
    ang = Q.plane_expectation(
        lambda z1, z2: relu(_lin(a, z1, z2)) * relu(_lin(b, z1, z2)) / (z1 * z1 + z2 * z2),
        kinks)
    return float(ang) * radial_factor(len(x))


def v_inf_reference(x, y):
    """``E[(x.y - <x^v, y^v>) 1 1]`` (the orthogonal parts), same decomposition."""
    return h_inf_reference(x, y) - g_inf_reference(x, y)


REFERENCES = {"h_inf": h_inf_reference, "arccos1": arccos1_reference,
              "g_inf": g_inf_reference, "v_inf": v_inf_reference}


def gram_reference(name, X):
    """Pairwise quadrature over the rows of ``X``."""
    f = REFERENCES[name]
    n = len(X)
    out = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            out[i, j] = out[j, i] = f(X[i], X[j])
    return out


def layer_map_reference(rx, ry, phi, derivative=False):
    a = np.array([rx, 0.0])
    b = np.array([ry * math.cos(phi), ry * math.sin(phi)])
    kinks = Q.relu_kinks(a, b)
    if derivative:
        return float(Q.plane_expectation(
            lambda z1, z2: ((_lin(a, z1, z2) >= 0) & (_lin(b, z1, z2) >= 0)).astype(float),
            kinks))
    return float(Q.plane_expectation(
        lambda z1, z2: relu(_lin(a, z1, z2)) * relu(_lin(b, z1, z2)), kinks))


def init_residual_reference(y):
    """``|y|^2 - 2 y.E u + sum_i E u_i^2`` with ``E u_i = E[a] E relu(z) = 0`` and
    ``E u_i^2 = E[a^2] E relu(z)^2`` (independent neurons; unit inputs so ``w.x_i ~ N(0, 1)``),
    ``E relu(z)^2`` by 1-D Gauss-Legendre with a breakpoint at the kink."""
    ea, ea2 = 0.0, 1.0  # a ~ U{-1, 1}
    m1 = float(Q.line_expectation(lambda z: relu(z), kinks=(0.0,)))
    m2 = float(Q.line_expectation(lambda z: relu(z) ** 2, kinks=(0.0,)))
    y = np.asarray(y, float)
    return float(y @ y - 2 * np.sum(y) * ea * m1 + len(y) * ea2 * m2)


# --------------------------------------------------------------------------------------------
# Thesis ch. 3: finite-width deep networks (Definitions 3.1, 3.2 are their width -> oo limits)
# --------------------------------------------------------------------------------------------


def _act(name):
    if name == "relu":
        return relu, lambda s: (s > 0).astype(float)
    return (lambda s: np.logaddexp(0.0, s)), (lambda s: 0.5 * (1.0 + np.tanh(0.5 * s)))


def c_sigma_quadrature(activation):
    """``1 / E sigma(z)^2`` by 1-D Gauss-Legendre (kink at 0 for ReLU)."""
    f, _ = _act(activation)
    return 1.0 / float(Q.line_expectation(lambda z: f(z) ** 2, kinks=(0.0,)))


def deep_network(rng, X, depth, m, arch="fc", activation="relu", c_res=1.0):
    """One random network of width ``m``: layer Grams ``<x_i^(h), x_j^(h)>``, the means
    ``b^(h) = 1^T x^(h)/sqrt(m)`` and the Gram of the last layer's weight gradients
    ``<df(x_i)/dW^(H), df(x_j)/dW^(H)>`` (``f = a^T x^(H)``, ``a_r ~ U{-1, 1}``)."""
    f, fp = _act(activation)
    cs = c_sigma_quadrature(activation)
    H = depth
    x = X.T  # (d, n)
    grams, means = [X @ X.T], []
    for h in range(1, H + 1):
        W = rng.standard_normal((m, x.shape[0]))
        pre = W @ x
        if h == H:  # gradient Gram of W^(H); f = a^T x^(H), a_r = +-1 so a_r^2 = 1
            scale = cs / m if (arch == "fc" or H == 1) else (c_res / H) ** 2 / m
            D = fp(pre)
            last = scale * (D.T @ D) * (x.T @ x)
            break
        if arch == "fc" or h == 1:
            x = math.sqrt(cs / m) * f(pre)
        else:
            x = x + c_res / (H * math.sqrt(m)) * f(pre)
        grams.append(x.T @ x)
        means.append(x.sum(axis=0) / math.sqrt(m))
    return {"K": grams, "b": means, "K_H": last}


def anticoncentration_samples(rng, n, r, alpha, d=7):
    """``1{|v.x| <= r |x|}`` for ``v ~ N(0, alpha^2 I_d)`` and a fixed ``x``."""
    x = np.arange(1.0, d + 1.0)
    v = alpha * rng.standard_normal((n, d))
    return (np.abs(v @ x) <= r * np.linalg.norm(x)).astype(float)


def anticoncentration_reference(r, alpha):
    """The N(0, alpha^2) density integrated over ``[-r, r]`` by adaptive quadrature (SciPy)."""
    from scipy import integrate

    val, _ = integrate.quad(lambda t: math.exp(-t * t / (2 * alpha * alpha))
                            / (alpha * math.sqrt(2 * math.pi)), -r, r, epsabs=0.0, epsrel=2e-14,
                            limit=200)
    return float(val)


# --------------------------------------------------------------------------------------------
# Thesis ch. 3: the width -> oo limit of deep_network, by plane quadrature (issue 19, item 4)
# --------------------------------------------------------------------------------------------


def _pair_expectation(K, activation, derivative=False):
    """``E[s(u) s(v)]`` for every pair, ``(u, v) ~ N(0, [[K_ii, K_ij], [K_ij, K_jj]])``, with
    ``s`` the activation (or its derivative): ``u = r_i z1``, ``v = r_j (cos(phi) z1 +
    sin(phi) z2)`` integrated over the plane by :func:`numerics.quadrature.plane_expectation`,
    kinks at the zero lines of ``u`` and ``v`` (ReLU).  No layer map or closed form is used."""
    f, fp = _act(activation)
    s = fp if derivative else f
    n = K.shape[0]
    r = np.sqrt(np.clip(np.diag(K), 0.0, None))
    out = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            rr = r[i] * r[j]
            # a point with itself is at angle 0 exactly (K_ii / r_i^2 may round below 1)
            c = 1.0 if (rr == 0 or i == j) else float(np.clip(K[i, j] / rr, -1.0, 1.0))
            phi = math.acos(c)
            a = np.array([r[i], 0.0])
            b = np.array([r[j] * math.cos(phi), r[j] * math.sin(phi)])
            # the zero lines of u and v: kinks (ReLU) or where softplus turns on, on a scale
            # 1/r; wide inputs get more nodes (polar rule at r ~ 15: 1e-8 with 40 x 30 nodes)
            kinks = Q.relu_kinks(a, b)
            big = max(r[i], r[j]) > 3.0
            out[i, j] = out[j, i] = float(Q.plane_expectation(
                lambda z1, z2: s(_lin(a, z1, z2)) * s(_lin(b, z1, z2)), kinks,
                n_theta=120 if big else Q.N_THETA, n_r=120 if big else Q.N_R))
    return out


def _single_expectation(K, activation):
    """``E[sigma(u)]``, ``u ~ N(0, K_ii)``, by 1-D Gauss-Legendre (kink at 0)."""
    f, _ = _act(activation)
    r = np.sqrt(np.clip(np.diag(K), 0.0, None))
    return np.array([float(Q.line_expectation(lambda z: f(ri * z), kinks=(0.0,))) for ri in r])


def deep_kernel_reference(X, depth, arch="fc", activation="relu", c_res=1.0):
    """The width -> oo limit of :func:`deep_network`, layer by layer: with ``W`` independent of
    ``x^(h-1)`` and ``m -> oo``, ``<x_i^(h), x_j^(h)>`` tends to ``c_sigma E[s(u) s(v)]`` (fc,
    and the first resnet layer) or to ``K^(h-1) + c_res/H (b e^T + e b^T) + (c_res/H)^2
    E[s(u) s(v)]`` (resnet, ``e_j = E s(u_j)``, ``b^(h) = b^(h-1) + c_res/H e``, ``b^(1) =
    sqrt(c_sigma) E s(u)``), and the last layer's gradient Gram to ``factor K^(H-1)
    E[s'(u) s'(v)]``; the expectations by plane quadrature, ``c_sigma`` by 1-D quadrature.
    Returns ``{"K": [...], "b": [...], "K_H": ...}`` like ``derivations.kernels.deep_kernel``."""
    X = np.asarray(X, float)
    cs = c_sigma_quadrature(activation)
    H = int(depth)
    Ks, bs = [X @ X.T], []
    for h in range(1, H):
        prev = Ks[-1]
        if arch == "fc" or h == 1:
            Ks.append(cs * _pair_expectation(prev, activation))
            if arch == "resnet":
                bs.append(math.sqrt(cs) * _single_expectation(Ks[0], activation))
        else:
            e = _single_expectation(prev, activation)
            b = bs[-1]
            t = c_res / H
            Ks.append(prev + t * (np.outer(b, e) + np.outer(e, b))
                      + t * t * _pair_expectation(prev, activation))
            bs.append(b + t * e)
    factor = cs if (arch == "fc" or H == 1) else (c_res / H) ** 2
    K_H = factor * Ks[-1] * _pair_expectation(Ks[-1], activation, derivative=True)
    return {"K": Ks, "b": bs, "K_H": K_H}


# --------------------------------------------------------------------------------------------
# Thesis ch. 3 (issue 24): wide random networks, sampled exactly through their projections
# --------------------------------------------------------------------------------------------


def _gaussian_rows(rng, m, cov):
    """``m`` iid rows ``~ N(0, cov)`` (a PSD matrix; symmetric square root by ``eigh``)."""
    lam, U = np.linalg.eigh(0.5 * (cov + cov.T))
    root = U * np.sqrt(np.clip(lam, 0.0, None))
    # einsum, not BLAS: a (m, k) x (k, k) product with small k is slowed down by BLAS
    # threads on a shared machine (28 ms vs ~2 ms measured at m = 4096, k = 15)
    return np.einsum("mk,jk->mj", rng.standard_normal((m, cov.shape[0])), root)


def _patches(Hpix, n, p, q=3):
    """``sum_o Hpix[(i, l+o), (j, r+o)]`` over the ``q`` offsets, zero padding: the Gram of
    the patch vectors ``phi_l(x_i)`` (concatenated pixels ``l-1, l, l+1``), written from the
    architecture (independently of derivations.kernels.patch_gram)."""
    out = np.zeros((n * p, n * p))
    h = q // 2
    for i in range(n):
        for j in range(n):
            for l_ in range(p):
                for r in range(p):
                    s = 0.0
                    for o in range(-h, h + 1):
                        if 0 <= l_ + o < p and 0 <= r + o < p:
                            s += Hpix[i * p + l_ + o, j * p + r + o]
                    out[i * p + l_, j * p + r] = s
    return out


def _gram(A):
    """``A^T A`` by einsum (no BLAS threads: see :func:`_gaussian_rows`)."""
    return np.einsum("mi,mj->ij", A, A)


def wide_network(rng, X, depth, m, arch="fc", activation="relu", c_res=1.0):
    """One random network of width ``m`` of thesis ch. 3 (fc: ``x^(h) = sqrt(c_sigma/m)
    sigma(W x^(h-1))``; resnet: layer 1 as fc, then ``x^(h) = x^(h-1) + c_res/(H sqrt m)
    sigma(W x^(h-1))``; convresnet: the same blocks on patches of 3 pixels, stride 1, zero
    padding, ``m`` channels), ``W`` entries iid N(0, 1) and ``f = sum a x^(H)``, ``a = +-1``.

    Exact sampling through projections: each row ``w_r`` of ``W^(h)`` is independent of
    ``x^(h-1)``, so the pre-activations ``(w_r . x_i)_i`` (or ``(w_r . phi_s(x_i))_{i,s}``)
    are iid over ``r`` with law ``N(0, Gram of the inputs)``: m draws of an n (n p)-dimensional
    Gaussian replace the m x m matrix product (same distribution; O(m n^2) per layer).

    Returns ``{"K": [Grams <x_i^(h), x_j^(h)> (pixel level for convresnet)], "b": [1^T x^(h) /
    sqrt(m)], "K_H": Gram of df/dW^(H)}`` like :func:`deep_network`."""
    f, fp = _act(activation)
    cs = c_sigma_quadrature(activation)
    H = int(depth)
    conv = arch == "convresnet"
    if conv:
        n, p, d0 = X.shape
        feats = X.reshape(n * p, d0).T  # (channels, n p)
    else:
        n, p = X.shape[0], 1
        feats = X.T  # (channels, n)
    grams, means = [_gram(feats)], []
    t = c_res / H
    for h in range(1, H + 1):
        cov = _patches(grams[-1], n, p) if conv else grams[-1]
        pre = _gaussian_rows(rng, m, cov)  # (m, n p): pre-activations of the m units/channels
        if h == H:
            scale = cs if (arch == "fc" or H == 1) else t * t
            D = fp(pre)
            if conv:  # df_i/dw_r = sqrt(scale/m) sum_s a_rs sigma'(pre_r,(i,s)) phi_s(x_i)
                a = rng.choice([-1.0, 1.0], size=(m, p))
                A = (D.reshape(m, n, p) * a[:, None, :]).reshape(m, n * p)
                G = _gram(A) * cov  # sum_r A_r,(i,s) A_r,(j,s') <phi_s(x_i), phi_s'(x_j)>
                last = scale / m * G.reshape(n, p, n, p).sum(axis=(1, 3))
            else:  # a_r = +-1, a_r^2 = 1
                last = scale / m * _gram(D) * cov
            break
        if arch == "fc" or h == 1:
            feats = math.sqrt(cs / m) * f(pre)  # (m, n p)
        else:
            feats = feats + t / math.sqrt(m) * f(pre)
        grams.append(_gram(feats))
        means.append(feats.sum(axis=0) / math.sqrt(m))
    return {"K": grams, "b": means, "K_H": last}


def conv_resnet_reference(X, depth, activation="relu", c_res=1.0):
    """The width -> oo limit of :func:`wide_network` (``arch="convresnet"``), layer by layer
    (spec C3-4): pixel Gram ``H^(h)`` from the Gaussian pair expectations over the patch
    covariances (:func:`_pair_expectation`, plane quadrature), ``b^(h)`` from
    :func:`_single_expectation`; no closed form or layer map is used."""
    X = np.asarray(X, float)
    n, p, d0 = X.shape
    cs = c_sigma_quadrature(activation)
    H = int(depth)
    t = c_res / H
    Z = X.reshape(n * p, d0)
    Hs, bs = [Z @ Z.T], []
    for h in range(1, H):
        Kp = _patches(Hs[-1], n, p)
        if h == 1:
            Hs.append(cs * _pair_expectation(Kp, activation))
            bs.append(math.sqrt(cs) * _single_expectation(Kp, activation))
        else:
            e = _single_expectation(Kp, activation)
            Hs.append(Hs[-1] + t * (np.outer(bs[-1], e) + np.outer(e, bs[-1]))
                      + t * t * _pair_expectation(Kp, activation))
            bs.append(bs[-1] + t * e)
    Kp = _patches(Hs[-1], n, p)
    D = _pair_expectation(Kp, activation, derivative=True)
    KH = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            KH[i, j] = sum(Kp[i * p + s, j * p + s] * D[i * p + s, j * p + s] for s in range(p))
    return {"K": Hs, "b": bs, "K_H": (t * t if H >= 2 else cs) * KH}
