"""Benchmark rows of the emitted JAX backend (issue 25, item 3), shown by ``nnderive bench
backend`` after the compiled (Numba) rows.

``cnn.population_loss_and_grads`` at the sizes of :data:`numerics.bench.backend.SIZES`, measured
side by side (interleaved rounds, CPU time, best of 3 calls per round; the machine is shared):

1. the emitted JAX functions called raw, ``jax.jit(jax.vmap(cnn_jax.population_loss_and_grads))``
   (what a user composing with JAX runs), against ``jax.jit(vmap(value_and_grad))`` of the typed
   closed form (:func:`numerics.bench.backend.jax_fused`): the cost of the hardening (edge
   series; the double-double near-parallel terms and refined squares only on the rows that need
   them, :func:`derivations.runtime.jax.point_function`) over plain autodiff; target <= 2; and,
   the branch-free row (every careful branch on every row: the raw functions before
   ``point_function``) against the raw call, target >= 1 (the split never slower);
2. the public function under ``set_backend("jax")`` (NumPy in, NumPy out: checks, broadcast,
   transfer, finiteness scan) against the raw call: the cost of the NumPy-facing wrapper;
3. the public function on JAX against the compiled (Numba) backend, for the record;
4. the first call (trace + XLA compile) of the fused function at one batch shape.

Skipped with a note when JAX is not installed.
"""
from __future__ import annotations

import time

import numpy as np

from . import BenchRow, interleaved, ratio_row


def rows(quick: bool = False) -> list[BenchRow]:
    from ._backend_cases import SIZES, _batch, _close, _have, jax_fused

    if not _have("jax"):
        return [BenchRow("backend: JAX rows", 0.0, "-", "", True, "skipped: jax not installed")]
    import jax

    from derivations.runtime import backend as _backend
    from derivations.generated import cnn, cnn_jax

    raw_fn = jax.jit(jax.vmap(cnn_jax.population_loss_and_grads))

    def raw(*x):
        r = raw_fn(*x)
        r[0].block_until_ready()
        return r

    def public(*x):
        with _backend.using("jax"):
            return cnn.population_loss_and_grads(*x)

    def numpy_side(*x):
        with _backend.using("numpy"):
            return cnn.population_loss_and_grads(*x)

    free_fn = jax.jit(jax.vmap(lambda *x: cnn_jax._population_loss_and_grads_row(*x)[:-1]))

    def branch_free(*x):
        r = free_fn(*x)
        r[0].block_until_ready()
        return r

    cands = {"emitted JAX, raw jit(vmap)": raw, "JAX backend (public)": public,
             "JAX jit(vmap(value_and_grad))": jax_fused(), "emitted JAX row, branch-free": branch_free}
    if _have("numba"):
        def compiled(*x):
            with _backend.using("numba"):
                return cnn.population_loss_and_grads(*x)

        cands["compiled (Numba)"] = compiled
    rng = np.random.default_rng(0)
    out = []
    sizes = ((2_000, 10, 8),) if quick else SIZES
    for n, p, k in sizes:
        pools = [_batch(rng, n, p, k) for _ in range(3)]

        def pts(r, pools=pools):
            return pools[r % len(pools)]

        ref = numpy_side(*pts(0))
        t0 = time.process_time()
        first = public(*pts(0))
        compile_s = time.process_time() - t0
        for name, fn in cands.items():
            _close(fn(*pts(0)), ref, name)
        _close(first, ref, "JAX backend, first call")
        t = interleaved(cands, rounds=5 if quick else 11, points=pts, repeat=3)
        size = f"N={n:,}, p={p}, k={k}"
        out.append(ratio_row(f"backend: cnn fused, emitted JAX raw / JAX autodiff ({size})", t,
                             "emitted JAX, raw jit(vmap)", "JAX jit(vmap(value_and_grad))", 2.0))
        out.append(ratio_row(f"backend: cnn fused, emitted JAX branch-free row / raw ({size})", t,
                             "emitted JAX row, branch-free", "emitted JAX, raw jit(vmap)", 1.0,
                             better=">=", detail="every careful branch on every row, as the raw "
                                                 "functions ran before the fast/careful split"))
        out.append(ratio_row(f"backend: cnn fused, JAX backend public / raw ({size})", t,
                             "JAX backend (public)", "emitted JAX, raw jit(vmap)", 2.0,
                             detail=f"first public call (trace + XLA compile) {compile_s:.2f} s CPU"))
        if "compiled (Numba)" in t:
            out.append(ratio_row(f"backend: cnn fused, JAX backend / compiled Numba ({size})", t,
                                 "JAX backend (public)", "compiled (Numba)", 10.0))
    return out
