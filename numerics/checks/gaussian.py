"""Checks of the Lemma 5.6 identities (seed 004, ch. 5): Monte Carlo of z ~ N(0, I_p), the
50-digit evaluation of the emitted code, and the printed statements."""
from __future__ import annotations

import math

import numpy as np

from ..simulators import gaussian as sim
from . import register
from .common import EDGE_ANGLES, mc_check, mpmath_check, paper_check, vector_at_angle

P = 5  # dimension of z in the Monte Carlo checks


def _pairs(angles=(0.4, 1.3, 2.6), nw=1.7, nu=0.6, seed=11):
    """Points (w, u) at the given angles with |w| = nw, |u| = nu (the spec's C5-4 setting)."""
    rng = np.random.default_rng(seed)
    out = []
    for phi in angles:
        w = rng.standard_normal(P)
        w *= nw / np.linalg.norm(w)
        out.append({"w": w, "u": vector_at_angle(rng, w, phi, nu)})
    return out


def _edge_pairs():
    return _pairs(EDGE_ANGLES, seed=12) + _pairs((1.0,), nw=1e-3, nu=1e3, seed=13)


def _singles(seed=14):
    rng = np.random.default_rng(seed)
    return [{"w": 1.7 * rng.standard_normal(P) / math.sqrt(P)} for _ in range(2)]


register(mc_check("gaussian.relu_mean", "E relu(z.w)", _singles,
                  lambda rng, n, pt: sim.relu_mean(rng, n, pt["w"])))
register(mpmath_check("gaussian.relu_mean", lambda: _singles() + [{"w": np.array([1e-300, 0.0])}]))

register(mc_check("gaussian.relu_cross_moment", "E relu(z.w) relu(z.u)", _pairs,
                  lambda rng, n, pt: sim.relu_cross_moment(rng, n, pt["w"], pt["u"])))
register(mpmath_check("gaussian.relu_cross_moment", _edge_pairs))

register(mc_check("gaussian.halfspace_second_moment", "E z z^T 1{z.w>0} w", _singles,
                  lambda rng, n, pt: sim.halfspace_second_moment(rng, n, pt["w"])))
register(mpmath_check("gaussian.halfspace_second_moment", _singles))

register(mc_check("gaussian.wedge_second_moment", "E z z^T 1{wedge} u", _pairs,
                  lambda rng, n, pt: sim.wedge_second_moment(rng, n, pt["w"], pt["u"])))
register(mpmath_check("gaussian.wedge_second_moment", _edge_pairs))
register(paper_check("gaussian.wedge_second_moment", _pairs))


def _angles():
    return [{"phi": np.float64(a)} for a in (0.3, 1.2, 2.0, 2.9)]


register(mc_check("gaussian.g", "2 pi E relu(z.e1) relu(z.u)", _angles,
                  lambda rng, n, pt: sim.g_samples(rng, n, float(pt["phi"]))))
register(mpmath_check("gaussian.g", lambda: [{"phi": np.float64(a)} for a in EDGE_ANGLES]))
register(paper_check("gaussian.g", _angles))
