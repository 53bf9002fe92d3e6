"""Stationary points, the profile loss and the spurious-minimum criterion (seed 004, thesis ch. 5).

Registers ``cnn.*`` formulas (the family ``cnn``; the loss and gradients themselves live in
:mod:`derivations.cnn`, which this module only imports).  Everything is derived from the loss of
Theorem 5.1 as derived there (``cnn.population_loss``):

1. ``a_opt(phi)`` (Lemma 5.1's proof, l.5755): the loss is quadratic in ``a`` with Hessian
   ``(J + (pi - 1) I)/(2 pi)`` (positive definite), so its minimizer is the unique solution of
   ``grad_a l = 0``.  SymPy's gradient is a combination of ``a``, ``1`` and ``a*``; with the
   ansatz ``a = x a* + y 1`` (the span {a*, 1} is invariant under ``J`` and ``I``) the equation
   splits into one linear equation per basis vector, which :func:`sympy.solve` solves for
   ``x, y``.  (This is Sherman-Morrison for ``(J + (pi - 1) I)^{-1}`` done in the basis
   {1, a*}; a solution exists, so it is the minimizer.)
2. ``profile_loss(phi) = l(phi, a_opt(phi))`` by substituting the invariants of ``a_opt``.
3. Lemma 5.1: ``grad_v l`` is ``(pi - phi) (a.a*) / (2 pi |v|)`` times the projection of
   ``w*`` orthogonal to ``v``, of length ``|w*| sin(phi)``; :func:`stationary_angles` solves
   ``(pi - phi) sin(phi) = 0`` on ``[0, pi]`` with SymPy, and the stationary ``a`` is
   ``a_opt`` there.  ``spurious_min_loss = profile_loss(pi)``.
4. The criterion: ``g(pi - eps) = eps^3/3 + ...``, so the first two ``phi``-derivatives of the
   profile loss vanish at ``pi``; the point ``(pi, a_sp)`` is a local minimum iff
   ``profile(pi - eps) > profile(pi)``, i.e. iff the third derivative at ``pi`` is negative.
   SymPy computes that derivative; it is linear in ``s^2 = (1^T a*)^2`` and ``|a*|^2``, and
   solving it for ``r = s^2/|a*|^2`` gives the threshold ``r_c(k)``
   (:func:`spurious_threshold`).  For ``r < r_c`` the point is a (degenerate, cubic) local
   minimum of ``l`` (since ``l(phi, a) >= profile(phi) >= profile(pi)``), for ``r > r_c`` a
   saddle.
5. Theorem 5.4's initialization: exact ``E cos(phi0)`` and ``E (a0)^T a*`` after the sign
   choice, from the marginal densities of one coordinate of a uniform point on the sphere /
   in the ball, themselves derived: the ball's section at ``x_1 = t`` has the radius SymPy
   solves from ``t^2 + r^2 = rho^2``, the sphere's density is ``d/d rho`` of the section
   volume (coarea), each normalized by ``sp.integrate`` (Gamma functions).
"""
from __future__ import annotations

import sympy as sp

from . import cnn as C
from . import gaussian as G
from . import vectors as V
from .registry import Arg, Formula, register
from .registry import get as _get_formula

from .knobs import cached, knob

SOURCE = "004 thesis"
PHI = G.PHI  # the fixed angle between v and w* (a scalar argument of the emitted functions)
X, Y = sp.symbols("x y", real=True)
K = V.dim("k")
R = sp.Symbol("r", nonnegative=True)  # r = (1^T a*)^2 / |a*|^2
EPS = sp.Symbol("epsilon", positive=True)

_n2, _s, _nw = V.norm(C.AS) ** 2, V.total(C.AS), V.norm(C.WS)


def loss_at_angle() -> sp.Expr:
    """Theorem 5.1's loss with the angle theta(v, w*) replaced by the scalar ``phi``."""
    return C.population_loss().subs(C.PHI, PHI)


