"""Issue 23 item 2: Gamma-function constants never overflow and keep full relative accuracy.

References are mpmath at 50 digits, computed here from the definitions (not from the emitted
expressions): ``r = sqrt(2/p) Gamma((p+1)/2)/Gamma(p/2)`` (E|w|sqrt(n) of App. B.2),
``c_2 = 1 - r``, ``rate_c = -log(r)/4``, ``E cos(phi0) = Gamma(p/2)/(sqrt(pi) Gamma((p+1)/2))``.
The p values straddle every switch point of the emitted code: 170 (the runtime's direct/mpmath
switch for a Gamma argument p/2 or (p+1)/2: p = 339 .. 341), 342/343 (math.gamma's overflow).
"""
import mpmath
import numpy as np
import pytest
import sympy as sp

from derivations.gamma_ratio import GammaRatio, gamma_ratios
from derivations import runtime as rt
from derivations.generated import circulant as C
from derivations.generated import cnn

PS = [1, 2, 3, 4, 7, 50, 338, 339, 340, 341, 342, 343, 344, 400, 1001, 2500, 9999, 10**4]


def _r(p):
    with mpmath.workdps(50):
        return mpmath.sqrt(mpmath.mpf(2) / p) * mpmath.gamma(mpmath.mpf(p + 1) / 2) / mpmath.gamma(mpmath.mpf(p) / 2)


def _rel(value, ref):
    with mpmath.workdps(50):
        return float(abs((mpmath.mpf(float(value)) - ref) / ref))


@pytest.mark.parametrize("p", PS)
def test_theorem1_constants_against_50_digits(p):
    r = _r(p)
    with mpmath.workdps(50):
        refs = {"init_norm_mean": r / mpmath.sqrt(10**6), "c2": 1 - r, "rate_c": -mpmath.log(r) / 4,
                "init_cos_mean": mpmath.gamma(mpmath.mpf(p) / 2)
                / (mpmath.sqrt(mpmath.pi) * mpmath.gamma(mpmath.mpf(p + 1) / 2))}
    got = {"init_norm_mean": C.init_norm_mean(10**6, p), "c2": C.c2(p), "rate_c": C.rate_c(p),
           "init_cos_mean": cnn.init_cos_mean(p)}
    for name, ref in refs.items():
        assert _rel(got[name], ref) < 1e-12, (name, p, got[name])


def test_issue_23_cases_are_finite():
    assert 0 < C.c2(400) < 1e-3 and 0 < C.rate_c(400) < 1e-3
    assert np.isfinite(C.init_norm_mean(10**6, 400))
    # far beyond float64's Gamma range, still the asymptotic 1/(4p)
    assert abs(C.c2(10**12) * 4e12 - 1) < 1e-9


def test_init_dot_mean_large_k():
    k = 500
    a = np.linspace(-1.0, 2.0, k)
    w = np.array([1.0, 2.0, 3.0])
    with mpmath.workdps(50):
        ref = (abs(mpmath.fsum(a)) * mpmath.sqrt(14) / mpmath.sqrt(k)
               * mpmath.sqrt(mpmath.fsum([mpmath.mpf(t) ** 2 for t in a]))
               * mpmath.gamma(mpmath.mpf(k) / 2 + 1)
               / (mpmath.sqrt(mpmath.pi) * mpmath.gamma(mpmath.mpf(k) / 2 + mpmath.mpf(3) / 2)))
    assert _rel(cnn.init_dot_mean(w, a), ref) < 1e-12


@pytest.mark.parametrize("a,b", [(0.5, 1.0), (169.5, 170.0), (170.5, 171.0), (171.5, 172.0),
                                 (5000.5, 5000.0), (3.0, 160.0), (200.0, 199.5)])
def test_runtime_gamma_ratio(a, b):
    with mpmath.workdps(50):
        ref = mpmath.gamma(a) / mpmath.gamma(b)
    assert _rel(rt.gamma_ratio(a, b), ref) < 1e-13
    arr = rt.gamma_ratio(np.array([a, a]), b)
    assert arr.shape == (2,) and _rel(arr[1], ref) < 1e-13


def test_rewrite_is_exact_and_printed():
    from derivations.codegen import print_expr

    p = sp.Symbol("p", positive=True)
    e = 3 * sp.gamma(p / 2) ** 2 / (sp.sqrt(sp.pi) * sp.gamma(p / 2 + sp.S.Half) * sp.gamma(p + 1))
    r = gamma_ratios(e)
    assert r.count(GammaRatio) == 2 and not r.has(sp.gamma)
    assert sp.simplify(r.rewrite(sp.gamma) - e) == 0
    assert "_rt.gamma_ratio(" in print_expr(r) and "math.gamma" not in print_expr(r)
    assert gamma_ratios(sp.gamma(p)) == sp.gamma(p)  # a lone Gamma is left alone
