"""Dukler, Gu & Montufar (seed 002, ``002_ed9ef0b38b0c2dbd.txt``), eq. (2.2): the BN/WN analogy
E_x[w^T x x^T w] = w^T S w = |w|_S^2 (spec B3), derived.  Family ``wn``.

The covariance is a spiked S = a I + b u u^T (the registry's arguments are vectors and scalars):
x = sqrt(a) xi + sqrt(b) zeta u with xi ~ N(0, I), zeta ~ N(0, 1) independent, so E x = 0 and
E x x^T = S.  Then w^T x = sqrt(a) g + sqrt(b) (w.u) zeta with g = w^T xi ~ N(0, |w|^2)
independent of zeta; (w^T x)^2 is expanded and each monomial g^k zeta^l replaced by its
moments, integrated against the Gaussian densities.  WN is the case S = I (a = 1, b = 0): |w|^2.
The sec. 4 rows (lambda_min(Lambda) >= max{...}, Proposition 2's rate comparison, Lemma 4.1's
positive definiteness on the experiments' data) are checks of existing formulas
(numerics/checks/wn_sec4.py).
"""
from __future__ import annotations

import sympy as sp

from . import vectors as V
from .knobs import cached, knob
from .registry import Arg, Formula, register

SOURCE = "002 Dukler, Gu & Montufar 2020"
W = V.vector("w", "p")
U = V.vector("u", "p")
a, b = sp.symbols("a b", nonnegative=True)
_t = sp.Symbol("t", real=True)


def _moment(k, sd):
    dens = knob("wn.bn_density", 1 / sp.sqrt(2 * sp.pi)) / sd * sp.exp(-_t ** 2 / (2 * sd ** 2))
    return sp.simplify(sp.integrate(_t ** k * dens, (_t, -sp.oo, sp.oo)))


@cached
def bn_energy():
    g, z = sp.symbols("g zeta", real=True)
    proj = sp.sqrt(a) * g + sp.sqrt(b) * V.dot(W, U) * z
    out = 0
    for term in sp.Add.make_args(sp.expand(proj ** 2)):
        kg, kz = sp.degree(term, g), sp.degree(term, z)
        coeff = term / (g ** kg * z ** kz)
        out += coeff * _moment(kg, V.norm(W)) * _moment(kz, 1)
    return sp.simplify(out)


register(Formula(
    "wn.bn_energy", f"{SOURCE}, eq. (2.2), E_x[w^T x x^T w] = |w|_S^2 (spec B3)",
    (Arg("w", "vector", "weight vector w", "p"), Arg("u", "vector", "spike direction u of S", "p"),
     Arg("a", "scalar", "S = a I + b u u^T: isotropic part", domain=(">= 0",)),
     Arg("b", "scalar", "S = a I + b u u^T: spike", domain=(">= 0",))),
    "x = sqrt(a) xi + sqrt(b) zeta u, xi ~ N(0, I), zeta ~ N(0, 1) independent: E x = 0, "
    "E x x^T = S = a I + b u u^T; WN is S = I", bn_energy,
    r"\mathbb E_{\mathbf x}[\mathbf w^\top\mathbf x\mathbf x^\top\mathbf w]",
))
