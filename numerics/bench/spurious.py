"""Benchmarks of the spurious-minima study (issue 21, item 6; ``nnderive bench spurious``).

1. **Per run**, at several k: whole GD runs (Xavier start, step 5/k, to |grad|_F <= 1e-12) by
   the study's compiled loop (:mod:`numerics.spurious_gd`) against a per-point NumPy GD loop of
   the same closed form: ``W -= eta * net.grad(W, ...)`` in a Python loop, one run at a time,
   with issue 20's engine (``derivations.twolayer.fully_connected``) and with the stand-in
   (:mod:`numerics.relu_teacher`).  Both sides run the same runs to the same tolerance (their
   iteration counts are reported; they agree to a few steps, rounding differs).  Target >= 20x.
   For reference, the per-step ratio against the hand-written one-point NumPy gradient below
   (``per_point_grad``: clip/arccos angle, so it cannot reach 1e-12 near a global minimum; it
   is the arithmetic floor of one-point NumPy code, not a GD loop that converges).
2. **Growth with k**: CPU time per run (whole runs, a few per k) for k = 6 .. 40, the fitted
   exponent, and the estimate for k = 100 (500 runs) on N workers.
3. The compiled step time per run-step vs k.

Times are CPU seconds of this process (``time.process_time``); other jobs on a shared machine
inflate them less than wall time (the numbers in docs/spurious_minima.md were taken under load).
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import BenchRow

TAU = 2 * math.pi


def per_point_grad(W: np.ndarray) -> np.ndarray:
    """dL/dW at one point (V = I, a = b = 1), hand-written NumPy over all pairs of the point."""
    k = W.shape[0]
    Y = np.vstack([W, np.eye(k)])
    n = np.sqrt((Y * Y).sum(1))
    c = (W @ Y.T) / (n[:k, None] * n[None, :])
    np.clip(c, -1.0, 1.0, out=c)
    phi = np.arccos(c)
    s = np.sqrt(1 - c * c)
    sign = np.concatenate([np.ones(k), -np.ones(k)])
    A = np.broadcast_to(sign, (k, 2 * k)).copy()
    A[np.arange(k), np.arange(k)] = 0.0
    cu = A * n[None, :] * s / (TAU * n[:k, None])
    cw = A * (np.pi - phi) / TAU
    return (cu.sum(1) + 0.5)[:, None] * W + cw @ Y


def per_point_gd(net, W0: np.ndarray, tol: float = 1e-12, cap: int = 400000):
    """The baseline: one run of GD with ``net.grad`` called on one point per step."""
    k = W0.shape[0]
    W, V, o, eta = W0.copy(), np.eye(k), np.ones(k), 5.0 / k
    for t in range(cap + 1):
        g = net.grad(W, o, V, o)
        if math.sqrt(float(np.vdot(g, g))) <= tol:
            return W, t
        W -= eta * g
    return W, cap


def _compiled_runs(k: int, W0: np.ndarray, source: str = "twolayer"):
    from ..spurious_gd import descend

    descend(W0[:1], 1.0, np.eye(k), 1.0, 5.0 / k, 1e-12, 2, source)  # compiled beforehand
    t0 = time.process_time()
    W, iters, _ = descend(W0, 1.0, np.eye(k), 1.0, 5.0 / k, 1e-12, 400000, source)
    return time.process_time() - t0, W, iters


def _per_run(k: int, runs: int) -> BenchRow:
    """Whole runs: compiled loop vs the per-point NumPy loops (engine and stand-in)."""
    from ..experiments.spurious_minima import initial_points
    from ..relu_teacher import network

    W0 = initial_points(0, k, 0, runs)
    cpu, Wc, iters = _compiled_runs(k, W0)
    base = {}
    for engine in ("twolayer", "standin"):
        net, name = network(k, k, k, engine)
        t0 = time.process_time()
        out = [per_point_gd(net, w) for w in W0]
        base[name] = (time.process_time() - t0, np.array([o[1] for o in out]),
                      max(np.abs(o[0] - w).max() for o, w in zip(out, Wc)))
    eng = base.get("twolayer", base["standin"])
    ratio = eng[0] / cpu
    per_step = cpu / max(1, iters.sum())
    pp = np.random.default_rng(k).standard_normal((20, k, k)) / math.sqrt(k)
    t0 = time.process_time()
    for w in pp:
        per_point_grad(w)
    hand = (time.process_time() - t0) / len(pp)
    detail = (f"{runs} runs, mean {iters.mean():.0f} iterations (per-point loops: "
              + ", ".join(f"{n} {v[1].mean():.0f}" for n, v in base.items())
              + f"); per run: compiled {cpu / runs * 1e3:.1f} ms, "
              + ", ".join(f"per-point {n} {v[0] / runs * 1e3:.0f} ms ({v[0] / cpu:.1f}x)"
                          for n, v in base.items())
              + f"; max |end point diff| {max(v[2] for v in base.values()):.1e}; compiled "
              f"step {per_step * 1e6:.1f} us vs hand-written one-point gradient "
              f"{hand * 1e6:.1f} us ({hand / per_step:.1f}x)")
    return BenchRow(f"spurious.gd_per_run_compiled_vs_per_point_k{k}", ratio, ">= 20x", "x",
                    ratio >= 20, detail,
                    {"compiled_s_per_run": cpu / runs, "iterations": iters.tolist(),
                     "per_point_s_per_run": {n: v[0] / runs for n, v in base.items()},
                     "step_s": per_step, "hand_written_step_s": hand})


def _growth(ks, runs: int) -> tuple[BenchRow, dict]:
    """CPU time per whole run (compiled loop) vs k, and the per-step time."""
    from ..experiments.spurious_minima import initial_points

    per = {}
    for k in ks:
        W0 = initial_points(0, k, 0, runs)
        cpu, _, iters = _compiled_runs(k, W0)
        per[k] = {"s_per_run": cpu / runs, "mean_iterations": float(iters.mean()),
                  "max_iterations": int(iters.max()), "step_s": cpu / max(1, iters.sum())}
    kk = np.array(list(per), float)
    top = kk >= 10
    lt = np.log([v["s_per_run"] for v in per.values()])
    slope = float(np.polyfit(np.log(kk[top]), lt[top], 1)[0])
    s_it = float(np.polyfit(np.log(kk[top]),
                            np.log([v["mean_iterations"] for v in per.values()])[top], 1)[0])
    s_step = float(np.polyfit(np.log(kk[top]),
                              np.log([v["step_s"] for v in per.values()])[top], 1)[0])
    detail = "; ".join(f"k={k}: {v['s_per_run'] * 1e3:.0f} ms/run ({v['mean_iterations']:.0f} "
                       f"it, {v['step_s'] * 1e6:.1f} us/step)" for k, v in per.items())
    return BenchRow("spurious.time_per_run_growth_exponent", slope,
                    "measured (fit over k >= 10)", "", True,
                    f"time per run ~ k^{slope:.2f} (iterations ~ k^{s_it:.2f}, step ~ "
                    f"k^{s_step:.2f}); {detail}",
                    {"per_k": {str(k): v for k, v in per.items()}, "exponent": slope,
                     "iterations_exponent": s_it, "step_exponent": s_step}), per


def run(quick: bool = False) -> list[BenchRow]:
    rows = [_per_run(k, r) for k, r in (((6, 4),) if quick else
                                         ((6, 16), (10, 8), (14, 6), (20, 4)))]
    ks = (6, 10, 12) if quick else (6, 10, 15, 20, 25, 30, 35, 40)
    row, per = _growth(ks, 2 if quick else 4)
    rows.append(row)
    p = row.data["exponent"]
    k0 = max(per)
    t100 = per[k0]["s_per_run"] * (100 / k0) ** p
    hours = 500 * t100 / 3600
    rows.append(BenchRow("spurious.k100_estimate_cpu_hours", hours, "estimate", "h", True,
                         f"500 runs at k = 100: {t100:.0f} CPU s per run (k^{p:.2f} from "
                         f"k = {k0}), {hours:.1f} CPU hours = {hours / 2:.1f} h on 2 workers, "
                         f"{hours / 16:.2f} h on 16, {hours / 64:.2f} h on 64 (tasks are "
                         f"independent: use --block <= 500/N)"))
    return rows
