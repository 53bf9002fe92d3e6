"""Benchmarks for the CNN family (issue: foundation).  Run with ``nnderive bench``.

1. Closed-form population loss + both gradients vs Monte Carlo of the network with enough
   samples for 1% relative standard error (target: closed form >= 1e4 x faster).
2. Emitted code vs a hand-written NumPy implementation of the same formulas over a batch of
   1e5 parameter points (target: <= 1.2 x the hand-written time).
3. Import of an emitted module + first call, in a fresh interpreter (target: < 0.3 s).
"""
from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np

from . import BenchRow
from ..simulators import cnn as sim

P, K = 5, 4


def _best(fn, repeat=7, number=1):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times)


def _point(rng):
    w_star = rng.standard_normal(P)
    return (rng.standard_normal(P), rng.standard_normal(K), w_star, rng.standard_normal(K))


# --- hand-written reference implementations (what a careful person writes by hand) --------

def hand_loss(v, a, w_star, a_star):
    nv = np.sqrt(np.einsum("...i,...i->...", v, v))
    ns = np.sqrt(w_star @ w_star)
    phi = np.arccos(np.clip((v @ w_star) / (nv * ns), -1.0, 1.0))
    g = (np.pi - phi) * np.cos(phi) + np.sin(phi)
    d = a - ns * a_star
    return (d.sum(-1) ** 2 + (np.pi - 1) * (d @ d) + 2 * (np.pi - g) * ns * (a @ a_star)) / (4 * np.pi)


def hand_grad_v(v, a, w_star, a_star):
    nv = np.sqrt(np.einsum("...i,...i->...", v, v))
    ns = np.sqrt(w_star @ w_star)
    c = np.clip((v @ w_star) / (nv * ns), -1.0, 1.0)
    phi = np.arccos(c)
    coef = -(a @ a_star) * (np.pi - phi) / (2 * np.pi * nv)
    proj = w_star - ((v @ w_star) / nv**2)[..., None] * v
    return coef[..., None] * proj


def run(quick: bool = False) -> list[BenchRow]:
    from derivations.generated import cnn

    rng = np.random.default_rng(0)
    v, a, w_star, a_star = _point(rng)
    rows = []

    # 1. closed form vs Monte Carlo to 1% relative accuracy
    def closed():
        cnn.population_loss(v, a, w_star, a_star)
        cnn.grad_v(v, a, w_star, a_star)
        cnn.grad_a(v, a, w_star, a_star)

    t_closed = _best(closed, number=200)
    pilot = 20_000 if quick else 100_000
    t0 = time.perf_counter()
    loss, gv, ga = sim.samples(np.random.default_rng(1), pilot, v, a, w_star, a_star)
    t_pilot = time.perf_counter() - t0
    need = 0
    for s in (loss[:, None], gv, ga):
        rel_se_1 = np.linalg.norm(s.std(0)) / np.linalg.norm(s.mean(0))  # relative SE at N = 1
        need = max(need, math.ceil((rel_se_1 / 0.01) ** 2))
    t_mc = t_pilot * need / pilot
    rows.append(BenchRow(
        "closed form vs Monte Carlo (1% rel. SE)", t_mc / t_closed, ">= 1e4", "x",
        t_mc / t_closed >= 1e4,
        f"closed {t_closed * 1e6:.0f} us for loss+grads; MC needs N={need:,} "
        f"({t_mc:.2f} s, timed on {pilot:,} and scaled linearly)"))

    # 2. emitted vs hand-written over a batch of 1e5 points
    n = 20_000 if quick else 100_000
    vb = rng.standard_normal((n, P))
    for label, emitted, hand in (("population_loss", cnn.population_loss, hand_loss),
                                 ("grad_v", cnn.grad_v, hand_grad_v)):
        np.testing.assert_allclose(emitted(vb, a, w_star, a_star), hand(vb, a, w_star, a_star),
                                   rtol=1e-9, atol=1e-12)
        te = _best(lambda: emitted(vb, a, w_star, a_star))
        th = _best(lambda: hand(vb, a, w_star, a_star))
        rows.append(BenchRow(f"emitted vs hand-written {label} (batch {n:,})", te / th,
                             "<= 1.2", "x", te / th <= 1.2,
                             f"emitted {te * 1e3:.2f} ms, hand-written {th * 1e3:.2f} ms"))

    # 3. import + first call in a fresh interpreter
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
    rows.append(BenchRow("import + first call of emitted code", t_imp, "< 0.3", "s", t_imp < 0.3,
                         "fresh interpreter, includes importing NumPy; SymPy not imported"))
    return rows
