"""Checks of the CNN family (seed 004, ch. 5, Theorems 5.1 and 5.2).

* Reference (independent, ~1e-10): the network's loss and back-propagated gradients averaged by
  quadrature, patch by patch (numerics.simulators.cnn.quadrature: single-patch plane integrals
  of the network's relu units, assembled by the independence of the patches; never A/B), at
  random angles over [0, pi] plus the edges (0, pi, within 1e-7 of them, |cos phi| > 0.99),
  random k, p and norms, and norm ratios up to 1e6.
* Gradients also against Richardson-extrapolated central differences of the quadrature loss
  (resolves ~1e-8), independent of the derived loss.
* Monte Carlo: the network itself on Gaussian patches (sanity check; resolves ~1e-2).
* Finite differences: every gradient against central differences of the loss it differentiates.
* Symbolic: the weight-normalization chain rule (eq. above 5.7) links grad_v to grad_w.
* 50-digit mpmath at angle edges, and the printed statements of eq. (5.3) and Theorem 5.2.
"""
from __future__ import annotations

import numpy as np

from ..rows import Check, CheckResult, Context, Subject, consistency
from ..simulators import cnn as sim
from . import register
from .common import (EDGE_ANGLES, fd_check, mc_check, mpmath_check, paper_check,
                     random_angles, random_norm, reference_check, richardson_gradient,
                     vector_at_angle)

P, K = 4, 3  # patch dimension and number of patches in the checks
NORM_WSTAR = 1.3  # teacher filter deliberately not unit norm


#: Monte Carlo / FD angles: random (fixed seed) plus one with |cos phi| > 0.99.
MC_ANGLES = tuple(float(a) for a in np.random.default_rng(20).uniform(0, np.pi, 2)) + (3.05,)


def points(angles=MC_ANGLES, seed=21, k=K, nv=0.8):
    """Parameter points (v, a, w_star, a_star) with theta(v, w*) at the given angles."""
    rng = np.random.default_rng(seed)
    out = []
    for phi in angles:
        w_star = rng.standard_normal(P)
        w_star *= NORM_WSTAR / np.linalg.norm(w_star)
        out.append({
            "v": vector_at_angle(rng, w_star, phi, nv),
            "a": rng.standard_normal(k),
            "w_star": w_star,
            "a_star": rng.standard_normal(k),
        })
    return out


def edge_points():
    return points(EDGE_ANGLES, seed=22) + points((1.0,), seed=23, nv=1e-3) + points(
        (2.0,), seed=24, k=1)


def w_points(angles=MC_ANGLES, seed=25):
    """Points for the unnormalized-w formulas (|w| = 1.7)."""
    return [{"w": 1.7 / 0.8 * p.pop("v"), **p} for p in points(angles, seed)]


def _w_edge_points():
    return [{"w": p.pop("v") * 2.1, **p} for p in edge_points()]


def _cnn_sampler(which: int, normalized: bool):
    first = "v" if normalized else "w"

    def sample(rng, n, pt):
        return sim.samples(rng, n, pt[first], pt["a"], pt["w_star"], pt["a_star"],
                           normalized=normalized)[which]

    return sample


def reference_points(seed=27, n_random=6, normalized=True):
    """Random points over the whole domain: angles uniform on [0, pi] plus the reference edges,
    k in {1, 2, 3, 12}, p in {2, 3, 4}, log-uniform norms, and large norm ratios."""
    rng = np.random.default_rng(seed)
    out = []
    first = "v" if normalized else "w"
    angles = random_angles(rng, n_random)
    ratios = [(1e-3, 1e3), (1e3, 1e-3), (1.0, 1.0)]
    for i, phi in enumerate(angles + [0.9, 2.2, np.pi - 1e-7]):
        k, p = (1, 2, 3, 12)[i % 4], (2, 3, 4)[i % 3]
        nf, ns = (random_norm(rng), random_norm(rng)) if i < len(angles) else \
            ratios[i - len(angles)]
        w_star = rng.standard_normal(p)
        w_star *= ns / np.linalg.norm(w_star)
        out.append({first: vector_at_angle(rng, w_star, phi, nf), "a": rng.standard_normal(k),
                    "w_star": w_star, "a_star": rng.standard_normal(k)})
    return out


