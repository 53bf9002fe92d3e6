"""Display forms: each derived formula printed the way its paper writes it.

A *display form* is a SymPy expression that the printer of this package sets in the authors'
notation: named functions where the paper names them (``g(phi)``, ``sigma``, the indicator, the
matrices ``A`` and ``B``), terms grouped by the invariants the paper groups by, coefficients
ordered as people write them (``(pi - 1) |a|^2``), sums and products with their indices, and
matrix notation instead of role-basis pseudo-functions.

It is a way of *printing* the derivation, never a transcription: every display form is built
from ``formula.expr`` by SymPy operations (``collect``, ``factor_terms``, substitution of a
named function's definition by pattern replacement, reading coefficients off the derived
expression) and carries its own proof, :meth:`Display.residuals`, a list of SymPy expressions
that must simplify to ``0`` -- normally ``expand_named(display) - formula.expr``, where
:func:`expand_named` substitutes every named function's definition back.  ``tests/
test_display.py`` checks the proof of every registered formula.

* :class:`Named` -- a named function (``g(phi)``) with its LaTeX and its definition;
* :class:`PaperPrinter` -- the LaTeX printer (term and factor order, constant fractions first,
  ``\\cos\\phi`` without brackets);
* :func:`register` / :func:`display_of` -- display builders per formula name (the modules of
  this package), with :func:`auto` (grouping and ordering only) for every other formula.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from .. import vectors

#: Modules of this package that register display builders (imported on first use).
MODULES = ("derivations.display.gaussian_cnn",
           "derivations.display.circulant", "derivations.display.resnet",
           "derivations.display.others", "derivations.display.saddle")


# --------------------------------------------------------------------------------------------
# Named functions
# --------------------------------------------------------------------------------------------


class Named(sp.Function):
    """A function the paper gives a name (``g(phi)``).  Subclasses (made by :func:`named`) set
    ``tex`` (a format string over the printed arguments), ``meaning`` (words) and
    ``_definition`` (a callable of the arguments returning the SymPy expression it stands
    for)."""

    tex = "{name}({args})"
    meaning = ""
    show_definition = True
    paren_args: tuple = ()   # arguments set in brackets when they are sums
    rank = 3                 # position among the factors of a product (PaperPrinter._rank)

    @classmethod
    def eval(cls, *args):  # never evaluates: the name is the point
        return None

    def definition(self) -> sp.Expr:
        return self._definition(*self.args)

    def _latex(self, printer) -> str:
        args = [printer._print(a) for a in self.args]
        for i in self.paren_args:
            if self.args[i].is_Add:
                args[i] = r"\left(" + args[i] + r"\right)"
        return self.tex.format(*args, args=", ".join(args))

    def _eval_derivative(self, s):  # differentiate through the definition
        return sp.diff(self.definition(), s)


def named(name: str, tex: str, definition: Callable, meaning: str = "", nargs: int = 1,
          show_definition: bool = True, paren_args: tuple = (), rank: float = 3) -> type:
    """A :class:`Named` function class: ``tex`` formats the printed arguments (``{0}``, ...);
    ``definition(*args)`` is what it stands for (substituted back by :func:`expand_named`)."""
    return type(name, (Named,), {"tex": tex, "_definition": staticmethod(definition),
                                 "meaning": meaning, "nargs": nargs,
                                 "show_definition": show_definition,
                                 "paren_args": paren_args, "rank": rank})


def expand_named(expr):
    """``expr`` with every :class:`Named` function replaced by its definition (repeatedly, so
    named functions inside definitions go too)."""
    expr = sp.sympify(expr)
    for _ in range(20):
        new = expr.replace(lambda e: isinstance(e, Named), lambda e: e.definition())
        if new == expr:
            return new
        expr = new
    raise RecursionError("named functions nested more than 20 deep")


def named_in(expr) -> list:
    """The distinct :class:`Named` applications in ``expr`` (nested ones included), in order
    of first appearance."""
    out = []
    for e in sp.preorder_traversal(sp.sympify(expr)):
        if isinstance(e, Named) and e not in out:
            out.append(e)
            out += [x for x in named_in(e.definition()) if x not in out]
    return out


# --------------------------------------------------------------------------------------------
# The printer
# --------------------------------------------------------------------------------------------

_BASIS = ("vector", "ones", "outer", "eye")


def _is_basis(s) -> bool:
    m = vectors.meaning(s)
    return m is not None and m.kind in _BASIS


def _vectorish(e) -> bool:
    return any(_is_basis(s) for s in e.free_symbols)


def _negative(t) -> bool:
    if t.is_Number:
        return bool(t < 0)
    if t.is_Mul:
        return any(a.is_Number and a < 0 for a in _flat_factors(t))
    return False


def _neg(t):
    """``-t`` keeping the order of an unevaluated product."""
    if t.is_Number:
        return -t
    if t.is_Mul:
        args = _flat_factors(t)
        for i, a in enumerate(args):
            if a.is_Number:
                args[i] = -a
                if args[i] == 1:
                    del args[i]
                break
        else:
            return sp.Mul(-1, t)
        return sp.Mul(*args, evaluate=False) if len(args) > 1 else args[0]
    return sp.Mul(-1, t)


def _flat_factors(e) -> list:
    out = []
    for a in sp.Mul.make_args(e):
        if a.is_Mul:
            out += _flat_factors(a)
        else:
            out.append(a)
    return out


def _wrapped(tex: str) -> bool:
    """``tex`` is one bracketed unit (``(...)``, ``\\|...\\|``): a superscript may follow."""
    if tex.startswith(r"\|") and tex.endswith(r"\|") and tex.count(r"\|") == 2:
        return True
    if not (tex.startswith("(") and tex.endswith(")")):
        return False
    depth = 0
    for i, c in enumerate(tex):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth == 0 and i < len(tex) - 1:
            return False
    return True


class PaperPrinter(LatexPrinter):
    """LaTeX in the papers' habits.

    * sums: positive terms first, plain numbers last (``\\pi - 1``, ``k + \\pi - 1``), the
      order of an unevaluated sum kept otherwise;
    * products: the numeric and constant factors first as one fraction (``\\frac{\\pi -
      1}{2\\pi} \\|a\\|^2``), then scalar sums in brackets, named functions, invariants, and
      vectors or matrices last; a product with a variable denominator is one fraction;
    * ``\\cos\\phi`` for a function of a single symbol.
    ``consts`` are symbols counted as constants (dimensions, depth) besides numbers and pi."""

    def __init__(self, names: dict | None = None, consts=()):
        symbol_names = vectors.latex_names()
        symbol_names.update(names or {})
        super().__init__({"symbol_names": symbol_names, "fold_func_brackets": False,
                          "order": "none", "parenthesize_super": False,
                          "mul_symbol": None})
        dims = {s for s, m in vectors._TABLE.items() if m.kind == "dim"}
        self.consts = set(consts) | dims

    # -- classification ---------------------------------------------------------------------
    def _const(self, f) -> bool:
        return not (f.free_symbols - self.consts) and not f.has(Named)

    def _rank(self, f) -> int:
        if f.is_Number:
            return 0
        if self._const(f):
            return 1
        if _vectorish(f) or (isinstance(f, Named) and f.rank >= 5):
            return 5
        if f.is_Add or (f.is_Pow and f.base.is_Add):
            return 2
        if isinstance(f, Named):
            return f.rank
        if f.is_Pow and isinstance(f.base, Named):
            return f.base.rank
        return 4

    # -- sums -------------------------------------------------------------------------------
    def _print_Add(self, expr, order=None):
        terms = list(expr.args)
        if sp.Add(*terms).args == tuple(terms):  # canonical order: put it as people write it
            terms.sort(key=lambda t: (_negative(t), bool(t.is_Number)))
        # else: an unevaluated sum built in the paper's order keeps it
        out = ""
        for i, t in enumerate(terms):
            if _negative(t):
                s = self._print(_neg(t))
                if _neg(t).is_Add:
                    s = r"\left(" + s + r"\right)"
                if s.startswith("- "):  # the product moved a sign of its own forward
                    out += s[2:] if i == 0 else " + " + s[2:]
                else:
                    out += ("- " if i == 0 else " - ") + s
            else:
                s = self._print(t)
                if s.startswith("- ") and i > 0:  # a product that moved its sign forward
                    out += " - " + s[2:]
                else:
                    out += s if i == 0 else " + " + s
        return out

    # -- products ---------------------------------------------------------------------------
    def _factor(self, f) -> str:
        if f.is_Add or (f.is_Mul and _negative(f)):
            return r"\left(" + self._print(f) + r"\right)"
        return self.parenthesize(f, PRECEDENCE["Mul"], strict=False)

    def _join(self, factors, bare=False) -> str:
        if bare and len(factors) == 1:
            return self._print(factors[0])
        parts = []
        for f in factors:
            s = self._factor(f)
            if parts and self._rank(f) >= 5 and not parts[-1].endswith(r"\right)"):
                s = r"\, " + s  # a thin space before a vector or matrix
            if parts and (f.is_Number or s[:1].isdigit()) and parts[-1][-1:].isdigit():
                parts.append(r"\cdot " + s)
            else:
                parts.append(s)
        return " ".join(parts)

    def _print_Mul(self, expr):
        factors = _flat_factors(expr)
        sign = ""
        coeff = sp.Integer(1)
        rest = []
        for f in factors:
            if f.is_Number:
                coeff *= f
            else:
                rest.append(f)
        if coeff < 0:
            sign, coeff = "- ", -coeff
        for i, f in enumerate(rest):  # (pi - phi), not (phi - pi): angles lie in [0, pi]
            # and (g(phi) - 1), not (1 - g(phi)): a named function leads a bracket with a number
            if not f.is_Add:
                continue
            cd = f.as_coefficients_dict()
            named_neg = any(_negative(t) and any(isinstance(x, Named) for x in _flat_factors(t))
                            for t in f.args) and not any(
                t.has(sp.pi) and not _negative(t) for t in f.args)
            if cd.get(sp.pi, 0) < 0 or named_neg or all(
                    _negative(t) or self._print(t).startswith("- ") for t in f.args):
                rest[i] = sp.Add(*[-t for t in f.args])
                sign = "" if sign else "- "
        num, den = [], []
        if coeff.is_Rational:
            if coeff.p != 1:
                num.append(sp.Integer(coeff.p))
            if coeff.q != 1:
                den.append(sp.Integer(coeff.q))
        elif coeff != 1:
            num.append(coeff)
        for f in rest:
            if f.is_Pow and f.exp.is_number and f.exp.is_negative and not f.base.is_Number:
                den.append(f.base ** (-f.exp) if f.exp != -1 else f.base)
            else:
                num.append(f)
        num.sort(key=self._rank)
        den.sort(key=self._rank)
        if not den:
            return sign + (self._join(num) if num else "1")
        if any(not self._const(f) for f in den):
            tail = [f for f in num if self._rank(f) >= 4.8]  # indicators, vectors follow
            num = [f for f in num if self._rank(f) < 4.8]
            top = self._join(num, True) if num else "1"
            out = sign + r"\frac{" + top + "}{" + self._join(den, True) + "}"
            return out + (" " + self._join(tail) if tail else "")
        cnum = [f for f in num if self._const(f)]
        vnum = [f for f in num if not self._const(f)]
        frac = (r"\frac{" + (self._join(cnum, True) if cnum else "1") + "}{"
                + self._join(den, True) + "}")
        if not vnum:
            return sign + frac
        if not cnum and vnum[0].is_Add and not _vectorish(vnum[0]) and len(vnum) > 1:
            # \frac{\pi - \theta}{2\pi} (x^T y): the bracket becomes the numerator
            return (sign + r"\frac{" + self._print(vnum[0]) + "}{" + self._join(den, True)
                    + "} " + self._join(vnum[1:]))
        if len(vnum) == 1 and not vnum[0].is_Add and not _vectorish(vnum[0]) \
                and not cnum and len(den) <= 2:
            # a single scalar factor over a constant: \frac{\|a\|^2}{2\pi}
            return sign + r"\frac{" + self._join(vnum) + "}{" + self._join(den) + "}"
        return sign + frac + " " + self._join(vnum)

    # -- functions --------------------------------------------------------------------------
    def _print_Pow(self, expr):
        if expr.exp.is_Add and not expr.base.is_Number:  # n^{(d-1)/2}, not n^{d/2 - 1/2}
            e = sp.together(expr.exp)
            return self.parenthesize(expr.base, PRECEDENCE["Pow"], strict=True) \
                + "^{" + self._print(e) + "}"
        if expr.exp == sp.Rational(1, 2):
            return r"\sqrt{" + self._print(expr.base) + "}"
        if expr.exp.is_number and expr.exp.is_negative and not expr.base.is_Number:
            return self._print_Mul(sp.Mul(expr, evaluate=False)) if False else \
                r"\frac{1}{" + self._print(expr.base ** (-expr.exp)) + "}"
        if isinstance(expr.base, sp.Symbol) or isinstance(expr.base, Named):
            base = self._print(expr.base)
            if "^" in base and not _wrapped(base):
                base = "{" + base + "}"
            return base + "^{" + self._print(expr.exp) + "}"
        if isinstance(expr.base, (sp.sin, sp.cos)) and expr.exp.is_Integer and expr.exp > 0 \
                and isinstance(expr.base.args[0], sp.Symbol):
            fn = r"\sin" if isinstance(expr.base, sp.sin) else r"\cos"
            return rf"{fn}^{{{expr.exp}}}{self._print(expr.base.args[0])}"
        return super()._print_Pow(expr)

    def _print_Function(self, expr, exp=None):
        if isinstance(expr, (sp.sin, sp.cos, sp.tan)) and isinstance(expr.args[0], sp.Symbol):
            return "\\" + type(expr).__name__ + " " + self._print(expr.args[0])
        return super()._print_Function(expr, exp)

    def _print_atan(self, expr, exp=None):
        tex = r"\arctan\left(" + self._print(expr.args[0]) + r"\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"

    def _print_Piecewise(self, expr):
        return super()._print_Piecewise(expr).replace(r"\text{for}\:", r"\text{if }")

    def _print_log1p(self, expr, exp=None):
        tex = r"\ln\left(1 + " + self._print(expr.args[0]) + r"\right)"
        return tex if exp is None else rf"\left({tex}\right)^{{{exp}}}"

    def _print_Abs(self, expr, exp=None):
        tex = r"\left|" + self._print(expr.args[0]) + r"\right|"
        return tex if exp is None else f"{tex}^{{{exp}}}"

    def _print_conjugate(self, expr, exp=None):
        tex = r"\overline{" + self._print(expr.args[0]) + "}"
        return tex if exp is None else f"{tex}^{{{exp}}}"


def to_tex(expr, names: dict | None = None, consts=()) -> str:
    """``expr`` set by :class:`PaperPrinter`."""
    return PaperPrinter(names, consts).doprint(sp.sympify(expr))


# --------------------------------------------------------------------------------------------
# Display forms and their registry
# --------------------------------------------------------------------------------------------


@dataclass
class Display:
    """A formula's display form.

    ``expr``: the display expression (named functions, unevaluated grouping); ``tex``: its
    LaTeX when the structure is not a plain expression (a product over layers, a sum over
    frequencies), built from pieces printed from the derivation; ``proof``: the residuals that
    must simplify to 0 (default ``expand_named(expr) - formula.expr``); ``definitions``: extra
    ``(lhs LaTeX, rhs LaTeX)`` pairs shown under the formula (``\\hat r_j = ...``);
    ``where``: extra ``(LaTeX, meaning)`` entries for the "where" list; ``names``/``consts``:
    printer settings."""

    expr: sp.Expr | None = None
    tex: str | None = None
    proof: Callable[[], list] | None = None
    definitions: list = field(default_factory=list)
    where: list = field(default_factory=list)
    names: dict = field(default_factory=dict)
    consts: tuple = ()
    lhs: str | None = None
    compare: Callable | None = None   # (printed Display) -> LaTeX paragraph of the difference

    def rhs_tex(self) -> str:
        if self.tex is not None:
            return self.tex
        return to_tex(self.expr, self.names, self.consts)

    def named_functions(self) -> list:
        return named_in(self.expr) if self.expr is not None else []

    def definition_lines(self) -> list[tuple[str, str]]:
        """``(lhs, rhs)`` LaTeX of each named function's definition, then ``definitions``."""
        out = []
        for f in self.named_functions():
            if not f.show_definition:
                continue
            out.append((to_tex(f, self.names, self.consts),
                        to_tex(f.definition(), self.names, self.consts)))
        seen, uniq = set(), []
        for lhs, rhs in out + list(self.definitions):
            if lhs not in seen:
                seen.add(lhs)
                uniq.append((lhs, rhs))
        return uniq


