"""Checks of the wn family (seed 002: Dukler, Gu & Montufar, secs. 2-4).

* High-precision finite differences of the MODEL (mpmath, 40 digits): ``F(w(v, g))`` with
  ``F(w) = q.w`` (so ``grad_w F = q`` at every point) for the reparametrization gradients, and the
  neuron ``c relu(g v.x/|v|)/sqrt(m)`` for the output gradients; one exact GD step at 40 digits
  for eq. (2.3).
* Dense Jacobian products of the simulated network (numerics.simulators.wn, hand-written
  back-propagation) for the per-neuron Gram terms of V, G, H (eqs. 3.3, 3.4, 3.6), and one tiny
  GD step of the whole network for the evolution (3.5).
* SymPy proofs: <grad_v, v> = 0, Proposition 1 (V(0) + G(0) = H(0)), Observation 1.
* The printed statements: grad_v (agrees), eq. (2.3) (agrees), df/dg (printed as a vector,
  an erratum with FD evidence), S_k (|v| for |v|^2: an erratum with dense evidence).
"""
from __future__ import annotations

import math

import mpmath
import numpy as np

from ..rows import Check, CheckResult, consistency
from ..simulators import wn as sim
from . import register
from .common import add, error_row, mpmath_check, paper_check

DPS = 40
TOL = 1e-12


def _mp(x):
    return [mpmath.mpf(float(t)) for t in np.ravel(x)]


def _mp_grad(F, x0):
    """Gradient of ``F(list of mpf)`` at ``x0`` by mpmath's high-precision differences."""
    with mpmath.workdps(DPS):
        x = _mp(x0)
        out = []
        for j in range(len(x)):
            def fj(t, j=j):
                y = list(x)
                y[j] = y[j] + t
                return F(y)
            out.append(float(mpmath.diff(fj, 0)))
    return np.array(out)


def _w_dot_q(v, g, q):
    nv = mpmath.sqrt(mpmath.fsum(t * t for t in v))
    return g * mpmath.fsum(a * b for a, b in zip(q, v)) / nv


def reparam_points():
    rng = np.random.default_rng(61)
    out = []
    for d, g, nv in ((3, 1.3, 1.0), (5, -0.7, 2.5), (7, 0.4, 1e-3), (4, 2.0, 1e3)):
        v = rng.standard_normal(d)
        v *= nv / np.linalg.norm(v)
        out.append({"v": v, "g": np.float64(g), "grad_w": rng.standard_normal(d)})
    v = rng.standard_normal(4)
    out.append({"v": v, "g": np.float64(1.1), "grad_w": 2.0 * v})  # grad_w parallel to v
    return out


def _ref_grad_v(pt):
    with mpmath.workdps(DPS):
        g, q = mpmath.mpf(float(pt["g"])), _mp(pt["grad_w"])
    return _mp_grad(lambda v: _w_dot_q(v, g, q), pt["v"])


def _ref_grad_g(pt):
    with mpmath.workdps(DPS):
        v, q = _mp(pt["v"]), _mp(pt["grad_w"])
        return float(mpmath.diff(lambda g: _w_dot_q(v, g, q), mpmath.mpf(float(pt["g"]))))


def _ref_norm_after_step(pt):
    gv = _ref_grad_v(pt)  # model gradient at 40 digits, rounded: |v1|^2 error ~1e-16
    with mpmath.workdps(DPS):
        v = _mp(pt["v"])
        eta = mpmath.mpf(float(pt["eta"]))
        g, q = mpmath.mpf(float(pt["g"])), _mp(pt["grad_w"])
        gvm = [mpmath.diff(lambda t, j=j: _w_dot_q([vi + (t if i == j else 0) for i, vi in
                                                     enumerate(v)], g, q), 0)
               for j in range(len(v))]
        v1 = [a - eta * b for a, b in zip(v, gvm)]
        return float(mpmath.fsum(t * t for t in v1))


def step_points():
    return [{**p, "eta": np.float64(e)} for p, e in zip(reparam_points(), (0.1, 0.5, 1e-4, 3.0, 0.2))]


