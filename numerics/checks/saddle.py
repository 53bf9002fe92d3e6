"""Checks for the saddle family (seed 004, ch. 7).

Independent references:

* connectors (``p``, ``g1``, ``g2``, ``hermite_cubic``): SciPy's Hermite interpolants built from
  the boundary data (``CubicHermiteSpline``, ``BPoly.from_derivatives``), and the numerically
  solved connectors of :mod:`numerics.simulators.saddle`;
* ``f``, ``grad``, ``hessian``: the octopus written out from (7.6)-(7.18) in
  :mod:`numerics.simulators.saddle` (values, gradients, Hessians) and central differences of it,
  at random points of D in d = 2, 3, 5, 10 including points exactly on the region boundaries;
* symbolic proofs on the (possibly perturbed) template: C2 across every interface for d = 2, 3,
  evenness in the mirrored coordinates, and Lemma 7.1's stationary points;
* ``escape_ratio``: escape times measured with the exact GD integrator.

Claims of the thesis that the tool finds false are reported as errata (``erratum=True``) with
the worst point.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..rows import Check, CheckResult, Context, Subject, consistency, error_result
from . import common, register

E = math.e
#: Parameter points (L, gamma, tau): the thesis's values, the experiments' L, and random ones.
PARAMS = [(E, 1.0, E), (1.0, 1.0, E), (1.5, 1.0, E), (3.0, 1.0, E), (2.0, 0.5, 1.3),
          (7.5, 2.0, 0.8), (1.0, 1.0, 1.0)]
TOL = 1e-11


def _params(ctx: Context, salt: str, n: int = 4):
    rng = ctx.rng(salt)
    out = list(PARAMS)
    for _ in range(n):
        gamma = float(rng.uniform(0.2, 3.0))
        out.append((gamma * float(rng.uniform(1.0, 6.0)), gamma, float(rng.uniform(0.3, 4.0))))
    return out


# --------------------------------------------------------------------------------------------
# Connectors
# --------------------------------------------------------------------------------------------


def _scipy_connectors(L, gamma, tau):
    """p, g1, g2 from SciPy's Hermite interpolation of the boundary data (Lemma 7.4)."""
    from scipy.interpolate import BPoly, CubicHermiteSpline

    nodes = [tau, 2 * tau]
    # p = g1' joins d/dx(-gamma x^2) to d/dx L (x - 4 tau)^2, matching also the 2nd derivatives
    p = CubicHermiteSpline(nodes, [-2 * gamma * tau, 2 * L * (2 * tau - 4 * tau)], [-2 * gamma, 2 * L],
                           extrapolate=True)
    P = p.antiderivative()
    g1 = lambda x: P(x) - P(tau) - gamma * tau**2  # noqa: E731
    g2 = BPoly.from_derivatives(nodes, [[L, 0, 0], [-gamma, 0, 0]], extrapolate=True)
    return p, g1, g2


def _connector_check(name: str, which: str) -> Check:
    def run(subject: Subject, ctx: Context):
        vals, refs, scales = [], [], []
        for L, gamma, tau in _params(ctx, name):
            p, g1, g2 = _scipy_connectors(L, gamma, tau)
            x = np.linspace(tau * 0.9, 2.1 * tau, 61)
            ref = {"p": p, "g1": g1, "g2": g2}[which](x)
            got = subject.fn(x, L, gamma, tau)
            vals.append(got)
            refs.append(ref)
            scales.append(np.full_like(x, max(np.max(np.abs(ref)), L * tau**2 if which == "g1" else 0)))
        v, r, s = map(np.concatenate, (vals, refs, scales))
        res = error_result(name, "dense", f"vs SciPy Hermite interpolant of the boundary data",
                           v / s, r / s, TOL, scale=1.0,
                           detail=f"{len(v)} points, x in [0.9 tau, 2.1 tau], {len(vals)} (L, gamma, tau)")
        return res

    return Check(name, "dense", "vs SciPy Hermite interpolant of the boundary data", run)


def _hermite_scipy(subject: Subject, ctx: Context):
    from scipy.interpolate import CubicHermiteSpline

    rng = ctx.rng("hermite")
    worst = []
    for _ in range(40):
        y0 = float(rng.uniform(-3, 3))
        y1 = y0 + float(rng.uniform(0.1, 4))
        f0, f1, df0, df1 = rng.uniform(-5, 5, 4)
        ys = np.linspace(y0 - 0.5, y1 + 0.5, 31)
        ref = CubicHermiteSpline([y0, y1], [f0, f1], [df0, df1], extrapolate=True)(ys)
        got = subject.fn(ys, y0, y1, f0, f1, df0, df1)
        scale = max(1.0, float(np.max(np.abs(ref))))
        worst.append(error_result("saddle.hermite_cubic", "dense", "vs scipy CubicHermiteSpline",
                                  got / scale, ref / scale, TOL, scale=1.0))
    r = max(worst, key=lambda c: c.stat)
    r.detail = "40 random data sets x 31 points (incl. extrapolation)"
    return r


#: The monotonicity add-on's evidence, pinned (issue 19, item 7): the worst relative violation
#: over the fixed 2001 data sets and min p on Lemma 7.4's own data (L = tau = e, gamma = 1).
MONOTONE_PIN = (8.91710159346972, -30.151097142709602)


def _hermite_monotone(subject: Subject, ctx: Context):
    """Theorem 7.4's add-on: y0 < y1, f(y1) < f(y0) < 0, f'(y0) < 0, f'(y1) >= 3S  ==>
    f(y1) <= p(y) <= f(y0) on [y0, y1].  Search for the worst violation."""
    rng = Context().rng("hermite-monotone")  # fixed data (not --seed): the row pins its numbers
    best = (0.0, None)
    cands = [(E, 2 * E, -2 * E, -4 * E * E, -2.0, 2 * E)]  # Lemma 7.4's own data (L = tau = e)
    for _ in range(2000):
        y0 = 0.0
        y1 = float(rng.uniform(0.2, 3))
        f0 = -float(rng.uniform(0.01, 5))
        f1 = f0 - float(rng.uniform(0.01, 5))
        S = (f1 - f0) / (y1 - y0)
        df0 = -float(rng.uniform(0.0, 5))
        df1 = 3 * S + float(rng.uniform(0, 10))
        cands.append((y0, y1, f0, f1, df0, df1))
    ys01 = np.linspace(0, 1, 801)
    for c in cands:
        y0, y1, f0, f1, df0, df1 = c
        ys = y0 + (y1 - y0) * ys01
        pv = subject.fn(ys, *c)
        under = float(np.max((f1 - pv) / abs(f1)))
        over = float(np.max((pv - f0) / abs(f1)))
        viol = max(under, over)
        if viol > best[0]:
            j = int(np.argmax(np.maximum(f1 - pv, pv - f0)))
            best = (viol, (c, ys[j], pv[j]))
    if best[1] is None:  # the recorded evidence is a counterexample: finding none fails
        return CheckResult("saddle.hermite_cubic", "paper", "Theorem 7.4 monotonicity add-on",
                           "holds", "claim", 0.0, "rel", False,
                           detail=f"EVIDENCE MOVED: no counterexample in 2001 data sets; pinned "
                                  f"worst violation {MONOTONE_PIN[0]:.12g}")
    (y0, y1, f0, f1, df0, df1), yw, pw = best[1]
    ex = cands[0]
    lem = subject.fn(np.linspace(ex[0], ex[1], 20001), *ex)
    pinned = (abs(best[0] - MONOTONE_PIN[0]) <= 1e-9 * MONOTONE_PIN[0]
              and abs(lem.min() - MONOTONE_PIN[1]) <= 1e-9 * abs(MONOTONE_PIN[1]))
    return CheckResult(
        "saddle.hermite_cubic", "paper", "Theorem 7.4 monotonicity add-on", float(pw), float(f1),
        best[0], "rel", pinned, erratum=True, erratum_class="printed error",
        detail=(f"FALSE (lower side): worst of 2001 data sets y0={y0:.4g}, y1={y1:.4g}, f0={f0:.4g}, "
                f"f1={f1:.4g}, f0'={df0:.4g}, f1'={df1:.4g} (>= 3S={3 * (f1 - f0) / (y1 - y0):.4g}) "
                f"gives p({yw:.4g}) = {pw:.6g} < f(y1) = {f1:.6g}; Lemma 7.4's data (L=tau=e, gamma=1) "
                f"gives min p = {lem.min():.6g} < f(y1) = -4 L tau = {ex[3]:.6g}. The upper side "
                f"p <= f(y0) held in every set. Pinned (rtol 1e-9): worst violation "
                f"{MONOTONE_PIN[0]:.12g}, min p on Lemma 7.4's data {MONOTONE_PIN[1]:.12g}"
                + ("" if pinned else " -- EVIDENCE MOVED")))


