"""Benchmarks of the ch. 5 dynamics (``nnderive bench cnn_dynamics``).

1. Table 5.1 wall time: the full 36-cell table (p = 6, 5000 initializations per cell, eta =
   0.1, 10000 iterations) with the emitted one-step recursions, target < 120 s on 2 cores; in
   ``quick`` mode one row (k = 100, 1000 runs per cell, 2000 iterations), target < 10 s.
2. One reduced GD step of a batch of 30000 runs (the four emitted recursions) vs one exact
   quadrature GD step of ONE run (numerics.simulators.cnn_gd): what the closed form buys.
"""
from __future__ import annotations

import time

import numpy as np

from . import BenchRow


def run(quick: bool = False) -> list[BenchRow]:
    from derivations.generated import cnn

    from ..experiments import table5_1 as T
    from ..simulators import cnn_gd as S

    rows = []
    t0 = time.perf_counter()
    if quick:
        rng = np.random.default_rng(0)
        T.simulate_k(100, T.RS, 1000, 6, rng, iters=2000)
        dt = time.perf_counter() - t0
        rows.append(BenchRow("table5_1 one row (k=100, 1000 runs/cell, 2000 steps)", dt,
                             "< 10 s", "s", dt < 10.0))
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            T.run(d)
        dt = time.perf_counter() - t0
        rows.append(BenchRow("table5_1 full (36 cells x 5000 runs, 10000 steps)", dt,
                             "< 120 s on 2 cores", "s", dt < 120.0))
    # 2. reduced batched step vs one exact quadrature step
    n = 30000
    rng = np.random.default_rng(1)
    st = (rng.uniform(0, np.pi, n), np.ones(n), rng.standard_normal(n), rng.standard_normal(n),
          1.0, np.full(n, 0.5), np.full(n, 1.0), 36, 0.1)
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        cnn.gd_next_angle(*st), cnn.gd_next_norm_v_sq(*st), cnn.gd_next_dot(*st), cnn.gd_next_sum(*st)
    t_batch = (time.perf_counter() - t0) / reps / n
    w_star, a_star = np.eye(6)[0], rng.standard_normal(36)
    v, a = rng.standard_normal(6), rng.standard_normal(36)
    S.gd_step(v, a, w_star, a_star, 0.1)
    t0 = time.perf_counter()
    for _ in range(5):
        S.gd_step(v, a, w_star, a_star, 0.1)
    t_quad = (time.perf_counter() - t0) / 5
    rows.append(BenchRow("exact quadrature GD step / emitted reduced step (per run)",
                         t_quad / t_batch, ">= 1e3", "x", t_quad / t_batch >= 1e3,
                         detail=f"{t_batch * 1e9:.0f} ns per run-step batched vs "
                                f"{t_quad * 1e3:.2f} ms per quadrature step"))
    return rows
