"""Thesis ch. 6 (seed 004, sec. 6.2-6.3) on simulated gradient descent: the slack of each stated
rate, step size and constant bound (issue 24 item 3; issue 20 item 6).

* **Theorem 6.2** (l.6228; proof l.6530; one neuron, Gaussian input): with ``phi0 = arcsin(|w0
  - w*| / |w*|)`` and ``eta <= min_{phi <= phi0} gamma(phi) / (2 (L(phi) + 4 beta)^2)`` (the
  OCR of the step size is garbled; this is the value the proof's last step needs, spec C6-7),
  ``|w_t - w*|^2 <= (1 - eta gamma(phi0) / 2)^t |w0 - w*|^2``.  gamma, L, beta are the derived
  ``filter.gamma``, ``filter.L``, ``filter.beta``; GD runs on the MODEL's population gradient by
  polar quadrature (:func:`numerics.simulators.filter.plane_moments`), never on the formula.
  Slack: ``max_t |w_t - w*|^2 / bound_t`` (<= 1 holds); the step-size condition's slack is the
  largest multiple of ``eta`` (of 1, 2, 4, ... 64) for which the rate still held.
* **Theorem 6.3** (l.6330; proof l.6590; k patches): premise ``gamma(phi0) > 6 L_cross``,
  ``eta <= min_{phi <= phi0} (gamma - 6 L_cross) / (2 (L + 10 L_cross + 4 beta)^2)`` (proof's
  last step), rate ``(1 - eta (gamma(phi0) - 6 L_cross) / 2)^t``.  The theorem holds for any
  patch distribution, so it is checked EXACTLY on the empirical distribution of a fixed sample of
  close unit patches (the Fig. 6.3b model; base spread sigma, closeness sigma_2): the constants
  of Assumptions 6.2-6.3 are computed on that sample (extrema over a grid of directions and
  angles) and full-batch GD runs on the same sample.
* **Theorem 6.3 under Gaussian input** (the two-layer engine's convolutional model): the premise
  ``gamma(phi0) > 6 L_cross`` with the derived constants of :mod:`derivations.twolayer.ch6`,
  for several patch structures.
* **Theorem 6.5** (l.6384; proof l.6880): ``gamma(phi0) >= gamma_avg(phi0) - 4 (1 - cos rho)``
  (``rho`` = the largest angle between a patch and the patches' average) and
  ``L_cross <= 3 L_mu`` (``L_mu``: the smallest constant with ``P[theta(Z_i, v) in [pi/2 -
  phi, pi/2 + phi]] <= L_mu phi`` for ``v = w*`` and the grid directions), on the same samples.
* **Corollary 6.1** is a check row (``filter.random_init`` in ``nnderive check filter``).

Theorem 6.4 (SGD with probability 1 - delta) is not simulated here.
"""
from __future__ import annotations

import math

import numpy as np

NAME = "ch6_rates"
DESCRIPTION = "Thesis Thms 6.2, 6.3, 6.5: slack of the rates and constants on simulated GD"

CROSS = (("++", "+-"), ("++", "-+"), ("+-", "-+"))


# --- Theorem 6.2 ----------------------------------------------------------------------------

def thm62_constants(p, phi0, grid=200):
    """``gamma(phi0)`` and the step size of Thm 6.2 from the derived filter formulas."""
    import derivations

    g, L = derivations.get("filter.gamma").numpy, derivations.get("filter.L").numpy
    beta = float(derivations.get("filter.beta").numpy(p))
    phis = np.linspace(0.0, phi0, grid)
    eta = float(np.min(g(phis) / (2 * (L(phis) + 4 * beta) ** 2)))
    return float(g(phi0)), eta, beta


def gd_quadrature(w0, w_star, eta, steps):
    """Squared distances of GD on the population loss of one neuron, gradients by polar
    quadrature of the network's integrand (the simulator)."""
    from ..simulators import filter as F

    w = np.array(w0, float)
    out = [float(np.sum((w - w_star) ** 2))]
    for _ in range(steps):
        w = w - eta * F.plane_moments(w, w_star)["grad"]
        out.append(float(np.sum((w - w_star) ** 2)))
    return np.array(out)


def rate_slack(dist2, contraction):
    """``max_{t >= 1} dist2_t / (contraction^t dist2_0)``: <= 1 iff the stated rate holds."""
    if contraction <= 0:  # a stated contraction <= 0 claims w_1 = w*
        return math.inf
    t = np.arange(1, len(dist2))
    with np.errstate(over="ignore", divide="ignore"):
        return float(np.max(dist2[1:] / (dist2[0] * contraction ** t)))


