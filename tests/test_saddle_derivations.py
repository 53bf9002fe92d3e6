"""Saddle connectors (thesis ch. 7, Theorem 7.4, Lemma 7.4): derivations satisfy their defining
conditions, emitted code matches 50-digit evaluation, and the thesis's numbers come out."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

import derivations as D
from derivations import precision
from derivations.saddle import connectors as C
from derivations.saddle import rates as R

x, L, g, t = C.x, C.L, C.gamma, C.tau
SCALARS = ["saddle.hermite_cubic", "saddle.p", "saddle.g1", "saddle.g2", "saddle.g", "saddle.nu",
           "saddle.escape_ratio"]


def zero(e):
    return sp.simplify(sp.expand(e)) == 0


def test_p_meets_the_conditions_of_lemma_7_4():
    p = C.p()
    assert zero(p.subs(x, t) + 2 * g * t) and zero(p.subs(x, 2 * t) + 4 * L * t)
    dp = sp.diff(p, x)
    assert zero(dp.subs(x, t) + 2 * g) and zero(dp.subs(x, 2 * t) - 2 * L)
    assert sp.Poly(sp.expand(p), x).degree() == 3


def test_g1_is_the_antiderivative_of_p_and_nu_closes_the_gap():
    g1 = C.g1()
    assert zero(sp.diff(g1, x) - C.p())
    assert zero(g1.subs(x, t) + g * t**2)
    assert zero(C.nu() - (-g1.subs(x, 2 * t) + 4 * L * t**2))
    assert zero(C.nu() - t**2 * (37 * L + 13 * g) / 6)
    assert zero(g1.subs(x, 2 * t) + sp.Rational(13, 6) * (L + g) * t**2)


def test_g2_meets_its_six_conditions_and_the_printed_forms():
    g2 = C.g2()
    assert zero(g2.subs(x, t) - L) and zero(g2.subs(x, 2 * t) + g)
    for n in (1, 2):
        for pt in (t, 2 * t):
            assert zero(sp.diff(g2, x, n).subs(x, pt))
    assert zero(g2 - C.g2_paper())
    assert zero(sp.diff(g2, x) - C.g2_prime_paper())


def test_hermite_is_theorem_7_4():
    h = C.hermite_cubic()
    assert zero(h - C.hermite_paper())
    assert zero(h.subs(C.Y, C.Y0) - C.F0) and zero(h.subs(C.Y, C.Y1) - C.F1)
    assert zero(sp.diff(h, C.Y).subs(C.Y, C.Y0) - C.DF0)
    assert zero(sp.diff(h, C.Y).subs(C.Y, C.Y1) - C.DF1)
    # p is Theorem 7.4's interpolant with Lemma 7.4's data
    data = {C.Y0: t, C.Y1: 2 * t, C.F0: -2 * g * t, C.F1: -4 * L * t, C.DF0: -2 * g, C.DF1: 2 * L}
    assert zero(h.subs(data).subs(C.Y, x) - C.p())


def test_thesis_numbers_at_L_e():
    vals = {L: sp.E, g: 1, t: sp.E}
    assert abs(float(C.nu().subs(vals)) - 139.870432574007) < 1e-11
    assert abs(float(C.g1().subs(vals).subs(x, 2 * sp.E)) + 59.5282848812564) < 1e-11
    coeffs = sp.Poly(sp.expand(C.p().subs(vals)), x).all_coeffs()[::-1]
    want = [-133.844837118991, 117.660346050625, -33.6993756471996, 2.86678271229475]
    assert np.allclose([float(c) for c in coeffs], want, rtol=1e-13)


def test_escape_ratio_derivation():
    r = R.escape_ratio()
    at = r.subs(R.eta, 1 / (4 * L)).rewrite(sp.log)  # the derivation is written with log1p
    assert zero(at - (1 + sp.log(2) / sp.log(1 + g / (2 * L))))
    assert zero(sp.limit(r, R.eta, 0, "+") - (L + g) / g)
    f = D.get("saddle.escape_ratio").numpy
    assert abs(f(math.e, 1.0, 1 / (4 * math.e)) - 5.105163970915471) < 1e-12
    # the proof's (L+gamma)/gamma is a strict lower bound for every admissible step
    etas = np.linspace(1e-4, 0.49, 50)
    assert np.all(f(1.0, 1.0, etas) > 2.0) and np.all(f(3.0, 1.0, etas / 3) > 4.0)


@pytest.mark.parametrize("name", SCALARS)
def test_emitted_scalar_code_matches_50_digits(name):
    f = D.get(name)
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(25):
        gam = float(rng.uniform(0.3, 2))
        pt = dict(L=gam * float(rng.uniform(1, 5)), gamma=gam, tau=float(rng.uniform(0.5, 3)),
                  y0=-0.3, y1=1.7, f0=0.4, f1=-1.1, df0=-0.2, df1=2.5)
        pt["x"] = pt["tau"] * float(rng.uniform(0.9, 2.1))
        pt["y"] = float(rng.uniform(0, 1)) * (pt["tau"] if name == "saddle.g" else 2)
        pt["eta"] = float(rng.uniform(0.01, 0.49)) / pt["L"]
        args = {a.name: pt[a.name] for a in f.args}
        got = f.numpy(**args)
        ref, scale = precision.evaluate(f, args)
        worst = max(worst, abs(got - ref) / max(float(scale), 1e-300))
    assert worst < 1e-13


@pytest.mark.parametrize("name", SCALARS + ["saddle.f", "saddle.grad", "saddle.hessian"])
def test_latex_renders(name):
    s = D.get(name).latex()
    assert "=" in s and "nan" not in s.lower()
