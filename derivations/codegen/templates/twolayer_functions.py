"""The pair-kernel functions of one activation, as the two-layer templates print them (shared by
:mod:`.twolayer` for NumPy and :mod:`.twolayer_jax` for JAX: the same derived terms, each
template with its own printer)."""
from __future__ import annotations

import sympy as sp

from ...twolayer import kernels as K


def activation_functions(name: str, plant: dict | None, function) -> str:
    """The five functions of one activation, each printed by ``function(name, args, exprs,
    doc)`` (the NumPy or the JAX template's printer).  ``plant`` = ``{term: factor}`` multiplies
    derived terms (a planted error, for tests of the checks' teeth)."""
    _function = function
    act = K.activation(name)
    pair = dict(K.pair_terms(act.name))
    selft = dict(K.self_terms(act.name))
    for term, factor in (plant or {}).items():
        if term in pair:
            pair[term] = pair[term] * sp.nsimplify(factor)
        elif term in selft:
            selft[term] = selft[term] * sp.nsimplify(factor)
        else:
            raise ValueError(f"plant: unknown term {term!r}")
    params = [str(p) for p in act.params]
    args = ["a", "b", "c", "s", "phi"] + params
    out = [
        _function(f"{act.name}_kappa", args, [pair["kappa"]],
                  f"kappa(u, v) = E[sigma(u.x) sigma(v.x)], sigma = {act.name}."),
        _function(f"{act.name}_grad", args, [pair[t] for t in ("kappa", "ga", "gb")],
                  "(kappa, ga, gb): d kappa/du = ga u + gb v."),
        _function(f"{act.name}_dgrad", args, [pair[t] for t in ("ga", "gb")],
                  "(ga, gb): d kappa/du = ga u + gb v (no kappa)."),
        _function(f"{act.name}_hess", args, [pair[t] for t in K.PAIR_TERMS],
                  "The pair terms " + ", ".join(K.PAIR_TERMS) + "."),
        _function(f"{act.name}_self", ["a"] + params, [selft[t] for t in K.SELF_TERMS],
                  "(d, d1, dh0, dh11): D = kappa(u, u), grad D = d1 u, "
                  "hess D = dh0 I + dh11 u^u^T."),
    ]
    return "\n\n".join(out)