def _w_reference_points():
    return reference_points(seed=28, normalized=False)


def _quad(pt, normalized):
    first = pt["v"] if normalized else pt["w"]
    return sim.quadrature(first, pt["a"], pt["w_star"], pt["a_star"], normalized=normalized)


def _natural(pt, normalized, what):
    """The natural size of the output at ``pt`` (errors are judged relative to it, so that a
    value vanishing at an edge, e.g. grad_v at phi = 0, is not judged relative to itself)."""
    nw = 1.0 if normalized else float(np.linalg.norm(pt["w"]))
    nv = float(np.linalg.norm(pt["v"])) if normalized else 1.0
    na, nas = float(np.linalg.norm(pt["a"])), float(np.linalg.norm(pt["a_star"]))
    ns = float(np.linalg.norm(pt["w_star"]))
    if what == "loss":
        return ((na * nw) ** 2 + (nas * ns) ** 2) / (4 * np.pi)
    if what == "grad_a":
        return (na * nw * nw + nas * nw * ns) / (2 * np.pi)
    return na * (na * nw + nas * ns) / (2 * np.pi * nv)


_QUAD = ("quadrature of the network, patch by patch (plane integrals of the relu units, "
         "patches independent)")
for name, which, normalized, what in (
    ("cnn.population_loss", 0, True, "loss"),
    ("cnn.grad_v", 1, True, "grad"),
    ("cnn.grad_a", 2, True, "grad_a"),
    ("cnn.population_loss_w", 0, False, "loss"),
    ("cnn.grad_w", 1, False, "grad"),
):
    pts = reference_points if normalized else _w_reference_points
    register(reference_check(
        name, pts, (lambda pt, _w=which, _n=normalized: _quad(pt, _n)[_w]),
        label="vs quadrature of the network", method=_QUAD,
        floor=(lambda pt, _n=normalized, _what=what: _natural(pt, _n, _what)),
        # grad_v near antiparallel v, w* is the e2 part of the plane quadrature, which carries
        # ~1e-16 of the natural size as noise (measured 2.1e-10 of the value at pi - 0.0141
        # against 50 digits, where the emitted code is within 1e-13)
        switch_tol=(1e-9 if name == "cnn.grad_v" else None)))


def _fd_points():
    return reference_points(seed=29, n_random=3)[:6]


def _w_fd_points():
    return reference_points(seed=30, n_random=3, normalized=False)[:6]


for name, wrt, normalized, what in (("cnn.grad_v", "v", True, "grad"),
                                    ("cnn.grad_a", "a", True, "grad_a"),
                                    ("cnn.grad_w", "w", False, "grad")):
    register(reference_check(
        name, _fd_points if normalized else _w_fd_points,
        richardson_gradient(lambda pt, _n=normalized: _quad(pt, _n)[0], wrt),
        tol=1e-8, label="vs Richardson FD of the quadrature loss",
        method="central differences h, h/2 of the quadrature loss, Richardson-extrapolated",
        floor=(lambda pt, _n=normalized, _what=what: _natural(pt, _n, _what))))


for name, which, pts, normalized in (
    ("cnn.population_loss", 0, points, True),
    ("cnn.grad_v", 1, points, True),
    ("cnn.grad_a", 2, points, True),
    ("cnn.population_loss_w", 0, w_points, False),
    ("cnn.grad_w", 1, w_points, False),
):
    register(mc_check(name, "network on Gaussian patches", pts, _cnn_sampler(which, normalized)))

register(fd_check("cnn.grad_v", lambda pt: _quad(pt, True)[0], "v", points,
                  method="the network's loss by quadrature"))
register(fd_check("cnn.grad_a", lambda pt: _quad(pt, True)[0], "a", points,
                  method="the network's loss by quadrature"))
register(fd_check("cnn.grad_w", lambda pt: _quad(pt, False)[0], "w", w_points,
                  method="the network's loss by quadrature"))

