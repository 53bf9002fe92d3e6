"""Property test of the NumPy printer (``derivations.codegen``): random SymPy expressions built
from what the derivations use (sums and products with rational and irrational constants, pi, E,
sqrt(2), negative constants, constant sums such as ``pi - 4``, powers, Piecewise, sqrt, exp, log,
acos, atan2, gamma, the folded constants ``_c<i>``), each printed by the project's printer,
evaluated with NumPy and compared with SymPy's own evaluation (``lambdify`` to mpmath at 30
digits) at random points, to 1e-12 relative to the value.

Issue 19 item 1: ``print_expr(x*(pi - 4))`` printed ``x*(-4 - numpy.pi)``.

Care with points: a point is skipped when the value is not finite and real (mpmath complex,
NumPy NaN/inf, overflow), and the 1e-12 bound is relaxed only where the evaluation is
ill-conditioned, i.e. where SymPy's stock NumPy printer of the same expression is itself further
than 1e-13 from the 30-digit value; there the project's printer must stay within 100x of the stock
printer's error.  Most points are judged by the strict bound (counted and asserted below).
``NNDERIVE_FUZZ_N`` sets the number of expressions (default 1500).
"""
from __future__ import annotations

import math
import os
import random
import warnings

import mpmath
import numpy as np
import pytest
import sympy as sp

from derivations import codegen
from derivations import runtime as _rt

X, Y, Z = sp.symbols("x y z", real=True)
C0, C1 = sp.Symbol("_c0"), sp.Symbol("_c1")  # the folded constants the printer treats as scalars
SYMS = (X, Y, Z, C0, C1)
C_VALUES = (math.pi - 4.0, 0.5 * math.sqrt(2.0))  # _c0 < 0, _c1 > 0
N_EXPR = int(os.environ.get("NNDERIVE_FUZZ_N", "1500"))
N_POINTS = 6
RTOL = 1e-12

_CONSTS = (sp.pi, sp.E, sp.sqrt(2), sp.sqrt(3), sp.pi / 2, sp.pi ** 2, 1 / sp.pi, sp.sqrt(sp.pi))


