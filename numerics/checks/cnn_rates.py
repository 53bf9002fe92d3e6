"""Checks of thesis ch. 5's rates (seed 004 sec. 5.3, 5.9; derivations/cnn_rates.py; issue 24).

* ``cnn.lambda_t``: the model's population gradient (numerics.simulators.cnn_gd, polar
  quadrature of the network) at random states: ``lambda = -(grad_v . e2)/(|v| sin phi)``.
* ``cnn.cor52_iterations``, ``cnn.lemma510_iterations``: the model's GD on ``a`` with ``v`` frozen
  (quadrature gradient), steps counted until the event; the formula must land in
  ``(count - 1, count]``.
* Bounds along population-GD runs (rows of kind ``bound``: the slack is measured, a violation
  fails the row): Lemma 5.9 (``|v^t|^2 <= 2``; the printed angle rate), Lemma 5.10's deviation
  bound, Lemma 5.11's gradient-norm bound (printed ``k^2`` and the sharper ``k``), Lemma 5.12's
  constant, Corollary 5.2's count (an upper bound on the real one), Theorem 5.3's phases
  (``T1``, ``T2`` measured against the predicted orders, under the step-size bound).
  Runs: the emitted one-step recursions and gradients (checked against the quadrature
  simulator to 1e-12 in numerics/checks/cnn_dynamics.py) from Theorem 5.4's initialization; a
  short stretch of the simulator itself for Lemma 5.11.

The step-size hypothesis of Lemma 5.9 / Theorem 5.3 is the printed one (OCR, l.5827), a
hypothesis transcribed to select runs, not a derived result:
``eta <= min{beta0 cos phi0 / ((|a*|^2 + (1'a*)^2)|w*|^2), cos phi0 / ((|a*|^2 + (1'a*)^2)|w*|^2),
2 pi/(k + pi - 1)}``, ``beta0 = min{a0.a*, (g(phi0) - 1)|a*|^2} |w*|^2``.
"""
from __future__ import annotations

import math

import numpy as np

from ..harness import Check, CheckResult
from ..simulators import cnn_gd as S
from . import register
from .common import mpmath_check, reference_check


def g_of(phi):
    """``g(phi) = (pi - phi) cos(phi) + sin(phi)`` (thesis eq. (5.3)'s g; C5-6)."""
    return (np.pi - phi) * np.cos(phi) + np.sin(phi)


# --- lambda^t vs the model's gradient ----------------------------------------------------------


def _state_vectors(phi, v_norm, a_dot, ws_norm, seed):
    """Vectors ``v`` (at angle phi from w*), ``w*``, ``a``, ``a*`` (p = 5, k = 4) with the given
    invariants (``a.a* = a_dot``)."""
    rng = np.random.default_rng(seed)
    w_star = np.zeros(5)
    w_star[0] = ws_norm
    v = v_norm * np.array([math.cos(phi), math.sin(phi), 0.0, 0.0, 0.0])
    a_star = rng.standard_normal(4)
    a = rng.standard_normal(4)
    a += (a_dot - a @ a_star) / (a_star @ a_star) * a_star
    return v, w_star, a, a_star


def lambda_points():
    out = []
    for i, (phi, nv, dot, nw) in enumerate(((0.3, 1.0, 0.7, 1.0), (1.2, 1.7, -0.4, 0.5),
                                            (2.5, 0.6, 1.3, 2.0), (1e-3, 1.0, 0.2, 1.0),
                                            (math.pi - 0.05, 2.0, 0.9, 1.0), (0.9, 1.0, 0.0, 3.0))):
        out.append({"phi": np.float64(phi), "v_norm": np.float64(nv), "a_dot": np.float64(dot),
                    "ws_norm": np.float64(nw), "_seed": i})
    return out