for name, which in (("cnn.population_loss", 0), ("cnn.grad_v", 1), ("cnn.grad_a", 2)):
    register(mpmath_check(name, edge_points))
    register(paper_check(
        name, points, reference=(lambda pt, _w=which: _quad(pt, True)[_w]),
        method="quadrature of the network",
        klass="OCR reading" if name == "cnn.grad_v" else None,
        note=("the OCR of Theorem 5.2 (l.5143) drops the leading minus sign; the thesis restates "
              "the gradient with -1/(2 pi |v|) at l.5272 (spec gaussian.md C5-12)")
        if name == "cnn.grad_v" else ""))
for name in ("cnn.population_loss_w", "cnn.grad_w"):
    register(mpmath_check(name, _w_edge_points))


# --- A and B (eqs. 5.5, 5.6): Monte Carlo of the activation Gram matrices --------------------

def _ab_points():
    return [{**{k: v for k, v in p.items() if k in ("w_star",)}, "w": p["v"] / 0.8 * 1.1,
             "k": K} for p in points((0.6, 1.9), seed=26)]


register(mc_check("cnn.A", "E relu(Z^T w) relu(Z^T w)^T",
                  lambda: [{"w": p["w"], "k": p["k"]} for p in _ab_points()],
                  lambda rng, n, pt: sim.activation_gram(rng, n, pt["w"], pt["w"], pt["k"])))
register(mc_check("cnn.B", "E relu(Z^T w) relu(Z^T w*)^T", _ab_points,
                  lambda rng, n, pt: sim.activation_gram(rng, n, pt["w"], pt["w_star"], pt["k"])))
def _ab_reference_points():
    return [{"w": p["v"], "w_star": p["w_star"], "k": len(p["a"])} for p in reference_points(31)]


register(reference_check("cnn.A", lambda: [{"w": p["w"], "k": p["k"]} for p in _ab_reference_points()],
                         lambda pt: sim.activation_gram_quad(pt["w"], pt["w"], pt["k"]),
                         label="vs quadrature of relu(Z^T w) relu(Z^T w)^T",
                         method="quadrature per patch (diagonal) and per independent pair"))
register(reference_check("cnn.B", _ab_reference_points,
                         lambda pt: sim.activation_gram_quad(pt["w"], pt["w_star"], pt["k"]),
                         label="vs quadrature of relu(Z^T w) relu(Z^T w*)^T",
                         method="quadrature per patch (diagonal) and per independent pair",
                         floor=lambda pt: float(np.linalg.norm(pt["w"]) * np.linalg.norm(
                             pt["w_star"])) / (2 * np.pi)))
register(mpmath_check("cnn.A", lambda: [{"w": p["w"], "k": p["k"]} for p in _ab_points()]))
register(mpmath_check("cnn.B", lambda: [
    {"w": p["v"], "w_star": p["w_star"], "k": K} for p in edge_points() if len(p["a"]) == K]))


# --- the weight-normalization chain rule, proved symbolically --------------------------------

def _chain_rule(subject: Subject, ctx: Context) -> CheckResult:
    """grad_v = (1/|v|)(I - v v^T/|v|^2) grad_w at w = v/|v|, coefficient by coefficient."""
    import sympy as sp

    import derivations
    from derivations import cnn, vectors as V

    gw = derivations.get("cnn.grad_w").expr
    beta = sp.diff(gw, cnn.WS)  # coefficient of w* in grad_w
    alpha = sp.diff(gw, cnn.W)  # coefficient of w (killed by the projector)
    beta = cnn.weight_normalize(beta)
    nv, ns, phi = V.norm(cnn.V_), V.norm(cnn.WS), V.angle(cnn.V_, cnn.WS)
    # (I - v^ v^^T)(alpha v^ + beta w*) / |v| = beta (w* - |w*| cos(phi) v/|v|) / |v|
    expected = beta / nv * cnn.WS - beta * ns * sp.cos(phi) / nv**2 * cnn.V_
    got = subject.formula.expr
    residual = [sp.simplify(sp.diff(got - expected, b)) for b in (cnn.WS, cnn.V_)]
    rest = sp.simplify((got - expected).subs({cnn.WS: 0, cnn.V_: 0}))
    ok = all(r == 0 for r in residual) and rest == 0
    return CheckResult(
        "cnn.grad_v", "symbolic", "weight-norm chain rule from grad_w", "0" if ok else
        str(residual)[:60], "0", 0.0 if ok else 1.0, "proof", ok,
        detail=f"projector kills the w-term ({sp.sstr(alpha)[:40]}...); residual simplifies to 0"
        if ok else "residual does not vanish",
    )