def _ansatz_invariants(x, y) -> dict:
    """Invariants of ``a = x a* + y 1`` (``1^T 1 = k``)."""
    return {
        V.norm(C.A_): sp.sqrt(x**2 * _n2 + 2 * x * y * _s + y**2 * K),
        V.total(C.A_): x * _s + y * K,
        V.dot(C.A_, C.AS): x * _n2 + y * _s,
    }


@cached
def a_opt_coefficients() -> tuple[sp.Expr, sp.Expr]:
    """``(x, y)`` with ``argmin_a l(phi, a) = x a* + y 1``: SymPy solves ``grad_a l = 0``."""
    grad = V.grad(loss_at_angle(), C.A_)
    sub = grad.subs(_ansatz_invariants(X, Y)).subs(C.A_, X * C.AS + Y * C.ONE_K)
    sub = sp.expand(sub)
    eqs = [sp.diff(sub, C.AS), sp.diff(sub, C.ONE_K)]
    sol = sp.solve(eqs, [X, Y], dict=True)
    if len(sol) != 1:
        raise AssertionError(f"grad_a l = 0 has {len(sol)} solutions in span(a*, 1)")
    return in_terms_of_g(sol[0][X]), in_terms_of_g(sol[0][Y])


def a_opt() -> sp.Expr:
    """``argmin_a l(phi, a)`` as ``x a* + y 1`` (C5-14, general phi)."""
    x, y = a_opt_coefficients()
    return x * C.AS + y * C.ONE_K


GSYM = sp.Symbol("g", real=True)


def _tidy(expr: sp.Expr, factor: bool = False) -> sp.Expr:
    """``simplify`` (and ``factor``) for the printed closed form; skipped while a knob is
    perturbed (a mutant of the derivation: the form does not matter there, and ``simplify`` of
    a perturbed expression can run for minutes)."""
    from . import knobs

    if knobs.current():
        return expr
    e = sp.simplify(expr)
    return sp.factor(e) if factor else e


def in_terms_of_g(expr: sp.Expr) -> sp.Expr:
    """Rewrite ``expr`` through ``g(phi) = (pi - phi) cos(phi) + sin(phi)`` when ``phi`` enters
    only through ``g`` (``sin(phi) -> g - (pi - phi) cos(phi)``), simplify, factor, and
    substitute ``g(phi)`` back: a compact form without cancelling trigonometric terms.  If
    ``phi`` enters otherwise (e.g. a perturbed upstream derivation), ``expr`` is only
    simplified."""
    from . import knobs

    if knobs.current():  # a mutant of the derivation: the form is irrelevant, and simplify()
        return expr       # of a perturbed expression runs for minutes
    e = sp.simplify(sp.expand(expr).subs(sp.sin(PHI), GSYM - (sp.pi - PHI) * sp.cos(PHI)))
    if PHI in e.free_symbols:
        return sp.simplify(expr)
    gexpr = (sp.pi - PHI) * sp.cos(PHI) + sp.sin(PHI)
    return sp.factor(e).subs(GSYM, gexpr)


@cached
def profile_loss() -> sp.Expr:
    """``min_a l(phi, a) = l(phi, a_opt(phi))`` (C5-16), as a function of ``g(phi)``."""
    x, y = a_opt_coefficients()
    return in_terms_of_g(loss_at_angle().subs(_ansatz_invariants(x, y)))


def stationary_angles() -> set:
    """Lemma 5.1: the angles where ``grad_v l = 0`` (given a.a* != 0 and |v| < inf).

    ``grad_v l`` is the coefficient of ``w*`` (a multiple of ``(pi - phi) a.a* / |v|``) times
    ``w* - (w*.v^) v^``, whose length is ``|w*| sin(phi)``.  SymPy takes the coefficient from
    the derived gradient and solves on ``[0, pi]``.
    """
    gv = C.grad_v().subs(C.PHI, PHI)
    coeff = sp.diff(gv, C.WS)  # multiplies w*; the v-term completes the orthogonal projection
    length = sp.simplify(coeff * V.dot(C.A_, C.AS) ** -1 * V.norm(C.V_)) * sp.sin(PHI)
    return set(sp.solveset(sp.simplify(length), PHI, sp.Interval(0, sp.pi)))


