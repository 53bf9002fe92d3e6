"""Reproductions of the papers' figures and tables (``nnderive reproduce NAME``).

Each module exports ``NAME``, ``DESCRIPTION``, ``run(out_dir, quick=False, seed=0, progress=None)
-> dict`` (writes ``NAME.json`` and, with matplotlib, ``NAME.png``) and ``report(result) -> str``.
"""
from __future__ import annotations

import importlib

#: Experiment modules (names under numerics.experiments).
EXPERIMENTS: tuple[str, ...] = ("fig7_3", "fig7_4", "key_observation")


def names() -> list[str]:
    return list(EXPERIMENTS)


def get(name: str):
    if name not in EXPERIMENTS:
        import difflib

        close = difflib.get_close_matches(name, EXPERIMENTS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(EXPERIMENTS)}"
        raise ValueError(f"unknown experiment {name!r}{hint}")
    return importlib.import_module(f"numerics.experiments.{name}")
