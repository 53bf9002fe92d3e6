"""Emit NumPy source for registered formulas (``nnderive build``).

One generated module per family, ``derivations/generated/<family>.py``, one function per formula,
named after the quantity.  The default emitter prints a formula written in invariant coordinates
(:mod:`derivations.vectors`):

1. convert and validate every argument (``_runtime.vector`` / ``scalar`` / ``integer``; equal
   lengths within a space; nonzero where an angle or a normalization needs it; ``Formula.validate``);
2. compute the invariants the expression uses (norms, inner products, sums, dimensions, angles);
3. print the coefficients of the basis symbols with SymPy's ``cse`` and ``NumPyPrinter``;
4. assemble ``sum coefficient * basis`` and broadcast to the batch shape.

The generated code imports NumPy and ``derivations.generated._runtime`` only.  Formulas whose
structure is not an invariant expression (piecewise constructions in any dimension) supply their
own ``emitter`` and may use :func:`print_block` for their SymPy pieces.
"""
from __future__ import annotations

import math
import re
import textwrap
from functools import lru_cache
from pathlib import Path

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from . import registry, vectors
from .gamma_ratio import gamma_ratios

GENERATED_DIR = Path(__file__).resolve().parent / "generated"
RUNTIME = GENERATED_DIR / "_runtime.py"


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


# --------------------------------------------------------------------------------------------
# Angle algebra: cos(phi), sin(phi), phi -> inner product, norms, one stable sine, pi - phi
# --------------------------------------------------------------------------------------------

_t = sp.Symbol("t", nonnegative=True)  # distance to an edge (phi or pi - phi)


class Angle:
    """The symbols standing for the terms of one angle in the rewritten expressions.

    ``phi`` is an angle invariant (``vectors.angle``) or a scalar argument that appears inside
    ``cos``/``sin``; ``cos``, ``sin``, ``psi`` (``= pi - phi``) are plain symbols whose values
    the runtime computes without trigonometric calls (vector angles) or directly (scalar ones).
    """

    def __init__(self, phi: sp.Symbol, vectors_: tuple[str, str] | None):
        self.phi = phi
        base = str(phi)[4:] if vectors_ else str(phi)
        self.vectors = vectors_
        self.cos = sp.Symbol(f"cos_{base}", real=True)
        self.sin = sp.Symbol(f"sin_{base}", nonnegative=True)
        self.psi = sp.Symbol(f"psi_{base}", nonnegative=True)
        self.psi_name = str(self.psi)

    @property
    def symbols(self):
        return (self.phi, self.cos, self.sin, self.psi)

    def edge(self, at_pi: bool) -> dict:
        """Substitution putting the angle at distance ``_t`` from pi (or from 0)."""
        if at_pi:
            return {self.psi: _t, self.phi: sp.pi - _t, self.cos: -sp.cos(_t), self.sin: sp.sin(_t)}
        return {self.phi: _t, self.psi: sp.pi - _t, self.cos: sp.cos(_t), self.sin: sp.sin(_t)}

    def back(self) -> dict:
        """Substitution undoing the rewrite (used by the tests that prove it)."""
        return {self.cos: sp.cos(self.phi), self.sin: sp.sin(self.phi), self.psi: sp.pi - self.phi}


def angle_rules():
    """The rewrite rules, derived by SymPy: with ``c = x.y / (|x||y|)`` and ``phi = acos(c)``,
    ``cos(phi) = c`` and ``sin(phi) = sqrt(1 - c^2) = sqrt((1 - c)(1 + c))`` (no cancellation
    for ``|c| <= NEAR``); ``pi - phi = acos(-c)``.  Returned as ``{name: (lhs, rhs)}``."""
    c = sp.Symbol("c", real=True)
    phi = sp.acos(c)
    return {
        "cos": (sp.cos(phi), sp.factor(sp.cos(phi))),
        "sin": (sp.sin(phi), sp.factor(sp.sin(phi))),
        "psi": (sp.pi - phi, sp.acos(-c)),
    }


def _find_angles(formula: registry.Formula, exprs) -> list[Angle]:
    out = {}
    for e in exprs:
        for s in e.free_symbols:
            m = vectors.meaning(s)
            if m is not None and m.kind == "angle":
                out[s] = Angle(s, tuple(m.operands))
        scalars = {a.name for a in formula.args if a.kind == "scalar"}
        for f in e.atoms(sp.cos, sp.sin):
            arg = f.args[0]
            if isinstance(arg, sp.Symbol) and arg.name in scalars and vectors.meaning(arg) is None:
                out.setdefault(arg, Angle(arg, None))
    return [out[k] for k in sorted(out, key=str)]


def _rewrite_angle(e: sp.Expr, ang: Angle) -> sp.Expr:
    """cos(phi) -> cos symbol, sin(phi) -> sin symbol, and phi -> pi - psi when that is shorter."""
    e = e.subs({sp.cos(ang.phi): ang.cos, sp.sin(ang.phi): ang.sin})
    if ang.phi not in e.free_symbols:
        return e
    alt = e.subs(ang.phi, sp.pi - ang.psi)
    # expand the sums that contain the angle, so that (pi - psi) cos - pi cos becomes -psi cos
    alt = alt.replace(lambda n: n.is_Add and n.has(ang.psi), sp.expand)
    e2 = e.replace(lambda n: n.is_Add and n.has(ang.phi), sp.expand)
    return alt if sp.count_ops(alt) <= sp.count_ops(e2) else e2