# --------------------------------------------------------------------------------------------
# Lemma 7.4 bounds: Bernstein-coefficient proofs and dense-grid errata
# --------------------------------------------------------------------------------------------


def _bernstein_sign(expr, var, sign: str):
    """Prove ``expr(var) <= 0`` (``sign="nonpositive"``) or ``>= 0`` on ``var in [0, 1]`` for
    all ``L >= gamma > 0, tau > 0``: every Bernstein coefficient has that sign, with
    ``L = gamma + delta``, ``delta >= 0``.  Returns (proved, coefficients)."""
    import sympy as sp

    from derivations.saddle import connectors as C

    delta = sp.Symbol("delta", nonnegative=True)
    poly = sp.Poly(sp.expand(expr.subs(C.L, C.gamma + delta)), var)
    n = poly.degree()
    a = [poly.coeff_monomial(var**j) for j in range(n + 1)]
    b = [sp.factor(sp.expand(sum(sp.binomial(k, j) / sp.binomial(n, j) * a[j] for j in range(k + 1))))
         for k in range(n + 1)]
    test = (lambda e: e.is_nonpositive) if sign == "nonpositive" else (lambda e: e.is_nonnegative)
    return all(bool(test(c)) for c in b), b


def _bound_proof(name, label, build, sign):
    """Symbolic proof of a Lemma 7.4 inequality on the (possibly perturbed) formula."""

    def run(subject: Subject, ctx: Context):
        import sympy as sp

        sigma = sp.Symbol("sigma", nonnegative=True)
        expr = build(subject.formula.expr, sigma)
        ok, b = _bernstein_sign(expr, sigma, sign)
        return common.proof_row(
            name, label, ok, "all L >= gamma > 0",
            f"Bernstein coefficients on [tau, 2 tau]: {[sp.sstr(c) for c in b]}"[:400])

    return Check(name, "symbolic", label, run)


def _sub_sigma(expr, sigma):
    from derivations.saddle import connectors as C

    return expr.subs(C.x, C.tau * (1 + sigma))


def _p_upper(expr, sigma):      # p + 2 gamma tau <= 0
    from derivations.saddle import connectors as C

    return _sub_sigma(expr, sigma) + 2 * C.gamma * C.tau


def _g2_lower(expr, sigma):     # g2 + gamma >= 0
    from derivations.saddle import connectors as C

    return _sub_sigma(expr, sigma) + C.gamma


def _g2_decreasing(expr, sigma):  # g2' <= 0
    import sympy as sp

    from derivations.saddle import connectors as C

    return _sub_sigma(sp.diff(expr, C.x), sigma)


def _g_dx_upper(expr, sigma):   # dg/dx_i + 2 gamma tau <= 0 for 0 <= y <= tau: linear in y^2 >= 0
    import sympy as sp

    from derivations.saddle import connectors as C

    dgx = sp.diff(expr, C.x)
    w = sp.Symbol("w", nonnegative=True)  # w = y^2 / tau^2 in [0, 1]
    e = sp.expand(dgx.subs(C.y, C.tau * sp.sqrt(w)))
    # linear in w: nonpositive on [0,1] iff nonpositive at both ends
    return _sub_sigma(e.subs(w, 0) + 2 * C.gamma * C.tau, sigma) + 0, \
        _sub_sigma(e.subs(w, 1) + 2 * C.gamma * C.tau, sigma)


def _g_dx_proof(subject: Subject, ctx: Context):
    import sympy as sp

    sigma = sp.Symbol("sigma", nonnegative=True)
    e0, e1 = _g_dx_upper(subject.formula.expr, sigma)
    ok0, _ = _bernstein_sign(e0, sigma, "nonpositive")
    ok1, _ = _bernstein_sign(e1, sigma, "nonpositive")
    ok = ok0 and ok1
    return common.proof_row("saddle.g", "Lemma 7.4: dg/dx_i <= -2 gamma tau (proof)", ok,
                            "all L >= gamma > 0",
                            "dg/dx_i is affine in x_{i+1}^2; both ends via Bernstein coefficients")


def _grid_2d(tau, n=801, m=401):
    xs = np.linspace(tau, 2 * tau, n)
    ys = np.linspace(0, tau, m)
    return np.meshgrid(xs, ys, indexing="ij")


#: min(derivative) / (-4 L tau) at L = e, gamma = 1, tau = e on the fixed grids (item 7).
LOWER_BOUND_PIN = {"saddle.p": 1.020126817925807, "saddle.g": 1.395024672607142}


def _lower_bound_erratum(name):
    """Lemma 7.4's lower bounds -4 L tau <= dg/dx_i and -4 L tau <= g1' (claimed; false)."""

    def run(subject: Subject, ctx: Context):
        import sympy as sp

        from derivations.saddle import connectors as C

        rows = []
        expr = subject.formula.expr
        dx = sp.diff(expr, C.x) if name == "saddle.g" else expr
        args = (C.x, C.y, C.L, C.gamma, C.tau) if name == "saddle.g" else (C.x, C.L, C.gamma, C.tau)
        fn = sp.lambdify(args, dx, "numpy")
        worst_all = None
        for L in (1.0, 1.5, 2.0, E, 3.0):
            gamma, tau = 1.0, E
            if name == "saddle.g":
                X, Y = _grid_2d(tau)
                vals = fn(X, Y, L, gamma, tau)
                j = np.unravel_index(np.argmin(vals), vals.shape)
                pt = (X[j] / tau, Y[j] / tau)
            else:
                X = np.linspace(tau, 2 * tau, 200001)
                vals = fn(X, L, gamma, tau)
                j = int(np.argmin(vals))
                pt = (X[j] / tau,)
            vmin = float(vals[j])
            bound = -4 * L * tau
            rows.append((L, vmin, bound, pt))
        fails = [r for r in rows if r[1] < r[2]]
        L, vmin, bound, pt = next((r for r in rows if abs(r[0] - E) < 1e-12))
        want = LOWER_BOUND_PIN[name]
        pinned = len(fails) == 5 and abs(vmin / bound - want) <= 1e-9 * want
        where = ("x_i = %.5f tau, x_{i+1} = %.3f tau" % pt) if len(pt) == 2 else "x = %.5f tau" % pt
        what = "dg/dx_i" if name == "saddle.g" else "g1' = p"
        return CheckResult(
            name, "dense", f"Lemma 7.4: {what} >= -4 L tau (claimed)", vmin, bound,
            vmin / bound, "ratio", pinned, erratum=bool(fails),
            erratum_class="printed error" if fails else "",
            detail=(f"{'FALSE' if fails else 'holds'} for {len(fails)} of 5 L in {{1, 1.5, 2, e, 3}} "
                    f"(gamma = 1, tau = e); at L = e min {what} = {vmin:.6g} at {where}, -4 L tau = "
                    f"{bound:.6g} (ratio {vmin / bound:.4f}); ratios for L = 1, 1.5, 2, e, 3: "
                    + ", ".join(f"{r[1] / r[2]:.4f}" for r in rows)
                    + f"; pinned: false for 5 of 5, ratio at L = e {want!r} (rtol 1e-9)"
                    + ("" if pinned else " -- EVIDENCE MOVED")))

    return Check(name, "dense", "Lemma 7.4 lower bound -4 L tau (claimed)", run, independent=False)


