"""Figure 7.3 of the seed 004 thesis (sec. 7.5): GD vs perturbed GD on the octopus, d = 5.

Objective vs iteration for GD (exact, log-domain/fast-forward) and PGD (Algorithm 2) for
L in {1, 1.5, 2, e, 3}; per-saddle escape times and their growth factor.  See
:mod:`numerics.experiments._saddle` and docs/saddle.md.
"""
from __future__ import annotations

from pathlib import Path

from . import _saddle

NAME = "fig7_3"
DESCRIPTION = "Fig. 7.3: GD vs PGD escape times on the d = 5 octopus, L in {1, 1.5, 2, e, 3}"
D = 5


def run(out_dir: Path, quick: bool = False, seed: int = 0, progress=None) -> dict:
    return _saddle.run(NAME, D, out_dir, quick, seed, progress)


def report(result: dict) -> str:
    return _saddle.report(result)
