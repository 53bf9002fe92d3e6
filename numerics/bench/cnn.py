"""Benchmarks of the CNN family (Theorems 5.1, 5.2).  Run with ``nnderive bench cnn``.

1. Emitted vs minimal hand-written NumPy, every formula of Theorems 5.1/5.2 (A, B, the loss, its
   gradients, the unnormalized loss and gradient) and the fused ``population_loss_and_grads``,
   on batches of random parameter points (every argument batched), timed by the shared
   interleaved timer (target <= 1.1x each).
2. The fused function vs the three separate emitted calls (it shares norms, angle, CSE).
3. Closed form (fused loss + both gradients, one point) vs Monte Carlo of the network to 1%
   relative standard error, over random points (target >= 1e4 at the worst point).
4. Import + first call of the emitted module in a fresh interpreter (target < 0.3 s).

The hand-written side is what a careful person writes: trig-free (``c`` and ``sqrt(1 - c^2)``,
no ``cos(arccos(c))``), einsum dot products, no validation.  It has no careful path: its
results are compared with the emitted ones at these (generic) points only.
"""
from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np

from . import BenchRow, interleaved, ratio_row
from ..simulators import cnn as sim

P, K = 5, 4
PI = np.pi


def _d(x, y):
    """Row inner products.  For these short rows (p = 5, k = 4) the products of a block of rows
    with their columns added in order (= ``np.sum(x * y, axis=-1)``) are about 1.5x as fast as
    ``einsum``; the emitted code's runtime does the same, so the hand-written side gets it too
    (strongest baseline)."""
    n, p = x.shape
    out = np.empty(n)
    rows = 2**16 // p
    buf = np.empty((min(rows, n), p))
    for i in range(0, n, rows):
        b = buf[: min(n, i + rows) - i]
        np.multiply(x[i:i + rows], y[i:i + rows], out=b)
        o = out[i:i + rows]
        np.add(b[:, 0], b[:, 1], out=o)
        for k in range(2, p):
            o += b[:, k]
    return out


def _sum(x):
    """Row sums by a BLAS matrix-vector product (much faster than ``x.sum(-1)`` for short rows;
    the emitted code does the same, so the hand-written side gets it too)."""
    return x @ np.ones(x.shape[-1])


def _angle(v, ws):
    nv, ns = np.sqrt(_d(v, v)), np.sqrt(_d(ws, ws))
    c = _d(v, ws) / (nv * ns)
    np.clip(c, -1.0, 1.0, out=c)
    return nv, ns, c


# --- minimal hand-written NumPy (every argument batched: shapes (N, P) / (N, K)) -------------

def hand_A(w, k):
    n2 = _d(w, w)
    return (n2 / (2 * PI))[:, None, None] * np.ones((k, k)) + (n2 * ((PI - 1) / (2 * PI)))[:, None, None] * np.eye(k)


def hand_B(w, ws, k):
    nw, ns, c = _angle(w, ws)
    g = (PI - np.arccos(c)) * c + np.sqrt(1 - c * c)
    s = nw * ns / (2 * PI)
    return s[:, None, None] * np.ones((k, k)) + (s * (g - 1))[:, None, None] * np.eye(k)


def hand_loss(v, a, ws, as_):
    nv, ns, c = _angle(v, ws)
    g = (PI - np.arccos(c)) * c + np.sqrt(1 - c * c)
    d = a - ns[:, None] * as_
    return (_sum(d) ** 2 + (PI - 1) * _d(d, d) + 2 * (PI - g) * ns * _d(a, as_)) / (4 * PI)


def hand_grad_v(v, a, ws, as_):
    nv, ns, c = _angle(v, ws)
    coef = -_d(a, as_) * (PI - np.arccos(c)) / (2 * PI * nv)
    return coef[:, None] * (ws - (_d(v, ws) / (nv * nv))[:, None] * v)


def hand_grad_a(v, a, ws, as_):
    nv, ns, c = _angle(v, ws)
    g = (PI - np.arccos(c)) * c + np.sqrt(1 - c * c)
    d = a - ns[:, None] * as_
    return (_sum(d)[:, None] + (PI - 1) * d + ((PI - g) * ns)[:, None] * as_) / (2 * PI)


def hand_loss_w(w, a, ws, as_):
    nw, ns, c = _angle(w, ws)
    g = (PI - np.arccos(c)) * c + np.sqrt(1 - c * c)
    sa, ss = _sum(a), _sum(as_)
    return ((PI - 1) * (nw * nw * _d(a, a) + ns * ns * _d(as_, as_)) + (nw * sa - ns * ss) ** 2
            - 2 * nw * ns * (g - 1) * _d(a, as_)) / (4 * PI)


def hand_grad_w(w, a, ws, as_):
    nw, ns, c = _angle(w, ws)
    s = np.sqrt(1 - c * c)
    sa, ss, aa = _sum(a), _sum(as_), _d(a, as_)
    cw = ((PI - 1) * _d(a, a) + sa * sa - ns * sa * ss / nw + aa * ns * (1 - s) / nw) / (2 * PI)
    cs = -aa * (PI - np.arccos(c)) / (2 * PI)
    return cw[:, None] * w + cs[:, None] * ws


