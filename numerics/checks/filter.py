"""Checks of the ch. 6 filter family (seed 004; derivations/filter.py).

* Reference (independent, ~1e-14): polar quadrature of the model's integrands in the plane of
  ``w`` and ``w*`` (numerics.simulators.filter.plane_moments): the loss, the expected
  gradient, and the p x p matrices ``E[z z^T 1{region}]`` (in-plane 2x2 block by quadrature
  plus ``P(region)`` on the orthogonal complement); eigenvalues of those matrices by LAPACK;
  ``gamma``/``L`` as min/max over a grid of angles ``theta <= phi``; ``beta`` as the ratio at
  ``phi = 1e-5``.
* Monte Carlo of the network on Gaussian inputs; finite differences of the loss.
* The k-patch gradient decomposition (C6-8) per sample on overlapping 1-D patches.
* Paper: "gamma = L for rotation-invariant inputs" (l.6207), "beta <= p" / "beta = p"
  (l.6216, Thm 6.8), and the Thm 6.7 plane matrix (missing angle density).
"""
from __future__ import annotations

import math

import numpy as np

from ..rows import Check, CheckResult, mc_result
from ..simulators import filter as F
from . import register
from .common import (add, error_row, fd_check, mc_check, mpmath_check, paper_check, reference_check,
                     vector_at_angle)

ANGLES = (0.0, 1e-7, 0.05, 0.8, math.pi / 2, 2.2, math.pi - 0.05, math.pi - 1e-7, math.pi)


def points(angles=ANGLES, seed=61):
    rng = np.random.default_rng(seed)
    out = []
    for i, phi in enumerate(angles):
        p = (2, 3, 5)[i % 3]
        w_star = rng.standard_normal(p)
        w_star *= (0.5, 1.0, 2.5)[i % 3] / np.linalg.norm(w_star)
        out.append({"w": vector_at_angle(rng, w_star, phi, (1.3, 0.4, 3.0)[i % 3]),
                    "w_star": w_star})
    return out


def mc_points():
    return points((0.6, 1.7, 2.8), seed=62)


def phi_points():
    return [{"phi": a} for a in ANGLES + (0.3, 1.2, 2.7)]


def _ref(key):
    return lambda pt: F.plane_moments(pt["w"], pt["w_star"])[key]


def _scale(pt):
    return float(np.linalg.norm(pt["w"]) * np.linalg.norm(pt["w_star"])
                 + np.linalg.norm(pt["w"]) ** 2)


# switch rows at 2e-12 of the value (the quadrature reference agrees to < 1e-13 there): near
# the pi-edge series the cancelling group is ~1e-4 of the loss, so a wrong t^7 coefficient moves
# the loss by at most ~5e-11 relative, below the default 1e-10 (issue 19 item 8's series mutant)
register(reference_check("filter.population_loss", points, _ref("loss"),
                         label="polar quadrature of 1/2 (relu(w.z) - relu(w*.z))^2",
                         floor=_scale, switch_tol=2e-12))
register(reference_check("filter.population_grad", points, _ref("grad"),
                         label="polar quadrature of the per-sample gradient",
                         floor=lambda pt: math.sqrt(_scale(pt))))
register(reference_check("filter.A_plus", points, _ref("A_plus"), floor=0.5,
                         label="quadrature of z z^T 1{++} in the plane + P(++) off it"))
register(reference_check("filter.A_minus", points, _ref("A_minus"), floor=0.5,
                         label="quadrature of z z^T 1{+-} in the plane + P(+-) off it"))
register(fd_check("filter.population_grad", lambda pt: _ref("loss")(pt), "w", mc_points,
                  method="the network's loss by polar quadrature"))
for _n in ("filter.population_loss", "filter.population_grad", "filter.A_plus",
           "filter.A_minus"):
    if _n in ("filter.population_loss", "filter.population_grad"):
        register(mpmath_check(_n, points))


def _mc(which):
    def sampler(rng, n, pt):
        return F.sample(rng, n, pt["w"], pt["w_star"])[which]
    return sampler


