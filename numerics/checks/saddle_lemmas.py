"""Checks of thesis ch. 7's Corollaries 7.1-7.2 and Lemmas 7.1, 7.3 (seed 004; issue 24), run with
the ``saddle`` family.  Every row runs the independent model (:mod:`numerics.simulators.saddle`).

* ``saddle.cor72_ell`` / ``cor72_rho`` -- ``g(x) = f((x - z)/R)``: second (third) derivatives
  of ``g`` by central differences of the model's ``f`` composed with the map, against ``ell/R^2``
  (``rho/R^3``) times the model's at ``h(x)``; ``B_g = B`` is the identity of values;
* ``saddle.cor72_step`` -- GD with step ``eta`` on ``g`` (gradient by central differences of
  ``f o h``) mapped by ``h`` equals GD on ``f`` with the derived step;
* Lemma 7.1 (``saddle.f``) -- a numeric search for stationary points: Newton (SciPy ``root``
  with the model's gradient and Hessian) from random points of D, clustered, against the
  derived list (saddles ``(+-4 tau, .., +-4 tau, 0, .., 0)`` and minima ``(+-4 tau)^d``);
* Lemma 7.3 (``saddle.f``) -- exact GD from starts in ``[-1, 1]^d`` in every orthant: the last
  coordinate stays below ``2 tau`` for ``T < (1/(2 eta gamma))((L + gamma)/gamma)^(d-1)``
  (slack: bound / measured escape time, fails above 1);
* Corollary 7.1 (``saddle.hessian``) -- along float64 GD paths (d = 3) until the last escape, no
  iterate is an eps-SOSP (``|grad| <= eps`` and ``lambda_min >= -sqrt(rho eps)``) for ``eps =
  2 gamma^2 / rho`` (below ``4 gamma^2/rho``, the saddles' threshold).
"""
from __future__ import annotations

import importlib.util

import math

import numpy as np

from ..rows import Check, CheckResult
from . import register, register_public

E = math.e


def _model():
    from ..simulators.saddle import Octopus

    return Octopus(E, 1.0, E)


def _fd_hessian(fun, x, h):
    d = len(x)
    H = np.empty((d, d))
    I = np.eye(d) * h
    for i in range(d):
        for j in range(i, d):
            H[i, j] = H[j, i] = (fun(x + I[i] + I[j]) - fun(x + I[i] - I[j]) - fun(x - I[i] + I[j])
                                 + fun(x - I[i] - I[j])) / (4 * h * h)
    return H


def _fd_hessian4(fun, x, h):
    """Richardson extrapolation of :func:`_fd_hessian` (fourth order): ``(4 H(h/2) - H(h))/3``."""
    return (4 * _fd_hessian(fun, x, h / 2) - _fd_hessian(fun, x, h)) / 3


def _interior(Y, margin=0.05):
    """Rows of ``Y`` with every |coordinate| at least ``margin`` from 0, tau, 2 tau, 6 tau (the
    stencils stay inside one polynomial piece)."""
    a = np.abs(Y)[..., None]
    return np.all(np.abs(a - np.array([0.0, E, 2 * E, 6 * E])) >= margin, axis=(-1, -2))


def _cube_points(rng, n, d, z, R):
    from .saddle import points_in_D

    Y = points_in_D(rng, 4 * n, d, E, boundary_fraction=0.0)
    Y = Y[_interior(Y)][:n]
    return z + R * Y, Y


def _cor72_ell(subject, ctx):
    M = _model()
    rng = np.random.default_rng(72)
    worst, parts = 0.0, []
    for R, z in ((0.1, np.array([1.0, -2.0])), (3.0, np.array([0.5, 0.5])), (20.0, np.zeros(2))):
        X, Y = _cube_points(rng, 8, 2, z, R)
        g = lambda x: float(M.f(((x - z) / R)[None])[0])  # noqa: E731
        for x, y in zip(X, Y):
            Hg = _fd_hessian4(g, x, 4e-3 * R)
            Hf = M.hessian(y[None])[0]
            ref = float(subject.fn(1.0, R)) * np.max(np.abs(np.linalg.eigvalsh(Hf)))
            got = np.max(np.abs(np.linalg.eigvalsh(Hg)))
            worst = max(worst, abs(got - ref) / abs(ref))
        parts.append(f"R={R}")
    return [CheckResult("saddle.cor72_ell", "finite_difference",
                        "||Hess g||_op by FD of f((x - z)/R) vs ell_g(1, R) ||Hess f||_op", worst,
                        0.0, worst, "rel", worst <= 2e-7, resolution=2e-7,
                        detail=f"8 points of the image of D per R ({', '.join(parts)}), d = 2, "
                               "L = e, gamma = 1, tau = e; B_g = B since g takes f's values")]


