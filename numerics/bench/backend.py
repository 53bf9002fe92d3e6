"""Benchmarks of the compiled backend (issue 25).  Run with ``nnderive bench backend``.

``cnn.population_loss_and_grads`` (the fused CNN loss and both gradients, Theorem 5.1) on the
compiled (Numba) backend, measured side by side (interleaved rounds, both sides in one run,
CPU time, best of 3 calls per round: the machine is shared) against:

1. ``jax.jit(jax.vmap(jax.value_and_grad(loss)))`` of the same closed form (written in
   ``jax.numpy`` here, as a researcher would), float64 (``jax_enable_x64``), at N = 1e4, 1e5
   (p = 10, k = 8) and N = 1e5, p = 50, k = 25; target <= 0.8x;
2. a bare fused Numba loop of the same formula without input checks, edge series or careful
   paths (the floor: each input read once, each output written once, one arccos per row);
   target <= 1.3x;
3. its own input checks (the NumPy runtime's conversion, validation and batch shape): the time
   of the public call minus the time of the compiled core on already-checked arguments, as a
   share of the call, N = 1e5; target <= 10%;
4. the NumPy backend (for the record: the speed-up of the compiled one);
5. a single point (wall time, best of 7 x 2000 calls): no slower than the NumPy backend;
6. import + first call in a fresh interpreter with the kernel cache warm (target <= 0.5 s),
   and the cold cost (empty ``NUMBA_CACHE_DIR``) stated.

7. the same comparisons (1, 2, 4) for the fused/batched functions of filter, wn and kernels
   (:mod:`._backend_cases`, which also holds the hook for the emitted-JAX backend's rows).

Rows whose side is not installed (JAX, Numba) are skipped with a note.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from . import BenchRow, interleaved, ratio_row

from ._backend_cases import SIZES, _batch, _close, _have, bare_fused, jax_fused  # noqa: E402,F401


def speed_rows(quick: bool) -> list[BenchRow]:
    from derivations.runtime import backend as _backend
    from derivations.generated import cnn

    if not _have("numba"):
        return [BenchRow("backend: compiled rows", 0.0, "-", "", True, "skipped: numba not installed")]
    rounds = 5 if quick else 15
    sizes = ((2_000, 10, 8),) if quick else SIZES
    rng = np.random.default_rng(0)

    def compiled(*x):
        with _backend.using("numba"):
            return cnn.population_loss_and_grads(*x)

    def numpy_side(*x):
        with _backend.using("numpy"):
            return cnn.population_loss_and_grads(*x)

    from . import _backend_cases

    jx = jax_fused() if _have("jax") else None
    bare = bare_fused()
    extra = _backend_cases.emitted_jax_sides("cnn fused")  # the emitted-JAX backend (hook)
    rows = []
    for n, p, k in sizes:
        pools = [_batch(rng, n, p, k) for _ in range(3)]

        def pts(r, pools=pools):
            return pools[r % len(pools)]

        ref = numpy_side(*pts(0))
        cands = {"compiled": compiled, "bare Numba loop": bare, "NumPy backend": numpy_side}
        if jx is not None:
            cands["JAX jit(vmap(value_and_grad))"] = jx
        cands.update(extra)
        for name, fn in cands.items():
            _close(fn(*pts(0)), ref, name)
        t = interleaved(cands, rounds=rounds, points=pts, repeat=3)
        size = f"N={n:,}, p={p}, k={k}"
        if jx is not None:
            rows.append(ratio_row(f"backend: cnn fused, compiled / JAX ({size})", t, "compiled",
                                  "JAX jit(vmap(value_and_grad))", 0.8))
        else:
            rows.append(BenchRow(f"backend: cnn fused, compiled / JAX ({size})", 0.0, "<= 0.8", "x",
                                 True, "skipped: jax not installed"))
        rows.append(ratio_row(f"backend: cnn fused, compiled / bare Numba loop ({size})", t,
                              "compiled", "bare Numba loop", 1.3))
        rows.append(ratio_row(f"backend: cnn fused, compiled / NumPy backend ({size})", t,
                              "compiled", "NumPy backend", 1.0))
        for name in extra:
            if jx is not None:
                rows.append(ratio_row(f"backend: cnn fused, {name} / JAX autodiff ({size})", t,
                                      name, "JAX jit(vmap(value_and_grad))", math.inf))
    rows.append(check_cost_row(quick))
    rows.append(single_point_row())
    return rows + case_rows(quick)


def case_rows(quick: bool) -> list[BenchRow]:
    """The fused/batched functions of filter, wn and kernels (:mod:`._backend_cases`): compiled
    vs the JAX autodiff anchor (target <= 0.8), vs the bare loop (<= 1.3), vs NumPy (<= 1)."""
    from derivations.runtime import backend as _backend

    from . import _backend_cases as backend_cases

    rows = []
    rng = np.random.default_rng(3)
    for case, (sizes, batch, public, jax_side, bare_side) in backend_cases.CASES.items():
        def compiled(*x, public=public):
            with _backend.using("numba"):
                return public(*x)

        def numpy_side(*x, public=public):
            with _backend.using("numpy"):
                return public(*x)

        cands = {"compiled": compiled, "bare Numba loop": bare_side(), "NumPy backend": numpy_side}
        anchor = "JAX jit(vmap(autodiff))"
        if _have("jax"):
            cands[anchor] = jax_side()
        extra = backend_cases.emitted_jax_sides(case)
        cands.update(extra)
        for n, p in (((2_000, 10),) if quick else sizes):
            pools = [batch(rng, n, p) for _ in range(3)]

            def pts(r, pools=pools):
                return pools[r % len(pools)]

            ref = numpy_side(*pts(0))
            for name, fn in cands.items():
                _close(fn(*pts(0)), ref, f"{case}: {name}")
            t = interleaved(cands, rounds=5 if quick else 11, points=pts, repeat=3)
            size = f"N={n:,}, p={p}"
            if anchor in cands:
                rows.append(ratio_row(f"backend: {case}, compiled / JAX ({size})", t, "compiled",
                                      anchor, 0.8))
            else:
                rows.append(BenchRow(f"backend: {case}, compiled / JAX ({size})", 0.0, "<= 0.8",
                                     "x", True, "skipped: jax not installed"))
            rows.append(ratio_row(f"backend: {case}, compiled / bare Numba loop ({size})", t,
                                  "compiled", "bare Numba loop", 1.3))
            rows.append(ratio_row(f"backend: {case}, compiled / NumPy backend ({size})", t,
                                  "compiled", "NumPy backend", 1.0))
            for name in extra:
                if anchor in cands:
                    rows.append(ratio_row(f"backend: {case}, {name} / JAX autodiff ({size})", t,
                                          name, anchor, math.inf))
    return rows


def check_cost_row(quick: bool) -> BenchRow:
    """The share of a call spent before the kernel: conversion, checks, batch shape, dispatch,
    measured as the public call vs the compiled wrapper on the same checked arguments."""
    from derivations import runtime as _rt
    from derivations.runtime import backend as _backend
    from derivations.generated import cnn, cnn_numba

    n = 20_000 if quick else 100_000
    rng = np.random.default_rng(1)
    args = _batch(rng, n, 10, 8)
    names = ("v", "a", "w_star", "a_star")
    shape = _rt.batch_shape(*((nm, x, 1) for nm, x in zip(names, args)))

    def public(*x):
        with _backend.using("numba"):
            return cnn.population_loss_and_grads(*x)

    def core(*x):
        return cnn_numba.population_loss_and_grads(cnn._population_loss_and_grads_core, shape, *x)

    t = interleaved({"public": public, "kernel only": core}, rounds=5 if quick else 21,
                    points=lambda r: args, repeat=3)
    share = 1.0 - t["kernel only"].median / t["public"].median
    return BenchRow(f"backend: input checks' share of a compiled call (N={n:,}, p=10, k=8)",
                    share, "<= 0.1", "", share <= 0.1,
                    f"public {t['public'].median * 1e3:.3f} ms, compiled core on checked "
                    f"arguments {t['kernel only'].median * 1e3:.3f} ms; CPU time, best of 3")


def single_point_row() -> BenchRow:
    from derivations.runtime import backend as _backend
    from derivations.generated import cnn

    rng = np.random.default_rng(2)
    one = [x[0] for x in _batch(rng, 1, 10, 8)]
    best = {}
    for be in ("numba", "numpy", "numba", "numpy"):
        with _backend.using(be):
            cnn.population_loss_and_grads(*one)
            ts = []
            for _ in range(7):
                t0 = time.perf_counter()
                for _ in range(2000):
                    cnn.population_loss_and_grads(*one)
                ts.append((time.perf_counter() - t0) / 2000)
            best[be] = min(best.get(be, 1.0), min(ts))
    r = best["numba"] / best["numpy"]
    return BenchRow("backend: single point, compiled / NumPy backend (p=10, k=8)", r, "<= 1.0", "x",
                    r <= 1.0, f"compiled {best['numba'] * 1e6:.1f} us, NumPy {best['numpy'] * 1e6:.1f} us "
                    "per call; wall time, best of 7 x 2000 calls, twice each, alternating")


_FIRST = ("import time; t0 = time.perf_counter(); c0 = time.process_time(); import numpy as np; "
          "from derivations.generated.cnn import population_loss_and_grads as f; "
          "f(np.ones(10), np.ones(8), np.arange(1.0, 11.0), np.ones(8)); "
          "print(time.perf_counter() - t0, time.process_time() - c0)")


def first_call_row() -> BenchRow:
    if not _have("numba"):
        return BenchRow("backend: import + first compiled call", 0.0, "-", "s", True,
                        "skipped: numba not installed")
    env = dict(os.environ, NNDERIVE_BACKEND="numba")
    with tempfile.TemporaryDirectory() as tmp:
        cold_env = dict(env, NUMBA_CACHE_DIR=tmp)

        def once(e):  # (wall, CPU) seconds
            out = subprocess.run([sys.executable, "-c", _FIRST], capture_output=True, text=True,
                                 check=True, env=e).stdout.split()
            return float(out[-2]), float(out[-1])

        cold = once(cold_env)
        warm = [once(cold_env) for _ in range(3)]
    cpu = min(w[1] for w in warm)
    wall = min(w[0] for w in warm)
    return BenchRow("backend: import + first compiled call, warm kernel cache (CPU time)", cpu,
                    "<= 0.5", "s", cpu <= 0.5,
                    f"wall {wall:.2f} s (best of 3); cold (empty NUMBA_CACHE_DIR: compiles the "
                    f"kernel) {cold[1]:.2f} s CPU, {cold[0]:.2f} s wall; fresh interpreter, includes "
                    "importing NumPy and Numba; CPU time of the process (the machine is shared)")


def run(quick: bool = False) -> list[BenchRow]:
    from ._backend_jax import rows as jax_rows  # the emitted JAX backend's rows

    return speed_rows(quick) + [first_call_row()] + jax_rows(quick)