def log_rate_ratio(dist2, contraction):
    """The measured mean log-contraction over the run divided by the stated one (> 1: faster
    than stated)."""
    if not 0 < contraction < 1 or not np.isfinite(dist2[-1]) or dist2[-1] <= 0:
        return math.nan
    return float(math.log(dist2[-1] / dist2[0]) / (len(dist2) - 1) / math.log(contraction))


def thm62(quick=False, seed=0, rate_factor=1.0, step_factor=1.0):
    """Rows of Theorem 6.2 (``rate_factor``/``step_factor`` plant errors: a faster stated
    rate or a larger stated step)."""
    p, norm_star = 5, 1.5
    steps = 30 if quick else 300
    rng = np.random.default_rng([seed, 62])
    w_star = rng.standard_normal(p)
    w_star *= norm_star / np.linalg.norm(w_star)
    rows = []
    for ratio in ((0.5, 0.95) if quick else (0.3, 0.6, 0.9, 0.99)):
        e = rng.standard_normal(p)
        w0 = w_star + ratio * norm_star * e / np.linalg.norm(e)
        phi0 = math.asin(ratio)
        gam, eta, beta = thm62_constants(p, phi0)
        eta_run = eta * step_factor
        contraction = 1 - rate_factor * eta_run * gam / 2
        dist2 = gd_quadrature(w0, w_star, eta_run, steps)
        slack = rate_slack(dist2, contraction)
        mult = 1
        if step_factor == 1.0 and slack <= 1:
            for m in (2, 4, 8, 16, 32, 64):
                d2 = gd_quadrature(w0, w_star, eta * m, steps // 3 if quick else steps)
                if rate_slack(d2, 1 - eta * m * gam / 2) > 1:
                    break
                mult = m
        rows.append({"theorem": "6.2", "r0/|w*|": ratio, "phi0": phi0, "gamma(phi0)": gam,
                     "eta": eta_run, "beta": beta, "steps": steps, "slack": slack,
                     "holds": bool(slack <= 1 + 1e-12), "eta_multiple_still_holding": mult,
                     "final_dist2": float(dist2[-1]),
                     "bound_final": float(dist2[0] * contraction ** steps),
                     "rate_ratio": log_rate_ratio(dist2, contraction)})
    return rows


# --- Theorems 6.3 and 6.5 on the empirical distribution of close patches ----------------------

def empirical_moments(Z, w_star, W):
    """``E_n[Z_R Z_R'^T]`` over the sample ``Z (n, k, s)`` for directions ``W (T, D, s)``."""
    from derivations.twolayer.ch6 import PAIRS

    k, n = Z.shape[1], len(Z)
    ps = (Z @ w_star > 0)[None]
    M = {pr: [] for pr in PAIRS}
    for Wt in W:
        pw = np.einsum("nks,ds->dnk", Z, Wt) > 0
        reg = {"++": pw & ps, "+-": pw & ~ps, "-+": ~pw & ps}
        avg = {r: np.einsum("dnk,nks->dns", v.astype(float), Z) / k for r, v in reg.items()}
        for a, b in PAIRS:
            M[(a, b)].append(np.einsum("dna,dnb->dab", avg[a], avg[b]) / n)
    return {pr: np.stack(v) for pr, v in M.items()}


def empirical_constants(Z, w_star, phis, n_dir=24):
    """Assumptions 6.2-6.3 on the sample (``theta <= phi`` reading, grid extrema)."""
    from derivations.twolayer.ch6 import directions_at_angle

    W = directions_at_angle(w_star, phis, n_dir)
    M = empirical_moments(Z, w_star, W)
    e = np.linalg.eigvalsh(M[("++", "++")])
    gamma = np.minimum.accumulate(e[..., 0].min(1))
    L = np.maximum.accumulate(e[..., -1].max(1))
    minus = np.linalg.eigvalsh(M[("+-", "+-")])[..., -1].max(1)
    cross = sum(np.linalg.norm(M[pr], 2, axis=(-2, -1)) for pr in CROSS).max(1)
    half = phis <= math.pi / 2 + 1e-12
    return {"gamma": gamma, "L": L,
            "beta": float((np.maximum.accumulate(minus) / phis)[half].max()),
            "L_cross": float((np.maximum.accumulate(cross) / phis)[half].max()), "W": W}


PHIS = np.concatenate([[0.002, 0.005, 0.01], np.linspace(0.02, math.pi / 2, 30)])


def thm63(quick=False, seed=0, rate_factor=1.0, cases=None, n=20000, plant65=(0.0, 1.0)):
    """Rows of Theorem 6.3 on close patches (and the Theorem 6.5 bounds on the same samples).
    ``rate_factor`` and ``plant65 = (shift of the gamma bound, factor of 3 L_mu)`` plant errors
    in the stated rate and in Theorem 6.5's bounds."""
    from ..simulators import filter as F
    from .fig6_3b import close_patches

    s, k = 3, 4
    steps = 100 if quick else 1500
    w_star = np.eye(s)[0]
    rows = []
    for base, sigma2 in cases or ((0.5, 0.01), (0.5, 0.0), (1.0, 0.05)):
        rng = np.random.default_rng([seed, 63, int(1000 * sigma2), int(10 * base)])
        Z = close_patches(rng, n, k, w_star, max(sigma2, 1e-300), sigma=base)
        c = empirical_constants(Z, w_star, PHIS)
        ratio = 0.8
        phi0 = math.asin(ratio)
        i0 = int(np.searchsorted(PHIS, phi0))  # first grid angle >= phi0 (gamma at it is <=)
        gam0 = float(c["gamma"][i0])
        row = {"theorem": "6.3", "base_sigma": base, "sigma_2": sigma2, "k": k, "samples": n,
               "phi0": phi0, "gamma(phi0)": gam0, "L": float(c["L"][i0]), "beta": c["beta"],
               "L_cross": c["L_cross"], "premise": bool(gam0 > 6 * c["L_cross"])}
        # Theorem 6.5 on the same sample
        avg = Z.mean(1)
        cosang = np.einsum("nks,ns->nk", Z, avg) / np.linalg.norm(avg, axis=1)[:, None]
        rho = float(np.arccos(np.clip(cosang.min(), -1, 1)))
        Wg = c["W"][: i0 + 1]
        pw = np.einsum("ns,tds->tdn", avg, Wg) > 0
        sel = (pw & (avg @ w_star > 0)[None, None]).astype(float)
        Mavg = np.einsum("tdn,na,nb->tdab", sel, avg, avg) / n
        gam_avg = float(np.linalg.eigvalsh(Mavg)[..., 0].min())
        angles_star = np.arccos(np.clip(Z @ w_star, -1, 1)).ravel()
        Lmu = 0.0
        for v_ang in [angles_star] + [np.arccos(np.clip(np.einsum("nks,s->nk", Z, v), -1, 1)
                                                 ).ravel() for v in c["W"][i0][::6]]:
            dev = np.sort(np.abs(v_ang - math.pi / 2))
            frac = np.searchsorted(dev, PHIS, side="right") / len(dev)
            Lmu = max(Lmu, float(np.max(frac / PHIS)))
        row.update({"rho": rho, "gamma_avg(phi0)": gam_avg,
                    "thm65_gamma_bound": gam_avg - 4 * (1 - math.cos(rho)),
                    "thm65_gamma_slack": gam0 - (gam_avg - 4 * (1 - math.cos(rho)) + plant65[0]),
                    "L_mu": Lmu, "thm65_Lcross_slack": 3 * plant65[1] * Lmu - c["L_cross"]})
        row["thm65_holds"] = bool(row["thm65_gamma_slack"] >= -1e-12
                                  and row["thm65_Lcross_slack"] >= 0)
        if row["premise"]:
            lo = np.where(PHIS <= PHIS[i0])[0]
            eta = float(np.min((c["gamma"][lo] - 6 * c["L_cross"])
                               / (2 * (c["L"][lo] + 10 * c["L_cross"] + 4 * c["beta"]) ** 2)))
            contraction = 1 - rate_factor * eta * (gam0 - 6 * c["L_cross"]) / 2
            e = np.array([0.0, 1.0, 0.3])
            e -= (e @ w_star) * w_star
            # a start at distance ratio |w*|, on the sphere: w0 = w* + ratio (cos a w* + sin a e)
            w0 = w_star + ratio * (-0.5 * w_star + math.sqrt(0.75) * e / np.linalg.norm(e))
            w = w0.copy()
            dist2 = [float(np.sum((w - w_star) ** 2))]
            for _ in range(steps):
                w = w - eta * F.conv_per_sample_grad(Z, w, w_star).mean(0)
                dist2.append(float(np.sum((w - w_star) ** 2)))
            dist2 = np.array(dist2)
            slack = rate_slack(dist2, contraction)
            row.update({"eta": eta, "steps": steps, "slack": slack,
                        "holds": bool(slack <= 1 + 1e-12), "final_dist2": float(dist2[-1]),
                        "bound_final": float(dist2[0] * contraction ** steps),
                        "rate_ratio": log_rate_ratio(dist2, contraction)})
        rows.append(row)
    return rows


def gaussian_premise(structures=((5, 3, 1), (6, 3, 1), (6, 2, 1), (7, 3, 2), (6, 3, 3)),
                     phis=None):
    """Theorem 6.3's premise with the derived Gaussian constants of the engine's conv model."""
    from derivations.twolayer import ch6

    phis = np.linspace(0.05, math.pi / 2, 12) if phis is None else phis
    rows = []
    for d, s, st in structures:
        pats = ch6.conv_patches(d, s, st)
        w_star = np.ones(s) / math.sqrt(s)
        c = ch6.constants(w_star, d, pats, phis, n_dir=16)
        rows.append({"theorem": "6.3 (Gaussian)", "d": d, "patch": s, "stride": st,
                     "k": len(pats), "gamma(0.05)": float(c["gamma"][0]),
                     "L": float(c["L"][-1]), "beta": c["beta"], "L_cross": c["L_cross"],
                     "6 L_cross / gamma(0.05)": 6 * c["L_cross"] / float(c["gamma"][0]),
                     "premise_at_some_phi0": bool(np.any(c["gamma"] > 6 * c["L_cross"]))})
    return rows


#: the --quick sizes (tests shrink them further)
QUICK = {"thm63": {"cases": ((0.5, 0.01), (0.5, 0.0))},
         "gaussian": {"structures": ((5, 3, 1), (6, 3, 3))}}


def run(out_dir, quick=False, seed=0, progress=None):
    from ._plotting import save

    result = {"name": NAME}
    q = QUICK if quick else {}
    for key, fn in (("thm62", lambda: thm62(quick, seed)),
                    ("thm63", lambda: thm63(quick, seed, **q.get("thm63", {}))),
                    ("gaussian", lambda: gaussian_premise(**q.get("gaussian", {})))):
        result[key] = fn()
        if progress:
            progress(f"{key}: done")
    result["all_hold"] = bool(all(r["holds"] for r in result["thm62"])
                              and all(r.get("holds", True) and r["thm65_holds"]
                                      for r in result["thm63"]))
    return save(out_dir, NAME, result, None, title="Thesis ch. 6 rates on simulated GD",
                params={"quick": quick, "seed": seed})


def report(result) -> str:
    out = ["Theorem 6.2 (one neuron, Gaussian; GD on quadrature gradients): slack = max_t "
           "|w_t - w*|^2 / bound_t (<= 1 holds)"]
    for r in result["thm62"]:
        out.append(f"  r0/|w*| = {r['r0/|w*|']:.2f}: eta = {r['eta']:.4g}, slack {r['slack']:.3g}"
                   f" ({'holds' if r['holds'] else 'FAILS'}), measured/stated log-rate "
                   f"{r['rate_ratio']:.3g}; rate still held at "
                   f"{r['eta_multiple_still_holding']}x the step-size bound")
    out.append("Theorem 6.3 on the empirical distribution of close patches (Fig. 6.3b model), "
               "Theorem 6.5's bounds on the same samples")
    for r in result["thm63"]:
        line = (f"  base sigma {r['base_sigma']}, sigma_2 {r['sigma_2']}: gamma(phi0) "
                f"{r['gamma(phi0)']:.4g}, 6 L_cross {6 * r['L_cross']:.4g} -> premise "
                f"{r['premise']}")
        if r["premise"]:
            line += (f"; eta {r['eta']:.3g}, rate slack {r['slack']:.3g} "
                     f"({'holds' if r['holds'] else 'FAILS'}), measured/stated log-rate "
                     f"{r['rate_ratio']:.3g}")
        line += (f"; Thm 6.5 ({'holds' if r['thm65_holds'] else 'FAILS'}): rho {r['rho']:.3g}, "
                 f"gamma - bound {r['thm65_gamma_slack']:.3g}, 3 L_mu - L_cross "
                 f"{r['thm65_Lcross_slack']:.3g}")
        out.append(line)
    out.append("Theorem 6.3's premise gamma(phi0) > 6 L_cross under Gaussian input (derived "
               "constants, engine's conv model)")
    for r in result["gaussian"]:
        out.append(f"  d={r['d']} patch {r['patch']} stride {r['stride']} (k={r['k']}): "
                   f"6 L_cross / gamma(0.05) = {r['6 L_cross / gamma(0.05)']:.3g}; premise "
                   f"{'holds' if r['premise_at_some_phi0'] else 'fails'} for every phi0")
    return "\n".join(out)
