"""Benchmarks of the resnet family (``nnderive bench resnet``).

1. Emitted ``resnet.grad_W`` (forward pass + derived recursion, all layers) vs the hand-written
   NumPy backprop of :mod:`numerics.simulators.resnet` (all gradients at once), on a ReLU
   ResNet of spec C0 (target <= 1.3x: the emitted function validates its inputs and returns
   only dL/dW^(2..H)).
2. Emitted ``grad_W`` vs the complex-step reference used by the checks (one forward pass per
   parameter): the speedup the derived backprop buys (target >= 100x on a small net).
"""
from __future__ import annotations

import numpy as np

from . import BenchRow, interleaved, ratio_row
from ..simulators import resnet as S


def _net(rng, n, d, m, H):
    X = S.unit_inputs(rng, n, d)
    y = rng.standard_normal(n)
    p = S.init(rng, d, m, H)
    return X, y, p


def run(quick: bool = False) -> list[BenchRow]:
    import derivations

    gW = derivations.get("resnet.grad_W").numpy
    rows = []
    rng = np.random.default_rng(0)
    n, d, m, H = (16, 16, 64, 4) if quick else (64, 32, 256, 8)
    X, y, p = _net(rng, n, d, m, H)
    cs = S.c_sigma()
    t = interleaved({"emitted grad_W": lambda: gW(X, y, p.W1, p.W, p.alpha, p.a),
                     "hand-written backprop": lambda: S.backprop(X, y, p, cs=cs)},
                    rounds=5 if quick else 15)
    rows.append(ratio_row(f"resnet grad_W vs hand backprop (n={n}, m={m}, H={H})", t,
                          "emitted grad_W", "hand-written backprop", 1.3))
    X, y, p = _net(rng, 4, 5, 8 if quick else 16, 3)
    t = interleaved({"emitted grad_W": lambda: gW(X, y, p.W1, p.W, p.alpha, p.a),
                     "complex-step reference": lambda: S.complex_step_gradient(X, y, p)},
                    rounds=3 if quick else 7)
    rows.append(ratio_row(f"resnet complex-step reference / emitted (m={p.W1.shape[0]}, H=3)", t,
                          "complex-step reference", "emitted grad_W", 100.0, better=">="))
    return rows
