"""Checks of thesis ch. 2's flow and GD bounds (seed 004 sec. 2.2-2.3; derivations/ntk_flow.py;
issue 24).  The network is numerics.simulators.ntk_flow (never a derived expression).

* ``kernels.flow_residual_bound``: reference = the simulated flow (SciPy DOP853, rtol 1e-12) of
  the quarter-active instance, where ``H(t) = lambda_0/2`` exactly and the bound is attained;
  eq. (2.6) on a random instance (``du/dt`` by central differences of the network's outputs
  along ``-dL/dW`` vs ``H(t)(y - u)`` from the patterns); Theorem 2.2's bound along a simulated
  small-step flow (explicit Euler, h = 0.02: the flow to O(h)), with Lemma 2.3's hypothesis
  ``lambda_min(H(s)) >= lambda_0/2`` checked along it.
* ``kernels.flow_movement``: the paper row (the OCR's ``sqrt(n)`` without the 2 fails on the
  quarter-active flow, which moves by exactly the derived R'), and Lemma 2.3's bound on the
  same small-step flow.
* ``kernels.i2_bound``: the I_1/I_2 split of ``u(k+1) - u(k)`` (l.700-760) on simulated GD:
  the split is exact, ``|I_2^i|`` within the bound, ``|H^perp(k)|_2 <= (n/m) sum_i |S_i^perp|``,
  ``|u(k+1) - u(k)|^2 <= eta^2 n^2 |y - u(k)|^2``.
* ``kernels.h_inf``: Theorem 2.1 (l.446: lambda_0 > 0 when no two inputs are parallel; equal
  inputs give 0; antiparallel ones do not) and Lemma 2.6 (l.814: D_i not inside the union of
  the other D_j).

Rows of kind ``bound`` measure a stated bound's slack and fail when it fails.  Settings (n, d,
m, eta, seeds) are ours; the thesis states none for these statements.
"""
from __future__ import annotations

import numpy as np

from ..rows import Check, CheckResult
from ..simulators import ntk_flow as S
from . import register
from .bounds import SLACK, violations_row
from .common import mpmath_check, paper_check, reference_check

#: random instance for the flow and GD rows (ours): n points in R^d, m neurons
FLOW = dict(n=6, d=4, m=1000, seed=1, h=0.02, horizon=4.0)
GD = dict(n=6, d=4, m=1000, seed=3, steps=200)


def _lam0(X):
    from ..simulators import kernels as SK  # plane quadrature of H_inf's integrand

    H = np.array([[SK.h_inf_reference(X[i], X[j]) for j in range(len(X))]
                  for i in range(len(X))])
    return float(np.linalg.eigvalsh(H)[0])


# --- kernels.flow_residual_bound -----------------------------------------------------------


def _resid_points():
    return [{"lambda_0": np.float64(0.5), "t": np.float64(t), "loss0": np.float64(l0)}
            for t, l0 in ((0.0, 1.0), (0.5, 2.0), (3.0, 6.25), (10.0, 0.3), (25.0, 4.0))]


def _quarter_flow(m, resid0, times):
    X, y, W0, a = S.quarter_active_instance(m, resid0)
    Ws = S.flow(W0, a, X, y, np.asarray(times, float), rtol=1e-12, atol=1e-14)
    return X, y, W0, a, Ws


def _resid_ref(pt):
    """|y - u(t)|^2 of the simulated flow of the quarter-active instance (H(t) = lambda_0/2)."""
    if float(pt["lambda_0"]) != 0.5:  # pragma: no cover
        raise ValueError("the quarter-active instance has lambda_0 = 1/2")
    t = float(pt["t"])
    if t == 0.0:
        X, y, W0, a = S.quarter_active_instance(64, float(np.sqrt(pt["loss0"])))
        return float(np.sum((y - S.outputs(W0, a, X)) ** 2))
    X, y, _, a, Ws = _quarter_flow(64, float(np.sqrt(pt["loss0"])), [0.0, t])
    return float(np.sum((y - S.outputs(Ws[-1], a, X)) ** 2))


register(reference_check("kernels.flow_residual_bound", _resid_points, _resid_ref, tol=1e-9,
                         label="flow of the quarter-active network (bound attained)"))
register(mpmath_check("kernels.flow_residual_bound", _resid_points))
register(paper_check("kernels.flow_residual_bound", _resid_points))

_FLOW_CACHE: dict = {}


