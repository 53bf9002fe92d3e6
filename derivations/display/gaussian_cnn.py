"""Display forms of thesis ch. 5 (seed 004): Lemma 5.6, eqs. (5.5)-(5.6), Theorems 5.1-5.2.

The thesis writes these results with ``g(phi) = (pi - phi) cos(phi) + sin(phi)`` (below
eq. (5.3)), the matrices ``11^T + c I`` of eqs. (5.5)-(5.6), the projector ``I - v v^T/|v|^2``
(Theorem 5.2) and the loss as one bracket over the invariants ``|a*|^2, |a|^2, a^T a*,
(1^T a*)^2, (1^T a)^2, (1^T a)(1^T a*)`` (eq. (5.3)).  Each builder reads its coefficients off
the derived expression; :func:`derivations.display.prove` substitutes the definitions back.
"""
from __future__ import annotations

import sympy as sp

from .. import cnn as C
from .. import cnn_dynamics as CD
from .. import vectors as V
from . import Display, _size, auto, invariants, named, register, tidy

# --------------------------------------------------------------------------------------------
# Named functions of ch. 5
# --------------------------------------------------------------------------------------------

g = named("g", "g({0})", lambda phi: (sp.pi - phi) * sp.cos(phi) + sp.sin(phi),
          "the thesis's g (below eq. (5.3))")


def _angles(expr):
    return sorted((s for s in expr.free_symbols if str(s) in ("phi", "theta") or (
        V.meaning(s) is not None and V.meaning(s).kind == "angle")), key=str)


def with_g(expr, angle=None):
    """``expr`` with ``sin(phi)`` replaced by ``g(phi) - (pi - phi) cos(phi)`` (the definition
    of g solved for sin), expanded and collected in ``g``; unchanged if nothing cancels."""
    phis = [angle] if angle is not None else _angles(expr)
    out = expr
    for phi in phis:
        if not out.has(sp.sin(phi)):
            continue
        if not out.has(sp.cos(phi)):
            continue  # g needs both (no cancellation possible)
        new = sp.expand(out.subs(sp.sin(phi), g(phi) - (sp.pi - phi) * sp.cos(phi)))
        if new.has(sp.cos(phi)) and sp.count_ops(new) >= sp.count_ops(sp.expand(out)):
            continue
        new = sp.collect(new, [g(phi)], func=sp.factor)
        if not new.has(sp.cos(phi)):
            fac = sp.factor(new)
            out = min((new, fac), key=sp.count_ops)
        elif sp.count_ops(new) < sp.count_ops(out):
            out = new
    return out


def _g_forms(e):
    """``e`` with g, as it comes and collected by its invariants (coefficients factored)."""
    w = with_g(e)
    out = [sp.factor_terms(w)]
    inv = invariants(w)
    if inv and w.has(g):
        col = sp.collect(sp.expand(w), inv, evaluate=False)
        out.append(sp.factor_terms(sp.Add(*[sp.factor(c) * k for k, c in col.items()])))
    return min(out, key=lambda x: _size(x))


def tidy_g(expr, **kw):
    return tidy(expr, rewrite=_g_forms, **kw)


def bracket(scale, terms):
    """``scale [t1 + t2 + ...]`` with the terms in the given order."""
    return Bracket(scale, sp.Add(*terms, evaluate=False))


Bracket = named("Bracket", r"{0} \Big[{1}\Big]", lambda c, inner: c * inner,
                show_definition=False, nargs=2)


# --------------------------------------------------------------------------------------------
# Gaussian lemmas
# --------------------------------------------------------------------------------------------


@register("gaussian.g")
def _g(formula, expr):
    return Display(expr=sp.collect(sp.expand(expr), [sp.cos(s) for s in expr.free_symbols]))


@register("gaussian.relu_cross_moment", "kernels.relu_layer_map")
def _cross(formula, expr):
    return Display(expr=tidy_g(expr))


@register("gaussian.relu_mean", "gaussian.halfspace_second_moment",
          "gaussian.wedge_second_moment")
def _plain(formula, expr):
    return auto(formula, expr)


# --------------------------------------------------------------------------------------------
# Eqs. (5.5)-(5.6): A(w) and B(w, w*) as c (11^T + c' I)
# --------------------------------------------------------------------------------------------


def patch_matrix(expr):
    """``c_J 11^T + c_I I`` as ``c_J (11^T + (c_I/c_J) I)`` (eqs. (5.5)-(5.6))."""
    cJ, cI = sp.diff(expr, C.J), sp.diff(expr, C.I_K)
    if cJ == 0:
        return tidy_g(cI) * C.I_K
    inner = sp.Add(C.J, sp.Mul(sp.factor_terms(with_g(sp.simplify(cI / cJ))), C.I_K,
                               evaluate=False), evaluate=False)
    return sp.Mul(sp.factor(cJ), inner, evaluate=False)


@register("cnn.A", "cnn.B")
def _AB(formula, expr):
    return Display(expr=patch_matrix(expr))


# --------------------------------------------------------------------------------------------
# Theorem 5.1: the loss as one bracket over the invariants
# --------------------------------------------------------------------------------------------