def _dy_bound(subject: Subject, ctx: Context):
    """Lemma 7.4 as used in (7.11): dg/dx_{i+1} >= -2 gamma x_{i+1} on the connector region (dense)."""
    import sympy as sp

    from derivations.saddle import connectors as C

    fn = sp.lambdify((C.x, C.y, C.L, C.gamma, C.tau), sp.diff(subject.formula.expr, C.y), "numpy")
    worst = math.inf
    for L, gamma, tau in PARAMS:
        X, Y = _grid_2d(tau, 401, 201)
        slack = fn(X, Y, L, gamma, tau) + 2 * gamma * Y
        worst = min(worst, float(np.min(slack / (L * tau))))
    return CheckResult("saddle.g", "dense", "Lemma 7.4: dg/dx_{i+1} >= -2 gamma x_{i+1}", worst, 0.0,
                       worst, "min slack/(L tau)", worst >= -1e-12,
                       detail=f"{len(PARAMS)} (L, gamma, tau), 401 x 201 grid on [tau,2tau] x [0,tau]")


def _g_vs_model(subject: Subject, ctx: Context):
    from ..simulators.saddle import Octopus

    rows = []
    for L, gamma, tau in _params(ctx, "g"):
        M = Octopus(L, gamma, tau)
        X, Y = _grid_2d(tau, 41, 21)
        ref = M.g1(X) + M.g2(X) * Y**2
        got = subject.fn(X, Y, L, gamma, tau)
        rows.append(error_result("saddle.g", "dense", "vs numerically solved connectors", got, ref, TOL,
                                 scale=max(float(np.max(np.abs(ref))), L * tau**2)))
    return common.worst_of(rows, f"{len(rows)} (L, gamma, tau) x 41 x 21 grid", join=False)


def _nu_vs_model(subject: Subject, ctx: Context):
    from ..simulators.saddle import Octopus

    got, ref = [], []
    for L, gamma, tau in _params(ctx, "nu"):
        got.append(subject.fn(L, gamma, tau))
        ref.append(Octopus(L, gamma, tau).nu)
    return error_result("saddle.nu", "dense", "vs -g1(2 tau) + 4 L tau^2 of solved connectors",
                        np.array(got) / np.array(ref), np.ones(len(ref)), TOL, scale=1.0)


def _nu_continuity(subject: Subject, ctx: Context):
    """f continuous at x_1 = 2 tau (d = 2, x_2 = 0.3 tau): model pieces with the tested nu."""
    from ..simulators.saddle import Octopus

    errs = []
    for L, gamma, tau in PARAMS:
        M = Octopus(L, gamma, tau)
        nu = float(subject.fn(L, gamma, tau))
        y = 0.3 * tau
        left = M.g1(2 * tau) + M.g2(2 * tau) * y**2            # f_{1,2} at x_1 = 2 tau
        right = L * (2 * tau - 4 * tau) ** 2 - gamma * y**2 - nu  # f_{2,1}
        errs.append(abs(left - right) / (L * tau**2))
    return common.error_row("saddle.nu", "dense", "continuity of f at x_i = 2 tau", max(errs),
                            1e-12, f"{len(PARAMS)} parameter points", resolution=None)


# --------------------------------------------------------------------------------------------
# The octopus: points of D, dense comparisons, finite differences
# --------------------------------------------------------------------------------------------


def points_in_D(rng, n, d, tau, boundary_fraction=0.3):
    """Random points of D (random region, random signs), a fraction exactly on boundaries
    (|x_i| in {0, tau, 2 tau, 6 tau}, |x_j| = tau for later coordinates)."""
    X = np.zeros((n, d))
    for r in range(n):
        a = int(rng.integers(0, d + 1))
        for j in range(d):
            if j < a:
                X[r, j] = rng.uniform(2 * tau, 6 * tau)
            elif j == a:
                X[r, j] = rng.uniform(0, 2 * tau)
            else:
                X[r, j] = rng.uniform(0, tau)
        if rng.random() < boundary_fraction:
            if a < d:
                X[r, a] = [0.0, tau, 2 * tau][int(rng.integers(0, 3))]
            if a + 1 < d and rng.random() < 0.5:
                X[r, a + 1] = tau
            if a > 0 and rng.random() < 0.5:
                X[r, a - 1] = [2 * tau, 6 * tau][int(rng.integers(0, 2))]
        X[r] *= rng.choice([-1.0, 1.0], d)
    return X


DIMS = (2, 3, 5, 10)


def _octopus_dense(name, what):
    def run(subject: Subject, ctx: Context):
        from ..simulators.saddle import Octopus

        rows = []
        n = 60 if ctx.quick else 300
        for pi, (L, gamma, tau) in enumerate(_params(ctx, name, 2)):
            M = Octopus(L, gamma, tau)
            for d in DIMS:
                X = points_in_D(ctx.rng(f"{name}/{pi}/{d}"), n, d, tau)
                got = np.asarray(subject.fn(X, L, gamma, tau))
                ref = getattr(M, what)(X)
                scale = max(float(np.max(np.abs(ref))), L * tau**2 * (what == "f"), 1.0)
                rows.append(error_result(name, "dense", f"vs octopus model ({what})", got, ref, TOL,
                                         scale=scale))
                # a point alone = its row of the batch: to the bit on NumPy and Numba; to 8 eps of
                # the scale on JAX (XLA 0.10 may contract a product into an FMA differently in a
                # vectorized loop than alone; the shape-() path's own errors are far larger)
                single = np.asarray(subject.fn(X[0], L, gamma, tau))
                off = np.max(np.abs(single - got[0]))
                if not off <= 8 * np.finfo(float).eps * scale or not np.all(np.isfinite(got)):
                    rows[-1].passed = False
                    rows[-1].detail = "single-point call differs from the batch or non-finite output"
        r = max(rows, key=lambda c: (not c.passed, c.stat))
        r.passed = all(c.passed for c in rows)
        r.detail = (r.detail if not r.passed else "") + (
            f" {len(rows)} (params, d) sets x {n} points of D, d in {DIMS}, ~30% on boundaries")
        return r

    return Check(name, "dense", f"vs octopus model ({what}) on D", run)


