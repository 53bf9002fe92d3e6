"""Checks of the balance family (thesis ch. 4): every formula against an exact simulation of
one GD step (or an exact polynomial finite difference), plus symbolic proofs of Theorems 4.1,
4.2, 4.3 and numeric balance identities on networks of several shapes and activations."""
from __future__ import annotations

import numpy as np

from ..rows import Check, CheckResult, Context, Subject, consistency
from ..simulators import balance as B
from . import common, register

# -- rank-1 recursions (4.23)-(4.24) --------------------------------------------------------


def _rank1_points():
    rng = np.random.default_rng(41)
    out = []
    for k in range(12):
        pt = dict(alpha=rng.normal(), alpha_perp=abs(rng.normal()), beta=rng.normal(),
                  beta_perp=abs(rng.normal()), sigma1=float(np.exp(rng.normal())),
                  eta=float(rng.uniform(0.01, 0.6)))
        out.append({k_: np.float64(v) for k_, v in pt.items()})
    # edges: no complement component; step beyond 1/|v|^2 (the |.| branch); tiny step
    out.append(dict(out[0], alpha_perp=np.float64(0.0), beta_perp=np.float64(0.0)))
    out.append(dict(out[1], eta=np.float64(3.0)))
    out.append(dict(out[2], eta=np.float64(1e-6)))
    return out


def _rank1_state(pt, d1=5, d2=4):
    """Vectors u, v realizing the point, with random orthonormal u*, e and v*, f."""
    key = int(abs(hash(tuple(round(float(pt[k]), 12) for k in sorted(pt)))) % 2**31)
    rng = np.random.default_rng(key)
    Q1, _ = np.linalg.qr(rng.standard_normal((d1, 2)))
    Q2, _ = np.linalg.qr(rng.standard_normal((d2, 2)))
    us, e, vs, f = Q1[:, 0], Q1[:, 1], Q2[:, 0], Q2[:, 1]
    u = pt["alpha"] * us + pt["alpha_perp"] * e
    v = pt["beta"] * vs + pt["beta_perp"] * f
    M = pt["sigma1"] * np.outer(us, vs)
    u1, v1 = B.mf_step(u[:, None], v[:, None], M, pt["eta"])
    u1, v1 = u1[:, 0], v1[:, 0]
    a1, b1 = u1 @ us, v1 @ vs
    ap1 = np.linalg.norm(u1 - a1 * us)
    bp1 = np.linalg.norm(v1 - b1 * vs)
    return dict(alpha=a1, alpha_perp=ap1, h=a1 * b1 - pt["sigma1"], xi=ap1 ** 2 + bp1 ** 2)


def _rank1_ref(which):
    return lambda pt: np.float64(_rank1_state(pt)[which])


for _q, _w in (("mf_alpha_next", "alpha"), ("mf_alpha_perp_next", "alpha_perp"),
               ("mf_h_next", "h"), ("mf_xi_next", "xi")):
    _n = f"balance.{_q}"
    register(common.reference_check(
        _n, _rank1_points, _rank1_ref(_w), tol=1e-12,
        floor=lambda pt: 1.0 + pt["sigma1"] + pt["alpha"] ** 2 + pt["beta"] ** 2
        + pt["alpha_perp"] ** 2 + pt["beta_perp"] ** 2,
        label="vs one exact GD step of u, v in R^5 x R^4",
        method="GD step of the vectors, then projected on u*, v* and their complements"))
    register(common.paper_check(_n, _rank1_points))

# -- matrix factorization: Claim 4.1 and (4.12) ---------------------------------------------

_MF_SHAPES = ((3, 4, 2), (5, 2, 1), (2, 6, 3), (4, 4, 4))


def _mf_points(with_dir=False, with_eta=True):
    def pts():
        rng = np.random.default_rng(43)
        out = []
        for d1, d2, r in _MF_SHAPES:
            pt = dict(U=rng.standard_normal((d1, r)), V=rng.standard_normal((d2, r)),
                      M=rng.standard_normal((d1, d2)))
            if with_eta:
                pt["eta"] = np.float64(rng.uniform(0.01, 0.3))
            if with_dir:
                pt["dU"] = rng.standard_normal((d1, r))
                pt["dV"] = rng.standard_normal((d2, r))
            out.append(pt)
        return out
    return pts


def _mf_step_ref(pt):
    U, V = pt["U"], pt["V"]
    U1, V1 = B.mf_step(U, V, pt["M"], pt["eta"])
    return (U1.T @ U1 - V1.T @ V1) - (U.T @ U - V.T @ V)


def _mf_hess_ref(pt):
    """f(t) = f(U + t dU, V + t dV) is a quartic: the 5-point second difference is exact."""
    f = lambda s: B.mf_loss(pt["U"] + s * pt["dU"], pt["V"] + s * pt["dV"], pt["M"])  # noqa: E731
    h = 0.25
    return np.float64((-f(2 * h) + 16 * f(h) - 30 * f(0) + 16 * f(-h) - f(-2 * h)) / (12 * h * h))


