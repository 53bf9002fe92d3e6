"""Issue 6, end to end: a planted error in the derivation, "rebuilt" (the emitted functions
compute the perturbed expression), makes ``nnderive check`` exit 1 through an INDEPENDENT row
(the quadrature reference or the evidence-gated paper row), not only through the freshness or
50-digit rows.  The four perturbations of the issue: density x 1.001, derived g x 1.001, the same
wrong constant in a simulator and in the derivation, and an error only near phi = pi."""
import json
from contextlib import contextmanager

import pytest
import sympy as sp

import derivations as D
from derivations import codegen, knobs, registry
from derivations import gaussian as G
from numerics import cli

NOT_INDEPENDENT = ("emission", "mpmath")


@contextmanager
def rebuilt(monkeypatch, exprs=None):
    """Emitted code compiled from the (possibly perturbed) derivations, as after `nnderive build`;
    ``exprs`` replaces the derived expression of some formulas (a wrong derivation)."""
    saved = {n: D.get(n)._expr for n in (exprs or {})}
    for n, e in (exprs or {}).items():
        D.get(n)._expr = e
    monkeypatch.setattr(registry.Formula, "numpy",
                        property(lambda self: codegen.compile_function(self)))
    try:
        yield
    finally:
        for n, e in saved.items():
            D.get(n)._expr = e


def check(capsys, *names):
    code = cli.main(["check", *names, "--json", "--quiet", "--samples", "20000"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    failing = [r for r in rows if not r["passed"] and r["kind"] not in NOT_INDEPENDENT]
    return code, failing


def test_unperturbed_passes(monkeypatch, capsys):
    with rebuilt(monkeypatch):
        code, failing = check(capsys, "gaussian.g", "gaussian.relu_cross_moment")
    assert code in (0, 1) and not failing  # (1 only if the committed code were stale)


def test_density_times_1001_exits_1(monkeypatch, capsys):
    with knobs.perturbed("gaussian.density_norm", 1e-3), rebuilt(monkeypatch):
        code, failing = check(capsys, "gaussian.relu_cross_moment", "gaussian.g")
    assert code == 1
    kinds = {(r["formula"], r["kind"]) for r in failing}
    assert ("gaussian.relu_cross_moment", "reference") in kinds
    assert ("gaussian.g", "paper") in kinds  # an unresolved disagreement, not an erratum
    assert all(not r["erratum"] for r in failing)


def test_derived_g_times_1001_exits_1(monkeypatch, capsys):
    g = D.get("gaussian.g")
    with rebuilt(monkeypatch, {"gaussian.g": g.expr * sp.Rational(1001, 1000)}):
        code, failing = check(capsys, "gaussian.g")
    assert code == 1 and {"reference", "paper"} <= {r["kind"] for r in failing}
    assert any("quadrature" in r["label"] for r in failing)


def test_same_wrong_constant_in_simulator_and_derivation_exits_1(monkeypatch, capsys):
    from numerics.simulators import gaussian as sim

    good = sim.g_samples
    monkeypatch.setattr(sim, "g_samples", lambda rng, n, phi: 1.001 * good(rng, n, phi))
    with knobs.perturbed("gaussian.density_norm", 1e-3), rebuilt(monkeypatch):
        code, failing = check(capsys, "gaussian.g")
    assert code == 1
    assert "monte_carlo" not in {r["kind"] for r in failing}  # Monte Carlo is fooled ...
    assert "reference" in {r["kind"] for r in failing}       # ... the quadrature is not


def test_error_only_near_pi_exits_1(monkeypatch, capsys):
    g = D.get("gaussian.g")
    near_pi = sp.Rational(1, 10**6) * sp.exp(-((sp.pi - G.PHI) * 10**4) ** 2)
    with rebuilt(monkeypatch, {"gaussian.g": g.expr + near_pi}):
        code, failing = check(capsys, "gaussian.g")
    assert code == 1
    assert any(r["kind"] == "reference" and "3.14159" in r["detail"] for r in failing)