def spurious_phi() -> sp.Expr:
    """The non-global stationary angle (``pi``); a knob so that mutants move it."""
    return knob("cnn.spurious_phi", sp.pi)


def spurious_min_loss() -> sp.Expr:
    """``l`` at Lemma 5.1's ``phi = pi`` stationary point (C5-15)."""
    return _tidy(profile_loss().subs(PHI, spurious_phi()), factor=True)


def spurious_a() -> sp.Expr:
    """``a_sp = a_opt(pi)`` (Lemma 5.1)."""
    x, y = a_opt_coefficients()
    return _tidy(x.subs(PHI, spurious_phi())) * C.AS + _tidy(y.subs(PHI, spurious_phi())) * C.ONE_K


@cached
def third_derivative_at_pi() -> sp.Expr:
    """``d^3/dphi^3 profile_loss`` at ``phi = pi`` (the first two derivatives vanish there)."""
    from . import knobs

    prof = profile_loss()
    if not knobs.current():  # side condition of the unperturbed derivation
        d1, d2 = (sp.simplify(sp.diff(prof, PHI, n).subs(PHI, sp.pi)) for n in (1, 2))
        if d1 != 0 or d2 != 0:
            raise AssertionError(f"profile loss not flat at pi: {d1}, {d2}")
    return _tidy(sp.diff(prof, PHI, 3).subs(PHI, sp.pi), factor=True)


def spurious_threshold() -> sp.Expr:
    """``r_c(k)``: the point ``(pi, a_sp)`` is a local minimum iff ``r < r_c`` (C5-16).

    Local minimum iff ``profile(pi - eps) > profile(pi)`` for small eps, i.e. iff the third
    derivative at ``pi`` is negative; with ``(1^T a*)^2 = r |a*|^2`` it is linear in ``r``,
    and SymPy solves it for the sign change.
    """
    from . import knobs

    d3 = third_derivative_at_pi().subs(_s, sp.sqrt(R) * V.norm(C.AS))
    slope = sp.diff(d3, R)
    if knobs.current() and sp.diff(slope, R) == 0:
        sol = [-d3.subs(R, 0) / slope]  # a mutant: the root of the linear equation, unsimplified
    else:
        sol = sp.solve(sp.Eq(d3, 0), R)
    if len(sol) != 1:
        raise AssertionError(f"threshold equation has solutions {sol}")
    # orientation: below the threshold (r = 0) the third derivative must be negative
    if not knobs.current() and not (sp.simplify(d3.subs(R, 0)) / (_nw**2 * _n2)).is_negative:
        raise AssertionError("d3 at r = 0 is not negative: the criterion is reversed")
    return _tidy(sol[0])


def spurious_min_cubic_coefficient() -> sp.Expr:
    """``c`` with ``profile(pi - eps) - profile(pi) = c eps^3 + O(eps^4)`` (= -d3/6)."""
    return _tidy(-third_derivative_at_pi() / 6)


# --- exact one-step identities of population GD (C5-17, C5-19, C5-20) ----------------------

ETA = sp.Symbol("eta", positive=True)
#: Scalar stand-ins for the invariants of the state (the emitted recursions take scalars, so
#: that a batch of runs is a batch of numbers: v stays in span(v0, w*) and the part of a
#: orthogonal to 1 and a* decouples, so (phi, |v|, a.a*, 1^T a) is a closed state).
NV, DOT, SUMA = (sp.Symbol("v_norm", positive=True), sp.Symbol("a_dot", real=True),
                 sp.Symbol("a_sum", real=True))
NWS, NAS, SUMS = (sp.Symbol("ws_norm", positive=True), sp.Symbol("as_norm", nonnegative=True),
                  sp.Symbol("as_sum", real=True))


