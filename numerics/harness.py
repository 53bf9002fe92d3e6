"""The validation harness: run checks on formulas, report numbers, catch mutants.

What a check is and what it returns (:class:`Check`, :class:`Subject`, :class:`Context`,
:class:`CheckResult`, the row builders :func:`mc_result` / :func:`error_result`) lives in
:mod:`numerics.rows`, which the check modules import; this module runs them (:func:`run`,
:func:`run_public`), records the discrete parameters they call each formula with, and builds and
scores the mutants (:func:`run_mutants`).  The names of :mod:`numerics.rows` and
:mod:`numerics.spaces` are re-exported here for callers of the harness.
"""
from __future__ import annotations

import copy
import functools
import math
from typing import Callable, Iterable

import numpy as np

from .rows import (  # noqa: F401 - re-exported: the harness's public vocabulary
    NEAR_ZERO, NOISE_FLOOR, NOT_INDEPENDENT, Z_MC, Check, CheckResult, Context, Mutant, Subject,
    _jsonable, at_noise, consistency, error_result, mc_result, run_check, shown_stat, shown_value)
from .spaces import resize_space, space_lengths  # noqa: F401 - re-exported

# --------------------------------------------------------------------------------------------
# Running checks
# --------------------------------------------------------------------------------------------


def run(names: Iterable[str], ctx: Context, progress: Callable[[str], None] | None = None):
    """Run every check of the named formulas on their emitted code; returns all rows.  The
    values of the discrete parameters the independent checks call each formula with are
    recorded in :data:`DISCRETE` (see :func:`discrete_values`)."""
    import derivations
    from numerics import checks

    rows = []
    names = list(names)
    DISCRETE.clear()
    for name in names:
        f = derivations.get(name)
        subject = Subject(f, f.numpy)
        recorded = Subject(f, Recorder(f, f.numpy))
        for check in checks.for_formula(name):
            if progress:
                progress(f"{name}: {check.label}")
            indep = check.independent and check.kind not in NOT_INDEPENDENT
            rows.extend(run_check(check, recorded if indep else subject, ctx))
    rows.extend(run_public(names, ctx, progress))
    return rows


def run_public(names: Iterable[str], ctx: Context, progress=None) -> list[CheckResult]:
    """The checks of the public callables outside the registry (fused functions, deep kernels,
    Gram helpers) that are built from any of the formulas ``names``
    (:func:`numerics.checks.register_public`)."""
    from numerics import checks

    rows = []
    for pub in checks.public_for(list(names)):
        subject = Subject(pub, pub.resolve())
        for check in checks.public_checks(pub.name):
            if progress:
                progress(f"{pub.name}: {check.label}")
            rows.extend(run_check(check, subject, ctx))
    return rows


# --------------------------------------------------------------------------------------------
# Discrete parameters: the values the independent checks use (issue 19 item 3)
# --------------------------------------------------------------------------------------------

#: ``{formula: {parameter: {value: calls}}}`` from the last :func:`run` (independent checks
#: only).  Parameters: every ``int`` argument, and ``len <space>`` for the length of the vectors
#: of each space (the dimension d or p, the number of patches k, ...).
DISCRETE: dict = {}
#: ``{formula: (args, kwargs)}``: one recorded call per formula (to probe the smallest allowed
#: value of a parameter, :func:`smallest_allowed`).
_FIRST_CALL: dict = {}


def discrete_params(formula) -> dict[str, Callable]:
    """``{parameter: value of the parameter in a call (args tuple)}`` for ``formula``."""
    out = {}
    spaces: dict = {}
    for i, a in enumerate(formula.args):
        if a.kind == "int":
            out[a.name] = (lambda xs, _i=i: int(xs[_i]))
        elif a.kind == "vector" and a.space:
            spaces.setdefault(a.space, i)
    for sp_, i in spaces.items():
        out[f"len {sp_}"] = (lambda xs, _i=i: int(np.shape(xs[_i])[-1]) if np.ndim(xs[_i]) else 1)
    return out


