"""The switch points of an emitted function, read from its generated source.

Emitted code changes path at a few places (issue 19 item 2): an edge series replaces a
cancelling sum below ``t = below`` (``_rt.taylor``, ``taylor_pi``, ``taylor_zero``), the
near-parallel rows (``|cos phi| > _rt.NEAR``) take double-double angle terms and rejections
(``_rt.angle_terms``, ``rejection``, ``rejection_pair``), the sine of a scalar angle comes from its
cosine for ``|cos| <= _rt.SINE_NEAR`` on batches of 64 rows or more (``_rt.sine``).  An error on
one side of such a point (a wrong series coefficient, a wrong near-parallel form) is invisible to
points that never land there, so the independent reference rows sample both sides of every
switch point found here, and judge the error relative to the value itself
(:func:`numerics.checks.common.switch_rows`).

The points are derived from the emitted code (the thresholds it prints and the runtime
constants it uses), not typed here: a new series or a new threshold is sampled automatically.
"""
from __future__ import annotations

import ast
import re
import functools
import math
from dataclasses import dataclass
from pathlib import Path

from derivations import runtime as _rt

GENERATED = Path(_rt.__file__).resolve().parent.parent / "generated"

#: Relative offset of the two sample points from a switch point (one on each side).
SIDE = 1e-3
#: Rows of the batched evaluation of the switch points: more than ``_rt.sine``'s 64, so that the
#: batch takes the sine-from-cosine path that single points never take.
BATCH = 131


@dataclass(frozen=True)
class Switch:
    """One switch point: the path of the emitted code changes when the angle ``phi`` between
    the vectors ``args`` (or the scalar angle ``args[0]``) crosses ``at``."""

    what: str
    args: tuple
    at: float
    #: "angle": the angle between ``args`` (or the scalar angle) crosses ``at``; "norm": the norm
    #: of the vector ``args[0]`` crosses ``at`` (the extended-range arithmetic of the runtime)
    kind: str = "angle"

    def sides(self) -> tuple[float, float]:
        """Values just below and just above the switch point (angles: ``SIDE`` of the distance
        to the nearer edge of [0, pi]; norms: a factor ``1 -+ SIDE``)."""
        if self.kind == "norm":
            return (self.at * (1 - SIDE), self.at * (1 + SIDE))
        d = SIDE * min(self.at, math.pi - self.at)
        return (self.at - d, self.at + d)


@functools.lru_cache(maxsize=None)
def _source(family: str) -> str | None:
    """The committed generated module of ``family`` (its text)."""
    path = GENERATED / f"{family}.py"
    return path.read_text() if path.exists() else None


@functools.lru_cache(maxsize=None)
def _module_tree(family: str):
    src = _source(family)
    return None if src is None else ast.parse(src)


def _function_nodes(formula) -> list[ast.FunctionDef]:
    tree = _module_tree(formula.family)
    if tree is None:
        return []
    wanted = {formula.quantity, f"_{formula.quantity}_core"}
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]


def _pair(name: str, vectors: list[str], prefix: str):
    """The vector arguments ``(a, b)`` of an invariant named ``<prefix>_<a>_<b>``."""
    for a in vectors:
        for b in vectors:
            if a != b and name == f"{prefix}_{a}_{b}":
                return (a, b)
    return None


def _const(node):
    try:
        return float(ast.literal_eval(node))
    except Exception:  # noqa: BLE001 - not a literal
        return None


def uses(formula) -> set[str]:
    """The ``_rt`` helpers the emitted function of ``formula`` calls."""
    out = set()
    for fn in _function_nodes(formula):
        for node in ast.walk(fn):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "_rt"):
                out.add(node.attr)
    return out


