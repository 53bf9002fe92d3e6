"""The validation harness: run checks on formulas, report numbers, catch mutants.

A :class:`Check` validates one formula.  It receives a :class:`Subject` (the formula, possibly a
mutant, and the numeric implementation under test) and a :class:`Context` (sample size, seed)
and returns one or more :class:`CheckResult` rows.  *Independent* checks compare against
something that does not evaluate the formula (Monte Carlo of the model, finite differences of
another formula, a dense reference computation, a symbolic proof on the model); the mpmath
(emission fidelity) and paper (printed statement) checks are not independent and do not count
when mutants are scored.

Statistical rules (DESIGN.md): Monte Carlo passes iff ``|z| <= Z_MC`` with the standard error
estimated from the samples and fixed seeds; finite differences pass on a relative error bound
derived from the step; the 50-digit check passes on a relative error bound scaled by the size
of the terms that cancel.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

#: Monte Carlo z threshold (about 5 SE; with fixed seeds a false alarm has probability ~6e-7).
Z_MC = 5.0


@dataclass
class Context:
    """Run settings shared by all checks."""

    samples: int = 400_000
    seed: int = 0
    quick: bool = False

    def rng(self, salt: str = "") -> np.random.Generator:
        """A generator seeded by ``seed`` and a per-check ``salt`` (stable across runs)."""
        h = sum((i + 1) * ord(c) for i, c in enumerate(salt)) % (2**31)
        return np.random.default_rng([self.seed, h])


@dataclass
class Subject:
    """What a check validates: a formula (maybe a mutant) and its numeric implementation."""

    formula: object
    fn: Callable


@dataclass
class CheckResult:
    formula: str
    kind: str
    label: str
    value: object
    reference: object
    stat: float
    stat_name: str  # "z" (Monte Carlo), "rel" / "abs" (errors), "proof", "count"
    passed: bool
    detail: str = ""
    erratum: bool = False  # a paper statement found wrong (with the evidence in detail)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        for k in ("value", "reference", "stat"):
            d[k] = _jsonable(d[k])
        return d


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


@dataclass
class Check:
    formula: str
    kind: str  # monte_carlo | finite_difference | mpmath | paper | symbolic | dense | simulation
    label: str
    run: Callable[[Subject, Context], "CheckResult | list[CheckResult]"]
    independent: bool = True


# --------------------------------------------------------------------------------------------
# Result builders used by the check modules
# --------------------------------------------------------------------------------------------


def mc_result(formula, label, closed, samples, floor=1e-12, kind="monte_carlo") -> CheckResult:
    """Compare a closed form (scalar or array) with per-sample values ``samples[n, ...]``.

    Passes iff every entry has ``|closed - mean| <= Z_MC * SE + floor``; reports the entry with
    the largest ``|z|``.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(n)
    closed = np.broadcast_to(np.asarray(closed, dtype=np.float64), mean.shape)
    excess = np.abs(closed - mean) - floor
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (closed - mean) / se, np.where(excess > 0, np.inf, 0.0))
    i = np.unravel_index(np.argmax(np.abs(z)), z.shape) if z.ndim else ()
    passed = bool(np.all(excess <= Z_MC * se))
    return CheckResult(
        formula, kind, label, float(mean[i]), float(closed[i]), float(z[i]), "z", passed,
        detail=f"N={n}, SE={float(se[i]):.3g}, worst of {mean.size} entr{'y' if mean.size == 1 else 'ies'}",
    )


