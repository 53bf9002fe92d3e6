"""Spline connectors of the saddle construction (seed 004 thesis, Theorem 7.4 and Lemma 7.4).

The tube function (7.6)-(7.10) joins, along the active coordinate ``x_i``, the quadratic piece
``-gamma x_i^2`` (saddle ``i``, eq. (7.6)) on ``[0, tau]`` to the quadratic piece
``L (x_i - 4 tau)^2`` (coordinate ``i`` converged, eqs. (7.6)-(7.10)) on ``[2 tau, 6 tau]``.
Along the next coordinate it joins the coefficient ``L`` of ``x_{i+1}^2`` (a tail coordinate
of (7.6)) to ``-gamma`` (``x_{i+1}`` is the active coordinate of ``f_{i+1,1}``).  Lemma 7.4
builds the joins from polynomials; here every one of them is *solved* by SymPy from its
boundary conditions, and the conditions themselves are computed from the pieces they join
(:data:`LEFT`, :data:`RIGHT`, :data:`NEXT_LEFT`, :data:`NEXT_RIGHT`):

* ``p = g1'`` -- the cubic Hermite interpolant of Theorem 7.4 with ``p, p'`` equal to the first
  and second derivatives of the left and right pieces at ``tau`` and ``2 tau``;
* ``g1 = int_tau^x p - gamma tau^2`` -- matches the left piece's value at ``tau`` (proof of
  Lemma 7.4);
* ``nu`` -- the constant that makes ``f`` continuous at ``x_i = 2 tau`` (Step 1, Section 7.4):
  solved from ``g1(2 tau) - (i-1) nu = L (2 tau - 4 tau)^2 - i nu``;
* ``g2`` -- the quintic with the end values ``L``, ``-gamma`` and vanishing first and second
  derivatives at both ends (so that ``g2(x_i) x_{i+1}^2`` does not disturb the ``x_i``
  derivatives there);
* ``g(x_i, x_{i+1}) = g1(x_i) + g2(x_i) x_{i+1}^2`` (Lemma 7.4), assembled by collecting the
  joined pieces in powers of ``x_{i+1}`` and joining each power's coefficients.

Polynomials are returned in powers of ``x - tau`` (``x - y0`` for the Hermite form), which keeps
the emitted float64 code free of the large cancelling coefficients of the monomial basis.
"""
from __future__ import annotations

import sympy as sp

from ..knobs import cached, knob
from ..registry import Arg, Formula, register

SOURCE = "004 thesis, ch. 7"

# Symbols named exactly like the emitted functions' arguments.
x = sp.Symbol("x", real=True)
y = sp.Symbol("y", real=True)
L = sp.Symbol("L", positive=True)
gamma = sp.Symbol("gamma", positive=True)
tau = sp.Symbol("tau", positive=True)

# Theorem 7.4 data.
Y = sp.Symbol("y", real=True)
Y0, Y1 = sp.symbols("y0 y1", real=True)
F0, F1, DF0, DF1 = sp.symbols("f0 f1 df0 df1", real=True)

#: The pieces joined along the active coordinate (terms of (7.6) and (7.10)).
LEFT = -gamma * x**2
RIGHT = L * (x - 4 * tau) ** 2
#: The coefficient of x_{i+1}^2 at x_i = tau (tail term L x_{i+1}^2 of (7.6)) and at
#: x_i = 2 tau (x_{i+1} is then the active coordinate of f_{i+1,1}: -gamma x_{i+1}^2).
NEXT_LEFT = L
NEXT_RIGHT = -gamma

NU = sp.Symbol("nu")
I_SAD = sp.Symbol("i", positive=True, integer=True)

PARAMS_DOC = "L >= gamma > 0 (the proofs need L >= gamma), tau > 0 (Lemma 7.2 takes tau >= e)"
VALIDATE_L = ("_rt.require(L >= gamma, 'L', 'must be >= gamma (the proofs need L >= gamma > 0)')",)


