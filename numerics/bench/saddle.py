"""Benchmarks of the saddle family (``nnderive bench``): exact GD at the scale of Figure 7.4.

* ``d = 10, L = e``: 20 starts of exact GD (about 3e7 iterations each) must finish in < 10 s;
* plain float64 GD per-iteration cost (batched over the 20 starts, measured on a prefix) and
  the implied time for the same number of iterations, as a speed ratio against exact GD;
  plain float64 GD cannot actually finish: it stalls after ~1075 steps (underflow);
* emitted ``saddle.grad`` throughput on a batch of points of D;
* the compiled octopus (``derivations/generated/saddle_numba.py``) against the NumPy backend:
  ``f``, ``grad`` at N = 1e5 points, ``hessian`` at N = 1e4, d = 10, and a single point
  (interleaved rounds, CPU time, best of 3 calls per round); target <= 0.5x (ours: the
  octopus is not a fused function, so no JAX or bare-loop anchor).
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import BenchRow
from ..simulators.saddle import Octopus
from ..simulators.saddle_gd import gd_exact, gd_float64


def run(quick: bool = False) -> list:
    rows = []
    L, gamma, tau, d, starts = math.e, 1.0, math.e, 10, 20
    rng = np.random.default_rng(0)
    X0 = rng.uniform(-1, 1, (starts, d))
    model = Octopus(L, gamma, tau)
    gd_exact(X0[0], L, gamma, tau, model=model)  # warm-up
    t0 = time.perf_counter()
    runs = [gd_exact(x, L, gamma, tau, model=model) for x in X0]
    t_exact = time.perf_counter() - t0
    iters = sum(r.steps for r in runs)
    rows.append(BenchRow(
        "saddle: exact GD, d=10, L=e, 20 starts", t_exact, "< 10 s", "s", t_exact < 10.0,
        f"{iters:.3e} GD iterations in total (median {np.median([r.steps for r in runs]):.3e} per start), "
        f"{iters / t_exact:.3e} iterations/s"))
    prefix = 200 if quick else 1000
    t0 = time.perf_counter()
    gd_float64(X0, L, gamma, tau, steps=prefix, model=model, every=prefix)
    per_iter = (time.perf_counter() - t0) / prefix  # one batched step of all 20 starts
    implied = per_iter * max(r.steps for r in runs)
    rows.append(BenchRow(
        "saddle: plain float64 GD vs exact (speed ratio)", implied / t_exact, "> 1", "x",
        implied > t_exact,
        f"float64 batched step {per_iter * 1e6:.1f} us; {max(r.steps for r in runs):.3e} steps would take "
        f"{implied:.0f} s (and stall after ~1075 steps by underflow); exact: {t_exact:.3f} s"))
    from derivations.generated.saddle import grad

    from ..checks.saddle import points_in_D

    P = points_in_D(np.random.default_rng(1), 20000 if not quick else 2000, d, tau)
    grad(P, L, gamma, tau)  # warm-up on the batch itself (under auto: Numba's import and kernel load)
    t0 = time.perf_counter()
    grad(P, L, gamma, tau)
    dt = time.perf_counter() - t0
    rows.append(BenchRow("saddle: emitted grad, d=10", len(P) / dt, "> 1e5", "points/s",
                         len(P) / dt > 1e5, f"{len(P)} points of D in {dt * 1e3:.1f} ms"))
    return rows + compiled_rows(quick)


def compiled_rows(quick: bool = False) -> list:
    """Compiled / NumPy backend for the octopus ``f``, ``grad``, ``hessian`` (d = 10)."""
    import importlib.util

    from derivations.generated import saddle
    from derivations.runtime import backend as _backend

    from . import interleaved, ratio_row
    from ..checks.saddle import points_in_D

    if importlib.util.find_spec("numba") is None:
        return [BenchRow("saddle: compiled rows", 0.0, "-", "", True, "skipped: numba not installed")]
    L, gamma, tau, d = math.e, 1.0, math.e, 10
    rng = np.random.default_rng(2)
    rows = []
    for name, n in (("f", 100_000), ("grad", 100_000), ("hessian", 10_000), ("grad", 1)):
        n = n if not quick or n == 1 else n // 20
        fn = getattr(saddle, name)
        pools = [points_in_D(rng, n, d, tau) for _ in range(2)]
        if n == 1:
            pools = [p[0] for p in pools]

        def side(backend, fn=fn):
            def call(x):
                with _backend.using(backend):
                    return fn(x, L, gamma, tau)
            return call

        cands = {"compiled": side("numba"), "NumPy backend": side("numpy")}
        assert np.array_equal(cands["compiled"](pools[0]), cands["NumPy backend"](pools[0]))
        t = interleaved(cands, rounds=5 if quick else 15, points=lambda r, pools=pools: (pools[r % 2],),
                        number=1 if n > 1 else 100, repeat=3)
        size = f"N={n:,}, d={d}" if n > 1 else f"one point, d={d}"
        rows.append(ratio_row(f"saddle: {name}, compiled / NumPy backend ({size})", t, "compiled",
                              "NumPy backend", 0.5, detail="results equal to the last bit"))
    return rows