def _fd_check(name, of, scale_step=1e-6):
    """Central differences of the model's ``of`` (f or grad) vs the formula under test."""

    def run(subject: Subject, ctx: Context):
        from ..simulators.saddle import Octopus

        worst = 0.0
        worst_pt = None
        for pi, (L, gamma, tau) in enumerate(PARAMS[:4]):
            M = Octopus(L, gamma, tau)
            for d in (2, 3, 5):
                X = points_in_D(ctx.rng(f"fd/{name}/{pi}/{d}"), 20, d, tau, boundary_fraction=0.0)
                # keep away from region boundaries (one-sided pieces differ in 3rd derivatives)
                X = X[M.in_domain(X)]
                got = np.asarray(subject.fn(X, L, gamma, tau))
                for r in range(len(X)):
                    h = scale_step * tau
                    cols = []
                    for j in range(d):
                        xp, xm = X[r].copy(), X[r].copy()
                        xp[j] += h
                        xm[j] -= h
                        if not (M.in_domain(xp[None])[0] and M.in_domain(xm[None])[0]):
                            cols = None
                            break
                        fp = getattr(M, of)(xp[None])[0]
                        fm = getattr(M, of)(xm[None])[0]
                        cols.append((fp - fm) / (2 * h))
                    if cols is None:
                        continue
                    fd = np.array(cols).T if of == "grad" else np.array(cols)
                    scale = max(float(np.max(np.abs(fd))), 1.0)
                    err = float(np.max(np.abs(got[r] - fd))) / scale
                    if err > worst:
                        worst, worst_pt = err, (L, gamma, tau, X[r])
        tol = 1e-6
        return common.error_row(name, "finite_difference",
                                f"central differences of the model's {of}", worst, tol,
                                f"h = 1e-6 tau, tol {tol:.0e}; worst at {worst_pt}"[:300],
                                resolution=None)

    return Check(name, "finite_difference", f"central differences of the model's {of}", run)


# --------------------------------------------------------------------------------------------
# 50-digit evaluation of the SymPy pieces
# --------------------------------------------------------------------------------------------


def _mp_octopus(formula, x, L, gamma, tau, dps=50):
    """The formula's expression evaluated at 50 digits: roles computed in mpmath, template
    (or its role-basis coefficients) lambdified with mpmath."""
    import mpmath
    import sympy as sp

    from derivations import vectors as V
    from derivations.saddle import octopus as O

    with mpmath.workdps(dps):
        xm = [mpmath.mpf(float(t)) for t in x]
        Lm, gm, tm = (mpmath.mpf(float(t)) for t in (L, gamma, tau))
        d = len(xm)
        y = [abs(t) for t in xm]
        a = next((j for j in range(d) if y[j] < 2 * tm), d)
        uu = y[a] if a < d else mpmath.mpf(0)
        vv = y[a + 1] if a + 1 < d else mpmath.mpf(0)
        syms = (O.S_conv, O.S_tail, O.u, O.v, O.k, O.R_quad, O.R_spline, O.y_j, O.L, O.gamma, O.tau)

        def lam(e):
            return sp.lambdify(syms, e, "mpmath")

        conv_t, tail_t = lam(O.CONV_TERM), lam(O.TAIL_TERM)
        base = dict(u=uu, v=vv, k=mpmath.mpf(a), q=1 if uu <= tm else 0)

        def args(yj):
            return (sum(conv_t(0, 0, 0, 0, 0, 0, 0, y[j], Lm, gm, tm) for j in range(a)),
                    sum(tail_t(0, 0, 0, 0, 0, 0, 0, y[j], Lm, gm, tm) for j in range(a + 2, d)),
                    uu, vv, base["k"], base["q"], 1 - base["q"], yj, Lm, gm, tm)

        if formula.rank == 0:
            return float(lam(formula.expr)(*args(0)))
        parts = {b: c for c, b in V.components(formula.expr, formula.rank)}
        co = {str(b): lam(parts.get(b, sp.Integer(0))) for b in (O.GRAD_BASIS if formula.rank == 1 else O.HESS_BASIS)}
        s = [mpmath.sign(t) for t in xm]
        if formula.rank == 1:
            g = []
            for j in range(d):
                role = "e_conv" if j < a else "e_act" if j == a else "e_next" if j == a + 1 else "e_tail"
                g.append(float(s[j] * co[role](*args(y[j]))))
            return np.array(g)
        H = np.zeros((d, d))
        for j in range(d):
            role = "H_conv" if j < a else "H_aa" if j == a else "H_nn" if j == a + 1 else "H_tail"
            H[j, j] = float(co[role](*args(y[j])))
        if a + 1 < d:
            H[a, a + 1] = H[a + 1, a] = float(s[a] * s[a + 1] * co["H_an"](*args(0)))
        return H


def _octopus_mpmath(name):
    def run(subject: Subject, ctx: Context):
        worst, where = 0.0, None
        for pi, (L, gamma, tau) in enumerate(PARAMS[:3]):
            for d in (2, 3, 4):
                X = points_in_D(ctx.rng(f"mp/{name}/{pi}/{d}"), 8, d, tau)
                got = np.asarray(subject.fn(X, L, gamma, tau))
                for r in range(len(X)):
                    ref = _mp_octopus(subject.formula, X[r], L, gamma, tau)
                    scale = max(float(np.max(np.abs(ref))), L * tau**2 if name == "saddle.f" else 1.0)
                    err = float(np.max(np.abs(got[r] - ref))) / scale
                    if err > worst:
                        worst, where = err, (L, gamma, tau, X[r].round(4).tolist())
        return common.error_row(name, "mpmath", "float64 vs 50 digits", worst, 1e-12,
                                f"72 points, d in (2,3,4); worst at {where}"[:300], resolution=None)

    return Check(name, "mpmath", "float64 vs 50 digits", run, independent=False)


# --------------------------------------------------------------------------------------------
# Symbolic proofs on the template: C2, evenness, Lemma 7.1
# --------------------------------------------------------------------------------------------


def _c2_proof(subject: Subject, ctx: Context):
    import sympy as sp

    from derivations.saddle import octopus as O

    F = subject.formula.expr
    checked, bad = 0, []
    for d in (2, 3):
        xs = O.coordinates(d)
        pieces = {r: sp.expand(O.tube_piece(F, d, *r, xs=xs)) for r in O.regions(d)}
        for A, B, idx, val in O.interfaces(d):
            diff = pieces[A] - pieces[B]
            exprs = [diff] + [sp.diff(diff, t) for t in xs] + [
                sp.diff(diff, s, t) for i, s in enumerate(xs) for t in xs[i:]]
            for e in exprs:
                checked += 1
                if sp.simplify(sp.expand(e.subs(xs[idx], val))) != 0:
                    bad.append(f"d={d} {A}|{B} at x{idx + 1}={val}")
                    break
        # evenness in every coordinate that lives in [-tau, tau] (mirror to the octopus)
        for (i, p), P in pieces.items():
            for j in range(i - 1, d):
                if j == i - 1 and p == 2:
                    continue  # active coordinate of a spline piece lives in [tau, 2 tau]
                checked += 1
                if sp.expand(P - P.subs(xs[j], -xs[j])) != 0:
                    bad.append(f"d={d} region {(i, p)} not even in x{j + 1}")
    return common.failures_row(
        "saddle.f", "C2 across every region boundary (d = 2, 3) + evenness", bad,
        "symbolic in L, gamma, tau", stat_name="count", resolution=None,
        detail=(f"{checked} identities (value, gradient, Hessian at x_i = tau and 2 tau; "
                f"evenness in |x_j| <= tau coordinates)" + (f"; failing: {bad[:3]}" if bad else "")))