def hand_fused(v, a, ws, as_):
    """Loss and both gradients sharing the norms, the angle and g (hand-fused)."""
    nv, ns, c = _angle(v, ws)
    psi = PI - np.arccos(c)
    g = psi * c + np.sqrt(1 - c * c)
    aa = _d(a, as_)
    d = a - ns[:, None] * as_
    sd = _sum(d)
    pg = (PI - g) * ns
    loss = (sd**2 + (PI - 1) * _d(d, d) + 2 * pg * aa) / (4 * PI)
    gv = (-aa * psi / (2 * PI * nv))[:, None] * (ws - (c * ns / nv)[:, None] * v)
    ga = (sd[:, None] + (PI - 1) * d + pg[:, None] * as_) / (2 * PI)
    return loss, gv, ga


def _batch(rng, n):
    return (rng.standard_normal((n, P)), rng.standard_normal((n, K)),
            rng.standard_normal((n, P)), rng.standard_normal((n, K)))


def speed_rows(quick: bool) -> list[BenchRow]:
    from derivations.generated import cnn

    n = 20_000 if quick else 100_000
    rounds = 5 if quick else 31
    rng = np.random.default_rng(0)
    pools = [_batch(rng, n) for _ in range(3)]  # rounds cycle through 3 batches of random points

    def pts(r):
        return pools[r % len(pools)]

    fused = cnn.population_loss_and_grads
    k = K
    cases = [
        ("A", lambda v, a, ws, as_: cnn.A(v, k), lambda v, a, ws, as_: hand_A(v, k)),
        ("B", lambda v, a, ws, as_: cnn.B(v, ws, k), lambda v, a, ws, as_: hand_B(v, ws, k)),
        ("population_loss", cnn.population_loss, hand_loss),
        ("grad_v", cnn.grad_v, hand_grad_v),
        ("grad_a", cnn.grad_a, hand_grad_a),
        ("population_loss_w", cnn.population_loss_w, hand_loss_w),
        ("grad_w", cnn.grad_w, hand_grad_w),
        ("population_loss_and_grads", fused, hand_fused),
    ]
    rows = []
    for label, emitted, hand in cases:
        e, h = emitted(*pts(0)), hand(*pts(0))
        for x, y in zip(e if isinstance(e, tuple) else (e,), h if isinstance(h, tuple) else (h,)):
            np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-10 * float(np.max(np.abs(y))))
        t = interleaved({"emitted": emitted, "hand-written": hand}, rounds=rounds, points=pts)
        rows.append(ratio_row(f"cnn.{label}: emitted / hand-written (N={n:,})", t,
                              "emitted", "hand-written", 1.1))
    t = interleaved({"fused": fused, "separate": lambda *x: (cnn.population_loss(*x), cnn.grad_v(*x),
                                                             cnn.grad_a(*x))},
                    rounds=rounds, points=pts)
    rows.append(ratio_row(f"cnn.population_loss_and_grads / three separate calls (N={n:,})", t,
                          "fused", "separate", 0.8))
    return rows


def mc_rows(quick: bool) -> list[BenchRow]:
    """Closed form vs Monte Carlo to 1% relative SE (loss and both gradients), random points."""
    from derivations.generated.cnn import population_loss_and_grads as fused

    rng = np.random.default_rng(2)
    npts = 3 if quick else 8
    pilot = 20_000 if quick else 100_000
    ratios, needs = [], []
    for i in range(npts):
        v, a, ws, as_ = (rng.standard_normal(P), rng.standard_normal(K), rng.standard_normal(P),
                         rng.standard_normal(K))
        # wall time, like the Monte Carlo pilot below (CPU time of all threads would also count
        # idle OpenBLAS workers spinning after an earlier call: up to 1.7x on one point)
        t_closed = interleaved({"closed": lambda: fused(v, a, ws, as_)}, rounds=7, number=200,
                               clock=time.perf_counter)["closed"].median
        t0 = time.perf_counter()
        loss, gv, ga = sim.samples(np.random.default_rng(10 + i), pilot, v, a, ws, as_)
        t_pilot = time.perf_counter() - t0
        need = 0
        for s in (loss[:, None], gv, ga):
            rel_se_1 = np.linalg.norm(s.std(0)) / np.linalg.norm(s.mean(0))
            need = max(need, math.ceil((rel_se_1 / 0.01) ** 2))
        t_mc = t_pilot * need / pilot
        ratios.append(t_mc / t_closed)
        needs.append(need)
    worst = int(np.argmin(ratios))
    return [BenchRow(
        f"closed form (fused loss+grads) vs Monte Carlo to 1% rel. SE, {npts} random points, worst",
        ratios[worst], ">= 1e4", "x", ratios[worst] >= 1e4,
        f"median ratio {np.median(ratios):.3g}; worst point needs N={needs[worst]:,} samples "
        f"(MC timed on {pilot:,} and scaled linearly; both sides wall time)",
        {"ratios": ratios, "samples_needed": needs})]


def import_row() -> BenchRow:
    code = ("import time; t0 = time.perf_counter(); "
            "from derivations.generated.cnn import population_loss; import numpy as np; "
            "population_loss(np.ones(5), np.ones(4), np.arange(1.0, 6.0), np.ones(4)); "
            "import sys; print(time.perf_counter() - t0, 'sympy' in sys.modules)")
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        times.append(float(out[0]))
        if out[1] != "False":
            raise RuntimeError("importing emitted code imported sympy")
    t_imp = min(times)
    return BenchRow("cnn: import + first call of emitted code", t_imp, "< 0.3", "s", t_imp < 0.3,
                    "fresh interpreter, includes importing NumPy; SymPy not imported")


def run(quick: bool = False) -> list[BenchRow]:
    return speed_rows(quick) + mc_rows(quick) + [import_row()]