register(mc_check("filter.population_loss", "network on Gaussian z", mc_points, _mc(0)))
register(mc_check("filter.population_grad", "network on Gaussian z", mc_points, _mc(1)))
register(mc_check("filter.A_plus", "z z^T 1{++} on Gaussian z", mc_points, _mc(2),
                  samples_scale=0.25))
register(mc_check("filter.A_minus", "z z^T 1{+-} on Gaussian z", mc_points, _mc(3),
                  samples_scale=0.25))


# --- eigenvalues, gamma, L, beta -------------------------------------------------------------

_W_STAR = np.array([0.8, -0.3, 0.5, 0.1, 1.2])


def _mats(theta):
    w = vector_at_angle(np.random.default_rng(7), _W_STAR, float(theta), 1.0)
    m = F.plane_moments(w, _W_STAR)
    return m["A_plus"], m["A_minus"]


def _eig(which, pick):
    def ref(pt):
        e = np.linalg.eigvalsh(_mats(pt["phi"])[which])
        return e[0] if pick == "min" else e[-1]
    return ref


def _grid_ref(pick):
    def ref(pt):
        thetas = np.append(np.linspace(0.0, pt["phi"], 25), pt["phi"])
        vals = [np.linalg.eigvalsh(_mats(t)[0]) for t in thetas]
        return min(v[0] for v in vals) if pick == "min" else max(v[-1] for v in vals)
    return ref


register(reference_check("filter.lambda_min_plus", phi_points, _eig(0, "min"),
                         label="LAPACK eigenvalues of the quadrature A_plus (p = 5)", floor=0.01))
register(reference_check("filter.lambda_max_plus", phi_points, _eig(0, "max"),
                         label="LAPACK eigenvalues of the quadrature A_plus (p = 5)", floor=0.01))
register(reference_check("filter.lambda_max_minus", phi_points, _eig(1, "max"),
                         label="LAPACK eigenvalues of the quadrature A_minus (p = 5)", floor=0.01))
register(reference_check("filter.gamma", phi_points, _grid_ref("min"), floor=0.01,
                         label="min over a theta-grid <= phi of lambda_min(quadrature A_plus)"))
register(reference_check("filter.L", phi_points, _grid_ref("max"), floor=0.01,
                         label="max over a theta-grid <= phi of lambda_max(quadrature A_plus)"))
def _l_equals_gamma_claim(subject, ctx):
    """l.6207: 'rotationally invariant distributions have gamma(phi) = L(phi)'.  The printed
    claim is judged on the MODEL: gamma and L both from the quadrature matrices (min / max over
    the theta-grid), never from the derived gamma (issue 19, item 6); the derived L must match
    its reference.  Passes as an erratum iff derived L is within 1e-8 of the reference and the
    reference gamma misses the reference L by more than 1e-6 at every point."""
    from .common import PAPER_MIN_GAP, PAPER_REF_TOL, call

    pts = [p for p in phi_points() if 0.01 < p["phi"] < math.pi - 0.01]
    err_d, gap, worst = 0.0, math.inf, None
    for pt in pts:
        L_ref, g_ref = float(_grid_ref("max")(pt)), float(_grid_ref("min")(pt))
        L_der = float(call(subject.fn, subject.formula, pt))
        err_d = max(err_d, abs(L_der - L_ref) / abs(L_ref))
        g = abs(g_ref - L_ref) / abs(L_ref)
        if g < gap:
            gap, worst = g, (pt["phi"], g_ref, L_ref)
    ok = err_d <= PAPER_REF_TOL and gap >= PAPER_MIN_GAP
    phi, g_ref, L_ref = worst
    return CheckResult(
        "filter.L", "paper", "printed vs derived", "differs", "derived", gap, "rel", ok,
        erratum=ok, erratum_class="printed error" if ok else "", resolution=PAPER_REF_TOL,
        detail=(f"printed error: l.6207 claims gamma(phi) = L(phi) for rotation-invariant input; "
                f"evidence from the model alone (quadrature matrices, {len(pts)} angles): gamma "
                f"and L differ by >= {gap:.3g} relative (closest at phi = {phi:.3g}: gamma "
                f"{g_ref:.6g}, L {L_ref:.6g}); derived L within {err_d:.1e} of its reference. For "
                "N(0, I), gamma = (pi - phi - sin phi)/(2 pi) < L for 0 < phi < pi"
                if ok else f"unresolved: derived L off its reference by {err_d:.1e}, reference "
                f"gamma vs L gap {gap:.1e}"))


