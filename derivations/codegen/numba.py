"""The Numba printer: compiled per-row kernels from the NumPy emitter's own lines.

``nnderive build`` writes ``derivations/generated/<family>_numba.py`` next to every family
module that has a function this printer can compile.  One backend, one printer (as SymForce
does it): the NumPy emitter (:mod:`derivations.codegen`) prints every closed form once, from
SymPy, as the body of a function on checked arguments (its ``_<name>_core``: invariants, angle
terms, edge series, completed squares, CSE'd coefficients, assembly).  This printer reads that
body and prints it again as one ``@numba.njit(cache=True)`` loop over the rows:

* scalar lines (the SymPy-printed coefficients, constants, CSE terms) are copied: on one row
  they are plain float arithmetic;
* each ``_rt.<helper>`` of the NumPy runtime becomes its per-row counterpart in
  :mod:`derivations.runtime.numba` (the same hardening: double-double near-parallel
  terms and rejections, the edge series, the refined completed squares);
* each ``_rt.finish`` writes its row of the output once (vector results entry by entry, no
  temporaries), after a finiteness test;
* a row the compiled path cannot finish (a norm outside ``[SAFE_LO, SAFE_HI]``, a zero or
  non-finite argument, a non-finite result) is flagged, and the wrapper evaluates the flagged
  rows with the NumPy core itself (extended range, or the NumPy backend's error).

Where the fast pass has one angle-terms line, it is printed as a *hybrid* pass (``_hybrid``,
:func:`kernel_source`): per chunk of rows a compiled first half stores the cosines and the
scalars the rest needs, ``numpy.arccos`` (SIMD) takes the angles in place, and a compiled second
half finishes the rows (Numba's ``math.acos`` is the scalar libm call, ~10x NumPy's per row).

A body using a helper this printer does not know is left to NumPy (the function then has no
compiled version); :func:`compiled_names` lists those that have one.  The public function (in
the NumPy module) keeps its argument checks and dispatches after them
(``derivations.runtime.backend``).
"""
from __future__ import annotations

import ast
import copy
import math
import re
import textwrap

import sys

from .. import registry
from . import backends
from .numba_header import numba_module_header
from .blocks import core_name
from .functions import emit_function

#: ``_rt`` helpers returning ``(value, ok)`` of one row, and their arity in the kernel
_CHECKED = {"sqnorm": 1, "norm": 1, "dot": 2, "total": 1}
#: helpers copied as they are (scalar arguments only)
_SCALAR = {"taylor", "taylor_pi", "pi_minus", "sine", "cosine_or_zero"}
#: the families whose functions get compiled versions (the others keep NumPy only until their
#: kernels have been checked: ``nnderive check FAMILY --backend numba``)
FAMILIES = ("cnn", "filter", "wn", "kernels", "gaussian", "resnet", "circulant")
_FLAG = "_bad[_i] = 1; _nbad += 1; continue"


class Unsupported(Exception):
    """The NumPy body uses something the kernel printer does not compile."""


