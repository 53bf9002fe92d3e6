"""Thesis Fig. 4.2 (seed 004, sec. 4.4): balancedness of a 3-layer ReLU network under GD.

f(x) = W3 relu(W2 relu(W1 x)), x in R^1000, W1: 100 x 1000, W2: 100 x 100, W3: 10 x 100; 1000
points; squared loss; GD for 10,000 iterations.  Balanced init: W1 ~ N(0, 1e-6), W2 ~
N(0, 1e-5), W3 ~ N(0, 1e-4) entries (so |W_h|_F^2 ~ 0.1 each; the OCR lost the first two
variances, these are the ones that make the squared norms equal); unbalanced: all N(0, 1e-4)
(|W1|^2 - |W2|^2 ~ 9, matching the thesis's "bounded by 9").  Data and step are not given: x_i ~
N(0, I_1000), targets y_i = a random ReLU teacher of the same shape plus nothing, scaled to
unit variance; loss 1/(2n) sum |f(x_i) - y_i|^2, eta = 0.05 (our choice).  The thesis reports
final squared norms 42.90, 43.76, 43.68 (balanced) and 55.50, 45.65, 45.46 (unbalanced); they
depend on the unreported data, so we compare the *pattern* (equal norms, differences fixed by
the initialization) and the measured drift against the derived per-step drift
eta^2 (|G_h|^2 - |G_{h+1}|^2) (Cor 4.1 under GD).  ``--quick`` scales the sizes down 10x.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..simulators import balance as B
from ._plotting import axis, save

NAME = "fig4_2"
DESCRIPTION = "Fig. 4.2: 3-layer ReLU net, balanced vs unbalanced init, layer norms over GD"
THESIS = {"balanced": [42.90, 43.76, 43.68], "unbalanced": [55.50, 45.65, 45.46]}
#: Where each "paper" number is printed (seed 004); everything else in the JSON is "ours".
THESIS_LINES = {"balanced": "004 l.4128 (final |W_h|_F^2 after 10,000 iterations)",
                "unbalanced": "004 l.4132-4133",
                "balanced_diff_bound": [0.14, "004 l.4129: |W1|^2 - |W2|^2 and |W2|^2 - |W3|^2 "
                                              "bounded by 0.14 in all iterations"],
                "unbalanced_diff_bound": [9, "004 l.4134"],
                "setting": "004 l.4122-4126: widths 1000-100-100-10, 1000 points, quadratic loss, "
                           "GD, 10,000 iterations; data, targets and step size are not stated"}
#: Labels of the JSON's numbers (issue 24: a number is "paper" only with its seed line).
LABELS = {"thesis": "paper, with THESIS_LINES", "thesis_lines": "paper (where printed)",
          "runs": "ours (measured)", "eta": "ours (not stated in the thesis)",
          "target_scale": "ours (targets' std, default 1; not stated in the thesis; std 4.9 "
                          "would be the value fitted to its final norms, by the degree-3 scaling)",
          "variances": "paper as read (the OCR lost two of the three balanced variances)",
          "diff_over_norm": "ours: max |W_h|^2 - |W_h+1|^2 over the run / mean final |W_h|^2, the "
                            "one number invariant under the unstated data scale (see report)",
          "thesis_diff_over_norm": "from paper numbers: 0.14 (l.4129) / mean of l.4128"}


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None, steps=None,
        eta: float = 0.05, target_scale: float = 1.0, inits=("balanced", "unbalanced")) -> dict:
    """``steps`` overrides the number of GD steps (the full setting: ~10 ms per step, 9 min in all
    on 2 cores); ``eta`` and ``target_scale`` (the targets' standard deviation) are the two
    quantities the thesis does not state; ``inits`` selects the runs."""
    n_steps = steps
    if quick:
        d, w, o, n, steps = 100, 20, 5, 100, 1500
    else:
        d, w, o, n, steps = 1000, 100, 10, 1000, 10000
    steps = n_steps or steps
    widths = (d, w, w, o)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((d, n))
    teacher = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
    Y = B.forward(teacher, X)[1][-1]
    Y *= target_scale / np.std(Y)
    scale = 1.0 / np.sqrt(n)          # loss 1/(2n) sum |.|^2 = 1/2 |(f - Y)/sqrt n|^2
    Xs, Ys = X * scale, Y * scale     # bias-free and homogeneous: f(X s) = s f(X)
    variances = {"balanced": (1e-6, 1e-5, 1e-4),
                 "unbalanced": (1e-4, 1e-4, 1e-4)}
    if quick:  # keep |W_h|^2 equal for the smaller sizes
        variances["balanced"] = (1e-4 * o / d, 1e-4 * o / w, 1e-4)
    runs = {}
    for key, var in ((k, v) for k, v in variances.items() if k in inits):
        if progress:
            progress(f"{NAME}: {key}, {steps} steps")
        Ws = [np.sqrt(v) * rng.standard_normal((b, a)) for v, (a, b) in
              zip(var, zip(widths[:-1], widths[1:]))]
        every = max(1, steps // 200)
        norms, loss, drift_err = [], [], 0.0
        pred = np.zeros(2)
        start = None
        for k in range(steps + 1):
            W1, G = B.gd_step(Ws, Xs, Ys, eta, "relu")
            nrm = B.layer_norms(Ws)
            if start is None:
                start = nrm[:2] - nrm[1:]
            if k % every == 0 or k == steps:
                norms.append(nrm)
                loss.append(B.loss(Ws, Xs, Ys, "relu"))
            drift = (nrm[:2] - nrm[1:]) - start
            drift_err = max(drift_err, float(np.max(np.abs(drift - pred))))
            if k == steps:
                break
            g2 = np.array([np.sum(g * g) for g in G])
            pred = pred + eta ** 2 * (g2[:2] - g2[1:])
            Ws = W1
        norms = np.array(norms)
        diffs = norms[:, :2] - norms[:, 1:]
        runs[key] = dict(every=every, norms=norms, loss=loss, final=norms[-1],
                         max_abs_diff=float(np.max(np.abs(diffs))),
                         diff_change=float(np.max(np.abs(diffs - diffs[0]))),
                         drift_vs_derived=drift_err, final_ratios=norms[-1][:2] / norms[-1][1:],
                         diff_over_norm=float(np.max(np.abs(diffs))) / float(np.mean(norms[-1])))
    out = dict(name=NAME, quick=quick, seed=seed, widths=widths, n=n, steps=steps, eta=eta,
               target_scale=target_scale,
               variances={k: list(v) for k, v in variances.items()}, runs=runs, thesis=THESIS,
               thesis_lines=THESIS_LINES, labels=LABELS,
               thesis_diff_over_norm=0.14 / float(np.mean(THESIS["balanced"])))
    return save(out_dir, NAME, out, _draw, ncols=2, title="Fig. 4.2: balancedness of a 3-layer ReLU net",
                params={"widths": list(widths), "n": n, "steps": steps, "eta": eta, "seed": seed})


def _draw(axes, out):
    for ax, (key, r) in zip(axes, out["runs"].items()):
        k = np.arange(len(r["norms"])) * r["every"]
        for h in range(3):
            ax.plot(k, np.array(r["norms"])[:, h], label=rf"$\|W_{h + 1}\|_F^2$")
        ax.set_title(f"{key} initialization", fontsize="medium")
        axis(ax, x=r"iteration $t$", y=r"squared Frobenius norm", legend=True)


def report(result: dict) -> str:
    lines = [f"{NAME}: widths {result['widths']}, n = {result['n']}, eta = {result['eta']}, "
             f"{result['steps']} steps (seed {result['seed']}{', quick' if result['quick'] else ''})",
             f"{'init':>11} {'|W1|^2':>8} {'|W2|^2':>8} {'|W3|^2':>8} {'max|diff|':>9} "
             f"{'diff change':>11} {'drift-derived':>13}  thesis"]
    for key, r in result["runs"].items():
        f = r["final"]
        lines.append(f"{key:>11} {f[0]:8.3f} {f[1]:8.3f} {f[2]:8.3f} {r['max_abs_diff']:9.3g} "
                     f"{r['diff_change']:11.3g} {r['drift_vs_derived']:13.2e}  "
                     + ", ".join(f"{v:.2f}" for v in result["thesis"][key]))
    if "balanced" not in result["runs"]:
        return "\n".join(lines)
    b = result["runs"]["balanced"]
    lines.append(
        "Thesis (paper, 004 l.4128-4134): balanced init keeps |W_h|^2 within 0.14 of each other "
        "(42.90, 43.76, 43.68: |42.90 - 43.76| = 0.86 contradicts the 0.14 unless 42.90 reads "
        "43.90, which gives exactly 0.14 -- an OCR or print slip); "
        "unbalanced keeps the initial differences (<= 9).  Measured: balanced final ratios "
        f"{', '.join(f'{v:.3f}' for v in b['final_ratios'])}; the layer differences change only by "
        "the accumulated eta^2 (|G_h|^2 - |G_h+1|^2), matching the derived drift to the column "
        "'drift-derived'.  Ours: absolute norms depend on the unreported data/targets/step "
        f"(target std {result.get('target_scale', 1.0)}, eta {result['eta']}).  For a bias-free "
        "ReLU net (homogeneous of degree 3), targets x s, weights x s^(1/3) and eta x s^(-4/3) map "
        "GD runs onto each other exactly, so every norm and difference scales by s^(2/3) and only "
        "max|diff| / |W_h|^2 is comparable: ours "
        f"{b['diff_over_norm']:.2%} vs the thesis's 0.14/43.45 = {result['thesis_diff_over_norm']:.2%}; "
        "that ratio is set by the step size (the drift is sum eta^2 (|G_h|^2 - |G_h+1|^2)).")
    return "\n".join(lines)