class Gen:
    """Seeded random expression trees."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def rational(self):
        r = self.r
        if r.random() < 0.6:
            return sp.Integer(r.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 8]))
        return sp.Rational(r.choice([-7, -3, -1, 1, 3, 5]), r.choice([2, 3, 4, 8]))

    def constant(self):
        """A number, an irrational constant, or a constant sum ``a*K + b`` (``pi - 4``...)."""
        r = self.r
        k = r.random()
        if k < 0.25:
            return self.rational()
        if k < 0.5:
            return r.choice([1, -1]) * r.choice(_CONSTS)
        if k < 0.85:  # the sign-bug shape: an irrational plus (minus) a rational
            return self.rational() * r.choice(_CONSTS) + self.rational()
        return r.choice([1, -1]) * r.choice(_CONSTS) * r.choice([C0, C1, sp.Integer(1)])

    def leaf(self):
        r = self.r
        k = r.random()
        if k < 0.55:
            return r.choice((X, Y, Z))
        if k < 0.65:
            return r.choice((C0, C1))
        return self.constant()

    def draw(self, depth: int):
        """A tree of ``depth`` whose constants are real (retries a draw SymPy rejects, e.g. a
        Piecewise condition on a non-real constant)."""
        while True:
            try:
                e = self.expr(depth)
            except TypeError:
                continue
            if e.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
                continue
            if all(a.is_real is not False for a in e.atoms(sp.Number, sp.Pow) if not a.free_symbols):
                return e

    def expr(self, depth: int):
        r = self.r
        if depth <= 0 or r.random() < 0.2:
            return self.leaf()
        d = depth - 1
        op = r.choices(
            ["add", "sub", "mul", "cmul", "div", "pow", "sqrt", "exp", "log", "acos", "atan2",
             "gamma", "pw", "neg"],
            [14, 10, 14, 14, 8, 8, 5, 4, 4, 3, 3, 2, 5, 3])[0]
        if op == "add":
            return sp.Add(*[self.expr(d) for _ in range(r.choice([2, 2, 3]))])
        if op == "sub":
            return self.expr(d) - self.expr(d)
        if op == "mul":
            return sp.Mul(*[self.expr(d) for _ in range(r.choice([2, 2, 3]))])
        if op == "cmul":  # constant times expression, the printer's scalar grouping
            return self.constant() * self.expr(d)
        if op == "div":
            return self.expr(d) / self.expr(d)
        if op == "pow":
            e = r.choice([2, 3, -1, -2, 4, sp.Rational(1, 2), sp.Rational(3, 2),
                          sp.Rational(-1, 2), sp.Rational(1, 3)])
            return self.expr(d) ** e
        if op == "sqrt":
            return sp.sqrt(self.expr(d))
        if op == "exp":
            return sp.exp(self.expr(min(d, 1)))  # a shallow argument: no exp(exp(...)) overflow
        if op == "log":
            return sp.log(self.expr(d))
        if op == "acos":
            return sp.acos(self.expr(d))
        if op == "atan2":
            return sp.atan2(self.expr(d), self.expr(d))
        if op == "gamma":
            return sp.gamma(self.expr(min(d, 1)))
        if op == "pw":
            a, b = self.expr(d), self.expr(d)
            cond = r.choice([X < Y, X > 0, Y <= Z, Z + 1 > X, self.expr(min(d, 1)) > 0])
            return sp.Piecewise((a, cond), (b, True))
        return -self.expr(d)


def _numpy_fn(code: str):
    return eval(f"lambda x, y, z, _c0, _c1: {code}", {"numpy": np, "math": math, "_rt": _rt})


def _block_fn(lines: list[str], result: str):
    src = "def f(x, y, z, _c0, _c1):\n" + "".join(f"    {ln}\n" for ln in lines) + f"    return {result}\n"
    ns = {"numpy": np, "math": math, "_rt": _rt}
    exec(src, ns)
    return ns["f"]


def _call(fn, pt):
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = fn(*[np.float64(p) for p in pt])
        v = complex(np.asarray(v).item()) if np.iscomplexobj(v) else float(np.asarray(v).item())
    except (OverflowError, ValueError, ZeroDivisionError, TypeError):
        return None
    if isinstance(v, complex) or not math.isfinite(v):
        return None
    return v


def _reference(fn, pt):
    with mpmath.workdps(30):
        try:
            v = fn(*[mpmath.mpf(p) for p in pt])
        except (OverflowError, ValueError, ZeroDivisionError, TypeError, AttributeError):
            return None
        if isinstance(v, mpmath.mpc):
            if abs(v.imag) > mpmath.mpf(10) ** -25 * max(1, abs(v.real)):
                return None
            v = v.real
        try:
            v = mpmath.mpf(v)
        except TypeError:
            return None
        if not mpmath.isfinite(v) or abs(v) > 1e300 or (v != 0 and abs(v) < 1e-290):
            return None
        return v


def _points(r: random.Random):
    out = []
    for _ in range(N_POINTS):
        k = r.random()
        if k < 0.5:
            xyz = [r.uniform(-3, 3) for _ in range(3)]
        elif k < 0.8:
            xyz = [r.uniform(0.05, 4) for _ in range(3)]
        else:
            xyz = [r.choice([-1, 1]) * 10 ** r.uniform(-3, 1.5) for _ in range(3)]
        out.append(tuple(xyz) + C_VALUES)
    return out


def fuzz(n_expr: int, seed: int = 19):
    """Fuzz ``n_expr`` expressions; returns (counts, failures)."""
    gen = Gen(seed)
    pts_rng = random.Random(seed + 1)
    counts = dict(expressions=0, judged=0, strict=0, relaxed=0, skipped=0)
    failures = []
    for i in range(n_expr):
        e = gen.draw(4)
        if not e.free_symbols & {X, Y, Z}:
            e = e * X + gen.constant()  # every expression depends on a variable
            if e.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
                continue
        counts["expressions"] += 1
        ours = _numpy_fn(codegen.print_expr(e))
        e2 = gen.draw(3)
        e3 = e * e2 + e
        if e3.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            e3 = e2
        lines, (r1, _) = codegen.print_block([e, e3], prefix="_t")
        block = _block_fn(lines, r1)
        ref = sp.lambdify(SYMS, e, modules="mpmath")
        stock = sp.lambdify(SYMS, e, modules=["scipy", "numpy"])
        for pt in _points(pts_rng):
            want = _reference(ref, pt)
            if want is None:
                counts["skipped"] += 1
                continue
            got, got_b, base = _call(ours, pt), _call(block, pt), _call(stock, pt)
            if base is None:
                counts["skipped"] += 1
                continue
            scale = abs(want) if want != 0 else mpmath.mpf(1)
            base_err = float(abs(base - want) / scale)
            counts["judged"] += 1
            strict = base_err <= 1e-13
            counts["strict" if strict else "relaxed"] += 1
            tol = RTOL if strict else max(RTOL, 100 * base_err)
            for label, v in (("print_expr", got), ("print_block", got_b)):
                err = math.inf if v is None else float(abs(v - want) / scale)
                if not err <= tol:
                    failures.append((i, label, e, pt, v, float(want), err, tol))
    return counts, failures


def test_sign_of_a_constant_sum():
    """The four shapes of issue 19 print their sign (the value is checked, not the text)."""
    x = X
    for e in (x * (sp.pi - 4), x * (sp.pi / 2 - 1), (sp.pi - 4) / x, x * (sp.E - 3),
              x * (4 - sp.pi), -x * (sp.sqrt(2) - 3) * (x - 1)):
        f = _numpy_fn(codegen.print_expr(e))
        v = f(1.7, 0.0, 0.0, *C_VALUES)
        assert v == pytest.approx(float(e.subs(x, 1.7)), rel=1e-14), (e, codegen.print_expr(e))


def test_printer_fuzz():
    counts, failures = fuzz(N_EXPR)
    print(f"\nprinter fuzz: {counts}")
    assert not failures, "\n".join(
        f"#{i} {label}: {e} at {pt}: got {v}, want {w} (rel err {err:.3g} > {tol:.3g})"
        for i, label, e, pt, v, w, err, tol in failures[:10])
    assert counts["expressions"] >= 0.95 * N_EXPR
    assert counts["strict"] >= 3 * N_EXPR  # most of the 6 points per expression are judged at 1e-12


def test_max_and_min_print_as_nested_numpy_calls():
    """Max/Min print as numpy.maximum/minimum (SymPy's ``functools.reduce`` form would need an
    import the generated modules do not have); values as SymPy's, NaN-free on finite input."""
    import numpy
    import sympy as sp

    from derivations.codegen.printer import print_expr

    a, b, c = sp.symbols("a b c", real=True)
    for e in (sp.Max(a, b), sp.Max(a, b, c), sp.Min(a, b, c), sp.Max(a, 2 * b) - sp.Min(a, c)):
        src = print_expr(e)
        assert "functools" not in src and "reduce" not in src, src
        x = {"a": numpy.array([1.0, -2.0, 5.0]), "b": numpy.array([3.0, -1.0, 0.5]),
             "c": numpy.array([2.0, -3.0, 7.0])}
        got = eval(src, {"numpy": numpy}, x)
        want = [float(e.subs({a: x["a"][i], b: x["b"][i], c: x["c"][i]})) for i in range(3)]
        assert numpy.array_equal(got, want), (src, got, want)