def _lemma71(subject: Subject, ctx: Context):
    """Stationary points of every quadratic piece (solve grad = 0) and their Hessian spectra;
    none in the spline pieces (dF/dx_i <= p <= -2 gamma tau < 0, proved by the saddle.g check)."""
    import sympy as sp

    from derivations.saddle import connectors as C
    from derivations.saddle import octopus as O

    F = subject.formula.expr
    nu = C.nu()
    bad, found = [], []
    for d in (2, 3):
        xs = O.coordinates(d)
        for i in range(1, d + 2):
            P = O.tube_piece(F, d, i, 1, xs=xs)
            sols = sp.solve([sp.diff(P, t) for t in xs], xs, dict=True)
            expected = [4 * C.tau] * (i - 1) + [0] * (d - i + 1)
            if len(sols) != 1 or any(sp.simplify(sols[0].get(t, t) - e) != 0 for t, e in zip(xs, expected)):
                bad.append(f"d={d} piece ({i},1): stationary points {sols}")
                continue
            pt = {t: e for t, e in zip(xs, expected)}
            H = sp.hessian(P, xs).subs(pt)
            eig = sorted(sp.simplify(ev) for ev, m in H.eigenvals().items() for _ in range(m))
            want = sorted([-2 * C.gamma] * (i <= d) + [2 * C.L] * (d - (i <= d)), key=sp.default_sort_key)
            if sorted(eig, key=sp.default_sort_key) != want:
                bad.append(f"d={d} piece ({i},1): eigenvalues {eig}")
            val = sp.simplify(P.subs(pt) + (i - 1) * nu)
            if val != 0:
                bad.append(f"d={d} piece ({i},1): f = {P.subs(pt)}")
            found.append((d, i, eig))
    return common.failures_row(
        "saddle.f", "Lemma 7.1: stationary points and Hessian spectra (d = 2, 3)", bad,
        "d saddles + 1 minimum", stat_name="count", resolution=None,
        detail=("saddle k at (4tau,..,4tau,0,..,0) with eigenvalues {-2 gamma, 2L x (d-1)} and "
                "f = -(k-1) nu; minimum (4tau,..,4tau) with {2L x d}, f = -d nu"
                if not bad else "; ".join(bad[:3])))


# --------------------------------------------------------------------------------------------
# Smoothness constant and the experiments' step size
# --------------------------------------------------------------------------------------------


def lipschitz_constant(hess, L, gamma, tau, n=801, m=401, refine=True):
    """``sup ||hess||_op`` over D (d = 2 suffices: the Hessian is block diagonal with one 2x2
    (active, next) block and 2L / -2 gamma elsewhere).  Dense grid on the connector region,
    refined by a bounded local search; returns (ell, point)."""
    X, Y = _grid_2d(tau, n, m)
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    H = hess(pts, L, gamma, tau)
    norms = np.max(np.abs(np.linalg.eigvalsh(H)), axis=1)
    j = int(np.argmax(norms))
    best, where = float(norms[j]), pts[j]
    if refine:
        from scipy.optimize import minimize

        def neg(z):
            z = np.clip(z, [tau, 0], [2 * tau, tau])
            return -float(np.max(np.abs(np.linalg.eigvalsh(hess(z[None], L, gamma, tau)[0]))))

        res = minimize(neg, where, method="L-BFGS-B", bounds=[(tau, 2 * tau), (0, tau)])
        if -res.fun > best:
            best, where = -float(res.fun), res.x
    return max(best, 2 * L, 2 * gamma), where


def _lipschitz(subject: Subject, ctx: Context):
    from ..simulators.saddle import Octopus

    rows = []
    for L in (1.0, 1.5, 2.0, E, 3.0):
        M = Octopus(L, 1.0, E)
        got, where = lipschitz_constant(subject.fn, L, 1.0, E, 201, 101, refine=False)
        ref, _ = lipschitz_constant(lambda P, *a: M.hessian(P).astype(float), L, 1.0, E, 201, 101,
                                    refine=False)
        rows.append(error_result("saddle.hessian", "dense", "gradient-Lipschitz constant vs model",
                                 got, ref, 1e-10, detail=f"L={L:g}: ell={got:.6f}"))
    return common.worst_of(rows, " (201 x 101 grid on [tau,2tau]x[0,tau])")


#: ell = sup ||Hess f||_op at L = e on the grid of _step_vs_lipschitz (full, quick) (item 7).
STEP_PIN = {False: 34.66306396192829, True: 34.66306396192828}


def _step_vs_lipschitz(subject: Subject, ctx: Context):
    rows = []
    for L in (1.0, 1.5, 2.0, E, 3.0):
        ell, where = lipschitz_constant(subject.fn, L, 1.0, E, 401 if ctx.quick else 801,
                                        201 if ctx.quick else 401)
        rows.append((L, ell, where))
    L, ell, where = rows[3]
    eta = 1 / (4 * L)
    want = STEP_PIN[bool(ctx.quick)]
    pinned = eta * ell > 1 and abs(ell - want) <= 1e-9 * want
    return CheckResult(
        "saddle.hessian", "paper", "step 1/(4L) of sec. 7.5 vs eta <= 1/ell (Thms 7.1, 7.3)",
        eta, 1 / ell, eta * ell, "eta*ell", pinned, erratum=True, erratum_class="printed error",
        detail=(f"ell = sup||Hess f||_op = {ell:.5f} at (x_i, x_{{i+1}}) = ({where[0] / E:.4f} tau, "
                f"{where[1] / E:.4f} tau) for L = e, gamma = 1, tau = e; eta = 1/(4L) = {eta:.5f} > "
                f"1/ell = {1 / ell:.5f} (eta*ell = {eta * ell:.3f}); fine for Lemma 7.2 (eta <= 1/(2L)). "
                "ell for L = 1, 1.5, 2, e, 3: " + ", ".join(f"{r[1]:.4f}" for r in rows)
                + f"; pinned: ell(L = e) = {want!r} on this grid (rtol 1e-9)"
                + ("" if pinned else " -- EVIDENCE MOVED")))


# --------------------------------------------------------------------------------------------
# Escape ratio
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def measured_escape_ratio(L, gamma, eta, d=12, starts=5, seed=0):
    """Median of ``D_d / D_{d-1}`` over exact-GD runs from U[-1,1]^d (tau = e)."""
    from ..simulators.saddle_gd import gd_exact

    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(starts):
        run = gd_exact(rng.uniform(-1, 1, d), L, gamma, E, eta)
        D = run.per_saddle
        ratios.append(D[-1] / D[-2])
    return float(np.median(ratios)), float(np.ptp(ratios))


def _escape_sim(subject: Subject, ctx: Context):
    rows = []
    for L, gamma, eta in ((1.0, 1.0, 0.25), (E, 1.0, 1 / (4 * E)), (3.0, 1.0, 1 / 12), (1.5, 1.0, 1 / 30),
                          (E, 1.0, 1 / (20 * E)), (2.0, 0.5, 0.1)):
        meas, spread = measured_escape_ratio(L, gamma, eta)
        got = float(subject.fn(L, gamma, eta))
        rows.append(error_result("saddle.escape_ratio", "simulation", "vs exact GD escape times",
                                 got, meas, 1e-3, detail=f"L={L:.4g}, eta={eta:.4g}: {got:.5f} vs {meas:.5f}"))
    return common.worst_of(rows, " (median D_12/D_11 of 5 exact-GD runs, d = 12)")


def escape_recursion(pt: dict, saddles: int = 150, dps: int = 60) -> float:
    """``D_{k+1}/D_k`` from simulating the escape times, independent of the derivation.

    GD multipliers from one GD step (7.1) on the model's quadratic pieces (``L x^2`` tail,
    ``-gamma x^2`` at the saddle; derivative by mpmath); then saddle after saddle: the next
    coordinate shrank during all ``T`` steps so far and needs the smallest integer ``D`` of GD
    steps on the unstable piece to regain its level (log domain, 60 digits); ``T += D``.  The
    ratio of consecutive ``D`` converges like ``1/D`` (``D`` grows geometrically), so after 150
    saddles it is exact to far below float64."""
    import mpmath

    L, gamma, eta = (mpmath.mpf(float(pt[k])) for k in ("L", "gamma", "eta"))
    with mpmath.workdps(dps):
        def multiplier(piece):
            x0 = mpmath.mpf(1)
            return (x0 - eta * mpmath.diff(piece, x0)) / x0

        log_down = mpmath.log(multiplier(lambda x: L * x**2))
        log_up = mpmath.log(multiplier(lambda x: -gamma * x**2))
        T, D_prev, ratio = mpmath.mpf(1), None, None
        for _ in range(saddles):
            D = mpmath.ceil(-T * log_down / log_up)  # steps to undo T shrinking steps
            if D_prev is not None:
                ratio = D / D_prev
            T, D_prev = T + D, D
        return float(ratio)


