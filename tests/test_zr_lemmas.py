"""Zhang et al. (seed 003) Lemma 2's constants and Lemmas 1-3, 6-8 (issue 24): the derived forms,
and planted errors that make each row fail (numerics/checks/zr_lemmas.py)."""
import numpy as np
import pytest
import sympy as sp

import derivations as D
from numerics import checks
from numerics.harness import Context, Subject, mutated_formula, run_check

CTX = Context(samples=2000, quick=True)


def _rows(name, label, fn=None, formula=None):
    f = D.get(name)
    (c,) = [c for c in checks.for_formula(name) if c.label.startswith(label)]
    return run_check(c, Subject(formula or f, fn or f.numpy), CTX)


def _passes(*a, **k):
    return all(r.passed for r in _rows(*a, **k))


def _scaled(name, s):
    f = D.get(name).numpy
    return lambda *a: np.asarray(f(*a)) * s


def test_derived_forms():
    from derivations.resnet import lemma2 as Z

    cx = D.get("resnet.lemma2_cx").expr
    want = sp.exp(2 * Z.alpha * Z.c_w0 * Z.Lc) * (sp.sqrt(Z.c_sig) * Z.Lc + Z.c_x0 / (2 * Z.c_w0)) \
        - Z.c_x0 / (2 * Z.c_w0)
    assert sp.simplify(cx - want) == 0
    assert sp.simplify(D.get("resnet.lemma2_I3").expr - 2 * Z.Lc ** 2 * Z.c_x0 ** 2 * Z.a20 * Z.R) == 0
    step = D.get("resnet.lemma3_step").expr
    assert sp.Symbol("m", positive=True) not in step.free_symbols      # C16: no m
    assert D.get("resnet.lemma7_lower").expr == Z.eta * Z.lam * Z.res ** 2
    assert sp.simplify(D.get("resnet.product_perturbation").expr - Z.n * Z.alpha * Z.M ** Z.n) == 0


@pytest.mark.parametrize("name,label,small", [
    ("resnet.lemma2_cx", "slack: Lemma 4", 0.02),
    ("resnet.lemma2_I1", "slack: the term", 0.05),
    ("resnet.lemma2_I2", "slack: the term", 0.01),
    ("resnet.lemma2_I3", "slack: the term", 0.05),
    ("resnet.lemma3_step", "slack: one GD step", 0.05),
    ("resnet.lemma3_step", "slack: Lemma 3's summed", 0.02),
    ("resnet.product_perturbation", "slack: random", 0.999),
])
def test_slack_rows_pass_and_fail_on_a_bound_too_small(name, label, small):
    assert _passes(name, label)
    assert not _passes(name, label, fn=_scaled(name, small))


@pytest.mark.parametrize("name,label", [
    ("resnet.lemma2_cx", "vs the Lemma 4"), ("resnet.lemma2_I1", "vs the proof"),
    ("resnet.lemma2_I2", "vs the proof"), ("resnet.lemma2_I3", "vs the proof"),
    ("resnet.lemma3_step", "vs the chained"), ("resnet.product_perturbation", "vs the telescoping"),
    ("resnet.lemma7_lower", "attained"),
])
def test_reference_rows_catch_a_bound_too_large(name, label):
    assert _passes(name, label)
    assert not _passes(name, label, fn=_scaled(name, 1 + 1e-6))


def test_lemma7_printed_form_fails_the_attained_row_and_the_claim_holds():
    f = D.get("resnet.lemma7_lower")
    printed = lambda eta, lam, res: np.asarray(lam) * np.asarray(res) ** 2   # noqa: E731
    assert not _passes("resnet.lemma7_lower", "attained", fn=printed)
    assert _passes("resnet.lemma7_lower", "C7")
    assert not _passes("resnet.lemma7_lower", "C7", fn=printed)      # derived/true must be <= 1
    assert _passes("resnet.lemma7_lower", "slack:")
    assert not _passes("resnet.lemma7_lower", "slack:", fn=lambda e, l, r: f.numpy(e, l, r) * 200)


def test_claim_rows():
    assert _passes("resnet.lemma2_cx", "C13")
    assert not _passes("resnet.lemma2_cx", "C13", fn=_scaled("resnet.lemma2_cx", 1.001))
    assert _passes("resnet.lemma3_step", "C16")
    assert not _passes("resnet.lemma3_step", "C16", fn=_scaled("resnet.lemma3_step", 0.01))
    assert _passes("resnet.lemma3_step", "Lemmas 6 and 8")
    assert _passes("resnet.lemma2_I1", "printed I_1")


def test_prop1_and_lemmas12_rows_read_the_gram():
    name = "resnet.gram_H_inf"
    assert _passes(name, "Prop. 1") and _passes(name, "Lemmas 1-2")
    f = D.get(name)
    flat = lambda xi, xj, al, H: np.asarray(f.numpy(xi, xj, al, H)) * 0 + 1.0   # noqa: E731
    assert not _passes(name, "Prop. 1", fn=flat)                # all-ones Gram: singular
    assert not _passes(name, "Lemmas 1-2", fn=_scaled(name, 2.0))   # lambda_0 2x: Lemma 1 fails