def _mf_floor(pt):
    U, V = pt["U"], pt["V"]
    return pt["eta"] ** 2 * float(np.linalg.norm(U) ** 2 + np.linalg.norm(V) ** 2) ** 2 * 1e-2


register(common.reference_check(
    "balance.mf_balance_step", _mf_points(), _mf_step_ref, tol=1e-9,
    label="vs the change of U^T U - V^T V in one exact GD step",
    method=f"GD step of (4.9) in float64, shapes (d1, d2, r) {_MF_SHAPES}"))
register(common.paper_check("balance.mf_balance_step", _mf_points()))
register(common.reference_check(
    "balance.mf_hessian", _mf_points(True, False), _mf_hess_ref, tol=1e-10,
    label="vs exact 5-point second difference of f along (dU, dV)",
    method="f(U + t dU, V + t dV) is a quartic in t; the 5-point rule is exact"))
register(common.paper_check("balance.mf_hessian", _mf_points(True, False)))

# -- neuron balance under GD (Thm 4.1, Cor 4.1, Thm 4.2, Thm 4.3) ---------------------------

#: the last two nets give hidden units of fan-in 1 and fan-in/fan-out 9 (issue 19 item 3: the
#: smallest and a large vector length; a generic resize of the points would break the network)
_NETS = (((4, 5, 3, 2), "relu"), ((3, 6, 6, 4, 1), "leaky"), ((2, 4, 3), "linear"),
         ((5, 3, 7, 2), "relu"), ((1, 9, 2), "relu"), ((2, 9, 9, 1), "leaky"))


def _net(widths, kind, seed):
    rng = np.random.default_rng(seed)
    Ws, X, Y = B.random_net(rng, widths, 7)
    return Ws, X, Y


def _drift_points():
    out = []
    for k, (widths, kind) in enumerate(_NETS):
        Ws, X, Y = _net(widths, kind, 100 + k)
        G = B.grads(Ws, X, Y, kind)
        for h in range(len(Ws) - 1):
            for i in range(Ws[h].shape[0]):
                out.append(dict(w_in=Ws[h][i, :], g_in=G[h][i, :], w_out=Ws[h + 1][:, i],
                                g_out=G[h + 1][:, i], eta=np.float64(0.05 + 0.1 * (i % 3)),
                                net=k, layer=h, unit=i))
    return out


def _drift_ref(pt):
    widths, kind = _NETS[pt["net"]]
    Ws, X, Y = _net(widths, kind, 100 + pt["net"])
    W1, _ = B.gd_step(Ws, X, Y, float(pt["eta"]), kind)
    before = B.neuron_balance(Ws)[pt["layer"]][pt["unit"]]
    after = B.neuron_balance(W1)[pt["layer"]][pt["unit"]]
    return np.float64(after - before)


def _drift_floor(pt):
    return float(pt["eta"]) ** 2 * (float(pt["g_in"] @ pt["g_in"] + pt["g_out"] @ pt["g_out"])
                                    + 1e-3)


register(common.reference_check(
    "balance.gd_neuron_drift", _drift_points, _drift_ref, tol=1e-9, floor=_drift_floor,
    dims=False,
    label="vs one exact GD step of the network (every hidden unit)",
    method=f"bias-free nets (widths, activation) {_NETS}, 7 points, squared loss"))


def _proof(label, fn):
    """A theorem of the paper proved by SymPy on the derivation module's own network builders:
    it never evaluates the formula, and a shared error in those builders passes it, so it is a
    consistency row (issue 19, items 6-7)."""
    def run(subject: Subject, ctx: Context):
        bad = fn()
        return common.failures_row(
            "balance.gd_neuron_drift", label, bad, "sp.diff", "; ".join(bad)
            or "simplifies to 0 for arbitrary slopes per unit and a generic loss")
    return consistency(Check("balance.gd_neuron_drift", "symbolic", label, run),
                       "a theorem proved on derivations.balance's own networks; does not "
                       "evaluate the formula")


