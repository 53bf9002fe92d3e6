"""Corollary 7.2 (seed 004 thesis, sec. 7.4 and its proof 7.7.3): the affine rescaling
``g(x) = f((x - z)/R)`` moves the construction to any cube ``B_inf(z, R)``.

Derived by SymPy on a generic quartic ``f`` of two variables (symbolic coefficients; the chain
rule acts coordinate-wise, so two variables and order 4 suffice): every second derivative of ``g`` is ``1/R^2`` times the
one of ``f`` at ``h(x) = (x - z)/R`` and every third ``1/R^3``, so

* ``saddle.cor72_ell``: ``ell_g = ell / R^2`` (Definition 7.2's constant of g);
* ``saddle.cor72_rho``: ``rho_g = rho / R^3`` (Definition 7.3's; the thesis prints it too);
* ``B_g = B`` (values are not rescaled; asserted here);
* ``saddle.cor72_step``: GD with step ``eta`` on ``g`` maps under ``h`` to GD on ``f`` with the
  step solved from ``h(x - eta grad g(x)) = h(x) - eta_f grad f(h(x))``: ``eta_f = eta/R^2``.
"""
from __future__ import annotations

import sympy as sp

from ..registry import Arg, Formula, register

SOURCE = "004 thesis, ch. 7"
R = sp.Symbol("R", positive=True)
ELL = sp.Symbol("ell", positive=True)
RHO = sp.Symbol("rho", positive=True)
ETA = sp.Symbol("eta", positive=True)
_x = sp.symbols("x1 x2", real=True)
_z = sp.symbols("z1 z2", real=True)
_C = {(i, j): sp.Symbol(f"c_{i}{j}") for i in range(5) for j in range(5 - i)}


def _f(a, b):
    """A generic quartic (symbolic coefficients): every derivative up to order 3 is generic."""
    return sp.Add(*[c * a**i * b**j for (i, j), c in _C.items()])


def _h():
    return [(xi - zi) / R for xi, zi in zip(_x, _z)]


def _g():
    return _f(*_h())


def _ratio(order: int) -> sp.Expr:
    """The common factor of every ``order``-th derivative of g over f's at h(x)."""
    g = _g()
    y = sp.symbols("y1 y2", real=True)
    F = _f(*y)
    def pair(ix):
        dg = sp.diff(g, *[_x[i] for i in ix])
        df = sp.diff(F, *[y[i] for i in ix]).subs(dict(zip(y, _h())), simultaneous=True)
        return dg, df

    dg, df = pair((0,) * order)
    ratio = sp.simplify(dg / df)
    for ix in ((0,) * (order - 1) + (1,), (1,) * order):  # mixed and the other pure derivative
        dg, df = pair(ix)
        if sp.expand(dg - ratio * df) != 0:  # pragma: no cover - a regression
            raise ArithmeticError(f"derivative {ix} of g does not scale by {ratio}")
    return ratio


def cor72_ell() -> sp.Expr:
    return sp.simplify(ELL * _ratio(2))


def cor72_rho() -> sp.Expr:
    return sp.simplify(RHO * _ratio(3))


def value_ratio() -> sp.Expr:
    """``g(x) / f(h(x))`` = 1: ``B_g = B``."""
    return sp.simplify(_g() / _f(*_h()))


def cor72_step() -> sp.Expr:
    """``eta_f`` with ``h(x - eta grad g(x)) = h(x) - eta_f grad f(h(x))``."""
    etaf = sp.Symbol("eta_f")
    grad_g = [sp.diff(_g(), xi) for xi in _x]
    x_next = [xi - ETA * gi for xi, gi in zip(_x, grad_g)]
    y = sp.symbols("y1 y2", real=True)
    grad_f = [sp.diff(_f(*y), yi).subs(dict(zip(y, _h())), simultaneous=True) for yi in y]
    lhs = [(xn - zi) / R for xn, zi in zip(x_next, _z)]
    rhs = [hi - etaf * gf for hi, gf in zip(_h(), grad_f)]
    sol = sp.solve(sp.expand(lhs[0] - rhs[0]), etaf)
    if len(sol) != 1 or sp.expand((lhs[1] - rhs[1]).subs(etaf, sol[0])) != 0:
        raise ArithmeticError(f"no common eta_f: {sol}")  # pragma: no cover
    return sp.simplify(sol[0])


_R_ARG = Arg("R", "scalar", "half side of the cube B_inf(z, R)", positive=True)
_ASSUME = "g(x) = f((x - z)/R), f the construction of Theorem 7.3 (ell, rho its constants)"
register(Formula(
    "saddle.cor72_ell", f"{SOURCE}, Corollary 7.2 (proof, sec. 7.7.3): ell_g",
    (Arg("ell", "scalar", "gradient-Lipschitz constant of f", positive=True), _R_ARG), _ASSUME,
    cor72_ell, lhs=r"\ell_g",
))
register(Formula(
    "saddle.cor72_rho", f"{SOURCE}, Corollary 7.2 (proof, sec. 7.7.3): rho_g",
    (Arg("rho", "scalar", "Hessian-Lipschitz constant of f", positive=True), _R_ARG), _ASSUME,
    cor72_rho, lhs=r"\rho_g",
))
register(Formula(
    "saddle.cor72_step", f"{SOURCE}, Corollary 7.2 (proof, sec. 7.7.3): GD on g is GD on f",
    (Arg("eta", "scalar", "step size of GD on g", positive=True), _R_ARG), _ASSUME,
    cor72_step, lhs=r"\eta_f",
))
