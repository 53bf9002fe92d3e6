"""Exact population gradient descent on the ch. 5 CNN, from the network itself (seed 004).

Model (thesis sec. 5.2): ``f(Z, w, a) = sum_i a_i relu(Z_i . w)`` with ``k`` i.i.d. patches
``Z_i ~ N(0, I_p)``, teacher ``(w*, a*)``, loss ``1/2 E (f(Z, w, a) - f(Z, w*, a*))^2``, weight
normalization ``w = v/|v|`` and Algorithm 1 (``v <- v - eta grad_v``, ``a <- a - eta grad_a``
with population gradients).

How the population gradient is obtained here (independently of any closed form): the
per-sample gradient of the network is ``(f - f*) sum_i a_i Z_i 1{Z_i.w > 0}`` (w.r.t. ``w``)
and ``(f - f*) relu(Z^T w)`` (w.r.t. ``a``).  Expanding ``f - f*`` over patches and using the
independence of distinct patches, its expectation is a combination of *single-patch*
expectations of ReLU products, which depend on ``z`` only through its projection on the plane
of ``w`` and ``w*`` (the orthogonal part is independent of it and has mean zero).  Each of them
is computed by polar Gauss quadrature of the integrand (:mod:`numerics.quadrature`, ~1e-15),
with the ReLU kinks as angular breakpoints.  So a GD step here is exact to rounding, and the
one-step identities derived in ``derivations.cnn_dynamics`` are checked against it to 1e-12.
Nothing here imports :mod:`derivations`.

Also: :func:`init`, the initialization of Theorem 5.4 (l.5190), and :func:`profile_loss_mp`,
the minimum over ``a`` of the loss at a fixed angle from the same model at 50 digits (mpmath).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import quadrature as Q


def _relu(x):
    return np.maximum(x, 0.0)


def patch_moments(w, w_star) -> dict:
    """Single-patch expectations for ``z ~ N(0, I_p)`` by quadrature in the plane of (w, w*).

    Returns ``m_w = E relu(z.w)``, ``m_s = E relu(z.w*)``, ``q_ww = E relu(z.w)^2``,
    ``q_ws = E relu(z.w) relu(z.w*)``, ``q_ss = E relu(z.w*)^2`` and the vectors (in R^p)
    ``h = E[z 1{z.w>0}]``, ``G_w = E[z relu(z.w) 1{z.w>0}]``, ``G_s = E[z relu(z.w*) 1{z.w>0}]``.
    """
    w, w_star = np.asarray(w, float), np.asarray(w_star, float)
    if len(w) == 2:  # the plane is R^2 itself (also when w and w* are parallel)
        e1 = w / np.linalg.norm(w)
        e2 = np.array([-e1[1], e1[0]])
    else:
        e1, e2 = Q.plane_basis(w, w_star)
    cw, cs = Q.coordinates(w, e1, e2), Q.coordinates(w_star, e1, e2)
    kinks = Q.relu_kinks(cw, cs)

    def integrand(z1, z2):
        pw = cw[0] * z1 + cw[1] * z2
        ps = cs[0] * z1 + cs[1] * z2
        rw, rs, ind = _relu(pw), _relu(ps), (pw > 0).astype(float)
        return np.stack([rw, rs, rw * rw, rw * rs, rs * rs, z1 * ind, z2 * ind,
                         z1 * rw, z2 * rw, z1 * rs * ind, z2 * rs * ind], axis=-1)

    m = Q.plane_expectation(integrand, kinks)
    lift = lambda c1, c2: c1 * e1 + c2 * e2  # noqa: E731
    return {"m_w": m[0], "m_s": m[1], "q_ww": m[2], "q_ws": m[3], "q_ss": m[4],
            "h": lift(m[5], m[6]), "G_w": lift(m[7], m[8]), "G_s": lift(m[9], m[10])}


def gram(diag, offdiag, k):
    """``k x k`` matrix with ``diag`` on and ``offdiag`` off the diagonal (patches independent)."""
    return offdiag * np.ones((k, k)) + (diag - offdiag) * np.eye(k)


def loss_and_grads(w, a, w_star, a_star):
    """Population loss and gradients w.r.t. an unnormalized ``w`` and ``a``, from the network.

    ``E[(f - f*) sum_i a_i Z_i 1_i] = sum_i a_i [a_i G_w - a*_i G_s
    + sum_{j != i} (a_j m_w - a*_j m_s) h]`` (patch j independent of patch i).
    """
    a, a_star = np.asarray(a, float), np.asarray(a_star, float)
    k = len(a)
    m = patch_moments(w, w_star)
    A = gram(m["q_ww"], m["m_w"] ** 2, k)
    B = gram(m["q_ws"], m["m_w"] * m["m_s"], k)
    As = gram(m["q_ss"], m["m_s"] ** 2, k)
    loss = 0.5 * (a @ A @ a - 2 * a @ B @ a_star + a_star @ As @ a_star)
    c = a * m["m_w"] - a_star * m["m_s"]  # per-patch mean residual
    others = c.sum() - c  # sum over j != i
    gw = (a * a).sum() * m["G_w"] - (a * a_star).sum() * m["G_s"] + (a * others).sum() * m["h"]
    ga = A @ a - B @ a_star
    return loss, gw, ga


def grads_v(v, a, w_star, a_star):
    """Population ``(loss, grad_v, grad_a)`` with weight normalization ``w = v/|v|``."""
    v = np.asarray(v, float)
    nv = np.linalg.norm(v)
    loss, gw, ga = loss_and_grads(v / nv, a, w_star, a_star)
    vh = v / nv
    return loss, (gw - (gw @ vh) * vh) / nv, ga


def gd_step(v, a, w_star, a_star, eta):
    """One step of Algorithm 1 with exact population gradients; returns ``(v', a', loss)``."""
    loss, gv, ga = grads_v(v, a, w_star, a_star)
    return np.asarray(v, float) - eta * gv, np.asarray(a, float) - eta * ga, loss


def trajectory(v, a, w_star, a_star, eta, steps):
    """States ``[(v^t, a^t)]`` for ``t = 0..steps``."""
    out = [(np.asarray(v, float), np.asarray(a, float))]
    for _ in range(steps):
        v, a, _ = gd_step(v, a, w_star, a_star, eta)
        out.append((v, a))
    return out


def angle(x, y) -> float:
    """Angle between two vectors, Kahan's stable form."""
    xh, yh = x / np.linalg.norm(x), y / np.linalg.norm(y)
    return 2.0 * math.atan2(np.linalg.norm(xh - yh), np.linalg.norm(xh + yh))