def _cor72_rho(subject, ctx):
    M = _model()
    rng = np.random.default_rng(73)
    worst = 0.0
    for R, z in ((0.5, np.array([1.0, -2.0])), (4.0, np.zeros(2))):
        X, Y = _cube_points(rng, 6, 2, z, R)
        g = lambda x: float(M.f(((x - z) / R)[None])[0])  # noqa: E731
        for x, y in zip(X, Y):
            u = np.array([0.6, 0.8]) * 3e-2 * R
            y2 = ((x + u - z) / R)[None]
            if not (M.in_domain(y2)[0] and _interior(y2)[0]):
                continue
            q_g = np.linalg.norm(_fd_hessian4(g, x + u, 4e-3 * R) - _fd_hessian4(g, x, 4e-3 * R), 2)
            q_f = np.linalg.norm(M.hessian(((x + u - z) / R)[None])[0] - M.hessian(y[None])[0], 2)
            q_g /= np.linalg.norm(u)
            q_f /= np.linalg.norm(u / R)
            ref = float(subject.fn(1.0, R)) * q_f
            if q_f > 1e-1:
                worst = max(worst, abs(q_g - ref) / abs(ref))
    return [CheckResult("saddle.cor72_rho", "finite_difference",
                        "Hessian-difference quotients of g (FD of f o h) vs rho_g(1, R) x f's",
                        worst, 0.0, worst, "rel", worst <= 3e-7, resolution=3e-7,
                        detail="R = 0.5, 4; pairs x, x + 0.03 R u in the image of D (stencils "
                               "inside one piece; Richardson FD); quotients "
                               "||Hess g(x') - Hess g(x)||/|x' - x| over the model's at h(x)")]


def _cor72_step(subject, ctx):
    M = _model()
    R, z, eta = 2.5, np.array([0.3, -0.7, 1.1]), 0.3
    rng = np.random.default_rng(74)
    worst = 0.0
    for _ in range(3):
        y = rng.uniform(-1, 1, 3)
        x = z + R * y
        g = lambda v: float(M.f(((v - z) / R)[None])[0])  # noqa: E731
        for _t in range(40):
            hh = 1e-5 * R
            grad_g = np.array([(g(x + hh * e) - g(x - hh * e)) / (2 * hh) for e in np.eye(3)])
            x = x - eta * grad_g
            y = y - float(subject.fn(eta, R)) * M.grad(y[None])[0]
            worst = max(worst, float(np.max(np.abs((x - z) / R - y))))
    return [CheckResult("saddle.cor72_step", "simulation",
                        "GD on g (FD gradient) mapped by h vs GD on f with eta_f", worst, 0.0,
                        worst, "abs", worst <= 1e-6, resolution=1e-6,
                        detail=f"R = {R}, eta = {eta} on g, 3 starts in the image of [-1,1]^3, "
                               "40 steps; max |h(x_t) - y_t|")]


# --- Lemma 7.1: numeric search for stationary points -------------------------------------------

def stationary_search(d, n_starts=300, seed=71):
    """Newton from random points of D on the model; returns the distinct stationary points found
    in D (rounded) with the number of negative Hessian eigenvalues."""
    from scipy.optimize import root

    from .saddle import points_in_D

    M = _model()
    rng = np.random.default_rng(seed)
    found = {}
    def grad(x):  # outside D (where f is not defined) a large residual pushes the solver back
        return M.grad(x[None])[0] if M.in_domain(x[None])[0] else np.full(d, 1e6)

    def hess(x):
        return M.hessian(x[None])[0] if M.in_domain(x[None])[0] else np.eye(d)

    for x0 in points_in_D(rng, n_starts, d, E, boundary_fraction=0.0):
        sol = root(grad, x0, jac=hess, method="hybr", tol=1e-13)
        x = sol.x
        if not sol.success or not M.in_domain(x[None])[0]:
            continue
        if np.linalg.norm(M.grad(x[None])[0]) > 1e-9:
            continue
        key = tuple(np.round(x, 6) + 0.0)
        neg = int(np.sum(np.linalg.eigvalsh(M.hessian(x[None])[0]) < 0))
        found[key] = neg
    return found


