"""Gaussian-input identities of Lemma 5.6 (seed 004, thesis ch. 5, proof in sec. 5.7).

Model: ``z ~ N(0, I_p)``, ``sigma(x) = max(x, 0)``.  Every expectation below depends on ``z``
only through its projection onto the plane spanned by the two weight vectors, so it is computed
as an integral over that plane in polar coordinates, with the standard normal density
``r exp(-r^2/2) / (2 pi) dr dtheta``.  With ``e1 = w/|w|`` and ``u/|u| = cos(phi) e1 +
sin(phi) e2``:

* the half-space ``{z.w > 0}`` is ``theta in (-pi/2, pi/2)``;
* the wedge ``{z.w > 0, z.u > 0}`` is ``theta in (phi - pi/2, pi/2)`` (``phi in [0, pi]``).

The component of ``z`` orthogonal to the plane is independent of the in-plane part and has mean
zero, so it contributes nothing to the first-moment terms below.  (Cartesian integration over
the wedge returns a Piecewise in ``|tan(phi)|`` that is wrong for ``phi > pi/2``; the polar
form has no such branch, see docs/errata.md.)
"""
from __future__ import annotations

import sympy as sp

from . import vectors as V
from .knobs import cached, knob
from .registry import Arg, Formula, register

SOURCE = "004 thesis, Lemma 5.6"
r = sp.Symbol("r", positive=True)
theta = sp.Symbol("theta", real=True)
PHI = sp.Symbol("phi", nonnegative=True)  # generic angle used inside the plane integrals

#: The standard normal density of the plane in polar coordinates (unperturbed; the derivations
#: below build it with :func:`density`, whose constants are knobs).
DENSITY = r * sp.exp(-(r**2) / 2) / (2 * sp.pi)
HALFSPACE = (-sp.pi / 2, sp.pi / 2)
WEDGE = (PHI - sp.pi / 2, sp.pi / 2)

# In-plane coordinates of z (unit directions e1 = w/|w|, e2) and the projection onto u/|u|.
Z1 = r * sp.cos(theta)
Z2 = r * sp.sin(theta)
ZU = r * sp.cos(theta - PHI)


def density() -> sp.Expr:
    """``r exp(-r^2/(2 s)) c`` with the normalization ``c = 1/(2 pi)`` and the variance
    ``s = 1`` as knobs (``gaussian.density_norm``, ``gaussian.density_variance``)."""
    c = knob("gaussian.density_norm", 1 / (2 * sp.pi))
    s = knob("gaussian.density_variance", 1)
    return c * r * sp.exp(-(r**2) / (2 * s))


def region_limits(region: tuple) -> tuple:
    """The angular limits of ``region`` with the half-plane edge ``pi/2`` as a knob
    (``gaussian.halfplane_edge``): ``{z.w > 0}`` is ``|theta| < pi/2``."""
    edge = knob("gaussian.halfplane_edge", sp.pi / 2)
    return tuple(sp.sympify(lim).xreplace({sp.pi / 2: edge, -sp.pi / 2: -edge})
                 for lim in region)


@cached
def plane_expectation(integrand: sp.Expr, region: tuple) -> sp.Expr:
    """``E[integrand * 1{theta in region}]`` for z in the plane, by iterated polar integrals."""
    radial = sp.integrate(sp.expand(integrand * density()), (r, 0, sp.oo))
    angular = sp.integrate(sp.expand_trig(sp.expand(radial)), (theta, *region_limits(region)))
    return sp.simplify(angular)


# --------------------------------------------------------------------------------------------
# Lemma 5.6, derived
# --------------------------------------------------------------------------------------------


def halfspace_probability() -> sp.Expr:
    """``P(z.w > 0)`` (= 1/2); used by the indicator identities."""
    return plane_expectation(sp.Integer(1), HALFSPACE)


def relu_mean(w: sp.Symbol) -> sp.Expr:
    """Lemma 5.6 (ii) integrated: ``E[sigma(z.w)] = |w| E[z1 1{z1 > 0}]``."""
    return V.norm(w) * plane_expectation(Z1, HALFSPACE)


def relu_cross_moment(w: sp.Symbol, u: sp.Symbol) -> sp.Expr:
    """Lemma 5.6 (iv): ``E[sigma(z.w) sigma(z.u)] = |w||u| E[z1 (z.u^) 1{wedge}]``."""
    inner = plane_expectation(Z1 * ZU, WEDGE)
    return V.norm(w) * V.norm(u) * inner.subs(PHI, V.angle(w, u))


def halfspace_second_moment(w: sp.Symbol) -> sp.Expr:
    """Lemma 5.6 (i): ``E[z z^T 1{z.w > 0}] w = E[z (z.w) 1{z.w > 0}]``.

    In-plane components along ``e1 = w/|w|`` and ``e2``; the orthogonal part averages to zero.
    Returns a multiple of the vector ``w`` (the ``e2`` component must vanish and is checked).
    """
    along_e1 = V.norm(w) * plane_expectation(Z1 * Z1, HALFSPACE)
    along_e2 = V.norm(w) * plane_expectation(Z2 * Z1, HALFSPACE)
    if sp.simplify(along_e2) != 0:
        raise AssertionError(f"half-space moment has an e2 component {along_e2}")
    return sp.simplify(along_e1 / V.norm(w)) * w


