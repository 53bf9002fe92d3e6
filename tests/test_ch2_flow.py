"""Thesis ch. 2 flow / GD rows (issue 24; numerics/checks/ch2_flow.py): they pass, and planted
errors make them fail (a bound too small, a wrong Gram in eq. (2.6), a rank-deficient kernel, a
duplicate input)."""
import numpy as np
import pytest

import derivations as D
from numerics import checks
from numerics.checks import ch2_flow as C
from numerics.harness import Context, Subject, run_check

CTX = Context(samples=2000)


def _rows(name, label, fn=None):
    f = D.get(name)
    (c,) = [c for c in checks.for_formula(name) if c.label.startswith(label)]
    return run_check(c, Subject(f, fn or f.numpy), CTX)


def _scaled(name, k):
    f = D.get(name).numpy
    return lambda *a: k * np.asarray(f(*a))


def test_derivations():
    from derivations import ntk_flow as N
    import sympy as sp

    assert N.eq26_residual() == sp.zeros(2, 1)
    assert sp.simplify(N.flow_movement() - 2 * N.paper_flow_movement()) == 0


@pytest.mark.parametrize("name,label,k", [
    ("kernels.flow_residual_bound", "Theorem 2.2", 0.5),
    ("kernels.flow_movement", "Lemma 2.3", 0.05),
    ("kernels.i2_bound", "I_1/I_2 split", 0.1),
])
def test_bound_rows_pass_and_fail_on_a_smaller_bound(name, label, k):
    assert all(r.passed for r in _rows(name, label))
    assert not any(r.passed for r in _rows(name, label, _scaled(name, k)))


def test_quarter_active_flow_attains_the_bounds():
    for name in ("kernels.flow_residual_bound", "kernels.flow_movement"):
        assert all(r.passed for r in _rows(name, "flow of the quarter-active"))
        assert not any(r.passed for r in _rows(name, "flow of the quarter-active",
                                                _scaled(name, 1 + 1e-6)))


def test_eq26_row_catches_a_wrong_gram(monkeypatch):
    assert all(r.passed for r in _rows("kernels.flow_residual_bound", "eq. (2.6)"))
    gram = C.S.gram
    monkeypatch.setattr(C.S, "gram", lambda W, X: gram(W, X) * (1 + 1e-3))
    assert not any(r.passed for r in _rows("kernels.flow_residual_bound", "eq. (2.6)"))


def test_theorem_2_1_and_lemma_2_6_rows(monkeypatch):
    assert all(r.passed for r in _rows("kernels.h_inf", "Theorem 2.1"))
    # a linear kernel x.y/2 has rank <= d = 3 < 12: singular on non-parallel data
    assert not any(r.passed for r in _rows(
        "kernels.h_inf", "Theorem 2.1", lambda x, y: 0.5 * np.sum(x * y, -1)))
    assert all(r.passed for r in _rows("kernels.h_inf", "Lemma 2.6"))
    sets = C.thm21_sets

    def with_dup():
        s = sets()
        s["random"][3] = s["random"][2]
        return s

    monkeypatch.setattr(C, "thm21_sets", with_dup)
    assert not any(r.passed for r in _rows("kernels.h_inf", "Lemma 2.6"))


def test_i2_bound_attained_by_one_gd_step():
    name = "kernels.i2_bound"
    assert all(r.passed for r in _rows(name, "one GD step"))
    assert not any(r.passed for r in _rows(name, "one GD step", _scaled(name, 1 + 1e-6)))
