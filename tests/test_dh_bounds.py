"""Dai & Heckel (seed 000): the rest of Theorem 1's chain and the CN identities (issue 24):
derived forms and planted errors per row (numerics/checks/dh_lemma1.py)."""
import numpy as np
import pytest
import sympy as sp

import derivations as D
from numerics import checks
from numerics.harness import Context, Subject, run_check

CTX = Context(samples=2000, quick=True)


def _passes(name, label, fn=None):
    f = D.get(name)
    (c,) = [c for c in checks.for_formula(name) if c.label.startswith(label)]
    return all(r.passed for r in run_check(c, Subject(f, fn or f.numpy), CTX))


def _scaled(name, s):
    f = D.get(name).numpy
    return lambda *a: np.asarray(f(*a)) * s


def test_derived_forms():
    from derivations import dh_bounds as B

    assert sp.simplify(D.get("circulant.ball_product").expr
                       - B.alpha * sp.exp(sp.sqrt(B.d) * B.rr / B.delta)) == 0
    assert sp.simplify(D.get("circulant.escape_steps").expr
                       - sp.exp(B.c * B.d - 1) / (B.d * B.eta * B.nD * B.nx)) == 0   # spec A13
    assert D.get("circulant.loss_lower").expr == B.tau ** 2 / (2 * B.n)             # spec A15
    assert D.get("circulant.cn_mean").expr == B.beta
    assert sp.simplify(D.get("circulant.cn_var").expr - B.gamma ** 2 * B.var / (B.var + B.eps)) == 0
    fin = D.get("circulant.ball_product_final").numpy
    # O(1)/n^{d/2}: n^{d/2} x bound stays below e (1 + 1/sqrt d) for every c > 0
    for c, n, d in ((0.01, 64, 10), (0.3, 4, 6), (2.0, 9, 3)):
        assert n ** (d / 2) * float(fin(c, n, d)) <= np.e * (1 + 1 / np.sqrt(d))


@pytest.mark.parametrize("name,label,bad", [
    ("circulant.ball_product", "slack: filters", 0.9),            # an upper bound too small
    ("circulant.ball_product_final", "slack: filters", 0.01),
    ("circulant.escape_steps", "slack: projected", 2000.0),       # lower bounds too large
    ("circulant.loss_lower", "slack: dense", 1.2),
    ("circulant.grad_p", "slack: projected", 1.001),
])
def test_slack_rows_fail_when_the_bound_fails(name, label, bad):
    assert _passes(name, label)
    assert not _passes(name, label, fn=_scaled(name, bad))


@pytest.mark.parametrize("name,label", [
    ("circulant.ball_product", "attained as r"), ("circulant.ball_product_final", "vs the chain"),
    ("circulant.escape_steps", "vs r/(eta"), ("circulant.loss_lower", "attained:"),
    ("circulant.cn_mean", "vs the CN"), ("circulant.cn_var", "vs the CN"),
])
def test_reference_rows_catch_a_small_error(name, label):
    assert _passes(name, label)
    assert not _passes(name, label, fn=_scaled(name, 1 + 1e-6))


def test_claim_rows():
    assert _passes("circulant.ball_product", "eq. (6)")
    assert _passes("circulant.loss_lower", "A15")
    assert not _passes("circulant.loss_lower", "A15", fn=lambda tau, n: np.asarray(tau) * 1.0)