def switches(formula) -> list[Switch]:
    """Every angle switch point of the emitted function of ``formula`` (deduplicated)."""
    vectors = [a.name for a in formula.args if a.kind == "vector"]
    scalars = [a.name for a in formula.args if a.kind == "scalar"]
    near = math.acos(_rt.NEAR)
    sine_near = math.acos(_rt.SINE_NEAR)
    out: list[Switch] = []

    def angle_of(name: str):
        if name in scalars:
            return (name,), False
        for prefix, at_pi in (("psi", True), ("phi", False), ("cos", False), ("sin", False)):
            p = _pair(name, vectors, prefix)
            if p:
                return p, at_pi
        return None, False

    for fn in _function_nodes(formula):
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "_rt"):
                continue
            kind, a = node.func.attr, node.args
            names = [x.id if isinstance(x, ast.Name) else None for x in a]
            if kind == "taylor" and len(a) >= 3 and names[1]:
                args, at_pi = angle_of(names[1])
                below = _const(a[2])
                if args and below is not None:
                    out.append(Switch(f"edge series ({'pi - ' if at_pi else ''}phi < {below:.4g})",
                                      args, math.pi - below if at_pi else below))
            elif kind == "taylor_pi" and len(a) >= 3 and names[1]:
                below = _const(a[2])
                if below is not None:
                    out.append(Switch(f"edge series (pi - phi < {below:.4g})", (names[1],),
                                      math.pi - below))
            elif kind == "taylor_zero" and len(a) >= 4 and names[1]:
                args, _ = angle_of(names[1])
                below = _const(a[3])
                if args and below is not None:
                    out.append(Switch(f"edge series (phi < {below:.4g})", args, below))
            elif kind in ("angle_terms", "rejection", "rejection_pair"):
                i, j = (0, 2) if kind == "rejection_pair" else (0, 1)
                if names[i] in vectors and names[j] in vectors:
                    args = tuple(sorted((names[i], names[j])))
                    out.append(Switch("near-parallel double-double (|cos| > NEAR)", args, near))
                    out.append(Switch("near-parallel double-double (|cos| > NEAR)", args,
                                      math.pi - near))
            elif kind in ("norm", "sqnorm", "norms_and_dot") and names and names[0] in vectors:
                for v in names[:2] if kind == "norms_and_dot" else names[:1]:
                    if v in vectors:
                        for at in (_rt.SAFE_LO, _rt.SAFE_HI):
                            out.append(Switch("extended range (|x| outside [SAFE_LO, SAFE_HI])",
                                              (v,), at, kind="norm"))
            elif kind == "sine" and names and names[0] in scalars:
                out.append(Switch("sine from cosine (|cos| <= SINE_NEAR, batches)", (names[0],),
                                  sine_near))
                out.append(Switch("sine from cosine (|cos| <= SINE_NEAR, batches)", (names[0],),
                                  math.pi - sine_near))
    seen, uniq = set(), []
    for s in out:
        key = (s.args, s.kind, round(s.at, 12) if s.kind == "angle" else s.at)
        if key not in seen:
            seen.add(key)
            uniq.append(s)
    return uniq


def batched(formula) -> bool:
    """Whether the emitted function takes another path on batches than on single points (the
    sine from the cosine), so that the switch points are also evaluated in one batch."""
    return "sine" in uses(formula)


# --------------------------------------------------------------------------------------------
# Switches by size (issue 19 item 2): the emitted code also changes path with the batch size
# --------------------------------------------------------------------------------------------

#: Entries of a vector beyond which ``_rt.dot`` of two single vectors sums blocks of
#: ``_rt._DOT_CHUNK`` entries (``math.fsum`` of ddots) instead of one ddot.
DOT_CHUNK = _rt._DOT_CHUNK
#: Rows from which ``_rt.sine`` takes the sine from the cosine (``cos.size >= SINE_ROWS``).
SINE_ROWS = 64


@dataclass(frozen=True)
class SizeSwitch:
    """A batch size (or vector length) at which the emitted code changes path: ``below`` takes
    one path, ``above`` the other.  ``layout``: "rows" (every argument batched, ``below`` and
    ``above`` rows), "length" (one point, vectors of ``below`` / ``above`` entries)."""

    what: str
    below: int
    above: int
    layout: str = "rows"


def busy(formula) -> bool:
    """Whether the emitted function is blocked from two blocks on (``busy=True``)."""
    src = _source(formula.family) or ""
    return bool(re.search(rf"by_blocks\(_{re.escape(formula.quantity)}_core, .*busy=True", src))


def block_threshold(formula, width: int) -> int:
    """The smallest batch (rows) that :func:`_rt.blocks` evaluates block by block, for vectors
    of ``width`` entries (the runtime's rule: ``least * min(BLOCK_ROWS, max(1024,
    _BLOCK_ENTRIES // width))``, ``least`` 2 for busy bodies, else 4)."""
    rows = min(_rt.BLOCK_ROWS, max(1024, _rt._BLOCK_ENTRIES // max(width, 1)))
    return (2 if busy(formula) else 4) * rows


def size_switches(formula, width: int) -> list[SizeSwitch]:
    """The size switches of the emitted function of ``formula`` for vectors of ``width``
    entries: the block evaluation (``_rt.by_blocks``), the sine from the cosine on batches
    (``_rt.sine``), the blocked ddot of long single vectors (``_rt.dot``)."""
    used = uses(formula)
    out = []
    if "by_blocks" in used:
        t = block_threshold(formula, width)
        out.append(SizeSwitch(f"block evaluation (by_blocks{', busy' if busy(formula) else ''}:"
                              f" from {t} rows at width {width})", t - 1, t))
    if "sine" in used:
        out.append(SizeSwitch("sine from cosine on batches (>= 64 rows)", SINE_ROWS - 1, SINE_ROWS))
    if used & {"dot", "sqnorm", "norm", "norms_and_dot"} and any(
            a.kind == "vector" for a in formula.args):
        out.append(SizeSwitch(f"blocked ddot of single vectors (> {DOT_CHUNK} entries)",
                              DOT_CHUNK, DOT_CHUNK + 1, layout="length"))
    return out