def _inner(vec: sp.Expr, u: sp.Symbol) -> sp.Expr:
    """``vec . u`` for ``vec`` a combination of basis vectors (each ``b . u`` an invariant)."""
    return sp.Add(*[c * V.dot(b, u) for c, b in V.components(vec, 1)])


def _to_state(expr: sp.Expr) -> sp.Expr:
    """Invariant symbols -> the scalar state symbols (``v.w* = |v||w*|cos(phi)``)."""
    return expr.subs({
        V.dot(C.V_, C.WS): V.norm(C.V_) * V.norm(C.WS) * sp.cos(C.PHI),
    }).subs({
        C.PHI: PHI, V.norm(C.V_): NV, V.dot(C.A_, C.AS): DOT, V.total(C.A_): SUMA,
        V.norm(C.WS): NWS, V.norm(C.AS): NAS, V.total(C.AS): SUMS,
    })


def _eta() -> sp.Expr:
    return knob("cnn.gd_eta", 1) * ETA


def gd_next_dot() -> sp.Expr:
    """C5-19 / eq. (5.4): ``(a - eta grad_a l) . a*`` from the derived gradient."""
    new_a = C.A_ - _eta() * C.grad_a()
    return sp.collect(sp.expand(_to_state(_inner(new_a, C.AS))), ETA)


def gd_next_sum() -> sp.Expr:
    """C5-20 / Lemma 5.4: ``1^T (a - eta grad_a l)``."""
    new_a = C.A_ - _eta() * C.grad_a()
    return sp.collect(sp.expand(_to_state(_inner(new_a, C.ONE_K))), ETA)


def _v_next_plane() -> tuple[sp.Expr, sp.Expr]:
    """In-plane coordinates of ``v - eta grad_v l`` in the basis ``e1 = v/|v|``,
    ``e2 = (w*/|w*| - cos(phi) e1)/sin(phi)``."""
    new_v = C.V_ - _eta() * C.grad_v()
    phi = C.PHI
    along_v = _inner(new_v, C.V_) / V.norm(C.V_)
    along_ws = _inner(new_v, C.WS) / V.norm(C.WS)
    x1 = sp.simplify(_to_state(along_v))
    x2 = sp.simplify(_to_state((along_ws - sp.cos(phi) * along_v)) / sp.sin(PHI))
    return x1, x2


def gd_next_norm_v_sq() -> sp.Expr:
    """C5-17: ``|v - eta grad_v l|^2`` (the step is orthogonal to v, so |v| grows)."""
    x1, x2 = _v_next_plane()
    return sp.factor(sp.simplify(x1**2 + x2**2))


def gd_next_angle() -> sp.Expr:
    """C5-17: ``theta(v - eta grad_v l, w*)``, from the definition of the angle between two
    vectors, ``theta(u, w) = arccos(u.w/(|u||w|))`` in [0, pi].

    In the plane basis of :func:`_v_next_plane` the new ``v`` is ``(x1, x2)`` and ``w*/|w*| =
    (cos phi, sin phi)``; SymPy forms ``cos theta = (x1 cos phi + x2 sin phi)/|v'|`` and proves
    ``sin^2 theta = 1 - cos^2 theta = (x1 sin phi - x2 cos phi)^2/|v'|^2``, so ``theta =
    atan2(|x1 sin phi - x2 cos phi|, x1 cos phi + x2 sin phi)`` (the same angle in [0, pi],
    accurate at both ends; the positive ``|v'|``, ``x1 = |v|`` and the common denominator
    ``2 pi |v|^2`` cancel from both arguments)."""
    x1, x2 = _v_next_plane()
    if sp.simplify(x1 - NV) != 0:
        raise AssertionError(f"the GD step is not orthogonal to v: x1 = {x1}")
    norm2 = x1**2 + x2**2
    dot = x1 * sp.cos(PHI) + x2 * sp.sin(PHI)
    cross = x1 * sp.sin(PHI) - x2 * sp.cos(PHI)
    if sp.simplify(sp.expand(1 - dot**2 / norm2 - cross**2 / norm2)) != 0:
        raise ArithmeticError("sin^2 + cos^2 of the new angle is not 1")
    c, d_ = (sp.cancel(sp.together(sp.expand(e / x1))) for e in (cross, dot))
    scale = sp.lcm(sp.fraction(c)[1], sp.fraction(d_)[1])  # the common denominator
    if scale.is_positive:  # cleared from both arguments (atan2(s a, s b) = atan2(a, b), s > 0)
        c, d_ = sp.cancel(c * scale), sp.cancel(d_ * scale)
    return sp.atan2(sp.Abs(sp.factor(c)), sp.expand(d_))


