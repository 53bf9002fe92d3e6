"""Thesis ch. 6 SGD lemmas, Lemma 6.1 and Theorem 6.1 rows (numerics/checks/ch6_sgd.py): the rows
pass, and each fails on a planted error."""
from __future__ import annotations

import numpy as np

import derivations
from numerics.checks import ch6_sgd as C
from numerics.harness import Context, Subject

CTX = Context(samples=8000)


def _subject(name, scale=1.0):
    f = derivations.get(name)
    return Subject(f, (lambda *a: np.asarray(f.numpy(*a)) * scale) if scale != 1.0 else f.numpy)


def test_derived_forms():
    import sympy as sp

    from derivations import ch6_sgd as D

    assert sp.simplify(D.supermartingale_shift() - D.ETA * D.B**2 / D.ALPHA) == 0
    assert sp.simplify(D.sgd_step_max() - D.GAMMA / D.M**2) == 0
    # the exact increment sum exceeds the thesis's T (1 + 2 eta alpha T) once eta alpha T is large
    s = derivations.get("filter.sgd_stay_failure").numpy
    assert s(100, 0.0025, 1.9975, 8.0, 1.0, 0.3, 0.6) < 100


def test_mean_bound_mc_and_planted():
    assert all(r.passed for r in C._mean_mc(_subject("filter.sgd_mean_bound"), CTX))
    assert not all(r.passed for r in C._mean_mc(_subject("filter.sgd_mean_bound", 1.05), CTX))


def test_stay_and_markov_slack_and_planted_bounds():
    s = _subject("filter.sgd_stay_failure")
    assert C._stay_slack(s, CTX)[0].passed
    assert not C._stay_slack(s, CTX, scale=1e-4)[0].passed     # a bound 1e4x smaller fails
    m = _subject("filter.sgd_markov_failure")
    assert C._markov_slack(m, CTX)[0].passed
    assert not C._markov_slack(m, CTX, scale=0.2)[0].passed


def test_lemma63_edge_erratum_evidence():
    (row,) = C._markov_edge(None, Context(samples=20_000))
    assert row.passed and row.erratum and row.stat > 5


def test_step_max_reference_and_planted():
    assert C._step_ref(_subject("filter.sgd_step_max"), CTX)[0].passed
    assert not C._step_ref(_subject("filter.sgd_step_max", 1 + 1e-9), CTX)[0].passed


def test_lemma61_nonnegative_and_planted_sign():
    assert C._lemma61(None, CTX)[0].passed
    assert not C._lemma61(None, CTX, plant=True)[0].passed    # A_minus w* for A_minus w


def test_theorem61_recovers_and_degenerate_input_does_not():
    assert C._theorem61(None, CTX)[0].passed
    assert max(r[2] for r in C.theorem61_runs(degenerate=True, steps=150)) > 1e-3


def test_one_step_inequality_and_planted_alpha():
    assert C._one_step(None, CTX)[0].passed
    assert C.one_step_slack(alpha_factor=30.0)[0] > 1            # a 30x larger alpha fails


def test_experiment_quick_writes_json(tmp_path, monkeypatch):
    """``reproduce ch6_sgd --quick`` plumbing on a shortened run (the lemmas' T is ~4e4 steps)."""
    from numerics.experiments import ch6_sgd as E

    study = E.sgd_study
    monkeypatch.setattr(E, "sgd_study", lambda quick, seed: study(quick, seed, runs=6, steps=300))
    lmu = E.lmu_study
    monkeypatch.setattr(E, "lmu_study", lambda seed, quick: lmu(seed, n=600, quick=False))
    res = E.run(tmp_path, quick=True)
    assert (tmp_path / "ch6_sgd.json").exists()
    assert "Theorem 6.4" in E.report(res) and "L_mu" in E.report(res)
    p = E.parameters(0.0423, 1.13)
    assert p["printed_condition_holds"] and p["T"] > 10_000


def test_exact_lmu_is_the_sup_over_phi():
    from numerics.experiments.ch6_sgd import exact_lmu

    dev = np.array([0.1, 0.2, 0.4, 1.0])
    phis = np.linspace(1e-4, 1.5, 200001)
    brute = np.max((np.searchsorted(np.sort(dev), phis, side="right") / 4) / phis)
    assert abs(exact_lmu(dev, 1.5) - 2.5) < 1e-12 and brute <= 2.5 + 1e-12