def derived_list(d):
    """Lemma 7.1 mirrored to the octopus: k converged coordinates at +-4 tau (k < d: a saddle
    with one negative eigenvalue; k = d: a minimum)."""
    import itertools

    out = {}
    for k in range(d + 1):
        for signs in itertools.product((-1, 1), repeat=k):
            pt = [4 * E * s for s in signs] + [0.0] * (d - k)
            out[tuple(np.round(pt, 6) + 0.0)] = 1 if k < d else 0
    return out


def _lemma71_search(subject, ctx, extra=None):
    bad, parts = [], []
    for d in (2, 3):
        found = stationary_search(d, 80)
        want = derived_list(d) if extra is None else extra(d)
        missing = set(want) - set(found)
        spurious = set(found) - set(want)
        wrong = [k for k in set(found) & set(want) if found[k] != want[k]]
        parts.append(f"d={d}: {len(found)} found, {len(want)} derived")
        bad += [f"d={d} missing {m}" for m in list(missing)[:2]]
        bad += [f"d={d} spurious {s}" for s in list(spurious)[:2]]
        bad += [f"d={d} index {w}" for w in wrong[:2]]
    return [CheckResult("saddle.f", "simulation",
                        "Newton search for stationary points vs the derived list (Lem. 7.1)",
                        float(len(bad)), 0.0, float(len(bad)), "count", not bad,
                        detail=("; ".join(parts) + " (Newton on the model from 80 random "
                                "points of D; minima (+-4tau)^d, saddles with one negative "
                                "eigenvalue; none elsewhere)" + ("" if not bad else
                                                                 "; " + "; ".join(bad[:4]))))]


# --- Lemma 7.3: GD from other orthants of [-1, 1]^d ---------------------------------------------

def lemma73_runs(dims=(3, 4), starts=4, seed=73):
    from ..simulators.saddle_gd import default_eta, gd_exact

    M = _model()
    rng = np.random.default_rng(seed)
    eta = default_eta(E)
    out = []
    for d in dims:
        bound = (1 / (2 * eta)) * ((E + 1.0) / 1.0) ** (d - 1)
        for _ in range(starts):
            x0 = rng.uniform(0, 1, d) * rng.choice([-1.0, 1.0], d)
            if np.all(x0 > 0):
                x0[0] = -x0[0]
            r = gd_exact(x0, E, 1.0, E, eta, model=M)
            out.append((d, float(r.escape[-1]), bound, bool(r.left_domain)))
    return out


def _lemma73(subject, ctx, scale=1.0):
    runs = lemma73_runs()
    slack = max(scale * b / T for _, T, b, _ in runs)
    left = any(r[3] for r in runs)
    return [CheckResult("saddle.f", "slack",
                        "Lemma 7.3: bound / escape time of x_d, starts in other orthants",
                        slack, 1.0, slack, "max bound/T_d", bool(slack <= 1 and not left),
                        detail=(f"exact GD (eta = 1/(4L), L = e, gamma = 1, tau = e) from "
                                f"{len(runs)} starts of [-1,1]^d with a negative coordinate, d = 3, "
                                "4: |x_d| < 2 tau until T_d >= (1/(2 eta gamma))((L + gamma)/"
                                "gamma)^(d-1) (Lemma 7.2's bound, mirrored); T_d / bound: "
                                + ", ".join(f"{T / b:.2f}" for _, T, b, _ in runs)
                                + "; GD stayed in D" + ("" if not left else " -- LEFT D")))]


# --- Corollary 7.1: no eps-SOSP on the GD path -----------------------------------------------

