"""Checks per formula family.  Each module registers :class:`numerics.rows.Check` objects
with :func:`register`; :func:`for_formula` lists the checks of one formula.

Public callables that are not registry formulas (the fused ``*_and_grads`` functions,
``derivations.kernels.deep_kernel`` / ``c_sigma`` / ``gram``, ``derivations.wn.grams``, ...) get
their checks with :func:`register_public`: each is named by its import path and tied to the
registry formulas it is built from, and :func:`numerics.harness.run` runs its checks whenever
one of those formulas is checked.  Their ``subject.fn`` is the callable itself and
``subject.formula`` a :class:`Public` (name, import path, related formulas)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..rows import Check

#: Modules that register checks, one per formula family.
CHECK_MODULES = tuple(f"numerics.checks.{m}" for m in (
    "gaussian", "cnn", "cnn_dynamics", "cnn_rates", "filter", "kernels", "ch2_flow", "ch3_rates", "wn", "circulant", "resnet",
    "balance", "ch4_saddles", "saddle", "twolayer", "ch6", "ch6_sgd", "saddle_lemmas", "zr_lemmas", "dh_lemma1",
    "wn_sec4"))

_CHECKS: dict[str, list[Check]] = {}
_LOADED = False


@dataclass(frozen=True)
class Public:
    """A public callable outside the formula registry: ``name`` (``family.function``, as in
    the rows), ``target`` (``module:attribute``) and the registry formulas it is built from."""

    name: str
    target: str
    related: tuple[str, ...]

    def resolve(self):
        mod, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(mod), attr)


_PUBLIC: dict[str, Public] = {}
_PUBLIC_CHECKS: dict[str, list[Check]] = {}


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


def register_public(check: Check, target: str, related: tuple[str, ...]) -> Check:
    """Register ``check`` (whose ``formula`` is the public name, e.g.
    ``"kernels.deep_kernel"``) for the callable at ``target`` (``"derivations.kernels:
    deep_kernel"``), run whenever one of the ``related`` registry formulas is checked."""
    pub = Public(check.formula, target, tuple(related))
    old = _PUBLIC.setdefault(pub.name, pub)
    if old.target != pub.target:
        raise ValueError(f"{pub.name} registered for {old.target} and {pub.target}")
    if set(pub.related) - set(old.related):
        _PUBLIC[pub.name] = Public(pub.name, pub.target, tuple(dict.fromkeys(
            old.related + pub.related)))
    _PUBLIC_CHECKS.setdefault(pub.name, []).append(check)
    return check


def public_callables() -> dict[str, Public]:
    """Every public callable with registered checks, by name."""
    _load()
    return dict(_PUBLIC)


def public_checks(name: str) -> list[Check]:
    _load()
    return list(_PUBLIC_CHECKS.get(name, []))


def public_for(names) -> list[Public]:
    """The public callables tied to any of the formula ``names`` (in registration order)."""
    _load()
    wanted = set(names)
    return [p for p in _PUBLIC.values() if wanted & set(p.related)]
