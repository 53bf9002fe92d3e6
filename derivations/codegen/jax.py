"""The JAX printer: jittable one-point functions from the NumPy emitter's own lines.

``nnderive build`` writes ``derivations/generated/<family>_jax.py`` next to the family's NumPy
module.  One backend, one printer (as SymForce does it): the NumPy emitter
(:mod:`derivations.codegen`) prints every closed form once, from SymPy, as the body of a function
on checked arguments (its ``_<name>_core``: invariants, angle terms, edge series, completed
squares, the CSE'd coefficients of the SymPy expressions, assembly).  This printer reads that
body and prints it again as a ``jax.numpy`` function of one point (vectors 1-D, scalars 0-D):

* scalar and vector lines (the SymPy-printed coefficients, constants, CSE terms, Piecewise as
  ``numpy.select``) are copied with ``numpy`` -> ``jnp``: on one point they are elementwise
  array arithmetic that XLA fuses;
* each ``_rt.<helper>`` of the NumPy runtime becomes its one-point counterpart of the same
  signature in :mod:`derivations.runtime.jax` (the same hardening, branch-free with
  the safe-where pattern: the double-double near-parallel terms and rejections, the edge
  series, the refined completed squares); the helpers that test a row's range also return
  ``ok``, and the row function returns the conjunction as its last result;
* each ``_rt.finish`` is the plain value (finiteness is tested by the batch runner);
* the public raw function ``<family>_jax.<name>`` wraps the row in
  :func:`derivations.runtime.jax.point_function`: the careful branches run only on the points
  (under ``jax.vmap``: the rows) that need them, and derivatives are ``jax.jvp`` of the
  branch-free row.

Not autodiff of a typed formula: the gradients are the SymPy-derived ones the NumPy emitter
prints; ``jax.grad`` of the emitted value is an independent consistency check of them
(tests/test_backend_jax.py).  Only a function whose NumPy public function dispatches to a
compiled backend (``_rt.compiled(...)``, see :mod:`derivations.codegen.numba`) is printed, and
only when every line translates (:func:`names` lists them); the others stay NumPy-only.

The printer reads the generated NumPy module's text (not the emitter's internals), so it runs
after the family's NumPy module is written: :func:`build`.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

GENERATED_DIR = Path(__file__).resolve().parent.parent / "generated"
#: the families printed (those with compiled dispatch in their NumPy module)
FAMILIES = ("cnn", "filter", "wn", "kernels", "gaussian", "resnet", "circulant")

#: helpers of the NumPy runtime that exist, with the same signature, in derivations.runtime.jax; the first
#: group returns one more value (``ok``)
_CHECKED = {"norms_and_dot", "sqnorm", "norm", "dot", "total", "difference"}
_PLAIN = {"angle_terms", "rejection", "cosine_or_zero", "pi_minus", "sine", "taylor",
          "taylor_zero", "taylor_pi", "col", "combine"}


# (jaxtpl) raw functions printed by a family's JAX template (derivations/codegen/templates/*_jax.py,
# their own generated module, which keeps their BACKEND), re-exported by ``<family>_jax`` so that
# ``derivations.jax_functions(family)`` has them too
TEMPLATE_EXPORTS = {"kernels": ("kernels_gram_jax", ("h_inf_gram", "arccos1_gram", "g_inf_gram", "v_inf_gram"))}


class Unsupported(Exception):
    """The NumPy body uses something the JAX printer does not translate."""


def _rt_call(node):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "_rt"):
        return node.func.attr
    return None


class _Translate(ast.NodeTransformer):
    """``numpy.X`` -> ``jnp.X``, ``_rt.helper`` -> ``_jr.helper`` (supported helpers only)."""

    def visit_Name(self, node):
        if node.id == "numpy":
            return ast.copy_location(ast.Name("jnp", node.ctx), node)
        if node.id in ("math", "_rt"):
            raise Unsupported(f"bare {node.id}")
        return node

    def visit_Lambda(self, node):
        raise Unsupported("lambda")

    def visit_Call(self, node):
        h = _rt_call(node)
        if h is not None:
            if h not in _PLAIN:
                raise Unsupported(f"_rt.{h} inside an expression")
            node.func = ast.Attribute(ast.Name("_jr", ast.Load()), h, ast.Load())
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords]
            return node
        return self.generic_visit(node)


def _expr(node) -> str:
    return ast.unparse(_Translate().visit(node))


def _finish_value(call) -> ast.AST:
    if _rt_call(call) != "finish":
        raise Unsupported("a result not made by _rt.finish")
    return call.args[0]


def row_source(name: str, core: ast.FunctionDef, argnames: list[str]) -> str:
    """The one-point function ``_<name>_row`` printed from the NumPy core function ``core``:
    returns ``(results..., ok)``."""
    lines: list[str] = []
    oks: list[str] = []
    ret = None
    for st in core.body:
        if isinstance(st, ast.Delete):
            continue
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
            continue
        if isinstance(st, ast.Return):
            v = st.value
            if isinstance(v, ast.Tuple) and all(isinstance(e, ast.Name) for e in v.elts):
                ret = [e.id for e in v.elts]
            else:
                lines.append(f"value = {_expr(_finish_value(v))}")
                ret = ["value"]
            continue
        if not isinstance(st, ast.Assign) or len(st.targets) != 1:
            raise Unsupported(f"statement {ast.unparse(st)[:60]}")
        tgt, val = st.targets[0], st.value
        tnames = ([e.id for e in tgt.elts] if isinstance(tgt, ast.Tuple)
                  else [tgt.id] if isinstance(tgt, ast.Name) else None)
        if tnames is None:
            raise Unsupported(f"target {ast.unparse(tgt)}")
        if tnames == ["_out"]:
            continue
        h = _rt_call(val)
        if h == "finish":
            lines.append(f"{tnames[0]} = {_expr(_finish_value(val))}")
        elif h in _CHECKED:
            ok = f"_ok{len(oks)}"
            oks.append(ok)
            lines.append(f"{', '.join(tnames + [ok])} = {_expr(_as_plain(val))}")
        else:
            lines.append(f"{ast.unparse(tgt)} = {_expr(val)}")
    if ret is None:
        raise Unsupported("no return")
    lines.append(f"_ok = {' & '.join(oks) if oks else 'True'}")
    lines.append(f"return {', '.join(ret + ['_ok'])}")
    sig = ", ".join(argnames)
    return (f"def _{name}_row({sig}):\n"
            f'    """One point of :func:`{name}` (printed from the NumPy core); returns its results\n'
            f'    and ``ok`` (the point is in the range the JAX helpers handle)."""\n'
            + textwrap.indent("\n".join(lines), "    ") + "\n")