add("filter.L", "paper", "printed vs derived (gamma = L, judged on the model)",
    _l_equals_gamma_claim, independent=False)


def _beta_ref(pt):
    phi = 1e-5
    return np.linalg.eigvalsh(_mats(phi)[1])[-1] / phi


def _beta_points():
    return [{"p": p} for p in (1, 2, 5, 10)]


register(reference_check("filter.beta", _beta_points, _beta_ref, tol=1e-9,
                         label="lambda_max(quadrature A_minus(phi))/phi at phi = 1e-5"))
register(paper_check(
    "filter.beta", _beta_points, reference=_beta_ref, klass="loose-but-valid bound",
    note="Thm 6.8 'beta <= p' holds (tight beta = 1/pi = 0.3183) but is loose by pi p; the "
         "intro's 'beta = p' (l.6216) as an equality is wrong"))
for _n in ("filter.lambda_min_plus", "filter.lambda_max_plus", "filter.lambda_max_minus",
           "filter.gamma", "filter.L"):
    register(mpmath_check(_n, phi_points))
register(mpmath_check("filter.beta", _beta_points))


def _beta_bound(subject, ctx):
    """Assumption 6.1 with the derived beta: max_{theta <= phi} lambda_max(A_minus) <= beta phi
    on a grid of phi in (0, pi/2] (quadrature matrices); worst ratio reported."""
    from .common import call

    beta = float(call(subject.fn, subject.formula, {"p": 5}))
    grid = np.linspace(1e-3, math.pi / 2, 40)
    ratio = max(np.linalg.eigvalsh(_mats(t)[1])[-1] / t for t in grid)
    return CheckResult("filter.beta", "simulation", "Assumption 6.1 holds with the derived beta",
                       ratio, beta, ratio / beta, "ratio", ratio <= beta * (1 + 1e-12),
                       detail=f"max over 40 phi in (0, pi/2] of lambda_max(A_-)/phi = {ratio:.7f}"
                              f" <= beta = {beta:.7f}; the thesis's beta = 1 (Thm 6.7) and "
                              f"beta <= p are valid but loose by {1 / beta:.3f} and {5 / beta:.2f}")


add("filter.beta", "simulation", "Assumption 6.1 holds with the derived beta",
    _beta_bound)


def _thm67_circle(subject, ctx):
    """Thm 6.7's plane matrix for unit-norm rotation-invariant input (the unit circle): the
    largest eigenvalue of E[z z^T 1{w.z>0, w*.z<=0}] by quadrature over the angle, vs the
    printed (phi + sin phi)/2."""
    from scipy import integrate

    rows = []
    for phi in (0.5, 1.1):
        ws = np.array([1.0, 0.0])
        w = np.array([math.cos(phi), math.sin(phi)])
        M = np.zeros((2, 2))
        for i in range(2):
            for j in range(2):
                f = lambda t: (np.cos(t), np.sin(t))[i] * (np.cos(t), np.sin(t))[j] / (2 * math.pi)  # noqa: E731
                lo, hi = phi - math.pi / 2, math.pi / 2  # w.z > 0
                # w*.z <= 0 <=> cos t <= 0: t in [pi/2, 3pi/2]; intersect with w.z > 0
                M[i, j] = integrate.quad(f, math.pi / 2, phi + math.pi / 2, epsabs=1e-14)[0]
                del lo, hi
        lam = np.linalg.eigvalsh(M)[-1]
        printed = (phi + math.sin(phi)) / 2
        rows.append((phi, lam, printed))
    worst = max(abs(p / l - 1) for _, l, p in rows)
    # the evidence pinned (issue 19, item 7): printed / quadrature is exactly 2 pi (the missing
    # angle density) at both angles, to 1e-9
    pinned = all(abs(p / l - 2 * math.pi) <= 1e-9 * 2 * math.pi for _, l, p in rows)
    return CheckResult(
        "filter.lambda_max_minus", "paper", "Thm 6.7 plane matrix (unit circle)",
        rows[-1][2], rows[-1][1], worst, "rel", pinned, erratum=True,
        erratum_class="printed error",
        detail=("[printed error] Thm 6.7 (l.6580) gives eigenvalues (phi +- sin phi)/2; "
                "quadrature on the unit circle gives " + ", ".join(
                    f"phi={a}: {l:.6f} vs printed {p:.6f} (ratio {p / l:.4f} = 2 pi)"
                    for a, l, p in rows) + "; the 1/(2 pi) angle density is missing, so "
                "beta = 1 is a loose-but-valid bound (tight 1/(2 pi) on the circle)"))