class Recorder:
    """The emitted function, recording the discrete parameters of every call."""

    def __init__(self, formula, fn):
        self.formula, self.fn = formula, fn
        self.params = discrete_params(formula)
        self.names = [a.name for a in formula.args]

    def __getattr__(self, attr):
        return getattr(self.fn, attr)

    def __call__(self, *args, **kwargs):
        if self.params and len(args) + len(kwargs) == len(self.names):
            xs = list(args) + [kwargs[n] for n in self.names[len(args):] if n in kwargs]
            if len(xs) == len(self.names):
                seen = DISCRETE.setdefault(self.formula.name, {})
                for p, get in self.params.items():
                    try:
                        v = get(xs)
                    except Exception:  # noqa: BLE001 - a malformed call: the function will say
                        continue
                    seen.setdefault(p, {})
                    seen[p][v] = seen[p].get(v, 0) + 1
                first = _FIRST_CALL.get(self.formula.name)
                if first is None or (_ambiguous(self.formula, first)
                                     and not _ambiguous(self.formula, xs)):
                    _FIRST_CALL[self.formula.name] = tuple(xs)
        return self.fn(*args, **kwargs)


def _ambiguous(formula, xs) -> bool:
    """Whether two vector spaces (or a space and an ``int`` argument) of the call ``xs`` share a
    length, so that :func:`resize_space` cannot tell their axes apart."""
    try:
        lens = list(space_lengths(formula, xs).values())
        ints = [int(x) for a, x in zip(formula.args, xs) if a.kind == "int"]
    except Exception:  # noqa: BLE001 - a malformed call
        return True
    return len(set(lens)) < len(lens) or any(v in ints for v in lens)


def discrete_values(name: str) -> dict[str, dict]:
    """``{parameter: {value: calls}}`` of formula ``name`` in the last :func:`run`."""
    return DISCRETE.get(name, {})


def smallest_allowed(formula, param: str, upto: int = 12) -> int | None:
    """The smallest value of ``param`` the emitted function accepts, probed at the first
    recorded call (an ``int`` argument set to 0, 1, ...; the space of a vector length resized
    to 1, 2, ... by :func:`resize_space`).  ``None`` if no call was recorded or no value up to
    ``upto`` works."""
    xs = _FIRST_CALL.get(formula.name)
    if xs is None:
        return None
    for v in range(0, upto + 1):
        ys = list(xs)
        if param.startswith("len "):
            ys = resize_space(formula, xs, param[4:], v)
        else:
            for i, a in enumerate(formula.args):
                if param == a.name:
                    ys[i] = v
        if ys is None:
            continue
        try:
            with np.errstate(all="ignore"):
                formula.numpy(*ys)
        except Exception:  # noqa: BLE001 - not allowed
            continue
        return v
    return None


# --------------------------------------------------------------------------------------------
# Mutants: a check that cannot fail is a defect
# --------------------------------------------------------------------------------------------

#: Relative sizes of the knob mutants and of the whole-expression perturbation.
KNOB_RELS = (1e-3, 1e-6)
EXPR_REL = 1e-6
BRANCH_REL = 1e-3

def mutate(formula) -> list[tuple[str, object]]:
    """Expression mutants of ``formula.expr``: sign flip, factor 2, pi - phi -> pi + phi, each
    dropped top-level term of every coefficient, each Piecewise branch scaled by 1 + 1e-3, and
    the whole expression scaled by 1 + 1e-6."""
    return [(m.label, m.expr) for m in _expr_mutants(formula)]