def _euler_numeric(subject: Subject, ctx: Context):
    """Thm 4.1 pointwise on random nets: max |<W^h[i,:], G^h[i,:]> - <W^{h+1}[:,i], G^{h+1}[:,i]>|
    relative to the terms; Cor 4.1 summed; Thm 4.2 matrix form for the linear net."""
    worst, n = 0.0, 0
    for k, (widths, kind) in enumerate(_NETS):
        Ws, X, Y = _net(widths, kind, 200 + k)
        G = B.complex_step_grads(Ws, X, Y, kind)
        for h in range(len(Ws) - 1):
            a = np.sum(Ws[h] * G[h], axis=1)
            b = np.sum(Ws[h + 1] * G[h + 1], axis=0)
            sc = max(np.max(np.abs(a)), 1e-300)
            worst = max(worst, float(np.max(np.abs(a - b)) / sc))
            n += a.size
            if kind == "linear":
                D = (Ws[h] @ G[h].T + G[h] @ Ws[h].T) - (Ws[h + 1].T @ G[h + 1] + G[h + 1].T @ Ws[h + 1])
                worst = max(worst, float(np.max(np.abs(D)) / sc))
    return common.error_row("balance.gd_neuron_drift", "simulation", "Euler identity on networks",
                            worst, 1e-12, f"{n} hidden units, complex-step gradients, nets "
                            f"{_NETS}; Thm 4.2 matrix identity on the linear net", strict=True)


def _conv_numeric(subject: Subject, ctx: Context):
    rng = np.random.default_rng(5)
    n, worst = 6, 0.0
    for kind in ("relu", "leaky", "linear"):
        vs = [rng.standard_normal(3) for _ in range(3)]
        X, Y = rng.standard_normal((n, 5)), rng.standard_normal((n, 5))
        t = B.conv_euler_terms(vs, X, Y, kind)
        worst = max(worst, float(np.ptp(t) / np.max(np.abs(t))))
    return common.error_row("balance.gd_neuron_drift", "simulation",
                            "Thm 4.3: <v^h, dL/dv^h> equal over shared-weight layers", worst, 1e-12,
                            "3-layer circular 1-D conv nets (taps 3, n = 6), relu/leaky/linear",
                            strict=True)


def _step_order(subject: Subject, ctx: Context):
    """Cor 4.1 with the formula under test: the drift of |W^h|_F^2 - |W^{h+1}|_F^2 after one GD
    step of the network equals the formula summed over the units of layer h (it is the sum of
    the neuron drifts), for eta = 1e-1, 1e-2, 1e-3 (judged per eta^2: O(eta^2) per step)."""
    Ws, X, Y = _net(*_NETS[0], 300)
    kind = _NETS[0][1]
    G = B.grads(Ws, X, Y, kind)
    worst, pred = 0.0, 0.0
    for e in (1e-1, 1e-2, 1e-3):
        # the formula for every unit of layer 0 in one batched call, summed over the units
        pred = float(np.sum(subject.fn(Ws[0], G[0], Ws[1].T, G[1].T, np.float64(e))))
        W1, _ = B.gd_step(Ws, X, Y, e, kind)
        d = (np.sum(W1[0] ** 2) - np.sum(W1[1] ** 2)) - (np.sum(Ws[0] ** 2) - np.sum(Ws[1] ** 2))
        worst = max(worst, abs(d - pred) / abs(pred))
    return CheckResult("balance.gd_neuron_drift", "simulation",
                       "Cor 4.1: layer drift of one GD step = sum of the formula over units",
                       pred, worst, worst, "rel", worst < 1e-6, resolution=1e-6,
                       detail=f"eta = 1e-1, 1e-2, 1e-3 on net {_NETS[0]}; worst rel err "
                              f"{worst:.1e} (cancellation at eta = 1e-3)")


register(_proof("Thm 4.1 Euler identity (sp.diff, slopes per unit)",
                lambda: __import__("derivations.balance", fromlist=["x"]).euler_identity_proof()
                + __import__("derivations.balance", fromlist=["x"]).euler_identity_proof((2, 3, 3, 1))))
register(_proof("Thm 4.2 linear-layer matrix identity (sp.diff)",
                lambda: __import__("derivations.balance", fromlist=["x"]).linear_matrix_proof()))
register(_proof("Thm 4.3 shared weights, 1-D conv (sp.diff)",
                lambda: __import__("derivations.balance", fromlist=["x"]).shared_weight_proof()))
# the paper's theorems on simulated networks: claims about the model that do not evaluate the
# formula, so they do not count as independent checks of it (issue 19, item 7)
common.add("balance.gd_neuron_drift", "simulation", "Euler identity on networks", _euler_numeric,
           independent=False)
common.add("balance.gd_neuron_drift", "simulation", "Thm 4.3 on conv nets", _conv_numeric,
           independent=False)
common.add("balance.gd_neuron_drift", "simulation", "Cor 4.1 drift order", _step_order)


