"""The saddle checks: all pass, the errata are found with the thesis's numbers, and every
mutant of every saddle formula is caught."""
import re

import pytest

import derivations as D
from numerics import harness

NAMES = D.names("saddle")
CTX = harness.Context(quick=True, seed=0)


@pytest.fixture(scope="module")
def rows():
    return harness.run(NAMES, CTX)


def _row(rows, formula, label_part):
    (r,) = [r for r in rows if r.formula == formula and label_part in r.label]
    return r


def test_all_checks_pass(rows):
    failed = [(r.formula, r.label, r.stat, r.detail) for r in rows if not r.passed]
    assert not failed


def test_every_formula_has_an_independent_check():
    from numerics import checks

    for n in NAMES:
        assert any(c.independent for c in checks.for_formula(n)), n


def test_proofs(rows):
    c2 = _row(rows, "saddle.f", "C2 across")
    assert c2.passed and c2.value == "proved" and "97 identities" in c2.detail
    assert _row(rows, "saddle.f", "Lemma 7.1").value == "proved"
    assert _row(rows, "saddle.p", "<= -2 gamma tau").value == "proved"
    assert _row(rows, "saddle.g", "dg/dx_i <= -2 gamma tau").value == "proved"


def test_lemma_7_4_lower_bounds_are_errata_with_worst_points(rows):
    p = _row(rows, "saddle.p", ">= -4 L tau")
    assert p.erratum and abs(p.value + 30.1511) < 1e-3 and "1.91729 tau" in p.detail
    g = _row(rows, "saddle.g", ">= -4 L tau")
    assert g.erratum and abs(g.value + 41.2317) < 1e-3 and "x_{i+1} = 1.000 tau" in g.detail


def test_theorem_7_4_add_on_is_an_erratum(rows):
    h = _row(rows, "saddle.hermite_cubic", "monotonicity")
    assert h.erratum and "FALSE" in h.detail and "-30.1511" in h.detail


def test_lipschitz_and_step(rows):
    s = _row(rows, "saddle.hessian", "step 1/(4L)")
    ell = float(re.search(r"ell = sup\|\|Hess f\|\|_op = ([0-9.]+)", s.detail).group(1))
    assert abs(ell - 34.663) < 2e-3 and s.erratum


def test_escape_ratio_paper_is_only_a_bound(rows):
    r = _row(rows, "saddle.escape_ratio", "printed vs derived")
    assert r.erratum and r.erratum_class == "loose-but-valid bound" and "derived within" in r.detail
    ref = _row(rows, "saddle.escape_ratio", "escape-time recursion")
    assert ref.passed and ref.resolution == 1e-12


def test_escape_ratio_derived_from_the_gd_map():
    import sympy as sp

    from derivations.saddle import connectors as C
    from derivations.saddle import rates as R

    assert sp.simplify(R.gd_multiplier(C.left_piece()) - (1 + 2 * R.eta * C.gamma)) == 0
    assert R.escape_ratio().has(sp.Function("log1p")) or "log1p" in str(R.escape_ratio())


def test_nu_has_no_printed_form():
    assert D.get("saddle.nu").paper is None


def test_every_mutant_is_caught():
    """All kinds for the connectors and the escape ratio; the octopus formulas (f, grad,
    hessian) without knob mutants here, for time (`nnderive check saddle --mutants` runs them
    all: every knob mutant re-derives the tube templates)."""
    octopus = ("saddle.f", "saddle.grad", "saddle.hessian")
    mutants = harness.run_mutants([n for n in NAMES if n not in octopus], CTX)
    assert {"knob", "relative", "swap", "coarse"} <= {m.kind for m in mutants}
    mutants += harness.run_mutants(octopus, CTX, kinds={"coarse", "relative", "swap", "branch"})
    assert len(mutants) >= 120
    missed = [(m.formula, m.label) for m in mutants if not m.caught]
    assert not missed
    for m in mutants:
        assert not any(c.startswith(("mpmath", "paper")) for c in m.caught_by)
