"""Check builders shared by the families: Monte Carlo, finite differences, independent
high-precision references, 50-digit mpmath, evidence-gated paper-vs-derived, and domain-aware
test points.

What each kind resolves (the ``resolution`` of its rows, the smallest relative error of the
formula it detects):

* :func:`reference_check` -- the formula vs an independent reference computed from the MODEL
  (quadrature of the integrand, dense matrices, high-precision FD, exact simulation); resolves
  its ``tol`` (1e-10 for quadrature).  This is the check that catches a derivation off by 1e-3.
* :func:`mc_check` -- Monte Carlo of the model; resolves ~5 SE/|value| (about 1e-2): a sanity
  check of the model/simulator, not a precision reference.
* :func:`fd_check` -- a gradient vs central differences of the simulator's loss (resolves
  :data:`FD_TOL`); given a derived formula's name instead it is a *consistency* row (derived vs
  derived, never independent).
* :func:`mpmath_check` -- emitted float64 vs the same expression at 50 digits (emission bugs
  only; does not count as independent).
* :func:`paper_check` -- the printed statement vs the derivation; a disagreement is an erratum
  only when an independent reference sides with the derivation (see there).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from derivations import runtime as _rt

from ..rows import Check, CheckResult, Context, Subject, error_result, mc_result
from . import register

#: Erratum classes a paper check may assign.
ERRATUM_CLASSES = ("printed error", "OCR reading", "loose-but-valid bound")
#: A reference sides with the derived form when it matches it to PAPER_REF_TOL (relative) and
#: misses the printed one by at least PAPER_MIN_GAP (and by 100x the derived error).
PAPER_REF_TOL = 1e-8
PAPER_MIN_GAP = 1e-6

#: Relative tolerance of the 50-digit comparison, in units of the size of the cancelling terms.
MPMATH_TOL = 1e-12
#: Relative tolerance of central finite differences (step ~ 1e-6 of the scale; error ~1e-10).
FD_TOL = 1e-6


# --------------------------------------------------------------------------------------------
# Rows a family builds by hand, and their registration
# --------------------------------------------------------------------------------------------


def add(name: str, kind: str, label: str, run: Callable[[Subject, Context], object],
        independent: bool = True) -> Check:
    """Register ``Check(name, kind, label, run, independent)``: one line of a family's table."""
    return register(Check(name, kind, label, run, independent=independent))


def add_reference(name: str, points: Callable[[], list[dict]], reference: Callable[[dict], object],
                  paper: "dict | None" = None, **kw) -> None:
    """Register :func:`reference_check` ``(name, points, reference, **kw)`` and, with ``paper``
    (the keywords of :func:`paper_check`: ``klass``, ``note``, ``method``), the printed
    statement judged on the same points and the same independent reference."""
    register(reference_check(name, points, reference, **kw))
    if paper is not None:
        register(paper_check(name, points, reference=reference, **paper))


def proof_row(name: str, label: str, ok: bool, reference: str, detail: str,
              failed: str = "not proved") -> CheckResult:
    """A symbolic proof's verdict: "proved" (stat 0) or ``failed`` (stat 1) against the
    statement ``reference``."""
    return CheckResult(name, "symbolic", label, "proved" if ok else failed, reference,
                       0.0 if ok else 1.0, "proof", bool(ok),
                       detail=detail, resolution=0.0)


def claim_row(name: str, label: str, ok: bool, value, detail: str, klass: str = "",
              erratum: bool = False) -> CheckResult:
    """A ``paper`` row for a printed claim judged by a stated criterion ``ok`` (the seed's
    statement, its scaling, an inequality between two measured quantities); ``value`` is shown
    (its float when a number, else 0)."""
    return CheckResult(name, "paper", label, value, "claim",
                       float(value) if np.isscalar(value) else 0.0, "rel", bool(ok),
                       detail=detail, erratum=erratum, erratum_class=klass)


def failures_row(name: str, label: str, failures, reference: str, detail: str,
                 stat_name: str = "proof", resolution: "float | None" = 0.0) -> CheckResult:
    """A symbolic check over many identities: "proved" when the list ``failures`` is empty,
    else "fails" with their number as the statistic."""
    ok = not failures
    return CheckResult(name, "symbolic", label, "proved" if ok else "fails", reference,
                       float(len(failures)), stat_name, ok, detail=detail, resolution=resolution)


def error_row(name: str, kind: str, label: str, err: float, tol: float, detail: str,
              stat_name: str = "rel", strict: bool = False,
              resolution: "float | None | bool" = True) -> CheckResult:
    """The worst error ``err`` of a hand-made comparison (value and statistic, against 0):
    passes iff ``err <= tol`` (``< tol`` if ``strict``); resolves ``tol`` unless ``resolution``
    says otherwise (``None``: not stated)."""
    return CheckResult(name, kind, label, err, 0.0, err, stat_name,
                       err < tol if strict else err <= tol, detail=detail,
                       resolution=tol if resolution is True else resolution)


def worst_of(rows: list[CheckResult], note: str = "", join: bool = True) -> CheckResult:
    """Several rows of one comparison (e.g. one per parameter set) as one: the row with the
    largest statistic, passing iff all pass, its detail the rows' details joined by "; " (or
    none, ``join=False``) followed by ``note``."""
    r = max(rows, key=lambda c: c.stat)
    r.passed = all(c.passed for c in rows)
    r.detail = ("; ".join(c.detail for c in rows) if join else "") + note
    return r


class Worst:
    """The largest error seen over a loop of points, and where (a later equal error wins):
    ``w.see(err, where)``; then ``w.err``, ``w.where``."""

    def __init__(self, err: float = 0.0, where: str = ""):
        self.err, self.where = err, where

    def see(self, err: float, where: str) -> None:
        if err >= self.err:
            self.err, self.where = err, where