def solve_polynomial(var: sp.Symbol, center: sp.Expr, degree: int,
                     conditions: list[tuple[int, sp.Expr, sp.Expr]]) -> sp.Expr:
    """The polynomial of ``degree`` in powers of ``var - center`` meeting ``conditions``.

    Each condition ``(order, point, value)`` reads ``d^order P / d var^order (point) = value``.
    The coefficients are unknowns solved for with :func:`sympy.solve`; the solution must be
    unique.
    """
    cs = sp.symbols(f"c0:{degree + 1}")
    P = sum(c * (var - center) ** k for k, c in enumerate(cs))
    eqs = [sp.Eq(sp.diff(P, var, n).subs(var, pt), val) for n, pt, val in conditions]
    sols = sp.solve(eqs, cs, dict=True)
    if len(sols) != 1 or set(sols[0]) != set(cs):
        raise ArithmeticError(f"boundary conditions do not determine the polynomial: {sols}")
    return sp.Add(*[sp.factor(sp.simplify(sols[0][c])) * (var - center) ** k
                    for k, c in enumerate(cs)])


# --------------------------------------------------------------------------------------------
# Theorem 7.4: the cubic Hermite interpolant
# --------------------------------------------------------------------------------------------


@cached
def hermite_cubic() -> sp.Expr:
    """Theorem 7.4: the cubic with ``p(y0)=f0, p(y1)=f1, p'(y0)=df0, p'(y1)=df1``."""
    return solve_polynomial(Y, Y0, 3, [(0, Y0, F0), (0, Y1, F1), (1, Y0, DF0), (1, Y1, DF1)])


def hermite_paper() -> sp.Expr:
    """Theorem 7.4 as printed: ``c0 = f(y0), c1 = f'(y0), c2 = (3S - f'(y1) - 2f'(y0))/h,
    c3 = -(2S - f'(y1) - f'(y0))/h^2`` with ``h = y1 - y0``, ``S = (f1 - f0)/h``."""
    h = Y1 - Y0
    S = (F1 - F0) / h
    d = Y - Y0
    return F0 + DF0 * d + (3 * S - DF1 - 2 * DF0) / h * d**2 - (2 * S - DF1 - DF0) / h**2 * d**3


# --------------------------------------------------------------------------------------------
# Lemma 7.4: p = g1', g1, nu, g2, g
# --------------------------------------------------------------------------------------------


@cached
def p() -> sp.Expr:
    """``g1'``: solved from ``p = LEFT', p' = LEFT''`` at ``tau`` and ``RIGHT', RIGHT''`` at
    ``2 tau`` (proof of Lemma 7.4; the same cubic as :func:`hermite_cubic` with that data)."""
    left = left_piece()
    d1L, d2L = sp.diff(left, x), sp.diff(left, x, 2)
    right = right_piece()
    d1R, d2R = sp.diff(right, x), sp.diff(right, x, 2)
    end = join_end()
    return solve_polynomial(x, tau, 3, [
        (0, tau, d1L.subs(x, tau)), (1, tau, d2L.subs(x, tau)),
        (0, end, d1R.subs(x, end)), (1, end, d2R.subs(x, end)),
    ])


def join_end() -> sp.Expr:
    """The right end ``2 tau`` of the connector interval (knob ``saddle.join_end``)."""
    return knob("saddle.join_end", 2) * tau


def left_piece() -> sp.Expr:
    """``-gamma x^2`` (the saddle's own term of (7.6)) with the coefficient ``-1`` a knob
    (``saddle.unstable_coeff``)."""
    return knob("saddle.unstable_coeff", -1) * gamma * x**2


def right_piece() -> sp.Expr:
    """``L (x - 4 tau)^2`` with the minimum ``4 tau`` a knob (``saddle.converged_center``)."""
    return L * (x - knob("saddle.converged_center", 4) * tau) ** 2