def _lambda_ref(pt):
    v, ws, a, a_s = _state_vectors(float(pt["phi"]), float(pt["v_norm"]), float(pt["a_dot"]),
                                   float(pt["ws_norm"]), pt["_seed"])
    _, gv, _ = S.grads_v(v, a, ws, a_s)
    phi = S.angle(v, ws)
    vh, wh = v / np.linalg.norm(v), ws / np.linalg.norm(ws)
    e2 = (wh - math.cos(phi) * vh) / math.sin(phi)
    return -(gv @ e2) / (np.linalg.norm(v) * math.sin(phi))


def _strip(points):
    return lambda: [{k: v for k, v in p.items() if not k.startswith("_")} for p in points()]


def _with_seed(reference, points):
    seeds = {tuple(float(v) for k, v in p.items() if not k.startswith("_")): p for p in points()}
    return lambda pt: reference(seeds[tuple(float(v) for v in pt.values())])


register(reference_check("cnn.lambda_t", _strip(lambda_points),
                         _with_seed(_lambda_ref, lambda_points), tol=1e-10, floor=1e-3,
                         label="the model's grad_v (quadrature) toward w*",
                         method="-(grad_v . e2)/(|v| sin phi), e2 the unit vector toward w* "
                                "orthogonal to v"))
register(mpmath_check("cnn.lambda_t", _strip(lambda_points)))


# --- the iteration counts vs the model's GD on a (v frozen) -------------------------------------


def _frozen(phi, k, seed, ws_norm=1.0):
    rng = np.random.default_rng(seed)
    w_star = np.zeros(4)
    w_star[0] = ws_norm
    v = np.array([math.cos(phi), math.sin(phi), 0.0, 0.0])
    a_star = rng.standard_normal(k) + 0.4
    return v, w_star, a_star


def cor52_points():
    out = []
    for i, (eta, phi, frac, q) in enumerate(((0.3, 0.4, 0.1, 0.5), (0.8, 1.0, 0.0, 0.8),
                                             (0.1, 0.2, -0.5, 0.6), (1.5, 1.3, 0.3, 0.9))):
        v, ws, a_s = _frozen(phi, 5, 100 + i)
        d_star = float(np.linalg.norm(ws)) * g_of(phi) - 1
        d_star = (g_of(phi) - 1) / (np.pi - 1) * (a_s @ a_s) * np.linalg.norm(ws)
        out.append({"eta": np.float64(eta), "phi": np.float64(phi),
                    "a_dot": np.float64(frac * d_star), "ws_norm": np.float64(1.0),
                    "as_norm": np.float64(np.linalg.norm(a_s)), "q": np.float64(q),
                    "_i": i})
    return out


def _frozen_grad_a(v, w_star, a_star):
    """The model's ``grad_a l = A a - B a*`` at a frozen ``v`` (the Gram matrices of the network
    by quadrature, numerics.simulators.cnn_gd: the same as its ``loss_and_grads``)."""
    m = S.patch_moments(v / np.linalg.norm(v), w_star)
    k = len(a_star)
    A = S.gram(m["q_ww"], m["m_w"] ** 2, k)
    Bs = S.gram(m["q_ws"], m["m_w"] * m["m_s"], k) @ a_star
    return lambda a: A @ a - Bs


def _pin_sum(a, a_star, target):
    """Move ``a`` along the part of ``1`` orthogonal to ``a*`` so that ``1^T a = target`` (keeps
    ``a.a*``)."""
    one = np.ones_like(a)
    u = one - (one @ a_star) / (a_star @ a_star) * a_star
    return a + (target - a.sum()) / (u @ one) * u