def _flow_limit(subject: Subject, ctx: Context):
    """Gradient flow conserves |W^h|^2 - |W^{h+1}|^2 (Cor 4.1): GD to time T = 0.5 with step eta
    drifts by sum eta^2 (...) = O(eta), so the drift falls 10x when eta falls 10x."""
    widths, kind = (4, 6, 5, 2), "leaky"
    rng = np.random.default_rng(9)
    Ws0, X, Y = B.random_net(rng, widths, 6)
    drifts = []
    for eta in (1e-2, 1e-3):
        Ws = [W.copy() for W in Ws0]
        start = B.layer_norms(Ws)
        for _ in range(int(round(0.5 / eta))):
            Ws, _ = B.gd_step(Ws, X, Y, eta, kind)
        end = B.layer_norms(Ws)
        drifts.append(float(np.max(np.abs((end[:-1] - end[1:]) - (start[:-1] - start[1:])))))
    ratio = drifts[0] / drifts[1]
    return CheckResult("balance.gd_neuron_drift", "simulation",
                       "Cor 4.1 gradient-flow limit: drift to T = 0.5 is O(eta)", ratio, 10.0,
                       ratio, "ratio", 7 < ratio < 13,
                       detail=f"leaky-ReLU net {widths}: max layer drift {drifts[0]:.3g} (eta = 1e-2),"
                              f" {drifts[1]:.3g} (eta = 1e-3); ratio {ratio:.2f} (-> conserved as eta -> 0)")


common.add("balance.gd_neuron_drift", "simulation", "Cor 4.1 gradient-flow limit", _flow_limit,
           independent=False)


# -- issue 24, item 4: Lemma 4.3 (smoothness), Lemma 4.1 (boundedness, balancedness) ----------

_SMOOTH_PTS = ((0.5, 1.0), (1.0, 1.0), (2.0, 0.3), (5 * np.sqrt(2), 1.0), (11 * np.sqrt(2), 2.5),
               (0.05, 7.0))


def _smooth_points():
    return [dict(c=np.float64(c), M_norm=np.float64(m)) for c, m in _SMOOTH_PTS]


def _orthonormal(rng, d, k):
    Q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return Q


def _smooth_extremal(pt, d1=3, d2=2, r=2):
    """The configuration the proof's inequalities are tight at: M* = |M*| p q^T,
    U = -sqrt(c|M*|) p e1^T, V = sqrt(c|M*|) q e1^T (|U|_F^2 = |V|_F^2 = c|M*|, U V^T = -c M*)."""
    rng = np.random.default_rng(int(1000 * pt["c"]) + 7)
    p, q = _orthonormal(rng, d1, 1)[:, 0], _orthonormal(rng, d2, 1)[:, 0]
    s = np.sqrt(pt["c"] * pt["M_norm"])
    U, V = np.zeros((d1, r)), np.zeros((d2, r))
    U[:, 0], V[:, 0] = -s * p, s * q
    return U, V, pt["M_norm"] * np.outer(p, q)


def _smooth_ref(pt):
    """lambda_max of the dense Hessian of the simulated loss (exact second differences) at the
    extremal point of S: a value the supremum attains (the slack row shows nothing exceeds it)."""
    return np.float64(B.mf_lambda_max(*_smooth_extremal(pt)))


common.add_reference(
    "balance.mf_smoothness", _smooth_points, _smooth_ref, tol=1e-9,
    label="vs lambda_max of the dense Hessian at the maximizer in S",
    method="Hessian of f(U, V) = 1/2|UV^T - M*|^2 by exact 5-point second differences of the "
           "simulated loss, eigvalsh; at U = -sqrt(c|M*|) p e1^T, V = sqrt(c|M*|) q e1^T",
    paper=dict(klass="loose-but-valid bound",
               note="the printed (6c + 2)|M*|_F is twice the supremum that the dense Hessian "
                    "attains: a valid but loose smoothness constant (the steps of Claim 4.2 only "
                    "need validity)"))


def _smooth_slack(subject: Subject, ctx: Context):
    """Lemma 4.3 as a bound: lambda_max(nabla^2 f) <= formula(c, |M*|) at random points of S
    (on its boundary and inside, M* of full rank, several shapes) and near the maximizer; the
    row reports min (bound - lambda_max) / bound and fails if any point exceeds the bound."""
    rng = np.random.default_rng(4303)
    worst, n, at = np.inf, 0, ""
    for c, m in _SMOOTH_PTS:
        bound = float(np.asarray(subject.fn(np.float64(c), np.float64(m))))
        for k, (d1, d2, r) in enumerate(((3, 2, 2), (2, 3, 1))):
            for j in range(3):
                M = rng.standard_normal((d1, d2))
                M *= m / np.linalg.norm(M)
                U, V = rng.standard_normal((d1, r)), rng.standard_normal((d2, r))
                su, sv = (1.0, 1.0) if j == 0 else rng.uniform(0.2, 1.0, 2)
                U *= np.sqrt(su * c * m) / np.linalg.norm(U)
                V *= np.sqrt(sv * c * m) / np.linalg.norm(V)
                lam = B.mf_lambda_max(U, V, M)
                s = (bound - lam) / bound
                n += 1
                if s < worst:
                    worst, at = s, f"c={c:.4g}, |M*|={m:g}, shape {(d1, d2, r)}"
        U, V, M = _smooth_extremal(dict(c=c, M_norm=m))
        for t in (1.0, 1 - 1e-4, rng.uniform(0.9, 1.0)):   # at the maximizer and inside S
            lam = B.mf_lambda_max(t * U + 1e-3 * (1 - t) * rng.standard_normal(U.shape), t * V, M)
            s = (bound - lam) / bound
            n += 1
            if s < worst:
                worst, at = s, f"c={c:.4g}, |M*|={m:g}, near the maximizer"
    return CheckResult("balance.mf_smoothness", "dense", "Lemma 4.3 bound: slack over S",
                       worst, 0.0, worst, "min (bound - lambda_max)/bound", worst >= -1e-9,
                       resolution=1e-9,
                       detail=f"{n} points of S ({len(_SMOOTH_PTS)} (c, |M*|), random, at and near "
                              f"the maximizer); smallest relative slack {worst:.3g} at {at}; the "
                              "reference row shows the bound attained (slack 0) at the maximizer")


