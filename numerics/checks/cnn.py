"""Checks of the CNN family (seed 004, ch. 5, Theorems 5.1 and 5.2).

* Monte Carlo: the network itself (numerics.simulators.cnn) on Gaussian patches: per-sample
  squared error and back-propagated gradients, averaged, with standard errors.
* Finite differences: every gradient against central differences of the loss it differentiates.
* Symbolic: the weight-normalization chain rule (eq. above 5.7) links grad_v to grad_w.
* 50-digit mpmath at angle edges, and the printed statements of eq. (5.3) and Theorem 5.2.
"""
from __future__ import annotations

import numpy as np

from ..harness import Check, CheckResult, Context, Subject
from ..simulators import cnn as sim
from . import register
from .common import (EDGE_ANGLES, fd_check, mc_check, mpmath_check, paper_check,
                     vector_at_angle)

P, K = 4, 3  # patch dimension and number of patches in the checks
NORM_WSTAR = 1.3  # teacher filter deliberately not unit norm


def points(angles=(0.5, 1.4, 2.5), seed=21, k=K, nv=0.8):
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


def w_points(angles=(0.5, 1.4, 2.5), seed=25):
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


for name, which, pts, normalized in (
    ("cnn.population_loss", 0, points, True),
    ("cnn.grad_v", 1, points, True),
    ("cnn.grad_a", 2, points, True),
    ("cnn.population_loss_w", 0, w_points, False),
    ("cnn.grad_w", 1, w_points, False),
):
    register(mc_check(name, "network on Gaussian patches", pts, _cnn_sampler(which, normalized)))

register(fd_check("cnn.grad_v", "cnn.population_loss", "v", points))
register(fd_check("cnn.grad_a", "cnn.population_loss", "a", points))
register(fd_check("cnn.grad_w", "cnn.population_loss_w", "w", w_points))

for name in ("cnn.population_loss", "cnn.grad_v", "cnn.grad_a"):
    register(mpmath_check(name, edge_points))
    register(paper_check(name, points))
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


register(Check("cnn.grad_v", "symbolic", "weight-norm chain rule from grad_w", _chain_rule))