# --------------------------------------------------------------------------------------------
# Test points
# --------------------------------------------------------------------------------------------

#: Angles where things go wrong if they can: exactly 0 and pi, within 1e-8 of them, right
#: angle, and generic values.
EDGE_ANGLES = (0.0, 1e-8, 1e-4, 0.7, math.pi / 2, 2.3, math.pi - 1e-4, math.pi - 1e-8, math.pi)


def vector_at_angle(rng: np.random.Generator, u: np.ndarray, phi: float, norm: float):
    """A vector of length ``norm`` at angle exactly (to rounding) ``phi`` from ``u``."""
    uh = u / np.linalg.norm(u)
    r = rng.standard_normal(len(u))
    e = r - (r @ uh) * uh
    e /= np.linalg.norm(e)
    if phi == 0.0:
        return norm * uh
    if phi == math.pi:
        return -norm * uh
    return norm * (math.cos(phi) * uh + math.sin(phi) * e)


#: Angles every reference check visits besides random ones: the exact edges, within 1e-7 of
#: them (phi within 1e-6 of 0 and pi), and |cos phi| > 0.99.
REFERENCE_EDGE_ANGLES = (0.0, 1e-7, 0.05, 0.12, math.pi / 2, math.pi - 0.12, math.pi - 0.05,
                         math.pi - 1e-7, math.pi)


def random_angles(rng: np.random.Generator, n: int) -> list[float]:
    """``n`` angles uniform on ``[0, pi]`` followed by :data:`REFERENCE_EDGE_ANGLES`."""
    return [float(a) for a in rng.uniform(0.0, math.pi, n)] + list(REFERENCE_EDGE_ANGLES)


def random_norm(rng: np.random.Generator, lo: float = 0.1, hi: float = 10.0) -> float:
    """A norm log-uniform on ``[lo, hi]``."""
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def stack_points(points: list[dict]) -> dict:
    """Stack a list of single points into one batch (for one vectorized call)."""
    return {k: np.stack([np.asarray(p[k], float) for p in points]) for k in points[0]}


# --------------------------------------------------------------------------------------------
# Check builders
# --------------------------------------------------------------------------------------------


def call(fn, formula, point: dict):
    return fn(*[point[a.name] for a in formula.args])


def mc_check(name: str, label: str, points: Callable[[], list[dict]],
             sampler: Callable[[np.random.Generator, int, dict], np.ndarray],
             samples_scale: float = 1.0) -> Check:
    """Monte Carlo of the model at each point; one row per point, z = (MC - closed)/SE."""

    def run(subject: Subject, ctx: Context):
        rows = []
        n = max(1000, int(ctx.samples * samples_scale))
        for i, pt in enumerate(points()):
            closed = call(subject.fn, subject.formula, pt)
            draws = sampler(ctx.rng(f"{name}/{label}/{i}"), n, pt)
            rows.append(mc_result(name, f"{label} #{i}", closed, draws))
        return rows

    return Check(name, "monte_carlo", label, run)


def fd_check(name: str, of: "str | Callable[[dict], float]", wrt: str,
             points: Callable[[], list[dict]], label: str | None = None,
             method: str = "") -> Check:
    """The gradient under test vs central differences of a loss in the vector argument ``wrt``.

    ``of`` is the SIMULATOR's loss, ``of(point) -> float`` (the network's expected loss by
    quadrature, a dense model, ...): an independent ``finite_difference`` row.  A string names
    another derived, emitted formula instead: the row then compares two derived objects (a
    shared error passes it), so it is a ``consistency`` row that never counts as independent.

    Step ``h = 1e-6 (1 + |x_j|)`` per coordinate: truncation ~h^2, rounding ~eps/h, so the
    relative error of a correct gradient is ~1e-10; the tolerance is :data:`FD_TOL`.
    """
    from ..rows import consistency

    derived = isinstance(of, str)
    what = f"the derived {of}" if derived else (method or "the simulator's loss")

    def run(subject: Subject, ctx: Context):
        if derived:
            import derivations

            ref = derivations.get(of)
            loss = lambda p: call(ref.numpy, ref, p)  # noqa: E731
        else:
            loss = of
        results = []
        for pt in points():
            g = np.asarray(call(subject.fn, subject.formula, pt), float)
            x0 = np.asarray(pt[wrt], float)
            fd = np.empty_like(x0)
            for j in range(len(x0)):
                h = 1e-6 * (1.0 + abs(x0[j]))
                xp, xm = x0.copy(), x0.copy()
                xp[j] += h
                xm[j] -= h
                fd[j] = (float(loss({**pt, wrt: xp})) - float(loss({**pt, wrt: xm}))) / (2 * h)
            results.append(error_result(
                name, "finite_difference", label or f"FD of {what} in {wrt}", g, fd, FD_TOL,
                scale=max(np.max(np.abs(fd)), np.max(np.abs(g)), 1e-12)))
        failing = [r for r in results if not r.passed]
        worst = failing[0] if failing else max(results, key=lambda r: r.stat)
        worst.detail = (f"{len(results)} points; central differences of {what}, "
                        f"h = 1e-6(1+|x|), tol {FD_TOL:.0e}")
        worst.resolution = FD_TOL
        return worst

    check = Check(name, "finite_difference", label or f"FD of {what} in {wrt}", run)
    return consistency(check, f"differentiates the derived {of}") if derived else check


# rows of the batched call of mpmath_check: four blocks of the emitted code and a few rows
BATCH_ROWS = 4 * _rt.BLOCK_ROWS + 3


