"""Thesis ch. 5 rates (issue 24 item 2): derived counts, and every new row kind with a planted
error that fails it."""
import copy

import numpy as np
import pytest
import sympy as sp

import derivations as D
from derivations import cnn_rates as CR
from derivations.generated import cnn
from numerics.checks import cnn_rates as R
from numerics.harness import Context, Subject


def test_lambda_t_derived_form():
    lam = D.get("cnn.lambda_t").expr
    ref = CR.CD.DOT * CR.CD.NWS * (sp.pi - CR.CD.PHI) / (2 * sp.pi * CR.CD.NV**2)
    assert sp.simplify(lam - ref) == 0


def test_cor52_one_t_a_star_cancels():
    rec = CR.CD.gd_next_dot().subs(CR.CD.SUMA, CR.CD.SUMS * CR.CD.NWS)
    assert CR.CD.SUMS not in sp.expand(rec).free_symbols


def test_cor52_is_order_one_over_eta():
    """Corollary 5.2's O(1/eta): eta T is bounded as eta -> 0 (derived count)."""
    vals = [e * cnn.cor52_iterations(e, 0.8, 0.0, 1.0, 1.0, 0.5) for e in (1e-1, 1e-2, 1e-3)]
    assert max(vals) / min(vals) < 1.2


def _rows(make, r, *fn):
    return make(r, *fn)


@pytest.fixture(scope="module")
def runs():
    return R.runs()


def _perturbed(r, **scale):
    out = copy.copy(r)
    for key, f in scale.items():
        out[key] = r[key] * f
    return out


def test_bound_rows_pass(runs):
    rows = (R.lemma59_rows(runs) + R.lemma510_rows(runs, cnn.lemma510_iterations)
            + R.lemma511_rows(runs) + R.lemma512_rows(runs)
            + R.cor52_rows(runs, cnn.cor52_iterations) + R.theorem53_rows(runs))
    assert all(r.passed for r in rows), [r.label for r in rows if not r.passed]


@pytest.mark.parametrize("make, key, factor", [
    (R.lemma59_rows, "nv2", 2.5), (R.lemma511_rows, "gnorm2", 4.0),
    (R.lemma512_rows, "loss", 10.0), (R.theorem53_rows, "beta0", 100.0)])
def test_bound_rows_fail_on_planted_errors(runs, make, key, factor):
    rows = make(_perturbed(runs, **{key: factor}))
    assert not all(r.passed for r in rows)


def test_count_rows_fail_on_a_wrong_count(runs):
    assert not R.cor52_rows(runs, lambda *a: 0.5 * cnn.cor52_iterations(*a))[0].passed
    assert not R.lemma510_rows(runs, lambda *a: 0.5 * cnn.lemma510_iterations(*a))[0].passed


@pytest.mark.parametrize("name", ["cnn.cor52_iterations", "cnn.lemma510_iterations"])
def test_count_reference_rows(name):
    from numerics import checks

    (check,) = [c for c in checks.for_formula(name) if c.kind == "reference"]
    fn = getattr(cnn, name.split(".")[1])
    assert check.run(Subject(D.get(name), fn), Context()).passed
    bad = check.run(Subject(D.get(name), lambda *a, **k: 1.1 * fn(*a, **k) + 1.0), Context())
    assert not bad.passed
