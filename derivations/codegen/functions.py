"""Stage 9, functions: a formula (or a value and its gradients) in, the source of one emitted
function out.

In: registered formulas.  Out: :func:`emit_function` (one formula: the family's own
``emitter`` template if it has one, else plan -> body -> blocks -> docstring) and
:func:`emit_fused` (a scalar formula and its ``grad_<arg>`` formulas in one function sharing
invariants, angle terms and subexpressions; :func:`fused_groups` finds them), with the compiled
backend's dispatch after the checks (:func:`_with_dispatch`).
"""
from __future__ import annotations

import textwrap

from .. import registry
from . import backends, templates
from .arguments import docstring
from .blocks import _split
from .body import _body
from .plan import _Plan


def emit_function(formula: registry.Formula, dispatch: bool = True) -> str:
    """Source of the emitted function for ``formula`` (the default invariant emitter);
    ``dispatch``: see :func:`emit_fused`."""
    if formula.emitter is not None:
        return templates.resolve(formula.emitter)(formula)
    body = _body([_Plan(formula)], self_name=formula.quantity)
    sig = ", ".join(a.name for a in formula.args)
    body, core = _split(formula.quantity, sig, body)
    if dispatch:
        body = _with_dispatch(body, formula, formula.quantity, False, core)
    return function_source(formula.quantity, sig, docstring(formula), body) + ("\n\n" + core if core else "")


def function_source(name: str, sig: str, doc: str, body: list[str]) -> str:
    """``def name(sig):`` with the quoted docstring ``doc`` and the lines ``body`` under it (every
    emitted function, the families' templates included, is assembled here)."""
    return (f"def {name}({sig}):\n" + textwrap.indent(doc, "    ") + "\n"
            + textwrap.indent("\n".join(body), "    ") + "\n")


def fused_groups(family: str) -> list[tuple[registry.Formula, list[registry.Formula]]]:
    """``[(value formula, [gradient formulas])]`` of a family: a scalar formula ``X`` and the
    formulas ``grad_<arg>`` with exactly the same arguments (default emitter only), in order,
    or the gradients the family declared for it (:func:`derivations.registry.fuse`)."""
    formulas = [registry.get(n) for n in registry.names(family)]
    out = []
    for f in formulas:
        if f.rank != 0 or f.emitter is not None:
            continue
        declared = registry.fused_declared(f.name)
        grads = [g for g in formulas if g.emitter is None and g.rank == 1 and g.args == f.args
                 and (g.name in declared if declared else
                      g.quantity.startswith("grad_") and g.quantity[5:] in {a.name for a in f.args})]
        if grads:
            out.append((f, grads))
    return out


def fused_name(value: registry.Formula) -> str:
    return f"{value.quantity}_and_grads"


def emit_fused(value: registry.Formula, grads: list[registry.Formula], dispatch: bool = True) -> str:
    """One function returning the value and all its gradients, sharing invariants, angle terms
    and common subexpressions; ``out=(value_buf, grad_buf, ...)`` writes into given arrays.
    ``dispatch``: after its checks the function calls its compiled version when the backend in
    use has one (:mod:`derivations.codegen.numba`)."""
    plans = [_Plan(value)]
    plans += [_Plan(g, vector_differences=bool(plans[0].differences)) for g in grads]
    names = ["value"] + [g.quantity for g in grads]
    body = _body(plans, out_names=names, self_name=fused_name(value))
    sig = ", ".join(a.name for a in value.args)
    listing = ", ".join(f.name for f in [value] + grads)
    doc = (
        f'"""{listing}, fused: ({", ".join(names)}) in one call.\n\n'
        f"Source: {value.source}.  Assumptions: {value.assumptions}\n\n"
        "Arguments (leading axes broadcast as a batch):\n"
        + "\n".join(f"    {a.describe()}" for a in value.args)
        + "\n    out: optional tuple of float64 arrays to write the results into\n\n"
        "Norms, inner products, the angle terms and common subexpressions are computed once.\n"
        'Emitted by `nnderive build`; do not edit.\n"""'
    )
    body, core = _split(fused_name(value), sig + ", *, out=None", body)
    if dispatch:
        body = _with_dispatch(body, value, fused_name(value), True, core)
    return (function_source(fused_name(value), f"{sig}, *, out=None", doc, body)
            + ("\n\n" + core if core else ""))


def _with_dispatch(body: list[str], formula: registry.Formula, name: str, fused_: bool,
                   core: str) -> list[str]:
    """``body`` (the public part) with the compiled backend's dispatch before its blocks (after
    the argument checks), when :mod:`derivations.codegen.numba` compiles ``core`` (the source of
    the NumPy core function); it then keeps the kernel for ``<family>_numba.py``."""
    at = next((i for i, ln in enumerate(body) if ln.startswith("if _rt.blocks(")), None)
    if at is None or not core:
        return body
    lines = [ln for b in backends.registered() for ln in b.dispatch_lines(formula, name, fused_, core)]
    later = [a for b in backends.registered() for a in getattr(b, "later_scalars", lambda f, n: ())(formula, name)]
    conv = [f'{a} = _rt.scalar("{a}", {a})' for a in later]
    if len(later) == 1 and conv[0] in body[:at] and lines and lines[0].startswith("_fast = "):
        # the compiled call tests this scalar's NaN/inf itself (its kernel flags such rows):
        # no pass over it here, and the checks after its conversion, when one fails, test it
        # first (the NumPy backend's order of errors); the NumPy and JAX paths test it after
        (a,), i = later, body.index(conv[0])
        body = (body[:i] + [f'{a} = _rt.scalar("{a}", {a}, finite=None)  # NaN/inf: _rt.finite below']
                + ["try:"] + ["    " + ln for ln in body[i + 1:at]]
                + ["except Exception:", f'    _rt.finite("{a}", {a})  # its error first, as the checks\' order has it',
                   "    raise"] + body[at:])
        at = i + 1 + 1 + (at - i - 1) + 3
        lines = lines[:1] + [f'_rt.finite("{a}", {a}, unless=_fast)  # (unless the compiled call tests it)'] + lines[1:]
    return body[:at] + lines + body[at:]


def fused(name: str):
    """The emitted fused function for the scalar formula ``name`` (e.g. ``cnn.population_loss``
    -> ``derivations.generated.cnn.population_loss_and_grads``)."""
    import importlib

    f = registry.get(name)
    module = importlib.import_module(f"derivations.generated.{f.family}")
    try:
        return getattr(module, fused_name(f))
    except AttributeError:
        raise LookupError(f"{name} has no fused value-and-gradients function") from None
