"""Display forms of the remaining families.

Kernels (thesis ch. 2-3, WN paper), the filter (ch. 6), weight normalization, the balance
recursions (ch. 4) and the saddle construction (ch. 7) print well by grouping and ordering alone
(:func:`derivations.display.auto`); a formula whose module sets its own ``latex_rhs`` (the
role-basis programs of ``saddle`` and ``balance``) keeps it (:func:`derivations.display.
display_of` falls back to it).  This module only adds the kernels' grouping by the angle.
"""
from __future__ import annotations

import sympy as sp

from . import Display, register, tidy

_KERNELS = ("kernels.arccos1", "kernels.arccos1_gram", "kernels.g_inf", "kernels.g_inf_gram",
            "kernels.v_inf", "kernels.v_inf_gram", "kernels.h_inf", "kernels.h_inf_gram",
            "filter.population_loss")


@register(*_KERNELS)
def _kernel(formula, expr):
    """Collected in ``cos theta`` with factored coefficients: ``((pi - theta) cos theta +
    sin theta)``, the form of the arc-cosine kernel in the thesis."""
    trig = sorted(expr.atoms(sp.cos), key=str)

    def rw(e):
        return sp.factor_terms(sp.collect(sp.expand(e), trig, func=sp.factor))
    return Display(expr=tidy(expr, rewrite=rw))