def gd_next_sin2() -> sp.Expr:
    """C5-17: ``sin^2`` of the new angle, ``x2'^2/(x1'^2 + x2'^2)`` in the rotated basis."""
    x1, x2 = _v_next_plane()
    # rotate to the basis (w*^, its normal): sin(angle) = (x1 sin(phi) - x2 cos(phi))/|v'|
    cross = x1 * sp.sin(PHI) - x2 * sp.cos(PHI)
    return sp.factor(sp.simplify(cross**2 / (x1**2 + x2**2)))


# --- Theorem 5.4's initialization ----------------------------------------------------------

P = V.dim("p")
_T = sp.Symbol("t", real=True)


_RHO = sp.Symbol("rho", positive=True)


def _section_volume(n: sp.Expr) -> sp.Expr:
    """``(n-1)``-volume of the section ``{x in rho B^n : x_1 = t}`` divided by that of the unit
    ``(n-1)``-ball: the section is the ``(n-1)``-ball of the radius ``r`` that SymPy solves from
    ``t^2 + r^2 = rho^2``, and ``(n-1)``-volume scales as ``r^{n-1}`` (a premise, not derived:
    the scaling of Lebesgue measure; README "Premises")."""
    r = sp.Symbol("r", positive=True)
    sols = sp.solve(sp.Eq(_T**2 + r**2, _RHO**2), r)
    if len(sols) != 1:
        raise ArithmeticError(f"section radius not unique: {sols}")
    return sp.expand(sols[0] ** 2) ** ((n - 1) / 2)  # r^{n-1} = (r^2)^{(n-1)/2}


def _normalized(f: sp.Expr) -> sp.Expr:
    return f / sp.integrate(f, (_T, -1, 1), conds="none")


def _sphere_coordinate_density(n: sp.Expr) -> sp.Expr:
    """Density of ``t = u_1`` for ``u`` uniform on ``S^{n-1}``, derived: the surface measure of
    ``S^{n-1}`` in the slab ``x_1 in dt`` is ``d/d rho`` at ``rho = 1`` of the ball's section
    volume (coarea formula, ``|grad |x|| = 1``), by ``sp.diff`` of :func:`_section_volume`;
    normalized by ``sp.integrate`` over [-1, 1] (gives ``c (1 - t^2)^{(n-3)/2}``)."""
    f = sp.diff(_section_volume(n), _RHO).subs(_RHO, 1)
    return _normalized(sp.powsimp(f, force=True))


def _ball_coordinate_density(n: sp.Expr) -> sp.Expr:
    """Density of ``t = x_1`` for ``x`` uniform in the unit ball of ``R^n``: proportional to the
    section volume :func:`_section_volume` at ``rho = 1`` (gives ``c (1 - t^2)^{(n-1)/2}``),
    normalized by ``sp.integrate``."""
    return _normalized(_section_volume(n).subs(_RHO, 1))


def _abs_mean(density: sp.Expr) -> sp.Expr:
    """``E|t|`` for a symmetric density on [-1, 1]."""
    return sp.simplify(sp.gammasimp(2 * sp.integrate(_T * density, (_T, 0, 1), conds="none")))


def init_cos_mean() -> sp.Expr:
    """``E cos(phi0)`` after the sign choice ``phi0 < pi/2``: ``E|v^.w*^|`` for v uniform on
    S^{p-1} (Theorem 5.4, l.5190; C5-24)."""
    return sp.gammasimp(_abs_mean(_sphere_coordinate_density(P)))