def cor71_visits(eps, d=3, starts=3, seed=17, rho=101.6):
    """Iterates of float64 GD (before the last coordinate escapes) that are eps-SOSPs."""
    from ..simulators.saddle_gd import default_eta, gd_exact, gd_float64

    M = _model()
    rng = np.random.default_rng(seed)
    eta = default_eta(E)
    visits, steps = 0, 0
    for _ in range(starts):
        x0 = rng.uniform(-1, 1, d)
        T = int(gd_exact(x0, E, 1.0, E, eta, model=M).escape[-1])
        path = gd_float64(x0, E, 1.0, E, eta, steps=T - 1, model=M)
        G = np.linalg.norm(M.grad(path), axis=1)
        lam = np.linalg.eigvalsh(M.hessian(path))[:, 0]
        visits += int(np.sum((G <= eps) & (lam >= -math.sqrt(rho * eps))))
        steps += len(path)
    return visits, steps


def _cor71(subject, ctx, eps=None):
    rho = 101.6
    eps = 2.0 / rho if eps is None else eps
    visits, steps = cor71_visits(eps, rho=rho)
    return [CheckResult("saddle.hessian", "simulation",
                        "Corollary 7.1: eps-SOSPs visited by GD before the last escape",
                        float(visits), 0.0, float(visits), "count", visits == 0,
                        detail=(f"float64 GD (d = 3, eta = 1/(4L), L = e) from 3 starts in "
                                f"[-1,1]^3, {steps} iterates up to T_d; eps = {eps:.3g} (2 gamma^2/"
                                f"rho, rho = {rho} from the Theorem 7.3 row): |grad| <= eps and "
                                "lambda_min >= -sqrt(rho eps) never both hold (fails on a visit)"))]


register(Check("saddle.cor72_ell", "finite_difference", "FD Hessian of the rescaled model",
               _cor72_ell))
register(Check("saddle.cor72_rho", "finite_difference", "FD Hessian quotients of the rescaled model",
               _cor72_rho))
register(Check("saddle.cor72_step", "simulation", "GD on g vs GD on f", _cor72_step))
register(Check("saddle.f", "simulation", "Newton search (Lem. 7.1)", _lemma71_search,
               independent=False))
register(Check("saddle.f", "slack", "Lemma 7.3: GD from other orthants", _lemma73,
               independent=False))
register(Check("saddle.hessian", "simulation", "Corollary 7.1: no eps-SOSP visited", _cor71,
               independent=False))


# --- Definitions 7.1-7.5: rigorous enclosures of B, ell, rho (derivations.saddle.constants) ------

def _enclosure_row(name, label, lo, hi, sampled, detail):
    """The model's sampled supremum must lie below the enclosure's upper end (+1e-12) and the
    enclosure must be tight (lower end >= the sampled value's 1 - 1e-3)."""
    ok = sampled <= hi * (1 + 1e-12) and lo >= sampled * (1 - 1e-3) and lo <= hi
    return CheckResult(name, "slack", label, hi, sampled, sampled / hi, "sampled/upper", bool(ok),
                       detail=detail + f"; enclosure [{lo:.10g}, {hi:.10g}], model's sampled sup "
                       f"{sampled:.10g} (fails above the upper end or below the lower end by "
                       "more than 1e-3)")


def _ell_enclosure(subject, ctx, scale=1.0):
    """The model's sup (grid + L-BFGS-B refinement, accurate to ~1e-12 at an interior maximum)
    must lie in the enclosure, whose lower end (a value attained) must not exceed it by 1e-9."""
    from .saddle import lipschitz_constant

    M = _model()
    lo, hi = subject.fn(E, 1.0, E, rtol=3e-7)
    lo, hi = lo * scale, hi * scale
    sampled, _ = lipschitz_constant(lambda P, *a: M.hessian(P).astype(float), E, 1.0, E, 201, 101)
    row = _enclosure_row("saddle.ell_interval", "Def. 7.2: ell enclosure vs the model's refined sup",
                         lo, hi, sampled, "L = e, gamma = 1, tau = e; ball arithmetic "
                         "(python-flint) branch and bound on SymPy's Hessian of the spline "
                         "piece, rtol 3e-7; model: Octopus.hessian on a 201 x 101 grid + L-BFGS-B")
    row.passed = bool(sampled <= hi * (1 + 1e-12) and sampled * (1 - 1e-6) <= lo
                      <= sampled * (1 + 1e-9))
    row.detail = row.detail.replace("or below the lower end by more than 1e-3)",
                                    "or if the lower end is off the model's sup by > 1e-9 above "
                                    "or 1e-6 below)")
    return [row]


