"""Benchmarks of the circulant family (``nnderive bench circulant``), n = 4096, d = 8.

* emitted Fourier loss + gradient (the fused ``loss_and_grads``) vs the dense circulant model
  (dense matrices, reverse mode): target >= 100x (wall time, best of a few calls);
* the fused ``loss_and_grads`` vs the bare FFTs the computation needs (rfft of the d filters, x,
  y; irfft of the d gradient spectra): target within 3x, timed by :func:`interleaved` (CPU time,
  median of alternating rounds); the two separate calls ``loss`` + ``grad`` are timed alongside
  for comparison (in the row's detail and JSON);
* ``grad``, ``grad_p`` and ``cn_grad_w`` with their compiled per-frequency spectra
  (``derivations/generated/circulant_fft_numba.py``) vs the NumPy backend at ``dh_fig4``'s size
  (2000 draws, d = 6, n = 100; interleaved, CPU time): target <= 1x, i.e. the compiled path must
  pay where ``auto`` picks it (measured 0.48-0.49x for ``grad`` and ``grad_p``; 0.73x for
  ``cn_grad_w``, 0.83x at 200 draws: its channel-normalization prologue, z and |z|, the FFTs,
  the exclusive products and the checks stay NumPy's in both).
"""
from __future__ import annotations

import time

import numpy as np

from . import BenchRow, interleaved, ratio_row


def _best(fn, reps):
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(quick: bool = False) -> list:
    from derivations.generated import circulant as G

    from ..simulators import circulant as S

    n, d = 4096, 8
    rng = np.random.default_rng(0)
    w, x, y = rng.standard_normal((d, n)) / np.sqrt(n), rng.standard_normal(n), rng.standard_normal(n)

    def bare():
        A = np.fft.rfft(w, axis=-1)
        np.fft.rfft(x)
        np.fft.rfft(y)
        np.fft.irfft(A, n, axis=-1)

    t = interleaved({"fused loss_and_grads": lambda: G.loss_and_grads(w, x, y),
                     "separate loss+grad": lambda: (G.loss(w, x, y), G.grad(w, x, y)),
                     "bare FFTs": bare}, rounds=10 if quick else 40, number=3)
    sep = t["separate loss+grad"]
    fft_row = ratio_row("circulant: fused loss_and_grads / bare FFTs, n=4096, d=8", t,
                        "fused loss_and_grads", "bare FFTs", 3.0, "<=",
                        detail=(f"separate loss+grad {sep.median * 1e3:.3f} ms = "
                                f"{sep.median / t['bare FFTs'].median:.1f}x bare"))
    fft_row.data["separate loss+grad"] = {"median": sep.median, "q1": sep.q1, "q3": sep.q3}
    t_fft = _best(lambda: G.loss_and_grads(w, x, y), 5 if quick else 20)
    t_dense = _best(lambda: (S.loss(w, x, y), S.grad(w, x, y)), 1)
    return [
        BenchRow("circulant: fused Fourier loss+grad vs dense, n=4096, d=8", t_dense / t_fft,
                 ">= 100x", "x", t_dense / t_fft >= 100,
                 f"emitted loss_and_grads {t_fft * 1e3:.2f} ms, dense model {t_dense * 1e3:.0f} ms (wall, best)"),
        fft_row,
    ] + compiled_rows(quick)


def compiled_rows(quick: bool = False) -> list:
    """Compiled / NumPy backend for the three functions with a compiled spectrum."""
    import importlib.util

    from derivations.generated import circulant as G
    from derivations.runtime import backend as _backend

    if importlib.util.find_spec("numba") is None:
        return [BenchRow("circulant: compiled rows", 0.0, "-", "", True, "skipped: numba not installed")]
    B, d, n = (200, 6, 100) if quick else (2000, 6, 100)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n)
    x -= x.mean()
    y = rng.standard_normal(n)
    pools = [rng.standard_normal((B, d, n)) / n for _ in range(2)]
    rows = []
    for name, call, target in (("grad", lambda w: G.grad(w, x, y), 1.0),
                               ("grad_p", lambda w: G.grad_p(w, x, y, 9), 1.0),
                               ("cn_grad_w", lambda w: G.cn_grad_w(w, 1.0, x, y), 1.0)):
        def side(backend, call=call):
            def run_(w):
                with _backend.using(backend):
                    return call(w)
            return run_

        cands = {"compiled": side("numba"), "NumPy backend": side("numpy")}
        assert np.array_equal(cands["compiled"](pools[0]), cands["NumPy backend"](pools[0]))
        t = interleaved(cands, rounds=5 if quick else 15, points=lambda r: (pools[r % 2],), repeat=3)
        rows.append(ratio_row(f"circulant: {name}, compiled / NumPy backend ({B} draws, d={d}, n={n})",
                              t, "compiled", "NumPy backend", target, detail="results equal to the last bit"))
    return rows
