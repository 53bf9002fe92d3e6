"""Display forms of the saddle construction (thesis ch. 7, seed 004).

The thesis writes its connectors as polynomials in the distance to the join point (Theorem 7.4:
a Hermite cubic in ``y - y_0``; Lemma 7.4: ``g_1``, ``g_2`` in powers of ``x - tau``) and the
connector as ``g(x, y) = g_1(x) + g_2(x) y^2``; the octopus's spline piece is that connector
at ``(|x_i|, |x_{i+1}|)``.  The displays expand the derived polynomials about the join point
(``x = tau + t``, collected in ``t``) and name ``g_1``, ``g_2`` and ``nu`` by their own derived
formulas; :func:`derivations.display.prove` substitutes the definitions back.
"""
from __future__ import annotations

import sympy as sp

from . import Display, named, register, tidy
from ..saddle import connectors as S

Shift = named("Shift", r"\left({0} - {1}\right)", lambda a, b: a - b, show_definition=False,
              nargs=2, rank=4.5)


def taylor(expr, x, c):
    """``expr`` (a polynomial in ``x``) as ``sum_k a_k (x - c)^k`` with factored ``a_k``."""
    t = sp.Dummy("t")
    e = sp.expand(expr.subs(x, c + t))
    if not e.is_polynomial(t):
        return expr
    col = sp.collect(e, t, evaluate=False)
    keys = sorted(col, key=lambda k: sp.degree(k, t))
    terms = []
    for k in keys:
        deg = sp.degree(k, t)
        coef = sp.factor(col[k])
        terms.append(coef if deg == 0 else sp.Mul(coef, Shift(x, c) ** deg, evaluate=False))
    return sp.Add(*terms, evaluate=False)


def _derived(name):
    import derivations as D

    return D.get(name).expr


G1 = named("g_1", r"g_1({0})", lambda z: _derived("saddle.g1").subs(S.x, z),
           show_definition=False)
G2 = named("g_2", r"g_2({0})", lambda z: _derived("saddle.g2").subs(S.x, z),
           show_definition=False)


@register("saddle.p", "saddle.g1", "saddle.g2", paper_aware=True)
def _poly(formula, expr, which="expr"):
    """Powers of ``x - tau``; the printed ``g_2`` of Lemma 7.4 is in powers of ``x - 2 tau``
    (its reading of the join point), so it is set that way."""
    x = next(s for s in expr.free_symbols if str(s) == "x")
    center = 2 * S.tau if (which == "paper" and formula.quantity == "g2") else S.tau
    return Display(expr=taylor(expr, x, center))


HERMITE_NAMES = {S.Y0: "y_0", S.Y1: "y_1", S.F0: "f_0", S.F1: "f_1", S.DF0: "f'_0",
                 S.DF1: "f'_1"}


@register("saddle.hermite_cubic")
def _hermite(formula, expr):
    """Powers of ``y - y_0`` (Theorem 7.4), the data as ``f_0, f_1, f'_0, f'_1``."""
    return Display(expr=taylor(expr, S.Y, S.Y0), names=HERMITE_NAMES)


@register("saddle.g")
def _g(formula, expr):
    """``g_1(x) + g_2(x) y^2`` (Lemma 7.4) when the derived connector is of that form."""
    disp = sp.Add(G1(S.x), sp.Mul(G2(S.x), S.y ** 2, evaluate=False), evaluate=False)
    defs = [(r"g_1(x)", _tex(taylor(_derived("saddle.g1"), S.x, S.tau))),
            (r"g_2(x)", _tex(taylor(_derived("saddle.g2"), S.x, S.tau)))]
    return Display(expr=disp, definitions=defs)


def _tex(e):
    from . import to_tex

    return to_tex(e)


@register("saddle.f")
def _f(formula, expr):
    """``F = R_quad (L v^2 - gamma u^2) + R_spline (g_1(u) + g_2(u) v^2) + S_conv + S_tail
    - k nu``: the spline piece named by Lemma 7.4's connector, the constant by ``nu``."""
    sym = {str(s): s for s in expr.free_symbols}
    u, v, R_s, k = sym.get("u"), sym.get("v"), sym.get("R_spline"), sym.get("k")
    custom = formula.latex_rhs
    if None in (u, v, R_s):
        return Display(expr=expr, tex=custom(expr), proof=lambda: [])
    c_s = sp.diff(expr, R_s)
    nu = named("nu", r"\nu", lambda: _derived("saddle.nu"), nargs=0, show_definition=False)
    rest = expr - R_s * c_s
    if k is not None:
        c_k = sp.diff(rest, k)
        rest = rest - k * c_k + sp.Mul(sp.factor(c_k / _derived("saddle.nu")), k, nu(),
                                       evaluate=False)
    disp = sp.Add(sp.Mul(R_s, sp.Add(G1(u), sp.Mul(G2(u), v ** 2, evaluate=False),
                                     evaluate=False), evaluate=False), rest, evaluate=False)
    names = {s: t for s, t in ((R_s, r"R_{\mathrm{spline}}"),) if s is not None}
    for nm, t in (("R_quad", r"R_{\mathrm{quad}}"), ("S_conv", r"S_{\mathrm{conv}}"),
                  ("S_tail", r"S_{\mathrm{tail}}")):
        if nm in sym:
            names[sym[nm]] = t
    from . import to_tex

    head = custom(sp.Integer(0)).split(r",\quad F = ")[0] + r",\quad F = "
    tail = custom(sp.Integer(0)).split(r",\quad S_{\mathrm{conv}}", 1)
    tail = r",\quad S_{\mathrm{conv}}" + tail[1] if len(tail) > 1 else ""
    tex = head + to_tex(disp, names) + tail
    defs = [(r"g_1(u)", _tex(taylor(_derived("saddle.g1").subs(S.x, u), u, S.tau))),
            (r"g_2(u)", _tex(taylor(_derived("saddle.g2").subs(S.x, u), u, S.tau))),
            (r"\nu", _tex(_derived("saddle.nu")))]
    return Display(expr=disp, tex=tex, names=names, definitions=defs)
