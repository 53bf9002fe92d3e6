"""Emit NumPy source for registered formulas (``nnderive build``).

One generated module per family, ``derivations/generated/<family>.py``, one function per formula,
named after the quantity.  The default emitter prints a formula written in invariant coordinates
(:mod:`derivations.vectors`):

1. convert and validate every argument (``_runtime.vector`` / ``scalar`` / ``integer``; equal
   lengths within a space; nonzero where an angle or a normalization needs it; ``Formula.validate``);
2. compute the invariants the expression uses (norms, inner products, sums, dimensions, angles);
3. print the coefficients of the basis symbols with SymPy's ``cse`` and ``NumPyPrinter``;
4. assemble ``sum coefficient * basis`` and broadcast to the batch shape.

The generated code imports NumPy and ``derivations.generated._runtime`` only.  Formulas whose
structure is not an invariant expression (piecewise constructions in any dimension) supply their
own ``emitter`` and may use :func:`print_block` for their SymPy pieces.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from . import registry, vectors

GENERATED_DIR = Path(__file__).resolve().parent / "generated"
RUNTIME = GENERATED_DIR / "_runtime.py"


class _Printer(NumPyPrinter):
    """NumPy printer that writes ``numpy.`` (the generated modules ``import numpy``)."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": True, "inline": True})


def print_expr(expr: sp.Expr) -> str:
    return _Printer().doprint(expr)


def print_block(exprs: list[sp.Expr], prefix: str = "_t") -> tuple[list[str], list[str]]:
    """CSE-print ``exprs``: returns (assignment lines, printed results)."""
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols(prefix), order="canonical")
    lines = [f"{sym} = {print_expr(val)}" for sym, val in replacements]
    return lines, [print_expr(r) for r in reduced]


def _dim_code(formula: registry.Formula, space: str) -> str:
    """Code for the dimension of ``space``: an int argument, or a vector argument's length."""
    for a in formula.args:
        if a.kind == "int" and a.space == space:
            return a.name
    for a in formula.args:
        if a.kind == "vector" and a.space == space:
            return f"{a.name}.shape[-1]"
    raise ValueError(f"{formula.name}: no argument gives the dimension of space {space}")


def _invariant_lines(formula: registry.Formula, symbols: set[sp.Symbol]) -> list[str]:
    """Lines computing the invariant symbols (and their dependencies) in dependency order."""
    needed: dict[str, vectors.Meaning] = {}
    for s in symbols:
        m = vectors.meaning(s)
        if m is None or m.kind in ("vector", "ones", "outer", "eye"):
            continue
        needed[str(s)] = m
        if m.kind == "angle":
            a, b = m.operands
            for dep in (vectors.norm(sp.Symbol(a)), vectors.norm(sp.Symbol(b)),
                        vectors.dot(sp.Symbol(a), sp.Symbol(b))):
                needed[str(dep)] = vectors.meaning(dep)
    order = {"dim": 0, "norm": 1, "dot": 2, "total": 3, "angle": 4}
    lines = []
    nonzero = {a.name for a in formula.args if a.nonzero}
    for name, m in sorted(needed.items(), key=lambda kv: (order[kv[1].kind], kv[0])):
        if m.kind == "dim":
            lines.append(f"{name} = {_dim_code(formula, m.operands[0])}")
        elif m.kind == "norm":
            lines.append(f"{name} = _rt.norm({m.operands[0]})")
        elif m.kind == "dot":
            lines.append(f"{name} = _rt.dot({m.operands[0]}, {m.operands[1]})")
        elif m.kind == "total":
            lines.append(f"{name} = _rt.total({m.operands[0]})")
        elif m.kind == "angle":
            a, b = m.operands
            lines.append(
                f"{name} = _rt.angle({a}, {b}, norm_{a}, norm_{b}, dot_{a}_{b})"
            )
    # nonzero checks right after the norms are known (and before any angle is formed)
    out = []
    for line in lines:
        out.append(line)
        var = line.split(" = ")[0]
        if var.startswith("norm_") and var[5:] in nonzero:
            out.append(f'_rt.nonzero("{var[5:]}", {var})')
    return out


def _argument_lines(formula: registry.Formula) -> list[str]:
    lines = []
    for a in formula.args:
        conv = {"vector": "vector", "scalar": "scalar", "int": "integer"}[a.kind]
        lines.append(f'{a.name} = _rt.{conv}("{a.name}", {a.name})')
        if a.positive:
            lines.append(f'_rt.positive("{a.name}", {a.name})')
    spaces: dict[str, list[str]] = {}
    for a in formula.args:
        if a.kind == "vector":
            spaces.setdefault(a.space, []).append(a.name)
    for members in spaces.values():
        if len(members) > 1:
            lines.append("_rt.same_length(" + ", ".join(f'("{m}", {m})' for m in members) + ")")
    specs = [f'("{a.name}", {a.name}, {1 if a.kind == "vector" else 0})'
             for a in formula.args if a.kind != "int"]
    lines.append(f"_shape = _rt.batch_shape({', '.join(specs)})")
    lines.extend(formula.validate)
    return lines