def _expr_mutants(formula) -> list[Mutant]:
    import sympy as sp

    from derivations import vectors

    expr = formula.expr
    name = formula.name
    out = [Mutant(name, "sign flip", -expr, kind="coarse"),
           Mutant(name, "factor 2", 2 * expr, kind="coarse")]
    for phi in sorted(expr.free_symbols, key=str):
        m = vectors.meaning(phi)
        is_angle = (m is not None and m.kind == "angle") or str(phi) == "phi"
        if is_angle and expr.has(sp.pi - phi):
            out.append(Mutant(name, f"pi - {phi} -> pi + {phi}",
                              expr.subs(sp.pi - phi, sp.pi + phi), kind="coarse"))
    if formula.rank == 0:
        parts = [(expr, None)]
    else:
        parts = vectors.components(expr, formula.rank)
    for c, b in parts:
        e = sp.expand(c)
        if isinstance(e, sp.Add) and len(e.args) > 1:
            for t in e.args[:6]:
                new = (e - t) if b is None else expr - t * b
                out.append(Mutant(name, f"drop term {sp.sstr(t)[:40]}"
                                  + (f" of {b}" if b is not None else ""), new, kind="coarse"))
        elif b is not None and len(parts) > 1:
            out.append(Mutant(name, f"drop {b} component", expr - c * b, kind="coarse"))
    rel = sp.Rational(str(BRANCH_REL))
    for pw in sorted(expr.atoms(sp.Piecewise), key=sp.default_sort_key)[:4]:
        for j, (e_j, cond) in enumerate(pw.args):
            args = list(pw.args)
            args[j] = ((1 + rel) * e_j, cond)
            new = expr.xreplace({pw: sp.Piecewise(*args, evaluate=False)})
            out.append(Mutant(name, f"Piecewise branch {j} ({sp.sstr(cond)[:30]}) x (1 + {BRANCH_REL:g})",
                              new, kind="branch"))
    out.append(Mutant(name, f"whole expression x (1 + {EXPR_REL:g})",
                      (1 + sp.Rational(str(EXPR_REL))) * expr, kind="relative"))
    return out


def _knob_mutants(formula) -> list[Mutant]:
    """The formula re-derived with each knob it reads scaled by 1 + rel (rel in KNOB_RELS)."""
    from derivations import knobs

    out = []
    for k in knobs.used_by(formula):
        for rel in KNOB_RELS:
            expr = knobs.derive_perturbed(formula, k, rel)
            out.append(Mutant(formula.name, f"knob {k} x (1 + {rel:g})", expr, kind="knob"))
    return out


def _swap_pairs(formula) -> list[tuple[int, int]]:
    """Index pairs of arguments of the same shape (vectors of one space, or two scalars)."""
    args = formula.args
    out = []
    for i in range(len(args)):
        for j in range(i + 1, len(args)):
            a, b = args[i], args[j]
            if a.kind == b.kind and a.kind != "int" and (a.kind != "vector" or a.space == b.space):
                out.append((i, j))
    return out


def _swapped_expr(expr, a: str, b: str):
    """``expr`` with the roles of the arguments named ``a`` and ``b`` exchanged (symbolic)."""
    import sympy as sp

    from derivations import vectors as V

    sw = {a: b, b: a}
    subs = {}
    for s in expr.free_symbols:
        m = V.meaning(s)
        if m is None:
            if str(s) in sw:
                twin = [t for t in expr.free_symbols if str(t) == sw[str(s)]]
                subs[s] = twin[0] if twin else sp.Symbol(sw[str(s)], **s.assumptions0)
            continue
        ops = tuple(sw.get(o, o) for o in m.operands)
        if ops == m.operands:
            continue
        syms = [sp.Symbol(o) for o in ops]
        build = {"vector": lambda x: x, "norm": V.norm, "total": V.total, "dot": V.dot,
                 "angle": V.angle, "outer": V.outer}.get(m.kind)
        if build is None:
            raise ValueError(f"cannot swap {s}")
        subs[s] = build(*syms)
    return expr.xreplace(subs)


def _swap_mutants(formula) -> list[Mutant]:
    out = []
    for i, j in _swap_pairs(formula):
        a, b = formula.args[i].name, formula.args[j].name

        def fn_swapped(*xs, _i=i, _j=j, _fn=None):
            xs = list(xs)
            xs[_i], xs[_j] = xs[_j], xs[_i]
            return _fn(*xs)

        m = Mutant(formula.name, f"arguments {a} <-> {b} swapped", None, kind="swap")
        m.fn = fn_swapped
        out.append(m)
    return out


