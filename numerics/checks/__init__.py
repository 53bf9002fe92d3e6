"""Checks per formula family.  Each module registers :class:`numerics.harness.Check` objects
with :func:`register`; :func:`for_formula` lists the checks of one formula."""
from __future__ import annotations

import importlib

from ..harness import Check

#: Modules that register checks, one per formula family.
CHECK_MODULES = tuple(f"numerics.checks.{m}" for m in (
    "gaussian", "cnn", "cnn_dynamics", "filter", "kernels", "wn", "circulant", "resnet",
    "balance", "saddle"))

_CHECKS: dict[str, list[Check]] = {}
_LOADED = False


def register(check: Check) -> Check:
    _CHECKS.setdefault(check.formula, []).append(check)
    return check


def _load() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for mod in CHECK_MODULES:
            importlib.import_module(mod)


def for_formula(name: str) -> list[Check]:
    _load()
    return list(_CHECKS.get(name, []))


def all_checks() -> dict[str, list[Check]]:
    _load()
    return {k: list(v) for k, v in _CHECKS.items()}
