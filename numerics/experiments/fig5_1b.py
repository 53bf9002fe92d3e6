"""Figure 5.1b (thesis ch. 5; spec E5-F2 last item): a success and a failure of population GD
from two sign choices of ONE Theorem 5.4 initialization: log prediction error (population loss)
over 500 iterations.

Parameters (not given in the thesis; ours): p = 6, k = 25, |w*| = 1, a* with r = 0.05 < r_c(25) =
8.64 (so the phi = pi stationary point is a spurious local minimum), |a*| = 1, eta = 0.1.  The
two runs start from (v, a) and (-v, -a) of one draw.  Emitted closed-form gradients
(Theorem 5.2) on the full vectors.
"""
from __future__ import annotations

import math

import numpy as np

NAME = "fig5_1b"
DESCRIPTION = "Thesis Fig. 5.1b: success and failure runs from two sign choices of one init"


def _run(v, a, w_star, a_star, eta, iters):
    from derivations.generated import cnn

    loss, angle = [], []
    for _ in range(iters + 1):
        loss.append(float(cnn.population_loss(v, a, w_star, a_star)))
        angle.append(math.acos(max(-1.0, min(1.0, v @ w_star / np.linalg.norm(v)))))
        v, a = (v - eta * cnn.grad_v(v, a, w_star, a_star),
                a - eta * cnn.grad_a(v, a, w_star, a_star))
    return loss, angle


def run(out_dir, quick=False, seed=0, progress=None):
    from derivations.generated import cnn

    from ..simulators.cnn_gd import init
    from ._plotting import save
    from .table5_1 import teacher

    p, k, r, eta = 6, 25, 0.05, 0.1
    iters = 100 if quick else 500
    rng = np.random.default_rng(seed)
    a_star = teacher(rng, k, r, 1.0)
    w_star = np.eye(p)[0]
    v, a = init(rng, 1, p, w_star, a_star, signs="favourable")
    runs = {}
    for label, s in (("(+v, +a)", 1.0), ("(-v, -a)", -1.0)):
        loss, angle = _run(s * v[0], s * a[0], w_star, a_star, eta, iters)
        runs[label] = {"loss": loss, "angle": angle, "success": angle[-1] < math.pi / 2}
    sp_loss = float(cnn.spurious_min_loss(w_star, a_star))
    result = {"name": NAME, "runs": runs, "spurious_min_loss": sp_loss, "iters": iters,
              "r": r, "r_c": float(cnn.spurious_threshold(k))}
    if progress:
        progress(", ".join(f"{k}: final loss {v['loss'][-1]:.3e}" for k, v in runs.items()))

    def draw(ax, out):
        for lab, rr in runs.items():
            ax.semilogy(np.maximum(rr["loss"], 1e-300),
                        label=f"{lab}: {'success' if rr['success'] else 'failure'}")
        ax.axhline(sp_loss, ls=":", color="k", label=r"$\ell$ at the $\phi=\pi$ point")
        ax.set_xlabel(r"iteration $t$")
        ax.set_ylabel(r"$\ell(\mathbf{v}^t,\mathbf{a}^t)$")
        ax.legend()

    return save(out_dir, NAME, result, draw, title="Fig. 5.1b: two sign choices of one init",
                params={"p": p, "k": k, "r": r, "eta": eta, "seed": seed})


def report(result) -> str:
    lines = [f"Fig. 5.1b reproduction (p=6, k=25, r={result['r']} < r_c={result['r_c']:.2f}):"]
    for lab, rr in result["runs"].items():
        lines.append(f"  {lab}: {'success' if rr['success'] else 'failure'}; loss "
                     f"{rr['loss'][0]:.4f} -> {rr['loss'][-1]:.3e}, angle {rr['angle'][-1]:.4f}")
    lines.append(f"  loss at the spurious (phi = pi) point, derived: {result['spurious_min_loss']:.6f}")
    lines.append("Thesis: one run converges to the global minimum, the other to the spurious "
                 "local minimum (slow first ~50 iterations).")
    return "\n".join(lines)