def _escape_points():
    return [dict(L=L, gamma=g, eta=eta) for L, g, eta in (
        (1.0, 1.0, 0.25), (E, 1.0, 1 / (4 * E)), (3.0, 1.0, 1 / 12), (2.0, 0.5, 0.1),
        (1.5, 1.0, 1 / 30), (4.0, 0.25, 0.1))]


def _escape_limits(subject: Subject, ctx: Context):
    import sympy as sp

    from derivations.saddle import connectors as C
    from derivations.saddle import rates as R

    from sympy.codegen.cfunctions import log1p

    e = subject.formula.expr.replace(lambda a: isinstance(a, log1p),
                                     lambda a: sp.log(1 + a.args[0]))
    lim = sp.simplify(sp.limit(e, R.eta, 0, "+") - (C.L + C.gamma) / C.gamma)
    at = sp.simplify(e.subs(R.eta, 1 / (4 * C.L)) - (1 + sp.log(2) / sp.log(1 + C.gamma / (2 * C.L))))
    ok = lim == 0 and at == 0
    return common.proof_row("saddle.escape_ratio", "eta -> 0 limit and eta = 1/(4L) value", ok,
                            "(L+gamma)/gamma; 1 + ln2/ln(1+gamma/(2L))",
                            f"limit - (L+gamma)/gamma = {lim}; value at 1/(4L) - spec form = {at}",
                            failed="fails")


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------


def _scalar_points(names):
    def pts():
        out = []
        for L, gamma, tau in PARAMS:
            for s in (0.0, 0.137, 0.5, 0.91729, 1.0):
                pt = dict(x=tau * (1 + s), L=L, gamma=gamma, tau=tau, y=0.6 * tau, eta=1 / (5 * L))
                out.append({k: pt[k] for k in names})
        return out

    return pts


def _hermite_points():
    rng = np.random.default_rng(7)
    out = []
    for _ in range(20):
        y0 = float(rng.uniform(-2, 2))
        out.append(dict(y=y0 + float(rng.uniform(-0.5, 2)), y0=y0, y1=y0 + float(rng.uniform(0.2, 2)),
                        f0=float(rng.uniform(-3, 3)), f1=float(rng.uniform(-3, 3)),
                        df0=float(rng.uniform(-3, 3)), df1=float(rng.uniform(-3, 3))))
    return out


H = "saddle.hermite_cubic"
common.add(H, "dense", "vs scipy CubicHermiteSpline", _hermite_scipy)
register(common.mpmath_check(H, _hermite_points))
register(common.paper_check(H, _hermite_points))
common.add(H, "paper", "Theorem 7.4 monotonicity add-on", _hermite_monotone, independent=False)

for _q in ("p", "g1", "g2"):
    register(_connector_check(f"saddle.{_q}", _q))
    register(common.mpmath_check(f"saddle.{_q}", _scalar_points(("x", "L", "gamma", "tau"))))
register(_bound_proof("saddle.p", "Lemma 7.4: g1' = p <= -2 gamma tau (proof)", _p_upper, "nonpositive"))
register(_lower_bound_erratum("saddle.p"))
register(_bound_proof("saddle.g2", "Lemma 7.4: g2 >= -gamma (proof)", _g2_lower, "nonnegative"))
register(_bound_proof("saddle.g2", "Lemma 7.4: g2' <= 0 (proof)", _g2_decreasing, "nonpositive"))
register(common.paper_check("saddle.g2", _scalar_points(("x", "L", "gamma", "tau"))))

common.add("saddle.g", "dense", "vs numerically solved connectors", _g_vs_model)
register(common.mpmath_check("saddle.g", _scalar_points(("x", "y", "L", "gamma", "tau"))))
common.add("saddle.g", "symbolic", "Lemma 7.4: dg/dx_i <= -2 gamma tau (proof)", _g_dx_proof)
common.add("saddle.g", "dense", "Lemma 7.4: dg/dx_{i+1} >= -2 gamma x_{i+1}", _dy_bound)
register(_lower_bound_erratum("saddle.g"))

common.add("saddle.nu", "dense", "vs -g1(2 tau) + 4 L tau^2 of solved connectors", _nu_vs_model)
common.add("saddle.nu", "dense", "continuity of f at x_i = 2 tau", _nu_continuity)
register(common.mpmath_check("saddle.nu", _scalar_points(("L", "gamma", "tau"))))

register(_octopus_dense("saddle.f", "f"))
register(consistency(Check("saddle.f", "symbolic",
                           "C2 across every region boundary (d = 2, 3) + evenness", _c2_proof),
                     "regions, interfaces and pieces from the derivation's own octopus module"))
register(consistency(Check("saddle.f", "symbolic", "Lemma 7.1 (d = 2, 3)", _lemma71),
                     "pieces and connectors from the derivation's own octopus module"))
register(_octopus_mpmath("saddle.f"))
register(_octopus_dense("saddle.grad", "grad"))
register(_fd_check("saddle.grad", "f"))
register(_octopus_mpmath("saddle.grad"))
register(_octopus_dense("saddle.hessian", "hessian"))
register(_fd_check("saddle.hessian", "grad"))
common.add("saddle.hessian", "dense", "gradient-Lipschitz constant vs model", _lipschitz)
common.add("saddle.hessian", "paper", "step 1/(4L) vs 1/ell", _step_vs_lipschitz, independent=False)
register(_octopus_mpmath("saddle.hessian"))

common.add("saddle.escape_ratio", "simulation", "vs exact GD escape times", _escape_sim)
# compares with typed-in forms (the printed bound, the spec's eta = 1/(4L) value): a regression
# and consistency proof, not counted as independent when mutants are scored
common.add("saddle.escape_ratio", "symbolic", "eta -> 0 limit and eta = 1/(4L) value",
           _escape_limits, independent=False)
register(common.mpmath_check("saddle.escape_ratio", _scalar_points(("L", "gamma", "eta"))))
common.add_reference(
    "saddle.escape_ratio", _escape_points, escape_recursion, tol=1e-12,
    label="vs escape-time recursion of the GD map (mpmath)",
    method="GD steps on the model's quadratic pieces at 60 digits, 150 saddles of integer escape "
           "times",
    paper=dict(klass="loose-but-valid bound", method="escape-time recursion of the GD map (mpmath)",
               note="(L+gamma)/gamma is the eta -> 0 limit and a lower bound for every 0 < eta < "
                    "1/(2L) (log(1+z) <= z); the proof's inequality t2 >= ((L+gamma)/gamma) t1 "
                    "holds"))


# --------------------------------------------------------------------------------------------
# Warm-up examples of sec. 7.3 (issue 24 item 9): escape times vs plain GD on the model
# --------------------------------------------------------------------------------------------

WARMUP_ETAS = (0.25, 0.1, 0.4)