add("filter.lambda_max_minus", "paper", "Thm 6.7 plane matrix (unit circle)",
    _thm67_circle, independent=False)


# --- the k-patch gradient decomposition (C6-8, proof of Thm 6.3) ----------------------------

def _decomposition(subject, ctx):
    """Per sample on overlapping 1-D patches (stride 1, size 3, k = 6, Laplace input): the
    network's gradient vs (1/k^2)[S_{++,++}(w - w*) + (S_{++,+-} + S_{+-,++} + S_{+-,+-}) w
    - (S_{++,-+} + S_{+-,++} + S_{+-,-+}) w*] (and vs the printed form without 1/k^2)."""
    rng = ctx.rng("filter/decomposition")
    x = rng.laplace(size=(200, 8))
    Z = F.patches_1d(x, 3)
    k = Z.shape[1]
    w, w_star = np.array([0.7, -0.2, 0.4]), np.array([0.5, 0.3, -0.6])
    g = F.conv_per_sample_grad(Z, w, w_star)
    pw, ps = Z @ w > 0, Z @ w_star > 0
    R = {"++": pw & ps, "+-": pw & ~ps, "-+": ~pw & ps}

    def S(a, b):
        return np.einsum("nip,ni,njq,nj->npq", Z, R[a].astype(float), Z, R[b].astype(float))

    body = (np.einsum("npq,q->np", S("++", "++"), w - w_star)
            + np.einsum("npq,q->np", S("++", "+-") + S("+-", "++") + S("+-", "+-"), w)
            - np.einsum("npq,q->np", S("++", "-+") + S("+-", "++") + S("+-", "-+"), w_star))
    err = float(np.max(np.abs(g - body / k**2)) / np.max(np.abs(g)))
    printed = float(np.max(np.abs(g - body)) / np.max(np.abs(g)))
    return CheckResult(
        "filter.population_grad", "simulation", "k-patch decomposition (C6-8), per sample",
        err, 0.0, err, "rel", err < 1e-12, erratum=True, erratum_class="printed error",
        detail=(f"200 samples, k={k} overlapping patches: with 1/k^2 max rel. error {err:.1e}; "
                f"[printed error] the printed form (no 1/k^2, sums to (d, d)) is off by "
                f"{printed:.3g} relative (a factor k^2 = {k * k})"))


add("filter.population_grad", "simulation", "k-patch decomposition (C6-8), per sample",
    _decomposition, independent=False)


# --- 50 digits for the plane matrices (their basis e_w, e_perp is built in the emitted code) ---

