"""No import circles in ``derivations/`` or ``numerics/`` (issue 26 item 4): every ``import`` of the package's own
modules, at module level or inside a function (a lazy import is still a dependency), read with
``ast``; the graph must have no strongly connected component of more than one module."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: edges not counted yet, each with its reason; the test fails when one disappears (prune it)
KNOWN: dict = {}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: {modules of ``package`` it imports}}`` for every ``.py`` file under
    ``root/package`` (``from X import name`` counts as importing the module ``X.name`` when that
    is a module, else ``X``)."""
    mods = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)

    def owner(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for mod, (path, is_pkg) in mods.items():
        base = mod if is_pkg else mod.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names if a.name.split(".")[0] == package}
            elif isinstance(node, ast.ImportFrom):
                target = node.module or ""
                if node.level:
                    up = base
                    for _ in range(node.level - 1):
                        up = up.rpartition(".")[0]
                    target = up + ("." + node.module if node.module else "")
                if target.split(".")[0] != package:
                    continue
                for a in node.names:
                    full = f"{target}.{a.name}"
                    deps.add(owner(full) if full in mods else owner(target))
        graph[mod] = deps - {None, mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_derivations_has_no_import_cycles():
    graph = import_graph(ROOT, "derivations")
    for (a, b), why in KNOWN.items():
        assert b in graph.get(a, ()), f"{a} -> {b} is gone: remove it from KNOWN ({why[:40]}...)"
        graph[a] = graph[a] - {b}
    found = cycles(graph)
    assert not found, "import cycles in derivations/: " + "; ".join(" <-> ".join(c) for c in found)


def test_numerics_has_no_import_cycles():
    """The harness does not import the checks (they share numerics/rows.py and spaces.py), nor
    the bench the CLI (numerics/usage.py)."""
    found = cycles(import_graph(ROOT, "numerics"))
    assert not found, "import cycles in numerics/: " + "; ".join(" <-> ".join(c) for c in found)


def test_registry_and_family_modules_do_not_import_the_emitter():
    graph = import_graph(ROOT, "derivations")
    emitter = {m for m in graph if m == "derivations.codegen" or m.startswith("derivations.codegen.")}
    assert not graph["derivations.registry"] & emitter
    families = [m for m in graph if m.count(".") == 1 and m.split(".")[1] in
                ("circulant", "kernels", "filter", "balance", "wn", "cnn", "gaussian")]
    families += ["derivations.resnet.backprop", "derivations.saddle.octopus"]
    for fam in families:
        assert not graph[fam] & emitter, f"{fam} imports the emitter: templates live in codegen/templates"


def test_the_cycle_finder_finds_a_lazy_import_cycle(tmp_path):
    """Planted error: ``a`` imports ``b`` at module level, ``b`` imports ``a`` inside a function."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")
    (pkg / "c.py").write_text("from pkg.sub.b import f\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    (pkg / "sub" / "b.py").write_text("def f():\n    return 1\n")
    assert cycles(import_graph(tmp_path, "pkg")) == []
