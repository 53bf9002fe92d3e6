"""Checks of the Lemma 5.6 identities (seed 004, ch. 5).

* Reference (independent, ~1e-10): the model's integrand (relu of the projections of z,
  indicators) integrated by polar Gauss quadrature over the plane of the vectors
  (:mod:`numerics.quadrature`), at random angles over ``[0, pi]`` plus the edges (0, pi,
  within 1e-7 of them, ``|cos phi| > 0.99``) and norm ratios up to 1e6.
* Monte Carlo of ``z ~ N(0, I_p)`` at seeded random angles and near-parallel ones (0.01,
  pi - 0.12): a sanity check of the model; resolves ~1e-2.
* 50-digit evaluation of the emitted code (emission only), and the printed statements, whose
  disagreements must be sided by the quadrature reference.
"""
from __future__ import annotations

import math

import numpy as np

from ..simulators import gaussian as sim
from . import register
from .common import (EDGE_ANGLES, mc_check, mpmath_check, paper_check, random_angles,
                     random_norm, reference_check, vector_at_angle)

P = 5  # dimension of z in the checks


#: Monte Carlo angles besides two random ones: the careful near-parallel branch of the emitted
#: code (|cos phi| > 0.9999) and |cos phi| > 0.99 near pi (closer to pi the relative MC error of
#: the vanishing moments is too coarse to mean anything; the quadrature reference covers it).
MC_EDGE_ANGLES = (0.01, math.pi - 0.12)


def _mc_angles(rng, n_random=2):
    return [float(a) for a in rng.uniform(0.0, math.pi, n_random)] + list(MC_EDGE_ANGLES)


def _pairs(angles=None, nw=1.7, nu=0.6, seed=11):
    """Points (w, u) with |w| = nw, |u| = nu (the spec's C5-4 setting) at the given angles, by
    default two seeded random angles and the near-parallel ones (:data:`MC_EDGE_ANGLES`)."""
    rng = np.random.default_rng(seed)
    angles = _mc_angles(rng) if angles is None else angles
    out = []
    for phi in angles:
        w = rng.standard_normal(P)
        w *= nw / np.linalg.norm(w)
        out.append({"w": w, "u": vector_at_angle(rng, w, phi, nu)})
    return out


def _edge_pairs():
    return _pairs(EDGE_ANGLES, seed=12) + _pairs((1.0,), nw=1e-3, nu=1e3, seed=13)


def reference_pairs(seed=15, n_random=6):
    """(w, u) at random angles and the reference edges, random norms, and large norm ratios."""
    rng = np.random.default_rng(seed)
    out = []
    for i, phi in enumerate(random_angles(rng, n_random)):
        p = (2, 3, P)[i % 3]
        w = rng.standard_normal(p)
        w *= random_norm(rng) / np.linalg.norm(w)
        out.append({"w": w, "u": vector_at_angle(rng, w, phi, random_norm(rng))})
    for nw, nu, phi in ((1e-3, 1e3, 0.8), (1e3, 1e-3, 2.9), (50.0, 0.02, math.pi - 1e-7)):
        w = rng.standard_normal(P)
        w *= nw / np.linalg.norm(w)
        out.append({"w": w, "u": vector_at_angle(rng, w, phi, nu)})
    return out


def _singles(seed=14):
    rng = np.random.default_rng(seed)
    return [{"w": 1.7 * rng.standard_normal(P) / math.sqrt(P)} for _ in range(2)]


def reference_singles(seed=16):
    rng = np.random.default_rng(seed)
    out = []
    for p, nw in ((2, 0.3), (3, 1.0), (P, 7.0), (P, 1e-3), (4, 1e3)):
        w = rng.standard_normal(p)
        out.append({"w": w * nw / np.linalg.norm(w)})
    return out


def _norms(pt):
    return float(np.linalg.norm(pt["w"]) * np.linalg.norm(pt["u"]))


_QUAD = "polar Gauss quadrature of the model's integrand with relu kinks as breakpoints"


def _reference_long(*args, **kw):
    """The reference check with the long-vector size rows too (vectors of 8192 and 8193
    entries: the blocked ddot of single vectors; the line and plane quadratures cost the same at
    any length)."""
    return reference_check(*args, long_vectors=True, **kw)


register(_reference_long("gaussian.relu_mean", reference_singles,
                         lambda pt: sim.relu_mean_quad(pt["w"]),
                         label="vs quadrature of relu(z.w)", method="Gauss-Legendre on the line"))
register(mc_check("gaussian.relu_mean", "E relu(z.w)", _singles,
                  lambda rng, n, pt: sim.relu_mean(rng, n, pt["w"])))
register(mpmath_check("gaussian.relu_mean", lambda: _singles() + [{"w": np.array([1e-300, 0.0])}]))

register(_reference_long("gaussian.relu_cross_moment", reference_pairs,
                         lambda pt: sim.relu_cross_moment_quad(pt["w"], pt["u"]),
                         label="vs quadrature of relu(z.w) relu(z.u)", method=_QUAD,
                         floor=lambda pt: _norms(pt) / (2 * math.pi)))
register(mc_check("gaussian.relu_cross_moment", "E relu(z.w) relu(z.u)", _pairs,
                  lambda rng, n, pt: sim.relu_cross_moment(rng, n, pt["w"], pt["u"])))
register(mpmath_check("gaussian.relu_cross_moment", _edge_pairs))

register(_reference_long("gaussian.halfspace_second_moment", reference_singles,
                         lambda pt: sim.halfspace_second_moment_quad(pt["w"]),
                         label="vs quadrature of z (z.w) 1{z.w>0}", method=_QUAD))
register(mc_check("gaussian.halfspace_second_moment", "E z z^T 1{z.w>0} w", _singles,
                  lambda rng, n, pt: sim.halfspace_second_moment(rng, n, pt["w"])))
register(mpmath_check("gaussian.halfspace_second_moment", _singles))


def _wedge_ref(pt):
    return sim.wedge_second_moment_quad(pt["w"], pt["u"])


register(_reference_long("gaussian.wedge_second_moment", reference_pairs, _wedge_ref,
                         label="vs quadrature of z (z.u) 1{wedge}", method=_QUAD,
                         floor=lambda pt: float(np.linalg.norm(pt["u"])) / (2 * math.pi)))
register(mc_check("gaussian.wedge_second_moment", "E z z^T 1{wedge} u", _pairs,
                  lambda rng, n, pt: sim.wedge_second_moment(rng, n, pt["w"], pt["u"])))
register(mpmath_check("gaussian.wedge_second_moment", _edge_pairs))
register(paper_check("gaussian.wedge_second_moment", _pairs, reference=_wedge_ref,
                     method="quadrature"))


def _angles(seed=18):
    return [{"phi": np.float64(a)} for a in _mc_angles(np.random.default_rng(seed))]


def reference_angles(seed=17):
    return [{"phi": np.float64(a)} for a in random_angles(np.random.default_rng(seed), 8)]


def _g_ref(pt):
    return sim.g_quad(float(pt["phi"]))


register(reference_check("gaussian.g", reference_angles, _g_ref,
                         label="vs quadrature of 2 pi relu(z1) relu(z.u)", method=_QUAD,
                         floor=1.0))
register(mc_check("gaussian.g", "2 pi E relu(z.e1) relu(z.u)", _angles,
                  lambda rng, n, pt: sim.g_samples(rng, n, float(pt["phi"]))))
register(mpmath_check("gaussian.g", lambda: [{"phi": np.float64(a)} for a in EDGE_ANGLES]))
register(paper_check("gaussian.g", _angles, reference=_g_ref, method="quadrature"))