_BUILDERS: dict[str, Callable] = {}
_CACHE: dict[tuple, Display] = {}
_LOADED = False


def register(*names: str, paper_aware: bool = False):
    """Decorator: ``builder(formula, expr) -> Display`` for the formulas ``names``;
    ``paper_aware`` builders get ``which=`` ("expr" or "paper") to set a printed statement in
    its own grouping (eq. (5.3)'s 1/2 [...] with 1/(2 pi) coefficients)."""
    def deco(fn):
        fn.paper_aware = paper_aware
        for n in names:
            _BUILDERS[n] = fn
        return fn
    return deco


def _load():
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for m in MODULES:
            importlib.import_module(m)


def has_builder(name: str) -> bool:
    _load()
    return name in _BUILDERS


def build(formula, expr) -> Display:
    """The display of any expression of ``formula``'s shape (its builder, uncached), with its
    proof; used for the difference derived - printed."""
    _load()
    builder = _BUILDERS.get(formula.name)
    custom = getattr(formula, "latex_rhs", None)
    if builder is None and custom is not None:
        disp = Display(expr=expr, tex=custom(expr), proof=lambda: [])
    else:
        disp = (builder or auto)(formula, expr)
    disp.names = {**where_names(formula), **disp.names}
    if disp.proof is None:
        disp.proof = lambda d=disp, t=expr: [expand_named(d.expr) - t]
    return disp


