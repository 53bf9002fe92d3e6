"""Display forms of the remaining families.

Kernels (thesis ch. 2-3, WN paper), the filter (ch. 6), weight normalization, the balance
recursions (ch. 4) and the saddle construction (ch. 7) print well by grouping and ordering alone
(:func:`derivations.display.auto`); a formula whose module sets its own ``latex_rhs`` (the
role-basis programs of ``saddle`` and ``balance``) keeps it (:func:`derivations.display.
display_of` falls back to it).  This module adds the kernels' grouping by the angle: the
arc-cosine combination ``(pi - theta) cos theta + sin theta`` kept as one bracket (a named
function printed as its definition, so no new symbol appears).
"""
from __future__ import annotations

import sympy as sp

from . import Display, _size, invariants, named, register, tidy

arc = named("arc", r"\left(\left(\pi - {0}\right) \cos {0} + \sin {0}\right)",
            lambda t: (sp.pi - t) * sp.cos(t) + sp.sin(t), show_definition=False)

_KERNELS = ("kernels.arccos1", "kernels.arccos1_gram", "kernels.g_inf", "kernels.g_inf_gram",
            "kernels.v_inf", "kernels.v_inf_gram", "kernels.h_inf", "kernels.h_inf_gram",
            "filter.population_loss")


def with_arc(expr):
    """``sin(t)`` replaced by ``arc(t) - (pi - t) cos(t)`` where that removes ``cos(t)``."""
    for t in sorted({a.args[0] for a in expr.atoms(sp.sin)} & {a.args[0] for a in
                                                             expr.atoms(sp.cos)}, key=str):
        if not t.is_Symbol:
            continue
        new = sp.expand(expr.subs(sp.sin(t), arc(t) - (sp.pi - t) * sp.cos(t)))
        if not new.has(sp.cos(t)):
            col = sp.collect(new, [arc(t)] + invariants(new), evaluate=False)
            terms = sp.Add(*[sp.Mul(sp.factor(c), k, evaluate=False) for k, c in col.items()],
                           evaluate=False)
            whole = sp.factor_terms(sp.collect(new, [arc(t)], func=sp.factor))
            expr = min((terms, whole), key=_size)
    return expr


@register(*_KERNELS)
def _kernel(formula, expr):
    """Collected in the arc-cosine combination, coefficients factored."""
    return Display(expr=tidy(expr, rewrite=with_arc))


# --------------------------------------------------------------------------------------------
# Thesis ch. 4: the rank-1 GD recursions (4.23)-(4.24), in powers of the step size
# --------------------------------------------------------------------------------------------

BALANCE_NAMES = {"alpha_perp": r"\alpha_\perp", "beta_perp": r"\beta_\perp",
                 "sigma1": r"\sigma_1", "alpha": r"\alpha", "beta": r"\beta", "eta": r"\eta"}


def _names(expr):
    return {s: BALANCE_NAMES[str(s)] for s in expr.free_symbols if str(s) in BALANCE_NAMES}


@register("balance.mf_alpha_next", "balance.mf_alpha_perp_next", "balance.mf_h_next",
          "balance.mf_xi_next")
def _balance(formula, expr):
    """``c_0 + c_1 eta + c_2 eta^2`` with factored coefficients (the recursions are
    polynomials in the step size), when that prints shorter than the tidied form."""
    names = _names(expr)
    eta = next((s for s in expr.free_symbols if str(s) == "eta"), None)

    def by_eta(e):
        if eta is None or e.has(sp.Abs) or not e.is_polynomial(eta):
            return e
        col = sp.collect(sp.expand(e), eta, evaluate=False)
        keys = sorted(col, key=lambda k: sp.degree(k, eta))
        return sp.Add(*[sp.Mul(sp.factor(col[k]), k, evaluate=False) if k != 1
                        else sp.factor(col[k]) for k in keys], evaluate=False)
    return Display(expr=tidy(expr, names, rewrite=by_eta), names=names)
