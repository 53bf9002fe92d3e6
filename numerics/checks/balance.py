"""Checks of the balance family (thesis ch. 4): every formula against an exact simulation of
one GD step (or an exact polynomial finite difference), plus symbolic proofs of Theorems 4.1,
4.2, 4.3 and numeric balance identities on networks of several shapes and activations."""
from __future__ import annotations

import numpy as np

from ..harness import Check, CheckResult, Context, Subject, consistency
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
        return CheckResult("balance.gd_neuron_drift", "symbolic", label,
                           "proved" if not bad else "fails", "sp.diff", float(len(bad)), "proof",
                           not bad, resolution=0.0, detail="; ".join(bad) or
                           "simplifies to 0 for arbitrary slopes per unit and a generic loss")
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
    return CheckResult("balance.gd_neuron_drift", "simulation", "Euler identity on networks",
                       worst, 0.0, worst, "rel", worst < 1e-12, resolution=1e-12,
                       detail=f"{n} hidden units, complex-step gradients, nets {_NETS}; "
                              "Thm 4.2 matrix identity on the linear net")


def _conv_numeric(subject: Subject, ctx: Context):
    rng = np.random.default_rng(5)
    n, worst = 6, 0.0
    for kind in ("relu", "leaky", "linear"):
        vs = [rng.standard_normal(3) for _ in range(3)]
        X, Y = rng.standard_normal((n, 5)), rng.standard_normal((n, 5))
        t = B.conv_euler_terms(vs, X, Y, kind)
        worst = max(worst, float(np.ptp(t) / np.max(np.abs(t))))
    return CheckResult("balance.gd_neuron_drift", "simulation",
                       "Thm 4.3: <v^h, dL/dv^h> equal over shared-weight layers", worst, 0.0,
                       worst, "rel", worst < 1e-12, resolution=1e-12,
                       detail="3-layer circular 1-D conv nets (taps 3, n = 6), relu/leaky/linear")


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
register(Check("balance.gd_neuron_drift", "simulation", "Euler identity on networks", _euler_numeric,
               independent=False))
register(Check("balance.gd_neuron_drift", "simulation", "Thm 4.3 on conv nets", _conv_numeric,
               independent=False))
register(Check("balance.gd_neuron_drift", "simulation", "Cor 4.1 drift order", _step_order))


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


register(Check("balance.gd_neuron_drift", "simulation", "Cor 4.1 gradient-flow limit", _flow_limit,
               independent=False))
