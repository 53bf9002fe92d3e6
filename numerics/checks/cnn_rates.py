"""Checks of thesis ch. 5's rates (seed 004 sec. 5.3, 5.9; derivations/cnn_rates.py; issue 24).

* ``cnn.lambda_t``: the model's population gradient (numerics.simulators.cnn_gd, polar
  quadrature of the network) at random states: ``lambda = -(grad_v . e2)/(|v| sin phi)``.
* ``cnn.cor52_iterations``, ``cnn.lemma510_iterations``: the model's GD on ``a`` with ``v`` frozen
  (quadrature gradient), steps counted until the event; the formula must land in
  ``(count - 1, count]``.
* Bounds along population-GD runs (rows of kind ``slack``, :func:`.bounds.violations_row`: the
  slack is measured, a violation fails the row): Lemma 5.9 (``|v^t|^2 <= 2``; the printed
  angle rate), Lemma 5.10's deviation bound, Lemma 5.11's gradient-norm bound (printed ``k^2``
  and the sharper ``k``), Lemma 5.12's constant, Corollary 5.2's count (an upper bound on the
  real one), Theorem 5.3's phases (``T1``, ``T2`` measured against the predicted orders, under
  the step-size bound).
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

from ..rows import Check, CheckResult
from ..simulators import cnn_gd as S
from . import register
from .bounds import SLACK, violations_row
from .common import add, mpmath_check, reference_check


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
                                                (0.05, 20, 0.2, -1.0, 1e-4),
                                                (0.5, 1, 0.7, 3.0, 1e-3),
                                                (0.05, 100, 0.3, 0.5, 1e-3))):
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


# --- bounds along population-GD runs -----------------------------------------------------------


def eta_lemma59(phi0, dot0, nas, sas, nws, k):
    """Lemma 5.9's / Theorem 5.3's step-size hypothesis as printed (transcribed, OCR l.5827)."""
    beta0 = np.minimum(dot0, (g_of(phi0) - 1) * nas**2) * nws**2
    den = (nas**2 + sas**2) * nws**2
    return np.minimum(np.minimum(beta0 * np.cos(phi0) / den, np.cos(phi0) / den),
                      2 * np.pi / (k + np.pi - 1)), beta0


_RUNS: dict = {}


def runs():
    """Population GD from Theorem 5.4's initialization (favourable signs, |v0| = 1, |w*| = 1 as
    the thesis assumes), k = 5, p = 6, four teachers ``a* = c 1 + N(0, I)`` normalized to
    |a*| = 1; of 400 starts drawn per teacher, the 4 typical ones (phi0 >= 1) with the shortest
    predicted phase I run at that step (``mode "bound"``, the hypothesis holds), and the same starts at
    eta = 0.05 and 0.2 (outside it: for Lemmas 5.10-5.12 and the measured phases).  Full
    vectors by the emitted grad_v, grad_a, population_loss (validated against the quadrature
    simulator, MC and FD); one batch, 300 steps; per-step records of shape (T + 1, N)."""
    if "runs" in _RUNS:
        return _RUNS["runs"]
    from derivations.generated import cnn

    rng = np.random.default_rng(81)
    p, k, T = 6, 5, 300
    V, A, AS, E, MODE, B0 = [], [], [], [], [], []
    for c in (0.3, 0.6, 1.0, 1.5):
        a_star = c + rng.standard_normal(k)
        a_star /= np.linalg.norm(a_star)
        w_star = np.eye(p)[0]
        v, a = S.init(rng, 400, p, w_star, a_star)
        phi0 = np.arccos(np.clip(v[:, 0], -1, 1))
        e59, beta0 = eta_lemma59(phi0, a @ a_star, 1.0, a_star.sum(), 1.0, k)
        # typical starts (phi0 >= 1; E cos(phi0) = 0.34 at p = 6) with the shortest predicted
        # phase I under the Lemma 5.9 step
        score = np.where(phi0 >= 1.0, e59 * np.cos(phi0) * beta0, -np.inf)
        best = np.argsort(-score)[:4]
        for mode in ("bound", 0.05, 0.2):
            V.append(v[best])
            A.append(a[best])
            AS.append(np.repeat(a_star[None], len(best), 0))
            E.append(e59[best] if mode == "bound" else np.full(len(best), mode))
            MODE += [mode] * len(best)
            B0.append(beta0[best])
    v, a, a_star = np.concatenate(V), np.concatenate(A), np.concatenate(AS)
    eta, beta0 = np.concatenate(E), np.concatenate(B0)
    w_star = np.eye(p)[0][None]
    rec = {x: [] for x in ("phi", "nv2", "dot", "sum", "aerr", "gnorm2", "loss")}
    for _ in range(T + 1):
        nv = np.linalg.norm(v, axis=1)
        rec["phi"].append(np.arccos(np.clip(v[:, 0] / nv, -1, 1)))
        rec["nv2"].append(nv**2)
        rec["dot"].append(np.sum(a * a_star, 1))
        rec["sum"].append(a.sum(1))
        rec["aerr"].append(np.linalg.norm(a - a_star, axis=1))
        rec["loss"].append(cnn.population_loss(v, a, w_star, a_star))
        gv, ga = cnn.grad_v(v, a, w_star, a_star), cnn.grad_a(v, a, w_star, a_star)
        rec["gnorm2"].append(np.sum(ga * ga, axis=1))
        v, a = v - eta[:, None] * gv, a - eta[:, None] * ga
    r = {x: np.array(y) for x, y in rec.items()}
    r.update(eta=eta, k=k, mode=np.array([str(m) for m in MODE]), beta0=beta0,
             phi0=r["phi"][0], sas=a_star.sum(1), T=T)
    _RUNS["runs"] = r
    return r


def lemma59_rows(r):
    """Lemma 5.9 (l.5827) under its printed step size (``mode "bound"``): ``|v^t|^2 <= 2`` and
    ``sin^2 phi^t <= (1 - eta cos(phi0) beta0/8)^t`` (the constant 1/8 as read in the OCR)."""
    b = r["mode"] == "bound"
    nv2, phi = r["nv2"][:, b], r["phi"][:, b]
    t = np.arange(phi.shape[0])[:, None]
    rate = (1 - r["eta"][b] * np.cos(r["phi0"][b]) * r["beta0"][b] / 8) ** t
    s2 = np.sin(phi) ** 2
    bad1 = int((nv2 > 2).sum())
    bad2 = int((s2 > rate * (1 + 1e-12)).sum())
    logslack = float(np.min(np.log(rate) - np.log(np.maximum(s2, 1e-300))))
    return [
        violations_row("cnn.lambda_t", "Lemma 5.9: |v^t|^2 <= 2", bad1, nv2.size,
                       2 - nv2.max(), f"slack 2 - max |v^t|^2 = {2 - nv2.max():.4f} (|v^0| = 1)",
                       "Proof: |v|^2 grows by eta^2 lambda^2 |v|^2 sin^2 phi per step (C5-17)."),
        violations_row("cnn.lambda_t", "Lemma 5.9: sin^2 phi^t <= (1 - eta cos phi0 beta0/8)^t",
                       bad2, s2.size, logslack,
                       f"smallest log(bound / sin^2 phi^t) = {logslack:.3f}",
                       "The 1/8 is the OCR's; the proof's lambda^t >= beta0/8 rests on |v| <= 2."),
    ]


def lemma510_rows(r, fn):
    """Lemma 5.10 (l.5927), |w*| = 1: ``e_t = 1'a* - 1'a^t`` obeys ``e' = rho e + eta (pi -
    g(phi^t)) 1'a*/(2 pi)``, so while the angle does not increase ``|e_t| <= rho^t |e_0| + (pi -
    g(phi^0)) |1'a*|/(k + pi - 1)``; and after ``T = cnn.lemma510_iterations(eps)`` steps
    ``|e_T| <= eps |a*| + (pi - g(phi^0))|1'a*|/(k + pi - 1)`` (the lemma's 2 eps |a*| when
    ``pi - g(phi^0) <= eps (k + pi - 1)|a*|/|1'a*|``)."""
    k, eta = r["k"], r["eta"]
    rho = 1 - eta * (k + np.pi - 1) / (2 * np.pi)
    phi, sm, sas = r["phi"], r["sum"], r["sas"]
    mono = np.all(np.diff(phi, axis=0) <= 1e-12, axis=0) & (rho > 0)
    e = np.abs(sas[None] - sm)
    t = np.arange(phi.shape[0])[:, None]
    floor = (np.pi - g_of(phi[0])) * np.abs(sas) / (k + np.pi - 1)
    bound = rho[None] ** t * e[0][None] + floor[None]
    app = e[:, mono]
    bad = int((app > bound[:, mono] * (1 + 1e-12) + 1e-15).sum())
    slack = float(np.min(bound[:, mono] - app))
    # the iteration count, eps = 1e-3
    eps = 1e-3
    bad_T = n_T = 0
    for j in np.nonzero(mono)[0]:
        T = fn(eta[j], k, phi[0, j], sm[0, j], 1.0, sas[j], 1.0, eps)
        if not np.isfinite(T) or T < 0:
            continue
        Ti = int(math.ceil(T))
        if Ti < phi.shape[0]:
            n_T += 1
            bad_T += int(e[Ti, j] > (eps + floor[j]) * (1 + 1e-12))
    return [violations_row("cnn.lemma510_iterations", "Lemma 5.10: |1'a* - 1'a^t| bound and count",
                           bad + bad_T, app.size + n_T, slack,
                           f"smallest slack of the deviation bound {slack:.3g}; {n_T} runs checked "
                           f"at t = ceil(T_5.10(eps = 1e-3)), {bad_T} above eps|a*| + the floor",
                           "Runs whose angle never increases (Lemma 5.2's conclusion).")]