def _band_sim(subject: Subject, ctx: Context):
    """The first integer step with |x2| > 1 of plain GD on x1^2 - x2^2 (the simulator) must be
    floor(T) + 1: ``T < N <= T + 1`` at every start (x2 from 1e-1 to 1e-200, three steps)."""
    from ..simulators import saddle_warmup as W

    worst, bad, n = 0.0, [], 0
    for eta in WARMUP_ETAS:
        xs = np.logspace(-1, -200, 23)
        N = W.escape_steps_batch(xs, eta)
        T = np.asarray(subject.fn(xs, eta), float)
        gap = N - T  # in (0, 1] iff T is right to within its rounding to steps
        n += len(xs)
        worst = max(worst, float(np.max(np.abs(gap - 0.5))))
        bad += [f"eta={eta}, x2={x:.1e}: N={k}, T={t:.4f}" for x, k, t in zip(xs, N, T)
                if not (0 < k - t <= 1)]
    return CheckResult("saddle.band_escape_time", "simulation",
                       "vs plain GD on x1^2 - x2^2 (first step with |x2| > 1)",
                       worst, 0.5, worst, "|N - T - 1/2|", not bad, resolution=1e-3,
                       detail=(f"{n} starts (x2 = 1e-1 .. 1e-200, eta in {WARMUP_ETAS}); passes iff "
                               "T < N <= T + 1 everywhere (resolves a relative error ~1/T, "
                               "T up to 1.1e3)" + ("; " + "; ".join(bad[:3]) if bad else "")))


def _band_bound(subject: Subject, ctx: Context):
    """sec. 7.3's claim: a start uniform in the band (the derived half-width; at eta = 1/4 the
    printed (3/2)^-exp(1/eps), see the paper row) needs at least exp(1/eps) steps; measured by
    plain GD on the model, with its slack (a half-width too wide by 1e-3 relative already lets
    an edge start escape in fewer steps at eps = 0.2, whose slack is 0.004)."""
    from ..simulators import saddle_warmup as W

    rng = np.random.default_rng(73)
    rows, fails = [], []
    for eps in (0.5, 0.3, 0.2):
        half = float(subject.fn(eps, 0.25))  # the derived band
        x2 = rng.uniform(-half, half, 300)
        x2[0] = half
        N = W.escape_steps_batch(x2, 0.25)
        need = math.exp(1 / eps)
        slack = float(N.min()) / need - 1
        rows.append(f"eps={eps}: min N = {int(N.min())} vs exp(1/eps) = {need:.2f} (slack {slack:+.3f})")
        if N.min() < need:
            fails.append(eps)
    return CheckResult("saddle.band_halfwidth", "simulation",
                       "sec. 7.3: >= exp(1/eps) steps from the band (plain GD; slack)",
                       0.0, 0.0, 0.0, "slack", not fails, resolution=0.0,
                       detail="; ".join(rows) + "; 300 starts per eps uniform in the band, the "
                              "edge included" + (f"; FAILS: {fails}" if fails else ""))


#: The O(1) steps the connector and the offsets (-2, -1) add to the leading-order far-away
#: escape time: N - T stays within FAR_WINDOW of its median over R = 8 .. 256.
FAR_WINDOW = 1.0


def _far_sim(subject: Subject, ctx: Context):
    """Plain GD on eq. (7.2) with the C^2 quintic connector (the simulator) from x1 = -R: the
    escape step N minus the leading-order T must not drift with R (a wrong slope in R shows
    as a drift of ~R x its error), and its offset is reported."""
    from ..simulators import saddle_warmup as W

    F = W.FarAway()
    worst, rows, bad = 0.0, [], []
    for eta in WARMUP_ETAS[:2]:
        for x2 in (1.0, 0.3, 1e-3):
            Rs = (8, 16, 32, 64, 128, 256)
            N = np.array([W.escape_steps(F.grad, -float(R), x2, eta) for R in Rs])
            T = np.array([float(subject.fn(float(R), x2, eta)) for R in Rs])
            d = N - T
            spread = float(np.max(np.abs(d - np.median(d))))
            worst = max(worst, spread)
            rows.append(f"eta={eta}, x2={x2:g}: N - T = {np.median(d):+.2f} +- {spread:.2f}")
            if spread > FAR_WINDOW:
                bad.append(rows[-1])
    return CheckResult("saddle.far_escape_time", "simulation",
                       "vs plain GD on eq. (7.2) with a C^2 connector (R = 8 .. 256)",
                       worst, 0.0, worst, "spread of N - T", not bad, resolution=FAR_WINDOW / 256,
                       detail=("; ".join(rows) + f"; passes iff N - T stays within {FAR_WINDOW} "
                               "of its median (the connector adds O(1) steps; a relative error e "
                               "of T drifts by ~e T, T up to 1.5e3)"))


def _warmup_points(names, pts):
    return lambda: [dict(zip(names, map(np.float64, p))) for p in pts]


common.add("saddle.band_escape_time", "simulation", "vs plain GD on x1^2 - x2^2", _band_sim)
register(common.mpmath_check("saddle.band_escape_time", _warmup_points(
    ("x2", "eta"), [(0.5, 0.25), (1e-100, 0.1), (1.0, 0.4), (1e-300, 1e-12)])))
common.add("saddle.band_halfwidth", "simulation", "sec. 7.3 thin band: >= exp(1/eps) steps",
           _band_bound)
register(common.mpmath_check("saddle.band_halfwidth", _warmup_points(
    ("eps", "eta"), [(0.5, 0.25), (0.3, 0.1), (1.0, 0.4), (0.2, 0.25)])))
register(common.paper_check("saddle.band_halfwidth", _warmup_points(
    ("eps", "eta"), [(0.5, 0.25), (0.3, 0.25), (1.0, 0.25)])))
common.add("saddle.far_escape_time", "simulation", "vs plain GD on eq. (7.2)", _far_sim)
register(common.mpmath_check("saddle.far_escape_time", _warmup_points(
    ("R", "x2", "eta"), [(10.0, 0.3, 0.25), (256.0, 1e-3, 0.1), (8.0, 1.0, 0.4)])))
register(common.paper_check("saddle.far_escape_time", _warmup_points(
    ("R", "x2", "eta"), [(10.0, 0.3, 0.25), (100.0, 1e-3, 0.25), (8.0, 1.0, 0.25)])))


# --------------------------------------------------------------------------------------------
# Theorem 7.3's constants: B (bound of |f|) and rho (Hessian Lipschitz) as well as ell
# --------------------------------------------------------------------------------------------

#: Directions of the difference quotients of the Hessian (the 3-tensor's norm is a sup over
#: unit directions u of ||D Hess[u]||_op).
RHO_DIRECTIONS = 12


def hessian_lipschitz(hess, L, gamma, tau, n=61, m=31):
    """``rho = sup ||Hess f(p + h u) - Hess f(p)||_op / h`` over the connector block
    ``[tau, 2 tau] x [0, tau]`` (d = 2 suffices: elsewhere the pieces are quadratic, their
    Hessians constant, and the block structure repeats per saddle), ``RHO_DIRECTIONS`` unit
    directions ``u``, step ``h = tau/(4 n)``.  Returns (rho, point)."""
    X, Y = _grid_2d(tau, n, m)
    P = np.stack([X.ravel(), Y.ravel()], axis=1)
    h = tau / (4 * n)
    H0 = hess(P, L, gamma, tau)
    best, where = 0.0, P[0]
    for k in range(RHO_DIRECTIONS):
        th = math.pi * k / RHO_DIRECTIONS
        Q = P + h * np.array([math.cos(th), math.sin(th)])
        ok = (Q[:, 0] <= 2 * tau) & (Q[:, 1] <= tau) & (Q[:, 1] >= 0)
        D = (hess(Q[ok], L, gamma, tau) - H0[ok]) / h
        nrm = np.max(np.abs(np.linalg.eigvalsh(D)), axis=1)
        j = int(np.argmax(nrm))
        if nrm[j] > best:
            best, where = float(nrm[j]), Q[ok][j]
    return best, where