def error_result(formula, kind, label, value, reference, tol, scale=None, detail="") -> CheckResult:
    """Pass iff ``max |value - reference| <= tol * scale`` (scale defaults to ``max|reference|``)."""
    value = np.asarray(value, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    err = np.abs(value - reference)
    if scale is None:
        scale = max(float(np.max(np.abs(reference))), 1e-300)
    rel = float(np.max(err)) / scale
    i = np.unravel_index(np.argmax(err), err.shape) if err.ndim else ()
    return CheckResult(
        formula, kind, label, float(value[i]), float(reference[i]), rel, "rel",
        bool(np.isfinite(rel) and rel <= tol), detail=detail or f"tol {tol:.1e}",
    )


# --------------------------------------------------------------------------------------------
# Running checks
# --------------------------------------------------------------------------------------------


def run_check(check: Check, subject: Subject, ctx: Context) -> list[CheckResult]:
    t0 = time.perf_counter()
    try:
        out = check.run(subject, ctx)
    except Exception as exc:  # a crashing check is a failing check, reported as such
        out = CheckResult(check.formula, check.kind, check.label, "error", "", float("nan"),
                          "error", False, detail=f"{type(exc).__name__}: {exc}")
    rows = [out] if isinstance(out, CheckResult) else list(out)
    dt = time.perf_counter() - t0
    for r in rows:
        r.seconds = dt / max(len(rows), 1)
    return rows


def run(names: Iterable[str], ctx: Context, progress: Callable[[str], None] | None = None):
    """Run every check of the named formulas on their emitted code; returns all rows."""
    import derivations
    from numerics import checks

    rows = []
    for name in names:
        f = derivations.get(name)
        subject = Subject(f, f.numpy)
        for check in checks.for_formula(name):
            if progress:
                progress(f"{name}: {check.label}")
            rows.extend(run_check(check, subject, ctx))
    return rows


# --------------------------------------------------------------------------------------------
# Mutants: a check that cannot fail is a defect
# --------------------------------------------------------------------------------------------


@dataclass
class Mutant:
    formula: str
    label: str
    expr: object
    caught: bool | None = None
    caught_by: list[str] = field(default_factory=list)
    equivalent: bool = False


def mutate(formula) -> list[tuple[str, object]]:
    """Perturbations of ``formula.expr``: sign flip, factor 2, pi - phi -> pi + phi, and each
    dropped (or sign-flipped) top-level term of every coefficient."""
    import sympy as sp

    from derivations import vectors

    expr = formula.expr
    out = [("sign flip", -expr), ("factor 2", 2 * expr)]
    for phi in sorted(expr.free_symbols, key=str):
        m = vectors.meaning(phi)
        is_angle = (m is not None and m.kind == "angle") or str(phi) == "phi"
        if is_angle and expr.has(sp.pi - phi):
            out.append((f"pi - {phi} -> pi + {phi}", expr.subs(sp.pi - phi, sp.pi + phi)))
    if formula.rank == 0:
        parts = [(expr, None)]
    else:
        parts = vectors.components(expr, formula.rank)
    for c, b in parts:
        e = sp.expand(c)
        if isinstance(e, sp.Add) and len(e.args) > 1:
            for t in e.args[:6]:
                new = (e - t) if b is None else expr - t * b
                out.append((f"drop term {sp.sstr(t)[:40]}" + (f" of {b}" if b is not None else ""), new))
        elif b is not None and len(parts) > 1:
            out.append((f"drop {b} component", expr - c * b))
    return out


def mutated_formula(formula, expr):
    """A shallow copy of ``formula`` whose ``expr`` is ``expr``."""
    clone = copy.copy(formula)
    clone._expr = expr
    return clone


def run_mutants(names: Iterable[str], ctx: Context, progress=None) -> list[Mutant]:
    """For every formula, compile each mutant and run the formula's independent checks on it."""
    import derivations
    from derivations import codegen
    from numerics import checks

    results = []
    for name in names:
        f = derivations.get(name)
        indep = [c for c in checks.for_formula(name) if c.independent]
        for label, expr in mutate(f):
            m = Mutant(name, label, expr)
            clone = mutated_formula(f, expr)
            if progress:
                progress(f"{name}: mutant {label}")
            try:
                fn = codegen.compile_function(clone)
            except Exception as exc:  # an uncompilable mutant counts as caught by the build
                m.caught, m.caught_by = True, [f"build: {type(exc).__name__}"]
                results.append(m)
                continue
            subject = Subject(clone, fn)
            for c in indep:
                if not all(r.passed for r in run_check(c, subject, ctx)):
                    m.caught_by.append(c.label)
            m.caught = bool(m.caught_by)
            results.append(m)
    return results