# --------------------------------------------------------------------------------------------
# Theorem 5.4's initialization
# --------------------------------------------------------------------------------------------


def init(rng: np.random.Generator, n: int, p: int, w_star, a_star, signs: str = "favourable"):
    """``n`` draws of Theorem 5.4's initialization (l.5190; proof l.6034).

    ``v ~ Unif(S^{p-1})`` and ``a ~ Unif(B(0, |1^T a*| |w*| / sqrt(k)))``.  ``signs``:
    ``"favourable"`` flips ``v`` and ``a`` independently so that ``phi0 < pi/2`` and
    ``a0.a* > 0`` (the theorem's sign choice); ``"single"`` keeps the draw (one sign, as in
    Table 5.1).  Returns ``(v, a)`` of shapes ``(n, p)`` and ``(n, k)``.
    """
    w_star, a_star = np.asarray(w_star, float), np.asarray(a_star, float)
    k = len(a_star)
    v = rng.standard_normal((n, p))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    radius = abs(a_star.sum()) * np.linalg.norm(w_star) / math.sqrt(k)
    d = rng.standard_normal((n, k))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    a = radius * d * rng.random((n, 1)) ** (1.0 / k)
    if signs == "favourable":
        v *= np.sign(v @ w_star)[:, None]
        a *= np.sign(a @ a_star)[:, None]
    elif signs != "single":
        raise ValueError(f"signs must be 'favourable' or 'single', got {signs!r}")
    return v, a