@cached
def g1() -> sp.Expr:
    """``g1(x) = (int p)(x) - (int p)(tau) + LEFT(tau)`` (= ``... - gamma tau^2``)."""
    t = sp.Symbol("t", real=True)
    antideriv = sp.integrate(p().subs(x, t), (t, tau, x))
    poly = sp.Poly(sp.expand(antideriv + left_piece().subs(x, tau)), x)
    # back to powers of (x - tau): Taylor coefficients at tau
    return sp.Add(*[sp.factor(sp.diff(poly.as_expr(), x, k).subs(x, tau) / sp.factorial(k))
                    * (x - tau) ** k for k in range(poly.degree() + 1)])


@cached
def nu() -> sp.Expr:
    """The constant of (7.6)-(7.10), solved from continuity of ``f`` at ``x_i = 2 tau`` with
    ``x_{i+1} = 0``: ``C_i + g1(2 tau) - (i-1) nu = C_i + RIGHT(2 tau) - i nu``."""
    end = join_end()
    eq = sp.Eq(g1().subs(x, end) - (I_SAD - 1) * NU, right_piece().subs(x, end) - I_SAD * NU)
    (sol,) = sp.solve(eq, NU)
    return sp.factor(sp.simplify(sol))


@cached
def g2() -> sp.Expr:
    """The quintic with ``g2(tau) = L, g2(2 tau) = -gamma`` and ``g2' = g2'' = 0`` at both ends."""
    end = join_end()
    return solve_polynomial(x, tau, 5, [
        (0, tau, knob("saddle.g2_left_value", 1) * NEXT_LEFT),
        (0, end, knob("saddle.g2_right_value", 1) * NEXT_RIGHT),
        (1, tau, 0), (1, end, 0), (2, tau, 0), (2, end, 0),
    ])


def g2_paper() -> sp.Expr:
    """The proof of Lemma 7.4 as read from the OCR (garbled; reading in ``paper_reading``):
    ``g2 = -gamma - (L+gamma)[10 (x-2tau)^3/tau^3 + 15 (x-2tau)^4/tau^4 + 6 (x-2tau)^5/tau^5]``."""
    u = (x - 2 * tau) / tau
    return -gamma - (L + gamma) * (10 * u**3 + 15 * u**4 + 6 * u**5)


def g2_prime_paper() -> sp.Expr:
    """The printed ``g2'(x) = -30 (L+gamma) (x - 2tau)^2 (x - tau)^2 / tau^5``."""
    return -30 * (L + gamma) * (x - 2 * tau) ** 2 * (x - tau) ** 2 / tau**5


@cached
def g() -> sp.Expr:
    """Lemma 7.4's connector ``g(x_i, x_{i+1})`` (``x`` = x_i, ``y`` = x_{i+1}), assembled from
    the pieces it joins rather than typed as ``g1 + g2 y^2``.

    Left of the connector (``x <= tau``) the tube function is ``LEFT(x) + NEXT_LEFT y^2``, right
    of it (``x >= 2 tau``) ``RIGHT(x) + NEXT_RIGHT y^2`` (up to the constants ``nu``).  SymPy
    collects both pieces in powers of ``y`` (``sp.Poly``); each power's pair of coefficients
    is joined by the connector solved from exactly that pair: ``(LEFT, RIGHT)`` by :func:`g1`,
    ``(NEXT_LEFT, NEXT_RIGHT)`` by :func:`g2`, a power absent on both sides by 0.  The result
    is ``g1(x) + g2(x) y^2`` (Lemma 7.4); a pair with no connector raises ArithmeticError.
    Which connector joins which pair is Lemma 7.4's construction (a premise, README "Premises").
    """
    left = sp.Poly(left_piece() + NEXT_LEFT * y**2, y)
    right = sp.Poly(right_piece() + NEXT_RIGHT * y**2, y)
    connectors = {(sp.expand(left_piece()), sp.expand(right_piece())): g1,
                  (sp.sympify(NEXT_LEFT), sp.sympify(NEXT_RIGHT)): g2}
    out = sp.Integer(0)
    for j in range(max(left.degree(), right.degree()) + 1):
        pair = (sp.expand(left.coeff_monomial(y**j)), sp.expand(right.coeff_monomial(y**j)))
        if pair == (0, 0):
            continue
        if pair not in connectors:
            raise ArithmeticError(f"no connector joins the y^{j} coefficients {pair}")
        out += connectors[pair]() * y**j
    return out


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

