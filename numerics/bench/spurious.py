"""Benchmarks of the spurious-minima study (issue 21; ``nnderive bench spurious``).

1. Batched GD gradient vs a per-point NumPy loop of the same closed form, time per run-step
   (one gradient of one run) at several k (target >= 20x).  The per-point side is the strongest
   one-point NumPy code: all unit pairs of the point at once (clip/arccos angle,
   ``grad_u kappa = (|w| sin(phi) u/|u| + (pi - phi) w) / (2 pi)`` hand-written), called in a
   Python loop over the runs.  The batched side is the study's gradient on (R, k, k), R = 500
   (one k of the default study) stepped as the study steps it, in cache-sized chunks of runs
   (``spurious_minima.chunk_runs``): the stand-in :func:`numerics.relu_teacher.grad` and issue
   20's engine (when installed).
2. Growth with k of the batched step time per run (k = 6 .. 40), with the fitted exponent.
3. Iterations per run (median, measured at small k, power-law fit) and the estimates built from
   1-3: the default study (k = 6..20, 500 runs) on 2 workers, and k = 100 on N workers.

Times are CPU seconds of this process (``time.process_time``), so other jobs on a shared machine
inflate them less than wall time; still, the machine was loaded when the numbers in
docs/spurious_minima.md were taken.
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import BenchRow, interleaved

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


def _step_ratio(k: int, R: int, rounds: int, engine: str = "standin") -> BenchRow:
    from ..relu_teacher import network

    rng = np.random.default_rng(k)
    V, a = np.eye(k), np.ones(k)
    from ..experiments.spurious_minima import batched_grad, chunk_runs

    net, engine = network(k, k, k, engine)

    def grad(W, a, V, b):  # as the study steps a block: cache-sized chunks of runs
        return batched_grad(net, W, a, V, b, chunk_runs(k))

    def points(r):
        return (rng.standard_normal((R, k, k)) / math.sqrt(k),)

    W0 = points(0)[0]
    err = max(np.abs(per_point_grad(W0[i]) - grad(W0[i], a, V, a)).max() for i in range(3))
    t = interleaved({"batched": lambda W: grad(W, a, V, a),
                     "per_point": lambda W: [per_point_grad(w) for w in W]},
                    rounds=rounds, points=points)
    ratio = t["per_point"].median / t["batched"].median
    return BenchRow(f"spurious.gd_step_batched_vs_per_point_k{k}_{engine}", ratio, ">= 20x", "x",
                    ratio >= 20,
                    f"per run-step {t['batched'].median / R * 1e6:.1f} us batched (R={R}) vs "
                    f"{t['per_point'].median / R * 1e6:.1f} us per point; max |diff| {err:.1e}",
                    {"batched_s": t["batched"].median / R, "per_point_s": t["per_point"].median / R})


def _growth(ks, R: int, rounds: int) -> tuple[BenchRow, dict]:
    from ..experiments.spurious_minima import batched_grad, chunk_runs
    from ..relu_teacher import network

    per = {}
    for k in ks:
        rng = np.random.default_rng(k)
        W = rng.standard_normal((R, k, k)) / math.sqrt(k)
        V, a = np.eye(k), np.ones(k)
        net, _ = network(k, k, k, "standin")
        t = interleaved({"g": lambda: batched_grad(net, W, a, V, a, chunk_runs(k))},
                        rounds=rounds)
        per[k] = t["g"].median / R
    lk, lt = np.log(list(per)), np.log(list(per.values()))
    top = max(0, len(lk) - 3)  # the largest three k (per-call overhead fades there)
    slope = float(np.polyfit(lk[top:], lt[top:], 1)[0])
    detail = ", ".join(f"k={k}: {v * 1e6:.0f} us" for k, v in per.items())
    return BenchRow("spurious.step_time_growth_exponent", slope, "measured (k^3 expected)", "",
                    True, f"batched step per run: {detail}", {"per_run_step_s": per}), per


def _iterations(ks, R: int) -> dict:
    from ..experiments.spurious_minima import gd_block

    out = {}
    for k in ks:
        res = gd_block({"k": k, "block": 0, "n": R, "seed": 0, "tol": 1e-12, "cap": 50000,
                        "engine": "auto"})
        out[k] = (float(np.mean(res["iters"])), float(np.median(res["iters"])))
    return out


def run(quick: bool = False) -> list[BenchRow]:
    rows = []
    for k in ((6,) if quick else (6, 10, 20)):
        for engine in ("standin", "auto"):  # auto: issue 20's engine when installed
            rows.append(_step_ratio(k, 125 if quick else 500, 3 if quick else 5, engine))
    ks = (6, 10) if quick else (6, 10, 20, 30, 40)
    row, per = _growth(ks, 20 if quick else 100, 3 if quick else 5)
    rows.append(row)
    its = _iterations((6, 8) if quick else (6, 8, 10, 12), 10 if quick else 24)
    kk = np.array(list(its))
    mean_it = np.array([v[0] for v in its.values()])
    b = float(np.polyfit(np.log(kk), np.log(mean_it), 1)[0])
    a = float(np.log(mean_it[-1]) - b * np.log(kk[-1]))
    step_b = row.value

    def iters(k):
        return math.exp(a + b * math.log(k))

    def step(k):
        k0 = max(per)
        return per[k0] * (k / k0) ** step_b

    study = sum(500 * iters(k) * step(k) for k in range(6, 21)) / 2
    rows.append(BenchRow("spurious.iterations_growth_exponent", b, "measured", "", True,
                         "mean GD iterations per run: " + ", ".join(
                             f"k={k}: {v[0]:.0f} (median {v[1]:.0f})" for k, v in its.items()),
                         {"iterations": {str(k): v for k, v in its.items()}}))
    rows.append(BenchRow("spurious.default_study_estimate_2_workers", study, "< 600 s", "s",
                         study < 600,
                         "k = 6..20, 500 runs, GD only (certificates extra, ~1-4 s per distinct "
                         "minimum); iterations and step time extrapolated by the fitted power "
                         "laws; the tail of slow runs is not in the mean-iteration fit"))
    k100 = 500 * iters(100) * step(100)
    rows.append(BenchRow("spurious.k100_estimate_cpu_hours", k100 / 3600, "estimate", "h", True,
                         f"500 runs at k = 100: {k100 / 3600:.1f} CPU hours, "
                         f"{k100 / 3600 / 16:.2f} h on 16 workers, {k100 / 3600 / 64:.2f} h on 64 "
                         f"(step {step(100) * 1e3:.1f} ms per run, {iters(100):.0f} iterations)"))
    return rows