def init_dot_mean() -> sp.Expr:
    """``E (a0)^T a*`` after the sign choice, ``a0`` uniform in the ball of radius
    ``R = |1^T a*| |w*| / sqrt(k)``: ``R |a*| E|t|`` with t one ball coordinate (C5-24)."""
    radius = knob("cnn.init_radius_factor", 1) * sp.Abs(_s) * _nw / sp.sqrt(K)
    return radius * V.norm(C.AS) * sp.gammasimp(_abs_mean(_ball_coordinate_density(K)))


_STATE_ARGS = (
    Arg("phi", "scalar", "angle theta(v^t, w*) in [0, pi]"),
    Arg("v_norm", "scalar", "|v^t|", positive=True),
    Arg("a_dot", "scalar", "(a^t)^T a*"),
    Arg("a_sum", "scalar", "1^T a^t"),
    Arg("ws_norm", "scalar", "|w*|", positive=True),
    Arg("as_norm", "scalar", "|a*|", domain=(">= 0: a norm",)),
    Arg("as_sum", "scalar", "1^T a*",
        domain=("<= sqrt(k)*as_norm*(1 + 1e-12): Cauchy-Schwarz |1.a*| <= sqrt(k) |a*|, with rounding",
                ">= -sqrt(k)*as_norm*(1 + 1e-12): Cauchy-Schwarz |1.a*| <= sqrt(k) |a*|, with rounding")),
    Arg("k", "int", "number of patches", "k"),
    Arg("eta", "scalar", "step size", positive=True),
)
_GD = "population GD step v - eta grad_v l, a - eta grad_a l (Algorithm 1) from state t"


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

_PHI_ARG = Arg("phi", "scalar", "angle theta(v, w*) in [0, pi]")
_WS = Arg("w_star", "vector", "teacher filter (not normalized)", "p", nonzero=True)
_AS = Arg("a_star", "vector", "teacher second layer", "k")
_PHI_OK = '_rt.require((phi >= 0) & (phi <= numpy.pi), "phi", "must lie in [0, pi]")'
_MODEL = C._MODEL + "; w = v/|v|"

register(Formula(
    "cnn.a_opt", f"{SOURCE}, proof of Lemma 5.1 (l.5755), any fixed angle",
    (_PHI_ARG, _WS, _AS), _MODEL, a_opt, rank=1,
    lhs=r"\mathbf{a}_{\rm opt}(\phi) = \arg\min_{\mathbf a}\ell",
    validate=(_PHI_OK,),
))
register(Formula(
    "cnn.profile_loss", f"{SOURCE}, ch. 5 (derived; explains Thm 5.5 and Table 5.1)",
    (_PHI_ARG, _WS, _AS), _MODEL, profile_loss,
    lhs=r"\ell_{\min}(\phi) = \min_{\mathbf a}\ell(\phi,\mathbf a)",
    validate=(_PHI_OK,),
))
register(Formula(
    "cnn.spurious_min_loss", f"{SOURCE}, Lemma 5.1 / Theorem 5.5 (l.5289, l.6060)",
    (_WS, _AS), _MODEL, spurious_min_loss,
    lhs=r"\ell(\phi=\pi,\mathbf a_{\rm sp})",
    notes="Theorem 5.5 states only l = Omega(|a*|^2); the exact value is derived here.",
))
register(Formula(
    "cnn.spurious_a", f"{SOURCE}, Lemma 5.1 (l.5260)",
    (_WS, _AS), _MODEL, spurious_a, rank=1,
    lhs=r"\mathbf{a}_{\rm sp}",
    paper=lambda: (sp.pi * _s / (K + sp.pi - 1) * C.ONE_K - C.AS) * _nw / (sp.pi - 1),
    paper_reading=("Lemma 5.1: a = (11^T + (pi-1)I)^{-1}(11^T - I)|w*| a*, written out by "
                   "Sherman-Morrison (the thesis leaves the inverse unevaluated)"),
))
register(Formula(
    "cnn.spurious_threshold", f"{SOURCE}, Theorem 5.5 / Table 5.1 (derived criterion)",
    (Arg("k", "int", "number of patches", "k"),),
    "the phi = pi stationary point is a local minimum iff (1^T a*)^2/|a*|^2 < r_c(k)",
    spurious_threshold,
    lhs=r"r_c(k)",
    paper=lambda: (K + sp.pi - 1) / sp.pi,
    paper_reading="spec C5-16 (not printed in the thesis, which states (1^T a*)^2 <= |a*|^2/poly(p))",
))
register(Formula(
    "cnn.spurious_cubic", f"{SOURCE}, ch. 5 (derived): l_min(pi - eps) - l_min(pi) = c eps^3",
    (_WS, _AS), _MODEL, spurious_min_cubic_coefficient,
    lhs=r"\lim_{\epsilon\to0}\epsilon^{-3}\left(\ell_{\min}(\pi-\epsilon)-\ell_{\min}(\pi)\right)",
))
register(Formula(
    "cnn.init_cos_mean", f"{SOURCE}, Theorem 5.4 (l.5190), initialization",
    (Arg("p", "int", "filter dimension", "p"),),
    "v ~ Unif(S^{p-1}), sign chosen so that phi0 < pi/2", init_cos_mean,
    lhs=r"\mathbb{E}\cos\phi^0",
))
register(Formula(
    "cnn.init_dot_mean", f"{SOURCE}, Theorem 5.4 (l.5190), initialization",
    (_WS, _AS), "a0 ~ Unif(B(0, |1^T a*| |w*| / sqrt(k))), sign chosen so that a0.a* > 0",
    init_dot_mean,
    lhs=r"\mathbb{E}(\mathbf{a}^0)^\top\mathbf{a}^*",
))