def wedge_second_moment(w: sp.Symbol, u: sp.Symbol) -> sp.Expr:
    """Lemma 5.6 (iii): ``E[z z^T 1{z.w > 0, z.u > 0}] u = E[z (z.u) 1{wedge}]``.

    The in-plane components ``c1 e1 + c2 e2`` are lifted back with ``e1 = w/|w|`` and
    ``e2 = (u/|u| - cos(phi) e1) / sin(phi)``; the coefficients are then simplified, and the
    ``1/sin(phi)`` cancels (the result is regular at ``phi = 0, pi``).
    """
    phi = V.angle(w, u)
    c1 = (V.norm(u) * plane_expectation(Z1 * ZU, WEDGE)).subs(PHI, phi)
    c2 = (V.norm(u) * plane_expectation(Z2 * ZU, WEDGE)).subs(PHI, phi)
    coeff_u = sp.simplify(c2 / sp.sin(phi) / V.norm(u))
    coeff_w = sp.simplify((c1 - c2 * sp.cos(phi) / sp.sin(phi)) / V.norm(w))
    return coeff_w * w + coeff_u * u


def g_function() -> sp.Expr:
    """``g(phi) = 2 pi E[sigma(z.w^) sigma(z.u^)]`` for unit vectors at angle ``phi``."""
    return sp.simplify(knob("gaussian.g_factor", 2 * sp.pi) * plane_expectation(Z1 * ZU, WEDGE))


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

W = V.vector("w", "p")
U = V.vector("u", "p")
_ZW = "z ~ N(0, I_p)"

register(Formula(
    "gaussian.relu_mean", f"{SOURCE} (ii), integrated",
    (Arg("w", "vector", "weight vector", "p"),),
    _ZW, lambda: relu_mean(W),
    lhs=r"\mathbb{E}\left[\sigma(\mathbf{z}^\top\mathbf{w})\right]",
))
register(Formula(
    "gaussian.relu_cross_moment", f"{SOURCE} (iv)",
    (Arg("w", "vector", "first weight vector", "p", nonzero=True),
     Arg("u", "vector", "second weight vector", "p", nonzero=True)),
    _ZW + "; phi = angle(w, u)", lambda: relu_cross_moment(W, U),
    lhs=r"\mathbb{E}\left[\sigma(\mathbf{z}^\top\mathbf{w})\sigma(\mathbf{z}^\top\mathbf{u})\right]",
))
register(Formula(
    "gaussian.halfspace_second_moment", f"{SOURCE} (i)",
    # no nonzero contract: the moment is w/2, which is 0 at w = 0 (the indicator multiplies
    # z.w = 0 there), so w = 0 is a valid input; only NaN/inf are rejected
    (Arg("w", "vector", "weight vector", "p"),),
    _ZW, lambda: halfspace_second_moment(W), rank=1,
    lhs=r"\mathbb{E}\left[\mathbf{z}\mathbf{z}^\top\mathbb{I}\{\mathbf{z}^\top\mathbf{w}>0\}\right]\mathbf{w}",
))
register(Formula(
    "gaussian.wedge_second_moment", f"{SOURCE} (iii)",
    (Arg("w", "vector", "weight vector defining the first half-space", "p", nonzero=True),
     Arg("u", "vector", "second weight vector (multiplies the moment matrix)", "p", nonzero=True)),
    _ZW + "; phi = angle(w, u)", lambda: wedge_second_moment(W, U), rank=1,
    lhs=(r"\mathbb{E}\left[\mathbf{z}\mathbf{z}^\top\mathbb{I}\{\mathbf{z}^\top\mathbf{w}>0,"
         r"\mathbf{z}^\top\mathbf{u}>0\}\right]\mathbf{u}"),
    paper=lambda: ((sp.pi - V.angle(W, U)) / (2 * sp.pi) * U
                   + sp.sin(V.angle(W, U)) / (2 * sp.pi) * V.norm(U) / V.norm(W) * W),
    paper_reading="Lemma 5.6 (iii), l.5702: (pi - phi)/(2 pi) w* + sin(phi)/(2 pi) |w*|/|w| w",
))
register(Formula(
    "gaussian.g", "004 thesis, ch. 5, g(phi) below Theorem 5.1",
    (Arg("phi", "scalar", "angle in [0, pi]"),),
    "g(phi) = 2 pi E[sigma(z.w) sigma(z.u)] for unit w, u at angle phi",
    lambda: g_function(),
    lhs=r"g(\phi)",
    validate=('_rt.require((phi >= 0) & (phi <= numpy.pi), "phi", "must lie in [0, pi]")',),
    paper=lambda: (sp.pi - PHI) * sp.cos(PHI) + sp.sin(PHI),
    paper_reading="g(phi) = (pi - phi) cos(phi) + sin(phi), as printed below eq. (5.3)",
))