def _rel_check(name, label, points, reference, tol=TOL, method="", scale=None):
    from .common import cached_reference, call

    def run(subject, ctx):
        from .common import dimension_points

        worst = (-1.0, None, None)
        base = points()
        pts = base + dimension_points(subject.formula, base)
        for pt in pts:
            got = np.asarray(call(subject.fn, subject.formula, pt), float)
            ref = np.asarray(cached_reference(reference, pt), float)  # once per point per run
            sc = scale(pt) if scale else max(float(np.max(np.abs(ref))), 1e-300)
            err = float(np.max(np.abs(got - ref))) / sc if np.all(np.isfinite(got)) else math.inf
            if not err <= worst[0]:
                worst = (err, got, ref)
        from .common import size_rows

        sz = size_rows(name, subject, base, reference, label=label, method=method, tol=1e-10,
                       floor=(lambda pt: float(np.max(scale(pt)))) if scale else 0.0)
        err, got, ref = worst
        return [CheckResult(name, "reference", label, float(np.ravel(got)[0]),
                           float(np.ravel(ref)[0]), err, "rel", err <= tol,
                           detail=f"{method}; {len(pts)} points (vector lengths "
                                  f"{sorted({len(np.ravel(p['v'])) for p in pts if 'v' in p})}); tol {tol:.0e}",
                           resolution=tol)] + ([sz] if sz is not None else [])

    return Check(name, "reference", label, run)


register(_rel_check("wn.grad_v", "40-digit FD of q.w(v, g)", reparam_points, _ref_grad_v,
                    method="mpmath.diff of the model g q.v/|v|; error / (|g||q|/|v|)",
                    scale=lambda pt: abs(float(pt["g"])) * np.linalg.norm(pt["grad_w"])
                    / np.linalg.norm(pt["v"])))
register(_rel_check("wn.grad_g", "40-digit FD of q.w(v, g)", reparam_points, _ref_grad_g,
                    method="mpmath.diff in g"))
register(_rel_check("wn.norm_after_gd_step", "one exact GD step at 40 digits", step_points,
                    _ref_norm_after_step, method="v - eta grad_v with the FD gradient"))
for _n in ("wn.grad_v", "wn.grad_g", "wn.norm_after_gd_step"):
    register(mpmath_check(_n, reparam_points if _n != "wn.norm_after_gd_step" else step_points))
register(paper_check("wn.grad_v", reparam_points, reference=_ref_grad_v))
def _norm_step_paper(subject, ctx) -> CheckResult:
    """Eq. (2.3) as printed, |v(s+1)|^2 = |v(s)|^2 + eta^2 |grad_v f|^2, evaluated with the
    40-digit FD gradient of the model (not the derived grad_v: issue 19, item 6) against one
    exact GD step at 40 digits; the derived form must match the same reference."""
    from .common import cached_reference, call

    worst_p, worst_d = 0.0, 0.0
    for pt in step_points():
        ref = float(_ref_norm_after_step(pt))
        gv = _ref_grad_v(pt)
        printed = float(pt["v"] @ pt["v"] + float(pt["eta"]) ** 2 * (gv @ gv))
        derived = float(call(subject.fn, subject.formula, pt))
        worst_p = max(worst_p, abs(printed - ref) / abs(ref))
        worst_d = max(worst_d, abs(derived - ref) / abs(ref))
    ok = worst_p <= 1e-12 and worst_d <= 1e-12
    return CheckResult(
        "wn.norm_after_gd_step", "paper", "printed vs derived", "agrees" if ok else "differs",
        "exact GD step", max(worst_p, worst_d), "rel", ok, resolution=1e-12,
        detail=(f"printed |v|^2 + eta^2 |grad_v|^2 with the model's 40-digit FD gradient: "
                f"within {worst_p:.1e} of the exact step; derived within {worst_d:.1e} "
                f"({len(step_points())} points; tol 1e-12)"))


add("wn.norm_after_gd_step", "paper", "printed vs derived (on the model's gradient)",
    _norm_step_paper, independent=False)


def _orthogonality(subject, ctx) -> CheckResult:
    """<grad_v, v> = 0 by SymPy from the formula's own components (a proof, on the expression
    under test)."""
    import sympy as sp

    from derivations import wn

    e = subject.formula.expr
    val = sp.simplify(wn._dot(e, wn.VV, (wn.Q, wn.VV)))
    ok = val == 0
    return CheckResult("wn.grad_v", "symbolic", "<grad_v, v> = 0", str(val)[:40], "0",
                       0.0 if ok else 1.0, "proof", ok, resolution=0.0,
                       detail="SymPy: (coefficients of grad_w, v) . (v.grad_w, |v|^2) simplifies to 0")