def _loss_keys(w_norm):
    nws = V.norm(C.WS)
    return [nws**2 * V.norm(C.AS)**2, w_norm**2 * V.norm(C.A_)**2,
            w_norm * nws * V.dot(C.A_, C.AS), nws**2 * V.total(C.AS)**2,
            w_norm**2 * V.total(C.A_)**2, w_norm * nws * V.total(C.A_) * V.total(C.AS)]


@register("cnn.population_loss", paper_aware=True)
def _loss(formula, expr, which="expr"):
    """``1/(4 pi) [...]``; the printed statement as eq. (5.3) groups it, ``1/2 [...]`` with
    the ``1/(2 pi)`` inside each coefficient."""
    keys = [k.subs(V.norm(C.WS), 1) for k in _loss_keys(sp.Integer(1))]
    scale = sp.Rational(1, 4) / sp.pi if which == "expr" else sp.Rational(1, 2)
    return Display(expr=grouped_norms(expr, keys, scale))


@register("cnn.population_loss_w")
def _loss_w(formula, expr):
    keys = [k.subs({V.norm(C.WS): 1}) for k in _loss_keys(sp.Integer(1))]
    return Display(expr=grouped_norms(expr, keys, sp.Rational(1, 4) / sp.pi))


def grouped_norms(expr, keys, scale):
    """:func:`grouped` over the invariants of ``a`` and ``a*`` only (the norms of the filters
    stay in the coefficients, as eq. (5.3) prints them)."""
    inner = sp.expand(expr / scale)
    gens = [V.norm(C.A_), V.norm(C.AS), V.dot(C.A_, C.AS), V.total(C.A_), V.total(C.AS)]
    poly = sp.Poly(inner, *gens)
    terms, used = [], sp.Integer(0)
    for k in keys:
        mon = sp.Poly(k, *gens).monoms()[0]
        c = poly.coeff_monomial(mon)
        if c != 0:
            terms.append(sp.Mul(sp.factor_terms(with_g(sp.factor(c))), k, evaluate=False))
            used += c * k
    rest = sp.expand(inner - used)
    if rest != 0:
        terms.append(tidy_g(rest))
    return bracket(scale, terms)


# --------------------------------------------------------------------------------------------
# Theorem 5.2: the projector and the matrices of eq. (5.5)
# --------------------------------------------------------------------------------------------

Proj = named("Proj", r"\left(I - \frac{{{0} {0}^\top}}{{\|{0}\|^{{2}}}}\right) {1}",
             lambda x, y: y - V.dot(x, y) / V.norm(x) ** 2 * x,
             show_definition=False, nargs=2, rank=5)
MatVec = named("MatVec", r"\left(\mathbf{{1}}\mathbf{{1}}^\top + {0} I\right) {1}",
               lambda c, x: V.total(x) * C.ONE_K + c * x, show_definition=False, nargs=2,
               paren_args=(0,), rank=5)


@register("cnn.grad_v")
def _grad_v(formula, expr):
    """``c (I - v v^T/|v|^2) w*`` with ``c`` the derived coefficient of ``w*``."""
    c = sp.factor(sp.diff(expr, C.WS))
    disp = sp.Mul(c, Proj(C.V_, C.WS), evaluate=False)
    if sp.simplify(V.cos_form(sp.expand(disp.replace(
            lambda e: isinstance(e, type(Proj(C.V_, C.WS))), lambda e: e.definition())
            - expr))) != 0:
        return auto(formula, expr)  # not of the projector form (e.g. the printed reading)
    return Display(expr=disp)


@register("cnn.grad_a")
def _grad_a(formula, expr):
    """``s (11^T + c I) a + s* (11^T + c* I) a*`` (Theorem 5.2): ``s`` is the derived
    coefficient of ``(1^T a) 1``, ``c`` the coefficient of ``a`` over ``s``."""
    c_one = sp.diff(expr, C.ONE_K)
    terms = []
    for x in (C.A_, C.AS):
        s = sp.factor(sp.diff(c_one, V.total(x)))
        cx = sp.factor_terms(with_g(sp.simplify(sp.diff(expr, x) / s)))
        terms.append(sp.Mul(s, MatVec(cx, x), evaluate=False))
    return Display(expr=sp.Add(*terms, evaluate=False))


@register("cnn.grad_w", "cnn.a_opt", "cnn.profile_loss", "cnn.spurious_min_loss",
          "cnn.spurious_a", "cnn.spurious_cubic", "cnn.spurious_threshold")
def _ch5(formula, expr):
    if formula.rank == 0 or not V.basis_symbols(expr):
        return Display(expr=tidy_g(expr, consts=(sp.Symbol("k", positive=True, integer=True),)))
    parts = V.components(expr, formula.rank)
    return Display(expr=sp.Add(*[sp.Mul(tidy_g(c), b, evaluate=False) for c, b in parts],
                               evaluate=False))


# --------------------------------------------------------------------------------------------
# GD dynamics (C5-17): the scalar state under its printed names
# --------------------------------------------------------------------------------------------

