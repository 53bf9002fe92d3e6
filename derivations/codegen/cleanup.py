"""Stage 8, clean-up: emitted lines (or a module's functions) in, the same without unused code
out.

:func:`_dead_code`: a body's unused named constants and dimensions dropped, single-use
elementwise calls inlined, and ``del`` of every local array after its last use.
:func:`_drop_unused`: top-level assignments no later line of a function reads (a family
template's intermediates) dropped from a module's source.
"""
from __future__ import annotations

import re


def _dead_code(lines: list[str], keep=frozenset()) -> list[str]:
    """Drop the assignments of named constants and dimensions that no later line reads, then
    ``del`` every other local array right after its last use: the emitted body is straight-line
    code over batch-sized temporaries, and a smaller peak of live arrays is fewer fresh pages
    for the allocator to fault in (a large part of the time of a NumPy expression at N = 1e5).
    ``keep``: names never deleted (the arguments)."""
    out = list(lines)
    changed = True
    while changed:
        changed = False
        for i, line in enumerate(out):
            m = re.match(r"(_c\d+|dim_\w+|nn_\w+) = ", line)
            if m and not any(re.search(rf"\b{m[1]}\b", later) for later in out[i + 1:]):
                del out[i]
                changed = True
                break
    # a single-use elementwise call (``cos_phi = numpy.cos(phi)``) goes into its one use: its
    # result is then a temporary that NumPy reuses in place for the next operation
    changed = True
    while changed:
        changed = False
        for i, line in enumerate(out):
            m = re.fullmatch(r"(\w+) = ((?:numpy\.\w+|_rt\.pi_minus)\((\w+)\))", line)
            if not m or m[1] in keep:
                continue
            hits = [j for j in range(i + 1, len(out))
                    if not out[j].startswith("#") and re.search(rf"\b{m[1]}\b", out[j])]
            if len(hits) != 1 or len(re.findall(rf"\b{m[1]}\b", out[hits[0]])) != 1:
                continue
            if any(re.match(rf"{m[3]}\b.* = ", out[k]) for k in range(i + 1, hits[0])):
                continue
            out[hits[0]] = re.sub(rf"\b{m[1]}\b", lambda _m: m[2], out[hits[0]])
            del out[i]
            changed = True
            break
    words = [set(re.findall(r"\b[A-Za-z_]\w*\b", ln.split("#")[0])) for ln in out]
    for i, ln in enumerate(out):  # a lambda's names live as long as the lambda is used
        m = re.match(r"(\w+) = lambda", ln)
        if m:
            for j in range(i + 1, len(out)):
                if m[1] in words[j]:
                    words[j] |= words[i]
    assigned = set()
    for ln in out:
        m = re.match(r"([\w, ]+?) = ", ln)
        if m and not ln.startswith("#"):
            assigned |= {t.strip() for t in m[1].split(",")}
    local = {n for n in assigned if n not in keep and n != "_" and n not in ("_shape", "_out")
             and not re.fullmatch(r"_c\d+|dim_\w+", n)}
    last = {}
    for i, w in enumerate(words):
        for n in w & local:
            last[n] = i
    result = []
    for i, ln in enumerate(out):
        result.append(ln)
        dead = sorted(n for n, j in last.items() if j == i)
        if dead and not ln.startswith("return") and i < len(out) - 1:
            result.append(f"del {', '.join(dead)}")
    return result


def _drop_unused(source: str) -> str:
    """``source`` without the top-level assignments of a function whose name is never read after
    them (intermediates a family's own emitter writes for every variant, e.g. a sum only some
    variants need), unless the value calls the runtime (``_rt.``: it may check an argument)."""
    import ast

    while True:
        tree = ast.parse(source)
        drop = []
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            for st in fn.body:
                if not (isinstance(st, ast.Assign) and len(st.targets) == 1
                        and isinstance(st.targets[0], ast.Name)):
                    continue
                name = st.targets[0].id
                if any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "_rt"
                       for n in ast.walk(st.value)):
                    continue
                if not any(isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Store)
                           and n.lineno > st.end_lineno for n in ast.walk(fn)):
                    drop.append((st.lineno, st.end_lineno))
        if not drop:
            return source
        lines = source.split("\n")
        for a, b in sorted(drop, reverse=True):
            del lines[a - 1 : b]
        source = "\n".join(lines)