add("wn.grad_v", "symbolic", "<grad_v, v> = 0", _orthogonality)


def _grad_g_paper(subject, ctx) -> CheckResult:
    """The printed df/dg = (grad_w f)^v is a vector; the derivative in the scalar g is a scalar.

    Evidence: the 40-digit FD of the model sides with the derived scalar; the printed vector's
    signed length (v/|v|).(grad_w f)^v equals it, so the intended quantity is the length."""
    from derivations import precision
    import derivations

    f = derivations.get("wn.grad_g")
    worst_d, worst_len = 0.0, 0.0
    for pt in reparam_points():
        ref = _ref_grad_g(pt)
        der = float(np.ravel(subject.fn(pt["v"], pt["g"], pt["grad_w"]))[0])
        v, q = pt["v"], pt["grad_w"]
        printed = (v @ q) / (v @ v) * v  # the printed projection (a vector)
        length = printed @ v / np.linalg.norm(v)
        worst_d = max(worst_d, abs(der - ref) / max(abs(ref), 1e-300))
        worst_len = max(worst_len, abs(length - ref) / max(abs(ref), 1e-300))
    ok = worst_d < 1e-8
    return CheckResult(
        "wn.grad_g", "paper", "printed vs derived (evidence: 40-digit FD)", "vector (p,)",
        "scalar", worst_d, "rel", ok, erratum=ok, erratum_class="printed error" if ok else "",
        detail=(f"printed error (notation): (grad_w f)^v is a vector of shape (p,), df/dg of the "
                f"scalar g is a scalar; FD sides with the derived v.grad_w/|v| (rel err "
                f"{worst_d:.1e}); the printed vector's signed length v^T(grad_w f)^v/|v| matches "
                f"the FD too ({worst_len:.1e})"))


add("wn.grad_g", "paper", "printed vs derived (evidence: 40-digit FD)", _grad_g_paper,
    independent=False)


# --- output gradients of one neuron -------------------------------------------------------------


def neuron_points():
    rng = np.random.default_rng(62)
    out = []
    for d, g, c, m, sign in ((4, 1.3, 1.0, 50.0, 1), (6, 0.6, -1.0, 7.0, 1), (5, -0.8, 1.0, 3.0, 1),
                             (3, 1.1, -1.0, 100.0, -1), (5, -0.9, 1.0, 2.0, -1)):
        v = rng.standard_normal(d)
        x = rng.standard_normal(d)
        if np.sign(g * (v @ x)) != sign:
            x = -x
        out.append({"v": v, "g": np.float64(g), "c": np.float64(c), "x_p": x, "m": np.float64(m)})
    return out


def _neuron(v, g, c, x, m):
    nv = mpmath.sqrt(mpmath.fsum(t * t for t in v))
    s = g * mpmath.fsum(a * b for a, b in zip(v, x)) / nv
    return c * (s if s > 0 else 0) / mpmath.sqrt(m)


def _ref_df_dv(pt):
    with mpmath.workdps(DPS):
        g, c, x, m = (mpmath.mpf(float(pt["g"])), mpmath.mpf(float(pt["c"])), _mp(pt["x_p"]),
                      mpmath.mpf(float(pt["m"])))
    return _mp_grad(lambda v: _neuron(v, g, c, x, m), pt["v"])


def _ref_df_dg(pt):
    with mpmath.workdps(DPS):
        v, c, x, m = (_mp(pt["v"]), mpmath.mpf(float(pt["c"])), _mp(pt["x_p"]),
                      mpmath.mpf(float(pt["m"])))
        return float(mpmath.diff(lambda g: _neuron(v, g, c, x, m), mpmath.mpf(float(pt["g"]))))


def _abs_check(name, label, points, reference, method):
    """Like :func:`_rel_check` but on the scale of |x|/|v| (gradients vanish on the inactive side)."""
    from .common import cached_reference, call

    def run(subject, ctx):
        from .common import dimension_points

        worst = -1.0
        base = points()
        for pt in base + dimension_points(subject.formula, base):
            got = np.asarray(call(subject.fn, subject.formula, pt), float)
            ref = np.asarray(cached_reference(reference, pt), float)  # once per point per run
            sc = float(np.linalg.norm(pt["x_p"]) * max(1.0, abs(float(pt["g"])))
                       / np.linalg.norm(pt["v"]) / math.sqrt(float(pt["m"])))
            worst = max(worst, float(np.max(np.abs(got - ref))) / sc)
        return error_row(name, "reference", label, worst, TOL,
                         f"{method}; active and inactive sides, g < 0; tol {TOL:.0e}")

    return Check(name, "reference", label, run)