def lemma511_rows(r):
    """Lemma 5.11 (l.5960), |w*| = 1: ``|grad_a l|^2 <= 3/(4 pi^2) ((pi - 1)^2 |a - a*|^2 +
    (pi - g)^2 |a*|^2 + c (1'(a - a*))^2)`` with the printed ``c = k^2`` and the sharper ``c =
    k`` (Cauchy-Schwarz: |1 1'd|^2 = k (1'd)^2; C5-22)."""
    k = r["k"]
    d1 = r["sum"] - r["sas"][None]
    base = (np.pi - 1) ** 2 * r["aerr"] ** 2 + (np.pi - g_of(r["phi"])) ** 2 * 1.0
    rows = []
    for c, lab in ((k * k, "printed k^2"), (k, "sharper k")):
        rhs = 3 / (4 * np.pi**2) * (base + c * d1**2)
        g2 = r["gnorm2"]
        bad = int((g2 > rhs * (1 + 1e-12) + 1e-300).sum())
        ratio = float(np.max(g2 / np.maximum(rhs, 1e-300)))
        rows.append(violations_row("cnn.grad_a", f"Lemma 5.11: gradient-norm bound ({lab})", bad,
                                   g2.size, 1 - ratio, f"largest |grad_a l|^2 / bound = {ratio:.4f}",
                                   "grad_a by the emitted cnn.grad_a along the runs."))
    return rows