def _as_plain(call):
    """A checked helper call, printed as its derivations.runtime.jax counterpart."""
    return ast.Call(ast.Attribute(ast.Name("_jr", ast.Load()), call.func.attr, ast.Load()),
                    call.args, call.keywords)


_KINDS = {"vector": 1, "scalar": 0, "integer": None}


def _arg_ranks(public: ast.FunctionDef) -> list[tuple[str, int | None]]:
    """Argument names and ranks from the public function's checks (``x = _rt.vector("x", x)``)."""
    argnames = [a.arg for a in public.args.args]
    ranks = {}
    for st in [s for st in public.body for s in [st] + (st.body if isinstance(st, ast.Try) else [])]:
        if (isinstance(st, ast.Assign) and _rt_call(st.value) in _KINDS
                and isinstance(st.targets[0], ast.Name)):
            ranks[st.targets[0].id] = _KINDS[_rt_call(st.value)]
    if set(ranks) != set(argnames):
        raise Unsupported(f"arguments not checked by vector/scalar/integer: {argnames}")
    return [(a, ranks[a]) for a in argnames]


def _dispatches(public: ast.FunctionDef) -> bool:
    return any(_rt_call(n) == "compiled" for n in ast.walk(public))


def functions_source(numpy_source: str, family: str) -> list[tuple[str, str]]:
    """``[(name, source)]``: the JAX functions printed from a generated NumPy module's text."""
    tree = ast.parse(numpy_source)
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    out = []
    for name, public in defs.items():
        core = defs.get(f"_{name}_core")
        if core is None or name.startswith("_") and not _dispatches(public):
            continue
        try:
            args = _arg_ranks(public)
            row = row_source(name, core, [a for a, _ in args])
        except Unsupported:
            continue
        out.append((name, row + "\n\n" + _wrappers(family, name, args, _dispatches(public))))
    return out


def _wrappers(family: str, name: str, args, routed: bool = True) -> str:
    sig = ", ".join(a for a, _ in args)
    static = [a for a, r in args if r is None]
    jit = (f"@functools.partial(jax.jit, static_argnames={tuple(static)!r})" if static
           else "@jax.jit")
    ranks = ", ".join(repr(r) for _, r in args)
    doc = (f'    """:func:`derivations.generated.{family}.{name}` at one point (vectors 1-D), in JAX:\n'
           f"    jittable; ``jax.vmap`` it for a batch, ``jax.grad`` / ``jax.jacfwd`` it for derivatives.\n"
           f"    No argument checks and no extended range (see derivations/runtime/jax.py).\n"
           f'    """\n')
    if static:  # the row called as it is (careful branches evaluated on every row)
        head = (f"{jit}\ndef {name}({sig}):\n{doc}"
                f"    _r = _{name}_row({sig})\n"
                f"    return _r[0] if len(_r) == 2 else _r[:-1]\n")
    else:  # careful branches only where needed, also under vmap (runtime.jax.point_function)
        head = (f"_{name}_point = _jr.point_function(_{name}_row)\n\n\n"
                f"{jit}\ndef {name}({sig}):\n{doc}"
                f"    _r = _{name}_point({sig})\n"
                f"    return _r[0] if len(_r) == 1 else _r\n")
    return head + (
        f"\n\ndef _{name}_batch(_core, _shape, {sig}, *, out=None):\n"
        f'    """The public function on checked arguments (``set_backend("jax")``)."""\n'
        f"    return _jr.run(_{name}_row, _core, _shape, ({sig},), ({ranks},), out)\n"
        if routed else "")