for _q, _fn, _lhs, _src in (
    ("gd_next_angle", gd_next_angle, r"\phi^{t+1}", "C5-17; sharpens Lemmas 5.2, 5.5, eq. (5.9)"),
    ("gd_next_sin2", gd_next_sin2, r"\sin^2\phi^{t+1}", "C5-17; eq. (5.9), l.5780-5830"),
    ("gd_next_norm_v_sq", gd_next_norm_v_sq, r"\|\mathbf v^{t+1}\|^2", "C5-17"),
    ("gd_next_dot", gd_next_dot, r"(\mathbf a^{t+1})^\top\mathbf a^*", "eq. (5.4), l.5302"),
    ("gd_next_sum", gd_next_sum, r"\mathbf 1^\top\mathbf a^{t+1}", "Lemma 5.4, l.5317"),
):
    register(Formula(
        f"cnn.{_q}", f"{SOURCE}, {_src}", _STATE_ARGS, _MODEL + "; " + _GD, _fn, lhs=_lhs,
        validate=(_PHI_OK,),
    ))


def _latex_gd_next_angle(expr: sp.Expr) -> str:
    """Display only: ``atan2(|A|, B)`` with ``a_dot`` written through ``kappa = a_dot eta |w*| /
    (2 pi |v|^2)`` and both arguments divided by the positive ``2 pi |v|^2`` (SymPy; the
    emitted code evaluates ``expr`` itself)."""
    from .latex import to_latex

    kappa = sp.Symbol(r"\kappa", real=True)
    unit = 2 * sp.pi * NV**2
    sub = {DOT: kappa * unit / (ETA * NWS)}
    a, b = (sp.simplify(sp.expand(arg.subs(sub)) / unit) for arg in expr.args)
    a = sp.Abs(sp.factor(sp.expand(a.args[0] if isinstance(a, sp.Abs) else a)))
    b = sp.collect(sp.expand(b), kappa)
    return (r"\operatorname{atan2}\left(" + to_latex(a) + r",\ " + to_latex(b)
            + r"\right),\quad \kappa = " + to_latex(sp.Symbol("a_dot") * ETA * NWS / unit))


_get_formula("cnn.gd_next_angle").latex_rhs = _latex_gd_next_angle
