"""Knobs: the numeric constants a derivation starts from, made perturbable (issue 6).

A derivation that is wrong by a small constant (a density normalized to 1.001, a region limit
off by 1e-6) must be caught by an *independent* check.  To test that the checks can, every
numeric constant a derivation starts from goes through :func:`knob` inside the derivation
function (not frozen at import time)::

    DENSITY = knob("gaussian.density_norm", 1 / (2 * sp.pi)) * r * sp.exp(-r**2 / 2)

Normally :func:`knob` returns ``value`` unchanged.  Inside ``with perturbed(name, rel):`` it
returns ``value * (1 + rel)`` (``rel`` as an exact rational), every derivation cache made with
:func:`cached` is set aside, and every registered formula's cached ``expr`` is hidden, so that
deriving a formula inside the block re-runs its whole derivation with the perturbed constant.
On exit the previous caches and expressions are restored (nothing is re-derived).

:func:`used_by` re-runs a formula's derivation from scratch and returns the names of the knobs
it read; :func:`derive_perturbed` returns the formula's expression re-derived with one knob
perturbed.  The mutant runner (:func:`numerics.harness.run_mutants`) uses both.

Caches: use ``@cached`` (a drop-in for ``functools.lru_cache(maxsize=None)``) on derivation
helpers.  Plain ``functools.lru_cache`` caches found in the family modules are cleared on entry
to and exit from a perturbation (correct, only slower).
"""
from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from typing import Callable

import sympy as sp

_PERTURB: dict[str, sp.Expr] = {}
_RECORDING: list[set] = []
_CACHES: list["_Cached"] = []
#: Every knob read so far: name -> unperturbed value (for reports).
KNOWN: dict[str, sp.Expr] = {}


def knob(name: str, value):
    """``value`` (as SymPy), or ``value * (1 + rel)`` while ``name`` is perturbed."""
    if not isinstance(name, str) or "." not in name:
        raise ValueError(f"knob name must be 'family.what', got {name!r}")
    value = sp.sympify(value)
    KNOWN.setdefault(name, value)
    for rec in _RECORDING:
        rec.add(name)
    rel = _PERTURB.get(name)
    if rel is None:
        return value
    return value * (1 + rel)


class _Cached:
    """Memoizing wrapper whose contents are set aside while a knob is perturbed."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.store: dict = {}
        #: stores of earlier perturbation states (frozenset of (name, rel)) -> {key: value}
        self.states: dict = {}
        functools.update_wrapper(self, fn)
        _CACHES.append(self)

    def __call__(self, *args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        try:
            return self.store[key]
        except KeyError:
            pass
        out = self.store[key] = self.fn(*args, **kwargs)
        return out

    def cache_clear(self) -> None:
        self.store = {}

    def __get__(self, obj, objtype=None):  # usable on methods too
        return self if obj is None else functools.partial(self, obj)


def cached(fn: Callable | None = None, **_ignored):
    """Decorator: memoize a derivation helper (``@cached`` or ``@cached()``)."""
    if fn is None:
        return lambda f: _Cached(f)
    return _Cached(fn)


def _family_lru_caches() -> list:
    """``functools.lru_cache`` wrappers defined in the formula modules (cleared, not saved)."""
    from .registry import FAMILY_MODULES

    out = []
    for modname, mod in list(sys.modules.items()):
        if mod is None or not any(modname == m or modname.startswith(m + ".")
                                  for m in FAMILY_MODULES):
            continue
        for obj in list(vars(mod).values()):
            if callable(obj) and hasattr(obj, "cache_clear") and hasattr(obj, "cache_info") \
                    and getattr(obj, "__module__", "") == modname:
                out.append(obj)
    return out


@contextmanager
def _fresh_state(perturb: dict):
    """Derive from scratch under ``perturb`` (name -> rel); restore everything afterwards."""
    from . import registry

    global _PERTURB
    saved_perturb = _PERTURB
    saved_caches = [(c, c.store) for c in _CACHES]
    saved_exprs = {n: (f._expr, f._paper_expr) for n, f in registry._REGISTRY.items()}
    lru = _family_lru_caches()
    _PERTURB = dict(perturb)
    state = frozenset(_PERTURB.items())
    for c in _CACHES:  # re-use what was derived under the same perturbation before
        c.store = c.states.setdefault(state, {}) if state else {}
    for f in registry._REGISTRY.values():
        f._expr = f._paper_expr = None
    for c in lru:
        c.cache_clear()
    try:
        yield
    finally:
        _PERTURB = saved_perturb
        for c, store in saved_caches:
            c.store = store
        for c in _CACHES[len(saved_caches):]:
            c.store = {}
        for n, f in registry._REGISTRY.items():
            f._expr, f._paper_expr = saved_exprs.get(n, (None, None))
        for c in lru:
            c.cache_clear()


@contextmanager
def perturbed(name: str, rel):
    """Within the block, ``knob(name, v)`` returns ``v * (1 + rel)`` and derivations re-run.

    ``rel`` is converted to an exact rational (``1e-3 -> 1/1000``).  Nested blocks combine."""
    if not isinstance(name, str):
        raise ValueError(f"name must be a knob name string, got {name!r}")
    rel_q = sp.Rational(str(rel)) if not isinstance(rel, sp.Basic) else rel
    with _fresh_state({**_PERTURB, name: rel_q}):
        yield


def used_by(formula) -> list[str]:
    """Names of the knobs ``formula``'s derivation reads (re-derived from scratch, unperturbed)."""
    rec: set = set()
    with _fresh_state(_PERTURB):
        _RECORDING.append(rec)
        try:
            formula._derive()
        finally:
            _RECORDING.remove(rec)
    return sorted(rec)


def derive_perturbed(formula, name: str, rel) -> sp.Expr:
    """``formula``'s expression re-derived with knob ``name`` scaled by ``1 + rel``."""
    with perturbed(name, rel):
        return formula._derive()


def current() -> dict[str, sp.Expr]:
    """The knobs perturbed right now (name -> rel)."""
    return dict(_PERTURB)
