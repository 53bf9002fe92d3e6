"""Every public callable is checked against an independent reference (issue 19, items 4, 8).

Public = everything the emitted modules export (``derivations.generated.<family>.__all__`` and
any other non-underscore function defined there) plus every numeric function of a derivation
module that README.md or docs/*.md call (``K.deep_kernel(...)``, ``derivations.wn.grams(...)``).
A registry formula must have an independent formula check (tests/test_registry.py); anything
else must be registered with :func:`numerics.checks.register_public` with an independent check,
so a new public function without a check fails here.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import derivations
from numerics import checks, harness, mutants_public

ROOT = Path(__file__).resolve().parents[1]
#: Modules of the derivations package that are tooling, not numeric API.
TOOLING = {"latex", "knobs", "registry", "codegen", "precision", "vectors", "generated"}


def _independent(cs) -> bool:
    return any(c.independent and c.kind not in harness.NOT_INDEPENDENT for c in cs)


def generated_callables() -> list[tuple[str, object]]:
    out = []
    for fam in derivations.families():
        mod = importlib.import_module(f"derivations.generated.{fam}")
        names = set(getattr(mod, "__all__", ())) | {
            n for n, o in vars(mod).items() if not n.startswith("_") and inspect.isfunction(o)
            and o.__module__ == mod.__name__}
        out += [(f"{fam}.{n}", getattr(mod, n)) for n in sorted(names)]
    return out


def _doc_texts() -> list[str]:
    files = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md")
                                          if not p.name.startswith("catalogue"))
    return [p.read_text() for p in files]


def documented_callables() -> set[tuple[str, str]]:
    """``(module, function)`` of derivation modules called in README.md and docs/*.md."""
    found = set()
    for text in _doc_texts():
        aliases = {m.group(2): m.group(1) for m in re.finditer(
            r"from derivations import (\w+) as (\w+)", text)}
        aliases.update({m.group(2): m.group(1) for m in re.finditer(
            r"import derivations\.(\w+) as (\w+)", text)})
        for alias, mod in aliases.items():
            for m in re.finditer(rf"\b{alias}\.(\w+)\(", text):
                found.add((mod, m.group(1)))
        for m in re.finditer(r"\bderivations\.(\w+)\.(\w+)\(", text):
            found.add((m.group(1), m.group(2)))
    return {(mod, fn) for mod, fn in found
            if mod not in TOOLING and not fn.startswith("_")}


def uncovered(extra: list[tuple[str, object]] = ()) -> list[str]:
    """Public callables with no independent check (registry or public)."""
    pubs = checks.public_callables()
    by_obj = {}
    for p in pubs.values():
        by_obj.setdefault(id(p.resolve()), []).append(p.name)
    missing = []
    for name, obj in list(generated_callables()) + list(extra):
        if name in derivations.names():
            if not _independent(checks.for_formula(name)):
                missing.append(name)
        elif not any(_independent(checks.public_checks(n)) for n in by_obj.get(id(obj), [])):
            missing.append(name)
    for mod, fn in sorted(documented_callables()):
        obj = getattr(importlib.import_module(f"derivations.{mod}"), fn, None)
        if obj is None:
            missing.append(f"derivations.{mod}.{fn} (documented, does not exist)")
        elif not any(_independent(checks.public_checks(n)) for n in by_obj.get(id(obj), [])):
            missing.append(f"derivations.{mod}.{fn}")
    return missing


def test_every_public_callable_has_an_independent_check():
    assert uncovered() == []


def test_the_enumeration_sees_the_fused_and_documented_functions():
    gen = dict(generated_callables())
    for n in ("circulant.loss_and_grads", "cnn.population_loss_and_grads",
              "cnn.population_loss_w_and_grads", "wn.grad_g_and_grads"):
        assert n in gen and n not in derivations.names()
    doc = documented_callables()
    for fn in ("deep_kernel", "c_sigma", "gram", "lambda_0", "mu_0", "lambda_min"):
        assert ("kernels", fn) in doc
    assert ("wn", "grams") in doc


def test_a_new_public_function_without_a_check_is_reported():
    def brand_new(x):
        return x

    assert uncovered([("circulant.brand_new", brand_new)]) == ["circulant.brand_new"]


def test_public_targets_resolve_and_are_tied_to_registry_formulas():
    """Tied to registry formulas, or (the two-layer engine, a family of models without registry
    formulas) run by the family's own runner, ``numerics.checks.twolayer.run``."""
    from numerics.checks import twolayer

    names = set(derivations.names())
    for p in checks.public_callables().values():
        assert callable(p.resolve()), p.name
        if p.name.startswith("twolayer."):
            assert not p.related and "public constructors" in inspect.getsource(twolayer.run)
        else:
            assert p.related and set(p.related) <= names, p.name


@pytest.mark.parametrize("family", ["circulant", "kernels", "cnn", "wn"])
def test_public_rows_run_with_their_family_and_pass(family):
    rows = harness.run_public(derivations.names(family), harness.Context(samples=20_000))
    assert rows and all(r.passed for r in rows), [(r.formula, r.stat, r.detail)
                                                  for r in rows if not r.passed]


# --- item 8: mutants of the public callables ----------------------------------------------


def _mutants(family):
    return mutants_public.run(derivations.names(family), harness.Context(samples=20_000))


def test_fft_mutants_of_the_fused_circulant_code_are_caught_by_the_dense_row():
    ms = [m for m in _mutants("circulant") if m.kind == "fft"]
    labels = {m.label for m in ms}
    assert "residual spectrum R: Re <-> Im swapped" in labels
    assert any("conjugated" in lab for lab in labels) and len(ms) >= 5
    for m in ms:
        assert m.fn is not None, m.label  # built from the emitted source, not skipped
        assert m.caught and m.caught_by[0].startswith("reference"), m.label


def test_fft_mutant_really_changes_the_function():
    from derivations.generated import circulant as C

    rng = np.random.default_rng(0)
    w, x, y = rng.standard_normal((3, 8)), rng.standard_normal(8), rng.standard_normal(8)
    L0, G0 = C.loss_and_grads(w, x, y)
    swap = [m for m in mutants_public.fft_mutants() if "Re <-> Im" in m.label][0]
    L1, G1 = swap.fn(w, x, y)
    assert L1 == L0  # R feeds the gradient only
    assert not np.allclose(G0, G1)


def test_layer_constant_mutants_of_deep_kernel_are_caught():
    ms = [m for m in _mutants("kernels") if m.kind == "layer constant"]
    labels = {m.label for m in ms}
    assert "c_sigma = 2 for layers h >= 2" in labels and len(ms) >= 4
    for m in ms:
        assert m.fn is not None and m.caught, m.label


def test_c_sigma_2_is_invisible_for_relu_and_large_for_softplus():
    """Why the check uses two activations: the issue's planted error."""
    from derivations import kernels as K

    m = [m for m in mutants_public.deep_kernel_mutants() if m.label.startswith("c_sigma = 2")][0]
    X = np.random.default_rng(1).standard_normal((3, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    good, bad = K.deep_kernel(X, 3), m.fn(X, 3)
    assert np.allclose(good["K_H"], bad["K_H"], rtol=1e-14)
    good, bad = K.deep_kernel(X, 3, activation="softplus"), m.fn(X, 3, activation="softplus")
    assert np.max(bad["K_H"] / good["K_H"]) > 1.5


def test_every_public_mutant_is_caught():
    missed = []
    for fam in ("circulant", "kernels", "cnn", "wn"):
        missed += [(m.formula, m.label) for m in _mutants(fam) if not m.caught]
    assert missed == []


def test_relative_mutant_scales_a_single_output_returned_as_a_tuple():
    """A public function with one output that returns it as a tuple is still mutated (it was
    returned unchanged: the mutant could not fail)."""
    import numpy as np

    from numerics import mutants_public

    class _Pub:
        name = "demo"

        @staticmethod
        def resolve():
            return lambda x: (np.asarray(x) * 2.0,)

    (m,) = mutants_public.relative_mutants(_Pub(), 1)
    (got,) = m.fn(np.array([1.0, 3.0]))
    assert np.allclose(got, np.array([2.0, 6.0]) * (1 + mutants_public.REL), rtol=0, atol=0)
    (m0, m1) = mutants_public.relative_mutants(
        type("P", (), {"name": "d2", "resolve": staticmethod(lambda: lambda x: (x, 2 * x))})(), 2)
    a, b = m1.fn(np.array([1.0]))
    assert a[0] == 1.0 and b[0] == 2.0 * (1 + mutants_public.REL)
