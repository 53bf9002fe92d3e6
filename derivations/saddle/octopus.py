"""The tube function (7.6)-(7.10) and the mirrored "octopus" (7.12)-(7.18), in any dimension d.

Tube, on the domain D0 of (7.5).  For region ``i`` (1 <= i <= d+1) the coordinates play roles:
``x_1 .. x_{i-1}`` are *converged* (in ``[2 tau, 6 tau]``), ``x_i`` is *active* (in
``[0, 2 tau]``), ``x_{i+1}`` is *next* and ``x_{i+2} ..`` are the *tail* (in ``[0, tau]``).
Equations (7.6)-(7.10) are all instances of one template in the role variables

    F = S_conv + S_tail + R_quad (LEFT(u) + L v^2) + R_spline g(u, v) - k nu,

with ``S_conv = sum_conv L (x_j - 4 tau)^2``, ``S_tail = sum_tail L x_j^2``, ``u = x_i``,
``v = x_{i+1}`` (0 when ``i >= d``), ``k = i - 1``, and ``R_quad = 1`` on ``0 <= u <= tau``
((7.6), (7.8)), ``R_spline = 1`` on ``tau <= u <= 2 tau`` ((7.7), (7.9)); region ``d+1``
((7.10)) is ``u = v = 0, k = d``.  ``g``, ``g1``, ``g2``, ``nu`` are the derived connectors of
:mod:`.connectors`; ``LEFT``/``RIGHT`` are the quadratic pieces they join.

Octopus: ``f(x) = F(|x_1|, ..., |x_d|)`` on ``D = union_a D_a`` (7.13).  Every piece is even in
each coordinate that lives in ``[-tau, tau]`` (proved in the checks), so this is exactly
(7.14)-(7.18) with the sign pattern ``a``.

The gradient and Hessian are obtained by differentiating the template (chain rule through the
role sums, then through ``|x_j|``): the emitted code multiplies by ``sign(x_j)`` (gradient) and
``sign(x_j) sign(x_k)`` (off-diagonal Hessian).  The region selection and assembly is the model's
definition and is a fixed template (:func:`derivations.codegen.templates.saddle.emit`); every
polynomial piece is printed from the SymPy expressions of this module, so a perturbed expression changes the emitted code.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .. import vectors as V
from ..registry import Arg, Formula, register
from . import connectors as C

SOURCE = "004 thesis, ch. 7"
L, gamma, tau = C.L, C.gamma, C.tau

# Role variables of the template.
u = sp.Symbol("u", nonnegative=True)        # |x_i|, the active coordinate
v = sp.Symbol("v", nonnegative=True)        # |x_{i+1}|, the next coordinate (0 if i >= d)
y_j = sp.Symbol("y_j", nonnegative=True)    # |x_j|, per coordinate (converged or tail sums)
S_conv = sp.Symbol("S_conv")                # sum over converged coordinates of CONV_TERM
S_tail = sp.Symbol("S_tail")                # sum over tail coordinates of TAIL_TERM
k = sp.Symbol("k", nonnegative=True)        # i - 1, the number of converged coordinates
R_quad = sp.Symbol("R_quad")                # 1 on 0 <= u <= tau, else 0
R_spline = sp.Symbol("R_spline")            # 1 on tau < u <= 2 tau, else 0

#: Per-coordinate terms of the role sums: a converged coordinate (7.6)-(7.10) and a tail one.
CONV_TERM = C.RIGHT.subs(C.x, y_j)
TAIL_TERM = C.NEXT_LEFT * y_j**2

# Role basis of the gradient (rank 1) and Hessian (rank 2), interpreted by the emitter.
_SPACE = "saddle_roles"
E_conv = V.vector("e_conv", _SPACE, r"\mathbf{e}_{\mathrm{conv}}")
E_act = V.vector("e_act", _SPACE, r"\mathbf{e}_{i}")
E_next = V.vector("e_next", _SPACE, r"\mathbf{e}_{i+1}")
E_tail = V.vector("e_tail", _SPACE, r"\mathbf{e}_{\mathrm{tail}}")
H_conv = V.vector("H_conv", _SPACE, r"P_{\mathrm{conv}}")
H_tail = V.vector("H_tail", _SPACE, r"P_{\mathrm{tail}}")
H_aa = V.vector("H_aa", _SPACE, r"\mathbf{e}_i\mathbf{e}_i^\top")
H_an = V.vector("H_an", _SPACE, r"(\mathbf{e}_i\mathbf{e}_{i+1}^\top+\mathbf{e}_{i+1}\mathbf{e}_i^\top)")
H_nn = V.vector("H_nn", _SPACE, r"\mathbf{e}_{i+1}\mathbf{e}_{i+1}^\top")
GRAD_BASIS = (E_conv, E_act, E_next, E_tail)
HESS_BASIS = (H_conv, H_tail, H_aa, H_an, H_nn)


# --------------------------------------------------------------------------------------------
# The template and its derivatives
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def tube_template() -> sp.Expr:
    """(7.6)-(7.10) as one expression in the role variables (see the module docstring)."""
    quad = C.LEFT.subs(C.x, u) + C.NEXT_LEFT * v**2          # -gamma x_i^2 + L x_{i+1}^2
    spline = C.g().subs({C.x: u, C.y: v}, simultaneous=True)  # g(x_i, x_{i+1})
    return S_conv + S_tail + R_quad * quad + R_spline * spline - k * C.nu()


def _chain(F: sp.Expr):
    """First derivatives of the template per role (chain rule through the role sums)."""
    return {
        E_conv: sp.diff(F, S_conv) * sp.diff(CONV_TERM, y_j),
        E_act: sp.diff(F, u),
        E_next: sp.diff(F, v),
        E_tail: sp.diff(F, S_tail) * sp.diff(TAIL_TERM, y_j),
    }


@lru_cache(maxsize=None)
def gradient_template() -> sp.Expr:
    """``d F / d |x_j|`` by role, as ``sum coefficient * role basis``."""
    return sp.Add(*[c * b for b, c in _chain(tube_template()).items()])


@lru_cache(maxsize=None)
def hessian_template() -> sp.Expr:
    """Second derivatives of F by role.  F is linear in the role sums, so the converged and
    tail blocks are diagonal (asserted) and only (active, next) couple."""
    F = tube_template()
    for a_, b_ in ((S_conv, S_conv), (S_tail, S_tail), (S_conv, S_tail), (S_conv, u),
                   (S_conv, v), (S_tail, u), (S_tail, v)):
        if sp.simplify(sp.diff(F, a_, b_)) != 0:
            raise ArithmeticError(f"template is not linear in the role sums ({a_}, {b_})")
    parts = {
        H_conv: sp.diff(F, S_conv) * sp.diff(CONV_TERM, y_j, 2),
        H_tail: sp.diff(F, S_tail) * sp.diff(TAIL_TERM, y_j, 2),
        H_aa: sp.diff(F, u, 2),
        H_an: sp.diff(F, u, v),
        H_nn: sp.diff(F, v, 2),
    }
    return sp.Add(*[c * b for b, c in parts.items()])


# --------------------------------------------------------------------------------------------
# Explicit pieces in a fixed dimension (for the symbolic proofs)
# --------------------------------------------------------------------------------------------


def coordinates(d: int) -> tuple[sp.Symbol, ...]:
    return sp.symbols(f"x1:{d + 1}", real=True)


def role_substitution(d: int, i: int, piece: int, xs=None) -> dict:
    """Role variables of region ``i`` (1..d+1), ``piece`` 1 (quadratic) or 2 (spline)."""
    xs = xs or coordinates(d)
    if not 1 <= i <= d + 1 or piece not in (1, 2) or (i == d + 1 and piece == 2):
        raise ValueError(f"no region ({i}, {piece}) in dimension {d}")
    sub = {
        S_conv: sp.Add(*[CONV_TERM.subs(y_j, xs[j]) for j in range(i - 1)]),
        S_tail: sp.Add(*[TAIL_TERM.subs(y_j, xs[j]) for j in range(i + 1, d)]),
        u: xs[i - 1] if i <= d else sp.Integer(0),
        v: xs[i] if i < d else sp.Integer(0),
        k: sp.Integer(i - 1),
        R_quad: sp.Integer(1 if piece == 1 else 0),
        R_spline: sp.Integer(0 if piece == 1 else 1),
    }
    return sub


def tube_piece(F: sp.Expr, d: int, i: int, piece: int, xs=None) -> sp.Expr:
    """The explicit polynomial of region ``(i, piece)`` of the tube in dimension ``d``, obtained
    from the template ``F`` (eqs. (7.6)-(7.10) for ``piece`` 1/2 of ``i <= d``, (7.10) for d+1)."""
    return F.subs(role_substitution(d, i, piece, xs), simultaneous=True)


def regions(d: int) -> list[tuple[int, int]]:
    return [(i, p) for i in range(1, d + 1) for p in (1, 2)] + [(d + 1, 1)]


def interfaces(d: int) -> list[tuple[tuple[int, int], tuple[int, int], int, sp.Expr]]:
    """Every interface of the tube: ``(region A, region B, coordinate index, value)``:
    ``x_i = tau`` between (i, 1) and (i, 2); ``x_i = 2 tau`` between (i, 2) and (i+1, 1)."""
    out = []
    for i in range(1, d + 1):
        out.append(((i, 1), (i, 2), i - 1, tau))
        out.append(((i, 2), (i + 1, 1), i - 1, 2 * tau))
    return out


def homogeneity_degree(expr: sp.Expr) -> int | None:
    """``deg`` with ``expr(s u, s v, s y_j, s tau, s^2 S_conv, s^2 S_tail) = s^deg expr`` (L and
    gamma fixed), checked by SymPy together with ``CONV_TERM`` and ``TAIL_TERM`` being of
    degree 2; ``None`` if the expression is not homogeneous (then no scaling is emitted)."""
    s = sp.Symbol("s", positive=True)
    sub = {u: s * u, v: s * v, y_j: s * y_j, tau: s * tau, S_conv: s**2 * S_conv,
           S_tail: s**2 * S_tail}
    for term in (CONV_TERM, TAIL_TERM):
        if sp.expand(term.subs(sub, simultaneous=True) - s**2 * term) != 0:
            return None
    scaled = sp.expand(sp.sympify(expr).subs(sub, simultaneous=True))
    for deg in (2, 1, 0):
        if sp.expand(scaled - s**deg * sp.expand(expr)) == 0:
            return deg
    return None


# --------------------------------------------------------------------------------------------
# LaTeX
# --------------------------------------------------------------------------------------------

_NAMES = {S_conv: r"S_{\mathrm{conv}}", S_tail: r"S_{\mathrm{tail}}", R_quad: r"R_{\mathrm{quad}}",
          R_spline: r"R_{\mathrm{spline}}", y_j: r"y_j", u: r"u", v: r"v", gamma: r"\gamma",
          tau: r"\tau"}


def _latex(expr) -> str:
    names = dict(_NAMES)
    names.update({b: V.meaning(b).latex for b in GRAD_BASIS + HESS_BASIS})
    return sp.latex(expr, symbol_names=names)


def _latex_f(expr) -> str:
    return (r"F(|x_1|,\dots,|x_d|),\quad F = " + _latex(expr)
            + r",\quad S_{\mathrm{conv}} = \sum_{j<i} " + _latex(CONV_TERM.subs(y_j, sp.Symbol("x_j")))
            + r",\ S_{\mathrm{tail}} = \sum_{j>i+1} " + _latex(TAIL_TERM.subs(y_j, sp.Symbol("x_j")))
            + r",\ u = |x_i|,\ v = |x_{i+1}|,\ k = i-1")


def _latex_roles(expr) -> str:
    return r"\operatorname{diag}(\operatorname{sign}\mathbf{x})\left(" + _latex(expr) + r"\right)"


#: The "where" list of the printed formulas (derivations.latex.where_list); plain text.
_WHERE = {
    R_quad: (r"R_{\mathrm{quad}}", "1 on the quadratic piece 0 <= u <= tau ((7.6), (7.8)), else 0"),
    R_spline: (r"R_{\mathrm{spline}}", "1 on the spline piece tau < u <= 2 tau ((7.7), (7.9)), else 0"),
    S_conv: (r"S_{\mathrm{conv}}", "sum over the converged coordinates j < i of L (|x_j| - 4 tau)^2"),
    S_tail: (r"S_{\mathrm{tail}}", "sum over the tail coordinates j > i + 1 of L x_j^2"),
    u: "|x_i|, the active coordinate (i = the first j with |x_j| < 2 tau)",
    v: "|x_{i+1}|, the next coordinate (0 when i = d)",
    y_j: "|x_j|, a converged (j < i) or tail (j > i + 1) coordinate",
    k: "i - 1, the number of converged coordinates",
    E_conv: "indicator vector of the converged coordinates j < i",
    E_act: "the i-th unit vector (active coordinate)",
    E_next: "the (i+1)-th unit vector (next coordinate)",
    E_tail: "indicator vector of the tail coordinates j > i + 1",
    H_conv: (r"P_{\mathrm{conv}}", "diagonal projection onto the converged coordinates j < i"),
    H_tail: (r"P_{\mathrm{tail}}", "diagonal projection onto the tail coordinates j > i + 1"),
    H_aa: "the (i, i) matrix unit",
    H_an: "the symmetric (i, i+1) matrix unit",
    H_nn: "the (i+1, i+1) matrix unit",
}

_ARGS = (
    Arg("x", "vector", "the point, d >= 2", space="d"),
    Arg("L", "scalar", "curvature of the stable directions (L >= gamma)",
        domain=(">= gamma: the proofs need L >= gamma > 0",)),
    Arg("gamma", "scalar", "curvature of the unstable direction", positive=True),
    Arg("tau", "scalar", "width of the saddle region (thesis: tau = e)", positive=True),
)
_ASSUME = ("L >= gamma > 0, tau > 0 (thesis: L = e, gamma = 1, tau = e); x in the octopus "
           "domain D of (7.13), which contains [-1, 1]^d")

_f = register(Formula(
    "saddle.f", f"{SOURCE}, tube (7.6)-(7.10) mirrored to the octopus (7.12)-(7.18)", _ARGS,
    _ASSUME, tube_template, r"f(\mathbf{x})", rank=0, emitter="saddle.emit", where=_WHERE,
    notes="Region selection: the active coordinate is the first with |x_j| < 2 tau.",
))
_f.latex_rhs = _latex_f
_g = register(Formula(
    "saddle.grad", f"{SOURCE}, gradient of the octopus (7.12)-(7.18)", _ARGS, _ASSUME,
    gradient_template, r"\nabla f(\mathbf{x})", rank=1, emitter="saddle.emit", where=_WHERE,
))
_g.latex_rhs = _latex_roles
_h = register(Formula(
    "saddle.hessian", f"{SOURCE}, Hessian of the octopus (7.12)-(7.18)", _ARGS, _ASSUME,
    hessian_template, r"\nabla^2 f(\mathbf{x})", rank=2, emitter="saddle.emit", where=_WHERE,
    notes="Off-diagonal (active, next) entries carry sign(x_i) sign(x_{i+1}).",
))
_h.latex_rhs = lambda expr: _latex(expr)
