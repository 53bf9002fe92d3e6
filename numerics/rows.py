"""What a check is and what it returns: the vocabulary shared by the harness
(:mod:`numerics.harness`, which runs checks and mutants), the check modules
(:mod:`numerics.checks`) and the mutant runners.  Nothing here imports the harness or the check
registry, so the check modules depend on this module and the harness depends on them, without a
circle (issue 26 item 4).

A :class:`Check` validates one formula.  It receives a :class:`Subject` (the formula, possibly a
mutant, and the numeric implementation under test) and a :class:`Context` (sample size, seed)
and returns one or more :class:`CheckResult` rows.  *Independent* checks compare against
something that does not evaluate the formula (Monte Carlo of the model, finite differences of
another formula, a dense reference computation, a symbolic proof on the model); the mpmath
(emission fidelity) and paper (printed statement) checks are not independent and do not count
when mutants are scored (:data:`NOT_INDEPENDENT`).

Statistical rules (DESIGN.md): Monte Carlo passes iff ``|z| <= Z_MC`` with the standard error
estimated from the samples and fixed seeds; finite differences pass on a relative error bound
derived from the step; the 50-digit check passes on a relative error bound scaled by the size
of the terms that cancel.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

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
    #: Smallest relative error of the formula this row would detect (MC: ~Z_MC SE/|value|;
    #: references and FD: their tolerance; proofs: 0).  ``None`` if not stated.
    resolution: float | None = None
    #: For errata: "printed error", "OCR reading" or "loose-but-valid bound".
    erratum_class: str = ""
    #: For errors ("rel"): the absolute scale the error is relative to (max |reference|, or a
    #: stated floor), so that a value near zero is reported against it (:func:`shown_value`).
    scale: float | None = None

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        for k in ("value", "reference", "stat"):
            d[k] = _jsonable(d[k])
        d["resolution"] = _jsonable(d["resolution"])
        d["scale"] = _jsonable(d["scale"])
        d["passed"], d["erratum"] = bool(d["passed"]), bool(d["erratum"])  # numpy bools too
        return d


#: Relative errors below this are rounding noise of float64 (a few ulps of the terms): reported
#: as "< 1e-13", so that a rebuild that moves a rounding does not rewrite the catalogue.
NOISE_FLOOR = 1e-13
#: A value or reference below this fraction of the row's scale is shown as "~0".
NEAR_ZERO = 1e-9


def shown_value(r, x) -> str:
    """A row's value or reference as text: 6 significant digits, or "~0" when it is near zero
    against the row's absolute scale (the error column then states that scale)."""
    if isinstance(x, (float, np.floating)):
        scale = getattr(r, "scale", None)
        if scale and math.isfinite(x) and abs(x) < NEAR_ZERO * scale:
            return "~0"
        return f"{float(x):.6g}"
    return str(x)


def at_noise(r) -> bool:
    """Whether a row's error is at float64 rounding level (below :data:`NOISE_FLOOR`): then
    every point agrees with its reference to rounding, and which point is "worst" is noise."""
    return r.stat_name in ("rel", "abs") and isinstance(r.stat, (int, float, np.floating)) \
        and 0 <= float(r.stat) < NOISE_FLOOR


def shown_stat(r, digits: int = 3, stable: bool = False) -> str:
    """A row's statistic as text: ``rel = 4.8e-10``; a rounding-level error as ``rel < 1e-13``;
    with ``(scale 1.3)`` when the value or reference is shown as ~0 against that scale.
    ``stable`` (the catalogue): an error 100x or more inside the row's resolution is given as
    the power of ten above it (``rel < 1e-09``), which a rebuild that moves roundings keeps."""
    if r.stat_name in ("proof", "diff"):
        return r.stat_name
    stat = float(r.stat)
    res = getattr(r, "resolution", None)
    if at_noise(r):
        text = f"{r.stat_name} < {NOISE_FLOOR:.0e}"
    elif (stable and r.stat_name in ("rel", "abs") and isinstance(res, (int, float)) and res > 0
          and 0 < stat < res / 100):
        text = f"{r.stat_name} < 1e{math.ceil(math.log10(stat)):+03d}"
    else:
        text = f"{r.stat_name} = {stat:.{2 if stable else digits}g}"
    scale = getattr(r, "scale", None)
    if scale and "~0" in (shown_value(r, r.value), shown_value(r, r.reference)):
        text += f" (scale {scale:.3g})"
    return text


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
    #          | consistency (derived vs derived; never independent)
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
    scale = max(float(np.max(np.abs(mean))), 1e-300)
    resolution = Z_MC * float(np.max(se)) / scale
    return CheckResult(
        formula, kind, label, float(mean[i]), float(closed[i]), float(z[i]), "z", passed,
        detail=(f"N={n}, SE={float(se[i]):.3g}, worst of {mean.size} "
                f"entr{'y' if mean.size == 1 else 'ies'}; resolves {resolution:.1e} relative"),
        resolution=resolution,
    )


def error_result(formula, kind, label, value, reference, tol, scale=None, detail="") -> CheckResult:
    """Pass iff ``max |value - reference| <= tol * scale`` (scale defaults to ``max|reference|``);
    the row shows the entry with the largest error and states the scale."""
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
        resolution=tol, scale=scale,
    )




def consistency(check: Check, why: str) -> Check:
    """``check`` relabelled as a *consistency* row: it compares two derived objects (a derived
    gradient with another derived formula, a proof on the derivation module's own model
    builders), so a shared error passes it.  Its rows get kind ``"consistency"`` and ``why`` in
    their detail; it never counts as independent (:data:`NOT_INDEPENDENT`)."""
    inner = check.run

    def run(subject: Subject, ctx: Context):
        out = inner(subject, ctx)
        rows = [out] if isinstance(out, CheckResult) else list(out)
        for r in rows:
            r.kind = "consistency"
            r.detail = f"consistency ({why}); {r.detail}" if r.detail else f"consistency ({why})"
        return out

    return Check(check.formula, "consistency", check.label, run, independent=False)


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
        if r.resolution is None and r.stat_name == "proof":
            r.resolution = 0.0  # a symbolic proof resolves any error
    return rows



#: Check kinds that do not count when a mutant is scored (they compare the code with the same
#: expression, or the printed statement with it, or two derived objects with each other:
#: "consistency" rows, e.g. a symbolic proof on the derivation module's own model builders).
NOT_INDEPENDENT = ("mpmath", "paper", "emission", "consistency")


@dataclass
class Mutant:
    formula: str
    label: str
    expr: object
    caught: bool | None = None
    caught_by: list[str] = field(default_factory=list)
    equivalent: bool = False
    kind: str = "expression"  # coarse | knob | branch | swap | relative
    proof: str = ""
    fn: Callable | None = None  # set for call-level mutants (argument swap)