def mpmath_check(name: str, points: Callable[[], list[dict]], tol: float = MPMATH_TOL) -> Check:
    """Emitted float64 vs the derived expression at 50 digits, point by point.

    Error measured relative to the size of the terms that cancel (the float64 code cannot do
    better than that); the worst point is reported.  Points are also evaluated in one batched
    call, which must agree with the one-at-a-time calls to 1e-14 of the output's scale: the
    points repeated to ``BATCH_ROWS`` rows, so that the batch takes the paths the emitted code
    keeps for large batches (blocks of rows, the one-pass finiteness test, the sine of a scalar
    angle from its cosine), not the ones of a few points.
    """

    def run(subject: Subject, ctx: Context):
        from derivations import precision

        pts = points()
        worst_rel, worst_pt, worst_vals = -1.0, None, None
        for pt in pts:
            got = np.asarray(call(subject.fn, subject.formula, pt), float)
            ref, scale = precision.evaluate(subject.formula, pt, expr=_original_expr(subject))
            if not np.all(np.isfinite(got)):
                rel = math.inf
            else:
                rel = float(np.max(np.abs(got - ref)) / max(float(np.max(scale)), 1e-300))
            if rel > worst_rel:
                worst_rel, worst_pt, worst_vals = rel, pt, (got, ref)
        batch_ok = True
        vec_args = [a.name for a in subject.formula.args if a.kind != "int"]
        int_args = [a.name for a in subject.formula.args if a.kind == "int"]
        if all(np.shape(p[n]) == np.shape(pts[0][n]) for p in pts for n in vec_args) and all(
                p[n] == pts[0][n] for p in pts for n in int_args):
            reps = -(-BATCH_ROWS // len(pts))
            batched = stack_points([{n: p[n] for n in vec_args} for p in pts])
            batched = {n: np.tile(x, (reps,) + (1,) * (x.ndim - 1)) for n, x in batched.items()}
            batched.update({n: pts[0][n] for n in int_args})
            out = np.asarray(call(subject.fn, subject.formula, batched))
            single = np.stack([np.asarray(call(subject.fn, subject.formula, p)) for p in pts])
            single = np.tile(single, (reps,) + (1,) * (single.ndim - 1))
            btol = 1e-14 * max(float(np.max(np.abs(single))), 1e-300)
            batch_ok = out.shape == single.shape and bool(np.all(np.abs(out - single) <= btol))
        got, ref = worst_vals
        desc = ", ".join(f"{k}={_fmt(v)}" for k, v in worst_pt.items())
        return CheckResult(
            name, "mpmath", "float64 vs 50 digits", float(np.ravel(got)[0]),
            float(np.ravel(ref)[0]), worst_rel, "rel", worst_rel <= tol and batch_ok,
            detail=(f"{len(pts)} points incl. angle edges; worst at {desc}"
                    + ("" if batch_ok else "; batched call differs from single calls")),
            resolution=tol,
        )

    return Check(name, "mpmath", "float64 vs 50 digits", run, independent=False)


def _original_expr(subject: Subject):
    return subject.formula.expr


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return "[" + ", ".join(f"{t:.3g}" for t in a.ravel()[:4]) + (", ...]" if a.size > 4 else "]")


def _point_key(pt: dict) -> tuple:
    return tuple((k, v if isinstance(v, str) else int(v) if isinstance(v, (int, np.integer))
                  else (np.shape(v), np.asarray(v, float).tobytes()))
                 for k, v in sorted(pt.items()))


_REF_CACHE: dict = {}


def cached_reference(reference: Callable[[dict], np.ndarray], pt: dict) -> np.ndarray:
    """``reference(pt)``, computed once per (reference, point) within a run."""
    key = (id(reference), _point_key(pt))
    hit = _REF_CACHE.get(key)
    if hit is None or hit[0] is not reference:
        hit = _REF_CACHE[key] = (reference, np.asarray(reference(pt), dtype=np.float64))
    return hit[1]


def reference_check(name: str, points: Callable[[], list[dict]],
                    reference: Callable[[dict], np.ndarray], tol: float = 1e-10,
                    label: str = "vs independent reference", method: str = "",
                    floor: "float | Callable[[dict], float]" = 0.0,
                    switch_tol: float | None = None,
                    switch_kinds: tuple = ("angle", "norm"), dims: bool = True,
                    long_vectors: bool = False) -> Check:
    """The formula vs an INDEPENDENT reference at every point, to relative ``tol``.

    ``reference(point) -> array`` shaped like the formula's output, computed from the model
    (quadrature of its integrand, dense matrices, high-precision FD, exact simulation), never
    from a derived expression.  The error at a point is ``max|value - ref| / max(max|ref|,
    floor)`` (``floor``, a number or ``floor(point)``, is the natural size of the output, so
    that a value that vanishes at an edge is not judged relative to itself); the check passes
    iff the worst point is within ``tol``.  A second row samples both sides of every switch
    point of the emitted code, error relative to the value (:func:`switch_rows`, tolerance
    ``switch_tol``, default :data:`SWITCH_TOL`; only for references of ``tol <= SWITCH_TOL``).
    Reference values are
    cached per point within a run (mutants re-use them).  ``method`` is stated in the row.
    ``dims``: the points also include copies of two of them with every vector space resized to
    its smallest allowed length and to a large one (:func:`dimension_points`, issue 19 item 3).
    """

    def run(subject: Subject, ctx: Context):
        base_pts = points()
        extra = dimension_points(subject.formula, base_pts) if dims else []
        pts = base_pts + extra
        worst = None
        for pt in pts:
            ref = cached_reference(reference, pt)
            got = np.asarray(call(subject.fn, subject.formula, pt), dtype=np.float64)
            if got.shape != ref.shape:
                raise ValueError(f"reference shape {ref.shape} != formula output {got.shape}")
            fl = floor(pt) if callable(floor) else floor
            scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, fl, 1e-300)
            err = float(np.max(np.abs(got - ref))) / scale if np.all(np.isfinite(got)) \
                else math.inf
            if worst is None or not err <= worst[0]:
                worst = (err, pt, got, ref)
        err, pt, got, ref = worst
        desc = ", ".join(f"{k}={_fmt(v)}" for k, v in pt.items())
        fl = floor(pt) if callable(floor) else floor
        scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, fl, 1e-300)
        # the entry shown is the one that sets the scale (largest |reference|), not the first,
        # which may be ~0 (a gradient entry at an edge: "-2.5e-34 vs 3.9e-15, rel 2.9e-15")
        i = int(np.argmax(np.abs(np.ravel(ref)))) if ref.size else 0
        row = CheckResult(
            name, "reference", label, float(np.ravel(got)[i]), float(np.ravel(ref)[i]), err,
            "rel", bool(err <= tol),
            detail=(f"{method + '; ' if method else ''}{len(pts)} points"
                    f"{_dims_note(extra)}; tol {tol:.0e}; "
                    f"worst at {desc}; error relative to max|reference| or the stated floor"),
            resolution=tol, scale=scale,
        )
        # the switch rows need a reference accurate to SWITCH_TOL relative to the value (a
        # Richardson FD reference of tol 1e-8 is not)
        sw = (switch_rows(name, subject, base_pts, reference, label=label, method=method,
                          tol=switch_tol or SWITCH_TOL, floor=floor, kinds=switch_kinds)
              if tol <= SWITCH_TOL else None)
        # the size rows re-use the row's own points and floor: the row's tolerance where it is
        # looser than SWITCH_TOL (a reference of 1e-9), for references of 1e-9 or better
        sz = (size_rows(name, subject, pts, reference, label=label, method=method,
                        tol=max(tol, switch_tol or SWITCH_TOL), floor=floor,
                        long_vectors=long_vectors)
              if tol <= 1e-9 else None)
        return [row] + [r for r in (sw, sz) if r is not None]

    return Check(name, "reference", label, run)