common.add("balance.mf_smoothness", "dense", "Lemma 4.3 bound: slack over S", _smooth_slack)

_NORM_PTS = ((1, 0.5, 1.0), (2, 1.0, 1.0), (2, 0.3, 2.0), (1, 1e-3, 0.7))


def _norm_points():
    return [dict(r=np.int64(r), epsilon=np.float64(e), M_norm=np.float64(m)) for r, e, m in _NORM_PTS]


def _norm_ref(pt, starts=3):
    """sup |U|_F^2 subject to |U^T U - V^T V|_F <= epsilon and 1/2|U V^T - M*|_F^2 <= 2|M*|_F^2
    (|M*|_F fixed, M* free), by SciPy's SLSQP over (U, V, M*) in R^{r x r} from 3 random starts;
    the best feasible value (constraints verified to 1e-9)."""
    from scipy.optimize import minimize

    r, eps, Mn = int(pt["r"]), float(pt["epsilon"]), float(pt["M_norm"])
    d, nU = r, r * r
    rng = np.random.default_rng(17 + r)

    def unpack(p):
        U, V, Mr = p[:nU].reshape(d, r), p[nU:2 * nU].reshape(d, r), p[2 * nU:].reshape(d, d)
        return U, V, Mn * Mr / np.linalg.norm(Mr)

    def bal(p):
        U, V, _ = unpack(p)
        return eps ** 2 - np.sum((U.T @ U - V.T @ V) ** 2)

    def fit(p):
        U, V, M = unpack(p)
        return 2 * Mn ** 2 - B.mf_loss(U, V, M)

    best = -np.inf
    for _ in range(starts):
        p0 = rng.standard_normal(2 * nU + d * d) * np.sqrt(Mn)
        res = minimize(lambda p: -np.sum(unpack(p)[0] ** 2), p0, method="SLSQP",
                       constraints=[dict(type="ineq", fun=bal), dict(type="ineq", fun=fit)],
                       options=dict(ftol=1e-15, maxiter=2000))
        if bal(res.x) >= -1e-9 * eps ** 2 and fit(res.x) >= -1e-9 * Mn ** 2:
            best = max(best, float(np.sum(unpack(res.x)[0] ** 2)))
    return np.float64(best)


common.add_reference(
    "balance.mf_norm_bound", _norm_points, _norm_ref, tol=1e-9,
    label="vs the supremum of |U|_F^2 found by SLSQP",
    method="scipy.optimize SLSQP over (U, V, M*) with |M*|_F fixed; constraints Lemma 4.1(i)-(ii)",
    paper=dict(klass="loose-but-valid bound",
               note="the printed 5 sqrt(r)|M*|_F exceeds the supremum (1 + sqrt 37)/2 "
                    "sqrt(r)|M*|_F = 3.54 sqrt(r)|M*|_F reached by SLSQP when epsilon <= |M*|_F "
                    "(Theorem 4.4's range); for epsilon > 4|M*|_F it would fail, outside the "
                    "theorem"))


def _mf_traj(rng, d=6, r=2, steps=600, init=0.3, eta=lambda t: 0.05):
    M = rng.standard_normal((d, r)) @ rng.standard_normal((r, d))
    M /= np.linalg.norm(M)
    U, V = init * rng.standard_normal((d, r)), init * rng.standard_normal((d, r))
    out = []
    for t in range(steps + 1):
        out.append((U, V, eta(t)))
        U, V = B.mf_step(U, V, M, eta(t))
    return M, out


