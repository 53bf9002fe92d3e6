"""Ratios of Gamma functions for the emitted code (issue 23 item 2).

The derived closed forms of dimension-dependent constants contain ``Gamma(a)/Gamma(b)`` (e.g.
``E cos(phi0) = Gamma(p/2)/(sqrt(pi) Gamma((p+1)/2))``).  Printed as ``math.gamma(a) /
math.gamma(b)`` they raise OverflowError from ``a > 171.6`` (p >= 343) although the ratio is
of order ``sqrt(p)``.  :func:`gamma_ratios` rewrites each product of Gamma powers into
:class:`GammaRatio` factors (one numerator Gamma paired with one denominator Gamma), which the
NumPy printer prints as ``_rt.gamma_ratio(a, b)`` (``derivations.runtime.gamma_ratio``: direct below 170,
mpmath's ``gammaprod`` above, never overflowing, to a few ulp).  Unpaired Gammas stay
``gamma``.  The rewrite is exact (``GammaRatio(a, b).rewrite(sp.gamma) == gamma(a)/gamma(b)``)
and applied only when printing: the registered expressions keep their Gamma functions.
"""
from __future__ import annotations

import sympy as sp


class GammaRatio(sp.Function):
    """``Gamma(a) / Gamma(b)``, printed for NumPy as ``_rt.gamma_ratio(a, b)``."""

    nargs = 2

    def _eval_rewrite_as_gamma(self, a, b, **kwargs):
        return sp.gamma(a) / sp.gamma(b)

    def _eval_evalf(self, prec):
        return (sp.gamma(self.args[0]) / sp.gamma(self.args[1]))._eval_evalf(prec)

    def _numpycode(self, printer):
        a, b = (printer._print(x) for x in self.args)
        return f"_rt.gamma_ratio({a}, {b})"

    _pythoncode = _numpycode


def _pair(mul: sp.Mul) -> sp.Expr:
    num, den, rest = [], [], []
    for f in mul.args:
        base, e = f.as_base_exp()
        if isinstance(base, sp.gamma) and e.is_Integer and e != 0:
            (num if e > 0 else den).extend([base.args[0]] * abs(int(e)))
        else:
            rest.append(f)
    k = min(len(num), len(den))
    ratios = [GammaRatio(a, b) for a, b in zip(num[:k], den[:k])]
    left = [sp.gamma(a) for a in num[k:]] + [1 / sp.gamma(b) for b in den[k:]]
    return sp.Mul(*rest, *ratios, *left)


def _has_ratio(e) -> bool:
    if not e.is_Mul:
        return False
    signs = {f.as_base_exp()[1].is_positive for f in e.args
             if isinstance(f.as_base_exp()[0], sp.gamma)}
    return signs == {True, False}


def gamma_ratios(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every product containing ``Gamma(a) ... / Gamma(b) ...`` rewritten into
    :class:`GammaRatio` factors (identity otherwise)."""
    expr = sp.sympify(expr)
    if not expr.has(sp.gamma):
        return expr
    return expr.replace(_has_ratio, _pair)