def _rho_enclosure(subject, ctx, scale=1.0):
    from .saddle import hessian_lipschitz

    M = _model()
    lo, hi = subject.fn(E, 1.0, E, rtol=1e-3)
    lo, hi = lo * scale, hi * scale
    sampled, _ = hessian_lipschitz(lambda P, *a: M.hessian(P).astype(float), E, 1.0, E)
    row = _enclosure_row("saddle.hessian", "Def. 7.3: rho enclosure vs the model's quotients",
                         lo, hi, sampled, "L = e; model: Hessian difference quotients, 12 "
                         "directions, 61 x 31 grid (a lower estimate)")
    row.passed = bool(sampled <= hi * (1 + 1e-12) and lo >= 0.97 * sampled)
    row.detail = row.detail.replace("1e-3)", "3%: the quotients sample 12 directions)")
    return [row]


def refined_sup_abs_f(M, X):
    """The largest ``|f|`` of the model over the sample ``X``, refined by L-BFGS-B inside the box
    of the best point's region (converged coordinates in [2 tau, 6 tau], the active one in
    [0, 2 tau], the later ones in [0, tau], with the point's signs)."""
    from scipy.optimize import minimize

    vals = np.abs(M.f(X))
    x0 = X[int(np.argmax(vals))]
    sg = np.where(x0 < 0, -1.0, 1.0)
    y0 = np.abs(x0)
    a = int(np.argmax(y0 < 2 * E)) if np.any(y0 < 2 * E) else len(y0)
    bounds = [(2 * E, 6 * E) if j < a else (0.0, 2 * E) if j == a else (0.0, E)
              for j in range(len(y0))]
    res = minimize(lambda y: -abs(float(M.f((sg * y)[None])[0])), y0, method="L-BFGS-B",
                   bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-12})
    return max(float(vals.max()), -float(res.fun))


def _B_enclosure(subject, ctx, scale=1.0):
    """The model's refined sup of |f| (sample of D + L-BFGS-B in the best point's region) must
    lie in the enclosure and agree with its lower end to 1e-9."""
    from .saddle import points_in_D

    M = _model()
    rng = np.random.default_rng(78)
    parts, ok = [], True
    for d in (2, 3, 5):
        lo, hi = subject.fn(d, E, 1.0, E, rtol=1e-5)
        lo, hi = lo * scale, hi * scale
        X = points_in_D(rng, 300, d, E, boundary_fraction=0.7)
        sampled = refined_sup_abs_f(M, X)
        ok &= sampled <= hi * (1 + 1e-12) and abs(lo - sampled) <= 1e-9 * sampled
        parts.append(f"d={d}: [{lo:.10g}, {hi:.10g}] vs the model's {sampled:.10g}")
    return [CheckResult("saddle.B_interval", "slack", "Def. 7.1: B enclosure vs the model's sup",
                        hi, sampled, sampled / hi, "sampled/upper", bool(ok),
                        detail="; ".join(parts) + " (300 points of D per d, 70% on boundaries, "
                        "refined by L-BFGS-B in the best point's region; fails above the upper "
                        "end or if the lower end is off the model's sup by > 1e-9)")]