GD_NAMES = {"v_norm": r"\|\mathbf v^t\|", "a_dot": r"(\mathbf a^t)^\top\mathbf a^*",
            "a_sum": r"\mathbf 1^\top\mathbf a^t", "ws_norm": r"\|\mathbf w^*\|",
            "as_norm": r"\|\mathbf a^*\|", "as_sum": r"\mathbf 1^\top\mathbf a^*",
            "phi": r"\phi^t", "eta": r"\eta"}


def gd_names(expr):
    return {s: GD_NAMES[str(s)] for s in expr.free_symbols if str(s) in GD_NAMES}


GD_WHERE = [
    (r"\phi^t", r"the angle between $\mathbf v^t$ and $\mathbf w^*$ at step $t$, in $[0, \pi]$"),
    (r"\|\mathbf v^t\|", r"the norm of the first layer $\mathbf v^t \in \mathbb R^p$ at step $t$"),
    (r"(\mathbf a^t)^\top\mathbf a^*", r"the inner product of the second layer "
     r"$\mathbf a^t \in \mathbb R^k$ with the teacher's $\mathbf a^*$"),
    (r"\mathbf 1^\top\mathbf a^t", r"the sum of the coordinates of $\mathbf a^t$"),
    (r"\mathbf 1^\top\mathbf a^*", r"the sum of the coordinates of $\mathbf a^*$"),
    (r"\|\mathbf w^*\|", r"the norm of the teacher's filter $\mathbf w^* \in \mathbb R^p$"),
    (r"\|\mathbf a^*\|", r"the norm of the teacher's second layer $\mathbf a^* \in \mathbb R^k$"),
    (r"k", r"the number of patches (length of $\mathbf a$)"),
    (r"\eta", r"the step size (a scalar)"),
]

#: the GD update of the angle (Piecewise: an angle outside [0, pi] reflected back) with the
#: rotated angle named, as the thesis's eq. (5.9) names the step
psi = named("psi", r"\psi^t", lambda e: e, nargs=1, show_definition=True)


def _name_rotation(expr):
    """``|psi|`` with ``psi = phi - atan(...)`` (the repeated argument of the reflection)."""
    abss = sorted(expr.atoms(sp.Abs), key=sp.count_ops)
    if not abss:
        return expr
    inner = abss[-1].args[0]
    return expr.subs(inner, psi(inner))


@register(*[f"cnn.{q}" for q in ("gd_next_angle", "gd_next_sin2", "gd_next_norm_v_sq",
                                  "gd_next_dot", "gd_next_sum")])
def _gd(formula, expr):
    disp = _gd_display(formula, expr)
    disp.where = GD_WHERE
    return disp


def _gd_display(formula, expr):
    names = gd_names(expr)
    if formula.quantity == "gd_next_angle":
        return Display(expr=_name_rotation(tidy(expr, names)), names=names)
    phi = next((s for s in expr.free_symbols if str(s) == "phi"), None)
    rw = (lambda e: sp.factor_terms(with_g(e, phi))) if phi is not None else None
    eta = next((s for s in expr.free_symbols if str(s) == "eta"), None)
    e = expr
    if eta is not None and not expr.has(sp.Piecewise) and formula.quantity in (
            "gd_next_dot", "gd_next_sum"):
        # x^{t+1} = x^t - eta * (gradient): the step collected in eta
        col = sp.collect(sp.expand(expr), eta, evaluate=False)
        if set(col) <= {sp.Integer(1), eta}:
            step = tidy(col.get(eta, 0), names, rewrite=rw)
            return Display(expr=sp.Add(col.get(sp.Integer(1), 0),
                                       sp.Mul(eta, step, evaluate=False), evaluate=False),
                           names=names)
    return Display(expr=tidy(e, names, rewrite=rw), names=names)


_ = CD  # the dynamics module registers the gd formulas (imported for its symbols' sake)


# --------------------------------------------------------------------------------------------
# Corollary 5.2 and Lemma 5.10: an iteration count T = log N / log rho (issue 24)
# --------------------------------------------------------------------------------------------


@register("cnn.cor52_iterations", "cnn.lemma510_iterations")
def _iterations(formula, expr):
    """``T = log N / log rho``: the count of a linear recursion with contraction ``rho`` to
    reach the target, ``N`` the ratio of the distances; both read off the derived expression
    (``sp.fraction``) and set on lines of their own (the one-line form is wider than a page)."""
    from . import to_tex

    num, den = sp.fraction(expr)
    if not (isinstance(num, sp.log) and isinstance(den, sp.log)):
        return auto(formula, expr)
    names = gd_names(expr)
    phi = next((s for s in expr.free_symbols if str(s) == "phi"), None)
    N = tidy(with_g(num.args[0], phi) if phi is not None else num.args[0], names)
    rho = tidy(den.args[0], names)
    defs = [("N", to_tex(N, names)), (r"\rho", to_tex(rho, names))]
    return Display(expr=sp.log(N, evaluate=False) / sp.log(rho, evaluate=False),
                   tex=r"\frac{\log N}{\log \rho}", definitions=defs, names=names)