def _rho(subject: Subject, ctx: Context):
    """Theorem 7.3: rho (Hessian Lipschitz) of the construction, from the emitted Hessian vs
    the same difference quotients of the independent model's Hessian."""
    from ..simulators.saddle import Octopus

    rows, vals = [], []
    for L in (1.0, E, 3.0):
        M = Octopus(L, 1.0, E)
        got, where = hessian_lipschitz(subject.fn, L, 1.0, E)
        ref, _ = hessian_lipschitz(lambda P, *a: M.hessian(P).astype(float), L, 1.0, E)
        rows.append(error_result("saddle.hessian", "dense", "Theorem 7.3: rho vs model", got, ref,
                                 1e-8, detail=f"L={L:g}: rho={got:.6g}"))
        vals.append(got)
    return common.worst_of(rows, (
        f" (gamma = 1, tau = e; {RHO_DIRECTIONS} directions, step tau/244, 61 x 31 grid on the "
        "connector block (a sampled sup); the same quotients of the model's Hessian; independent "
        "of d: the pieces are quadratic outside the blocks)"))


def _bound_B(subject: Subject, ctx: Context):
    """Theorem 7.3: B = sup_D |f| (a sampled sup: a lower estimate) for d = 2, 3, 5, 10, from the
    emitted f vs the independent model at the same points; the growth in d is reported."""
    from ..simulators.saddle import Octopus

    M = Octopus(E, 1.0, E)
    rng = np.random.default_rng(77)
    rows, Bs = [], []
    for d in (2, 3, 5, 10):
        X = points_in_D(rng, 1000, d, E, boundary_fraction=0.5)
        got = np.asarray(subject.fn(X, E, 1.0, E), float)
        ref = np.asarray(M.f(X), float)
        err = float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-300))
        B = float(np.max(np.abs(got)))
        Bs.append(B)
        rows.append((d, B, err))
    worst = max(r[2] for r in rows)
    slope = np.polyfit([r[0] for r in rows], Bs, 1)[0]
    return common.error_row(
        "saddle.f", "dense", "Theorem 7.3: B = sup_D |f| (sampled) vs model", worst, 1e-12,
        ("; ".join(f"d={d}: B >= {B:.6g}" for d, B, _ in rows)
         + f" (L = e, gamma = 1, tau = e; 1000 points of D per d, half on boundaries; "
         f"max |f - model| / B = {worst:.1e}); B grows ~{slope:.3g} per dimension "
         "(linear: poly(d) as Theorem 7.3 states)"))


common.add("saddle.hessian", "dense", "Theorem 7.3: rho (Hessian Lipschitz) vs model", _rho)
common.add("saddle.f", "dense", "Theorem 7.3: B = sup_D |f| vs model", _bound_B)


# --- 50-digit references of the escape times: starts that land exactly on |x2| = 1 ----------


def _inverse_step(grad2, y, eta):
    """The start ``x`` whose GD step on the model's x2-coordinate lands on ``y``: the step
    ``x -> x - eta grad2(x)`` of the simulator's gradient is measured at two points (50 digits),
    found linear (``m x``), and inverted: ``x = y/m``."""
    import mpmath as mp

    a, b = mp.mpf(1), mp.mpf(3)
    ma, mb = (a - eta * grad2(a)) / a, (b - eta * grad2(b)) / b
    if abs(ma - mb) > mp.mpf(10) ** (-40):
        raise ArithmeticError("the model's GD step is not linear in x2")
    return y / ma


def _landing_start(k_up, eta, k_down=0):
    """``x2_0`` from which plain GD on the model takes ``k_down`` steps on the slope piece of
    (7.2) (x2-gradient ``2 x2``) and then ``k_up`` steps on the saddle piece (``-2 x2``) to land
    exactly on ``x2 = 1``: the inverse GD steps of the simulator's gradients at 50 digits."""
    import mpmath as mp

    from ..simulators import saddle_warmup as W

    with mp.workdps(50):
        e = mp.mpf(eta)
        y = mp.mpf(1)
        for _ in range(k_up):
            y = _inverse_step(lambda x: W.band_grad(0, x)[1], y, e)
        for _ in range(k_down):
            y = _inverse_step(lambda x: 2 * x, y, e)  # d/dx2 of x2^2 (eq. (7.2), x1 < -2)
        return y


def _band_ref_points():
    return [{"x2": np.float64(0), "eta": np.float64(eta), "k": k}
            for eta in (0.25, 0.1, 0.4) for k in (1, 7, 60, 400)]


def _band_reference(subject: Subject, ctx: Context):
    """T(x2_k) = k at the starts x2_k that land exactly on 1 after k steps (50-digit inverse
    GD of the model): resolves ~1e-13 of T."""
    w = common.Worst()
    for pt in _band_ref_points():
        x2 = float(_landing_start(pt["k"], float(pt["eta"])))
        got = float(subject.fn(x2, pt["eta"]))
        w.see(abs(got - pt["k"]) / pt["k"], f"eta={float(pt['eta'])}, k={pt['k']}: T={got!r}")
    return common.error_row(
        "saddle.band_escape_time", "reference",
        "T = k at starts landing on 1 after k steps (50-digit inverse GD)", w.err, 1e-10,
        f"k in 1, 7, 60, 400, eta in 0.25, 0.1, 0.4; worst {w.where}; tol 1e-10")


def _halfwidth_reference(subject: Subject, ctx: Context):
    """w(eps) = x2_k for eps = 1/log k (exp(1/eps) = k steps exactly): 50-digit inverse GD."""
    w = common.Worst()
    for eta in (0.25, 0.1):
        for k in (3, 10, 148):
            ref = float(_landing_start(k, eta))
            got = float(subject.fn(1 / math.log(k), eta))
            w.see(abs(got - ref) / ref, f"eta={eta}, k={k}: {got!r} vs {ref!r}")
    return common.error_row(
        "saddle.band_halfwidth", "reference",
        "w(1/log k) = start landing on 1 after k steps (50-digit inverse GD)", w.err, 1e-10,
        f"k in 3, 10, 148; worst {w.where}; tol 1e-10")


def _far_reference(subject: Subject, ctx: Context):
    """Leading-order model (the slope piece for t1 = R/(4 eta) steps, then the saddle piece):
    T(R, x2_0) = t1 + k at the start that lands on 1 (50-digit inverse GD of both pieces)."""
    w = common.Worst()
    # k large enough that x2_0 <= 1 (the start is in the strip)
    for eta, t1, k in ((0.25, 8, 20), (0.25, 64, 120), (0.1, 20, 40), (0.1, 100, 180), (0.4, 5, 20)):
        R = 4 * eta * t1
        x2 = float(_landing_start(k, eta, k_down=t1))
        got = float(subject.fn(R, x2, eta))
        w.see(abs(got - (t1 + k)) / (t1 + k), f"eta={eta}, t1={t1}, k={k}: T={got!r}")
    return common.error_row(
        "saddle.far_escape_time", "reference",
        "T = t1 + k on the leading-order model (50-digit inverse GD)", w.err, 1e-10,
        (f"R = 4 eta t1; worst {w.where}; tol 1e-10 (the connector's O(1) steps are measured by "
         "the simulation row)"))


common.add("saddle.band_escape_time", "reference", "T = k at landing starts", _band_reference)
common.add("saddle.band_halfwidth", "reference", "w at exp(1/eps) = k", _halfwidth_reference)
common.add("saddle.far_escape_time", "reference", "T = t1 + k (leading-order model)",
           _far_reference)
