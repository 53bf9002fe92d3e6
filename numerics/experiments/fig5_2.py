"""Figure 5.2 (thesis ch. 5, l.5391; spec E5-F2): the four convergence measures of population
GD vs iteration, k = 20, p = 25, |w*| = 1, showing the two phases (a slow first phase while
the angle is large, then fast convergence).

Population GD with the emitted closed-form gradients ``cnn.grad_v``/``cnn.grad_a``
(Theorem 5.2, validated against Monte Carlo of the network and finite differences) on the full
vectors.  Unspecified in the thesis (our choices, from the spec's reproduction): a* Gaussian,
normalized to |a*| = 1 (seed 0); eta = 0.1; Theorem 5.4 initialization with the favourable
signs; 400 iterations.
"""
from __future__ import annotations

import math

import numpy as np

NAME = "fig5_2"
DESCRIPTION = "Thesis Fig. 5.2: angle, |a - a*|, |1^T(a - a*)| and loss vs iteration (k=20, p=25)"


def trajectory(k=20, p=25, eta=0.1, iters=400, seed=0, norm_a_star=1.0, signs="favourable"):
    from derivations.generated import cnn

    from ..simulators.cnn_gd import init

    rng = np.random.default_rng(seed)
    a_star = rng.standard_normal(k)
    a_star *= norm_a_star / np.linalg.norm(a_star)
    w_star = np.zeros(p)
    w_star[0] = 1.0
    v, a = init(rng, 1, p, w_star, a_star, signs=signs)
    v, a = v[0], a[0]
    rec = {"angle": [], "a_err": [], "sum_err": [], "loss": []}
    for _ in range(iters + 1):
        rec["angle"].append(math.acos(max(-1.0, min(1.0, v @ w_star / np.linalg.norm(v)))))
        rec["a_err"].append(float(np.linalg.norm(a - a_star)))
        rec["sum_err"].append(float(abs((a - a_star).sum())))
        rec["loss"].append(float(cnn.population_loss(v, a, w_star, a_star)))
        gv, ga = cnn.grad_v(v, a, w_star, a_star), cnn.grad_a(v, a, w_star, a_star)
        v, a = v - eta * gv, a - eta * ga
    return rec, float(a_star.sum() ** 2 / (a_star @ a_star))


def run(out_dir, quick=False, seed=0, progress=None):
    from ._plotting import save

    iters = 400  # quick too: the fast phase the caption describes starts near t = 200 (~0.1 s)
    rec, r = trajectory(iters=iters, seed=seed)
    marks = [t for t in (0, 10, 150, 200, 250, 300, 400) if t <= iters]
    result = {"name": NAME, "iters": iters, "r": r, "series": rec,
              "log_at": {m: {key: math.log(max(rec[key][m], 1e-300)) for key in rec}
                         for m in marks}}
    if progress:
        progress(f"final loss {rec['loss'][-1]:.3e}, angle {rec['angle'][-1]:.3e}")

    def draw(ax, out):
        t = np.arange(iters + 1)
        for key, lab in (("angle", r"$\phi^t$"), ("a_err", r"$\|\mathbf{a}^t-\mathbf{a}^*\|$"),
                         ("sum_err", r"$|\mathbf{1}^\top(\mathbf{a}^t-\mathbf{a}^*)|$"),
                         ("loss", r"$\ell(\mathbf{v}^t,\mathbf{a}^t)$")):
            ax.semilogy(t, np.maximum(rec[key], 1e-300), label=lab)
        ax.set_xlabel(r"iteration $t$")
        ax.set_ylabel("measure (log scale)")
        # beside the axes: inside, it covered the curves' slow phase
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  fontsize="small", frameon=False)

    return save(out_dir, NAME, result, draw,
                title="Fig. 5.2: population GD, two phases", figsize=(6.4, 3.6),
                params={"k": 20, "p": 25, "eta": 0.1, "norm_a_star": 1, "seed": seed})


def report(result) -> str:
    lines = [f"Fig. 5.2 reproduction (k=20, p=25, eta=0.1, |a*|=1, r={result['r']:.2f}); "
             "natural logs:"]
    lines.append("   t  " + "  ".join(f"{k:>9s}" for k in ("angle", "|a-a*|", "|1'(a-a*)|", "loss")))
    for t, d in result["log_at"].items():
        lines.append(f"{int(t):4d}  " + "  ".join(f"{d[k]:9.2f}" for k in
                                                 ("angle", "a_err", "sum_err", "loss")))
    lines.append("Thesis: |1'(a-a*)| and the loss drop in the first ~10 iterations, slow phase "
                 "to ~200, then fast convergence (spec E5-F2 table: angle 0.44 -> -7.79 at 400).")
    return "\n".join(lines)