def proved(disp) -> bool:
    """``disp``'s residuals all simplify to 0."""
    for r in disp.proof():
        r = sp.expand(vectors.cos_form(expand_named(sp.sympify(r))))
        if r.has(sp.Piecewise):
            r = sp.piecewise_fold(r)
        if r == 0 or sp.cancel(r) == 0:
            continue
        if sp.simplify(r) != 0 and sp.simplify(sp.expand_complex(r)) != 0:
            return False
    return True


def display_of(formula, which: str = "expr") -> Display:
    """The display form of ``formula``'s derived expression (``which="paper"``: of its printed
    statement, through the same builder)."""
    _load()
    key = (formula.name, which)
    if key not in _CACHE:
        expr = formula.expr if which == "expr" else formula.paper
        if expr is None:
            raise ValueError(f"{formula.name} has no transcribed paper statement")
        builder = _BUILDERS.get(formula.name)
        custom = getattr(formula, "latex_rhs", None)
        if builder is None and custom is not None:
            # the module's own printing of a role-basis program (saddle, balance)
            disp = Display(expr=expr, tex=custom(expr), proof=lambda: [])
        elif builder is not None and getattr(builder, "paper_aware", False):
            disp = builder(formula, expr, which=which)
        else:
            disp = (builder or auto)(formula, expr)
        disp.names = {**where_names(formula), **disp.names}
        if disp.proof is None:
            target = expr
            disp.proof = lambda d=disp, t=target: [expand_named(d.expr) - t]
        _CACHE[key] = disp
    return _CACHE[key]


