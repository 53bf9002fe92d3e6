"""No import circles inside numerics/ (issue 26 item 4), found statically with ``ast``.

Every ``import`` / ``from ... import`` statement of every module below numerics/ counts, at
module level or inside a function (a deferred import that closes a circle is still a circle: it
only hides the order dependence until the function runs).  ``import a.b.c`` and ``from a.b
import c`` depend on ``a.b.c`` (when it is a module) and on the packages ``a.b`` and ``a`` that
importing it executes first; a package's ``__init__`` is not counted as importing its
submodules unless it names them.  A dynamic ``importlib.import_module`` (the check registry
loading its family modules) is not an edge.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "numerics"


def modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of ``package`` below ``root``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _with_parents(name: str, known) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & set(known)


def imports(name: str, path: Path, known) -> set[str]:
    """The modules of ``known`` that module ``name`` (file ``path``) imports anywhere."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                out |= _with_parents(a.name, known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out |= _with_parents(mod, known)
            for a in node.names:
                out |= _with_parents(f"{mod}.{a.name}", known)
    out.discard(name)
    return out


def graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    mods = modules(root, package)
    return {m: imports(m, p, mods) for m, p in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``g`` with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_in_numerics():
    found = cycles(graph())
    assert not found, "import circles inside numerics/: " + "; ".join(
        " <-> ".join(c) for c in found)


def test_detector_has_teeth(tmp_path):
    """A planted circle (a deferred import inside a function, a relative ``from . import``
    through a package ``__init__``) is found; the same tree without it is clean."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("X = 1\n")
    (pkg / "high.py").write_text("from .low import X\n\ndef f():\n    from pkg import sub\n")
    (pkg / "sub" / "__init__.py").write_text("from ..low import X\n")
    (pkg / "sub" / "a.py").write_text("from . import X\n")
    assert cycles(graph(tmp_path, "pkg")) == []
    (pkg / "sub" / "a.py").write_text("from . import X\n\ndef g():\n    from .. import high\n")
    (pkg / "sub" / "__init__.py").write_text("from ..low import X\nfrom . import a\n")
    assert cycles(graph(tmp_path, "pkg")) == [["pkg.high", "pkg.sub", "pkg.sub.a"]]