def _cor52_ref(pt):
    """Steps of the model's GD on ``a`` (v frozen at phi; quadrature gradient), with ``1^T a``
    pinned at Lemma 5.4's bound ``|w*| 1^T a*`` after every step (the worst case the corollary's
    count assumes), until ``a.a* >= q d*``; ``d*`` is read off a long run."""
    i = pt["_i"]
    phi, eta, q = float(pt["phi"]), float(pt["eta"]), float(pt["q"])
    v, ws, a_s = _frozen(phi, 5, 100 + i)
    a0 = np.random.default_rng(200 + i).standard_normal(5)
    a0 += (float(pt["a_dot"]) - a0 @ a_s) / (a_s @ a_s) * a_s
    grad = _frozen_grad_a(v, ws, a_s)

    def step(a):
        return _pin_sum(a - eta * grad(a), a_s, np.linalg.norm(ws) * a_s.sum())

    a = _pin_sum(a0, a_s, np.linalg.norm(ws) * a_s.sum())
    for _ in range(4000):  # fixed point of the pinned recursion
        a = step(a)
    d_star = a @ a_s
    a, n = _pin_sum(a0, a_s, np.linalg.norm(ws) * a_s.sum()), 0
    while a @ a_s < q * d_star:
        a, n = step(a), n + 1
    return float(n)


def _count_check(name, points, reference, label):
    def run(subject, ctx):
        from .common import call

        worst, rows = None, []
        for pt in points():
            clean = {k: v for k, v in pt.items() if not k.startswith("_")}
            T = float(call(subject.fn, subject.formula, clean))
            n = reference(pt)
            ok = n - 1 < T <= n + 1e-9
            miss = 0.0 if ok else min(abs(T - n), abs(T - (n - 1)))
            rows.append((ok, miss, T, n))
        bad = [r for r in rows if not r[0]]
        r = max(rows, key=lambda r: r[1])
        return CheckResult(name, "reference", label, r[2], r[3], r[1], "abs", not bad,
                           detail=(f"{len(rows)} points; the formula must lie in (count - 1, "
                                   f"count]; {len(bad)} outside"), resolution=0.0)

    return Check(name, "reference", label, run)


register(_count_check("cnn.cor52_iterations", cor52_points, _cor52_ref,
                      "steps of the model's GD on a (v frozen, 1'a pinned at Lemma 5.4's bound)"))
# (no 50-digit row: ~20 s for two points on a shared machine; the count reference resolves it)


def l510_points():
    out = []
    for i, (eta, k, phi, s0, eps) in enumerate(((0.3, 5, 0.4, 0.0, 1e-3), (0.1, 8, 1.0, 2.0, 1e-2),
                                                (0.05, 20, 0.2, -1.0, 1e-4))):
        v, ws, a_s = _frozen(phi, k, 300 + i)
        out.append({"eta": np.float64(eta), "k": k, "phi": np.float64(phi),
                    "a_sum": np.float64(s0), "ws_norm": np.float64(1.0),
                    "as_sum": np.float64(a_s.sum()), "as_norm": np.float64(np.linalg.norm(a_s)),
                    "epsilon": np.float64(eps), "_i": i})
    return out


def _l510_ref(pt):
    """Steps of the model's GD on ``a`` (v frozen at phi) until ``|1^T a - S_oo| <= eps |a*|``,
    ``S_oo`` the limit of a long run."""
    i, k = pt["_i"], int(pt["k"])
    phi, eta = float(pt["phi"]), float(pt["eta"])
    v, ws, a_s = _frozen(phi, k, 300 + i)
    a0 = np.random.default_rng(400 + i).standard_normal(k)
    a0 += (float(pt["a_sum"]) - a0.sum()) / k

    grad = _frozen_grad_a(v, ws, a_s)

    def step(a):
        return a - eta * grad(a)

    a = a0.copy()
    for _ in range(int(60 / (eta * k)) + 2000):
        a = step(a)
    s_inf = a.sum()
    a, n = a0.copy(), 0
    tol = float(pt["epsilon"]) * np.linalg.norm(a_s)
    while abs(a.sum() - s_inf) > tol:
        a, n = step(a), n + 1
    return float(n)


register(_count_check("cnn.lemma510_iterations", l510_points, _l510_ref,
                      "steps of the model's GD on a (v frozen) until |1'a - S_oo| <= eps|a*|"))