def _mp_matrix_check(name):
    def run(subject, ctx):
        import mpmath
        import sympy as sp

        from derivations import filter as DF
        from derivations import vectors as V

        parts = {b: c for c, b in V.components(subject.formula.expr, 2)}
        bases = (V.outer(DF.EW, DF.EW), V.outer(DF.EW, DF.EP), V.outer(DF.EP, DF.EW),
                 V.outer(DF.EP, DF.EP), DF.I_P)
        fns = [sp.lambdify(DF.PHI, parts.get(b, sp.Integer(0)), "mpmath") for b in bases]
        worst = 0.0
        with mpmath.workdps(50):
            for pt in points():
                w = [mpmath.mpf(float(x)) for x in pt["w"]]
                s = [mpmath.mpf(float(x)) for x in pt["w_star"]]
                nw = mpmath.sqrt(mpmath.fsum(x * x for x in w))
                ns = mpmath.sqrt(mpmath.fsum(x * x for x in s))
                ew = [x / nw for x in w]
                sh = [x / ns for x in s]
                c = mpmath.fsum(a * b for a, b in zip(ew, sh))
                u = [b - c * a for a, b in zip(ew, sh)]
                nu = mpmath.sqrt(mpmath.fsum(x * x for x in u))
                phi = mpmath.atan2(nu, c)
                got = np.asarray(subject.fn(pt["w"], pt["w_star"]), float)
                if nu == 0:  # basis-independent only if the e_perp coefficients vanish
                    continue
                ep = [x / nu for x in u]
                co = [f(phi) for f in fns]
                p = len(w)
                ref = np.array([[float(co[0] * ew[i] * ew[j] + co[1] * ew[i] * ep[j]
                                       + co[2] * ep[i] * ew[j] + co[3] * ep[i] * ep[j]
                                       + (co[4] if i == j else 0)) for j in range(p)]
                                for i in range(p)])
                worst = max(worst, float(np.max(np.abs(got - ref))) / 0.5)
        return error_row(name, "mpmath", "float64 vs 50 digits", worst, 1e-12,
                         f"{len(points())} points incl. angle edges; e_w, e_perp and the "
                         "coefficients at 50 digits; error relative to 1/2", resolution=None)
    return Check(name, "mpmath", "float64 vs 50 digits", run, independent=False)


register(_mp_matrix_check("filter.A_plus"))
register(_mp_matrix_check("filter.A_minus"))


# --- the public fused function filter.population_loss_and_grads (issue 25): (loss, gradient) --

from . import register_public  # noqa: E402
from .common import backends, call_fused, public_reference_check, under_backend  # noqa: E402


def _fused_points():
    """The reference points one by one, one batch of 36 rows of p = 3 (the nine angles, edges
    included, four norm ratios each: more than the compiled backend's 32-row switch to its
    chunked arccos pass) and one call with ``out=`` buffers."""
    rng = np.random.default_rng(63)
    rows = []
    for k, ratio in enumerate((1.0, 1e-3, 7.0, 1e3)):
        for phi in ANGLES:
            w_star = rng.standard_normal(3)
            w_star *= (0.5, 2.0)[k % 2] / np.linalg.norm(w_star)
            rows.append((vector_at_angle(rng, w_star, phi, ratio * np.linalg.norm(w_star)), w_star))
    batch = {"w": np.stack([r[0] for r in rows]), "w_star": np.stack([r[1] for r in rows])}
    pts = points()
    return pts + [batch, {**pts[1], "use_out": 1}]


def _invoke_fused(fn, pt):
    return call_fused(fn, (pt["w"], pt["w_star"]), pt.get("use_out"))


def _ref_fused(pt):
    w = np.asarray(pt["w"], float)
    if w.ndim == 1:
        m = F.plane_moments(pt["w"], pt["w_star"])
        return m["loss"], m["grad"]
    ms = [F.plane_moments(a, b) for a, b in zip(pt["w"], pt["w_star"])]
    return np.array([m["loss"] for m in ms]), np.stack([m["grad"] for m in ms])


def _fused_floor(pt):
    if np.ndim(pt["w"]) > 1:
        rows = [{"w": a, "w_star": b} for a, b in zip(pt["w"], pt["w_star"])]
        return max(_scale(r) for r in rows), max(math.sqrt(_scale(r)) for r in rows)
    return _scale(pt), math.sqrt(_scale(pt))


for _be in backends():  # one row per installed backend of the emitted code (issue 25)
    _tag = "" if _be == "numpy" else f" ({_be} backend)"
    register_public(public_reference_check(
        "filter.population_loss_and_grads", _fused_points, under_backend(_invoke_fused, _be),
        _ref_fused, tol=1e-10, label="fused (loss, grad) vs polar quadrature" + _tag,
        method="polar quadrature of the model in the plane of w, w*; a batch of 36 rows and out= buffers",
        floor=_fused_floor, outputs=("loss", "grad")),
        "derivations.generated.filter:population_loss_and_grads",
        ("filter.population_loss", "filter.population_grad"))