register(_abs_check("wn.df_dv", "40-digit FD of the neuron", neuron_points, _ref_df_dv,
                    "mpmath.diff of c relu(g v.x/|v|)/sqrt(m) in v"))
register(_abs_check("wn.df_dg", "40-digit FD of the neuron", neuron_points, _ref_df_dg,
                    "mpmath.diff in g"))


# --- per-neuron Gram terms vs the simulated network's Jacobians ------------------------------


def term_points():
    rng = np.random.default_rng(63)
    out = []
    for d, alpha, g in ((4, 0.6, 1.4), (7, 2.0, 0.3), (5, 1.0, 1.0)):
        for _ in range(3):
            v = rng.standard_normal(d)
            x, y = rng.standard_normal(d), rng.standard_normal(d)
            out.append({"v": v, "g": np.float64(g), "x_p": x, "y_p": y,
                        "alpha": np.float64(alpha)})
    return out


def _dense_term(which):
    def ref(pt):
        net = sim.WNNet(pt["v"][None, :], np.array([float(pt["g"])]), np.array([1.0]),
                        float(pt["alpha"]))
        X = np.stack([pt["x_p"], pt["y_p"]])
        jv, jg, jw = sim.jacobians(net, X)
        if which == "v":
            return net.alpha**2 * float(jv[0, 0] @ jv[1, 0])
        if which == "g":
            return float(jg[0, 0] * jg[1, 0])
        return float(jw[0, 0] @ jw[1, 0])

    return ref


def _v_term_scale(pt):
    """max(|V term|, alpha^2 g^2 |x||y|/|v|^2): the term is alpha^2 g^2 x^perp.y^perp/|v|^2
    (the parts orthogonal to v), which vanishes identically at p = 1; there the float64
    cancellation leaves ~1e-16 of its natural size (issue 19 item 3), judged on that size."""
    ref = abs(_dense_term("v")(pt))
    nat = (float(pt["alpha"]) ** 2 * float(pt["g"]) ** 2 * float(np.linalg.norm(pt["x_p"]))
           * float(np.linalg.norm(pt["y_p"])) / float(pt["v"] @ pt["v"]))
    return max(ref, nat if len(pt["v"]) == 1 else 0.0, 1e-300)


for _q in ("v", "g", "h"):
    add(f"wn.{_q}_term", "reference", "dense Jacobians of the simulated network",
        _rel_check(f"wn.{_q}_term", "dense Jacobians of the simulated network",
                   term_points, _dense_term(_q), tol=1e-13,
                   method="hand-written back-propagation, m = 1",
                   scale=_v_term_scale if _q == "v" else None).run)


def _prop1(subject, ctx) -> CheckResult:
    """Proposition 1 and Observation 1 by SymPy on the derived terms at g = |v|/alpha."""
    import sympy as sp

    from derivations import wn

    v, g, h = (wn._linear_part(t) for t in (wn.v_term(), wn.g_term(), wn.h_term()))
    if subject.formula.name == "wn.v_term":
        v = wn._linear_part(subject.formula.expr)
    if subject.formula.name == "wn.g_term":
        g = wn._linear_part(subject.formula.expr)
    res = sp.simplify(wn.at_init(v + g - h))
    free = [sp.simplify(wn.at_init(t)).has(wn.ALPHA) for t in (v, g)]
    ok = res == 0 and not any(free)
    return CheckResult(subject.formula.name, "symbolic", "Prop. 1: V(0)+G(0)=H(0); Obs. 1",
                       str(res)[:40], "0", 0.0 if ok else 1.0, "proof", ok, resolution=0.0,
                       detail=("SymPy: at g = |v|/alpha the V and G terms add to the H term "
                               "(same indicators) and contain no alpha" if ok else
                               f"residual {res}; alpha present {free}"))


for _n in ("wn.v_term", "wn.g_term"):
    register(consistency(Check(_n, "symbolic", "Prop. 1: V(0)+G(0)=H(0); Obs. 1", _prop1),
                         "the term under test vs the derived h_term"))


