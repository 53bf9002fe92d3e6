"""Reproductions of the papers' figures and tables (``nnderive reproduce NAME``).

Each module exports ``NAME``, ``DESCRIPTION``, ``run(out_dir, quick=False, seed=0, progress=None)
-> dict`` (writes ``NAME.json`` and, with matplotlib, ``NAME.png``) and ``report(result) -> str``.
Modules are discovered automatically: every module of this package whose name does not start
with ``_`` is an experiment, so a new experiment only adds its file.
"""
from __future__ import annotations

import importlib
import pkgutil


def names() -> list[str]:
    """Every experiment, in alphabetical order."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get(name: str):
    known = names()
    if not isinstance(name, str) or name not in known:
        import difflib

        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        raise ValueError(f"unknown experiment {name!r}{hint}")
    return importlib.import_module(f"{__name__}.{name}")
