"""Benchmarks of the two-layer engine (issue 20).  Run with ``nnderive bench twolayer``.

1. Batched gradient of 500 parameter points at k = m = d = 20 (ReLU, fully connected) vs a
   per-point loop over the same closed form (one ``net.grad`` call per point, the way published
   code evaluates it); target >= 10x.
2. The dense Hessian at k = m = d = 100 (10^4 x 10^4), CPU time; target < 2 s.
3. The closed-form loss vs Monte Carlo of the network to 1% relative standard error, k = m = d =
   20: the MC sample size comes from a pilot's variance, its time from the pilot's time per
   sample; target >= 1e4x; also at the k = m = d = 7 spurious minimum of Safran & Shamir (a
   small loss with a large relative variance: where MC is needed least and costs most).
4. Hessian-vector product vs the dense Hessian at k = m = d = 100 (information: the HVP needs
   no 10^8-entry matrix).

JAX (jax.grad / jax.hessian of a jit-compiled closed form, the ``bench`` extra) is not compared
yet.  ``--quick``: smaller sizes.
"""
from __future__ import annotations

import time

import numpy as np

from derivations.twolayer import fully_connected
from numerics.simulators import twolayer as S

from . import BenchRow, interleaved, ratio_row


def _point(rng, k, m, d, batch=()):
    return (rng.standard_normal(batch + (k, d)) / np.sqrt(d), np.ones(batch + (k,)),
            rng.standard_normal((m, d)) / np.sqrt(d), np.ones(m))


def _cpu(fn, repeat=3):
    """Best CPU time (all threads) of ``repeat`` calls: other jobs on a shared machine do not
    inflate it (the bench's convention, see numerics.bench.interleaved)."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def run(quick: bool = False) -> list[BenchRow]:
    rows = []
    rng = np.random.default_rng(0)
    # 1. batched gradient vs per-point loop
    k = 20
    n = 100 if quick else 500
    net = fully_connected(k, k, k, "relu")
    W, a, V, b = _point(rng, k, k, k, (n,))

    def batched():
        return net.grad(W, a, V, b)

    def loop():
        return [net.grad(W[i], a[i], V, b) for i in range(n)]

    assert np.allclose(np.stack(loop()), batched(), rtol=1e-12, atol=1e-14)
    t = interleaved({"loop": loop, "batched": batched}, rounds=3 if quick else 7)
    rows.append(ratio_row(f"twolayer grad batched vs loop (k=m=d={k}, {n} points)", t, "loop",
                          "batched", 10.0, better=">=", detail="ReLU, fully connected"))
    # 2. Hessian at k = m = d = 100
    kh = 30 if quick else 100
    net_h = fully_connected(kh, kh, kh, "relu")
    Wh, ah, Vh, bh = _point(rng, kh, kh, kh)
    sec = _cpu(lambda: net_h.hessian(Wh, ah, Vh, bh), repeat=2)
    rows.append(BenchRow(f"twolayer Hessian k=m=d={kh} ({kh * kh}x{kh * kh})", sec, "< 2", "s",
                         sec < 2.0, "CPU time, best of 2 calls, dense float64 (..., P, P)"))
    # 3. closed form vs Monte Carlo to 1% relative SE
    net_m = fully_connected(k, k, k, "relu")
    Wm, am, Vm, bm = _point(rng, k, k, k)
    Wm = Vm + 0.3 * rng.standard_normal(Vm.shape) / np.sqrt(k)
    loss = net_m.loss(Wm, am, Vm, bm)
    pilot = 20_000 if quick else 200_000
    t0 = time.process_time()
    draws = S.loss_mc("relu", Wm, am, Vm, bm, np.random.default_rng(1), pilot)
    per_sample = (time.process_time() - t0) / pilot
    need = float((draws.std(ddof=1) / (0.01 * loss)) ** 2)
    mc_sec = need * per_sample
    cf_sec = _cpu(lambda: net_m.loss(Wm, am, Vm, bm), repeat=20)
    ratio = mc_sec / cf_sec
    rows.append(BenchRow(f"twolayer closed form vs MC to 1% SE (k=m=d={k})", ratio, ">= 1e+04",
                         "x", ratio >= 1e4,
                         f"MC needs {need:.3g} samples at {per_sample * 1e9:.0f} ns each "
                         f"({mc_sec:.3g} s, from a {pilot}-sample pilot); closed form "
                         f"{cf_sec * 1e3:.3f} ms (best of 20); loss {loss:.4g}"))
    Ws, as_, Vs, bs = S.safran_shamir_minimum()
    net7 = fully_connected(7, 7, 7, "relu")
    loss7 = net7.loss(Ws, as_, Vs, bs)
    t0 = time.process_time()
    draws = S.loss_mc("relu", Ws, as_, Vs, bs, np.random.default_rng(2), pilot)
    per7 = (time.process_time() - t0) / pilot
    need7 = float((draws.std(ddof=1) / (0.01 * loss7)) ** 2)
    cf7 = _cpu(lambda: net7.loss(Ws, as_, Vs, bs), repeat=20)
    r7 = need7 * per7 / cf7
    rows.append(BenchRow("twolayer closed form vs MC to 1% SE (k=m=d=7 spurious minimum)", r7,
                         ">= 1e+04", "x", r7 >= 1e4,
                         f"MC needs {need7:.3g} samples at {per7 * 1e9:.0f} ns each; closed form "
                         f"{cf7 * 1e3:.3f} ms; loss {loss7:.4g}"))
    # 4. HVP vs dense Hessian
    dW = rng.standard_normal(Wh.shape)
    hvp_sec = _cpu(lambda: net_h.hvp(Wh, ah, Vh, bh, dW), repeat=3)
    rows.append(BenchRow(f"twolayer HVP vs dense Hessian (k=m=d={kh})", sec / hvp_sec, "info",
                         "x", True, f"HVP {hvp_sec * 1e3:.1f} ms, Hessian {sec:.2f} s (CPU)"))
    return rows