def _generic(e: sp.Expr) -> sp.Expr:
    """``e`` with every symbol but ``_t`` set to a fixed generic rational (distinct primes over
    97), so that the leading order in ``_t`` is the generic one and the series is univariate."""
    others = sorted(e.free_symbols - {_t}, key=str)
    primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73]
    return e.subs({s: sp.Rational(primes[i % len(primes)] + i // len(primes), 97)
                   for i, s in enumerate(others)})


@lru_cache(maxsize=None)
def _order(e: sp.Expr, n: int = 8):
    """Leading power of ``_t`` in the Taylor series of ``e`` at ``_t = 0`` (oo for zero), at a
    generic value of the other symbols."""
    e = _generic(sp.sympify(e))
    if e == 0:
        return sp.oo
    s = sp.expand(sp.series(e, _t, 0, n).removeO())
    if s == 0:
        return n
    return min(m[0] for m in sp.Poly(s, _t).monoms())


@lru_cache(maxsize=None)
def _edge_series(h: sp.Expr, edge: tuple, near_tol: float = 1e-13):
    """If ``h`` (a sum of terms in one angle) cancels at the edge, its Taylor series there:
    ``(threshold, start, step, coefficients)``; else ``None``.  The direct sum loses
    ``gap = order(h) - min order(term)`` powers of ``t``, i.e. relative error ~ 4 eps t^-gap;
    the series is used below ``t = (near_tol / 4 eps)^(1/gap)`` with enough terms for 1e-17."""
    sub = dict(edge)
    ht = h.subs(sub)
    order = _order(ht)
    terms = min(_order(a.subs(sub)) for a in sp.Add.make_args(h))
    if order == sp.oo or order <= terms:
        return None
    gap = order - terms
    below = min(0.5, (4 * 2.2e-16 / near_tol) ** (1.0 / gap))
    series = sp.expand(sp.series(ht, _t, 0, order + 16).removeO())
    coeffs = dict((m[0], c) for m, c in zip(sp.Poly(series, _t).monoms(), sp.Poly(series, _t).coeffs()))
    powers = sorted(coeffs)
    start = powers[0]
    steps = {b - a for a, b in zip(powers, powers[1:])}
    step = 2 if steps and all(s % 2 == 0 for s in steps) else 1
    lead = abs(float(coeffs[start])) * below**start
    kept = []
    for j in range(0, 17):
        p = start + step * j
        c = float(coeffs.get(p, 0))
        if p > start and abs(c) * below**p < 1e-18 * lead and c != 0:
            break
        kept.append(c)
    while kept and kept[-1] == 0:
        kept.pop()
    return below, int(start), step, tuple(kept)


def _edge_groups(e: sp.Expr, angles: list[Angle], counter: list) -> tuple[sp.Expr, list[str]]:
    """Replace every pure-angle sum of ``e`` that cancels at phi = 0 or pi by a symbol whose
    line evaluates it directly and patches the rows near the edge with its SymPy series."""
    lines: list[str] = []
    if not angles:
        return e, lines
    angle_syms = [s for a in angles for s in a.symbols]
    groups: dict = {}
    for term in sp.Add.make_args(sp.expand(e)):
        indep, dep = term.as_independent(*angle_syms, as_Add=False)
        # the numeric factor, pi included (1/(2 pi) and 1/2 belong to one group)
        num, rest = indep.as_independent(*indep.free_symbols, as_Add=False)
        groups[rest] = groups.get(rest, 0) + num * dep
    changed = False
    out = []
    for rest in sorted(groups, key=sp.default_sort_key):
        h = sp.sympify(groups[rest])
        own = [a for a in angles if h.free_symbols & set(a.symbols)]
        if isinstance(h, sp.Add) and len(own) == 1 and h.free_symbols <= set(own[0].symbols):
            a = own[0]
            num, den = sp.fraction(sp.together(h))  # (pi - c psi - s)/(2 pi): numerator alone
            if den.free_symbols:
                num, den = h, sp.Integer(1)
            content, prim = sp.expand(num).as_content_primitive()
            content = content / den
            for at_pi in (True, False):
                ser = _edge_series(prim, tuple(a.edge(at_pi).items()))
                if ser is None:
                    continue
                name = f"_h{counter[0]}"
                counter[0] += 1
                edge_var = a.psi_name if at_pi else str(a.phi)
                below, start, step, coeffs = ser
                where = "pi" if at_pi else "0"
                fn, t_text = "taylor", edge_var
                if at_pi and not a.vectors:  # scalar angle: t = pi - phi formed on near rows only
                    fn, edge_var, t_text = "taylor_pi", str(a.phi), f"pi - {a.phi}"
                if not at_pi and a.vectors:  # vector angle: phi formed on near rows only
                    fn, edge_var, t_text = "taylor_zero", f"{a.cos}, {a.sin}", "the angle"
                lines.append(f"{name} = {print_expr(prim)}")
                lines.append(f"# near phi = {where} the sum above cancels like t^{_order(prim.subs(a.edge(at_pi)))}"
                             f" (t = {t_text}): Taylor series derived by SymPy")
                lines.append(f"{name} = _rt.{fn}({name}, {edge_var}, {below!r}, {start}, {step}, "
                             f"({', '.join(repr(c) for c in coeffs)},))")
                h = sp.Symbol(name) * content
                changed = True
                break
        out.append(rest * h)
    return (sp.Add(*out) if changed else e), lines


# --------------------------------------------------------------------------------------------
# Rejections: x-coefficient * x + y-coefficient * y with x, y nearly parallel
# --------------------------------------------------------------------------------------------


class Rejection:
    """``rej(y, x) = y - (x.y/|x|^2) x``.  ``alpha``: the coefficient of ``x`` before the rewrite
    when the rewrite keeps a term along ``x`` (``pair``); such a sum is emitted as
    ``_rt.rejection_pair``: the direct ``alpha x + beta y`` on rows away from parallel, the
    rejection form only on the near-parallel rows."""

    def __init__(self, y: str, x: str, ang: Angle, alpha=None):
        self.y, self.x, self.angle = y, x, ang
        self.symbol = sp.Symbol(f"rej_{y}_{x}")
        self.alpha = alpha
        self.pair = alpha is not None
        a, b = sorted((x, y))
        self.dot = f"dot_{a}_{b}"
        self.code = (f"_rt.rejection({y}, {x}, norm_{x}, {self.dot}, {ang.cos})")


def _projection_angles(parts: list, angles: list[Angle]) -> list[Angle]:
    """Angles for the vector pairs of a result ``c (x - (x.y/|y|^2) y)`` whose formula has no
    angle of its own (``wn.grad_v = (g/|v|) rej(grad_w, v)``): with the angle known, the
    rejection rewrite (:func:`_rejections`) takes the pair, and the runtime forms it without
    cancellation where ``x`` is nearly parallel to ``y`` (the gradient vanishing there)."""
    coeff = {b: c for c, b in parts}
    if any(c.has(sp.Piecewise) for c in coeff.values()):  # (ReLU branches: edge series undefined)
        return []
    have = {frozenset(a.vectors) for a in angles if a.vectors}
    out = []
    bases = [b for b in coeff if isinstance(b, sp.Symbol) and vectors.meaning(b) is not None
             and vectors.meaning(b).kind == "vector"]
    for x in bases:
        for y in bases:
            if x == y or frozenset((str(x), str(y))) in have:
                continue
            try:
                xy = vectors.dot(x, y)
            except Exception:  # noqa: BLE001 - vectors of different spaces
                continue
            if sp.simplify(coeff[y] + coeff[x] * xy / vectors.norm(y) ** 2) == 0:
                phi = vectors.angle(x, y)
                out.append(Angle(phi, tuple(vectors.meaning(phi).operands)))
                have.add(frozenset((str(x), str(y))))
    return out


def _dot_to_cos(e: sp.Expr, angles: list[Angle]) -> sp.Expr:
    sub = {}
    for a in angles:
        if a.vectors:
            x, y = (sp.Symbol(n) for n in a.vectors)
            sub[vectors.dot(x, y)] = vectors.norm(x) * vectors.norm(y) * a.cos
    return e.subs(sub)


def _rejections(parts: list, angles: list[Angle]) -> tuple[list, list[Rejection]]:
    """Rewrite ``alpha x + beta y`` as ``alpha' x + beta rej(y, x)`` where that removes a term
    (``alpha' = 0``) or raises the order of the coefficients at an edge (the direct sum would
    cancel there).  ``y = (x.y/|x|^2) x + rej(y, x)`` is exact; the runtime computes the
    rejection without cancellation."""
    rej = []
    coeff = {b: c for c, b in parts}
    for a in angles:
        if not a.vectors:
            continue
        X, Y = (sp.Symbol(n) for n in a.vectors)
        if X not in coeff or Y not in coeff:
            continue
        best = None
        for x, y in ((X, Y), (Y, X)):
            alpha, beta = _dot_to_cos(coeff[x], angles), _dot_to_cos(coeff[y], angles)
            new = sp.factor_terms(sp.expand(alpha + beta * vectors.norm(y) * a.cos / vectors.norm(x)))
            if new == 0:
                best = (x, y, new, 10**6)
                break
            gain = 0
            for at_pi in (True, False):
                sub = a.edge(at_pi)
                before = min(_order(alpha.subs(sub)), _order(beta.subs(sub)))
                after = _order(new.subs(sub))
                if after > before:
                    gain = max(gain, after - before)
            if gain and (best is None or gain > best[3]):
                best = (x, y, new, gain)
        if best is None:
            continue
        x, y, new, _ = best
        r = Rejection(str(y), str(x), a, None if new == 0 else coeff[x])
        rej.append(r)
        beta = coeff.pop(y)
        coeff[r.symbol] = beta
        if new == 0:
            coeff.pop(x)
        else:
            coeff[x] = new
    order = [b for _, b in parts if b in coeff] + [r.symbol for r in rej]
    return [(coeff[b], b) for b in order], rej


# --------------------------------------------------------------------------------------------
# Differences: A^2|x|^2 - 2AB x.y + B^2|y|^2 -> |A x - B y|^2
# --------------------------------------------------------------------------------------------


class Difference:
    """``A x - B y`` of two vector arguments (``A``, ``B``: monomials in the norms, ``B`` with
    its rational factor and sign): its squared norm ``sq`` and its sum ``tot`` stand in a
    rewritten formula for ``|x|^2`` and ``1.x`` (``_rt.difference`` computes both)."""

    def __init__(self, x: str, y: str, A: sp.Expr, B: sp.Expr):
        self.x, self.y, self.A, self.B = x, y, A, B
        self.sq = sp.Symbol(f"sqdiff_{x}_{y}", nonnegative=True)
        self.tot = sp.Symbol(f"sumdiff_{x}_{y}", real=True)
        self.vec = sp.Symbol(f"diff_{x}_{y}")  # the vector A x - B y, as a basis of a result

    def rules(self) -> dict:
        """``|x|^2 = (|A x - B y|^2 + 2AB x.y - B^2|y|^2) / A^2`` and
        ``1.x = (1.(A x - B y) + B 1.y) / A``: exact identities."""
        X, Y = sp.Symbol(self.x), sp.Symbol(self.y)
        A, B = self.A, self.B
        return {vectors.norm(X) ** 2: (self.sq + 2 * A * B * vectors.dot(X, Y)
                                       - B**2 * vectors.norm(Y) ** 2) / A**2,
                vectors.total(X): (self.tot + B * vectors.total(Y)) / A}

    def identities(self) -> tuple[sp.Expr, sp.Expr]:
        """The two rules with ``sq``, ``tot`` and the invariants written out componentwise for
        vectors of length 3 (``tests/test_vectors.py`` proves them by expansion)."""
        xs, ys = sp.symbols("x0:3"), sp.symbols("y0:3")
        A, B = sp.Symbol("A", positive=True), sp.Symbol("B", real=True)
        d = [A * u - B * v for u, v in zip(xs, ys)]
        sq, tot = sum(t * t for t in d), sum(d)
        lhs_sq = sum(u * u for u in xs)
        rhs_sq = (sq + 2 * A * B * sum(u * v for u, v in zip(xs, ys)) - B**2 * sum(v * v for v in ys)) / A**2
        return sp.expand(lhs_sq - rhs_sq), sp.expand(sum(xs) - (tot + B * sum(ys)) / A)


def _monomial_ratio(ratio: sp.Expr):
    """``(A, B)`` with ``ratio = B/A``: ``A`` a product of norms, ``B`` a rational times a product
    of norms (integer exponents), or ``None`` (also for half-integer exponents or an irrational
    factor, as ``sqrt`` of a ratio that is not a square gives)."""
    coef, mono = sp.sympify(ratio).as_coeff_Mul()
    if not coef.is_Rational or coef == 0:
        return None
    A, B = sp.Integer(1), coef
    for base, k in mono.as_powers_dict().items():
        if base == 1:  # a ratio of 1 (no norms): |x - y|^2
            continue
        m = vectors.meaning(base) if isinstance(base, sp.Symbol) else None
        if m is None or m.kind != "norm" or not k.is_Integer:
            return None
        if k > 0:
            B *= base**k
        else:
            A *= base ** (-k)
    return A, B


def _differences(e: sp.Expr, formula: registry.Formula) -> tuple[sp.Expr, list[Difference]]:
    """Complete the square at vector level: where a scalar formula holds ``alpha |x|^2`` and
    ``alpha (B/A)^2 |y|^2`` (and possibly ``1.x`` only inside ``(A 1.x - B 1.y)^2``), rewrite it in
    ``|A x - B y|^2`` and ``1.(A x - B y)`` (:class:`Difference`), keeping ``x.y`` with the rest of
    its coefficient.  Accepted only when ``|x|, |y|^2, 1.x, 1.y`` all leave the formula and the
    remaining coefficient of ``x.y`` vanishes at an edge of an angle (phi = 0 or pi: the student
    at its teacher), so the rewrite removes a cancellation there; of the two signs of ``B`` the
    one that does so is taken.  Returns the rewritten expression and the differences used."""
    out: list[Difference] = []
    vecs = [a.name for a in formula.args if a.kind == "vector"]
    angles = [s for s in e.free_symbols
              if vectors.meaning(s) is not None and vectors.meaning(s).kind == "angle"]
    for x in vecs:
        for y in vecs:
            if x == y or vectors.space_of(sp.Symbol(x)) != vectors.space_of(sp.Symbol(y)):
                continue
            X, Y = sp.Symbol(x), sp.Symbol(y)
            nx, ny, tx, ty = vectors.norm(X), vectors.norm(Y), vectors.total(X), vectors.total(Y)
            ex = sp.expand(e)
            alpha, beta = ex.coeff(nx**2), ex.coeff(ny**2)
            if alpha == 0 or beta == 0 or alpha.has(nx, ny) or beta.has(nx, ny):
                continue
            root = _monomial_ratio(sp.sqrt(sp.simplify(beta / alpha)))  # (B/A)^2 = beta/alpha
            if root is None:
                continue
            A, B = root
            for sign in (1, -1):
                d = Difference(x, y, A, sign * B)
                new = sp.expand(ex.subs(d.rules()))
                if not ex.has(tx) and not ex.has(ty):
                    inner = _angle_difference(ex, d, angles)
                    if inner is not None:
                        e = inner
                        out.append(d)
                        break
                if new.has(nx) or new.has(tx) or new.has(ty) or new.coeff(ny**2) != 0:
                    continue
                rest = new.coeff(vectors.dot(X, Y))
                if rest != 0 and not any(sp.simplify(rest.subs(phi, edge)) == 0
                                         for phi in angles for edge in (0, sp.pi)):
                    continue
                e = new
                out.append(d)
                break
    return e, out


def _angle_difference(ex: sp.Expr, d: Difference, angles) -> sp.Expr | None:
    """The completed square when the norms stay in the formula through the angle of ``x`` and
    ``y`` (the filter loss ``(|w|^2 + |w*|^2)/4 - |w||w*| (sin + (pi - phi) cos)/(2 pi)``):
    ``new`` is the formula with :meth:`Difference.rules` applied; ``x.y`` goes back to
    ``|x||y| cos(phi)``, and the result is kept when everything but the square is
    ``|x||y| h(phi)`` with ``h`` vanishing at an edge (phi = 0: the student at its teacher),
    e.g. ``|w - w*|^2/4 + |w||w*| (phi cos - sin)/(2 pi)``: the square is exact (``w - w*`` has no
    rounding near the teacher) and ``h`` cancels like ``phi^3``, which the edge series of
    :func:`_edge_groups` evaluate; near the teacher ``h`` is ``O(distance)`` relative to the
    square, so the loss keeps full relative accuracy.  ``ex``: the expanded formula; only its
    ``|x|^2`` terms take the rule (``|x|`` alone stays).  ``None`` if the form does not arise."""
    X, Y = sp.Symbol(d.x), sp.Symbol(d.y)
    phi = vectors.angle(X, Y)
    if phi not in angles:
        return None
    nx, ny = vectors.norm(X), vectors.norm(Y)
    rule = d.rules()[nx**2]
    terms = []
    for term in sp.Add.make_args(ex):
        k = term.as_powers_dict().get(nx, 0)
        if k not in (0, 1, 2):
            return None
        terms.append(term / nx**2 * rule if k == 2 else term)
    form = sp.expand(sp.Add(*terms).subs(vectors.dot(X, Y), nx * ny * sp.cos(phi)))
    square = form.coeff(d.sq)
    if square == 0 or square.has(nx) or square.has(ny):
        return None
    h = sp.expand((form - square * d.sq) / (nx * ny))
    if h.has(nx) or h.has(ny) or h.has(d.sq) or not h.has(phi):
        return None
    if not any(sp.simplify(h.subs(phi, edge)) == 0 for edge in (0, sp.pi)):
        return None
    return form


#: ``{sqnormdiff_x_y: (x, y)}``: symbols standing for ``|x|^2 - |y|^2`` (``_rt.sqnorm_difference``)
_SQNORM_DIFFS: dict[str, tuple[str, str]] = {}


def _sqnorm_differences(e: sp.Expr, formula: registry.Formula) -> sp.Expr:
    """``c (|x|^2 - |y|^2)`` in a scalar formula where ``|x|`` and ``|y|`` appear nowhere else
    (the auto-balancing drift ``eta^2 (|g_in|^2 - |g_out|^2)``) becomes ``c sqnormdiff_x_y``,
    which the runtime forms from the two sums of squares in double-double: the difference keeps
    full relative accuracy where the two norms nearly agree (the balanced state), where the two
    rounded squared norms lose ``|x|^2 / (|x|^2 - |y|^2)`` in relative accuracy."""
    vecs = [a.name for a in formula.args if a.kind == "vector"]
    for x in vecs:
        for y in vecs:
            if x == y:
                continue
            nx, ny = vectors.norm(sp.Symbol(x)), vectors.norm(sp.Symbol(y))
            ex = sp.expand(e)
            alpha, beta = ex.coeff(nx**2), ex.coeff(ny**2)
            if alpha == 0 or alpha.has(nx, ny) or sp.simplify(alpha + beta) != 0:
                continue
            sym = sp.Symbol(f"sqnormdiff_{x}_{y}", real=True)
            new = sp.expand(ex - alpha * nx**2 - beta * ny**2) + alpha * sym
            if new.has(nx) or new.has(ny):
                continue
            _SQNORM_DIFFS[str(sym)] = (x, y)
            e = sp.factor_terms(new)
    return e


def _vector_differences(parts: list, formula: registry.Formula) -> tuple[list, list[Difference]]:
    """The vector form of :func:`_differences`: ``cx x + cy y`` with ``cy = -(B/A) cx`` at an edge
    of an angle (the gradient in ``a`` at the teacher: ``(pi-1)/(2 pi) (a - |w*| a*)``) becomes
    ``(cx/A) (A x - B y) + (cy + cx B/A) y``, the second coefficient vanishing at that edge, so
    the two terms no longer cancel there; ``1.x`` in the coefficients becomes ``1.(A x - B y)``
    where that removes both sums."""
    coeff = {b: c for c, b in parts}
    order = [b for _, b in parts]
    out: list[Difference] = []
    angles = sorted({s for c, _ in parts for s in c.free_symbols
                     if vectors.meaning(s) is not None and vectors.meaning(s).kind == "angle"}, key=str)
    vecs = [a.name for a in formula.args if a.kind == "vector"]
    paired = {frozenset(vectors.meaning(a).operands) for a in angles}  # those are rejections
    for x in vecs:
        for y in vecs:
            X, Y = sp.Symbol(x), sp.Symbol(y)
            if x == y or X not in coeff or Y not in coeff or frozenset((x, y)) in paired:
                continue
            found = None
            for phi in angles:
                for edge in (0, sp.pi):
                    cx = sp.simplify(coeff[X].subs(phi, edge))
                    if cx == 0 or cx.has(phi):
                        continue
                    split = _monomial_ratio(sp.simplify(-coeff[Y].subs(phi, edge) / cx))
                    if split is not None:
                        found = split
                        break
                if found:
                    break
            if found is None:
                continue
            A, B = found
            d = Difference(x, y, A, B)
            cx = coeff.pop(X)
            coeff[d.vec] = sp.simplify(cx / A)
            rest = sp.simplify(coeff[Y] + cx * B / A)
            if rest == 0:
                coeff.pop(Y)
            else:
                coeff[Y] = rest
            rule = {vectors.total(X): d.rules()[vectors.total(X)]}
            new = {b: sp.expand(c.subs(rule)) for b, c in coeff.items()}
            if not any(c.has(vectors.total(X)) or c.has(vectors.total(Y)) for c in new.values()):
                coeff = {b: sp.factor_terms(c) for b, c in new.items()}
            order = [d.vec if b == X else b for b in order]
            out.append(d)
    return [(coeff[b], b) for b in order if b in coeff], out


# --------------------------------------------------------------------------------------------
# Assembling an emitted function
# --------------------------------------------------------------------------------------------


def _fold_constants(e: sp.Expr, consts: dict, products: dict | None = None, post=None) -> sp.Expr:
    """Collect the terms of ``e`` by monomial and name every irrational constant coefficient
    (``(pi - 1)/(4 pi)``...) ``_c<i>``, computed once as a Python float: each monomial is then
    multiplied by one number, not by each factor of it.  ``products``: ``{|x||y|: nn_x_y}``, the
    norm products shared with the angle (substituted in every monomial); ``post``: a rewrite of
    every monomial after squares are completed (``|x|^2 -> x.x``)."""
    products = products or {}
    if not e.free_symbols or not any(vectors.meaning(s) is not None for s in e.free_symbols):
        return e.subs(products)  # scalar-argument formulas keep their derived (e.g. (x - tau)) form
    terms: dict = {}
    for term in sp.Add.make_args(sp.expand(e)):
        const, mono = term.as_independent(*term.free_symbols, as_Add=False)
        terms[mono] = terms.get(mono, 0) + const
    terms = _complete_squares(terms)
    merged: dict = {}
    for mono, const in terms.items():
        mono = (post(mono) if post else mono).subs(products)
        merged[mono] = merged.get(mono, 0) + const
    terms = merged
    e = (post(e) if post else e).subs(products)
    out = []
    for mono in sorted(terms, key=sp.default_sort_key):
        c = sp.nsimplify(terms[mono]) if terms[mono].is_Rational else sp.simplify(terms[mono])
        if c == 0:
            continue
        if not c.is_Rational:
            neg = c.could_extract_minus_sign()
            key = -c if neg else c
            if key not in consts:
                consts[key] = sp.Symbol(f"_c{len(consts)}")
            c = -consts[key] if neg else consts[key]
        out.append(c * mono)
    folded = _horner(out)
    return folded if sp.count_ops(folded) <= sp.count_ops(e) + 2 else e


def _square_root_monomial(m: sp.Expr):
    """``r`` with ``r**2 == m`` for a monomial with even positive exponents, else ``None``."""
    powers = m.as_powers_dict()
    if m == 1 or not all(k.is_Integer and k > 0 and k % 2 == 0 for k in powers.values()):
        return None
    return sp.Mul(*[b ** (k // 2) for b, k in powers.items()])


def _complete_squares(terms: dict) -> dict:
    """``{monomial: constant}`` with every ``a X^2 + g X Y + b Y^2`` (``g^2 = 4 a b``) written
    as ``a (X + (g/2a) Y)^2``: the square of a difference, as in ``|a - |w*| a*|^2`` expanded by
    the derivation, costs three array operations instead of seven and does not cancel."""
    terms = dict(terms)
    changed = True
    while changed:
        changed = False
        squares = [(m, r) for m in sorted(terms, key=sp.default_sort_key)
                   if (r := _square_root_monomial(m)) is not None]
        for i, (m1sq, m1) in enumerate(squares):
            for m2sq, m2 in squares[i + 1:]:
                cross = m1 * m2
                if cross not in terms or m1sq not in terms or m2sq not in terms:
                    continue
                a, b, g = terms[m1sq], terms[m2sq], terms[cross]
                if a == 0 or sp.simplify(g**2 - 4 * a * b) != 0:
                    continue
                ratio = sp.nsimplify(sp.simplify(g / (2 * a)))
                if not ratio.is_Rational:
                    continue
                for m in (m1sq, m2sq, cross):
                    del terms[m]
                sq = (m1 + ratio * m2) ** 2
                terms[sq] = terms.get(sq, 0) + a
                changed = True
                break
            if changed:
                break
    return terms


def _common_constant(terms: list) -> sp.Expr:
    """``c * (sum of terms / c)`` for every group of two or more terms carrying the same named
    constant ``_c<i>`` (one multiplication by ``c`` instead of one per term)."""
    groups: dict = {}
    for t in terms:
        cs = sorted((b for b in t.as_powers_dict() if isinstance(b, sp.Symbol) and _is_const(b)),
                    key=str)
        groups.setdefault(cs[0] if cs else None, []).append(t)
    out = []
    for c, ts in groups.items():
        if c is not None and len(ts) > 1:
            out.append(c * sp.Add(*[t / c for t in ts], evaluate=False))
        else:
            out.extend(ts)
    return sp.Add(*out)


def _horner(terms: list) -> sp.Expr:
    """Greedy multivariate Horner form of a sum of monomials: factor out the symbol that the
    most terms share (``x*(...) + rest``), recursively; fewer array multiplications."""
    if len(terms) <= 1:
        return sp.Add(*terms)
    count: dict = {}
    for t in terms:
        for b, k in t.as_powers_dict().items():
            if isinstance(b, sp.Symbol) and not _is_const(b) and k.is_Integer and k > 0:
                count[b] = count.get(b, 0) + 1
    if not count or max(count.values()) < 2:
        return _common_constant(terms)
    best = max(sorted(count, key=sp.default_sort_key), key=lambda b: count[b])
    inner = [t / best for t in terms if t.as_powers_dict().get(best, 0) > 0]
    rest = [t for t in terms if not t.as_powers_dict().get(best, 0) > 0]
    return best * _horner(inner) + _horner(rest)


def _is_ones_outer(b) -> bool:
    m = vectors.meaning(b)
    return (m is not None and m.kind == "outer"
            and all(vectors.meaning(sp.Symbol(o)).kind == "ones" for o in m.operands))


def _diagonal_whole(parts: list) -> tuple[list, bool]:
    """A matrix ``c_J J + c_I I`` (``J`` all ones) whose diagonal ``c_J + c_I`` cancels (the
    Gram matrix B of the CNN: ``c_J = |w||w*|/2pi``, ``c_I = c_J (cos psi + sin - 1)``, so that
    the diagonal ``c_J (cos psi + sin)`` vanishes like ``t^3`` at phi = pi) is emitted with the
    diagonal as one coefficient ``c_J + c_I`` (which the edge series then covers) written over
    the diagonal, not added to it: ``_rt.set_diagonal(filled(c_J), c_J + c_I)``."""
    js = [i for i, (_, b) in enumerate(parts) if b is not None and _is_ones_outer(b)]
    es = [i for i, (_, b) in enumerate(parts)
          if b is not None and (m := vectors.meaning(b)) is not None and m.kind == "eye"]
    if len(js) != 1 or len(es) != 1:
        return parts, False
    (cj, _), (ci, bi) = parts[js[0]], parts[es[0]]
    out = list(parts)
    out[es[0]] = (sp.expand(cj + ci), bi)
    return out, True


class _Plan:
    """One formula's output after the rewrites: ``[(coefficient, basis)]`` (basis None for a
    scalar), the angles and rejections it needs."""

    def __init__(self, formula: registry.Formula, vector_differences: bool = False):
        self.formula = formula
        parts = vectors.components(formula.expr, formula.rank)
        self.differences: list[Difference] = []
        if formula.rank == 0 and parts:
            done, self.differences = _differences(parts[0][0], formula)
            done = _sqnorm_differences(done, formula)
            if self.differences or done != parts[0][0]:
                parts = [(done, parts[0][1])]
        elif formula.rank == 1 and len(parts) > 1 and vector_differences:
            # only beside a value that computes the same difference (a fused function): alone,
            # x and y cost less than the difference, and the direct sum is as accurate (measured
            # on grad_a at the teacher: 1.0e-8 vs 1.1e-8 at 1e-8 from it; both limited by
            # rounding |w*| a*, the conditioning of the difference itself)
            parts, self.differences = _vector_differences(parts, formula)
        self.set_diagonal = False
        if formula.rank == 2:
            parts, self.set_diagonal = _diagonal_whole(parts)
        self.angles = _find_angles(formula, [c for c, _ in parts])
        if formula.rank == 1:
            self.angles += _projection_angles(parts, self.angles)
        new = []
        for c, b in parts:
            for a in self.angles:
                c = _rewrite_angle(c, a)
            new.append((c, b))
        self.rejections: list[Rejection] = []
        if formula.rank == 1:
            new, self.rejections = _rejections(new, self.angles)
        self.parts = new

    def squared_norms(self, others: list["_Plan"]) -> dict:
        """``{norm symbol: squared-norm symbol}`` for the vectors whose norm enters every
        coefficient (of this plan and ``others``) in even powers only, and is not needed for
        an angle or a rejection: then ``x.x`` is used directly (no sqrt, no squaring)."""
        plans = [self] + others
        busy = {n for p in plans for a in p.angles if a.vectors for n in a.vectors}
        busy |= {n for p in plans for r in p.rejections for n in (r.x, r.y)}
        busy |= {str(m.operands[0]) for p in plans for d in p.differences  # norms in A, B
                 for s_ in (d.A * d.B).free_symbols if (m := vectors.meaning(s_)) is not None}
        out = {}
        for a in self.formula.args:
            if a.kind != "vector" or a.name in busy:
                continue
            nx = vectors.norm(sp.Symbol(a.name))
            sq = sp.Symbol(f"sqnorm_{a.name}", positive=True)
            ok, seen = True, False
            for p in plans:
                for c, _ in p.parts:
                    if nx not in c.free_symbols:
                        continue
                    seen = True
                    if nx in c.subs(nx, sp.sqrt(sq)).free_symbols or sp.sqrt(sq) in c.subs(nx, sp.sqrt(sq)).atoms(sp.Pow) \
                            or any(isinstance(t, sp.Pow) and t.base == sq and not t.exp.is_Integer
                                   for t in c.subs(nx, sp.sqrt(sq)).atoms(sp.Pow)):
                        ok = False
            if ok and seen:
                out[nx] = sq
        return out


_RANGE_IDIOM = re.compile(r'^_rt\.require\(\((\w+) >= ([^()&]+)\) & \(\1 <= ([^()&]+)\), ("\w+"), (".*")\)$')


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def domain_lines(formula: registry.Formula) -> list[str]:
    """The checks of the declared domains (:attr:`registry.Arg.domain`), one
    ``_rt.require(condition, "name", "must be ...")`` per condition (a closed interval with one
    message as the interval idiom), on the converted arguments.  ``positive`` and the numeric
    lower bound of an integer are enforced by the conversions (``_rt.positive``,
    ``_rt.integer(..., minimum)``).  Custom emitters call this after their conversions."""
    lines = []
    for a in formula.args:
        bounds = list(a.domain)
        if a.kind == "int":
            bounds = [b for b in bounds if not (b.op in (">=", ">") and re.fullmatch(r"-?\d+", b.rhs))]
        lo = [b for b in bounds if b.op == ">="]
        hi = [b for b in bounds if b.op == "<="]
        if len(lo) == 1 and len(hi) == 1 and lo[0].message() == hi[0].message():
            lines.append(f"_rt.require(({lo[0].code(a.name)}) & ({hi[0].code(a.name)}), "
                         f"{_quote(a.name)}, {_quote(lo[0].message())})")
            bounds = [b for b in bounds if b not in (lo[0], hi[0])]
        for b in bounds:
            lines.append(f"_rt.require({b.code(a.name)}, {_quote(a.name)}, {_quote(b.message())})")
    return lines


def _integer_line(a: registry.Arg) -> str:
    """``_rt.integer`` of an integer argument, with its numeric lower bound."""
    low = a.int_minimum()
    extra = f", minimum={low}" if low is not None and low != 1 else ""
    return f'{a.name} = _rt.integer("{a.name}", {a.name}{extra})'


def _validate_lines(formula: registry.Formula) -> list[str]:
    """The domain checks (:func:`domain_lines`) and ``formula.validate``, with the interval
    idiom ``_rt.require((x >= lo) & (x <= hi), ...)`` printed as ``_rt.within(x, lo, hi, ...)``
    (two reductions instead of three elementwise passes and a reduction; same message, NaN
    still fails)."""
    out = []
    for line in domain_lines(formula) + list(formula.validate):
        m = _RANGE_IDIOM.match(line)
        out.append(f"_rt.within({m[1]}, {m[2]}, {m[3]}, {m[4]}, {m[5]})" if m else line)
    return out


def _argument_lines(formula: registry.Formula, deferred=frozenset()) -> list[str]:
    """Conversion and validation of the arguments.  ``deferred``: vector arguments whose NaN/inf
    test is left to a reduction over them (their norm, an inner product or a sum, whose range
    check runs the naming scan only when it fails): no separate pass over them here."""
    lines = []
    validate = _validate_lines(formula)
    ranged = {m[1] for ln in validate if (m := re.match(r"_rt\.within\((\w+),", ln))}
    for a in formula.args:
        conv = {"vector": "vector", "scalar": "scalar", "int": "integer"}[a.kind]
        extra = ", finite=False" if a.name in deferred or (a.kind == "scalar" and a.name in ranged) else ""
        if a.kind == "int":
            lines.append(_integer_line(a))
            continue
        lines.append(f'{a.name} = _rt.{conv}("{a.name}", {a.name}{extra})')
        if a.positive:
            lines.append(f'_rt.positive("{a.name}", {a.name})')
    spaces: dict[str, list[str]] = {}
    for a in formula.args:
        if a.kind == "vector":
            spaces.setdefault(a.space, []).append(a.name)
    for members in spaces.values():
        if len(members) > 1:
            lines.append("_rt.same_length(" + ", ".join(f'("{m}", {m})' for m in members) + ")")
    specs = [f'("{a.name}", {a.name}, {1 if a.kind == "vector" else 0})'
             for a in formula.args if a.kind != "int"]
    lines.append(f"_shape = _rt.batch_shape({', '.join(specs)})")
    lines.extend(validate)
    return lines


class _Invariants:
    """Which invariants an emitted body computes, and how (decided from the names its printed
    coefficients use):

    * ``norm_x`` (``_rt.norm``) where the coefficients use ``|x|``; ``sqnorm_x`` (``_rt.sqnorm``,
      no square root) where they use ``|x|^2`` only, or where ``x`` enters an angle only through
      the product ``nn_x_y = |x||y|`` (then ``nn_x_y = sqrt(|x|^2 |y|^2)``: one square root);
    * every vector argument is tested for NaN/inf once: by its norm, by an inner product or a
      sum over it (names passed), by ``_rt.check_nonzero``, or else by ``_rt.vector``;
    * nonzero arguments whose norm is not needed: ``_rt.check_nonzero`` (no norm computed).
    """

    def __init__(self, formula, used: set, angles: list, rejections: list, symbols: set,
                 differences: list | None = None):
        self.formula = formula
        self.differences = [d for d in differences or ()
                            if {str(d.sq), str(d.tot), str(d.vec)} & used]
        by_name = {str(s): s for s in symbols}
        vec = [a for a in formula.args if a.kind == "vector"]
        self.norm = {a.name for a in vec if f"norm_{a.name}" in used}
        self.sq = {a.name for a in vec if f"sqnorm_{a.name}" in used}
        self.angles = [a for a in angles if a.vectors]
        grown = True
        while grown:  # an angle takes the norms of both operands when it needs one of them
            grown = False
            for a in self.angles:
                pair = set(a.vectors)
                if pair & self.norm and not pair <= self.norm:
                    self.norm |= pair
                    grown = True
        for a in self.angles:
            x, y = a.vectors
            if x not in self.norm:
                self.sq |= {x, y}
        for r in rejections:  # |x|^2 of the rejection's base
            if r.x not in self.norm:
                self.sq.add(r.x)
        self.check = {a.name for a in vec if a.nonzero and a.name not in self.norm | self.sq}
        self.dims, self.dots, self.totals = {}, {}, {}
        for name in sorted(used & set(by_name)):
            m = vectors.meaning(by_name[name])
            if m is None:
                continue
            if m.kind == "dim":
                self.dims[name] = m
            elif m.kind == "dot":
                self.dots[name] = m
            elif m.kind == "total":
                self.totals[name] = m
        for a in self.angles:
            d = vectors.dot(sp.Symbol(a.vectors[0]), sp.Symbol(a.vectors[1]))
            self.dots[str(d)] = vectors.meaning(d)
        self.tested = self.norm | self.sq | self.check
        for m in list(self.dots.values()) + list(self.totals.values()):
            self.tested |= set(m.operands)
        for d in self.differences:
            self.tested |= {d.x, d.y}

    def size(self, x: str) -> str:
        """The name of the computed norm (or squared norm) of ``x``, or ``None``."""
        return f"norm_{x}" if x in self.norm else (f"sqnorm_{x}" if x in self.sq else "None")

    def sq_code(self, x: str) -> str:
        return f"sqnorm_{x}" if x in self.sq else f"norm_{x}*norm_{x}"

    def lines(self, angles: list, rejections: list, used: set) -> list[str]:
        formula = self.formula
        lines = []
        nonzero = {a.name for a in formula.args if a.nonzero}
        for a in sorted((a for a in formula.args if a.kind == "vector"), key=lambda a: a.name):
            nz = ", nonzero=True" if a.name in nonzero else ""
            if a.name in self.sq:
                lines.append(f'sqnorm_{a.name} = _rt.sqnorm({a.name}, "{a.name}"{nz})')
            if a.name in self.norm and a.name in self.sq:
                lines.append(f"norm_{a.name} = numpy.sqrt(sqnorm_{a.name})")
            elif a.name in self.norm:
                lines.append(f'norm_{a.name} = _rt.norm({a.name}, "{a.name}"{nz})')
            if a.name in self.check:
                lines.append(f'_rt.check_nonzero({a.name}, "{a.name}")')
        for name, m in sorted(self.dims.items()):
            lines.append(f"{name} = {_dim_code(formula, m.operands[0])}")
        for name in sorted(used & set(_SQNORM_DIFFS)):
            x, y = _SQNORM_DIFFS[name]
            lines.append(f"# |{x}|^2 - |{y}|^2 from the sums of squares in double-double (no cancellation)")
            lines.append(f'{name} = _rt.sqnorm_difference({x}, {y}, ("{x}", "{y}"))')
        paired = {frozenset((d.x, d.y)): d for d in self.differences}
        for name, m in sorted(self.dots.items()):
            x, y = m.operands
            if frozenset((x, y)) in paired and self.size(x) == self.size(y) == "None":
                continue  # formed by the difference of x and y, in the same pass
            nx, ny = self.size(x), self.size(y)
            names = f', names=("{x}", "{y}")' if "None" in (nx, ny) else ""
            lines.append(f"{name} = _rt.dot({x}, {y}, {nx}, {ny}{names})")
        _one_pass(lines)
        for name, m in sorted(self.totals.items()):
            x = m.operands[0]
            nx = self.size(x)
            lines.append(f"{name} = _rt.total({x}, {nx}" + (f', name="{x}")' if nx == "None" else ")"))
        for d in self.differences:
            want = (d.sq, d.tot, d.vec) if str(d.vec) in used else (d.sq, d.tot)
            extra = ", vector=True" if str(d.vec) in used else ""
            xy = str(vectors.dot(sp.Symbol(d.x), sp.Symbol(d.y)))
            if xy in self.dots and self.size(d.x) == self.size(d.y) == "None":
                want += (sp.Symbol(xy),)
                extra += ", with_dot=True"
            refine = _refine_scales(d)
            if refine:
                extra += f", scales={refine}"
            bound = used | ({str(d.sq)} if str(d.vec) in used else set())  # sq: the vec's bound
            outs = ", ".join(str(t) if str(t) in bound else "_" for t in want)
            lines.append(f"# {d.x} - s {d.y}, its squared norm and sum, from the difference itself: "
                         f"no cancellation when the two nearly agree")
            lines.append(f'{outs} = _rt.difference({d.x}, {d.y}, {_scale_code(d.A)}, '
                         f'{_scale_code(d.B)}, ("{d.x}", "{d.y}"){extra})')
        for a in angles:
            base = str(a.cos)[4:]
            if a.vectors:
                x, y = a.vectors
                if x in self.norm:
                    lines.append(f"nn_{base} = norm_{x}*norm_{y}")
                else:
                    lines.append(f"nn_{base} = numpy.sqrt(sqnorm_{x}*sqnorm_{y})")
            want = [n for n, sym in (("cos", a.cos), ("sin", a.sin), ("phi", a.phi), ("psi", a.psi))
                    if str(sym) in used]
            if not want:
                continue
            nonzero = {arg.name for arg in formula.args if arg.nonzero}
            if a.vectors and want == ["cos"] and not set(a.vectors) <= nonzero:
                # only the cosine (to find the near-parallel rows of a rejection), and an operand
                # may be zero (a gradient): cos = 0 there, the rejection is then 0
                lines.append(f"{a.cos} = _rt.cosine_or_zero(dot_{x}_{y}, nn_{base})")
            elif a.vectors:
                names = ", ".join(str(sym) if n in want else "_"
                                  for n, sym in zip(("cos", "sin", "phi", "psi"),
                                                    (a.cos, a.sin, a.phi, a.psi)))
                zero_ok = ", zero_ok=True" if not set(a.vectors) <= nonzero else ""
                lines.append(f"{names} = _rt.angle_terms({x}, {y}, None, None, dot_{x}_{y}, "
                             f"\"{' '.join(want)}\", norm_xy=nn_{base}{zero_ok})")
            else:
                if "cos" in want:
                    lines.append(f"{a.cos} = numpy.cos({a.phi})")
                if "sin" in want and "cos" in want:  # the sine from the cosine (angle_rules)
                    lines.append(f"{a.sin} = _rt.sine({a.phi}, {a.cos})")
                elif "sin" in want:
                    lines.append(f"{a.sin} = numpy.sin({a.phi})")
                if "psi" in want:
                    lines.append(f"{a.psi} = _rt.pi_minus({a.phi})")
        for r in rejections:
            if not r.pair:
                lines.append(f"{r.symbol} = _rt.rejection({r.y}, {r.x}, {self.sq_code(r.x)}, "
                             f"{r.dot}, {r.angle.cos})")
        return lines


def _refine_scales(d: Difference) -> str:
    """``"(u, v)"`` for ``_rt.difference(..., scales=...)``: the vectors whose norms the scales
    ``A``, ``B`` of a difference are (``None`` for an exact number), so the runtime re-forms the
    near-cancelling rows with the norms in double-double; ``""`` when both scales are exact
    numbers (nothing is rounded: ``w - w*``) or a scale is not one plain norm."""
    out = []
    for e in (d.A, d.B):
        m = vectors.meaning(e) if isinstance(e, sp.Symbol) else None
        if m is not None and m.kind == "norm":
            out.append(str(m.operands[0]))
        elif e.is_Rational and (e.q & (e.q - 1)) == 0:  # exact in binary floating point
            out.append("None")
        else:
            return ""
    return "" if out == ["None", "None"] else f"({out[0]}, {out[1]})"


def _scale_code(e: sp.Expr) -> str:
    """A per-row scale (a monomial in the norms) as code; ``1`` as ``1.0``."""
    return "1.0" if e == 1 else print_expr(e)


def _vector_code(formula: registry.Formula, x: sp.Symbol) -> str:
    m = vectors.meaning(x)
    if m.kind == "ones":
        return f"numpy.ones({_dim_code(formula, vectors.space_of(x))})"
    return m.operands[0]


def _basis_code(formula: registry.Formula, b: sp.Symbol) -> str:
    if str(b).startswith("rej_"):
        return str(b)
    m = vectors.meaning(b)
    if m.kind in ("vector", "ones"):
        return _vector_code(formula, b)
    if m.kind == "outer":
        x, y = (_vector_code(formula, sp.Symbol(n)) for n in m.operands)
        return f"_rt.outer({x}, {y})"
    if m.kind == "eye":
        return f"numpy.eye({_dim_code(formula, m.operands[0])})"
    raise AssertionError(m)


def docstring(formula: registry.Formula) -> str:
    args = "\n".join(f"    {a.describe()}" for a in formula.args)
    out = {0: "the batch shape", 1: "the batch shape + (vector length,)",
           2: "the batch shape + (n, n)"}[formula.rank]
    return (
        f'"""{formula.name}: {formula.source}.\n\n'
        f"Assumptions: {formula.assumptions}\n\nArguments (leading axes broadcast as a batch):\n"
        f"{args}\n\nReturns an array of {out}.  Emitted by `nnderive build`; do not edit.\n\"\"\""
    )


def _is_simple(code: str) -> bool:
    """A printed coefficient that is a name or a number (no need to name it ``_k<i>``)."""
    return re.fullmatch(r"[A-Za-z_]\w*|-?[\d.]+(e-?\d+)?|\(?-?[\d.]+/[\d.]+\)?", code) is not None


def _dead_code(lines: list[str], keep=frozenset()) -> list[str]:
    """Drop the assignments of named constants and dimensions that no later line reads, then
    ``del`` every other local array right after its last use: the emitted body is straight-line
    code over batch-sized temporaries, and a smaller peak of live arrays is fewer fresh pages
    for the allocator to fault in (a large part of the time of a NumPy expression at N = 1e5).
    ``keep``: names never deleted (the arguments)."""
    out = list(lines)
    changed = True
    while changed:
        changed = False
        for i, line in enumerate(out):
            m = re.match(r"(_c\d+|dim_\w+|nn_\w+) = ", line)
            if m and not any(re.search(rf"\b{m[1]}\b", later) for later in out[i + 1:]):
                del out[i]
                changed = True
                break
    # a single-use elementwise call (``cos_phi = numpy.cos(phi)``) goes into its one use: its
    # result is then a temporary that NumPy reuses in place for the next operation
    changed = True
    while changed:
        changed = False
        for i, line in enumerate(out):
            m = re.fullmatch(r"(\w+) = ((?:numpy\.\w+|_rt\.pi_minus)\((\w+)\))", line)
            if not m or m[1] in keep:
                continue
            hits = [j for j in range(i + 1, len(out))
                    if not out[j].startswith("#") and re.search(rf"\b{m[1]}\b", out[j])]
            if len(hits) != 1 or len(re.findall(rf"\b{m[1]}\b", out[hits[0]])) != 1:
                continue
            if any(re.match(rf"{m[3]}\b.* = ", out[k]) for k in range(i + 1, hits[0])):
                continue
            out[hits[0]] = re.sub(rf"\b{m[1]}\b", lambda _m: m[2], out[hits[0]])
            del out[i]
            changed = True
            break
    words = [set(re.findall(r"\b[A-Za-z_]\w*\b", ln.split("#")[0])) for ln in out]
    for i, ln in enumerate(out):  # a lambda's names live as long as the lambda is used
        m = re.match(r"(\w+) = lambda", ln)
        if m:
            for j in range(i + 1, len(out)):
                if m[1] in words[j]:
                    words[j] |= words[i]
    assigned = set()
    for ln in out:
        m = re.match(r"([\w, ]+?) = ", ln)
        if m and not ln.startswith("#"):
            assigned |= {t.strip() for t in m[1].split(",")}
    local = {n for n in assigned if n not in keep and n != "_" and n not in ("_shape", "_out")
             and not re.fullmatch(r"_c\d+|dim_\w+", n)}
    last = {}
    for i, w in enumerate(words):
        for n in w & local:
            last[n] = i
    result = []
    for i, ln in enumerate(out):
        result.append(ln)
        dead = sorted(n for n, j in last.items() if j == i)
        if dead and not ln.startswith("return") and i < len(out) - 1:
            result.append(f"del {', '.join(dead)}")
    return result


def _log_bound(e: sp.Expr, sizes: dict) -> float | None:
    """An upper bound of ``log10 |e|`` on the emitted float path, from the ranges the run time
    has checked before ``e`` is evaluated (``sizes``: symbol name -> log10 bound, for powers
    of either sign where the quantity is bounded away from 0 as well, ``-x`` entries: upper
    bound only), or ``None`` (unbounded: a division by an inner product, an unknown function).
    Norms are in [1e-60, 1e60] on the float path (an extended-range norm makes the result an
    XF, tested entry by entry), inner products and sums within their checked range, angle
    terms within [-1, 1] or [0, pi], named constants their value."""
    if not e.free_symbols:
        v = abs(float(e))
        return math.log10(v) if v > 0 else -300.0
    if e.is_Symbol:
        b = sizes.get(str(e))
        return None if b is None else abs(b)
    if e.is_Add:
        parts = [_log_bound(t, sizes) for t in e.args]
        return None if None in parts else max(parts) + math.log10(len(parts))
    if e.is_Mul:
        parts = [_log_bound(t, sizes) for t in e.args]
        return None if None in parts else sum(parts)
    if e.is_Pow:
        b, k = e.as_base_exp()
        if not k.is_Rational:
            return None
        if k > 0:
            inner = _log_bound(b, sizes)
            return None if inner is None else float(k) * inner
        if b.is_Symbol and sizes.get(str(b), -1) >= 0:  # a norm: bounded away from 0 as well
            return float(-k) * sizes[str(b)]
        return None
    return None


def _inline_groups(code: str, group_lines: list[str]) -> str:
    """``code`` with its edge-group symbols ``_h<i>`` replaced by their expressions
    (``_rt.taylor(<sum>, t, ...)``): for a coefficient evaluated lazily, inside a lambda."""
    for i in range(0, len(group_lines), 3):
        name, prim = group_lines[i].split(" = ", 1)
        patched = group_lines[i + 2].split(" = ", 1)[1].replace(f"({name},", f"({prim},", 1)
        code = re.sub(rf"\b{name}\b", lambda _m: patched, code)
    return code


def _one_pass(lines: list[str]) -> None:
    """Where the norms of two vector arguments and their inner product are all computed, the
    three lines become one ``_rt.norms_and_dot`` call (one pass over the rows for the three
    sums, same values), at the place of the first norm."""
    for k, line in enumerate(lines):
        m = re.fullmatch(r"dot_(\w+) = _rt\.dot\((\w+), (\w+), norm_\2, norm_\3\)", line)
        if not m:
            continue
        x, y = m[2], m[3]
        found = {}
        for v in (x, y):
            pat = rf'norm_{v} = _rt\.norm\({v}, "{v}"(, nonzero=True)?\)'
            found[v] = next(((i, bool(n[1])) for i, ln in enumerate(lines) if (n := re.fullmatch(pat, ln))),
                            None)
        if None in found.values():
            continue
        (i, nzx), (j, nzy) = found[x], found[y]
        first = min(i, j)
        lines[first] = (f'norm_{x}, norm_{y}, dot_{m[1]} = _rt.norms_and_dot({x}, {y}, ("{x}", "{y}"), '
                        f"nonzero=({nzx}, {nzy}))")
        for idx in sorted({i, j, k} - {first}, reverse=True):
            del lines[idx]
        return _one_pass(lines)


_BUSY_OPS = 25  # a body with this many operations or more is "busy" (see _rt.blocks)


def _block_lines(name: str, formula: registry.Formula, fused: bool, body: list[str] = ()) -> list[str]:
    """A large batch is evaluated by the function itself, block by block (``_rt.by_blocks``):
    row-wise formulas only need the arguments cut into blocks of rows.  Formulas of scalar
    arguments only are not blocked: their few elementwise operations (``g(phi)``: cos, sin and
    a product) stream through memory at the speed of the bare ufuncs anyway, and blocking
    measured 5-15% slower at N = 1e6."""
    if not any(a.kind == "vector" for a in formula.args):
        return []
    args = ", ".join(a.name for a in formula.args) + ("," if len(formula.args) == 1 else "")
    ops = sum(len(re.findall(r"[*+/-]|_rt\.\w+\(|numpy\.\w+\(", ln)) for ln in body
              if not ln.startswith(("del ", "#", "_c")))
    busy = ", busy=True" if ops >= _BUSY_OPS else ""
    extra = (", out" if fused else "") + busy
    core = core_name(name)
    return [f"if _rt.blocks(_shape{busy}):  # a large batch: evaluated in cache-sized blocks of rows",
            f"    return _rt.by_blocks({core}, _shape, ({args}){extra})",
            f"return {core}(_shape, {args.rstrip(',')}{', out=out' if fused else ''})",
            _CORE]


_CORE = "#<core>"  # where a blocked function's body splits into its checks and its core


def core_name(name: str) -> str:
    """The private function holding the body of the emitted function ``name`` after its argument
    checks: called on the whole batch, or by ``_rt.by_blocks`` on each block of rows (which then
    pays the checks once, not once per block)."""
    return f"_{name}_core"


def _split(name: str, sig: str, lines: list[str]) -> tuple[list[str], str]:
    """``lines`` of the function ``name``: (the public body, the source of its core function)
    when the body is blocked, else (``lines``, "")."""
    if _CORE not in lines:
        return lines, ""
    k = lines.index(_CORE)
    core = (f"def {core_name(name)}(_shape, {sig}):\n"
            f'    """The body of :func:`{name}` on checked arguments of batch shape ``_shape``\n'
            '    (the whole batch, or one block of rows).  Emitted by `nnderive build`; do not edit."""\n'
            + textwrap.indent("\n".join(lines[k + 1:]), "    ") + "\n")
    return lines[:k], core


def _body(plans: list[_Plan], out_names: list[str] | None = None, self_name: str | None = None) -> list[str]:
    """Validation, invariants, CSE of every coefficient of every plan, and the return line(s).
    ``self_name``: the emitted function's own name (large batches then go block by block)."""
    formula = plans[0].formula
    angles = {str(a.phi): a for p in plans for a in p.angles}
    angles = [angles[k] for k in sorted(angles)]
    rejections = {str(r.symbol): r for p in plans for r in p.rejections}
    rejections = [rejections[k] for k in sorted(rejections)]
    counter = [0]
    squares = plans[0].squared_norms(plans[1:])
    products = {}  # |x||y| -> nn_x_y: computed once, shared by the angle and the coefficients
    for a in angles:
        if a.vectors:
            x, y = (sp.Symbol(n) for n in a.vectors)
            products[vectors.norm(x) * vectors.norm(y)] = sp.Symbol(f"nn_{str(a.cos)[4:]}", positive=True)
    root = {n: sp.sqrt(q) for n, q in squares.items()}
    # norms used both alone and squared: |x|^2 is x.x itself (computed first; |x| is its root)
    squared = {}
    for a in formula.args:
        nx = vectors.norm(sp.Symbol(a.name)) if a.kind == "vector" else None
        if nx is None or nx in squares:
            continue
        pows = [t.exp for p in plans for c, _ in p.parts for t in c.atoms(sp.Pow) if t.base == nx]
        if any(k.is_Integer and k >= 2 for k in pows):
            squared[nx] = sp.Symbol(f"sqnorm_{a.name}", positive=True)

    def even_powers(c):
        for nx, q in squared.items():
            c = c.replace(lambda t: t.is_Pow and t.base == nx and t.exp.is_Integer and abs(t.exp) >= 2,
                          lambda t: q ** (t.exp // 2) * (nx if t.exp % 2 else 1))
        return c
    # every coefficient to print: (plan index, basis or ("alpha", rejection)), expression;
    # the coefficient of x in the rejection form of a pair is needed on near-parallel rows
    # only: printed apart (no CSE with the others) and evaluated lazily
    jobs, lazy_jobs = [], []
    for i, p in enumerate(plans):
        paired_x = {sp.Symbol(r.x) for r in p.rejections if r.pair}
        for c, b in p.parts:
            (lazy_jobs if b in paired_x else jobs).append(((i, b), c))
        for r in p.rejections:
            if r.pair:
                jobs.append(((i, ("alpha", str(r.symbol))), r.alpha))
    consts: dict = {}
    coeffs, group_lines = [], []
    for _, c in jobs:
        c2, lines = _edge_groups(c.subs(root), angles, counter)
        coeffs.append(_fold_constants(c2, consts, products, even_powers))
        group_lines += lines
    cse_lines, printed = print_block(coeffs)
    code = dict(zip([k for k, _ in jobs], printed))
    exprs = dict(zip([k for k, _ in jobs], coeffs))
    lazy_syms = set()
    for key, c in lazy_jobs:
        c2, lines = _edge_groups(c.subs(root), angles, counter)
        c2 = _fold_constants(c2, consts, products, even_powers)
        lazy_syms |= c2.free_symbols
        code[key] = _inline_groups(print_expr(c2), lines)
    const_lines = [f"{sym} = {print_expr(val)}" for val, sym in consts.items()]
    text = "\n".join(cse_lines + printed + group_lines + [code[k] for k, _ in lazy_jobs])
    used = set(re.findall(r"\b\w+\b", text))
    differences = {}
    for p in plans:
        for d in p.differences:
            old = differences.setdefault(str(d.sq), d)
            if sp.simplify(old.A * d.B - old.B * d.A) != 0:
                raise ValueError(f"{formula.name}: two differences of {d.x} and {d.y} with other scales")
        used |= {str(b) for _, b in p.parts if str(b).startswith("diff_")}
    differences = [differences[k] for k in sorted(differences)]
    for d in differences:  # the norms in the scales of a difference
        if {str(d.sq), str(d.tot), str(d.vec)} & used:
            used |= set(re.findall(r"\b\w+\b", _scale_code(d.A) + " " + _scale_code(d.B)))
    for r in rejections:
        used.add(str(r.angle.cos))
    symbols = set().union(lazy_syms, *(c.free_symbols for c in coeffs))
    symbols |= {s_ for d in differences for s_ in (d.A * d.B).free_symbols}
    inv = _Invariants(formula, used, angles, rejections, symbols, differences)
    # a rejection that is the whole result of one output is scaled in place (no own line)
    inline_rej = {}
    for i, p in enumerate(plans):
        if p.formula.rank == 1 and len(p.parts) == 1 and str(p.parts[0][1]).startswith("rej_"):
            inline_rej.setdefault(str(p.parts[0][1]), []).append(i)
    uses = {}
    for p in plans:
        for _, b in p.parts:
            uses[str(b)] = uses.get(str(b), 0) + 1
    inline_rej = {r for r, who in inline_rej.items() if uses[r] == 1}
    body = _argument_lines(formula, deferred=inv.tested)
    blocks_at = len(body)
    # log10 bounds of the invariants on the float path (for the static finiteness proof)
    sizes = {f"norm_{x}": 60.0 for x in inv.norm} | {f"sqnorm_{x}": 120.0 for x in inv.sq}
    sizes |= {str(v): 120.0 for v in products.values()}
    # inner products: |x.y| <= |x||y| or their own range check, 1e120; sums: sqrt(p)|x| (p <= 1e6)
    # or their own range check, 1e60
    sizes |= {n: -120.0 for n in inv.dots} | {n: -63.0 for n in inv.totals}
    # |A x - B y|^2 <= 1e120 (checked; beyond: an XF), so |1.(A x - B y)| <= sqrt(p) 1e60
    sizes |= {str(d.sq): -120.0 for d in inv.differences} | {str(d.tot): -63.0 for d in inv.differences}
    sizes |= {n: -6.0 for n in inv.dims}
    for a in angles:
        sizes |= {str(a.cos): -0.0, str(a.sin): -0.0, str(a.psi): -0.5, str(a.phi): -0.5}
    sizes |= {f"_h{j}": -3.0 for j in range(counter[0])}
    sizes |= {str(sym): -math.log10(max(abs(float(val)), 1e-300)) for val, sym in consts.items()}
    for ln in _validate_lines(formula):  # interval-checked scalar arguments: |x| <= max |bound|
        m = re.match(r"_rt\.within\((\w+), (.+?), (.+?), \"", ln)
        if m:
            try:
                lo, hi = (abs(float(eval(t, {"numpy": np}))) for t in (m[2], m[3]))
            except NameError:  # a bound given by another argument: no size known
                continue
            sizes[m[1]] = -math.log10(max(lo, hi, 1e-300))

    def proved(key, limit):
        e = exprs.get(key)
        bound = None if e is None else _log_bound(e, sizes)
        return bound is not None and bound <= limit

    body += inv.lines(angles, [r for r in rejections if str(r.symbol) not in inline_rej], used)
    body += group_lines
    body += const_lines
    body += cse_lines

    named = [0]

    def name(c: str) -> str:
        """``c`` as a local (``_k<i>``) unless it is a name or a number already."""
        if _is_simple(c):
            return c
        k = f"_k{named[0]}"
        named[0] += 1
        body.append(f"{k} = {c}")
        return k

    results = []
    for i, p in enumerate(plans):
        f = p.formula
        if f.rank == 0:  # proved below 1e300: no scan of the result
            results.append((code[(i, None)] if p.parts else "0.0", 0,
                            "True" if p.parts and proved((i, None), 298.0) else None))
            continue
        pairs = {str(r.symbol): r for r in p.rejections if r.pair}
        paired_x = {sp.Symbol(r.x) for r in pairs.values()}
        ks = {b: name(code[(i, b)]) for _, b in p.parts if b not in paired_x}
        kalpha = {s_: name(code[(i, ("alpha", s_))]) for s_ in pairs}
        terms, coef_names, norms, static = [], [], [], True  # terms: (coefficient, basis code)
        eye = ones2 = whole = None
        limit = 298.0 - 60.0 * f.rank - 1.0  # |coefficient| * |basis entry| (<= 1e60^rank) < 1e297
        safe = set()  # coefficients proved bounded: no reductions at run time

        def size_of(x: str):
            s_ = inv.size(x)
            if s_ == "None":
                return False
            norms.append(s_)
            return True

        bounded = True
        for _, b in p.parts:
            if b in paired_x:
                continue  # emitted with its rejection below
            k = ks[b]
            if str(b) in pairs:
                r = pairs[str(b)]
                size = f"norm_x=norm_{r.x}" if r.x in inv.norm else f"sqnorm_x=sqnorm_{r.x}"
                lazy = f"_near_{r.x}" + (f"_{i}" if out_names else "")
                body.append(f"# the coefficient of {r.x} once {r.y} is split along {r.x} (needed on "
                            f"near-parallel rows only)")
                body.append(f"{lazy} = lambda: {code[(i, sp.Symbol(r.x))]}  # noqa: E731")
                whole = (f"_rt.rejection_pair({r.x}, {kalpha[str(b)]}, {r.y}, {k}, {lazy}, "
                         f"{r.dot}, {r.angle.cos}, {size})")
                coef_names += [kalpha[str(b)], k]
                safe |= {kalpha[str(b)]} if proved((i, ("alpha", str(b))), limit) else set()
                safe |= {k} if proved((i, b), limit) else set()
                bounded &= size_of(r.x) & size_of(r.y)
                static = False
                continue
            coef_names.append(k)
            if proved((i, b), limit):
                safe.add(k)
            if not re.fullmatch(r"[-\d.()/e]+", k):
                static = False
            if str(b).startswith("diff_"):  # A x - B y: entries <= 1e60 unless its square is an XF
                norms.append(f"sqdiff_{str(b)[5:]}")
                terms.append((k, str(b)))
                continue
            if str(b).startswith("rej_"):
                r = next(r for r in rejections if str(r.symbol) == str(b))
                bounded &= size_of(r.x) & size_of(r.y)
                if str(b) in inline_rej:
                    whole = (f"_rt.rejection({r.y}, {r.x}, {inv.sq_code(r.x)}, {r.dot}, "
                             f"{r.angle.cos}, scale={k})")
                else:
                    terms.append((k, str(b)))
                continue
            m = vectors.meaning(b)
            if f.rank == 2 and m.kind == "eye":
                eye = (k, _dim_code(f, m.operands[0]))
                continue
            if f.rank == 2 and m.kind == "outer" and all(
                    vectors.meaning(sp.Symbol(o)).kind == "ones" for o in m.operands):
                ones2 = (k, _dim_code(f, vectors.space_of(sp.Symbol(m.operands[0]))))
                continue
            if f.rank == 1 and m.kind == "ones" and len(p.parts) > 1:
                terms.append((k, None))  # times the all-ones vector: broadcasts
                continue
            if m.kind == "vector":
                bounded &= size_of(m.operands[0])
            elif m.kind == "outer":
                for o in m.operands:
                    if vectors.meaning(sp.Symbol(o)).kind == "vector":
                        bounded &= size_of(vectors.meaning(sp.Symbol(o)).operands[0])
            terms.append((k, _basis_code(f, b)))
        if whole is not None:
            expr = whole
        elif f.rank == 1 and len(terms) > 1:
            expr = "_rt.combine(" + ", ".join(f"({k}, {b})" for k, b in terms) + ")"
        else:
            expr = " + ".join(f"{_wrap(f)}({k})" + ("" if b is None else f" * {b}") for k, b in terms)
            if ones2 is not None:
                expr = f"_rt.filled({ones2[0]}, {ones2[1]})" + (f" + {expr}" if expr else "")
            if eye is not None:
                fn = "set_diagonal" if p.set_diagonal and ones2 is not None else "add_diagonal"
                expr = f"_rt.{fn}({expr or f'_rt.filled(0.0, {eye[1]})'}, {eye[0]})"
        if static and coef_names and sum(abs(float(sp.sympify(k.replace('numpy.', '')))) for k in coef_names) <= 1:
            checked = "True"  # constant coefficients summing to <= 1 times finite arguments
        elif bounded:
            scan = [k for k in coef_names if k not in safe]
            xf = sorted(set(norms))  # (an XF coefficient makes the result an XF: tested anyway)
            checked = (f"(({', '.join(scan)}{',' if scan else ''}), "
                       f"({', '.join(xf)}{',' if xf else ''}))")
        else:
            checked = None
        results.append((expr or "0.0", f.rank, checked))
    if out_names is None:
        expr, rank, checked = results[0]
        extra = "" if rank == 0 else f", {rank}"
        extra += f", checked={checked}" if checked else ""
        body.append(f"return _rt.finish({expr}, _shape{extra})")
    else:
        body.append("_out = (None,) * %d if out is None else _rt.buffers(out, %d)" % (len(plans), len(plans)))
        names = []
        for i, ((expr, rank, checked), nm) in enumerate(zip(results, out_names)):
            extra = f", checked={checked}" if checked else ""
            body.append(f"{nm} = _rt.finish({expr}, _shape, {rank}, _out[{i}]{extra})")
            names.append(nm)
        body.append(f"return {', '.join(names)}")
    if self_name is not None:
        body[blocks_at:blocks_at] = _block_lines(self_name, formula, out_names is not None, body[blocks_at:])
    return _dead_code(body, keep={a.name for a in formula.args} | {"out"})


def _wrap(formula: registry.Formula) -> str:
    return "_rt.col" if formula.rank == 1 else "_rt.col2"


def emit_function(formula: registry.Formula, dispatch: bool = True) -> str:
    """Source of the emitted function for ``formula`` (the default invariant emitter);
    ``dispatch``: see :func:`emit_fused`."""
    if formula.emitter is not None:
        return formula.emitter(formula)
    body = _body([_Plan(formula)], self_name=formula.quantity)
    sig = ", ".join(a.name for a in formula.args)
    body, core = _split(formula.quantity, sig, body)
    if dispatch:
        body = _with_dispatch(body, formula, formula.quantity, False, core)
    return (
        f"def {formula.quantity}({sig}):\n"
        + textwrap.indent(docstring(formula), "    ")
        + "\n"
        + textwrap.indent("\n".join(body), "    ")
        + "\n"
        + ("\n\n" + core if core else "")
    )


# --------------------------------------------------------------------------------------------
# Fused value-and-gradients functions
# --------------------------------------------------------------------------------------------


def fused_groups(family: str) -> list[tuple[registry.Formula, list[registry.Formula]]]:
    """``[(value formula, [gradient formulas])]`` of a family: a scalar formula ``X`` and the
    formulas ``grad_<arg>`` with exactly the same arguments (default emitter only), in order."""
    formulas = [registry.get(n) for n in registry.names(family)]
    out = []
    for f in formulas:
        if f.rank != 0 or f.emitter is not None:
            continue
        grads = [g for g in formulas if g.emitter is None and g.rank == 1 and g.args == f.args
                 and g.quantity.startswith("grad_") and g.quantity[5:] in {a.name for a in f.args}]
        if grads:
            out.append((f, grads))
    return out


def fused_name(value: registry.Formula) -> str:
    return f"{value.quantity}_and_grads"


def emit_fused(value: registry.Formula, grads: list[registry.Formula], dispatch: bool = True) -> str:
    """One function returning the value and all its gradients, sharing invariants, angle terms
    and common subexpressions; ``out=(value_buf, grad_buf, ...)`` writes into given arrays.
    ``dispatch``: after its checks the function calls its compiled version when the backend in
    use has one (:mod:`derivations.codegen_numba`)."""
    plans = [_Plan(value)]
    plans += [_Plan(g, vector_differences=bool(plans[0].differences)) for g in grads]
    names = ["value"] + [g.quantity for g in grads]
    body = _body(plans, out_names=names, self_name=fused_name(value))
    sig = ", ".join(a.name for a in value.args)
    listing = ", ".join(f.name for f in [value] + grads)
    doc = (
        f'"""{listing}, fused: ({", ".join(names)}) in one call.\n\n'
        f"Source: {value.source}.  Assumptions: {value.assumptions}\n\n"
        "Arguments (leading axes broadcast as a batch):\n"
        + "\n".join(f"    {a.describe()}" for a in value.args)
        + "\n    out: optional tuple of float64 arrays to write the results into\n\n"
        "Norms, inner products, the angle terms and common subexpressions are computed once.\n"
        'Emitted by `nnderive build`; do not edit.\n"""'
    )
    body, core = _split(fused_name(value), sig + ", *, out=None", body)
    if dispatch:
        body = _with_dispatch(body, value, fused_name(value), True, core)
    return (
        f"def {fused_name(value)}({sig}, *, out=None):\n"
        + textwrap.indent(doc, "    ") + "\n"
        + textwrap.indent("\n".join(body), "    ") + "\n"
        + ("\n\n" + core if core else "")
    )


def _with_dispatch(body: list[str], formula: registry.Formula, name: str, fused_: bool,
                   core: str) -> list[str]:
    """``body`` (the public part) with the compiled backend's dispatch before its blocks (after
    the argument checks), when :mod:`derivations.codegen_numba` compiles ``core`` (the source of
    the NumPy core function); it then keeps the kernel for ``<family>_numba.py``."""
    from . import codegen_numba

    at = next((i for i, ln in enumerate(body) if ln.startswith("if _rt.blocks(")), None)
    if at is None or not core:
        return body
    return body[:at] + codegen_numba.dispatch_lines(formula, name, fused_, core) + body[at:]


def fused(name: str):
    """The emitted fused function for the scalar formula ``name`` (e.g. ``cnn.population_loss``
    -> ``derivations.generated.cnn.population_loss_and_grads``)."""
    import importlib

    f = registry.get(name)
    module = importlib.import_module(f"derivations.generated.{f.family}")
    try:
        return getattr(module, fused_name(f))
    except AttributeError:
        raise LookupError(f"{name} has no fused value-and-gradients function") from None


def _drop_unused(source: str) -> str:
    """``source`` without the top-level assignments of a function whose name is never read after
    them (intermediates a family's own emitter writes for every variant, e.g. a sum only some
    variants need), unless the value calls the runtime (``_rt.``: it may check an argument)."""
    import ast

    while True:
        tree = ast.parse(source)
        drop = []
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            for st in fn.body:
                if not (isinstance(st, ast.Assign) and len(st.targets) == 1
                        and isinstance(st.targets[0], ast.Name)):
                    continue
                name = st.targets[0].id
                if any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "_rt"
                       for n in ast.walk(st.value)):
                    continue
                if not any(isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Store)
                           and n.lineno > st.end_lineno for n in ast.walk(fn)):
                    drop.append((st.lineno, st.end_lineno))
        if not drop:
            return source
        lines = source.split("\n")
        for a, b in sorted(drop, reverse=True):
            del lines[a - 1 : b]
        source = "\n".join(lines)


def module_source(family: str) -> str:
    """The whole generated module for one family."""
    formulas = [registry.get(n) for n in registry.names(family)]
    modules = sorted({f.family for f in formulas})
    header = (
        f"# Generated by `nnderive build` from the SymPy derivations in derivations/{family}.py.\n"
        f"# Do not edit: rebuild with `nnderive build`; tests fail when this file is stale.\n"
        f'"""Emitted NumPy code for the ``{family}`` family ({", ".join(modules)}).\n\n'
        f"Formulas: {', '.join(f.name for f in formulas)}.\n"
        f'Imports NumPy, the standard library and the hand-written ``_runtime`` helpers only (no SymPy).\n"""\n'
        "import numpy\n\n"
        "from . import _runtime as _rt\n\n"
        f"__all__ = {[f.quantity for f in formulas] + [fused_name(v) for v, _ in fused_groups(family)]!r}\n"
    )
    functions = "\n\n".join(emit_function(f) for f in formulas)
    for value, grads in fused_groups(family):
        functions += "\n\n" + emit_fused(value, grads)
    extra = _extra_fused(family, formulas)
    if extra:
        header = header[:-2] + "".join(f", {n!r}" for n, _ in extra) + "]\n"  # extend __all__
        for _, src in extra:
            functions += "\n\n" + src
    functions = _drop_unused(functions)
    if re.search(r"(?<![\w.])math\.", functions):  # the standard library's math.gamma, math.erf
        header = header.replace("import numpy\n\n", "import math\n\nimport numpy\n\n", 1)
    return header + "\n\n" + functions


def _extra_fused(family: str, formulas) -> list[tuple[str, str]]:
    """Fused functions a family with its own emitter adds: ``fused_functions(family)`` of the
    module defining a formula's ``emitter`` -> ``[(name, source)]`` (none for most families)."""
    import sys

    mods = {f.emitter.__module__ for f in formulas if f.emitter is not None}
    out = []
    for m in sorted(mods):
        hook = getattr(sys.modules.get(m), "fused_functions", None)
        if hook is not None:
            out += hook(family)
    return out


def build(write: bool = True, families: list[str] | None = None) -> dict[Path, str]:
    """Emit every family's module; write them (default) and return ``{path: source}``."""
    out = {}
    from . import codegen_numba

    for fam in families or registry.families():
        path = GENERATED_DIR / f"{fam}.py"
        codegen_numba._KERNELS.pop(fam, None)  # (filled again while the module is emitted)
        out[path] = module_source(fam)
        if write:
            path.write_text(out[path])
        compiled = codegen_numba.module_source(fam)  # the compiled backend's kernels, if any
        if compiled:
            out[GENERATED_DIR / f"{fam}_numba.py"] = compiled
            if write:
                (GENERATED_DIR / f"{fam}_numba.py").write_text(compiled)
    return out


class _NumPyOnly:
    """The runtime as seen by code compiled from source in memory (mutants, freshness): the
    NumPy path always (a mutated NumPy body must not hand its rows to the committed kernel)."""

    def __init__(self, runtime):
        self._rt = runtime

    def __getattr__(self, name):
        return getattr(self._rt, name)

    @staticmethod
    def compiled(*_):
        return None


def compile_function(formula: registry.Formula, source: str | None = None):
    """Compile ``formula``'s emitted source in memory (used for mutants and freshness)."""
    from .generated import _runtime

    import numpy

    namespace = {"numpy": numpy, "_rt": _NumPyOnly(_runtime)}
    exec(compile(source or emit_function(formula), f"<emitted {formula.name}>", "exec"), namespace)
    return namespace[formula.quantity]


def standalone_source(formula: registry.Formula) -> str:
    """Self-contained source of one emitted function: the runtime helpers, then the function."""
    runtime = RUNTIME.read_text().replace(  # standalone: NumPy only (no compiled backend)
        "from ._backend import compiled  # noqa: E402,F401  (the emitted functions' dispatch)",
        "def compiled(*_):  # no compiled backend in standalone code\n    return None")
    func = emit_function(formula, dispatch=False)
    used = sorted(set(re.findall(r"_rt\.(\w+)", func)))
    return (
        f"# {formula.name}: {formula.source}\n"
        "# Emitted by `nnderive code`; needs NumPy only.  Runtime helpers from\n"
        "# derivations/generated/_runtime.py follow, then the function.\n"
        + runtime
        + "\n\nclass _rt:  # namespace for the helpers above\n"
        + "".join(f"    {name} = staticmethod({name})\n" for name in used)
        + "\n\n"
        + func
    )
