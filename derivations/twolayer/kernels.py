"""Pair kernels of the two-layer engine, derived per activation (issue 20, DESIGN "two-layer
engine", layer 1).

For an activation ``sigma`` and ``x ~ N(0, I_d)`` the pair kernel is

    kappa(u, v) = E[sigma(u.x) sigma(v.x)],

a function of ``|u| = a``, ``|v| = b`` and the angle ``phi`` between ``u`` and ``v`` only (the
expectation depends on ``x`` through its projection on the plane of ``u`` and ``v``).  It is
derived here by SymPy, never typed:

* activations that are *homogeneous* on each half-line, ``sigma(t) = c_+ t^n`` for ``t > 0`` and
  ``c_- t^n`` for ``t < 0`` (ReLU, leaky ReLU, absolute value, identity, quadratic, Heaviside
  step), by the polar integral in the plane of ``u`` and ``v`` as :mod:`derivations.gaussian`
  does for Lemma 5.6 of the thesis (seed 004): with ``u/|u| = e1`` and
  ``v/|v| = cos(phi) e1 + sin(phi) e2`` the plane splits into four sectors of ``theta`` on which
  the signs of ``cos(theta)`` and ``cos(theta - phi)`` are fixed, the radial integral is
  ``int_0^oo r^(2n) r exp(-r^2/2)/(2 pi) dr`` and the angular integral is a trigonometric
  polynomial;
* ``erf``, by Price's theorem (Gaussian integration by parts, ``d/ds E[f(X) g(Y)] =
  E[f'(X) g'(Y)]`` for ``cov(X, Y) = s`` at fixed variances): SymPy integrates
  ``E[erf'(X) erf'(Y)]`` over the Gaussian plane and then in ``s`` from ``s = 0``, where the
  kernel is ``E[erf(X)] E[erf(Y)] = 0`` (also integrated).

The first and second derivatives come out of SymPy as well: ``kappa`` is rewritten as a function
of the invariants ``u.u``, ``v.v``, ``u.v``, those are written in three Cartesian coordinates of
``u`` and ``v`` each, SymPy differentiates (the chain rule is SymPy's) and the result is
evaluated at ``u = (a, 0, 0)``, ``v = (b cos phi, b sin phi, 0)``.  That gives every derivative in
the orthonormal frame ``(u^, e)`` of the plane (``e`` the unit rejection of ``v`` from ``u``) and
in the third, out-of-plane direction; by rotation invariance that is all there is:

* ``d kappa / du = ga u + gb v`` (the gradient in the basis ``(u, v)``: regular at
  ``phi = 0, pi`` for every activation whose kernel is differentiable there);
* ``d^2 kappa / du du^T = huu0 I + huu11 u^u^T + huu12 (u^e^T + eu^T) + huu22 ee^T``;
* ``d^2 kappa / du dv^T = huv0 I + huv11 u^u^T + huv12 u^e^T + huv21 eu^T + huv22 ee^T``;

and for the diagonal ``D(u) = kappa(u, u)``: ``grad D = d1 u``, ``hess D = dh0 I + dh11 u^u^T``.
In the frame form every coefficient of an ``e`` term vanishes like ``sin(phi)`` at the edges
(for kernels twice differentiable there), so the (ill-determined) direction ``e`` of nearly
parallel vectors never matters: the Hessian is exact and stable at ``phi = 0`` and ``pi``.

:func:`expressions` returns all of these as SymPy expressions (for LaTeX and for interval or
ball-arithmetic certificates, issue 21); :func:`module_source` prints them as the SymPy-free
module ``derivations/generated/twolayer_kernels.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..knobs import cached, knob

SOURCE = "issue 20; polar Gaussian integral as in 004 thesis Lemma 5.6 (sec. 5.7); Price's theorem"

# invariant coordinates of a pair: a = |u|, b = |v|, phi = angle(u, v), c = cos(phi), s = sin(phi)
A, B = sp.symbols("a b", positive=True)
PHI = sp.Symbol("phi", nonnegative=True)
C = sp.Symbol("c", real=True)
SN = sp.Symbol("s", nonnegative=True)
ALPHA = sp.Symbol("alpha", real=True)  # leaky ReLU slope on the negative half-line
# integration variables
r = sp.Symbol("r", positive=True)
theta = sp.Symbol("theta", real=True)
# invariants p = u.u, q = v.v, w = u.v
P, Q, W = sp.symbols("p q w", real=True)


@dataclass(frozen=True)
class Activation:
    """An activation with a closed-form pair kernel.

    ``kind`` is ``"homogeneous"`` (``sigma(t) = pos t^degree`` for ``t > 0``, ``neg t^degree``
    for ``t < 0``) or ``"erf"``.  ``params`` are the extra symbols (leaky ReLU's ``alpha``), passed
    after ``(a, b, c, s, phi)`` to the emitted functions.  ``smooth_edges``: the kernel is twice
    differentiable at ``phi = 0, pi`` (False for the step: its kernel ``(pi - phi)/(2 pi)`` has a
    kink, so the gradient and Hessian of two distinct parallel units do not exist).
    """

    name: str
    kind: str
    latex: str
    degree: int = 1
    pos: sp.Expr = sp.Integer(1)
    neg: sp.Expr = sp.Integer(0)
    params: tuple = ()
    defaults: tuple = ()
    smooth_edges: bool = True

    def sigma(self, t):
        """``sigma(t)`` as SymPy (for LaTeX and for simulators' documentation)."""
        if self.kind == "erf":
            return sp.erf(t)
        return sp.Piecewise((self.pos * t**self.degree, t > 0), (self.neg * t**self.degree, True))


ACTIVATIONS = {
    "relu": Activation("relu", "homogeneous", r"\max(t, 0)", 1, 1, 0),
    "leaky_relu": Activation("leaky_relu", "homogeneous", r"\max(t, \alpha t)", 1, 1, ALPHA,
                             params=(ALPHA,), defaults=(0.01,)),
    "abs": Activation("abs", "homogeneous", r"|t|", 1, 1, -1),
    "identity": Activation("identity", "homogeneous", r"t", 1, 1, 1),
    "quadratic": Activation("quadratic", "homogeneous", r"t^2", 2, 1, 1),
    "step": Activation("step", "homogeneous", r"\mathbb{I}\{t > 0\}", 0, 1, 0,
                       smooth_edges=False),
    "erf": Activation("erf", "erf", r"\operatorname{erf}(t)"),
}

from ._names import NO_CLOSED_FORM  # noqa: E402,F401  (activations without a closed form)


def activation(name) -> Activation:
    """The :class:`Activation` called ``name``; ``ValueError`` naming it if it has no closed-form
    pair kernel (``TypeError`` if it is not a string)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string such as 'relu', got {type(name).__name__}")
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    if name.lower() in NO_CLOSED_FORM:
        raise ValueError(f"activation {name!r} has no closed-form Gaussian pair kernel "
                         f"E[sigma(u.x) sigma(v.x)]; closed forms exist for "
                         f"{', '.join(ACTIVATIONS)}")
    raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")


# --------------------------------------------------------------------------------------------
# kappa(a, b, phi), derived
# --------------------------------------------------------------------------------------------


def _sectors():
    """The four sectors of ``theta in [-pi/2, 3pi/2)`` with fixed signs of ``cos(theta)``
    (projection on ``u^``) and ``cos(theta - phi)`` (on ``v^``), for ``phi in [0, pi]``."""
    edge = knob("twolayer.halfplane_edge", sp.pi / 2)
    return (((-edge, PHI - edge), (+1, -1)), ((PHI - edge, edge), (+1, +1)),
            ((edge, PHI + edge), (-1, +1)), ((PHI + edge, 3 * edge), (-1, -1)))


@cached
def _homogeneous_kappa(name: str) -> sp.Expr:
    act = ACTIVATIONS[name]
    n = act.degree
    coef = {+1: knob(f"twolayer.{name}.pos", act.pos), -1: knob(f"twolayer.{name}.neg", act.neg)}
    density = knob("twolayer.density_norm", 1 / (2 * sp.pi)) * r * sp.exp(-r**2 / 2)
    radial = sp.integrate(r**(2 * n) * density, (r, 0, sp.oo))
    angular = sp.Integer(0)
    for (lo, hi), (su, sv) in _sectors():
        weight = coef[su] * coef[sv]
        if weight == 0:
            continue
        integrand = sp.expand(sp.expand_trig(sp.cos(theta)**n * sp.cos(theta - PHI)**n))
        angular += weight * sp.integrate(integrand, (theta, lo, hi))
    return sp.simplify(A**n * B**n * radial * angular)


@cached
def _erf_kappa() -> sp.Expr:
    """``E[erf(X) erf(Y)]`` for ``(X, Y)`` centred Gaussian with variances ``p, q`` and
    covariance ``w``, by Price's theorem: ``E[erf'(X) erf'(Y)]`` integrated over the plane (X =
    sqrt(p) z1, Y = (t/sqrt(p)) z1 + g z2 with g = sqrt(q - t^2/p)), then over t from 0 to w."""
    z1, z2 = sp.symbols("z1 z2", real=True)
    p, q = sp.symbols("p q", positive=True)
    t, g, Dp = sp.Symbol("t", real=True), sp.Symbol("g", positive=True), sp.Symbol("D", positive=True)
    dens = knob("twolayer.density_norm", 1 / (2 * sp.pi)) * sp.exp(-(z1**2 + z2**2) / 2)
    derf = knob("twolayer.erf.slope", 2 / sp.sqrt(sp.pi))
    X, Y = sp.sqrt(p) * z1, t / sp.sqrt(p) * z1 + g * z2
    inner = sp.integrate(sp.expand(derf**2 * sp.exp(-X**2 - Y**2) * dens), (z2, -sp.oo, sp.oo),
                         conds="none")
    price = sp.integrate(inner, (z1, -sp.oo, sp.oo), conds="none")
    if isinstance(price, sp.Piecewise):  # the branch valid for real t (|t| < sqrt(pq))
        price = price.args[-1][0]
    price = price.subs(g, sp.sqrt(q - t**2 / p))
    # the Gaussian integral is positive: sqrt of its square, num / (k0 + k2 t^2) by SymPy
    num, den = sp.fraction(sp.factor(sp.simplify(price**2)))
    poly = sp.Poly(sp.expand(den), t)
    if poly.degree() != 2 or poly.coeff_monomial(t) != 0:
        raise AssertionError(f"unexpected Price integrand denominator {den}")
    k0, k2 = poly.coeff_monomial(1), poly.coeff_monomial(t**2)
    price = sp.sqrt(num) / sp.sqrt(Dp + k2 * t**2)
    at_zero = sp.integrate(sp.erf(sp.sqrt(p) * z1) * sp.exp(-z1**2 / 2), (z1, -sp.oo, sp.oo))
    kern = at_zero**2 + sp.integrate(price, (t, 0, W))
    kern = kern.subs(Dp, k0)
    return sp.simplify(kern.subs({p: P, q: Q}))


@cached
def kappa(name: str) -> sp.Expr:
    """``kappa(a, b, phi) = E[sigma(u.x) sigma(v.x)]`` for ``|u| = a``, ``|v| = b``, angle
    ``phi``, derived (see the module docstring)."""
    act = activation(name)
    if act.kind == "homogeneous":
        return _homogeneous_kappa(act.name)
    k = _erf_kappa()
    return sp.simplify(k.subs({P: A**2, Q: B**2, W: A * B * sp.cos(PHI)}))


def kappa_invariants(name: str) -> sp.Expr:
    """``kappa`` as a function of ``p = u.u``, ``q = v.v``, ``w = u.v`` (symbols :data:`P`,
    :data:`Q`, :data:`W`)."""
    k = kappa(name)
    pp, qq = sp.symbols("p q", positive=True)
    k = k.subs({A: sp.sqrt(pp), B: sp.sqrt(qq)}).subs(PHI, sp.acos(W / sp.sqrt(pp * qq)))
    return k.subs({pp: P, qq: Q})


# --------------------------------------------------------------------------------------------
# Derivatives in the frame of the plane, derived
# --------------------------------------------------------------------------------------------

_U = sp.symbols("u1:4", real=True)
_V = sp.symbols("v1:4", real=True)
#: the point of evaluation: u along e1, v in the (e1, e2) plane at angle phi
_AT = {_U[0]: A, _U[1]: 0, _U[2]: 0, _V[0]: B * C, _V[1]: B * sp.sqrt(1 - C**2), _V[2]: 0}


def _dot(x, y):
    return sum(i * j for i, j in zip(x, y))


def _plane(e: sp.Expr) -> sp.Expr:
    """``e`` (in the coordinates of u and v) at the frame point, in ``a, b, c, s, phi``."""
    e = sp.simplify(e.subs(_AT))
    e = e.replace(sp.acos, lambda x: PHI if sp.simplify(x - C) == 0 else sp.acos(x))
    e = e.subs(sp.sqrt(1 - C**2), SN)
    e = sp.simplify(e)
    return sp.factor_terms(e.subs(1 - C**2, SN**2))


#: names of the pair coefficients, in the order of the emitted functions' outputs
PAIR_TERMS = ("kappa", "ga", "gb", "huu0", "huu11", "huu12", "huu22",
              "huv0", "huv11", "huv12", "huv21", "huv22")
SELF_TERMS = ("d", "d1", "dh0", "dh11")


@cached
def pair_terms(name: str) -> dict:
    """Every pair coefficient of the module docstring, ``{term: SymPy expr in a, b, c, s, phi
    (and the activation's parameters)}``, derived by differentiating ``kappa`` written in the
    coordinates of ``u`` and ``v``."""
    act = activation(name)
    K = kappa_invariants(act.name).subs({P: _dot(_U, _U), Q: _dot(_V, _V), W: _dot(_U, _V)})
    d = {x: sp.diff(K, x) for x in _U[:2]}
    g1, g2 = _plane(d[_U[0]]), _plane(d[_U[1]])
    gb = sp.simplify(g2 / (B * SN))
    ga = sp.simplify((g1 - gb * B * C) / A)
    h = {}
    for i in range(3):
        for j in range(3):
            if (i == 2) != (j == 2):
                continue  # mixed in-plane/out-of-plane second derivatives vanish by symmetry
            h["uu", i, j] = _plane(sp.diff(d[_U[i]] if i < 2 else sp.diff(K, _U[2]), _U[j])) \
                if (i <= j) else None
            h["uv", i, j] = _plane(sp.diff(d[_U[i]] if i < 2 else sp.diff(K, _U[2]), _V[j]))
    huu0, huv0 = h["uu", 2, 2], h["uv", 2, 2]
    kap = sp.simplify(kappa(act.name).subs(sp.cos(PHI), C).subs(sp.sin(PHI), SN))
    out = {
        "kappa": kap, "ga": ga, "gb": gb,
        "huu0": huu0, "huu11": sp.simplify(h["uu", 0, 0] - huu0), "huu12": h["uu", 0, 1],
        "huu22": sp.simplify(h["uu", 1, 1] - huu0),
        "huv0": huv0, "huv11": sp.simplify(h["uv", 0, 0] - huv0), "huv12": h["uv", 0, 1],
        "huv21": h["uv", 1, 0], "huv22": sp.simplify(h["uv", 1, 1] - huv0),
    }
    return {k: _cancel_sine(v) for k, v in out.items()}


def _cancel_sine(e: sp.Expr) -> sp.Expr:
    """Cancel ``sin(phi)`` from a denominator where the numerator vanishes with it: the
    numerator is reduced modulo ``c^2 + s^2 - 1`` (as a polynomial in ``c``), then the fraction
    is cancelled (ReLU's ``c (c^2 - 1)/s`` becomes ``-c s``)."""
    e = sp.simplify(e.subs(1 - C**2, SN**2))
    num, den = sp.fraction(sp.together(e))
    if den.has(SN) and num.is_polynomial(C):
        num = sp.rem(sp.expand(num), C**2 + SN**2 - 1, C)
        e = sp.cancel(num / den)
    return sp.factor_terms(e)


@cached
def self_terms(name: str) -> dict:
    """The diagonal ``D(u) = kappa(u, u)`` (the kernel at ``phi = 0``) and its derivatives:
    ``{"d": D, "d1": grad D = d1 u, "dh0", "dh11": hess D = dh0 I + dh11 u^u^T}`` in ``a``."""
    act = activation(name)
    D = sp.simplify(sp.limit(kappa(act.name), PHI, 0, "+").subs(B, A))
    pp = sp.Symbol("p", positive=True)
    Dp = D.subs(A, sp.sqrt(pp)).subs(pp, _dot(_U, _U))
    at = {_U[0]: A, _U[1]: 0, _U[2]: 0}
    d1 = sp.simplify(sp.diff(Dp, _U[0]).subs(at) / A)
    dh0 = sp.simplify(sp.diff(Dp, _U[2], 2).subs(at))
    dh11 = sp.simplify(sp.diff(Dp, _U[0], 2).subs(at) - dh0)
    return {"d": D, "d1": d1, "dh0": dh0, "dh11": dh11}


def expressions(name: str) -> dict:
    """The per-activation SymPy expressions of the engine, for LaTeX, symbolic work and
    rigorous (interval / ball-arithmetic) evaluation, e.g. by python-flint's ``arb``.

    Returns ``{"kappa": kappa(a, b, phi), "invariants": kappa(p, q, w), "pair": {term: expr},
    "self": {term: expr}, "symbols": {...}, "params": (...)}``.  Pair terms are in the symbols
    ``a = |u|, b = |v|, c = cos(phi), s = sin(phi), phi`` (plus ``alpha`` for leaky ReLU) and
    mean (``u^ = u/|u|``, ``e`` the unit rejection of ``v`` from ``u``):

    * ``d kappa/du = ga u + gb v``;
    * ``d^2 kappa/du du^T = huu0 I + huu11 u^u^T + huu12 (u^e^T + e u^T) + huu22 e e^T``;
    * ``d^2 kappa/du dv^T = huv0 I + huv11 u^u^T + huv12 u^e^T + huv21 e u^T + huv22 e e^T``.

    Self terms (``D(u) = kappa(u, u)`` in ``a``): ``grad D = d1 u``, ``hess D = dh0 I + dh11
    u^u^T``.  An activation without a closed form raises ``ValueError`` naming it.
    """
    act = activation(name)
    return {"kappa": kappa(act.name), "invariants": kappa_invariants(act.name),
            "pair": dict(pair_terms(act.name)), "self": dict(self_terms(act.name)),
            "symbols": {"a": A, "b": B, "c": C, "s": SN, "phi": PHI, "p": P, "q": Q, "w": W},
            "params": act.params}