def _evolution(subject, ctx) -> CheckResult:
    """Eq. (3.5): one tiny GD step of the simulated network, (f(s+1) - f(s))/eta vs
    -(V/alpha^2 + G)(f - y) with V, G the means of the emitted terms (the formula under test)."""
    import derivations

    rng = np.random.default_rng(64)
    n, d, m, alpha = 5, 6, 300, 0.7
    X = sim.unit_data(rng, n, d)
    y = rng.standard_normal(n)
    net = sim.init(rng, m, d, alpha)
    net.v += 0.05 * rng.standard_normal(net.v.shape)  # a generic (non-init) state
    net.g *= 1.1
    eta = 1e-7
    r = sim.forward(net, X) - y
    gv, gg = sim.gradients(net, X, y)
    nxt = net.copy()
    nxt.v -= eta * gv
    nxt.g -= eta * gg
    df = (sim.forward(nxt, X) - sim.forward(net, X)) / eta
    terms = {}
    for t in ("v_term", "g_term"):
        fn = subject.fn if subject.formula.name == f"wn.{t}" else derivations.get(f"wn.{t}").numpy
        terms[t] = fn(net.v[:, None, None, :], net.g[:, None, None], X[None, :, None, :],
                      X[None, None, :, :], alpha).mean(axis=0)
    lam = terms["v_term"] / alpha**2 + terms["g_term"]
    pred = -lam @ r
    err = float(np.max(np.abs(df - pred)) / np.max(np.abs(pred)))
    return CheckResult(subject.formula.name, "simulation", "eq. (3.5): one GD step of the network",
                       float(df[0]), float(pred[0]), err, "rel", err <= 1e-5, resolution=1e-5,
                       detail=f"n={n}, d={d}, m={m}, alpha={alpha}, eta={eta:g}: O(eta) step error")


for _n in ("wn.v_term", "wn.g_term"):
    add(_n, "simulation", "eq. (3.5): one GD step of the network", _evolution)


# --- S_k S_k^T ------------------------------------------------------------------------------------


def block_points():
    rng = np.random.default_rng(65)
    return [{"v": rng.standard_normal(d) * s, "g": np.float64(g)}
            for d, s, g in ((3, 1.0, 1.3), (5, 2.5, 0.7), (4, 0.4, 2.0))]


def _dense_block(pt):
    """S = d w/d(v, g) by 40-digit FD of the map (v, g) -> g v/|v|, then S S^T."""
    v0, g0 = pt["v"], float(pt["g"])
    d = len(v0)
    S = np.empty((d, d + 1))
    for i in range(d):
        def wi(vg, i=i):
            v, g = vg[:d], vg[d]
            nv = mpmath.sqrt(mpmath.fsum(t * t for t in v))
            return g * v[i] / nv
        S[i] = _mp_grad(wi, np.concatenate([v0, [g0]]))
    return S @ S.T


register(_rel_check("wn.n_block", "dense S S^T (40-digit FD Jacobian of w(v, g))", block_points,
                    _dense_block, method="mpmath.diff of g v/|v|"))
register(mpmath_check("wn.n_block", block_points))
register(paper_check("wn.n_block", block_points, reference=_dense_block, klass="printed error",
                     note="the printed S_k projector I - v v^T/|v| needs |v|^2 "
                          "(and 'tS_m' reads S_m); Lambda = J S S^T J^T"))


# --- grad theta_i (Lemma 4.1 proof sketch) ------------------------------------------------------


def theta_points():
    rng = np.random.default_rng(66)
    out = []
    for d, nv, sign in ((4, 0.5, 1), (6, 2.5, 1), (5, 0.3, -1)):
        v = rng.standard_normal(d)
        v *= nv / np.linalg.norm(v)
        x = rng.standard_normal(d)
        if np.sign(v @ x) != sign:
            x = -x
        out.append({"v": v, "x_p": x})
    return out


def _ref_grad_theta(pt):
    with mpmath.workdps(DPS):
        x = _mp(pt["x_p"])

    def theta(v):
        s = mpmath.fsum(a * b for a, b in zip(v, x))
        return (s if s > 0 else 0) / mpmath.sqrt(mpmath.fsum(t * t for t in v))

    return _mp_grad(theta, pt["v"])


register(_rel_check("wn.grad_theta", "40-digit FD of relu(v.x)/|v|", theta_points, _ref_grad_theta,
                    method="mpmath.diff", scale=lambda pt: float(np.linalg.norm(pt["x_p"])
                                                                 / np.linalg.norm(pt["v"]))))
