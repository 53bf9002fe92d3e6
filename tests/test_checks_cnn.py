"""The harness on the Gaussian and CNN families: every check passes, the printed Theorem 5.2
is caught as an erratum, and every mutant of every formula is caught (checks have teeth)."""
import numpy as np
import pytest

import derivations as D
from numerics import harness
from numerics.checks import common

NAMES = D.names("gaussian") + D.names("cnn")
CTX = harness.Context(samples=200_000, seed=0)


@pytest.fixture(scope="module")
def rows():
    return harness.run(NAMES, CTX)


def test_all_checks_pass(rows):
    failed = [(r.formula, r.label, r.stat, r.detail) for r in rows if not r.passed]
    assert not failed


def test_monte_carlo_z_scores_are_sane(rows):
    z = [abs(r.stat) for r in rows if r.kind == "monte_carlo"]
    assert len(z) >= 20 and max(z) < harness.Z_MC


def test_theorem_5_2_erratum_found_with_numbers(rows):
    (r,) = [r for r in rows if r.formula == "cnn.grad_v" and r.kind == "paper"]
    assert r.erratum and "-1 x derived" in r.detail and abs(r.stat - 2.0) < 1e-9
    # the erratum is gated by the quadrature reference and classified (spec C5-12)
    assert r.erratum_class == "OCR reading" and "derived within" in r.detail


def test_reference_rows_resolve_1e_10(rows):
    ref = [r for r in rows if r.kind == "reference" and r.formula.split(".")[1] in (
        "relu_mean", "relu_cross_moment", "halfspace_second_moment", "wedge_second_moment", "g",
        "A", "B", "population_loss", "grad_v", "grad_a", "population_loss_w", "grad_w")]
    assert len(ref) >= 15 and all(r.passed and r.resolution <= 1e-8 for r in ref)
    main = [r for r in ref if "switch points" not in r.label]
    assert max(r.stat for r in main if r.resolution == 1e-10) < 1e-12
    # the switch-point rows judge the error relative to the value itself (issue 19 item 2)
    assert all(r.stat <= r.resolution <= 1e-9 for r in ref if "switch points" in r.label)


def test_printed_loss_and_grad_a_agree(rows):
    for name in ("cnn.population_loss", "cnn.grad_a", "gaussian.wedge_second_moment"):
        (r,) = [r for r in rows if r.formula == name and r.kind == "paper"]
        assert r.passed and not r.erratum and r.value == "agrees"


def test_every_mutant_is_caught():
    # (the full set, incl. grad_a, the unnormalized loss and grad_w: `nnderive check cnn
    # --mutants`; kept out of the test for time)
    names = [n for n in NAMES if n.split(".")[1] in (
        "relu_mean", "relu_cross_moment", "halfspace_second_moment", "wedge_second_moment", "g",
        "A", "B", "population_loss", "grad_v")]
    mutants = harness.run_mutants(names, harness.Context(samples=100_000, seed=1))
    assert len(mutants) >= 100
    assert {"coarse", "knob", "relative", "swap"} <= {m.kind for m in mutants}
    missed = [(m.formula, m.label) for m in mutants if not m.caught]
    assert not missed
    # subtle mutants are caught by the independent references, never by 50 digits/paper
    for m in mutants:
        if m.kind == "relative" or m.label.startswith("knob") and "(1 + 0.001)" in m.label:
            assert any(c.startswith("reference") for c in m.caught_by), (m.label, m.caught_by)


def test_monte_carlo_check_fails_on_a_perturbed_formula():
    """At 2e5 samples 5 SE is ~2% of the loss; a 5% error must be rejected."""
    f = D.get("cnn.population_loss")
    (mc,) = [c for c in __import__("numerics.checks", fromlist=["x"]).for_formula(f.name)
             if c.kind == "monte_carlo"]
    bad = harness.Subject(f, lambda *a: 1.05 * f.numpy(*a))
    assert not all(r.passed for r in harness.run_check(mc, bad, CTX))
    good = harness.Subject(f, f.numpy)
    assert all(r.passed for r in harness.run_check(mc, good, CTX))


def test_mpmath_check_catches_a_one_ulp_scale_bug():
    f = D.get("cnn.grad_a")
    (mp,) = [c for c in __import__("numerics.checks", fromlist=["x"]).for_formula(f.name)
             if c.kind == "mpmath"]
    bad = harness.Subject(f, lambda *a: f.numpy(*a) * (1 + 1e-10))
    assert not harness.run_check(mp, bad, CTX)[0].passed


def test_vector_at_angle():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(4)
    for phi in common.EDGE_ANGLES:
        x = common.vector_at_angle(rng, u, phi, 2.0)
        c = x @ u / (np.linalg.norm(x) * np.linalg.norm(u))
        assert abs(np.linalg.norm(x) - 2.0) < 1e-14
        assert abs(np.arccos(np.clip(c, -1, 1)) - phi) < 2e-8