def where_names(formula) -> dict:
    """``{symbol: LaTeX}`` of the symbols a formula prints under a custom name (its ``where``
    entries ``{symbol: (latex, meaning)}``)."""
    return {k: v[0] for k, v in (getattr(formula, "where", {}) or {}).items()
            if isinstance(k, sp.Symbol) and isinstance(v, tuple)}


def prove(formula, which: str = "expr") -> list:
    """The residuals of the display form that do not simplify to 0 (empty = proved)."""
    disp = display_of(formula, which)
    bad = []
    for r in disp.proof():
        r = sp.sympify(r)
        if r == 0:
            continue
        r = sp.expand(vectors.cos_form(expand_named(r)))
        if r.has(sp.Piecewise):
            r = sp.piecewise_fold(r)
        if r == 0 or sp.cancel(r) == 0:
            continue
        if sp.simplify(r) != 0 and sp.simplify(sp.expand_complex(r)) != 0:
            bad.append(r)
    return bad


# --------------------------------------------------------------------------------------------
# Generic grouping (every formula without a builder of its own)
# --------------------------------------------------------------------------------------------


def invariants(expr) -> list:
    """The invariant symbols of ``expr`` (norms, inner products, sums) in a stable order."""
    order = {"norm": 0, "dot": 1, "total": 2}
    found = [s for s in expr.free_symbols
             if vectors.meaning(s) is not None and vectors.meaning(s).kind in order]
    return sorted(found, key=lambda s: (order[vectors.meaning(s).kind], str(s)))


