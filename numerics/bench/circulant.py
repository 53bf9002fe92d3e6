"""Benchmarks of the circulant family (``nnderive bench circulant``), n = 4096, d = 8.

* emitted Fourier loss + gradient vs the dense circulant model (dense matrices, reverse mode):
  target >= 100x;
* emitted loss + gradient vs the bare FFTs the computation needs (rfft of the d filters, x, y;
  irfft of the d gradient spectra): target within 3x.
"""
from __future__ import annotations

import time

import numpy as np

from . import BenchRow


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
    reps = 5 if quick else 20
    t_fft = _best(lambda: (G.loss(w, x, y), G.grad(w, x, y)), reps)

    def bare():
        A = np.fft.rfft(w, axis=-1)
        np.fft.rfft(x)
        np.fft.rfft(y)
        np.fft.irfft(A, n, axis=-1)

    t_bare = _best(bare, reps)
    t_dense = _best(lambda: (S.loss(w, x, y), S.grad(w, x, y)), 1)
    return [
        BenchRow("circulant: Fourier loss+grad vs dense, n=4096, d=8", t_dense / t_fft, ">= 100x",
                 "x", t_dense / t_fft >= 100,
                 f"emitted {t_fft * 1e3:.2f} ms, dense model {t_dense * 1e3:.0f} ms"),
        BenchRow("circulant: loss+grad / bare FFTs, n=4096, d=8", t_fft / t_bare, "<= 3x", "x",
                 t_fft / t_bare <= 3, f"emitted {t_fft * 1e3:.2f} ms, bare rfft/irfft {t_bare * 1e3:.2f} ms"),
    ]