def lemma512_rows(r):
    """Lemma 5.12 (l.6027), |w*| = 1: ``pi - g(phi) <= eps`` and ``|a - a*| <= eps |a*|`` imply
    ``l <= C eps |a*|^2``.  C is not given; measured: ``C_eps = l/(eps |a*|^2)`` with ``eps`` the
    smaller admissible value ``max(pi - g, |a - a*|/|a*|)``; the row fails if it exceeds 1 (our
    constant) for eps <= 0.1."""
    eps = np.maximum(np.pi - g_of(r["phi"]), r["aerr"])
    m = (eps <= 0.1) & (eps > 1e-12)
    C = r["loss"][m] / eps[m]
    cmax = float(C.max())
    return [violations_row("cnn.population_loss", "Lemma 5.12: l <= C eps |a*|^2", int((C > 1).sum()),
                           int(m.sum()), 1 - cmax, f"largest l/(eps|a*|^2) = {cmax:.3g} (C = 1 is ours;"
                           " the thesis gives no value)", "Loss by the emitted cnn.population_loss.")]


def cor52_rows(r, fn, q=0.5):
    """Corollary 5.2 via cnn.cor52_iterations: the real number of steps for ``a.a*`` to reach
    ``q d*(phi^0)`` is at most the frozen-angle count (the angle only decreases, g grows, and
    the pinned 1'a is the worst case), for runs where Lemma 5.4's invariant and eta lambda <= 2
    hold."""
    phi, dot = r["phi"], r["dot"]
    d_star = (g_of(phi[0]) - 1) / (np.pi - 1)
    sas, sm = r["sas"], r["sum"]
    lam = (np.pi - phi) * dot / (2 * np.pi * r["nv2"])
    ok = (np.all(sas[None] * sm <= sas[None] ** 2 * (1 + 1e-12), axis=0)
          & np.all(r["eta"][None] * lam <= 2, axis=0) & (dot[0] < q * d_star)
          & np.all(np.diff(phi, axis=0) <= 1e-12, axis=0))
    bad, app, slack, worst_eta_t = 0, 0, np.inf, 0.0
    for j in np.nonzero(ok)[0]:
        reach = dot[:, j] >= q * d_star[j]
        if not reach.any():
            continue
        n = int(reach.argmax())
        T = float(fn(r["eta"][j], phi[0, j], dot[0, j], 1.0, 1.0, q))
        app += 1
        bad += int(n > math.ceil(T))
        slack = min(slack, math.ceil(T) - n)
        worst_eta_t = max(worst_eta_t, r["eta"][j] * T)
    return [violations_row("cnn.cor52_iterations", "Corollary 5.2: steps to a.a* = d*/2 <= T_5.2",
                           bad, app, slack, f"smallest ceil(T_5.2) - measured = {slack}; largest "
                           f"eta T_5.2 = {worst_eta_t:.2f} (the O(1/eta) constant)",
                           "Runs under Lemma 5.4's invariant and eta lambda^t <= 2.")]