def _size(e, names=None, consts=()) -> int:
    """Printed size: characters of the LaTeX without sizing commands and spaces."""
    raw = to_tex(e, names, consts)
    tex = re.sub(r"\\left|\\right|\\frac|\s", "", raw)
    # a bracket opening with a minus sign, or a fraction inside a fraction, reads worse than a
    # few more characters
    return (len(tex) + 6 * raw.count(r"\left(- ") + 3 * raw.startswith("- ")
            + 25 * _nested_fractions(raw))


def _nested_fractions(tex: str) -> int:
    """How many ``\\frac`` sit inside the numerator or denominator of another."""
    count, stack = 0, []
    i = 0
    while i < len(tex):
        if tex.startswith(r"\frac{", i):
            if stack:
                count += 1
            stack.append(0)
            i += 6
            continue
        c = tex[i]
        if stack:
            if c == "{":
                stack[-1] += 1
            elif c == "}":
                stack[-1] -= 1
                if stack[-1] == 0:  # closed one argument; the denominator follows
                    if i + 1 < len(tex) and tex[i + 1] == "{":
                        pass
                    else:
                        stack.pop()
        i += 1
    return count


def tidy(expr, names=None, consts=(), rewrite: Callable | None = None, budget: int = 150):
    """The shortest-printing of a few SymPy-equivalent forms of a scalar ``expr``: as it is,
    ``factor_terms``, ``factor``, collected by its invariants with tidied coefficients, and
    collected by the top-level fraction's numerator.  ``rewrite`` (e.g. introducing a named
    function) is applied to each candidate first."""
    expr = sp.sympify(expr)
    if expr.has(sp.Piecewise):
        return expr.func(*[(tidy(e, names, consts, rewrite, budget), c) for e, c in expr.args]) \
            if isinstance(expr, sp.Piecewise) else expr
    cands = [expr]
    if sp.count_ops(expr) < budget:
        cands.append(sp.factor_terms(expr))
        try:
            cands.append(sp.factor(expr))
        except Exception:  # pragma: no cover - factor may refuse exotic expressions
            pass
        trig = sorted({t for t in expr.atoms(sp.sin, sp.cos)}, key=str)
        if trig:
            cands.append(sp.collect(sp.expand(expr), trig, func=sp.factor))
            cands.append(sp.factor_terms(sp.collect(sp.expand(sp.factor_terms(expr)), trig,
                                                    func=sp.factor)))
        inv = invariants(expr)
        if inv:
            ex = sp.expand(expr)
            col = sp.collect(ex, inv, evaluate=False)
            if len(col) > 1:
                cands.append(sp.Add(*[sp.factor_terms(sp.factor(c)) * k for k, c in col.items()]))
        num, den = sp.fraction(sp.factor_terms(expr))
        if den != 1 and (num.is_Add or den.is_Add):
            cands.append(sp.Mul(tidy(num, names, consts, None, budget // 3),
                                sp.Pow(tidy(den, names, consts, None, budget // 3), -1),
                                evaluate=False))
    if rewrite is None:
        return min(cands, key=lambda c: (_size(c, names, consts), sp.count_ops(c)))
    # the rewrite introduces the paper's named grouping: preferred unless clearly longer
    rewritten = [rewrite(c) for c in cands]
    scored = [(_size(c, names, consts) - (8 if c.has(Named) else 0), sp.count_ops(c), i)
              for i, c in enumerate(rewritten + cands)]
    return (rewritten + cands)[min(scored)[2]]


class Indicator(Named):
    """``1{cond}``: the thesis's and the WN paper's indicator, in bold (a glyph
    texlive-latex-base has); stands for ``Piecewise((1, cond), (0, True))``."""

    nargs = 1
    rank = 4.8               # after the scalars, before vectors: c 1{v.x >= 0} x
    show_definition = False
    meaning = "indicator"

    @classmethod
    def eval(cls, cond):
        if cond is sp.true:
            return sp.Integer(1)
        if cond is sp.false:
            return sp.Integer(0)
        return None

    def definition(self):
        return sp.Piecewise((1, self.args[0]), (0, True))

    def _latex(self, printer):
        return r"\mathbf{1}\{" + printer._print(self.args[0]) + r"\}"


def indicators(expr):
    """``Piecewise((e, c), (0, True))`` as ``e 1{c}`` (innermost first); conjunctions as a
    product of indicators."""
    def one(pw):
        if len(pw.args) == 2 and pw.args[1].expr == 0 and pw.args[1].cond is sp.true:
            e, c = pw.args[0]
            conds = c.args if isinstance(c, sp.And) else (c,)
            return sp.Mul(e, *[Indicator(x) for x in conds])
        return pw
    return expr.replace(lambda e: isinstance(e, sp.Piecewise), one)


def auto(formula, expr) -> Display:
    """Grouping and ordering only: a scalar formula tidied; a vector or matrix formula as a sum
    over its basis (vectors, outer products, the identity) with tidied coefficients."""
    expr = indicators(expr)
    if formula.rank == 0 or not vectors.basis_symbols(expr):
        return Display(expr=tidy(expr))
    parts = vectors.components(expr, formula.rank)
    groups: list[list] = []   # bases with one coefficient share a bracket: c (x y^T + y x^T)
    for c, b in parts:
        for grp in groups:
            if sp.expand(grp[0] - c) == 0:
                grp[1].append(b)
                break
        else:
            groups.append([c, [b]])
    terms = [sp.Mul(tidy(c), bs[0] if len(bs) == 1 else sp.Add(*bs, evaluate=False),
                    evaluate=False) for c, bs in groups]
    return Display(expr=sp.Add(*terms, evaluate=False))