#: The mutant kinds: ``{name: planter}``, each ``planter(formula) -> list[Mutant]``.  A new kind
#: plugs in with :func:`mutant_kind` (the mutants it plants carry ``kind`` = its name, or a finer
#: kind of its own, e.g. the expression planter's coarse / branch / relative).  A mutant either
#: has ``expr`` (a perturbed expression, compiled by the emitter) or ``fn(*args, _fn=emitted)``
#: (a call-level mutant of the emitted function).
MUTANT_KINDS: dict[str, Callable] = {}


def mutant_kind(name: str):
    """Register a planter of mutants under ``name`` (a decorator)."""
    def register(planter):
        MUTANT_KINDS[name] = planter
        return planter
    return register


mutant_kind("expression")(_expr_mutants)
mutant_kind("knob")(_knob_mutants)
mutant_kind("swap")(_swap_mutants)


def mutants(formula, kinds=None) -> list[Mutant]:
    """Every mutant of ``formula`` (of the given ``kinds`` only, if given) from every planter of
    :data:`MUTANT_KINDS`: coarse and subtle expression mutants, knob mutants (the derivation
    re-run with a perturbed input constant), argument swaps, one edge-series coefficient of the
    emitted code, a discrete parameter's dependence off away from its most sampled value."""
    out = []
    for kind, planter in MUTANT_KINDS.items():
        if kinds is not None and kind == "knob" and "knob" not in kinds:
            continue  # re-derivations are slow: only when asked for
        out += planter(formula)
    return [m for m in out if kinds is None or m.kind in kinds]


# --- edge-series coefficients of the emitted code (issue 19 items 2, 8) ----------------------

#: The coefficient perturbed in a series mutant is the highest-order one whose term, at the
#: series threshold, is still at least this fraction of the leading term (the t^7 coefficient
#: of the near-pi series of g: 2.8e-7): an error there is what only points just inside the
#: threshold see.
SERIES_VISIBLE = 1e-8


def _series_calls(formula):
    """``[(source text of the coefficient tuple, below, start, step, coefficients)]`` of the
    ``_rt.taylor*`` calls in the emitted function of ``formula``."""
    import ast

    from . import switches

    out = []
    for fn in switches._function_nodes(formula):
        # a series inside a lambda is the near-parallel coefficient of rejection_pair: used only
        # where |cos| > NEAR, so it is seen only below t = acos(NEAR) (the effective threshold)
        lazy = {id(c) for lam in ast.walk(fn) if isinstance(lam, ast.Lambda)
                for c in ast.walk(lam)}
        for node in ast.walk(fn):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "_rt"
                    and node.func.attr in ("taylor", "taylor_pi", "taylor_zero")):
                a = node.args
                i = 3 if node.func.attr == "taylor_zero" else 2
                try:
                    below, start, step, coeffs = (ast.literal_eval(x) for x in a[i:i + 4])
                except Exception:  # noqa: BLE001 - not literal: no mutant
                    continue
                if id(node) in lazy:
                    from derivations import runtime as _rt
                    below = min(below, math.acos(_rt.NEAR))
                out.append((ast.get_source_segment(switches._source(formula.family), a[i + 3]),
                            float(below), int(start), int(step), tuple(coeffs)))
    return out


def _compile_family_source(family: str, source: str, quantity: str):
    """The function ``quantity`` of a (mutated) generated module source of ``family``."""
    ns: dict = {"__name__": f"derivations.generated._mutant_{family}"}
    exec(compile(source, f"<mutant of derivations/generated/{family}.py>", "exec"), ns)
    from derivations.codegen import _NumPyOnly

    ns["_rt"] = _NumPyOnly(ns["_rt"])  # the mutated NumPy body, never the committed kernel
    return ns[quantity]