register(paper_check("wn.grad_theta", lambda: theta_points()[:2], reference=_ref_grad_theta,
                     klass="printed error",
                     note="grad_v theta_i = phi_i/|v|, not phi_i (and theta_i = relu(v.x_i)/|v|: "
                          "the printed sigma(x_i^v) applies sigma to a vector)"))


# --- emission fidelity of the remaining formulas (50 digits) ---------------------------------

register(mpmath_check("wn.df_dv", neuron_points))
register(mpmath_check("wn.df_dg", neuron_points))
for _n in ("wn.v_term", "wn.g_term", "wn.h_term"):
    register(mpmath_check(_n, term_points))
register(mpmath_check("wn.grad_theta", theta_points))


# --- public callables outside the registry (issue 19, item 4) --------------------------------

from . import register_public  # noqa: E402
from .common import call_fused, public_reference_check  # noqa: E402


def _fused_points():
    pts = reparam_points()
    return pts + [{**pts[0], "use_out": 1}]


def _invoke_fused(fn, pt):
    return call_fused(fn, (pt["v"], pt["g"], pt["grad_w"]), pt.get("use_out"),
                      ((), np.shape(pt["v"])))


def _grad_v_scale(pt):
    return abs(float(pt["g"])) * float(np.linalg.norm(pt["grad_w"])) / float(
        np.linalg.norm(pt["v"]))


register_public(public_reference_check(
    "wn.grad_g_and_grads", _fused_points, _invoke_fused,
    lambda pt: (_ref_grad_g(pt), _ref_grad_v(pt)), tol=TOL,
    label="fused (grad_g, grad_v) vs 40-digit FD of q.w(v, g)",
    method="mpmath.diff of the model g q.v/|v|; out= buffers",
    floor=lambda pt: (float(np.linalg.norm(pt["grad_w"])), _grad_v_scale(pt)),
    outputs=("grad_g", "grad_v")),
    "derivations.generated.wn:grad_g_and_grads", ("wn.grad_g", "wn.grad_v"))


def _grams_points():
    """Finite WN networks (m = 1, 7, 40 neurons; alpha 0.5, 1.3; d = 2, 4, 9; a row of X
    antiparallel to another, one parallel)."""
    rng = np.random.default_rng(83)
    out = []
    for m, d, n, alpha in ((1, 2, 3, 1.0), (7, 4, 5, 1.3), (40, 9, 6, 0.5)):
        X = rng.standard_normal((n, d))
        X[-1] = -0.7 * X[0]
        net = sim.init(rng, m, d, alpha)
        out.append({"Vk": net.v, "g": net.g * rng.uniform(0.5, 2.0, m), "X": X,
                    "alpha": float(alpha)})
    return out


def _ref_grams(pt):
    """Jacobian products of the simulated network (hand-written back-propagation)."""
    m = len(pt["g"])
    net = sim.WNNet(np.asarray(pt["Vk"]), np.asarray(pt["g"]), np.ones(m), pt["alpha"])
    return sim.grams(net, pt["X"])


register_public(public_reference_check(
    "wn.grams", _grams_points, lambda fn, pt: fn(pt["Vk"], pt["g"], pt["X"], pt["alpha"]),
    _ref_grams, tol=TOL, label="(V, G, H) vs Jacobian products of the simulated network",
    method="alpha^2 J_v J_v^T, J_g J_g^T, J_w J_w^T by back-propagation",
    outputs=("V", "G", "H")),
    "derivations.wn:grams", ("wn.v_term", "wn.g_term", "wn.h_term"))


# --------------------------------------------------------------------------------------------
# Width conditions of Theorems 4.1-4.2 / Proposition 2 and alpha = sqrt(n/mu_0) (issue 24)
# --------------------------------------------------------------------------------------------
# The widths are the theorems' hypotheses (premises, constant 1): their reference is the
# printed statement coded here in plain floats (a second transcription, on both sides of each
# max/min).  alpha_opt and width_opt are derived: their reference is SciPy's root of the two
# printed terms' difference (brentq in log alpha) and the smallest value of the printed max
# over alpha (bounded search), never the derived expression.

def _w41(n, delta, lambda_0):
    return n**4 * math.log(n / delta) / lambda_0**4


