"""Stage 5a, argument checks and docstrings: a formula's declared arguments in, the first lines
of an emitted function out.

In: a :class:`derivations.registry.Formula` (its ``args``, their kinds, spaces and declared
domains, ``validate``).  Out: the conversion lines (``_rt.vector`` / ``scalar`` / ``integer``),
the equal-length and batch-shape lines, the domain checks (``_rt.require`` / ``_rt.within``)
and the emitted function's docstring.  Family templates call :func:`_argument_lines`,
:func:`domain_lines` and :func:`docstring` too.
"""
from __future__ import annotations

import re

from .. import registry
from .printer import _quote

_RANGE_IDIOM = re.compile(r'^_rt\.require\(\((\w+) >= ([^()&]+)\) & \(\1 <= ([^()&]+)\), ("\w+"), (".*")\)$')


def domain_lines(formula: registry.Formula) -> list[str]:
    """The checks of the declared domains (:attr:`registry.Arg.domain`), one
    ``_rt.require(condition, "name", "must be ...")`` per condition (a closed interval with one
    message as the interval idiom), on the converted arguments.  ``positive`` and the numeric
    lower bound of an integer are enforced by the conversions (``_rt.positive``,
    ``_rt.integer(..., minimum)``).  Custom emitters call this after their conversions."""
    lines = []
    for a in formula.args:
        bounds = list(a.domain)
        if a.kind == "int":
            bounds = [b for b in bounds if not (b.op in (">=", ">") and re.fullmatch(r"-?\d+", b.rhs))]
        lo = [b for b in bounds if b.op == ">="]
        hi = [b for b in bounds if b.op == "<="]
        if len(lo) == 1 and len(hi) == 1 and lo[0].message() == hi[0].message():
            lines.append(f"_rt.require(({lo[0].code(a.name)}) & ({hi[0].code(a.name)}), "
                         f"{_quote(a.name)}, {_quote(lo[0].message())})")
            bounds = [b for b in bounds if b not in (lo[0], hi[0])]
        for b in bounds:
            lines.append(f"_rt.require({b.code(a.name)}, {_quote(a.name)}, {_quote(b.message())})")
    return lines


def _integer_line(a: registry.Arg) -> str:
    """``_rt.integer`` of an integer argument, with its numeric lower bound."""
    low = a.int_minimum()
    extra = f", minimum={low}" if low is not None and low != 1 else ""
    return f'{a.name} = _rt.integer("{a.name}", {a.name}{extra})'


def _validate_lines(formula: registry.Formula) -> list[str]:
    """The domain checks (:func:`domain_lines`) and ``formula.validate``, with the interval
    idiom ``_rt.require((x >= lo) & (x <= hi), ...)`` printed as ``_rt.within(x, lo, hi, ...)``
    (two reductions instead of three elementwise passes and a reduction; same message, NaN
    still fails)."""
    out = []
    for line in domain_lines(formula) + list(formula.validate):
        m = _RANGE_IDIOM.match(line)
        out.append(f"_rt.within({m[1]}, {m[2]}, {m[3]}, {m[4]}, {m[5]})" if m else line)
    return out


def _argument_lines(formula: registry.Formula, deferred=frozenset()) -> list[str]:
    """Conversion and validation of the arguments.  ``deferred``: vector arguments whose NaN/inf
    test is left to a reduction over them (their norm, an inner product or a sum, whose range
    check runs the naming scan only when it fails): no separate pass over them here."""
    lines = []
    validate = _validate_lines(formula)
    ranged = {m[1] for ln in validate if (m := re.match(r"_rt\.within\((\w+),", ln))}
    for a in formula.args:
        conv = {"vector": "vector", "scalar": "scalar", "int": "integer"}[a.kind]
        extra = ", finite=False" if a.name in deferred or (a.kind == "scalar" and a.name in ranged) else ""
        if a.kind == "int":
            lines.append(_integer_line(a))
            continue
        lines.append(f'{a.name} = _rt.{conv}("{a.name}", {a.name}{extra})')
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
    lines.extend(validate)
    return lines


def docstring(formula: registry.Formula) -> str:
    args = "\n".join(f"    {a.describe()}" for a in formula.args)
    out = {0: "the batch shape", 1: "the batch shape + (vector length,)",
           2: "the batch shape + (n, n)"}[formula.rank]
    return (
        f'"""{formula.name}: {formula.source}.\n\n'
        f"Assumptions: {formula.assumptions}\n\nArguments (leading axes broadcast as a batch):\n"
        f"{args}\n\nReturns an array of {out}.  Emitted by `nnderive build`; do not edit.\n\"\"\""
    )