@mutant_kind("series")
def _series_mutants(formula) -> list[Mutant]:
    """One coefficient of each edge series of the emitted code sign-flipped: the highest-order
    one still visible at the threshold (:data:`SERIES_VISIBLE`).  The mutated module is the
    committed generated source with that one number changed."""
    from . import switches

    out = []
    src = switches._source(formula.family)
    if src is None:
        return out
    for n, (text, below, start, step, coeffs) in enumerate(_series_calls(formula)):
        lead = abs(coeffs[0]) * below**start
        j = max((j for j, c in enumerate(coeffs) if j > 0
                 and abs(c) * below**(start + step * j) >= SERIES_VISIBLE * lead), default=None)
        if j is None or text is None or src.count(text) < 1:
            continue
        new = list(coeffs)
        new[j] = -new[j]
        mutated_text = "(" + ", ".join(repr(c) for c in new) + ",)"
        # only this function's call: replace within the function's own text
        fsrc = _function_source(src, formula)
        if fsrc is None or text not in fsrc:
            continue
        mod = src.replace(fsrc, fsrc.replace(text, mutated_text, 1), 1)
        try:
            fn = _compile_family_source(formula.family, mod, formula.quantity)
        except Exception:  # noqa: BLE001 - nothing to plant
            continue
        m = Mutant(formula.name, f"series #{n} (t < {below:.3g}): coefficient of t^"
                   f"{start + step * j} sign-flipped", None, kind="series")
        m.fn = (lambda *xs, _f=fn, _fn=None: _f(*xs))
        out.append(m)
    return out


def _function_source(src: str, formula) -> str | None:
    """The text of the emitted function of ``formula`` and its core (if any) in ``src``: from
    the first of their ``def`` lines to the next top-level ``def`` after the last."""
    import re

    starts = [m.start() for m in re.finditer(
        rf"^def (?:{formula.quantity}|_{formula.quantity}_core)\(", src, re.M)]
    if not starts:
        return None
    last = max(starts)
    nxt = re.search(r"^def ", src[last + 4:], re.M)
    end = last + 4 + nxt.start() if nxt else len(src)
    return src[min(starts):end]


# --- discrete parameters: dependence off only away from the sampled value (item 3, 8) ---------

#: The factor of a discrete mutant: ``f(k) -> f(k0) + DISCRETE_FACTOR (f(k) - f(k0))``.
DISCRETE_FACTOR = 1.01


@mutant_kind("discrete")
def _discrete_mutants(formula) -> list[Mutant]:
    """For every ``int`` argument ``k``: the function with its dependence on ``k`` off by 1%
    away from ``k0``, ``f(k0) + 1.01 (f(k) - f(k0))``, exact at ``k0`` (the value the checks
    sampled most in the last :func:`run`, else the first recorded, else 4: what a check that
    samples only ``k0`` cannot see; issue 19: ``k -> 4 + 1.01 (k - 4)`` in cnn.gd_next_sum).
    Not planted for an argument that sets the shape of the output (a dimension)."""
    out = []
    seen = DISCRETE.get(formula.name, {})
    for i, a in enumerate(formula.args):
        if a.kind != "int":
            continue
        counts = seen.get(a.name, {})
        k0 = max(counts, key=lambda v: (counts[v], -v)) if counts else 4

        def fn(*xs, _i=i, _k0=k0, _fn=None):
            v = np.asarray(_fn(*xs), dtype=np.float64)
            if int(xs[_i]) == _k0:
                return v
            ys = list(xs)
            ys[_i] = _k0
            try:
                v0 = np.asarray(_fn(*ys), dtype=np.float64)
            except ValueError:  # k0 not allowed with the other arguments: off everywhere
                return DISCRETE_FACTOR * v
            if v0.shape != v.shape:
                return v  # k sets the output's shape (see the shape test below)
            return v0 + DISCRETE_FACTOR * (v - v0)

        if _sets_shape(formula, i):
            continue
        m = Mutant(formula.name, f"{a.name} -> {k0} + {DISCRETE_FACTOR:g} ({a.name} - {k0}) "
                   f"(off only away from {a.name} = {k0})", None, kind="discrete")
        m.fn = fn
        out.append(m)
    return out


def _sets_shape(formula, i: int) -> bool:
    """Whether the ``int`` argument ``i`` sets the shape of the output (a matrix size, an output
    length), judged at the first recorded call: the output's shape at ``k`` and ``k + 1``."""
    xs = _FIRST_CALL.get(formula.name)
    if xs is None:
        return formula.rank > 0
    ys = list(xs)
    ys[i] = int(xs[i]) + 1
    try:
        with np.errstate(all="ignore"):
            return np.shape(formula.numpy(*xs)) != np.shape(formula.numpy(*ys))
    except Exception:  # noqa: BLE001 - k + 1 not allowed: judge by the rank
        return formula.rank > 0