def _alpha_rows(subject, ctx):
    """Def. 7.4: alpha = 2 gamma (derived) vs the model's Hessian at every saddle (d = 4)."""
    import sympy as sp

    from derivations.saddle import connectors as Cn
    from derivations.saddle import constants as K

    M = _model()
    alpha = float(K.strict_saddle_alpha().subs({Cn.gamma: 1.0, Cn.L: E}))
    got = [-float(np.linalg.eigvalsh(M.hessian(M.saddle(4, k)[None].astype(float))[0])[0])
           for k in range(4)]
    err = max(abs(g - alpha) for g in got)
    thr = K.sosp_eps_threshold()
    ok = err <= 1e-12 and sp.simplify(thr - 4 * Cn.gamma**2 / sp.Symbol("rho", positive=True)) == 0
    return [CheckResult("saddle.hessian", "dense", "Def. 7.4: alpha-strict saddles, alpha = 2 gamma",
                        got[0], alpha, err, "abs", bool(ok), resolution=1e-12,
                        detail=f"-lambda_min of the model's Hessian at the 4 saddles of d = 4: "
                               f"{', '.join(f'{g:.12g}' for g in got)}; Def. 7.5: a saddle is an "
                               "eps-SOSP iff eps >= 4 gamma^2/rho (solved)")]


def theorem71_runs(eta_factor=0.99, d=3, starts=8, seed=71, extra=600):
    """GD with ``eta = eta_factor / ell_hi`` (ell_hi: the upper end of the ell enclosure at
    rtol 1e-4, pinned) from uniform starts in [-1, 1]^d, run ``extra`` steps past the last
    escape; returns the final gradient norms and smallest Hessian eigenvalues."""
    from ..simulators.saddle_gd import gd_exact, gd_float64

    M = _model()
    eta = eta_factor / ELL_HI
    X0 = np.random.default_rng(seed).uniform(-1, 1, (starts, d))
    T = int(max(gd_exact(x, E, 1.0, E, eta, model=M).escape[-1] for x in X0)) + extra
    x = gd_float64(X0, E, 1.0, E, eta, steps=T, model=M, every=T)[-1]
    return np.linalg.norm(M.grad(x), axis=1), np.linalg.eigvalsh(M.hessian(x))[:, 0], eta, T


#: the ell enclosure's upper end at L = e, gamma = 1, tau = e (rtol 1e-5; tests recompute it)
ELL_HI = 34.66325


def _theorem71(subject, ctx, eta_factor=0.99):
    g, lam, eta, T = theorem71_runs(eta_factor)
    ok = bool(np.all(g <= 1e-8) and np.all(lam > 0))
    return [CheckResult("saddle.hessian", "simulation",
                        "Theorem 7.1: GD with eta < 1/ell ends at a second-order stationary point",
                        float(g.max()), 0.0, float(g.max()), "max |grad f(x_T)|", ok,
                        detail=(f"d = 3, 8 uniform starts in [-1,1]^3, eta = {eta:.5g} = "
                                f"{eta_factor}/ell_hi, T = {T}: final |grad| <= {g.max():.1e}, "
                                f"lambda_min(Hess) >= {lam.min():.4g} (> 0: local minima, the "
                                "SOSPs of Lemma 7.1); fails on a final gradient above 1e-8 or a "
                                "non-positive curvature"))]


RELATED_7 = ("saddle.f", "saddle.grad", "saddle.hessian")
register(Check("saddle.hessian", "simulation", "Theorem 7.1: GD with eta < 1/ell", _theorem71,
               independent=False))
register(Check("saddle.hessian", "dense", "Def. 7.4: alpha = 2 gamma at the saddles", _alpha_rows,
               independent=False))
#: the enclosures need ball arithmetic (python-flint, the ``rigorous`` extra, in ``test``): their
#: rows exist when it is installed, as the compiled backend's rows exist with Numba
HAVE_FLINT = importlib.util.find_spec("flint") is not None
if HAVE_FLINT:
    register_public(Check("saddle.ell_interval", "slack", "Def. 7.2: ell enclosure", _ell_enclosure),
                    "derivations.saddle.constants:ell_interval", RELATED_7)



def _rho_row(subject, ctx):
    from derivations.saddle import constants as K

    from ..rows import Subject as _S

    return _rho_enclosure(_S(None, K.rho_interval), ctx)


# rho's reference is a sampled lower estimate (1% below): a row of the family, not a public
# callable's independent check (it could not catch a 1e-6 change of the enclosure)
if HAVE_FLINT:
    register(Check("saddle.hessian", "slack", "Def. 7.3: rho enclosure", _rho_row, independent=False))
    register_public(Check("saddle.B_interval", "slack", "Def. 7.1: B enclosure", _B_enclosure),
                    "derivations.saddle.constants:B_interval", RELATED_7)
