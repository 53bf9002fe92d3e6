"""Stage 1, the printer: SymPy expressions in, NumPy source text out.

In: SymPy expressions (coefficients of a formula after the rewrites of the later stages, or a
family template's pieces).  Out: lines of Python that ``import numpy`` and call the runtime as
``_rt.<helper>`` (:mod:`derivations.runtime`): :func:`print_expr` for one expression,
:func:`print_block` for several with common subexpressions named ``_t<i>`` (SymPy's ``cse``).
Ratios of Gamma functions go to ``_rt.gamma_ratio`` (:mod:`derivations.gamma_ratio`).
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from .. import registry
from ..gamma_ratio import gamma_ratios


def _is_const(s) -> bool:
    """A named constant ``_c<i>`` of :func:`_fold_constants` (a Python float at run time)."""
    return re.fullmatch(r"_c\d+", str(s)) is not None


class _Printer(NumPyPrinter):
    """NumPy printer that writes ``numpy.`` (the generated modules ``import numpy``)."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": True, "inline": True})

    def _print_Add(self, expr, order=None):
        """Positive terms first (``1 - c*psi - s``, not ``-c*psi - s + 1``): no negation pass."""
        terms = self._as_ordered_terms(expr, order=order)
        neg = [t.could_extract_minus_sign() for t in terms]
        if neg[0] and not all(neg):
            terms = [t for t, n in zip(terms, neg) if not n] + [t for t, n in zip(terms, neg) if n]
        prec = precedence(expr)
        out = []
        for term in terms:
            t = self._print(term)
            sign = "+"
            if t.startswith("-"):
                sign, t = "-", t[1:]
            out.extend([sign, f"({t})" if precedence(term) < prec else t])
        sign = out.pop(0)
        return ("" if sign == "+" else sign) + " ".join(out)

    def _print_Max(self, expr):
        """``numpy.maximum`` nested over the arguments (SymPy prints ``functools.reduce(...)``,
        and the generated modules import NumPy only)."""
        return self._nested("numpy.maximum", expr.args)

    def _print_Min(self, expr):
        """``numpy.minimum`` nested over the arguments (as :meth:`_print_Max`)."""
        return self._nested("numpy.minimum", expr.args)

    def _nested(self, fn, args):
        out = self._print(args[-1])
        for a in reversed(args[:-1]):
            out = f"{fn}({self._print(a)}, {out})"
        return out

    def _print_gamma(self, expr):
        """``_rt.gamma``: Gamma of a float or an array, inf on overflow (``math.gamma``, which
        SymPy prints, takes one float and raises OverflowError, so an overflowing branch of a
        Piecewise that is never selected made the whole expression fail)."""
        return f"_rt.gamma({self._print(expr.args[0])})"

    def _print_Pow(self, expr, rational=False):
        """The reciprocal of an array as ``(1/x)``: ``x**(-1.0)`` goes through NumPy's general
        power loop (4x the time of a division); an even power of a sum with its sign chosen so
        that the sum starts with a product (see :meth:`_flip`); other powers as SymPy prints
        them."""
        b, e = expr.as_base_exp()
        if b.free_symbols and e == -1:
            return f"(1/{self.parenthesize(b, PRECEDENCE['Pow'])})"
        if b.is_Add and e.is_Integer and e % 2 == 0 and self._flip(b):
            return super()._print_Pow(sp.Pow(sp.expand(-b), e, evaluate=False), rational=rational)
        return super()._print_Pow(expr, rational=rational)

    def _flip(self, a: sp.Expr) -> bool:
        """Whether ``-a`` prints better than ``a`` for NumPy: ``x - y*z`` allocates a second
        array (NumPy reuses a temporary in place only as the left operand of ``-``), while
        ``y*z - x`` computes the product and subtracts into it."""
        def lead(e):
            first = re.split(r" [+-] ", self._print(e).lstrip("-"), maxsplit=1)[0]
            return any(ch in first for ch in "*/(")
        return not lead(a) and lead(sp.expand(-a))

    def _print_Mul(self, expr):
        """Constant factors (numbers, pi, sqrt(2)) grouped in one parenthesized scalar, so an
        array is multiplied once by it instead of once per factor."""
        def scalar(a):
            return all(_is_const(s) for s in a.free_symbols)

        const = [a for a in expr.args if scalar(a)]
        rest = [a for a in expr.args if not scalar(a)]
        if not const or not rest or sp.Mul(*const).is_Rational:
            return super()._print_Mul(expr)
        c = sp.Mul(*const)
        sums = [a for a in rest if a.is_Add]
        if len(sums) == 1 and self._flip(sums[0]):  # the sign goes into the scalar: no extra pass
            rest = [sp.expand(-a) if a is sums[0] else a for a in rest]
            c = -c
        r = sp.Mul(*rest)
        body = super()._print_Mul(r) if r.is_Mul else self.parenthesize(r, PRECEDENCE["Mul"])
        if isinstance(c, sp.Symbol):
            return f"{body}*{c}"
        if c.is_Add:  # a sum prints whole (``numpy.pi - 4``): a sign pulled out of it would
            return f"{body}*({self._print(c)})"  # need parentheses of its own
        neg = c.could_extract_minus_sign()
        cc = -c if neg else c
        cs = super()._print_Mul(cc) if cc.is_Mul else self.parenthesize(cc, PRECEDENCE["Mul"])
        return f"{body}*({'-' if neg else ''}{cs})"  # the sign stays with the scalar


def print_expr(expr: sp.Expr) -> str:
    return _Printer().doprint(expr)


def print_block(exprs: list[sp.Expr], prefix: str = "_t") -> tuple[list[str], list[str]]:
    """CSE-print ``exprs``: returns (assignment lines, printed results).  Ratios of Gamma
    functions are printed as ``_rt.gamma_ratio`` (:mod:`derivations.gamma_ratio`)."""
    exprs = [gamma_ratios(e) for e in exprs]
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols(prefix), order="canonical")
    lines = [f"{sym} = {print_expr(val)}" for sym, val in replacements]
    return lines, [print_expr(r) for r in reduced]


def _dim_code(formula: registry.Formula, space: str) -> str:
    """Code for the dimension of ``space``: an int argument, or a vector argument's length."""
    for a in formula.args:
        if a.kind == "int" and a.space == space:
            return a.name
    for a in formula.args:
        if a.kind == "vector" and a.space == space:
            return f"{a.name}.shape[-1]"
    raise ValueError(f"{formula.name}: no argument gives the dimension of space {space}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
