"""Stage 7, blocks: a function's body lines in, the body split into its checks and a core that
large batches run block by block out.

In: the lines of an emitted body (argument checks first).  Out: the ``_rt.blocks`` /
``_rt.by_blocks`` lines inserted after the checks (:func:`_block_lines`) and, at the marker
``#<core>``, the public body and the source of its private core ``_<name>_core``
(:func:`_split`, :func:`core_name`).
"""
from __future__ import annotations

import re
import textwrap

from .. import registry


_BUSY_OPS = 25  # a body with this many operations or more is "busy" (see _rt.blocks)


def _block_lines(name: str, formula: registry.Formula, fused: bool, body: list[str] = ()) -> list[str]:
    """A large batch is evaluated by the function itself, block by block (``_rt.by_blocks``):
    row-wise formulas only need the arguments cut into blocks of rows.  Formulas of scalar
    arguments only are not blocked: their few elementwise operations (``g(phi)``: cos, sin and
    a product) stream through memory at the speed of the bare ufuncs anyway, and blocking
    measured 5-15% slower at N = 1e6.  Otherwise the core runs through ``_rt.by_rows``, which
    evaluates the rows beyond the float range apart from the others (``_rt.by_blocks`` does so
    block by block)."""
    if not any(a.kind == "vector" for a in formula.args):
        return []
    args = ", ".join(a.name for a in formula.args) + ("," if len(formula.args) == 1 else "")
    ops = sum(len(re.findall(r"[*+/-]|_rt\.\w+\(|numpy\.\w+\(", ln)) for ln in body
              if not ln.startswith(("del ", "#", "_c")))
    busy = ", busy=True" if ops >= _BUSY_OPS else ""
    extra = (", out" if fused else "") + busy
    core = core_name(name)
    return [f"if _rt.blocks(_shape{busy}):  # a large batch: evaluated in cache-sized blocks of rows",
            f"    return _rt.by_blocks({core}, _shape, ({args}){extra})",
            f"return _rt.by_rows({core}, _shape, ({args}){', out' if fused else ''})",
            _CORE]


_CORE = "#<core>"  # where a blocked function's body splits into its checks and its core


def core_name(name: str) -> str:
    """The private function holding the body of the emitted function ``name`` after its argument
    checks: called on the whole batch, or by ``_rt.by_blocks`` on each block of rows (which then
    pays the checks once, not once per block)."""
    return f"_{name}_core"


def _split(name: str, sig: str, lines: list[str]) -> tuple[list[str], str]:
    """``lines`` of the function ``name``: (the public body, the source of its core function)
    when the body is blocked, else (``lines``, "")."""
    if _CORE not in lines:
        return lines, ""
    k = lines.index(_CORE)
    core = (f"def {core_name(name)}(_shape, {sig}):\n"
            f'    """The body of :func:`{name}` on checked arguments of batch shape ``_shape``\n'
            '    (the whole batch, or one block of rows).  Emitted by `nnderive build`; do not edit."""\n'
            + textwrap.indent("\n".join(lines[k + 1:]), "    ") + "\n")
    return lines[:k], core