def _rt_call(node):
    """The helper name of a ``_rt.<name>(...)`` call, else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "_rt"):
        return node.func.attr
    return None


def _kw(call, name, pos=None):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    if pos is not None and len(call.args) > pos:
        return call.args[pos]
    return None


def _src(node) -> str:
    return ast.unparse(node)


def _names(target) -> list[str]:
    if isinstance(target, ast.Tuple):
        return [e.id for e in target.elts]
    return [target.id]


class _Kernel:
    """Translation of one NumPy core body into the statements of a loop over rows."""

    def __init__(self, args: list[tuple[str, int | None]], fast: bool = False):
        self.args = args
        #: the fast pass: rare rows (near-parallel angles and rejections, a completed square
        #: that needs refining) are flagged for the careful pass instead of evaluated here
        self.fast = fast
        self.vectors = {n: f"{n}_all, _i{n}" for n, r in args if r == 1}  # name -> (rows, row)
        self.lines: list[str] = []
        self.prelude: list[str] = []  # before the loop (scratch buffers)
        self.outs: list[tuple[str, int, str]] = []  # (name, rank, size code)
        self.scratch = 0
        #: vectors whose norm the kernel has checked to lie in [SAFE_LO, SAFE_HI] (each entry
        #: at most 1e60): a combination of them with coefficients of at most 1e240 is finite,
        #: so the fast pass tests the coefficients instead of every entry
        self.bounded: set[str] = set()
        #: the fast pass's angle terms: (line index, names, dot, norm product, phi?, psi?)
        self.angles: list[tuple] = []
        #: the fast pass's near-parallel tests by squares (:func:`_squares_plan`)
        self.squares: list[_Squares] = []

    # -- vector expressions (one entry ``_j``) -------------------------------------------
    def _entry(self, node) -> str:
        """A rank-1 expression printed for entry ``_j``: vectors indexed, ``_rt.col(c)`` -> c,
        ``_rt.combine`` -> the sum of its terms (vector terms first, as the NumPy helper adds)."""
        name = _rt_call(node)
        if name == "col":
            return f"({_src(node.args[0])})"
        if name == "combine":
            vec, const = [], []
            for t in node.args:
                c, x = t.elts
                if isinstance(x, ast.Constant) and x.value is None:
                    const.append(f"({_src(c)})")
                else:
                    vec.append(f"({_src(c)})*{self._entry(x)}")
            return "(" + " + ".join(vec + const) + ")"
        if name is not None:
            raise Unsupported(f"_rt.{name} in a vector result")
        if isinstance(node, ast.Name):
            if node.id in self.vectors:
                return f"{self.vectors[node.id].replace(', ', '[', 1)}, _j]"
            return node.id
        if isinstance(node, ast.BinOp):
            return f"({self._entry(node.left)} {_OPS[type(node.op)]} {self._entry(node.right)})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"(-{self._entry(node.operand)})"
        if isinstance(node, ast.Constant):
            return repr(node.value)
        raise Unsupported(f"vector expression {_src(node)}")

    def _size(self, name, node) -> str:
        """Code for the length of a rank-1 result: ``grad_x`` has the length of ``x``, else
        the first vector argument it uses."""
        args = {n for n, r in self.args if r == 1}
        if name.startswith("grad_") and name[5:] in args:
            return f"{name[5:]}_all.shape[1]"
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in args:
                return f"{n.id}_all.shape[1]"
        raise Unsupported("a vector result without a vector argument")

    def vec(self, node) -> str:
        """A vector operand of a helper: its array of rows and its row index."""
        if not (isinstance(node, ast.Name) and node.id in self.vectors):
            raise Unsupported(f"vector operand {_src(node)}")
        return self.vectors[node.id]

    # -- statements -------------------------------------------------------------------------
    def statements(self, body):
        """Translate ``body``; ``|x|^2``, ``|y|^2`` and ``x.y`` on three consecutive lines (the
        NumPy emitter's three passes) become one pass over the row.  The fast pass first reads
        the body for the near-parallel tests it makes by squares (:func:`_squares_plan`)."""
        if self.fast:
            self.squares = _squares_plan(body, self.vectors)
        i = 0
        while i < len(body):
            trio = body[i:i + 3]
            if len(trio) == 3 and self._fuse_sqnorms_and_dot(trio):
                i += 3
                continue
            self.statement(body[i])
            i += 1

    def _fuse_sqnorms_and_dot(self, trio) -> bool:
        calls = [st.value if isinstance(st, ast.Assign) and len(st.targets) == 1
                 and isinstance(st.targets[0], ast.Name) else None for st in trio]
        if [_rt_call(c) if c is not None else None for c in calls] != ["sqnorm", "sqnorm", "dot"]:
            return False
        x, y = calls[0].args[0], calls[1].args[0]
        dx, dy = calls[2].args[:2]
        if not all(isinstance(n, ast.Name) and n.id in self.vectors for n in (x, y, dx, dy)):
            return False
        if (dx.id, dy.id) != (x.id, y.id):
            return False
        names = [st.targets[0].id for st in trio]
        self.lines.append(f"{', '.join(names)}, _ok = _nb.sqnorms_and_dot({self.vec(x)}, {self.vec(y)})")
        self.lines.append(f"if not _ok: {_FLAG}")
        self.bounded.update((x.id, y.id))
        return True

    def statement(self, st):
        L = self.lines
        if isinstance(st, ast.Delete):
            return
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
            return  # docstring
        if isinstance(st, ast.Return):
            if _rt_call(st.value) == "finish":  # a single formula: its one result
                self.finish("value", st.value)
            elif len(self.outs) == 0:
                raise Unsupported(f"return {_src(st.value)[:60]}")
            return
        if not isinstance(st, ast.Assign) or len(st.targets) != 1:
            raise Unsupported(f"statement {_src(st)[:60]}")
        tgt, val = st.targets[0], st.value
        names = _names(tgt)
        if names == ["_out"]:
            return
        helper = _rt_call(val)
        sq = next((q for q in self.squares if q.owns(names)), None)
        if sq is not None and helper != "norms_and_dot":
            return  # |x| |y|, the cosine, a reciprocal 1/|y|: not computed (_squares_plan)
        if helper is None:
            if any(_rt_call(n) for n in ast.walk(val)) or any(isinstance(n, ast.Lambda) for n in ast.walk(val)):
                raise Unsupported(f"nested runtime call in {_src(st)[:60]}")
            if any(isinstance(n, ast.Name) and n.id in self.vectors for n in ast.walk(val)):
                raise Unsupported(f"vector arithmetic in {_src(st)[:60]}")
            L.append(_src(_Selects().visit(self._divided(st))))
            return
        a = val.args
        if sq is not None:  # |y|, [|y|^2,] x.y, far?, in range? (tested after the row is written)
            L.append(f"{sq.ny}, {sq.sq + ', ' if sq.sq else ''}{sq.dxy}, {sq.far}, {sq.inr} = "
                     f"_nb.norm{'_sq' if sq.sq else ''}_and_dot_far({self.vec(a[0])}, {self.vec(a[1])})")
            self.bounded.update(x.id for x in a[:2])
            return
        if helper == "norms_and_dot":
            L.append(f"{', '.join(names)}, _ok = _nb.norms_and_dot({self.vec(a[0])}, {self.vec(a[1])})")
            L.append(f"if not _ok: {_FLAG}")
            self.bounded.update(x.id for x in a[:2])
        elif helper in _CHECKED:
            args = ", ".join(self.vec(x) for x in a[: _CHECKED[helper]])
            L.append(f"{names[0]}, _ok = _nb.{helper}({args})")
            L.append(f"if not _ok: {_FLAG}")
            if helper in ("sqnorm", "norm"):
                self.bounded.add(a[0].id)
        elif helper == "difference":
            x, y = self.vec(a[0]), self.vec(a[1])
            sa = _src(_kw(val, "a", 2) or ast.Constant(1.0))
            sb = _src(_kw(val, "b", 3) or ast.Constant(1.0))
            vector = _kw(val, "vector", 5)
            with_dot = _kw(val, "with_dot", 6)
            scales = _kw(val, "scales", 7)
            vector = bool(vector is not None and vector.value)
            with_dot = bool(with_dot is not None and with_dot.value)
            us = ["None", "None"] if scales is None else [_src(e) for e in scales.elts]
            buf = f"_d{self.scratch}"
            self.scratch += 1
            self.prelude.append(f"{buf} = numpy.empty((1, {_src(a[0])}_all.shape[1]))")
            u = [self.vectors[s] if s != "None" else x for s in us]
            outs = names[:2]
            xy = names[-1] if with_dot else "_"
            # (a x - b y formed as a (x - (b/a) y) unless a is 1 or the vector is kept: the
            # rounding of the NumPy helper, step for step)
            split = not vector and sa != "1.0"
            fn = "difference_fast" if self.fast else "difference"
            L.append(f"{outs[0]}, {outs[1]}, {xy}, _ok = _nb.{fn}({x}, {y}, {sa}, {sb}, "
                     f"{u[0]}, {u[1]}, {us[0] != 'None'}, {us[1] != 'None'}, {split}, {buf})")
            L.append(f"if not _ok: {_FLAG}")
            if vector:
                self.vectors[names[2]] = f"{buf}, 0"
                self.bounded.add(names[2])  # (its square is at most SAFE_HI^2: checked)
        elif helper == "angle_terms":
            x, y, dxy = self.vec(a[0]), self.vec(a[1]), _src(a[4])
            nn = _kw(val, "norm_xy")
            nn = _src(nn) if nn is not None else f"({_src(a[2])}*{_src(a[3])})"
            if self.fast:
                self.angles.append((len(L), names, dxy, nn, names[2] != '_', names[3] != '_'))
                L.append(f"{', '.join(names)}, _ok = _nb.angle_terms_fast({dxy}, {nn}, "
                         f"{names[2] != '_'}, {names[3] != '_'})")
                L.append(f"if not _ok: {_FLAG}")
            else:
                L.append(f"{', '.join(names)} = _nb.angle_terms({x}, {y}, {dxy}, {nn}, "
                         f"{names[2] != '_'}, {names[3] != '_'})")
        elif helper == "taylor_zero":  # its edge cos(below)(1 - 1e-12), a constant, printed
            below = float(ast.literal_eval(a[3]))
            rest = ", ".join(_src(x) for x in a[3:])
            L.append(f"{names[0]} = _nb.taylor_zero({_src(a[0])}, {_src(a[1])}, {_src(a[2])}, "
                     f"{math.cos(below) * (1 - 1e-12)!r}, {rest})")
        elif helper in _SCALAR:
            L.append(f"{names[0]} = _nb.{helper}({', '.join(_src(x) for x in a)})")
        elif helper == "finish":
            self.finish(names[0], val)
        else:
            raise Unsupported(f"_rt.{helper}")

    def finish(self, name, call):
        L = self.lines
        expr = call.args[0]
        rank = call.args[2].value if len(call.args) > 2 else 0
        k = len(self.outs)
        o = f"_o{k}"
        if rank == 0:
            self.outs.append((name, 0, ""))
            if any(isinstance(n, ast.Name) and n.id in self.vectors for n in ast.walk(expr)):
                raise Unsupported("a vector in a scalar result")
            expr = self._divided(expr)
            L.append(f"_v = {_src(_Selects().visit(expr))}")
            if not any(q.bounds(expr) for q in self.squares):
                L.append(f"if not math.isfinite(_v): {_FLAG}")
            L.append(f"{o}[_i] = _v")
            return
        if rank != 1:
            raise Unsupported(f"rank {rank} result")
        self.outs.append((name, 1, self._size(name, expr)))
        if _rt_call(expr) == "rejection":
            y, x = self.vec(expr.args[0]), self.vec(expr.args[1])
            sq, dxy, cos = (_src(e) for e in expr.args[2:5])
            scale = _kw(expr, "scale", 5)
            scale = "1.0" if scale is None else _src(self._divided(scale))
            q = next((q for q in self.squares if q.cos == cos), None)
            if q is not None:  # the test by squares, and the range test, after the row is written
                if q.sq and sq == f"{q.ny} * {q.ny}" and x == self.vectors.get(q.y):
                    sq = q.sq
                L.append(f"if not (_nb.rejection_far({y}, {x}, {sq}, {dxy}, {q.far}, {scale}, {o}, "
                         f"_i) and {q.inr}): {_FLAG}")
                return
            fn = "rejection_fast" if self.fast else "rejection"
            if self.fast and {expr.args[0].id, expr.args[1].id} <= self.bounded:
                fn = "rejection_bounded"
            L.append(f"if not _nb.{fn}({y}, {x}, {sq}, {dxy}, {cos}, {scale}, {o}, _i): {_FLAG}")
            return
        coeffs = self._bounded_coefficients(expr) if self.fast else None
        if coeffs is not None:
            # entries at most (sum of the coefficients' sizes) 1e60 + const: finite
            test = " and ".join(f"abs({c}) <= 1e240" for c in coeffs) or "True"
            L.append(f"if not ({test}): {_FLAG}")
            L.append(f"for _j in range({o}.shape[1]):")
            L.append(f"    {o}[_i, _j] = {self._entry(expr)}")
            return
        L.append("_fin = True  # e - e is 0 for a finite e, NaN otherwise (an and-reduction: vectorizes)")
        L.append(f"for _j in range({o}.shape[1]):")
        L.append(f"    _e = {self._entry(expr)}")
        L.append(f"    {o}[_i, _j] = _e")
        L.append("    _fin &= (_e - _e) == 0.0")
        L.append(f"if not _fin: {_FLAG}")

    def _divided(self, node):
        """``node`` with each product ``t * e`` (``e * t``) by a reciprocal ``t = 1/|y|`` the
        plan does not compute (:func:`_squares_plan`) printed ``e / |y|`` (a copy)."""
        recips = {t: q.ny for q in self.squares for t in q.dropped}
        if not recips:
            return node

        class _Div(ast.NodeTransformer):
            def visit_BinOp(self, b):
                self.generic_visit(b)
                if isinstance(b.op, ast.Mult):
                    for t, e in ((b.left, b.right), (b.right, b.left)):
                        if isinstance(t, ast.Name) and t.id in recips:
                            return ast.BinOp(e, ast.Div(), ast.Name(recips[t.id], ast.Load()))
                return b

        return _Div().visit(copy.deepcopy(node))

    def _bounded_coefficients(self, expr):
        """The coefficients (source) of ``_rt.combine((c, x), ..., (c0, None))`` when every
        vector ``x`` is a name in :attr:`bounded`, else None."""
        if _rt_call(expr) != "combine":
            return None
        out = []
        for t in expr.args:
            c, x = t.elts
            if not (isinstance(x, ast.Constant) and x.value is None):
                if not (isinstance(x, ast.Name) and x.id in self.bounded):
                    return None
            out.append(_src(c))
        return out


class _Selects(ast.NodeTransformer):
    """``numpy.select([c1, c2, ...], [v1, v2, ...], default=d)`` (a Piecewise of the NumPy
    printer) on one row: ``v1 if c1 else (v2 if c2 else ... d)``."""

    def visit_Call(self, node):
        self.generic_visit(node)
        f = node.func
        if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                and f.value.id == "numpy" and f.attr == "select"):
            return node
        conds, vals = node.args[0].elts, node.args[1].elts
        default = _kw(node, "default", 2) or ast.Constant(0.0)
        out = ast.Call(ast.Name("float", ast.Load()), [default], [])
        for c, v in reversed(list(zip(conds, vals))):
            out = ast.IfExp(test=c, body=ast.Call(ast.Name("float", ast.Load()), [v], []),
                            orelse=out)
        return out


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def _core_function(source: str, name: str) -> ast.FunctionDef:
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == core_name(name):
            return node
    raise Unsupported(f"{name} has no core function (not blocked)")


def _ranks(formula: registry.Formula) -> list[tuple[str, int | None]]:
    out = []
    for a in formula.args:
        if a.kind == "vector":
            out.append((a.name, 1))
        elif a.kind in ("integer", "int"):
            out.append((a.name, None))
        elif a.kind == "scalar":
            out.append((a.name, 0))
        else:
            raise Unsupported(f"argument kind {a.kind}")
    return out


def _hybrid(k: "_Kernel"):
    """The split of a fast pass around its one angle-terms line (None when it has none, several,
    or writes a result before it): ``(prefix lines, angle record, phi column, psi column,
    number of angle columns, kept names)``.  The arccos of the rows then runs vectorized between
    two compiled passes (:func:`derivations.runtime.numba.run`): Numba calls the scalar libm
    ``acos`` (~14 ns a row, measured), NumPy's ``arccos`` is SIMD (~1.5 ns).  ``kept``: the
    scalars the prefix computes and the rest uses, stored by the first pass for the second
    (which does not recompute them: the row sums are latency-bound, ~15 ns a row at p = 10).
    ``rest``: the lines from the angle on, a difference vector the prefix formed (the fused
    CNN function's ``a - |w*| a*``) formed again entry by entry where it is used
    (:func:`_reform`; None when that is not possible).  Such a function keeps its one-pass
    kernel too, for wide rows (``REFORM_ROW_BYTES``): recomputing the whole prefix cost
    1.26-1.50x the bare loop, re-running the difference line 0.99-1.03x at p = 10, k = 8 but
    1.17-1.27x at p = 50, k = 25; the entries formed in the loop that uses them, 0.92x at
    p = 10, k = 8 (bench backend)."""
    if len(k.angles) != 1:
        return None
    at, names, dxy, nn, want_phi, want_psi = k.angles[0]
    if not (want_phi or want_psi):
        return None
    prefix = k.lines[:at]
    if any("_o" in ln.replace("_ok", "") for ln in prefix):
        return None
    col_phi = 0 if want_phi else -1
    col_psi = (1 if want_phi else 0) if want_psi else -1
    assigned = []
    for node in ast.walk(ast.parse("\n".join(prefix))):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            if node.id not in ("_", "_ok") and node.id not in assigned:
                assigned.append(node.id)
    used = {n.id for n in ast.walk(ast.parse("\n".join(k.lines[at:])))
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    kept = [n for n in assigned if n in used]
    if any(n in k.vectors or n.startswith("_d") for n in kept):
        return None
    rest = _reform(prefix, k.lines[at:])
    if rest is None:
        return None
    return prefix, k.angles[0], col_phi, col_psi, int(want_phi) + int(want_psi), kept, rest


_DIFF = re.compile(r"_nb\.difference_fast\((.*), (_d\d+)\)$")


def _reform(prefix: list[str], rest: list[str]):
    """The lines after the angle for the second half of a hybrid pass: as they are when they use
    no difference vector the prefix formed; else with each entry ``_dN[0, _j]`` of a difference
    the prefix formed by :func:`derivations.runtime.numba.difference_fast` (not split) replaced
    by the same expression ``a * x[ix, _j] - b * y[iy, _j]`` (the same rounding: the vector is
    formed again, in the loop that uses it, from rows still in cache).  None when a vector is
    used otherwise."""
    text = "\n".join(rest)
    if "_d" not in text:
        return list(rest)
    forms = {}
    for ln in prefix:
        m = _DIFF.search(ln)
        if m:
            call = ast.parse(f"f({m.group(1)})").body[0].value
            x, ix, y, iy, a, b = (ast.unparse(e) for e in call.args[:6])
            split = ast.unparse(call.args[12])
            if split != "False":
                continue
            forms[m.group(2)] = f"({a} * {x}[{ix}, _j] - {b} * {y}[{iy}, _j])"
    out = []
    for ln in rest:
        for d, expr in forms.items():
            ln = ln.replace(f"{d}[0, _j]", expr)
        out.append(ln)
    if re.search(r"\b_d\d+\b", "\n".join(out)):
        return None
    return out


#: a hybrid pass whose second half forms a difference vector again (the fused CNN function) runs
#: on rows of at most this many bytes of input (vector arguments), the one-pass kernel on wider
#: rows.  Measured (cnn.population_loss_and_grads, N = 1e5, CPU time, paired rounds, load 3.4),
#: hybrid / one pass: 0.83 at p = 10, k = 8 (288 bytes); 0.94 at p = 20, k = 16 (576); 1.00 at
#: p = 30, k = 12 (672); 1.04 at p = 50, k = 25 (1200): the second read of the rows grows with
#: them, the arccos saved does not.
REFORM_ROW_BYTES = 600


def _one_pass(name, params, outs, k, loads, lines):
    """The one-pass fast kernel (``math.acos`` per row) of a function that also has a hybrid
    pass re-forming a difference vector (:func:`_reform`)."""
    return ("@_nb.jit\n"
            f"def _{name}_kernel(_n, {', '.join(params + outs)}, _bad):\n"
            f'    """The fast pass over the rows of :func:`{name}` in one loop (wide rows; rare rows\n'
            f'    flagged for :func:`_{name}_careful`; see the module docstring)."""\n'
            + "    _nbad = 0\n"
            + "".join(f"    {p}\n" for p in k.prelude)
            + "    for _i in range(_n):\n"
            + textwrap.indent("\n".join(loads + lines), "        ") + "\n    return _nbad\n")


def kernel_source(name: str, formula: registry.Formula, numpy_source: str) -> str:
    """The kernel and its wrapper for the emitted function ``name`` (arguments of ``formula``)
    whose NumPy core function's source is ``numpy_source``.

    A fast pass with one angle-terms line is split in two (the *hybrid* pass): over a chunk of
    rows, ``_<name>_angles`` computes what the cosines need and stores ``cos`` (``-cos``) of each
    row, the wrapper takes their ``numpy.arccos`` in place (SIMD), and ``_<name>_kernel`` runs
    the whole body again with the angles read from the chunk (the invariants recomputed from
    rows still in cache)."""
    args = _ranks(formula)
    fn = _core_function(numpy_source, name)
    kernels = []
    params, loads = [], []
    for a, r in args:
        if r is None:
            params.append(a)
        else:
            params.append(f"{a}_all")  # (n,) + core: a shared argument is a stride-0 view
            loads.append(f"_i{a} = _i" if r == 1 else f"{a} = {a}_all[_i]")
    hybrid, reform = None, False
    for fast in (True, False):
        k = _Kernel(args, fast=fast)
        k.statements(fn.body)
        if fast:
            later = _later_scalars(k, args)
        outs = [f"_o{j}" for j in range(len(k.outs))]
        lines = list(k.lines)
        if fast:
            hybrid = _hybrid(k)
        if fast and hybrid is not None:
            prefix, (at, names, dxy, nn, _, _), cphi, cpsi, ncol, kept, rest = hybrid
            reform = rest != lines[at:]
            if reform:  # the one-pass kernel too, for wide rows (see _hybrid)
                kernels.append(_one_pass(name, params, outs, k, loads, lines))
            lines = lines[:at] + rest
            lines[at] = (f"{', '.join(names)}, _ok = _nb.angle_terms_chunk({dxy}, {nn}, _cs, "
                         f"_i - _lo, {cphi}, {cpsi})")
            store = [ln.replace(_FLAG, "continue") for ln in prefix]
            store.append(f"_nb.angle_store({dxy}, {nn}, _cs, _i - _lo, {cphi}, {cpsi}, _scalar)")
            # the scalars the second half needs, and "row not flagged"
            store += [f"_cv[_i - _lo, {j + 1}] = {v}" for j, v in enumerate(kept)]
            store.append("_cv[_i - _lo, 0] = 1.0")
            lines = lines[at:]
            lines[:0] = [f"if _cv[_i - _lo, 0] == 0.0: {_FLAG}"] + [
                f"{v} = _cv[_i - _lo, {j + 1}]" for j, v in enumerate(kept)]
            body = "\n".join(loads + store)
            kernels.append(
                "@_nb.jit\n"
                f"def _{name}_angles(_lo, _hi, {', '.join(params)}, _cs, _cv, _scalar):\n"
                f'    """The first half of the hybrid fast pass of :func:`{name}` over the rows\n'
                f"    ``_lo:_hi``: cos (and -cos) of the angle into ``_cs`` (0 on a row the fast pass\n"
                f"    flags), or their ``acos`` when ``_scalar`` (small batches), and into ``_cv`` the\n"
                f'    scalars the second half uses."""\n'
                + "".join(f"    {p}\n" for p in k.prelude)
                + "    for _i in range(_lo, _hi):\n"
                + "        _nb.clear_row(_cs, _i - _lo)\n"
                + "        _cv[_i - _lo, 0] = 0.0\n"
                + textwrap.indent(body, "        ") + "\n")
        body = "\n".join(loads + lines)
        if fast:
            if hybrid is not None:
                sig, loop = f"_lo, _hi, {', '.join(params + outs)}, _bad, _cs, _cv", "range(_lo, _hi)"
                doc = (f'    """The fast pass over the rows ``_lo:_hi`` of :func:`{name}` (second half of\n'
                       f"    the hybrid pass; rare rows flagged for :func:`_{name}_careful`; see the\n"
                       '    module docstring)."""\n')
            else:
                sig, loop = f"_n, {', '.join(params + outs)}, _bad", "range(_n)"
                doc = (f'    """The fast pass over the rows of :func:`{name}` (rare rows flagged for\n'
                       f'    :func:`_{name}_careful`; see the module docstring)."""\n')
            kname = f"_{name}_rest" if hybrid is not None and reform else f"_{name}_kernel"
            head = (f"def {kname}({sig}):\n"
                    + doc
                    + "    _nbad = 0\n"
                    + "".join(f"    {p}\n" for p in (k.prelude if hybrid is None else ()))
                    + f"    for _i in {loop}:\n")
        else:
            head = (f"def _{name}_careful(_idx, {', '.join(params + outs)}, _bad):\n"
                    f'    """The careful pass of :func:`{name}` over the rows ``_idx`` the fast pass\n'
                    f'    flagged (rows it flags in turn go to the NumPy core)."""\n'
                    "    _nbad = 0\n"
                    + "".join(f"    {p}\n" for p in k.prelude)
                    + "    for _r in range(_idx.shape[0]):\n"
                    + "        _i = _idx[_r]\n"
                    + "        _bad[_i] = 0\n")
        kernels.append("@_nb.jit\n" + head + textwrap.indent(body, "        ") + "\n    return _nbad\n")
    kernel = "\n\n".join(kernels)
    argnames = [a for a, _ in args]
    ranks = ", ".join(repr(r) for _, r in args)
    cores = []
    for _, rank, size in k.outs:
        cores.append("()" if rank == 0 else f"({size.replace('_all.shape[1]', '.shape[-1]')},)")
    fused = len(k.outs) > 1
    sig = ", ".join(argnames) + (", *, out=None" if fused else "")
    angles = "" if hybrid is None else (
        f", angles=(_{name}_angles, {hybrid[4]}, {1 + len(hybrid[5])})" if not reform else
        f", angles=(_{name}_angles, {hybrid[4]}, {1 + len(hybrid[5])}, _{name}_rest, "
        f"{REFORM_ROW_BYTES})")
    wrapper = (
        f"def {name}(_core, _shape, {sig}):\n"
        f'    """:func:`derivations.generated.{formula.family}.{name}` on checked arguments of batch\n'
        f'    shape ``_shape``, compiled (its public function calls this after its checks; ``_core``:\n'
        f'    its NumPy core, for the rows the kernel flags)."""\n'
        f"    return _nb.run(_{name}_kernel, _{name}_careful, _core, _shape, "
        f"({', '.join(argnames)},), ({ranks},), ({', '.join(cores)},), "
        f"{'out' if fused else 'None'}{angles}"
        + ("" if hybrid is not None or not later else
           f", later=({''.join(f'({a!r}, {a}), ' for a in later)}))\n\n\n{name}.later = {tuple(later)!r}")
        + (")" if hybrid is not None or not later else "") + "\n"
    )
    _LATER[(formula.family, name)] = tuple(later) if hybrid is None else ()
    return kernel + "\n\n" + wrapper



class _Squares:
    """One near-parallel test of the fast pass made by squares (:func:`_squares_plan`): ``y``
    (the vector whose norm is ``ny``), the names of the NumPy body it replaces (``nx, ny, dxy`` of ``norms_and_dot(x, y)``, ``nn = nx *
    ny``, ``cos = cosine_or_zero(dxy, nn)``), the names it prints (``far``, ``inr``; ``sq`` for
    ``|y|^2`` as summed, or ""), and the reciprocals ``t = 1/ny`` (``recip``; those in
    ``dropped`` are printed as divisions by ``ny``)."""

    def __init__(self, y, nx, ny, dxy, nn, cos, sq, recip, dropped, far, inr):
        self.y, self.nx, self.ny, self.dxy, self.nn, self.cos = y, nx, ny, dxy, nn, cos
        self.sq, self.recip, self.dropped, self.far, self.inr = sq, recip, dropped, far, inr

    def owns(self, names: list[str]) -> bool:
        """Whether the statement assigning ``names`` is this test's (printed by the plan, or
        not at all)."""
        return (names == [self.nx, self.ny, self.dxy] or names in ([self.nn], [self.cos])
                or (len(names) == 1 and names[0] in self.dropped))

    def bounds(self, expr) -> bool:
        """Whether the scalar result ``expr`` is ``dxy / ny`` (or ``t * dxy``, ``t = 1/ny``):
        finite on a row whose range test ``inr`` holds (both norms in ``[SAFE_LO, SAFE_HI]``:
        ``|dxy| <= |x| |y| (1 + p eps) <~ 1e120``, ``1/ny <= 1e60``), and a row out of range is
        flagged by the rejection's test, so its own finiteness test is not printed."""
        if not isinstance(expr, ast.BinOp):
            return False
        l, r = (e.id if isinstance(e, ast.Name) else None for e in (expr.left, expr.right))
        if isinstance(expr.op, ast.Div):
            return (l, r) == (self.dxy, self.ny)
        return isinstance(expr.op, ast.Mult) and {l, r} in ({self.dxy, t} for t in self.recip)


def _loads(nodes) -> list[ast.Name]:
    """The names ``nodes`` read, leaving out the ``checked=`` of ``_rt.finish`` (which the
    kernel does not print: it tests its rows itself)."""
    out = []

    def walk(n):
        if isinstance(n, ast.keyword) and n.arg == "checked":
            return
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.append(n)
        for c in ast.iter_child_nodes(n):
            walk(c)

    for n in nodes:
        walk(n)
    return out


def _squares_plan(body, vectors) -> list[_Squares]:
    """The near-parallel tests the fast pass makes by squares: in a NumPy body whose first
    vector's norm serves only a rejection's near-parallel test (weight normalization: ``|grad_w|``
    in ``grad_v``, ``grad_g_and_grads``), the statements

        nx, ny, dxy = _rt.norms_and_dot(x, y, ...); nn = nx*ny; cos = _rt.cosine_or_zero(dxy, nn)
        ... _rt.finish(_rt.rejection(x, y, ny*ny, dxy, cos, scale=k), ...)

    (``nx``, ``nn`` read nowhere else, ``cos`` only by such rejections, ``ny`` and ``dxy`` not
    reassigned) are printed as ``ny, dxy, _far, _inr = _nb.norm_and_dot_far(x, ix, y, iy)`` and
    ``if not (_nb.rejection_far(..., dxy, _far, k, out, _i) and _inr): <flag>``:

    * ``|x|^2`` summed vectorized for the test alone, the test ``(x.y)^2 <= NEAR^2 |x|^2
      |y|^2`` (no square root, no division), and the range checks made after the row is written
      (the statements between are float arithmetic: a row out of range computes garbage there,
      then is flagged).  Kernel alone, N = 1e5, p = 10: 1.51x -> 1.25-1.28x the bare loop's
      time.  The three sums in one vectorized pass, in any order (``_nb.row_sums``: ``|y|``
      and ``x.y`` then differ from the NumPy core's by a few ulp of ``|x| |y|``, as accurate):
      1.17x -> 0.99-1.01x.
    * A rejection dividing by ``ny*ny`` with ``y`` the vector divided by divides by ``|y|^2`` as
      summed (``_nb.norm_sq_and_dot_far`` returns it beside ``|y|``), as a bare loop does: the
      multiplication waits no more on the square root.  The two agree to rounding: ``ny =
      sqrt(s)(1 + d1)``, ``ny * ny = s (1 + d1)^2 (1 + d2)``, ``|d1|, |d2| <= eps/2``, so within
      ~1.5 eps (2 ulp); ``s`` is the more accurate.  The rejection's ``k = x.y / |y|^2`` moves
      by that much, its result ``(x - k y) scale`` by ``|dk| |y| <= 1.5 eps |x| |cos|``, i.e.
      ``<= 1.5 eps |cos|/|sin|`` relative to ``|x - k y|`` (in norm), inside the ``1e-15/sin^2``
      the backends' agreement allows for ``|cos| <= NEAR`` (tests/test_backend.py; the careful
      pass, which takes the rows beyond NEAR, keeps ``ny * ny``).  The public call 1.34-1.36x
      -> 1.27-1.31x the bare loop.
    * A scalar result ``dxy / ny`` (``t * dxy``, ``t = 1/ny``) drops its finiteness test
      (:meth:`_Squares.bounds`): one branch less per row.
    * A reciprocal ``t = 1/ny`` read only as a factor (``t * e``) is not computed: each
      product is printed ``e / ny`` (``wn.grad_g_and_grads``: ``g / |v|``, ``v.grad_w / |v|``, as
      the bare loop divides).  The product by a reciprocal waits on the square root, then a
      division, then a multiplication; the division alone is one step shorter on the row's
      critical path (the loop overlaps rows only as far as its reorder buffer reaches).  A
      correctly rounded quotient vs. the NumPy core's ``(1/ny) e``: at most an ulp or two apart.
      Kernel alone, N = 1e5, p = 10, paired rounds: 1.19x -> 1.17x the bare loop.

    The value and the rejection of a row out of range are garbage until flagged; the careful
    pass then rewrites the row (as before)."""
    stmts = [st for st in body if not isinstance(st, (ast.Delete, ast.Expr))]
    out: list[_Squares] = []
    for i, st in enumerate(stmts):
        if not (isinstance(st, ast.Assign) and _rt_call(st.value) == "norms_and_dot"
                and isinstance(st.targets[0], ast.Tuple) and len(st.targets[0].elts) == 3):
            continue
        nx, ny, dxy = _names(st.targets[0])
        x, y = st.value.args[:2]
        if not all(isinstance(e, ast.Name) and e.id in vectors for e in (x, y)):
            continue
        nxt = stmts[i + 1:i + 3]
        if len(nxt) < 2 or not all(isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)
                                   for s in nxt):
            continue
        (s2, s3), rest = nxt, stmts[i + 3:]
        if _src(s2.value) != f"{nx} * {ny}" or _src(s3.value) != f"_rt.cosine_or_zero({dxy}, {s2.targets[0].id})":
            continue
        nn, cos = s2.targets[0].id, s3.targets[0].id
        loads = _loads(rest)
        if any(n.id in (nx, nn) for n in loads):
            continue
        assigned = [t.id for s in rest if isinstance(s, ast.Assign) for t in ast.walk(s.targets[0])
                    if isinstance(t, ast.Name)]
        if ny in assigned or dxy in assigned:
            continue
        rejs = [n for s in rest for n in ast.walk(s) if _rt_call(n) == "rejection"
                and len(n.args) > 4 and isinstance(n.args[4], ast.Name) and n.args[4].id == cos]
        if not rejs or sum(n.id == cos for n in loads) != len(rejs) or not all(
                _src(r.args[3]) == dxy and {_src(r.args[0]), _src(r.args[1])} <= {x.id, y.id}
                for r in rejs):
            continue
        sq = f"_sq{ny}" if any(_src(r.args[2]) == f"{ny} * {ny}" and _src(r.args[1]) == y.id
                               for r in rejs) else ""
        recip = [s.targets[0].id for s in rest if isinstance(s, ast.Assign)
                 and isinstance(s.targets[0], ast.Name) and _src(s.value) == f"1 / {ny}"
                 and assigned.count(s.targets[0].id) == 1]
        factors = {id(side) for s in rest for b in ast.walk(s)
                   if isinstance(b, ast.BinOp) and isinstance(b.op, ast.Mult) for side in (b.left, b.right)}
        dropped = [t for t in recip if all(id(n) in factors for n in loads if n.id == t)]
        k = len(out)
        out.append(_Squares(y.id, nx, ny, dxy, nn, cos, sq, recip, dropped,
                            f"_far{k}" if k else "_far", f"_inr{k}" if k else "_inr"))
    return out


def _later_scalars(k: "_Kernel", args) -> list[str]:
    """The scalar arguments whose NaN/inf test the public function can leave to the compiled
    call (``_rt.scalar(name, x, finite=None)``, :func:`derivations.runtime.finite`): those the
    fast pass ``k`` reads only as ``t = x / ny`` (``ny`` a norm of its near-parallel test by
    squares, :func:`_squares_plan`, in ``[SAFE_LO, SAFE_HI]`` on an unflagged row) with ``t``
    read only as the scale of that test's rejection, which flags the row unless ``|t| <=
    1e240`` (False for NaN and inf).  So every row where ``x`` is not finite is flagged, and
    the runner tests ``x`` before anything sees a flagged row (``derivations.runtime.numba.run``,
    ``later``).  At most one (the public function's order of checks around it is kept by
    :func:`derivations.codegen.functions._with_dispatch`)."""
    out = []
    for a, r in args:
        if r != 0:
            continue
        word = re.compile(rf"\b{a}\b")
        uses = [ln for ln in k.lines if word.search(ln)]
        ok = False
        for q in k.squares:
            m = [ln for ln in uses if re.fullmatch(rf"(\w+) = {a} / {q.ny}", ln)]
            if len(uses) != 1 or len(m) != 1:
                continue
            t = m[0].split(" = ")[0]
            tu = [ln for ln in k.lines if re.search(rf"\b{t}\b", ln)]
            rej = [ln for ln in tu if ln.startswith("if not (_nb.rejection_far(")
                   and f", {q.far}, {t}, _o" in ln and ln.endswith(f" and {q.inr}): {_FLAG}")]
            ok = len(tu) == 2 and len(rej) == 1
        if ok:
            out.append(a)
    return out[:1] if len(out) == 1 else []


#: scalar arguments whose finiteness test the compiled call makes (:func:`_later_scalars`),
#: by (family, name): read by the NumPy emitter (:func:`later_scalars`)
_LATER: dict[tuple[str, str], tuple[str, ...]] = {}


def later_scalars(formula: registry.Formula, name: str) -> tuple[str, ...]:
    """The scalar arguments of the emitted function ``name`` whose NaN/inf test its compiled
    version makes (after :func:`dispatch_lines` printed it; empty otherwise)."""
    return _LATER.get((formula.family, name), ())


#: kernels collected while the NumPy modules are emitted: family -> {name: source}
_KERNELS: dict[str, dict[str, str]] = {}


def dispatch_lines(formula: registry.Formula, name: str, fused: bool, core: str) -> list[str]:
    """The lines a public NumPy function runs after its checks when ``core`` (the source of its
    NumPy core) compiles: its compiled version when the backend in use has it
    (``_rt.compiled`` is None otherwise, and NumPy goes on).  The kernel is kept for
    :func:`module_source`."""
    if formula.family not in FAMILIES:
        return []
    try:
        src = kernel_source(name, formula, core)
    except Unsupported:
        return []
    _KERNELS.setdefault(formula.family, {})[name] = src
    args = ", ".join(a.name for a in formula.args)
    call = f"{args}, out=out" if fused else args
    return [f"_fast = _rt.compiled({formula.family!r}, {name!r}, _shape)",
            "if _fast is not None:  # the compiled backend (derivations.runtime.backend)",
            f"    return _fast({core_name(name)}, _shape, {call})"]


#: scalar-only formulas compiled as per-row functions ``<name>_row`` (no public dispatch: they are
#: the steps of compiled loops, e.g. the reduced population GD of Table 5.1,
#: :mod:`numerics.simulators.cnn_reduced_gd`)
SCALAR_ROWS = {"cnn": ("gd_next_angle", "gd_next_norm_v_sq", "gd_next_dot", "gd_next_sum")}
#: argument handling of the public function: not part of a row's arithmetic
_CHECKS = {"scalar", "integer", "vector", "batch_shape", "positive", "within", "require",
           "same_length", "nonnegative"}


class _NestedScalars(ast.NodeTransformer):
    """``_rt.<h>(...)`` -> ``_nb.<h>(...)`` for the scalar helpers (one row: plain floats)."""

    def visit_Call(self, node):
        self.generic_visit(node)
        h = _rt_call(node)
        if h in _SCALAR:
            node.func = ast.Attribute(ast.Name("_nb", ast.Load()), h, ast.Load())
        return node


def row_source(formula: registry.Formula, public_source: str) -> str:
    """``@_nb.helper def <name>_row(<args>)``: the arithmetic of the scalar-only emitted function
    ``public_source`` on one row (its checks left to the caller: the compiled loop tests each
    result, and sends a run it cannot finish to the NumPy function, which raises its error)."""
    args = _ranks(formula)
    if any(r == 1 for _, r in args):
        raise Unsupported(f"{formula.name}: vector arguments")
    tree = ast.parse(public_source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == formula.quantity)
    k = _Kernel(args)
    ret = None
    for st in fn.body:
        if isinstance(st, ast.Expr) and (isinstance(st.value, ast.Constant) or _rt_call(st.value) in _CHECKS):
            continue
        if isinstance(st, ast.Assign) and _rt_call(st.value) in _CHECKS:
            continue
        if isinstance(st, ast.Delete):
            continue
        if isinstance(st, ast.Return):
            if _rt_call(st.value) != "finish" or len(st.value.args) > 2:
                raise Unsupported(f"{formula.name}: return {_src(st.value)[:40]}")
            ret = _src(_Selects().visit(_NestedScalars().visit(st.value.args[0])))
            continue
        if isinstance(st, ast.Expr) or (isinstance(st, ast.Assign) and _rt_call(st.value) is None
                                        and any(_rt_call(n) in _CHECKS for n in ast.walk(st.value))):
            raise Unsupported(f"{formula.name}: {_src(st)[:40]}")
        if isinstance(st, ast.Assign) and _rt_call(st.value) is None:
            st = _NestedScalars().visit(st)
        k.statement(st)
    if ret is None or k.outs:
        raise Unsupported(f"{formula.name}: no scalar result")
    names = ", ".join(a for a, _ in args)
    body = "\n".join(k.lines + [f"return float({ret})"])
    return (f"@_nb.helper\n"
            f"def {formula.quantity}_row({names}):\n"
            f'    """One row of :func:`derivations.generated.{formula.family}.{formula.quantity}` (no\n'
            f'    argument checks: for compiled loops, which test each result)."""\n'
            + textwrap.indent(body, "    ") + "\n")


def _rows(family: str) -> list[tuple[str, str]]:
    out = []
    for name in SCALAR_ROWS.get(family, ()):
        f = registry.get(f"{family}.{name}")
        try:
            out.append((f"{name}_row", row_source(f, emit_function(f, dispatch=False))))
        except Unsupported:
            continue
    return out


def compiled_names(family: str) -> list[str]:
    """The emitted functions of ``family`` with a compiled (Numba) version (after the family's
    NumPy module has been emitted in this process)."""
    return list(_KERNELS.get(family, {}))


def module_source(family: str) -> str:
    """The generated Numba module of ``family`` ("" when none of its functions compiles)."""
    kernels = list(_KERNELS.get(family, {}).items())
    rows = _rows(family)
    if not kernels and not rows:
        return ""
    header = numba_module_header(
        f"# Generated by `nnderive build` (derivations/codegen/numba.py) from the NumPy code emitted for\n"
        f"# the SymPy derivations in derivations/{family}.py.  Do not edit: rebuild with `nnderive build`.\n"
        f'"""Compiled (Numba) kernels of the ``{family}`` family: {", ".join(n for n, _ in kernels)}.\n\n'
        "Each kernel is the body of the NumPy function of the same name, printed again as one loop\n"
        "over the rows (derivations/codegen/numba.py); rows it cannot finish are evaluated by the\n"
        "NumPy core.  Imported only when the compiled backend is in use.\n"
        '"""\n',
        [n for n, _ in kernels + rows])
    return header + "\n\n" + "\n\n".join(src for _, src in kernels + rows)


#: the suffix of the kernels' modules (``<family>_numba.py``)
NAME = "numba"


def reset(family: str) -> None:
    """Forget ``family``'s kernels (the NumPy emitter fills them again as it emits the module)."""
    _KERNELS.pop(family, None)


backends.register(sys.modules[__name__])
