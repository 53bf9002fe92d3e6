"""Thesis ch. 7 Corollaries 7.1-7.2, Lemmas 7.1 and 7.3 rows (numerics/checks/saddle_lemmas.py):
the rows pass, and each fails on a planted error."""
from __future__ import annotations

import numpy as np
import sympy as sp

import derivations
from numerics.checks import saddle_lemmas as C
from numerics.harness import Context, Subject

CTX = Context(samples=2000)


def _subject(name, scale=1.0):
    f = derivations.get(name)
    return Subject(f, lambda *a: np.asarray(f.numpy(*a)) * scale)


def test_derived_rescaling():
    from derivations.saddle import corollaries as K

    assert sp.simplify(K.cor72_ell() - K.ELL / K.R**2) == 0
    assert sp.simplify(K.cor72_rho() - K.RHO / K.R**3) == 0
    assert sp.simplify(K.cor72_step() - K.ETA / K.R**2) == 0
    assert K.value_ratio() == 1


def test_cor72_rows_and_planted():
    for name, fn in (("saddle.cor72_ell", C._cor72_ell), ("saddle.cor72_rho", C._cor72_rho),
                     ("saddle.cor72_step", C._cor72_step)):
        assert fn(_subject(name), CTX)[0].passed, name
        assert not fn(_subject(name, 1.01), CTX)[0].passed, name


def test_lemma71_search_and_planted_list():
    assert C._lemma71_search(None, CTX)[0].passed

    def wrong(d):  # a derived list with one saddle misplaced
        out = dict(C.derived_list(d))
        out.pop(next(iter(out)))
        out[(1.0,) * d] = 1
        return out

    assert not C._lemma71_search(None, CTX, extra=wrong)[0].passed


def test_lemma73_slack_and_planted_bound():
    assert C._lemma73(None, CTX)[0].passed
    assert not C._lemma73(None, CTX, scale=20.0)[0].passed


def test_cor71_no_sosp_and_planted_eps():
    assert C._cor71(None, CTX)[0].passed
    assert not C._cor71(None, CTX, eps=10.0)[0].passed


def test_constant_enclosures_and_planted():
    from derivations.saddle import constants as K

    ctx = CTX
    for fn, row, scale in ((K.ell_interval, C._ell_enclosure, 0.999),
                           (K.rho_interval, C._rho_enclosure, 0.98),
                           (K.B_interval, C._B_enclosure, 0.99)):
        assert row(Subject(None, fn), ctx)[0].passed
        assert not row(Subject(None, fn), ctx, scale=scale)[0].passed
    assert C._alpha_rows(None, ctx)[0].passed
    assert K.strict_saddle_alpha() == 2 * sp.Symbol("gamma", positive=True)


def test_constant_bad_input():
    import pytest

    from derivations.saddle import constants as K

    with pytest.raises(ValueError, match="L must be >= gamma"):
        K.ell_interval(0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="^d must"):
        K.B_interval(1)
    with pytest.raises(ValueError, match="^tau must"):
        K.rho_interval(1.0, 1.0, -1.0)


def test_theorem71_and_planted_horizon():
    from derivations.saddle import constants as K

    assert C._theorem71(None, CTX)[0].passed
    assert C.ELL_HI >= K.ell_interval(rtol=1e-5)[1]  # an upper bound of ell: eta < 1/ell
    g, lam, _, _ = C.theorem71_runs(extra=-50)          # stopped before the last escape settles
    assert g.max() > 1e-8 or lam.min() <= 0


def test_enclosures_without_python_flint_say_how_to_install_it(monkeypatch):
    """Without python-flint (``pip install .`` alone) the enclosures raise an ImportError naming
    the extra, and the main job registers no enclosure rows (tests/CI have the extra)."""
    import sys

    import pytest

    from derivations.saddle import constants as K

    monkeypatch.setitem(sys.modules, "flint", None)
    with pytest.raises(ImportError, match=r"nnderive\[rigorous\]"):
        K.ell_interval()