def _vector_code(formula: registry.Formula, x: sp.Symbol) -> str:
    m = vectors.meaning(x)
    if m.kind == "ones":
        return f"numpy.ones({_dim_code(formula, vectors.space_of(x))})"
    return m.operands[0]


def _basis_code(formula: registry.Formula, b: sp.Symbol) -> str:
    m = vectors.meaning(b)
    if m.kind in ("vector", "ones"):
        return _vector_code(formula, b)
    if m.kind == "outer":
        x, y = (_vector_code(formula, sp.Symbol(n)) for n in m.operands)
        return f"_rt.outer({x}, {y})"
    if m.kind == "eye":
        return f"numpy.eye({_dim_code(formula, m.operands[0])})"
    raise AssertionError(m)


def docstring(formula: registry.Formula) -> str:
    args = "\n".join(f"    {a.describe()}" for a in formula.args)
    out = {0: "the batch shape", 1: "the batch shape + (vector length,)",
           2: "the batch shape + (n, n)"}[formula.rank]
    return (
        f'"""{formula.name}: {formula.source}.\n\n'
        f"Assumptions: {formula.assumptions}\n\nArguments (leading axes broadcast as a batch):\n"
        f"{args}\n\nReturns an array of {out}.  Emitted by `nnderive build`; do not edit.\n\"\"\""
    )


def emit_function(formula: registry.Formula) -> str:
    """Source of the emitted function for ``formula`` (the default invariant emitter)."""
    if formula.emitter is not None:
        return formula.emitter(formula)
    parts = vectors.components(formula.expr, formula.rank)
    coeffs = [c for c, _ in parts]
    symbols = set().union(*(c.free_symbols for c in coeffs))
    body = _argument_lines(formula)
    body += _invariant_lines(formula, symbols)
    cse_lines, printed = print_block(coeffs)
    body += cse_lines
    if formula.rank == 0:
        body.append(f"return _rt.finish({printed[0]}, _shape)")
    else:
        wrap = "_rt.col" if formula.rank == 1 else "_rt.col2"
        terms = [f"{wrap}({p}) * {_basis_code(formula, b)}" for p, (_, b) in zip(printed, parts)]
        body.append(f"return _rt.finish({' + '.join(terms)}, _shape, {formula.rank})")
    sig = ", ".join(a.name for a in formula.args)
    return (
        f"def {formula.quantity}({sig}):\n"
        + textwrap.indent(docstring(formula), "    ")
        + "\n"
        + textwrap.indent("\n".join(body), "    ")
        + "\n"
    )


def module_source(family: str) -> str:
    """The whole generated module for one family."""
    formulas = [registry.get(n) for n in registry.names(family)]
    modules = sorted({f.family for f in formulas})
    header = (
        f"# Generated by `nnderive build` from the SymPy derivations in derivations/{family}.py.\n"
        f"# Do not edit: rebuild with `nnderive build`; tests fail when this file is stale.\n"
        f'"""Emitted NumPy code for the ``{family}`` family ({", ".join(modules)}).\n\n'
        f"Formulas: {', '.join(f.name for f in formulas)}.\n"
        f'Imports NumPy and the hand-written ``_runtime`` helpers only (no SymPy).\n"""\n'
        "import numpy\n\n"
        "from . import _runtime as _rt\n\n"
        f"__all__ = {[f.quantity for f in formulas]!r}\n"
    )
    functions = "\n\n".join(emit_function(f) for f in formulas)
    return header + "\n\n" + functions


def build(write: bool = True, families: list[str] | None = None) -> dict[Path, str]:
    """Emit every family's module; write them (default) and return ``{path: source}``."""
    out = {}
    for fam in families or registry.families():
        path = GENERATED_DIR / f"{fam}.py"
        out[path] = module_source(fam)
        if write:
            path.write_text(out[path])
    return out


def compile_function(formula: registry.Formula, source: str | None = None):
    """Compile ``formula``'s emitted source in memory (used for mutants and freshness)."""
    from .generated import _runtime

    import numpy

    namespace = {"numpy": numpy, "_rt": _runtime}
    exec(compile(source or emit_function(formula), f"<emitted {formula.name}>", "exec"), namespace)
    return namespace[formula.quantity]


def standalone_source(formula: registry.Formula) -> str:
    """Self-contained source of one emitted function: the runtime helpers, then the function."""
    runtime = RUNTIME.read_text()
    func = emit_function(formula)
    used = sorted(set(re.findall(r"_rt\.(\w+)", func)))
    return (
        f"# {formula.name}: {formula.source}\n"
        "# Emitted by `nnderive code`; needs NumPy only.  Runtime helpers from\n"
        "# derivations/generated/_runtime.py follow, then the function.\n"
        + runtime
        + "\n\nclass _rt:  # namespace for the helpers above\n"
        + "".join(f"    {name} = staticmethod({name})\n" for name in used)
        + "\n\n"
        + func
    )