def flow_run():
    """The small-step flow of the random instance: times, states, lambda_0 (plane quadrature)."""
    if "run" not in _FLOW_CACHE:
        c = FLOW
        X, y, W0, a = S.random_instance(c["n"], c["d"], c["m"], c["seed"])
        lam0 = _lam0(X)
        k = int(c["horizon"] / lam0 / c["h"])
        Ws = S.gd(W0, a, X, y, c["h"], k)
        _FLOW_CACHE["run"] = (X, y, W0, a, Ws, lam0)
    return _FLOW_CACHE["run"]


def _eq26(subject, ctx):
    """eq. (2.6): du/dt (central differences of the network along -dL/dW, step 1e-6) vs
    H(t)(y - u) with H from the activation patterns, at 9 states of the flow."""
    X, y, _, a, Ws, _ = flow_run()
    worst = 0.0
    for W in Ws[:: max(1, len(Ws) // 8)]:
        Wd = -S.grad(W, a, X, y)
        Z, ZD = X @ W.T, X @ Wd.T
        # half the smallest step at which a pattern flips: u is linear on the step, and the
        # central difference exact up to rounding
        with np.errstate(divide="ignore"):
            flip = np.where(np.abs(ZD) > 0, np.abs(Z) / np.abs(ZD), np.inf)
        dlt = 0.5 * float(flip.min())
        du = (S.outputs(W + dlt * Wd, a, X) - S.outputs(W - dlt * Wd, a, X)) / (2 * dlt)
        rhs = S.gram(W, X) @ (y - S.outputs(W, a, X))
        worst = max(worst, float(np.max(np.abs(du - rhs)) / max(np.abs(rhs).max(), 1e-300)))
    return CheckResult("kernels.flow_residual_bound", "simulation",
                       "eq. (2.6): du/dt = H(t)(y - u) on the network", worst, 0.0, worst, "rel",
                       worst <= 1e-7, resolution=1e-7,
                       detail=f"n, d, m = {FLOW['n']}, {FLOW['d']}, {FLOW['m']}; 9 states of the "
                              f"flow; max relative difference {worst:.2e} (central difference "
                              "with half the step at which the first pattern flips)")


def _thm22(subject, ctx):
    """Theorem 2.2 (l.451) on the small-step flow: |y - u(t)|^2 <= bound(lambda_0, t, loss0)
    at t = k h, under Lemma 2.3's hypothesis lambda_min(H(s)) >= lambda_0/2 (checked)."""
    X, y, W0, a, Ws, lam0 = flow_run()
    h = FLOW["h"]
    loss0 = float(np.sum((y - S.outputs(W0, a, X)) ** 2))
    idx = np.arange(0, len(Ws), 5)
    ts = idx * h
    loss = np.array([np.sum((y - S.outputs(Ws[k], a, X)) ** 2) for k in idx])
    bound = np.asarray(subject.fn(np.float64(lam0), ts, np.float64(loss0)), float)
    hyp = min(float(np.linalg.eigvalsh(S.gram(Ws[k], X))[0]) for k in idx[::4]) / lam0
    bad = int(np.sum(loss > bound * (1 + 1e-12)))
    logslack = float(np.min(np.log(bound[1:]) - np.log(loss[1:])))
    return violations_row("kernels.flow_residual_bound", "Theorem 2.2 on the simulated flow", bad,
                          len(idx), logslack,
                          f"smallest log(bound/|y - u(t)|^2) = {logslack:.3f} over t <= "
                          f"{ts[-1]:.1f} = {FLOW['horizon']:g}/lambda_0 (lambda_0 = {lam0:.4f}, "
                          f"Euler step {h}); Lemma 2.3's hypothesis: min lambda_min(H(s))/lambda_0 = "
                          f"{hyp:.3f} (>= 1/2)", ok=bad == 0 and hyp >= 0.5)


register(Check("kernels.flow_residual_bound", "simulation",
               "eq. (2.6): du/dt = H(t)(y - u) on the network", _eq26, independent=False))
register(Check("kernels.flow_residual_bound", SLACK, "Theorem 2.2 on the simulated flow",
               _thm22, independent=False))


# --- kernels.flow_movement -------------------------------------------------------------------


def _move_points():
    return [{"n": np.float64(1.0), "m": np.float64(m), "lambda_0": np.float64(0.5),
             "resid0": np.float64(r)} for m, r in ((64, 1.0), (400, 2.5), (16, 0.7))]


def _move_ref(pt):
    """sup_t max_r |w_r(t) - w_r(0)| of the quarter-active flow (t = 200: exp(-50) left)."""
    m = int(pt["m"])
    _, _, W0, _, Ws = _quarter_flow(m, float(pt["resid0"]), [0.0, 200.0])
    return float(np.max(np.linalg.norm(Ws[-1] - W0, axis=1)))


register(reference_check("kernels.flow_movement", _move_points, _move_ref, tol=1e-9,
                         label="flow of the quarter-active network (bound attained)"))
register(mpmath_check("kernels.flow_movement", _move_points))
register(paper_check(
    "kernels.flow_movement", _move_points, _move_ref, klass="OCR reading",
    method="simulated flow (SciPy DOP853) of one input with a quarter of the neurons active "
           "(H(t) = lambda_0/2, the lemma's hypothesis at equality)",
    note="the form as the OCR reads it (no 2; its proof, l.583, integrates exp(-lambda_0 s)"
         "|y - u(0)| where |y - u(s)| decays as exp(-lambda_0 s/2)) is false; R' = 2 sqrt(n)"
         "|y - u(0)|/(sqrt(m) lambda_0), consistent with Corollary 2.1's 4 sqrt(n) for GD: the "
         "2 may be lost in the OCR (printed or OCR cannot be decided from the seed)"))


def _lemma23(subject, ctx):
    """Lemma 2.3 on the small-step flow: max_r |w_r(t) - w_r(0)| <= R'(n, m, lambda_0, |y - u(0)|)."""
    X, y, W0, a, Ws, lam0 = flow_run()
    n, m = X.shape[0], W0.shape[0]
    r0 = float(np.linalg.norm(y - S.outputs(W0, a, X)))
    Rp = float(subject.fn(np.float64(n), np.float64(m), np.float64(lam0), np.float64(r0)))
    mv = max(float(np.max(np.linalg.norm(W - W0, axis=1))) for W in Ws[::10] + [Ws[-1]])
    return violations_row("kernels.flow_movement", "Lemma 2.3 on the simulated flow",
                          int(mv > Rp), 1, (Rp - mv) / Rp,
                          f"max movement {mv:.4f} <= R' = {Rp:.4f} (relative slack {(Rp - mv) / Rp:.3f};"
                          f" n, m = {n}, {m})")


register(Check("kernels.flow_movement", SLACK, "Lemma 2.3 on the simulated flow", _lemma23,
               independent=False))


# --- kernels.i2_bound: the I_1 / I_2 split on GD ---------------------------------------------


def _i2_points():
    return [{"eta": np.float64(e), "n": np.float64(n), "m": np.float64(m),
             "s_perp": np.float64(s), "resid": np.float64(r)}
            for e, n, m, s, r in ((0.5, 6, 1000, 12, 2.0), (1.0, 10, 50, 0, 0.1),
                                  (0.01, 1000, 10**6, 300, 40.0))]


register(mpmath_check("kernels.i2_bound", _i2_points))


def _i2_ref(pt):
    """|I_2^1| of one simulated GD step where the bound is attained: n copies of x = e_1 with
    equal residuals u_j - y_j = resid/sqrt(n), s_perp neurons active on x (w.x = 1) with
    a_r = -1 (so the step raises w.x along x), the others far inactive (w.x = -10);
    S_1^perp = the active neurons."""
    n, m, s = int(pt["n"]), int(pt["m"]), int(pt["s_perp"])
    eta, resid = float(pt["eta"]), float(pt["resid"])
    X = np.tile(np.eye(3)[:1], (n, 1))
    W0 = np.zeros((m, 3))
    W0[:, 0] = -10.0
    W0[:s, 0] = 1.0
    W0[:, 1] = np.linspace(-1, 1, m)
    a = np.ones(m)
    a[:s] = -1.0
    y = S.outputs(W0, a, X) - resid / np.sqrt(n)
    W1 = S.gd(W0, a, X, y, eta, 1)[-1]
    d = (np.maximum(X[0] @ W1[:s].T, 0) - np.maximum(X[0] @ W0[:s].T, 0)) * a[:s]
    return abs(float(np.sum(d)) / np.sqrt(m))


def _i2_ref_points():
    return [{"eta": np.float64(e), "n": np.float64(n), "m": np.float64(m),
             "s_perp": np.float64(s), "resid": np.float64(r)}
            for e, n, m, s, r in ((0.5, 3, 40, 10, 2.0), (0.1, 5, 100, 100, 0.3),
                                  (1.0, 1, 8, 3, 1.5), (0.05, 7, 64, 1, 4.0))]


register(reference_check("kernels.i2_bound", _i2_ref_points, _i2_ref, tol=1e-12,
                         label="one GD step of the network where the bound is attained"))

_GD_CACHE: dict = {}


def gd_run():
    if "run" not in _GD_CACHE:
        c = GD
        X, y, W0, a = S.random_instance(c["n"], c["d"], c["m"], c["seed"])
        from ..simulators import kernels as SK

        H = np.array([[SK.h_inf_reference(xi, xj) for xj in X] for xi in X])
        eta = 1.0 / float(np.linalg.eigvalsh(H)[-1])
        _GD_CACHE["run"] = (X, y, W0, a, S.gd(W0, a, X, y, eta, c["steps"]), eta)
    return _GD_CACHE["run"]


def split_measure(fn, run=None):
    """The thesis's split (l.700-760) along GD with S_i^perp = {r: |w_r(0).x_i| < R}, R the
    largest movement of any neuron over the run (so no neuron outside S_i^perp changes pattern).
    Returns the split's exactness and the three bounds' slacks."""
    X, y, W0, a, Ws, eta = run or gd_run()
    n, m = X.shape[0], W0.shape[0]
    R = max(float(np.max(np.linalg.norm(W - W0, axis=1))) for W in Ws)
    P = np.abs(X @ W0.T) < R                      # (n, m): r in S_i^perp
    sp_count = P.sum(1)
    split_err, s_i2, s_hp, s_du, bad = 0.0, np.inf, np.inf, np.inf, 0
    for W, W1 in zip(Ws[:-1], Ws[1:]):
        u, u1 = S.outputs(W, a, X), S.outputs(W1, a, X)
        res = u - y
        Z, Z1 = X @ W.T, X @ W1.T
        dact = (np.maximum(Z1, 0) - np.maximum(Z, 0)) * a[None] / np.sqrt(m)   # (n, m)
        I2 = np.sum(dact * P, 1)
        I1 = np.sum(dact * ~P, 1)
        Sk = (Z > 0).astype(float)
        # l.735: I_1^i = -eta/m sum_j (u_j - y_j) x_i.x_j sum_{r in S_i} 1{..} 1{..}
        G = X @ X.T
        I1_th = -eta / m * (G * ((Sk * ~P) @ Sk.T)) @ res
        split_err = max(split_err, float(np.max(np.abs(I1 - I1_th)) / max(np.abs(I1).max(), 1e-300)))
        split_err = max(split_err, float(np.max(np.abs(I1 + I2 - (u1 - u))))
                        / max(np.abs(u1 - u).max(), 1e-300))
        rn = float(np.linalg.norm(res))
        b = np.asarray(fn(np.float64(eta), np.float64(n), np.float64(m), sp_count.astype(float),
                          np.float64(rn)), float)
        bad += int(np.sum(np.abs(I2) > b * (1 + 1e-12) + 1e-300))
        s_i2 = min(s_i2, float(np.min((b - np.abs(I2)) / np.maximum(b, 1e-300))))
        Hp = G * ((Sk * P) @ Sk.T) / m
        hb = n * sp_count.sum() / m
        s_hp = min(s_hp, (hb - float(np.linalg.norm(Hp, 2))) / hb)
        db = eta ** 2 * n ** 2 * rn ** 2
        s_du = min(s_du, (db - float(np.sum((u1 - u) ** 2))) / max(db, 1e-300))
    return dict(split_err=split_err, s_i2=s_i2, s_hp=s_hp, s_du=s_du, bad=bad, R=R,
                frac=float(P.mean()), steps=len(Ws) - 1, eta=eta)


def _split(subject, ctx):
    r = split_measure(subject.fn)
    bad = r["bad"] + int(r["s_hp"] < 0) + int(r["s_du"] < 0)
    ok = bad == 0 and r["split_err"] <= 1e-6
    return violations_row("kernels.i2_bound", "I_1/I_2 split of u(k+1) - u(k) on GD", bad,
                          r["steps"] * GD["n"], r["s_i2"],
                          f"GD (n, d, m = {GD['n']}, {GD['d']}, {GD['m']}, eta = 1/|H_inf| = "
                          f"{r['eta']:.3f}, {r['steps']} steps); R = {r['R']:.4f}, |S^perp|/(nm) = "
                          f"{r['frac']:.4f}; split exact to {r['split_err']:.1e} of |I_1| (I_1 as l.735; rounding of the activations ~1, I_1 down to 1e-8); "
                          f"smallest relative slacks: |I_2^i| {r['s_i2']:.3f}, |H^perp|_2 <= (n/m) "
                          f"sum|S_i^perp| {r['s_hp']:.3f}, |u(k+1) - u(k)|^2 <= eta^2 n^2 |y - u|^2 "
                          f"{r['s_du']:.3f}", ok=ok)


register(Check("kernels.i2_bound", SLACK, "I_1/I_2 split of u(k+1) - u(k) on GD", _split,
               independent=False))


# --- kernels.h_inf: Theorem 2.1 and Lemma 2.6 -------------------------------------------------


def _unit(rng, n, d):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def thm21_sets():
    """Data sets (ours): random non-parallel (n > d, so the input Gram is singular), a pair at
    angle 1e-3, an antiparallel pair, and an exact duplicate."""
    rng = np.random.default_rng(21)
    X = _unit(rng, 12, 3)
    near = X[:6].copy()
    near[1] = np.cos(1e-3) * near[0] + np.sin(1e-3) * _unit(rng, 1, 3)[0] * 0
    v = rng.standard_normal(3)
    v -= (v @ near[0]) * near[0]
    near[1] = np.cos(1e-3) * near[0] + np.sin(1e-3) * v / np.linalg.norm(v)
    anti = X[:6].copy()
    anti[1] = -anti[0]
    dup = X[:6].copy()
    dup[1] = dup[0]
    return {"random": X, "near": near, "anti": anti, "dup": dup}


def _thm21(subject, ctx):
    """Theorem 2.1 (l.446): lambda_min(H_inf) > 0 without parallel inputs (beyond float64's
    eigenvalue error, 1e3 n eps |H|), = 0 for a duplicate (to 1e-15 |H|); an antiparallel pair
    (parallel in the theorem's wording) still gives lambda_min > 0 (the theorem's hypothesis is
    stronger than needed: H_ij = 0 for x_j = -x_i)."""
    out, ok = [], True
    for name, X in thm21_sets().items():
        H = np.asarray(subject.fn(X[:, None, :], X[None, :, :]), float)
        lam = float(np.linalg.eigvalsh(H)[0])
        scale = float(np.linalg.norm(H, 2))
        tol = 1e3 * len(X) * np.finfo(float).eps * scale
        good = abs(lam) <= 1e-15 * scale * len(X) if name == "dup" else lam > tol
        ok &= good
        out.append(f"{name}: lambda_min = {lam:.3e} ({'ok' if good else 'FAILS'})")
    return CheckResult("kernels.h_inf", "simulation", "Theorem 2.1: lambda_0 > 0 iff no duplicates",
                       ok, True, 0.0 if ok else 1.0, "count", ok, resolution=0.0,
                       detail="; ".join(out) + " (12 random points in R^3, the others n = 6)")


register(Check("kernels.h_inf", "simulation", "Theorem 2.1: lambda_0 > 0 iff no duplicates",
               _thm21))


def _lemma26(subject, ctx):
    """Lemma 2.6 (l.814): for non-parallel inputs each D_i = {w: w.x_i = 0} has points outside
    every other D_j: 1000 random points z of D_i (projections of Gaussians) have min_j |z.x_j|
    / |z| > 0; with a duplicate x_1 = x_0, D_1 = D_0 (|z.x_0| <= 1e-14 |z| on D_1: rounding of the projection)."""
    sets = thm21_sets()
    rng = np.random.default_rng(26)
    worst = np.inf
    for X in (sets["random"], sets["near"]):
        for i in range(len(X)):
            Z = rng.standard_normal((1000, X.shape[1]))
            Z -= np.outer(Z @ X[i], X[i])
            others = np.delete(X, i, 0)
            worst = min(worst, float(np.min(np.abs(Z @ others.T).min(1) / np.linalg.norm(Z, axis=1))))
    X = sets["dup"]
    Z = rng.standard_normal((1000, X.shape[1]))
    Z -= np.outer(Z @ X[1], X[1])
    dup = float(np.max(np.abs(Z @ X[0]) / np.linalg.norm(Z, axis=1)))
    ok = worst > 1e-12 and dup <= 1e-14
    return CheckResult("kernels.h_inf", "simulation", "Lemma 2.6: D_i not in the union of the D_j",
                       worst, 0.0, worst, "min |z.x_j|/|z|", ok, resolution=0.0,
                       detail=f"random and near-parallel sets: smallest |z.x_j|/|z| on D_i = "
                              f"{worst:.2e} (> 0); duplicate: max |z.x_0|/|z| on D_1 = {dup:.1e}")


register(Check("kernels.h_inf", "simulation", "Lemma 2.6: D_i not in the union of the D_j",
               _lemma26, independent=False))
