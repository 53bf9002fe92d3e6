"""Ch. 6 filter family (derivations/filter.py): derivations, emitted code vs quadrature of the
model, bad input, edges, checks and errata (seed 004, C6-1..C6-8)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from derivations import filter as DF
from derivations.generated import filter as F
from numerics.checks.common import vector_at_angle
from numerics.simulators import filter as S


def test_derived_constants():
    assert sp.simplify(DF.beta() - 1 / sp.pi) == 0
    assert sp.simplify(DF.L().subs(DF.PHI, 1) - sp.Rational(1, 2)) == 0
    assert sp.simplify(DF.gamma() - (sp.pi - DF.PHI - sp.sin(DF.PHI)) / (2 * sp.pi)) == 0


@pytest.mark.parametrize("phi", [0.0, 1e-9, 0.4, math.pi / 2, 2.9, math.pi - 1e-9, math.pi])
@pytest.mark.parametrize("p", [2, 4])
def test_emitted_vs_quadrature(phi, p):
    rng = np.random.default_rng(int(phi * 100) + p)
    w_star = 1.7 * rng.standard_normal(p)
    w = vector_at_angle(rng, w_star, phi, 0.6)
    ref = S.plane_moments(w, w_star)
    assert F.population_loss(w, w_star) == pytest.approx(ref["loss"], abs=1e-14)
    assert np.allclose(F.population_grad(w, w_star), ref["grad"], atol=1e-14)
    for key in ("A_plus", "A_minus"):
        got = getattr(F, key)(w, w_star)
        assert np.all(np.isfinite(got)) and np.max(np.abs(got - ref[key])) < 1e-14
    # C6-1: E grad = A_plus (w - w*) + A_minus w
    assert np.allclose(F.A_plus(w, w_star) @ (w - w_star) + F.A_minus(w, w_star) @ w,
                       F.population_grad(w, w_star), atol=1e-14)


def test_eigenvalues_and_batch():
    rng = np.random.default_rng(1)
    w, ws = rng.standard_normal((3, 6)), rng.standard_normal(6)
    A = F.A_plus(w, ws)
    assert A.shape == (3, 6, 6)
    phi = np.arccos(np.einsum("ij,j->i", w, ws) / np.linalg.norm(w, axis=1) / np.linalg.norm(ws))
    ev = np.linalg.eigvalsh(A)
    assert np.allclose(ev[:, 0], F.lambda_min_plus(phi), atol=1e-14)
    assert np.allclose(ev[:, -1], F.lambda_max_plus(phi), atol=1e-14)
    assert np.allclose(np.linalg.eigvalsh(F.A_minus(w, ws))[:, -1], F.lambda_max_minus(phi),
                       atol=1e-14)
    assert np.allclose(F.gamma(phi), F.lambda_min_plus(phi)) and np.all(F.L(phi) == 0.5)
    assert F.beta(5) == pytest.approx(1 / math.pi, rel=1e-15)


@pytest.mark.parametrize("call", [
    lambda: F.A_plus([0.0, 0.0], [1.0, 0.0]),
    lambda: F.A_minus([1.0, 0.0], [0.0, 0.0]),
    lambda: F.population_loss([1.0, 0.0], [1.0, 0.0, 2.0]),
    lambda: F.population_grad([np.nan, 0.0], [1.0, 0.0]),
    lambda: F.gamma(-0.5),
    lambda: F.L(4.0),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_checks_and_errata():
    from numerics import harness

    rows = harness.run(["filter.A_plus", "filter.L", "filter.beta", "filter.population_grad"],
                       harness.Context(samples=20000))
    assert all(r.passed for r in rows), [(r.formula, r.label) for r in rows if not r.passed]
    errata = {(r.formula, r.label) for r in rows if r.erratum}
    assert ("filter.L", "printed vs derived") in errata
    assert ("filter.beta", "printed vs derived") in errata


def test_reference_catches_subtle_perturbation():
    from derivations import codegen, registry
    from numerics import checks, harness

    f = registry.get("filter.A_plus")
    comps = dict((b, c) for c, b in __import__("derivations.vectors", fromlist=["x"]).components(f.expr, 2))
    expr = f.expr + sp.Rational(1, 10**6) * comps[DF.I_P] * DF.I_P
    clone = harness.mutated_formula(f, expr)
    sub = harness.Subject(clone, codegen.compile_function(clone))
    ref = [c for c in checks.for_formula("filter.A_plus") if c.kind == "reference"][0]
    assert not all(r.passed for r in harness.run_check(ref, sub, harness.Context(samples=1000)))