#: Vector lengths of the dimension points: the smallest allowed and this large one (>= 8) when
#: the points do not reach it (issue 19 item 3).
LARGE_LENGTH = 9


def dimension_points(formula, pts: list[dict], bases: int = 2) -> list[dict]:
    """Copies of up to ``bases`` of the points ``pts`` (the first and the middle one) with each
    vector space of ``formula`` resized (:func:`numerics.harness.resize_space`: every axis of
    that length, cut or extended by normal entries) to the smallest length the emitted function
    accepts and to :data:`LARGE_LENGTH`, where the points do not already sample them: d = 1
    (or the smallest the formula allows) is where 0/0 and the angle of 1-vectors live."""
    import derivations

    from ..spaces import resize_space, space_lengths

    names = [a.name for a in formula.args]
    if not any(a.kind == "vector" and a.space for a in formula.args):
        return []
    full = [p for p in pts if all(n in p for n in names)]
    if not full:
        return []
    fn = derivations.get(formula.name).numpy
    seen: dict = {}
    for p in full:
        for sp_, v in space_lengths(formula, [p[n] for n in names]).items():
            seen.setdefault(sp_, set()).add(v)
    picks = [full[0]] + ([full[len(full) // 2]] if len(full) > 2 else [])
    picks = picks[:bases]
    rng = np.random.default_rng(1919)
    out = []
    for sp_, vals in seen.items():
        lo = None
        for base in picks:
            xs = [base[n] for n in names]
            for length in range(1, 13):
                ys = resize_space(formula, xs, sp_, length, rng)
                if ys is None:
                    break
                try:
                    with np.errstate(all="ignore"):
                        fn(*ys)
                except (ValueError, TypeError):
                    continue
                lo = length
                break
            if lo is not None:
                break
        wanted = ([lo] if lo is not None and min(vals) > lo else []) + (
            [LARGE_LENGTH] if max(vals) < 8 else [])
        for length in wanted:
            for base in picks:
                ys = resize_space(formula, [base[n] for n in names], sp_, length, rng)
                if ys is None:
                    continue
                try:
                    with np.errstate(all="ignore"):
                        fn(*ys)
                except (ValueError, TypeError):
                    continue
                out.append({**base, **dict(zip(names, ys)), "_resized": f"len {sp_} = {length}"})
    return out


def _dims_note(extra: list[dict]) -> str:
    if not extra:
        return ""
    return " (incl. " + ", ".join(sorted({p["_resized"] for p in extra})) + ")"


#: Tolerance of the switch-point rows, relative to the value itself (DESIGN.md: ~1e-10 on both
#: sides of every switch point of the emitted code).
SWITCH_TOL = 1e-10
#: Base points per switch point (each gives one point on either side).
SWITCH_BASES = 3


def switch_points(formula, base: list[dict], seed: int = 19,
                  kinds=("angle", "norm"), per_switch: int = SWITCH_BASES) -> list[tuple[object, dict]]:
    """``[(switch, point)]``: for every switch point of the emitted code of ``formula``
    (:func:`numerics.switches.switches`, read from the generated source), points made from up to
    ``per_switch`` suitable base points (the first, the last, one between: other sizes of the
    other arguments, so that a term the switch affects is not negligible at all of them), with
    the angle (or the norm) just below and just above the switch."""
    from .. import switches as S

    out = []
    rng = np.random.default_rng(seed)

    def spread(pts):
        if len(pts) <= per_switch:
            return pts
        idx = sorted({round(i * (len(pts) - 1) / (per_switch - 1)) for i in range(per_switch)})
        return [pts[i] for i in idx]

    for sw in S.switches(formula):
        if sw.kind not in kinds:
            continue
        if sw.kind == "norm":
            v = sw.args[0]
            for base_pt in spread([p for p in base if v in p and np.ndim(p[v]) == 1
                                   and np.linalg.norm(p[v]) > 0])[:1]:
                for size in sw.sides():
                    x = np.asarray(base_pt[v], float)
                    out.append((sw, {**base_pt, v: x * (size / float(np.linalg.norm(x)))}))
            continue
        if len(sw.args) == 1:
            for base_pt in spread([p for p in base if sw.args[0] in p]):
                for phi in sw.sides():
                    out.append((sw, {**base_pt, sw.args[0]: np.float64(phi)}))
            continue
        a, b = sw.args
        for base_pt in spread([p for p in base if a in p and b in p and np.ndim(p[a]) == 1
                               and np.shape(p[a]) == np.shape(p[b])
                               and np.linalg.norm(p[a]) > 0 and np.linalg.norm(p[b]) > 0]):
            for phi in sw.sides():
                x = np.asarray(base_pt[a], float)
                y = vector_at_angle(rng, x, phi, float(np.linalg.norm(base_pt[b])))
                out.append((sw, {**base_pt, b: y}))
    return out


def switch_rows(name: str, subject: Subject, base: list[dict], reference, tol: float = SWITCH_TOL,
                label: str = "", method: str = "", floor=0.0,
                kinds=("angle", "norm")) -> "CheckResult | None":
    """The reference row on both sides of every switch point of the emitted code (edge series
    thresholds, near-parallel double-double, sine from cosine), error relative to the VALUE
    (no floor): a wrong series coefficient or near-parallel form shows there, where a floor of
    O(1) hides it (issue 19 item 2).  Where the code takes another path on batches (the sine
    from the cosine), the points are also evaluated in one batch of ``switches.BATCH`` rows.
    ``None`` when the emitted code has no switch point.  The extended-range points (a norm at
    ``SAFE_LO``/``SAFE_HI`` times 1 -+ 1e-3) are judged against ``max(|value|, floor(point))``
    (the check's natural size at that point): there the terms of a vanishing scale are far
    below any reference's resolution.  ``kinds``: the switch kinds sampled."""
    from .. import switches as S

    pairs = switch_points(subject.formula, base, kinds=kinds)
    if not pairs:
        return None
    worst = None
    refs = []
    for sw, pt in pairs:
        ref = cached_reference(reference, pt)
        refs.append(ref)
        got = np.asarray(call(subject.fn, subject.formula, pt), dtype=np.float64)
        fl = (floor(pt) if callable(floor) else floor) if sw.kind == "norm" else 0.0
        err = _rel_to_value(got, ref, fl)
        if worst is None or not err <= worst[0]:
            worst = (err, sw, pt, got, ref, "single")
    if S.batched(subject.formula) and not getattr(subject.fn, "slow", False):
        groups: dict = {}
        for i, (_, pt) in enumerate(pairs):
            groups.setdefault(_signature(pt), []).append(i)
        for idx in groups.values():
            pts = [pairs[i][1] for i in idx]
            reps = -(-S.BATCH // len(pts))
            vec = [k for k in pts[0] if not isinstance(pts[0][k], (int, np.integer))]
            batch = {k: np.tile(np.stack([np.asarray(p[k], float) for p in pts]),
                                (reps,) + (1,) * np.ndim(pts[0][k])) for k in vec}
            batch.update({k: v for k, v in pts[0].items() if k not in vec})
            out = np.asarray(call(subject.fn, subject.formula, batch), dtype=np.float64)
            for r, i in enumerate(idx):
                got = out[r::len(idx)]
                fl = pairs[i][0].kind == "norm" and (floor(pairs[i][1]) if callable(floor) else floor)
                err = max(_rel_to_value(g, refs[i], fl or 0.0) for g in got)
                if not err <= worst[0]:
                    worst = (err, pairs[i][0], pairs[i][1], got[0], refs[i], f"batch of {len(out)}")
    err, sw, pt, got, ref, how = worst
    desc = ", ".join(f"{k}={_fmt(v)}" for k, v in pt.items())
    whats = sorted({s.what for s, _ in pairs})
    return CheckResult(
        name, "reference", f"{label or 'reference'}: both sides of the switch points",
        float(np.ravel(got)[0]), float(np.ravel(ref)[0]), err, "rel", bool(err <= tol),
        detail=(f"{method + '; ' if method else ''}{len(pairs)} points at +-{S.SIDE:g} of "
                f"{len({(s.args, s.at) for s, _ in pairs})} switch points read from the emitted code ({'; '.join(whats)}); "
                f"error relative to the value; tol {tol:.0e}; worst ({how}) near "
                f"{sw.what} at {desc}"),
        resolution=tol,
    )


def size_rows(name: str, subject: Subject, base: list[dict], reference, tol: float = SWITCH_TOL,
              label: str = "", method: str = "", floor=0.0,
              long_vectors: bool = False) -> "CheckResult | None":
    """The reference row at batch sizes on both sides of every SIZE switch of the emitted code
    (issue 19 item 2; :func:`numerics.switches.size_switches`): the block evaluation of large
    batches (``_rt.by_blocks``, from 4 x 32768 rows at short vectors), the sine from the cosine
    (64 rows), and with ``long_vectors`` the blocked ddot of single vectors of more than 8192
    entries.  The batch repeats up to 5 of the points (at the narrowest vector width among
    them, which keeps the big batch cheap) so that every block holds each point; the reference
    is the independent one of the row (cached per point), every row of the output is compared
    with it, error relative to the value (``max(|ref|, floor(point))``; ``floor`` is the
    check's natural size where it has one).  ``None`` when the code has no size switch."""
    from .. import switches as S
    from ..spaces import resize_space

    f = subject.formula
    names = [a.name for a in f.args]
    full = [p for p in base if all(n in p for n in names) and not any(
        isinstance(p[n], str) for n in names)]
    if not full or getattr(subject.fn, "slow", False):
        return None
    groups: dict = {}
    for p in full:
        groups.setdefault(_signature({n: p[n] for n in names}), []).append(p)
    # the narrowest points; fewer than 3 of that shape (a single point may be an edge where
    # the value vanishes): other points resized to it (every vector space)
    # (vectors of 2 entries or more where there are: at d = 1 some values vanish identically)
    def _short(g):
        lens = [int(np.shape(g[0][a.name])[-1]) for a in f.args
                if a.kind == "vector" and np.ndim(g[0][a.name])]
        return min(lens, default=2) < 2

    pts = list(min(groups.values(), key=lambda g: (_short(g),
                                                   sum(int(np.size(g[0][n])) for n in names),
                                                   -len(g))))[:5]
    from ..spaces import space_lengths

    target = space_lengths(f, [pts[0][n] for n in names])
    sig = _signature({n: pts[0][n] for n in names})
    rng = np.random.default_rng(7)
    for p in full:
        if len(pts) >= 5:
            break
        if any(p is q for q in pts):
            continue
        xs = [p[n] for n in names]
        for sp_, length in target.items():
            if xs is not None and space_lengths(f, xs).get(sp_) != length:
                xs = resize_space(f, xs, sp_, length, rng)
        if xs is None:
            continue
        q = {**p, **dict(zip(names, xs))}
        if _signature({n: q[n] for n in names}) == sig:
            try:
                with np.errstate(all="ignore"):
                    call(subject.formula.numpy if hasattr(subject.formula, "numpy") else
                         subject.fn, f, q)
            except (ValueError, TypeError):
                continue
            pts.append(q)
    width = max([int(np.shape(pts[0][a.name])[-1]) for a in f.args
                 if a.kind == "vector" and np.ndim(pts[0][a.name])] + [1])
    sws = S.size_switches(f, width)
    if not long_vectors:
        sws = [w for w in sws if w.layout != "length"]
    if not sws:
        return None
    refs = [cached_reference(reference, p) for p in pts]
    fls = [(floor(p) if callable(floor) else floor) for p in pts]
    worst, sizes = None, []
    for sw in sws:
        for n in (sw.below, sw.above):
            if sw.layout == "rows":
                reps = -(-n // len(pts))
                batch = {}
                for a in f.args:
                    if a.kind == "int":
                        batch[a.name] = pts[0][a.name]
                    else:
                        st = np.stack([np.asarray(p[a.name], float) for p in pts])
                        batch[a.name] = np.tile(st, (reps,) + (1,) * (st.ndim - 1))[:n]
                outs = _each_backend(lambda: np.asarray(call(subject.fn, f, batch),
                                                        dtype=np.float64))
                errs = []
                if sw.what.startswith("block"):  # the runtime's own decision at this size
                    from derivations import runtime as _rt

                    specs = [(a.name, np.asarray(batch[a.name], float),
                              1 if a.kind == "vector" else 0) for a in f.args if a.kind != "int"]
                    blocked = bool(_rt.blocks(_rt.batch_shape(*specs), S.busy(f)))
                    if blocked != (n == sw.above):
                        errs.append(math.inf)  # the switch is not where it was read to be
                for out in outs:
                    for i in range(len(pts)):
                        got = out[i::len(pts)]
                        ok = got.shape[1:] == np.shape(refs[i]) and np.all(np.isfinite(got))
                        sc = max(float(np.max(np.abs(refs[i]))) if np.size(refs[i]) else 0.0,
                                 fls[i], 1e-300)
                        errs.append(float(np.max(np.abs(got - refs[i]))) / sc if ok else math.inf)
                err, how = max(errs), f"{n} rows"
                sizes.append(n)
            else:  # one point with vectors of n entries (the space of the first vector)
                sp_ = next(a.space for a in f.args if a.kind == "vector")
                ys = resize_space(f, [pts[0][k] for k in names], sp_, n,
                                  np.random.default_rng(8192))
                if ys is None:
                    continue
                pt = {**pts[0], **dict(zip(names, ys))}
                ref = cached_reference(reference, pt)
                fl = floor(pt) if callable(floor) else floor
                err = max(_rel_to_value(got, ref, fl) for got in _each_backend(
                    lambda: np.asarray(call(subject.fn, f, pt), dtype=np.float64)))
                how = f"vectors of {n} entries"
                sizes.append(f"len {n}")
            if worst is None or not err <= worst[0]:
                worst = (err, sw, how)
    if worst is None:
        return None
    err, sw, how = worst
    return CheckResult(
        name, "reference", f"{label or 'reference'}: both sides of the size switches",
        err, 0.0, err, "rel", bool(err <= tol),
        detail=(f"{method + '; ' if method else ''}{len(pts)} points repeated to batches of "
                f"{', '.join(map(str, sizes))} (both sides of: "
                f"{'; '.join(w.what for w in sws)}); every row vs the reference, error "
                f"relative to the value; tol {tol:.0e}; worst at {how} ({sw.what})"),
        resolution=tol,
    )


def _each_backend(evaluate: Callable) -> list:
    """``evaluate()`` once on each installed backend (:func:`backends`): the size switches are
    the NumPy backend's (blocks, sine from the cosine, blocked ddot), and the compiled backend
    takes batches from its own threshold on, so the big batches run on both."""
    from derivations.runtime import backend as _backend

    out = []
    for b in backends():
        with _backend.using(b):
            out.append(evaluate())
    return out


def _rel_to_value(got, ref, floor: float = 0.0) -> float:
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(ref) or not np.all(np.isfinite(got)):
        return math.inf
    scale = max(float(np.max(np.abs(ref))) if np.size(ref) else 0.0, floor, 1e-300)
    return float(np.max(np.abs(got - ref))) / scale


def _signature(pt: dict) -> tuple:
    return tuple((k, np.shape(v)) if not isinstance(v, (int, np.integer)) else (k, int(v))
                 for k, v in sorted(pt.items()))


def richardson_gradient(value: Callable[[dict], float], wrt: str, h: float = 1e-3):
    """A reference gradient: Richardson-extrapolated central differences of ``value`` (an
    independent scalar reference) in the vector argument ``wrt``.

    ``D(h) = (F(x+h) - F(x-h)) / 2h``; ``(4 D(h/2) - D(h)) / 3`` has truncation ``O(h^4)``
    (~1e-12 at ``h = 1e-3 (1 + |x_j|)``) and rounding ~``1e-14 / h``, so it resolves ~1e-9
    relative when ``value`` is accurate to ~1e-14."""

    def grad(pt: dict) -> np.ndarray:
        x0 = np.asarray(pt[wrt], dtype=np.float64)
        out = np.empty_like(x0)
        for j in range(len(x0)):
            hj = h * (1.0 + abs(x0[j]))
            d = []
            for step in (hj, hj / 2):
                xp, xm = x0.copy(), x0.copy()
                xp[j] += step
                xm[j] -= step
                d.append((float(value({**pt, wrt: xp})) - float(value({**pt, wrt: xm})))
                         / (2 * step))
            out[j] = (4 * d[1] - d[0]) / 3
        return out

    return grad


def paper_check(name: str, points: Callable[[], list[dict]],
                reference: Callable[[dict], np.ndarray] | None = None,
                klass: str | None = None, note: str = "",
                ref_tol: float = PAPER_REF_TOL, method: str = "") -> Check:
    """The paper's printed statement vs the derivation, gated by independent evidence.

    Agreement (symbolic, else at 50 digits to 1e-12) passes.  A disagreement passes as an
    ERRATUM only when ``reference`` (same contract as :func:`reference_check`: from the model,
    never from a derived form) resolves the two forms and sides with the derivation: it matches
    the derived form within ``ref_tol`` at every point and misses the printed one by more than
    ``max(PAPER_MIN_GAP, 100 x derived error)``.  The row then states that evidence and the
    erratum class ``klass`` (one of :data:`ERRATUM_CLASSES`; ``note`` says why).  Otherwise the
    check FAILS as an unresolved disagreement: without evidence a difference is as likely to be
    our bug as the paper's.
    """
    if klass is not None and klass not in ERRATUM_CLASSES:
        raise ValueError(f"klass must be one of {ERRATUM_CLASSES}, got {klass!r}")

    def run(subject: Subject, ctx: Context):
        import sympy as sp

        from derivations import precision

        f = subject.formula
        try:
            diff = sp.simplify(_cos_form(f.paper - f.expr))
        except Exception:  # noqa: BLE001 - fall back to numbers
            diff = None
        if diff == 0:
            return CheckResult(name, "paper", "printed vs derived", "agrees", "symbolic", 0.0,
                               "abs", True, detail="printed statement - derived simplifies to 0",
                               resolution=0.0)
        pts = points()
        rels, ratios, vals = [], [], []
        for pt in pts:
            pv, _ = precision.evaluate(f, pt, expr=f.paper)
            dv, _ = precision.evaluate(f, pt, expr=f.expr)
            pv, dv = np.asarray(pv, float), np.asarray(dv, float)
            vals.append((pt, pv, dv))
            rels.append(float(np.max(np.abs(pv - dv)) / max(float(np.max(np.abs(dv))), 1e-300)))
            nz = np.abs(dv) > 1e-12 * np.max(np.abs(dv))
            ratios.extend((np.ravel(pv)[np.ravel(nz)] / np.ravel(dv)[np.ravel(nz)]).tolist())
        rel = max(rels)
        if rel <= 1e-12:
            return CheckResult(name, "paper", "printed vs derived", "agrees", "50 digits", rel,
                               "rel", True, detail=f"max relative difference {rel:.1e}",
                               resolution=1e-12)
        ratio = np.asarray(ratios)
        const = bool(ratio.size and np.ptp(ratio) < 1e-9 * max(1.0, float(np.max(np.abs(ratio)))))
        what = (f"printed = {ratio[0]:+.6g} x derived at every point" if const
                else f"printed/derived varies in [{ratio.min():.3g}, {ratio.max():.3g}]"
                if ratio.size else "printed differs")
        what += f"; max relative difference {rel:.3g} over {len(rels)} points"
        if reference is None:
            return CheckResult(name, "paper", "printed vs derived", "differs", "no reference",
                               rel, "rel", False,
                               detail=f"unresolved disagreement: {what}; no independent "
                                      "reference to side with either form")
        err_d, err_p = 0.0, math.inf
        for pt, pv, dv in vals:
            ref = cached_reference(reference, pt)
            scale = max(float(np.max(np.abs(ref))), 1e-300)
            err_d = max(err_d, float(np.max(np.abs(dv - ref))) / scale)
            err_p = min(err_p, float(np.max(np.abs(pv - ref))) / scale)
        resolved = err_d <= ref_tol and err_p >= max(PAPER_MIN_GAP, 100 * err_d)
        evidence = (f"{method or 'independent reference'}: derived within {err_d:.1e}, "
                    f"printed off by >= {err_p:.2g} at every point")
        if not resolved:
            return CheckResult(name, "paper", "printed vs derived", "differs", "unresolved",
                               rel, "rel", False,
                               detail=f"unresolved disagreement: {what}; {evidence} "
                                      f"(needs derived <= {ref_tol:.0e} and printed >= "
                                      f"{PAPER_MIN_GAP:.0e})", resolution=ref_tol)
        if klass is None:
            return CheckResult(name, "paper", "printed vs derived", "differs", "derived", rel,
                               "rel", False, detail=f"erratum without a class: {what}; {evidence}",
                               resolution=ref_tol)
        return CheckResult(name, "paper", "printed vs derived", "differs", "derived", rel, "rel",
                           True, erratum=True, erratum_class=klass, resolution=ref_tol,
                           detail=f"{klass}: {what}; evidence: {evidence}"
                                  + (f"; {note}" if note else ""))

    return Check(name, "paper", "printed vs derived", run, independent=False)


def _cos_form(expr):
    """Inner products rewritten as ``|x||y| cos(phi)`` (:func:`derivations.vectors.cos_form`)."""
    from derivations import vectors

    return vectors.cos_form(expr)


# --------------------------------------------------------------------------------------------
# Public callables outside the registry (fused functions, deep kernels, Gram helpers)
# --------------------------------------------------------------------------------------------


def backends() -> list[str]:
    """The installed backends of the emitted code (``derivations.runtime.backend``): NumPy,
    and the compiled (Numba) one when Numba is installed, and JAX when it is the backend asked
    for (``check --backend jax``).  Checks of functions with a compiled version run once per
    backend."""
    from derivations.runtime import backend as _backend

    out = ["numpy"] + (["numba"] if _backend.numba_available() else [])
    if _backend.get_backend() == "jax":  # `check --backend jax` (never by default: XLA compiles)
        out.append("jax")
    return out


def under_backend(invoke: Callable, backend: str) -> Callable:
    """``invoke(fn, point)`` run with the emitted code on ``backend``."""
    def run(fn, pt):
        from derivations.runtime import backend as _backend

        with _backend.using(backend):
            return invoke(fn, pt)
    return run


def public_reference_check(name: str, points: Callable[[], list[dict]],
                           invoke: Callable[[Callable, dict], object],
                           reference: Callable[[dict], object],
                           tol: "float | tuple[float, ...]" = 1e-10,
                           label: str = "vs independent reference", method: str = "",
                           floor: "float | Callable[[dict], object]" = 0.0,
                           outputs: tuple[str, ...] = ()) -> Check:
    """A public callable vs an INDEPENDENT reference (same contract as
    :func:`reference_check`: from the model, never from a derived expression).

    ``invoke(fn, point)`` calls the callable under test (``subject.fn``) and returns an array or
    a tuple of arrays (a fused value-and-gradients function); ``reference(point)`` returns the
    same structure.  Each output is judged on its own scale, ``max(max|ref_j|, floor_j)``
    (``floor`` a number, a tuple per output, or ``floor(point)``), so a gradient that is small
    next to its loss is not excused; the row reports the worst output over all points and
    passes iff it is within ``tol`` (a number, or one per output).  ``outputs`` names the
    outputs in the row."""

    def run(subject: Subject, ctx: Context):
        pts = points()
        worst = None
        for pt in pts:
            got = invoke(subject.fn, pt)
            ref = _cached_tuple(reference, pt)
            got, ref = _as_tuple(got), _as_tuple(ref)
            if len(got) != len(ref):
                raise ValueError(f"{len(got)} outputs, reference has {len(ref)}")
            fl = floor(pt) if callable(floor) else floor
            fls = _as_tuple(fl) if isinstance(fl, tuple) else (fl,) * len(ref)
            for j, (g, r, f) in enumerate(zip(got, ref, fls)):
                g = np.asarray(g, dtype=np.float64)
                r = np.asarray(r, dtype=np.float64)
                if g.shape != r.shape:
                    raise ValueError(f"output {j}: shape {g.shape} != reference {r.shape}")
                scale = max(float(np.max(np.abs(r))) if r.size else 0.0, float(f), 1e-300)
                err = (float(np.max(np.abs(g - r))) / scale if g.size else 0.0) \
                    if np.all(np.isfinite(g)) else math.inf
                t = tol[j] if isinstance(tol, tuple) else tol
                if worst is None or not err / t <= worst[0] / worst[5]:
                    worst = (err, pt, j, g, r, t)
        err, pt, j, g, r, t = worst
        out = outputs[j] if j < len(outputs) else f"output {j}"
        desc = ", ".join(f"{k}={_fmt(v)}" for k, v in pt.items())
        return CheckResult(
            name, "reference", label, float(np.ravel(g)[0]) if g.size else 0.0,
            float(np.ravel(r)[0]) if r.size else 0.0, err, "rel", bool(err <= t),
            detail=(f"{method + '; ' if method else ''}{len(pts)} points; tol "
                    + (", ".join(f"{x:.0e}" for x in tol) if isinstance(tol, tuple)
                       else f"{tol:.0e}") + f"; worst (relative to its tol): {out} at {desc}"),
            resolution=max(tol) if isinstance(tol, tuple) else tol)

    return Check(name, "reference", label, run)


def add_public(target: str, related: tuple[str, ...], *checks: Check) -> None:
    """Register ``checks`` (each ``formula`` the public name) for the callable at ``target``
    (``"module:attribute"``), run whenever one of the ``related`` formulas is checked
    (:func:`numerics.checks.register_public`)."""
    from . import register_public

    for c in checks:
        register_public(c, target, related)


def call_fused(fn, args: tuple, use_out=False, shapes=None):
    """``fn(*args)``; with ``use_out`` (a point's ``"use_out"`` flag) again with ``out=``
    buffers (of ``shapes``, by default those of a first call's results), which the call must
    return: a fused value-and-gradients function's ``out=`` contract."""
    if not use_out:
        return fn(*args)
    if shapes is None:
        shapes = [np.shape(r) for r in fn(*args)]
    bufs = tuple(np.empty(sh) for sh in shapes)
    out = fn(*args, out=bufs)
    if any(o is not b for o, b in zip(out, bufs)):
        raise ValueError("out buffers were not returned")
    return out


def _cached_tuple(reference, pt: dict) -> tuple:
    """``reference(pt)`` as a tuple of float arrays, computed once per (reference, point)
    within a run (mutants re-use it)."""
    key = ("tuple", id(reference), _point_key(pt))
    hit = _REF_CACHE.get(key)
    if hit is None or hit[0] is not reference:
        hit = _REF_CACHE[key] = (reference, tuple(np.asarray(r, dtype=np.float64)
                                                  for r in _as_tuple(reference(pt))))
    return hit[1]


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)