def _norm_on_gd(subject: Subject, ctx: Context):
    """Claim 4.3 (A(t), B(t) => C(t)) on simulated GD states: at every iterate with f <= 2|M*|^2,
    |U_t|_F^2 and |V_t|_F^2 <= formula(r, epsilon_t, |M*|_F) with epsilon_t the measured
    |U_t^T U_t - V_t^T V_t|_F.  Constant step 0.05 and init N(0, 0.3^2) (ours: the implication
    holds for any state, so the schedule of Theorem 4.4 is not needed); min relative slack."""
    worst, n = np.inf, 0
    for seed, (d, r) in enumerate(((6, 1), (6, 2), (6, 3), (12, 9))):
        rng = np.random.default_rng(4100 + seed)
        M, traj = _mf_traj(rng, d=d, r=r)
        for U, V, _ in traj[::5]:
            if B.mf_loss(U, V, M) > 2.0:
                continue
            eps = max(np.linalg.norm(U.T @ U - V.T @ V), 1e-300)
            bound = float(np.asarray(subject.fn(np.int64(r), np.float64(eps), np.float64(1.0))))
            top = max(np.sum(U * U), np.sum(V * V))
            worst = min(worst, (bound - top) / bound)
            n += 1
    return CheckResult("balance.mf_norm_bound", "simulation", "Claim 4.3 on GD states: slack",
                       worst, 0.0, worst, "min (bound - |U|^2)/bound", worst >= -1e-12 and n > 100,
                       detail=f"{n} GD states (4 runs, (d, r) = (6, 1), (6, 2), (6, 3), (12, 9), "
                              f"|M*|_F = 1); smallest "
                              f"relative slack {worst:.3g} (the states are far from the maximizer: "
                              "this row catches a bound that fails, not a loose one)")


common.add("balance.mf_norm_bound", "simulation", "Claim 4.3 on GD states: slack", _norm_on_gd)


def _lemma41_gd(subject: Subject, ctx: Context):
    """Lemma 4.1 (i)-(ii) and Claim 4.1's per-step inequality (4.13) on simulated GD, with the
    step schedule of Theorem 4.4 as read, eta_t = sqrt(epsilon/r) / (100 (t+1)^(1/2+delta)
    |M*|_F^(3/2)), delta = 0.1, epsilon = 0.5, init N(0, 1e-4), and with a constant step 0.05
    (ours; (4.13) holds for any step).  Does not evaluate a formula (a claim about the model)."""
    eps, delta = 0.5, 0.1
    worst413, bal, mono, fmax = np.inf, 0.0, True, 0.0
    for seed in range(3):
        for sched in ("thesis", "ours"):
            rng = np.random.default_rng(4200 + seed)
            r = 1 + seed
            eta = ((lambda t: np.sqrt(eps / r) / (100 * (t + 1) ** (0.5 + delta)))
                   if sched == "thesis" else (lambda t: 0.05))
            M, traj = _mf_traj(rng, r=r, steps=400, init=1e-2 if sched == "thesis" else 0.3, eta=eta)
            prev = np.inf
            for (U, V, e), (U1, V1, _) in zip(traj[:-1], traj[1:]):
                R = U @ V.T - M
                step = np.linalg.norm((U1.T @ U1 - V1.T @ V1) - (U.T @ U - V.T @ V))
                rhs = e ** 2 * (np.sum(V * V) + np.sum(U * U)) * np.sum(R * R)
                # rounding of the two Gram matrices: 1e-14 of their size (the exact step -> 0)
                fl = 1e-14 * (np.sum(U * U) + np.sum(V * V))
                worst413 = min(worst413, (rhs + fl - step) / max(rhs, fl))
                f = B.mf_loss(U, V, M)
                if sched == "thesis":
                    bal = max(bal, float(np.linalg.norm(U.T @ U - V.T @ V)))
                    mono &= f <= prev * (1 + 1e-12)
                    fmax = max(fmax, f)
                prev = f
    ok = worst413 >= 0 and bal <= eps and mono and fmax <= 2.0
    return CheckResult("balance.mf_balance_step", "simulation",
                       "Lemma 4.1 (i)-(ii) and (4.13) on GD", worst413, 0.0, worst413,
                       "min (4.13 rhs - lhs)/rhs", ok,
                       detail=f"6 runs (r = 1, 2, 3; thesis schedule as read and a constant step "
                              f"0.05), 400 steps: (4.13) smallest relative slack {worst413:.3g} (with a rounding "
                              f"floor 1e-14 (|U|^2 + |V|^2)); "
                              f"thesis schedule: max |U^T U - V^T V|_F = {bal:.3g} <= epsilon = "
                              f"{eps} (i), f non-increasing: {mono}, max f = {fmax:.3g} <= 2|M*|^2 "
                              "= 2 (ii)")


common.add("balance.mf_balance_step", "simulation", "Lemma 4.1 (i)-(ii) and (4.13) on GD",
           _lemma41_gd, independent=False)


# -- Theorem 4.5, Lemmas 4.5-4.6 (rank-1, constant step) on simulated GD of u, v -----------------