register(consistency(Check("cnn.grad_v", "symbolic", "weight-norm chain rule from grad_w",
                           _chain_rule), "grad_v vs the derived grad_w"))


# --- public callables outside the registry: the fused functions (issue 19, item 4) ----------

from . import register_public  # noqa: E402
from .common import backends, call_fused, public_reference_check, under_backend  # noqa: E402


def _fused_points(normalized):
    """The reference points (k in {1, 2, 3, 5}, p in {2, 3, 4}, edges, norm ratios 1e6), one
    batch of 5 rows of equal shapes and one call with ``out=`` buffers."""
    pts = reference_points(normalized=True) if normalized else _w_reference_points()
    same = [p for p in pts if len(p["a"]) == 3 and len(p["w_star"]) == 4] or pts[:1]
    batch = {k: np.stack([np.asarray(p[k], float) for p in same]) for k in same[0]}
    return pts + [batch, {**pts[1], "use_out": 1}]


def _invoke_fused(first):
    def invoke(fn, pt):
        return call_fused(fn, (pt[first], pt["a"], pt["w_star"], pt["a_star"]), pt.get("use_out"))
    return invoke


def _ref_fused(normalized, n_out):
    first = "v" if normalized else "w"

    def ref(pt):
        x = np.asarray(pt[first], float)
        if x.ndim == 1:
            return _quad(pt, normalized)[:n_out]
        rows = [_quad({k: np.asarray(v)[b] for k, v in pt.items()}, normalized)[:n_out]
                for b in range(len(x))]
        return tuple(np.stack([np.asarray(r[j]) for r in rows]) for j in range(n_out))

    return ref


def _fused_floor(normalized, whats):
    def floor(pt):
        if np.ndim(pt["v" if normalized else "w"]) > 1:
            rows = [{k: np.asarray(v)[b] for k, v in pt.items()}
                    for b in range(len(pt["a"]))]
            return tuple(max(_natural(r, normalized, w) for r in rows) for w in whats)
        return tuple(_natural(pt, normalized, w) for w in whats)
    return floor


for _be in backends():  # one row per installed backend of the emitted code (issue 25)
    _tag = "" if _be == "numpy" else f" ({_be} backend)"
    register_public(public_reference_check(
        "cnn.population_loss_and_grads", lambda: _fused_points(True),
        under_backend(_invoke_fused("v"), _be),
        _ref_fused(True, 3), tol=1e-10, label="fused (loss, grad_v, grad_a) vs quadrature" + _tag,
        method=_QUAD + "; a batch of rows of one shape and out= buffers",
        floor=_fused_floor(True, ("loss", "grad", "grad_a")),
        outputs=("loss", "grad_v", "grad_a")),
        "derivations.generated.cnn:population_loss_and_grads",
        ("cnn.population_loss", "cnn.grad_v", "cnn.grad_a"))
    register_public(public_reference_check(
        "cnn.population_loss_w_and_grads", lambda: _fused_points(False),
        under_backend(_invoke_fused("w"), _be),
        _ref_fused(False, 2), tol=1e-10, label="fused (loss, grad_w) vs quadrature" + _tag,
        method=_QUAD + "; a batch of rows of one shape and out= buffers",
        floor=_fused_floor(False, ("loss", "grad")), outputs=("loss", "grad_w")),
        "derivations.generated.cnn:population_loss_w_and_grads",
        ("cnn.population_loss_w", "cnn.grad_w"))