def _differs_somewhere(diff) -> bool:
    """True if ``diff`` is clearly nonzero (> 1e-20) at one of three rational points (every
    symbol, angles included, set to a value in (0, 3)), evaluated at 30 digits."""
    import random

    import sympy as sp

    rng = random.Random(0)
    syms = sorted(diff.free_symbols, key=str)
    for _ in range(3):
        vals = {s: sp.Rational(rng.randint(1, 290), 100) for s in syms}
        try:
            v = sp.N(diff.subs(vals), 30)
        except Exception:  # noqa: BLE001 - undecided here; the symbolic test decides
            return False
        if v.is_number and v.is_finite and abs(v) > sp.Float("1e-20"):
            return True
    return False


def _equivalence_proof(formula, m: Mutant) -> str:
    """A symbolic proof that the mutant equals the formula, or ''."""
    import sympy as sp

    try:
        if m.kind == "discrete":  # f(k0) + 1.01 (f(k) - f(k0)) is f if f does not depend on k
            k = m.label.split(" ")[0]
            if not {str(x) for x in formula.expr.free_symbols} & {k, f"dim_{k}"}:
                return f"the derived expression contains neither {k} nor dim_{k}"
            return ""
        if m.kind == "swap":
            a, b = m.label.split(" ")[1], m.label.split(" ")[3]
            other = _swapped_expr(formula.expr, a, b)
        else:
            other = m.expr
        if other is None:
            return ""
        # a formula whose expression encodes a program (e.g. an FFT pull-back) supplies its
        # own symbolic proof that a mutant computes the same function: its expression may
        # differ as an expression while the program it encodes does not
        hook = getattr(formula, "equivalence", None)
        if hook is not None:
            proof = hook(other)
            if proof:
                return proof
        if _differs_somewhere(other - formula.expr):
            return ""  # a nonzero value at one point disproves equivalence (no slow simplify)
        if sp.simplify(other - formula.expr) == 0:
            return "mutant - derived simplifies to 0 (SymPy)"
    except Exception:
        return ""
    return ""


def _order(check: Check) -> int:
    return 1 if check.kind == "monte_carlo" else 0


def run_mutants(names: Iterable[str], ctx: Context, progress=None, kinds=None) -> list[Mutant]:
    """For every formula, build each mutant (compiling re-derived expressions) and run the
    formula's independent checks on it; ``caught_by`` lists the checks that failed.

    Monte Carlo checks run only when no cheaper independent check caught the mutant.  A mutant
    no check catches is marked ``equivalent`` (and counted as caught) only if SymPy proves it
    equal to the derived expression."""
    import derivations
    from derivations import codegen
    from numerics import checks

    results = []
    names = list(names)
    if any(a.kind == "int" for n in names for a in derivations.get(n).args) and (
            kinds is None or "discrete" in kinds):
        # the discrete mutants are planted at the value the checks sample most: record it
        run([n for n in names if any(a.kind == "int" for a in derivations.get(n).args)],
            Context(samples=1000, seed=ctx.seed, quick=True))
    for name in names:
        f = derivations.get(name)
        indep = sorted((c for c in checks.for_formula(name)
                        if c.independent and c.kind not in NOT_INDEPENDENT), key=_order)
        base_fn = f.numpy
        for m in mutants(f, kinds):
            if progress:
                progress(f"{name}: mutant {m.label}")
            if m.fn is not None:
                fn = functools.partial(m.fn, _fn=base_fn)
                clone = f
            else:
                clone = mutated_formula(f, m.expr)
                try:
                    fn = codegen.compile_function(clone)
                except Exception as exc:  # noqa: BLE001 - the emitter cannot print this mutant:
                    # evaluate it at 30 digits instead, so the independent checks still judge it
                    m.label += f" [evaluated by mpmath: emitter {type(exc).__name__}]"
                    fn = _mpmath_function(clone)
            subject = Subject(clone, fn)
            for c in indep:
                if c.kind == "monte_carlo" and m.caught_by:
                    continue
                if not all(r.passed for r in run_check(c, subject, ctx)):
                    m.caught_by.append(f"{c.kind}: {c.label}")
            if not m.caught_by:
                m.proof = _equivalence_proof(f, m)
                if m.proof:
                    m.equivalent = True
                    m.caught_by = [f"equivalent ({m.proof})"]
            m.caught = bool(m.caught_by)
            results.append(m)
        _second_order(f, [m for m in results if m.formula == name])
    # public callables outside the registry (fused FFT code, deep kernels): their own mutants
    from numerics import mutants_public
    results.extend(mutants_public.run(names, ctx, progress, kinds))
    return results


