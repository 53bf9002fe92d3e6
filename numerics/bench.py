"""Benchmarks (``nnderive bench``): speed ratios measured side by side in one run."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

#: Modules with ``run(quick) -> list[BenchRow]``.
BENCH_MODULES = ("numerics.bench_cnn", "numerics.bench_saddle")


@dataclass
class BenchRow:
    name: str
    value: float
    target: str
    unit: str
    ok: bool
    detail: str = ""


def run(quick: bool = False, progress=None) -> list[BenchRow]:
    rows = []
    for mod in BENCH_MODULES:
        if progress:
            progress(f"bench {mod}")
        rows.extend(importlib.import_module(mod).run(quick=quick))
    return rows