#: Theorem 4.5's setting (ours where the thesis leaves a universal constant free): d1 = d2 = 100,
#: sigma1 = 1, u0, v0 ~ N(0, delta^2 I) with delta = c_init sqrt(sigma1 / d), eta = c_step / sigma1.
THM45 = dict(d=100, sigma1=1.0, c_init=0.01, c_step=0.1, steps=600, seeds=6)


def thm45_runs(sim=None):
    """Simulated GD of the vectors (never the recursions) in Theorem 4.5's setting, one run per
    seed with alpha_0 beta_0 > 0 after the sign flip of the thesis's footnote (u* -> -u*); the
    state (alpha, alpha_perp, beta, beta_perp) per step."""
    sim = sim or B.rank1_gd
    p = THM45
    d, s1 = p["d"], p["sigma1"]
    out = []
    for seed in range(p["seeds"]):
        rng = np.random.default_rng(4500 + seed)
        us, vs = _orthonormal(rng, d, 1)[:, 0], _orthonormal(rng, d, 1)[:, 0]
        dl = p["c_init"] * np.sqrt(s1 / d)
        u0, v0 = dl * rng.standard_normal(d), dl * rng.standard_normal(d)
        if (u0 @ us) * (v0 @ vs) < 0:
            us = -us
        if u0 @ us < 0:   # alpha_0, beta_0 > 0 "without loss of generality"
            us, vs = -us, -vs
        U, V = sim(u0, v0, s1 * np.outer(us, vs), p["c_step"] / s1, p["steps"])
        a, b = U @ us, V @ vs
        ap = np.linalg.norm(U - a[:, None] * us, axis=1)
        bp = np.linalg.norm(V - b[:, None] * vs, axis=1)
        out.append(dict(alpha=a, alpha_perp=ap, beta=b, beta_perp=bp, sigma1=s1,
                        eta=p["c_step"] / s1, fit=np.linalg.norm(
                            U[:, :, None] * V[:, None, :] - s1 * np.outer(us, vs), axis=(1, 2))))
    return out


_RUNS: dict = {}


def _default_runs():
    """The simulated runs of :data:`THM45`, computed once per process (they never read a formula)."""
    if "runs" not in _RUNS:
        _RUNS["runs"] = thm45_runs()
    return _RUNS["runs"]


def _traj_points():
    pts = []
    for run in _default_runs()[:3]:
        for t in range(0, THM45["steps"], 12):
            if run["alpha_perp"][t] ** 2 + run["beta_perp"][t] ** 2 < 1e-24:
                break
            pts.append(dict(alpha=np.float64(run["alpha"][t]), alpha_perp=np.float64(run["alpha_perp"][t]),
                            beta=np.float64(run["beta"][t]), beta_perp=np.float64(run["beta_perp"][t]),
                            sigma1=np.float64(run["sigma1"]), eta=np.float64(run["eta"]),
                            _next=(run["alpha"][t + 1] * run["beta"][t + 1] - run["sigma1"],
                                   run["alpha_perp"][t + 1] ** 2 + run["beta_perp"][t + 1] ** 2)))
    return pts


def _traj_ref(i):
    return lambda pt: np.float64(pt["_next"][i])


for _q, _i in (("mf_h_next", 0), ("mf_xi_next", 1)):
    register(common.reference_check(
        f"balance.{_q}", _traj_points,
        _traj_ref(_i), tol=1e-10,
        # the simulated state is rounded at the scale of the vectors: h to ~1e-16 (sigma1 +
        # |u|^2 + |v|^2); xi = |u - alpha u*|^2 + ... to ~1e-16 sqrt(xi) |u| (the points stop
        # where xi < 1e-24: below, the simulated complement is rounding noise, ~1e-30)
        floor=((lambda pt: pt["sigma1"] + pt["alpha"] ** 2 + pt["beta"] ** 2) if _i == 0 else
               (lambda pt: 1e-5 * np.sqrt((pt["alpha_perp"] ** 2 + pt["beta_perp"] ** 2)
                                          * (pt["alpha"] ** 2 + pt["beta"] ** 2)))),
        label="vs simulated GD along Theorem 4.5 trajectories",
        method="GD of u, v in R^100 (c_init = 0.01, c_step = 0.1, sigma1 = 1), 3 runs, every "
               "12th step of 600 while xi >= 1e-24: the recursion at state t vs the simulated state t + 1"))


