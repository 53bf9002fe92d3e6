"""Benchmarks of the circulant family (``nnderive bench circulant``), n = 4096, d = 8.

* emitted Fourier loss + gradient (the fused ``loss_and_grads``) vs the dense circulant model
  (dense matrices, reverse mode): target >= 100x (wall time, best of a few calls);
* the fused ``loss_and_grads`` vs the bare FFTs the computation needs (rfft of the d filters, x,
  y; irfft of the d gradient spectra): target within 3x, timed by :func:`interleaved` (CPU time,
  median of alternating rounds); the two separate calls ``loss`` + ``grad`` are timed alongside
  for comparison (in the row's detail and JSON).
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
    ]