# --------------------------------------------------------------------------------------------
# High-precision model: the profile loss min_a l(phi, a) in mpmath (spurious_cubic's reference)
# --------------------------------------------------------------------------------------------


def _mp_plane_moment(f, kinks, degree):
    """``E f(z)`` for ``z ~ N(0, I_2)`` and ``f`` positively homogeneous of ``degree`` (a
    product of ReLUs of projections), in mpmath: in polar coordinates ``z = rho (cos t, sin
    t)`` it is ``(1/2pi) int_0^2pi f(cos t, sin t) dt * int_0^inf rho^(degree+1)
    exp(-rho^2/2) drho``; both integrals by :func:`mpmath.quad` (the angular one split at the
    ReLU kinks, where the integrand is not smooth)."""
    import mpmath as mp

    two_pi = 2 * mp.pi
    cuts = sorted({mp.mpf(0), two_pi, *[k % two_pi for k in kinks]})
    ang = mp.quad(lambda t: f(mp.cos(t), mp.sin(t)), cuts, method="gauss-legendre")
    return ang * _mp_radial_moment(degree, mp.mp.dps) / two_pi


@functools.lru_cache(maxsize=None)
def _mp_radial_moment(degree: int, dps: int):
    """``int_0^inf rho^(degree+1) exp(-rho^2/2) drho`` by mpmath quadrature at ``dps``."""
    import mpmath as mp

    with mp.workdps(dps):
        return mp.quad(lambda r: r ** (degree + 1) * mp.exp(-r * r / 2), [0, 1, 4, mp.inf])


def profile_loss_mp(phi, ws_norm, a_star, dps: int = 50):
    """``min_a l(w, a)`` for a unit ``w`` at angle ``phi`` from ``w*`` (``|w*| = ws_norm``),
    from the network at ``dps`` digits: the single-patch ReLU moments by mpmath quadrature in
    the plane of ``(w, w*)`` (``w* = |w*| e1``, ``w = cos(phi) e1 + sin(phi) e2``), the k x k
    Gram matrices of independent patches, the dense solve ``A a = B a*`` and the loss there.
    ``phi`` may be an mpmath number (so that ``pi - eps`` is exact to ``dps`` digits).  No
    closed form is used; returns an ``mpmath.mpf``."""
    import mpmath as mp

    with mp.workdps(dps):
        phi, ns = mp.mpf(phi), mp.mpf(ws_norm)
        c, s = mp.cos(phi), mp.sin(phi)
        relu = lambda x: x if x > 0 else mp.mpf(0)  # noqa: E731
        pw = lambda x, y: relu(c * x + s * y)  # noqa: E731  relu(z.w)
        ps = lambda x, y: relu(ns * x)  # noqa: E731  relu(z.w*)
        kw, ks = (phi + mp.pi / 2, phi - mp.pi / 2), (mp.pi / 2, -mp.pi / 2)
        m_w = _mp_plane_moment(pw, kw, 1)
        m_s = _mp_plane_moment(ps, ks, 1)
        q_ww = _mp_plane_moment(lambda x, y: pw(x, y) ** 2, kw, 2)
        q_ws = _mp_plane_moment(lambda x, y: pw(x, y) * ps(x, y), kw + ks, 2)
        q_ss = _mp_plane_moment(lambda x, y: ps(x, y) ** 2, ks, 2)
        k = len(a_star)
        ast = mp.matrix([mp.mpf(float(x)) for x in a_star])

        def gram(diag, off):
            return mp.matrix([[diag if i == j else off for j in range(k)] for i in range(k)])

        A, B, As = gram(q_ww, m_w**2), gram(q_ws, m_w * m_s), gram(q_ss, m_s**2)
        a = mp.lu_solve(A, B * ast)
        quad = lambda x, M, y: (x.T * M * y)[0]  # noqa: E731
        return (quad(a, A, a) - 2 * quad(a, B, ast) + quad(ast, As, ast)) / 2