_PARAMS = (
    Arg("L", "scalar", "curvature of the stable directions (L >= gamma)", positive=True),
    Arg("gamma", "scalar", "curvature of the unstable direction, gamma > 0", positive=True),
    Arg("tau", "scalar", "width of the saddle region (thesis: tau = e)", positive=True),
)
_X = Arg("x", "scalar", "active coordinate x_i (connector on tau <= x <= 2 tau)")

register(Formula(
    "saddle.hermite_cubic", f"{SOURCE}, Theorem 7.4 (sec. 7.8)",
    (Arg("y", "scalar", "evaluation point"), Arg("y0", "scalar", "left node"),
     Arg("y1", "scalar", "right node (> y0)"), Arg("f0", "scalar", "f(y0)"),
     Arg("f1", "scalar", "f(y1)"), Arg("df0", "scalar", "f'(y0)"), Arg("df1", "scalar", "f'(y1)")),
    "y0 < y1", hermite_cubic, "p(y)", paper=hermite_paper,
    paper_reading="c2 = (3S - f'(y1) - 2 f'(y0))/(y1 - y0), c3 = -(2S - f'(y1) - f'(y0))/(y1 - y0)^2,"
                  " S = (f(y1) - f(y0))/(y1 - y0) (OCR of sec. 7.8, Theorem 7.4)",
    validate=("_rt.require(y1 > y0, 'y1', 'must be > y0')",),
    notes="The theorem's add-on 'f'(y1) >= 3S and f(y1) < f(y0) < 0 imply f(y1) <= p <= f(y0)' is "
          "false on the lower side; `nnderive check saddle.hermite_cubic` prints a counterexample.",
))

register(Formula(
    "saddle.p", f"{SOURCE}, proof of Lemma 7.4 (p = g1', via Theorem 7.4)", (_X, *_PARAMS),
    PARAMS_DOC, p, "g_1'(x) = p(x)", validate=VALIDATE_L,
    notes="p(tau) = -2 gamma tau, p(2 tau) = -4 L tau, p'(tau) = -2 gamma, p'(2 tau) = 2 L.",
))
register(Formula(
    "saddle.g1", f"{SOURCE}, proof of Lemma 7.4", (_X, *_PARAMS), PARAMS_DOC, g1, "g_1(x)",
    validate=VALIDATE_L,
))
register(Formula(
    "saddle.g2", f"{SOURCE}, proof of Lemma 7.4", (_X, *_PARAMS), PARAMS_DOC, g2, "g_2(x)",
    paper=g2_paper, validate=VALIDATE_L,
    paper_reading="OCR 'golas) = - - BT 2y - 2r)t _ 6L+ = 2r)^5' read as -gamma - (L+gamma)"
                  "[10(x-2tau)^3/tau^3 + 15(x-2tau)^4/tau^4 + 6(x-2tau)^5/tau^5]; consistent with"
                  " the printed g2' = -30(L+gamma)(x-2tau)^2(x-tau)^2/tau^5",
))
register(Formula(
    "saddle.g", f"{SOURCE}, Lemma 7.4", (_X, Arg("y", "scalar", "next coordinate x_{i+1}"), *_PARAMS),
    PARAMS_DOC + "; tau <= x <= 2 tau, 0 <= y <= tau", g, "g(x_i, x_{i+1})", validate=VALIDATE_L,
))
register(Formula(
    "saddle.nu", f"{SOURCE}, Step 1 of sec. 7.4 (nu = -g1(2 tau) + 4 L tau^2)", _PARAMS,
    PARAMS_DOC, nu, r"\nu", validate=VALIDATE_L,
    notes="The thesis prints only nu = -g1(2 tau) + 4 L tau^2 (Step 1, l.7384, l.7827), in terms "
          "of its unspecified spline g1: there is no printed closed form to compare (a 'paper' "
          "form built from the derived g1 would prove nothing).  The dense check evaluates that "
          "expression on independently solved connectors.",
))