def lemma45_46_measure(runs) -> dict:
    """The statements of Lemmas 4.5-4.6 and Theorem 4.5 measured on simulated runs: the
    universal constants they assert to exist, as the tightest values the runs allow."""
    p = THM45
    cs, s1 = p["c_step"], p["sigma1"]
    k_ratio = 99 / 101   # (iv) read as |alpha - beta| <= 99/101 (alpha + beta): ratio in [1/100, 100]
    m = dict(T1=[], pos=True, xi_mono=True, grow_lo=np.inf, grow_hi=-np.inf, ratio_iv=0.0,
             c1_a=np.inf, h_pos=0, c1_c=np.inf, c1_d=np.inf, ab_lo=np.inf, ab_hi=0.0, t_eps=[])
    for run in runs:
        a, b, ap, bp = run["alpha"], run["beta"], run["alpha_perp"], run["beta_perp"]
        xi = ap ** 2 + bp ** 2
        h = a * b - s1
        T1 = int(np.argmax(a ** 2 + b ** 2 >= s1 / 10))
        m["T1"].append(T1)
        s = slice(0, T1)
        m["pos"] &= bool(np.all(a[s] > 0) and np.all(b[s] > 0))
        m["xi_mono"] &= bool(np.all(xi[s] <= xi[0] * (1 + 1e-12)) and xi[0] <= 100 * p["c_init"] ** 2 * s1)
        g = ((a[1:T1 + 1] + b[1:T1 + 1]) / (a[:T1] + b[:T1]) - 1) / cs
        m["grow_lo"], m["grow_hi"] = min(m["grow_lo"], g.min()), max(m["grow_hi"], g.max())
        m["ratio_iv"] = max(m["ratio_iv"], float(np.max(np.abs(a[s] - b[s]) / (a[s] + b[s]))))
        t2 = np.arange(T1, len(a))
        m["c1_a"] = min(m["c1_a"], float(np.min(np.minimum(a[t2], b[t2]) ** 2) / s1))
        m["h_pos"] += int(np.sum(h[t2] > 1e-12 * s1))
        k = t2[1:] - T1
        xi_ok = xi[t2[1:]] > 1e-280
        c1c = (1 - (xi[t2[1:]][xi_ok] / xi[T1]) ** (1.0 / k[xi_ok])) / cs
        m["c1_c"] = min(m["c1_c"], float(np.min(c1c)))
        hh, h1 = np.abs(h[t2[:-1]]), np.abs(h[t2[1:]])
        use = hh > 1e-10 * s1   # (d) at rounding level is a statement about float64, not GD
        m["c1_d"] = min(m["c1_d"], float(np.min((hh[use] + cs * xi[t2[:-1]][use] - h1[use])
                                                 / (cs * hh[use]))))
        ab = a[t2] / b[t2]
        m["ab_lo"], m["ab_hi"] = min(m["ab_lo"], ab.min()), max(m["ab_hi"], ab.max())
        m["t_eps"].append(int(np.argmax(run["fit"] <= 1e-8 * s1)))
    m["c1"] = min(m["c1_a"], m["c1_c"], m["c1_d"])
    m["k_ratio"] = k_ratio
    return m


def _lemma45_46(subject: Subject, ctx: Context, sim=None):
    m = lemma45_46_measure(_default_runs() if sim is None else thm45_runs(sim))
    ok = (m["pos"] and m["xi_mono"] and m["grow_lo"] >= 0.5 and m["grow_hi"] <= 1 + 1e-12
          and m["ratio_iv"] <= m["k_ratio"] and m["h_pos"] == 0 and m["c1"] > 0
          and max(m["t_eps"]) > 0)
    return CheckResult(
        "balance.mf_h_next", "simulation", "Lemmas 4.5-4.6, Thm 4.5 on simulated GD", m["c1"], 0.0,
        m["c1"], "c1 (> 0 asserted)", ok,
        detail=(f"{THM45['seeds']} runs, d = {THM45['d']}, c_init = {THM45['c_init']}, c_step = "
                f"{THM45['c_step']} (ours); T1 = {min(m['T1'])}..{max(m['T1'])} (T1: first t with "
                f"alpha^2 + beta^2 >= sigma1/10, as read); Lemma 4.5 (i) alpha, beta > 0: {m['pos']}; "
                f"(ii) xi_t <= xi_0 <= 100 c_init^2 sigma1: {m['xi_mono']}; (iii) growth of alpha + "
                f"beta per step in [{m['grow_lo']:.3f}, {m['grow_hi']:.6f}] c_step (asserted [1/2, 1]); "
                f"(iv) max |alpha - beta|/(alpha + beta) = {m['ratio_iv']:.3g} <= 99/101; Lemma 4.6 "
                f"(b) steps with h > 0: {m['h_pos']}; c1 implied by (a) {m['c1_a']:.3g}, (c) "
                f"{m['c1_c']:.3g}, (d) {m['c1_d']:.3g}; alpha/beta in stage 2 in "
                f"[{m['ab_lo']:.4f}, {m['ab_hi']:.4f}] (c0, C0); |u v^T - M*|_F <= 1e-8 sigma1 after "
                f"{min(m['t_eps'])}..{max(m['t_eps'])} steps"))


common.add("balance.mf_h_next", "simulation", "Lemmas 4.5-4.6, Thm 4.5 on simulated GD",
           _lemma45_46, independent=False)
