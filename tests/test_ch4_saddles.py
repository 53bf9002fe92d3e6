"""Thesis ch. 4 strict saddles and descent (issue 24; numerics/checks/ch4_saddles.py): the rows
pass, and planted errors (a wrong eigenvalue, a wrong Hessian form, a too-small smoothness) fail."""
import numpy as np
import sympy as sp

import derivations as D
from numerics import checks
from numerics.harness import Context, Subject, run_check

CTX = Context(samples=2000)


def _rows(name, label, fn=None):
    f = D.get(name)
    (c,) = [c for c in checks.for_formula(name) if c.label.startswith(label)]
    return run_check(c, Subject(f, fn or f.numpy), CTX)


def test_saddle_eigenvalue_derived_and_checked():
    from derivations import balance_saddles as BS

    assert sp.simplify(BS.mf_saddle_min_eig() - (BS.SJ - BS.S1)) == 0
    name = "balance.mf_saddle_min_eig"
    assert all(r.passed for r in _rows(name, "dense Hessian"))
    f = D.get(name).numpy
    assert not any(r.passed for r in _rows(name, "dense Hessian", lambda a, b: f(a, b) - 1e-3))


def test_lemma_4_2_row_catches_a_wrong_hessian_form():
    name = "balance.mf_hessian"
    assert all(r.passed for r in _rows(name, "Lemma 4.2"))
    f = D.get(name).numpy
    assert not any(r.passed for r in _rows(name, "Lemma 4.2",
                                            lambda *a: 1.01 * np.asarray(f(*a))))


def test_claim_4_2_row_catches_a_too_small_smoothness():
    name = "balance.mf_smoothness"
    assert all(r.passed for r in _rows(name, "Claim 4.2"))
    f = D.get(name).numpy
    assert not any(r.passed for r in _rows(name, "Claim 4.2",
                                            lambda *a: 0.02 * np.asarray(f(*a))))
