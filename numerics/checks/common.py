"""Check builders shared by the families: Monte Carlo, finite differences, 50-digit mpmath,
paper-vs-derived, and domain-aware test points."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..harness import Check, CheckResult, Context, Subject, error_result, mc_result

#: Relative tolerance of the 50-digit comparison, in units of the size of the cancelling terms.
MPMATH_TOL = 1e-12
#: Relative tolerance of central finite differences (step ~ 1e-6 of the scale; error ~1e-10).
FD_TOL = 1e-6


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


def fd_check(name: str, of: str, wrt: str, points: Callable[[], list[dict]],
             label: str | None = None) -> Check:
    """The gradient under test vs central differences of the emitted formula ``of``.

    Step ``h = 1e-6 (1 + |x_j|)`` per coordinate: truncation ~h^2, rounding ~eps/h, so the
    relative error of a correct gradient is ~1e-10; the tolerance is :data:`FD_TOL`.
    """

    def run(subject: Subject, ctx: Context):
        import derivations

        ref = derivations.get(of)
        f_ref = ref.numpy
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
                fp = call(f_ref, ref, {**pt, wrt: xp})
                fm = call(f_ref, ref, {**pt, wrt: xm})
                fd[j] = (fp - fm) / (2 * h)
            results.append(error_result(
                name, "finite_difference", label or f"d {of} / d {wrt}", g, fd, FD_TOL,
                scale=max(np.max(np.abs(fd)), np.max(np.abs(g)), 1e-12)))
        failing = [r for r in results if not r.passed]
        worst = failing[0] if failing else max(results, key=lambda r: r.stat)
        worst.detail = (f"{len(results)} points; central differences of {of}, "
                        f"h = 1e-6(1+|x|), tol {FD_TOL:.0e}")
        return worst

    return Check(name, "finite_difference", label or f"FD of {of} in {wrt}", run)


def mpmath_check(name: str, points: Callable[[], list[dict]], tol: float = MPMATH_TOL) -> Check:
    """Emitted float64 vs the derived expression at 50 digits, point by point.

    Error measured relative to the size of the terms that cancel (the float64 code cannot do
    better than that); the worst point is reported.  Points are also evaluated in one batched
    call, which must agree with the one-at-a-time calls to 1e-14 of the output's scale.
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
            batched = stack_points([{n: p[n] for n in vec_args} for p in pts])
            batched.update({n: pts[0][n] for n in int_args})
            out = np.asarray(call(subject.fn, subject.formula, batched))
            single = np.stack([np.asarray(call(subject.fn, subject.formula, p)) for p in pts])
            btol = 1e-14 * max(float(np.max(np.abs(single))), 1e-300)
            batch_ok = bool(np.all(np.abs(out - single) <= btol))
        got, ref = worst_vals
        desc = ", ".join(f"{k}={_fmt(v)}" for k, v in worst_pt.items())
        return CheckResult(
            name, "mpmath", "float64 vs 50 digits", float(np.ravel(got)[0]),
            float(np.ravel(ref)[0]), worst_rel, "rel", worst_rel <= tol and batch_ok,
            detail=(f"{len(pts)} points incl. angle edges; worst at {desc}"
                    + ("" if batch_ok else "; batched call differs from single calls")),
        )

    return Check(name, "mpmath", "float64 vs 50 digits", run, independent=False)


def _original_expr(subject: Subject):
    return subject.formula.expr


def _fmt(v) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return "[" + ", ".join(f"{t:.3g}" for t in a.ravel()[:4]) + (", ...]" if a.size > 4 else "]")


def paper_check(name: str, points: Callable[[], list[dict]]) -> Check:
    """The paper's printed statement vs the derivation: symbolically, else at 50 digits.

    Agreement passes.  A disagreement is reported as an *erratum* (``passed`` stays True: the
    derivation is not at fault) with the relative difference and, when the ratio
    printed/derived is the same constant at every point, that constant.
    """

    def run(subject: Subject, ctx: Context):
        import sympy as sp

        from derivations import precision, vectors

        f = subject.formula
        diff = sp.simplify(_cos_form(f.paper - f.expr))
        if diff == 0:
            return CheckResult(name, "paper", "printed vs derived", "agrees", "symbolic", 0.0,
                               "abs", True, detail="printed statement - derived simplifies to 0")
        rels, ratios = [], []
        for pt in points():
            pv, _ = precision.evaluate(f, pt, expr=f.paper)
            dv, _ = precision.evaluate(f, pt, expr=f.expr)
            rels.append(float(np.max(np.abs(pv - dv)) / max(float(np.max(np.abs(dv))), 1e-300)))
            nz = np.abs(dv) > 1e-12 * np.max(np.abs(dv))
            ratios.extend((np.ravel(pv)[np.ravel(nz)] / np.ravel(dv)[np.ravel(nz)]).tolist())
        rel = max(rels)
        if rel <= 1e-12:
            return CheckResult(name, "paper", "printed vs derived", "agrees", "50 digits", rel,
                               "rel", True, detail=f"max relative difference {rel:.1e}")
        ratio = np.asarray(ratios)
        const = bool(np.ptp(ratio) < 1e-9 * max(1.0, float(np.max(np.abs(ratio)))))
        what = (f"printed = {ratio[0]:+.6g} x derived at every point" if const
                else f"printed/derived varies in [{ratio.min():.3g}, {ratio.max():.3g}]")
        return CheckResult(name, "paper", "printed vs derived", "differs", "derived", rel, "rel",
                           True, erratum=True,
                           detail=f"{what}; max relative difference {rel:.3g} over {len(rels)} points")

    return Check(name, "paper", "printed vs derived", run, independent=False)


def _cos_form(expr):
    """Rewrite inner products of vectors that have an angle symbol as ``|x||y| cos(phi)``."""
    import sympy as sp

    from derivations import vectors

    subs = {}
    for s in expr.free_symbols:
        m = vectors.meaning(s)
        if m is not None and m.kind == "dot":
            a, b = (sp.Symbol(t) for t in m.operands)
            phi = vectors.angle(a, b)
            if any(str(t) == str(phi) for t in expr.free_symbols):
                subs[s] = vectors.norm(a) * vectors.norm(b) * sp.cos(phi)
    return expr.subs(subs)