def theorem53_rows(r, eps=1e-4, c2=2.0):
    """Theorem 5.3 (l.5146), |w*| = |a*| = 1.  Phase I ends at the first t with phi^t <= pi/3
    and a.a* >= d*(phi^t)/2 (Theta(1) made explicit: our thresholds); phase II at loss <= eps.
    Predicted orders (constants 1, log factors dropped): T1 = 1/(eta cos phi0 beta0) + 1/eta,
    T2 = (1/eta + 1/(eta k)) log(1/eps).  Under the printed step size every run must reach
    phase I within T1 and keep a.a* > 0, phi^t <= phi^0; the measured T2/T2_pred must stay
    below ``c2`` (ours) wherever phase II is reached."""
    phi, dot, loss, eta, k = r["phi"], r["dot"], r["loss"], r["eta"], r["k"]
    b = r["mode"] == "bound"
    T1p = 1 / (eta * np.cos(r["phi0"]) * r["beta0"]) + 1 / eta
    ph1 = (phi <= np.pi / 3) & (dot >= 0.5 * (g_of(phi) - 1) / (np.pi - 1))
    T1 = np.where(ph1.any(0), ph1.argmax(0), np.inf)
    ok_sz = bool(np.all(dot[:, b] > 0) and np.all(phi[:, b] <= phi[0, b][None] + 1e-12))
    late = int(np.sum(b & (T1 > T1p)))
    r1 = T1 / T1p
    T2p = (1 / eta + 1 / (eta * k)) * np.log(1 / eps)
    reach = loss <= eps
    T2 = np.where(reach.any(0), reach.argmax(0) - np.where(np.isfinite(T1), T1, 0), np.nan)
    r2 = T2 / T2p
    seen = np.isfinite(r2)
    return [
        violations_row("cnn.lambda_t", "Theorem 5.3: step size and phase I (T1)", late + (not ok_sz),
                       int(b.sum()), float(np.max(r1[b])),
                       f"T1/T1_pred <= {np.max(r1[b]):.3f} under the printed step size "
                       f"({np.max(r1[~b & np.isfinite(r1)]):.3f} at eta = 0.05, 0.2); a.a* > 0 and "
                       f"phi^t <= phi^0 throughout: {ok_sz}",
                       "Fails if a run under the hypothesis is still in phase I at T1_pred."),
        violations_row("cnn.lambda_t", "Theorem 5.3: phase II (T2)", int(np.sum(r2[seen] > c2)),
                       int(seen.sum()), float(np.nanmax(r2)),
                       f"T2/T2_pred in [{np.nanmin(r2):.2f}, {np.nanmax(r2):.2f}] over {int(seen.sum())}"
                       f" runs reaching loss <= {eps:g} (fails above {c2:g}, our constant)",
                       "T2_pred's constant 1 is ours; the thesis' O~ hides it."),
    ]


def _rows(make, needs_fn=False):
    def run(subject, ctx):
        return make(runs(), subject.fn) if needs_fn else make(runs())
    return run


add("cnn.lambda_t", SLACK, "Lemma 5.9 (|v| <= 2, angle rate)", _rows(lemma59_rows),
    independent=False)
add("cnn.lambda_t", SLACK, "Theorem 5.3 (step size, T1, T2)", _rows(theorem53_rows),
    independent=False)
add("cnn.lemma510_iterations", SLACK, "Lemma 5.10 along GD runs",
    _rows(lemma510_rows, True), independent=False)
add("cnn.cor52_iterations", SLACK, "Corollary 5.2 along GD runs",
    _rows(cor52_rows, True), independent=False)
add("cnn.grad_a", SLACK, "Lemma 5.11 along GD runs", _rows(lemma511_rows),
    independent=False)
add("cnn.population_loss", SLACK, "Lemma 5.12 along GD runs", _rows(lemma512_rows),
    independent=False)