def mutant_table(ms: list[Mutant]) -> dict:
    """Per family: mutants planted, caught by an independent row, proved equivalent (SymPy),
    excused as second order, missed; and the same per kind.  ``{family: {...}}``."""
    out: dict = {}
    for m in ms:
        fam = m.formula.split(".")[0]
        row = out.setdefault(fam, {"planted": 0, "caught": 0, "equivalent": 0,
                                   "second_order": 0, "missed": 0, "kinds": {}})
        k = row["kinds"].setdefault(m.kind, {"planted": 0, "caught": 0, "missed": 0})
        row["planted"] += 1
        k["planted"] += 1
        if not m.caught:
            row["missed"] += 1
            k["missed"] += 1
        elif m.equivalent:
            row["equivalent"] += 1
        elif m.caught_by and m.caught_by[0].startswith("second order"):
            row["second_order"] += 1
        else:
            row["caught"] += 1
            k["caught"] += 1
    return out


def _second_order(formula, ms: list[Mutant]) -> None:
    """A knob mutant of size 1e-6 that no check catches is accepted only if (a) SymPy proves
    the derivation's first derivative in that knob vanishes (so the effect is O(rel^2) ~ 1e-12,
    below float64 resolution; e.g. a region limit where the relu integrand vanishes) and (b) the
    1e-3 mutant of the same knob was caught by an independent check.  It is then marked
    ``second order`` in ``caught_by``; nothing else is excused."""
    import sympy as sp

    from derivations import knobs

    small = min(KNOB_RELS)
    for m in ms:
        if m.kind != "knob" or m.caught or f"(1 + {small:g})" not in m.label:
            continue
        k = m.label.split(" ")[1]
        twins = [t for t in ms if t.kind == "knob" and t.label.startswith(f"knob {k} ")
                 and t is not m and t.caught and not t.equivalent]
        if not twins:
            continue
        eps = sp.Symbol("epsilon_knob")
        try:
            e = knobs.derive_perturbed(formula, k, eps)
            first = sp.simplify(sp.diff(e, eps).subs(eps, 0))
        except Exception:  # noqa: BLE001 - no proof, stays missed
            continue
        if first == 0:
            m.caught = True
            m.proof = f"d/d rel of the derivation at rel = 0 simplifies to 0 (SymPy)"
            m.caught_by = [f"second order: {m.proof}; effect ~rel^2 = {small**2:.0e} is below "
                           f"float64; the {twins[0].label.split(' x ')[1]} twin is caught by "
                           f"{twins[0].caught_by[0]}"]


def _mpmath_function(formula):
    """A slow stand-in for the emitted function of ``formula``: its ``expr`` evaluated point by
    point at 30 digits (for mutants the emitter cannot print)."""
    from derivations import precision

    names = [a.name for a in formula.args]

    def fn(*args):
        value, _ = precision.evaluate(formula, dict(zip(names, args)), dps=30,
                                      expr=formula.expr)
        return np.asarray(value, dtype=np.float64)

    fn.slow = True  # point by point at 30 digits: the checks skip their large batched calls
    return fn


def mutated_formula(formula, expr):
    """A shallow copy of ``formula`` whose ``expr`` is ``expr``."""
    clone = copy.copy(formula)
    clone._expr = expr
    return clone
