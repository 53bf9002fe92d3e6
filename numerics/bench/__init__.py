"""Benchmarks (``nnderive bench [FAMILY ...]``): speed ratios measured side by side in one run.

One module per formula family, ``numerics/bench/<family>.py``, each exporting
``run(quick: bool = False) -> list[BenchRow]``.  Modules are discovered automatically (names
starting with ``_`` are helpers), so a new family only adds its file.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass


@dataclass
class BenchRow:
    name: str
    value: float
    target: str
    unit: str
    ok: bool
    detail: str = ""


def families() -> list[str]:
    """The benchmark modules present, in alphabetical order."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def run(quick: bool = False, progress=None, only: list[str] | None = None) -> list[BenchRow]:
    known = families()
    for name in only or ():
        if name not in known:
            raise ValueError(f"unknown benchmark family {name!r}; known: {', '.join(known)}")
    rows = []
    for fam in only or known:
        if progress:
            progress(f"bench {fam}")
        rows.extend(importlib.import_module(f"{__name__}.{fam}").run(quick=quick))
    return rows