def _w42_terms(n, delta, alpha, mu_0):
    return n**4 * math.log(n / delta) / (alpha**4 * mu_0**4), n**2 * math.log(n / delta) / mu_0**2


def _width_points():
    rng = np.random.default_rng(2402)
    pts = []
    for _ in range(12):
        n = float(rng.integers(2, 200))
        mu0 = float(10 ** rng.uniform(-4, -0.5))
        pts.append({"n": n, "delta": float(10 ** rng.uniform(-6, -0.1)),
                    "lambda_0": float(10 ** rng.uniform(-3, 0)), "mu_0": mu0,
                    "alpha": float(math.sqrt(n / mu0) * 10 ** rng.uniform(-1.5, 1.5))})
    # both sides of each switch: alpha at (1 -+ 1e-9) alpha*, lambda_0 = mu_0 (1 -+ 1e-9)
    base = dict(pts[0])
    for f in (1 - 1e-9, 1 + 1e-9):
        pts.append({**base, "alpha": math.sqrt(base["n"] / base["mu_0"]) * f,
                    "lambda_0": base["mu_0"] * f})
    return pts


def _pick(pt, *names):
    return {k: pt[k] for k in names}


_WREF = {
    "wn.width_thm41": (("n", "delta", "lambda_0"), lambda p: _w41(p["n"], p["delta"], p["lambda_0"])),
    "wn.width_thm42": (("n", "delta", "alpha", "mu_0"),
                       lambda p: max(_w42_terms(p["n"], p["delta"], p["alpha"], p["mu_0"]))),
    "wn.width_prop2": (("n", "delta", "lambda_0", "mu_0"),
                       lambda p: p["n"]**4 * math.log(p["n"] / p["delta"])
                       / min(p["lambda_0"], p["mu_0"])**4),
}


def _alpha_star_ref(p):
    from scipy import optimize

    f = lambda la: math.log(_w42_terms(p["n"], 0.5, math.exp(la), p["mu_0"])[0]) - \
        math.log(_w42_terms(p["n"], 0.5, math.exp(la), p["mu_0"])[1])
    return math.exp(optimize.brentq(f, -50, 50, xtol=1e-15, rtol=1e-15))


def _width_opt_ref(p):
    """min over alpha of the printed max (bounded search over log alpha; the max is flat at its
    minimum for all alpha >= alpha*, so the search returns the flat value)."""
    from scipy import optimize

    f = lambda la: max(_w42_terms(p["n"], p["delta"], math.exp(la), p["mu_0"]))
    r = optimize.minimize_scalar(f, bounds=(-20, 30), method="bounded")
    return float(r.fun)


_WREF["wn.alpha_opt"] = (("n", "mu_0"), _alpha_star_ref)
_WREF["wn.width_opt"] = (("n", "delta", "mu_0"), _width_opt_ref)


def _width_rows(name):
    names, ref = _WREF[name]

    def run(subject, ctx):
        got = np.array([float(subject.fn(**_pick(p, *names))) for p in _width_points()])
        exp = np.array([ref(p) for p in _width_points()])
        rel = np.abs(got - exp) / np.abs(exp)
        i = int(np.argmax(rel))
        how = {"wn.alpha_opt": "SciPy brentq root of the printed terms' difference",
               "wn.width_opt": "SciPy bounded minimum of the printed max over alpha"}.get(
                   name, "the printed hypothesis (premise) coded in the check, both sides of "
                         "its max/min")
        tol = 1e-9 if name == "wn.width_opt" else 1e-12
        return CheckResult(name, "reference", f"vs {how}", float(got[i]), float(exp[i]),
                           float(rel[i]), "rel", bool(rel[i] <= tol), resolution=tol,
                           detail=f"{len(got)} points (n, delta, lambda_0, mu_0, alpha random; "
                                  f"alpha, lambda_0 at 1 -+ 1e-9 of the switch); tol {tol:.0e}")

    return Check(name, "reference", f"vs {'SciPy' if name in ('wn.alpha_opt', 'wn.width_opt') else 'the printed hypothesis'}", run)


def _wpts(name):
    names = _WREF[name][0]
    return lambda: [_pick(p, *names) for p in _width_points()[:4]]


for _n in _WREF:
    register(_width_rows(_n))
    register(mpmath_check(_n, _wpts(_n)))
    register(paper_check(_n, _wpts(_n)))
