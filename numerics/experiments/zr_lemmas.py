"""ZR Lemmas 1, 2, 6 and 8 (seed 003) measured on simulated GD of the normalization-free ResNet.

lambda_0 is the smallest eigenvalue of the infinite-width G^(H) conditional on the initial
features x^(H-1)(0) (``resnet.gram_H_inf``, derived; the supplement's K^(H) is defined in Du et
al., not in the file).  G^(H)(k) comes from the simulator's per-sample gradients w.r.t. W^(H)
(backprop with residual e_i), never from eq. (2).  Statements (003, with their lines):

* Lemma 1 (l.13-15): lambda_min(G^(H)(0)) >= 3/4 lambda_0 for m = Omega(n^2 log(Hn/delta)/lambda_0^2);
* Lemma 2 (l.17-19): lambda_min(G^(H)(k)) >= lambda_0/4; its proof's second point (l.113):
  |G^(H)(k) - G^(H)(0)|_2 <= lambda_0/2 while the weights moved by at most sqrt(m) R;
* G^(H)(k) carries the factor alpha_H(k)^2 of eq. (2); the drift with it divided out is reported
  next to the raw drift (alpha_H moves O(1) under GD whatever the width).
* Lemma 6 (l.39-41): |I_2(k)| = O(eta^2 |y - u(k)|), I_2 = u(k+1) - u(k) - I_1, I_1 = -eta J J^T (u - y);
* Lemma 8 (l.47-49): |u(k+1) - u(k)|^2 = O(eta^2 |y - u(k)|^2).

The O(.) claims are measured as scalings: the ratios at eta and eta/4 on the same initialization
agree (an O(eta) term would make them differ 4x).  Setting (ours: the supplement gives no
numbers): n = 4 unit inputs in R^3, y ~ N(0, 1), ReLU, H = 2, GD on all parameters, eta = 0.02,
10 steps, widths m = 256, 1024, 2048 (``--quick``: 64, 256).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import derivations as D

from ..simulators import resnet as S
from ._plotting import axis, save

NAME = "zr_lemmas"
DESCRIPTION = "ZR Lemmas 1, 2, 6, 8: lambda_min(G^(H)(k)) vs lambda_0 and the O(eta^2) terms on GD"
PAPER = {"lemma1": "3/4 lambda_0 (003 l.15)", "lemma2": "lambda_0/4 (003 l.19)",
         "lemma2_drift": "lambda_0/2 (003 l.113)", "lemma6": "O(eta^2 |y - u|) (003 l.41)",
         "lemma8": "O(eta^2 |y - u|^2) (003 l.49)"}


def gd_grams(n, d, m, H, eta, steps, seed):
    rng = np.random.default_rng(seed)
    X = S.unit_inputs(rng, n, d)
    y = rng.standard_normal(n)
    p = S.init(rng, d, m, H)
    out = []

    def rec(k, q, u):
        J, sl = S.output_jacobian(X, q)
        out.append(dict(u=u.copy(), J=J, GH=J[:, sl[H - 1]] @ J[:, sl[H - 1]].T,
                        xH1=S.forward(X, q)[0][H - 2], alphaH=float(q.alpha[-1])))
    S.gd(X, y, p, eta, steps, record=rec)
    return y, out


def lemma2_measure(y, out, H):
    x = out[0]["xH1"]
    K = np.asarray(D.get("resnet.gram_H_inf").numpy(x[:, None, :], x[None, :, :], 1.0, H))
    lam0 = float(np.linalg.eigvalsh(K)[0])
    lm = [float(np.linalg.eigvalsh(o["GH"])[0]) for o in out]
    drift = max(float(np.linalg.norm(o["GH"] - out[0]["GH"], 2)) for o in out)
    # G^(H) is proportional to alpha_H^2 (eq. (2)); alpha_H is trained and moves O(1) whatever m
    # (Lemma 3 allows |alpha(k) - alpha(0)| = O(1)): the drift with that factor divided out is the
    # part that width controls
    drift_a = max(float(np.linalg.norm(o["GH"] * (out[0]["alphaH"] / o["alphaH"]) ** 2
                                       - out[0]["GH"], 2)) for o in out)
    return dict(lambda0=lam0, ratio0=lm[0] / lam0, ratio_min=min(lm) / lam0, drift=drift / lam0,
                drift_alpha_removed=drift_a / lam0,
                alphaH_range=[min(o["alphaH"] for o in out), max(o["alphaH"] for o in out)],
                loss0=0.5 * float(np.sum((out[0]["u"] - y) ** 2)),
                loss_end=0.5 * float(np.sum((out[-1]["u"] - y) ** 2)))


def lemma68_ratios(y, out, eta):
    r8, r6 = 0.0, 0.0
    for o, o1 in zip(out[:-1], out[1:]):
        du = o1["u"] - o["u"]
        res = np.linalg.norm(y - o["u"])
        I1 = -eta * o["J"] @ o["J"].T @ (o["u"] - y)
        r8 = max(r8, float(du @ du) / (eta * res) ** 2)
        r6 = max(r6, float(np.linalg.norm(du - I1)) / (eta ** 2 * res))
    return r8, r6


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None) -> dict:
    n, d, H, eta, steps = 4, 3, 2, 0.02, 10
    widths = (64, 256) if quick else (256, 1024, 2048)
    rows = []
    for m in widths:
        if progress:
            progress(f"{NAME}: m = {m}")
        y, out = gd_grams(n, d, m, H, eta, steps, seed + 24)
        r = dict(m=m, **lemma2_measure(y, out, H))
        r8a, r6a = lemma68_ratios(y, out, eta)
        y4, out4 = gd_grams(n, d, m, H, eta / 4, steps, seed + 24)
        r8b, r6b = lemma68_ratios(y4, out4, eta / 4)
        r.update(lemma8=[r8a, r8b], lemma6=[r6a, r6b], lemma8_scaling=r8a / r8b,
                 lemma6_scaling=r6a / r6b, lemma1_holds=r["ratio0"] >= 0.75,
                 lemma2_holds=r["ratio_min"] >= 0.25, drift_holds=r["drift"] <= 0.5)
        rows.append(r)
    res = dict(name=NAME, quick=quick, seed=seed, n=n, d=d, H=H, eta=eta, steps=steps, rows=rows,
               paper=PAPER, labels={"paper": "the statement with its seed line",
                                    "ours": "every number measured here (setting ours)"})
    return save(out_dir, NAME, res, _draw, ncols=1, title="ZR Lemmas 1-2: lambda_min(G^(H)) / lambda_0",
                params={"n": n, "H": H, "eta": eta, "steps": steps, "widths": list(widths)})


def _draw(axes, res):
    ax = axes
    ms = [r["m"] for r in res["rows"]]
    ax.semilogx(ms, [r["ratio0"] for r in res["rows"]], "o-", label=r"$\lambda_{\min}(G(0))/\lambda_0$")
    ax.semilogx(ms, [r["ratio_min"] for r in res["rows"]], "s-", label=r"$\min_k \lambda_{\min}(G(k))/\lambda_0$")
    ax.semilogx(ms, [r["drift"] for r in res["rows"]], "^-", label=r"$\max_k\|G(k)-G(0)\|/\lambda_0$")
    for v in (0.75, 0.25, 0.5):
        ax.axhline(v, color="grey", lw=0.6, ls=":")
    axis(ax, x=r"width $m$", y=r"ratio to $\lambda_0$", legend=True)


def _where(res, key):
    ms = [str(r["m"]) for r in res["rows"] if r[key]]
    return "m = " + ", ".join(ms) if ms else "at no width run"


def report(res: dict) -> str:
    lines = [f"{NAME}: n = {res['n']}, H = {res['H']}, eta = {res['eta']}, {res['steps']} GD steps "
             f"(ours{', quick' if res['quick'] else ''})",
             f"{'m':>6} {'lambda_0':>9} {'G(0)/l0':>8} {'min G(k)/l0':>11} {'drift/l0':>9} "
             f"{'L8 eta,eta/4':>16} {'L6 eta,eta/4':>16} {'alpha_H range':>15} {'drift/a^2':>9}"]
    for r in res["rows"]:
        lines.append(f"{r['m']:6d} {r['lambda0']:9.4g} {r['ratio0']:8.4f} {r['ratio_min']:11.4f} "
                     f"{r['drift']:9.4f} {r['lemma8'][0]:7.3g},{r['lemma8'][1]:7.3g} "
                     f"{r['lemma6'][0]:7.3g},{r['lemma6'][1]:7.3g} "
                     f"{r['alphaH_range'][0]:7.3f},{r['alphaH_range'][1]:7.3f} "
                     f"{r['drift_alpha_removed']:9.4f}")
    lines.append("Paper: Lemma 1 >= " + PAPER["lemma1"] + "; Lemma 2 >= " + PAPER["lemma2"]
                 + "; proof: drift <= " + PAPER["lemma2_drift"] + "; Lemma 6 " + PAPER["lemma6"]
                 + "; Lemma 8 " + PAPER["lemma8"] + ".  Ours: the ratios above; the O(eta^2) "
                 "claims hold when the columns at eta and eta/4 agree (an O(eta) term gives 4x; "
                 "ReLU pattern changes between steps make Lemma 6's ratio noisy at small m).  "
                 "Widths where each holds: Lemma 1 "
                 + _where(res, "lemma1_holds") + "; Lemma 2 " + _where(res, "lemma2_holds")
                 + "; the proof's drift bound " + _where(res, "drift_holds")
                 + ".  G^(H) is proportional to alpha_H^2, and alpha_H is trained: it moves O(1) "
                 "whatever the width (Lemma 3 allows it), so Lemma 2 fails whenever alpha_H shrinks "
                 "enough; with alpha_H^2 divided out the drift (column drift/a^2) is what width "
                 "controls.  All widths are far below the lemmas' Omega(n^2 log(Hn/delta)/lambda_0^2).")
    return "\n".join(lines)