# ---- extra JAX templates (jaxcirc) -------------------------------------------------------
#: template modules (:mod:`derivations.codegen.templates`) that print more of a family's JAX
#: functions from its NumPy module: ``prelude(family) -> str`` (module-level helpers) and
#: ``functions(family, numpy_source) -> [(name, source)]`` (a source defining ``_<name>_batch``
#: is routed through BACKEND).  Appended to the family's module; not in :func:`names`.
TEMPLATES = ("circulant_jax",)


def _template_parts(family: str, numpy_source: str) -> tuple[str, list[tuple[str, str]]]:
    import importlib

    prelude, funcs = "", []
    for t in TEMPLATES:
        mod = importlib.import_module(f"derivations.codegen.templates.{t}")
        prelude += mod.prelude(family)
        funcs += mod.functions(family, numpy_source)
    return prelude, funcs
# ---- end of the extra JAX templates ---------------------------------------------------------


def module_source(family: str, numpy_source: str) -> str:
    """The generated JAX module of ``family`` ("" when no function translates)."""
    funcs = functions_source(numpy_source, family)
    prelude, extra = _template_parts(family, numpy_source)  # (extra JAX templates)
    funcs += extra
    if not funcs:
        return ""
    names_ = [n for n, _ in funcs]
    header = (
        f"# Generated by `nnderive build` (derivations/codegen/jax.py) from the NumPy code emitted for\n"
        f"# the SymPy derivations in derivations/{family}.py (derivations/generated/{family}.py).\n"
        f"# Do not edit: rebuild with `nnderive build`; tests fail when this file is stale.\n"
        f'"""JAX functions of the ``{family}`` family: {", ".join(names_)}.\n\n'
        "Each function is the body of the NumPy function of the same name, printed again in\n"
        "``jax.numpy`` for one point (derivations/codegen/jax.py): jittable, composable with\n"
        "``jax.vmap`` and ``jax.grad``, float64 (importing this module turns ``jax_enable_x64`` on).\n"
        "``BACKEND`` maps each name to the runner the public NumPy-facing function calls under\n"
        '``derivations.set_backend("jax")``.\n'
        '"""\n'
        "import functools  # noqa: F401\n\n"
        "from derivations.runtime import jax as _jr\n\n"
        "import jax  # noqa: E402  (after derivations.runtime.jax: float64 on)\n"
        "import jax.numpy as jnp  # noqa: E402,F401\n\n"
        f"__all__ = {names_!r}\n"
    )
    body = "\n\n".join(([prelude] if prelude else []) + [src for _, src in funcs])
    routed = [n for n, src in funcs if f"def _{n}_batch(" in src]
    table = ("#: the functions the public (NumPy-facing) functions run on under set_backend(\"jax\");\n"
             "#: the others are raw JAX functions only (their public functions stay NumPy)\n"
             "BACKEND = {\n" + "".join(f"    {n!r}: _{n}_batch,\n" for n in routed) + "}\n")
    extra = ""
    if family in TEMPLATE_EXPORTS:  # (jaxtpl)
        mod, names_t = TEMPLATE_EXPORTS[family]
        extra = (f"\n\n# printed by derivations/codegen/templates/{mod}.py\n"
                 f"from derivations.generated.{mod} import {', '.join(names_t)}  # noqa: E402,F401\n\n"
                 f"__all__ += {list(names_t)!r}\n")
    return header + "\n\n" + body + "\n\n" + table + extra


def names(family: str) -> list[str]:
    """The functions of ``family`` with a JAX version (from the committed NumPy module)."""
    return [n for n, _ in functions_source((GENERATED_DIR / f"{family}.py").read_text(), family)]


def build(write: bool = True, families=None) -> dict[Path, str]:
    """Print ``<family>_jax.py`` from the (already written) NumPy module of each family."""
    out = {}
    for fam in families or FAMILIES:
        src_path = GENERATED_DIR / f"{fam}.py"
        if fam not in FAMILIES or not src_path.exists():
            continue
        src = module_source(fam, src_path.read_text())
        if src:
            path = GENERATED_DIR / f"{fam}_jax.py"
            out[path] = src
            if write:
                path.write_text(src)
    return out
