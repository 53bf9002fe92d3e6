"""Stage 6, the body: the plans of one emitted function in, its straight-line body out.

In: one :class:`.plan._Plan` per output (one for a plain function; the value and its gradients
for a fused one).  Out: the lines of the body, in this order, each step a function here:

1. :func:`_shared_terms`: the angles, rejections and norm products the outputs share;
2. :func:`_print_coefficients`: every coefficient's edge groups (:mod:`.angles`), folded
   constants (:mod:`.differences`) and CSE print (:mod:`.printer`); lazy ones apart;
3. :func:`_used_names`: the names the printed text uses, and the differences it needs;
4. the argument checks (:mod:`.arguments`) and invariants (:mod:`.invariants`);
5. :func:`_sizes`: log10 bounds of every invariant on the float path (the static finiteness
   proof that lets ``_rt.finish`` skip scanning a result);
6. :func:`_output`: per output, its coefficients named ``_k<i>`` and assembled with its basis
   (``_rt.combine``, ``_rt.rejection_pair``, ``_rt.filled``...), and what ``finish`` checks;
7. :func:`_return_lines`, the block lines (:mod:`.blocks`) and :func:`.cleanup._dead_code`.
"""
from __future__ import annotations

import math
import re

import numpy as np
import sympy as sp

from .. import registry, vectors
from .arguments import _argument_lines, _validate_lines
from .blocks import _block_lines
from .cleanup import _dead_code
from .differences import _fold_constants
from .angles import _edge_groups
from .invariants import _Invariants, _scale_code
from .plan import _Plan
from .printer import _dim_code, print_block, print_expr


def _vector_code(formula: registry.Formula, x: sp.Symbol) -> str:
    m = vectors.meaning(x)
    if m.kind == "ones":
        return f"numpy.ones({_dim_code(formula, vectors.space_of(x))})"
    return m.operands[0]


def _basis_code(formula: registry.Formula, b: sp.Symbol) -> str:
    if str(b).startswith("rej_"):
        return str(b)
    m = vectors.meaning(b)
    if m.kind in ("vector", "ones"):
        return _vector_code(formula, b)
    if m.kind == "outer":
        x, y = (_vector_code(formula, sp.Symbol(n)) for n in m.operands)
        return f"_rt.outer({x}, {y})"
    if m.kind == "eye":
        return f"numpy.eye({_dim_code(formula, m.operands[0])})"
    raise AssertionError(m)


def _is_simple(code: str) -> bool:
    """A printed coefficient that is a name or a number (no need to name it ``_k<i>``)."""
    return re.fullmatch(r"[A-Za-z_]\w*|-?[\d.]+(e-?\d+)?|\(?-?[\d.]+/[\d.]+\)?", code) is not None


def _log_bound(e: sp.Expr, sizes: dict) -> float | None:
    """An upper bound of ``log10 |e|`` on the emitted float path, from the ranges the run time
    has checked before ``e`` is evaluated (``sizes``: symbol name -> log10 bound, for powers
    of either sign where the quantity is bounded away from 0 as well, ``-x`` entries: upper
    bound only), or ``None`` (unbounded: a division by an inner product, an unknown function).
    Norms are in [1e-60, 1e60] on the float path (an extended-range norm makes the result an
    XF, tested entry by entry), inner products and sums within their checked range, angle
    terms within [-1, 1] or [0, pi], named constants their value."""
    if not e.free_symbols:
        v = abs(float(e))
        return math.log10(v) if v > 0 else -300.0
    if e.is_Symbol:
        b = sizes.get(str(e))
        return None if b is None else abs(b)
    if e.is_Add:
        parts = [_log_bound(t, sizes) for t in e.args]
        return None if None in parts else max(parts) + math.log10(len(parts))
    if e.is_Mul:
        parts = [_log_bound(t, sizes) for t in e.args]
        return None if None in parts else sum(parts)
    if e.is_Pow:
        b, k = e.as_base_exp()
        if not k.is_Rational:
            return None
        if k > 0:
            inner = _log_bound(b, sizes)
            return None if inner is None else float(k) * inner
        if b.is_Symbol and sizes.get(str(b), -1) >= 0:  # a norm: bounded away from 0 as well
            return float(-k) * sizes[str(b)]
        return None
    return None


def _inline_groups(code: str, group_lines: list[str]) -> str:
    """``code`` with its edge-group symbols ``_h<i>`` replaced by their expressions
    (``_rt.taylor(<sum>, t, ...)``): for a coefficient evaluated lazily, inside a lambda."""
    for i in range(0, len(group_lines), 3):
        name, prim = group_lines[i].split(" = ", 1)
        patched = group_lines[i + 2].split(" = ", 1)[1].replace(f"({name},", f"({prim},", 1)
        code = re.sub(rf"\b{name}\b", lambda _m: patched, code)
    return code


def _wrap(formula: registry.Formula) -> str:
    return "_rt.col" if formula.rank == 1 else "_rt.col2"


class _Shared:
    """Step 1: what the outputs of one function share: the angles and rejections (sorted, each
    once), the norm products ``|x||y| -> nn_x_y`` computed once for an angle and the
    coefficients, ``root`` (norms used in even powers only: ``|x| -> sqrt(x.x)``) and
    :meth:`even_powers` (norms used alone and squared: ``|x|^2 -> sqnorm_x``)."""

    def __init__(self, plans: list[_Plan]):
        formula = plans[0].formula
        angles = {str(a.phi): a for p in plans for a in p.angles}
        self.angles = [angles[k] for k in sorted(angles)]
        rejections = {str(r.symbol): r for p in plans for r in p.rejections}
        self.rejections = [rejections[k] for k in sorted(rejections)]
        squares = plans[0].squared_norms(plans[1:])
        self.products = {}  # |x||y| -> nn_x_y: computed once, shared by the angle and the coefficients
        for a in self.angles:
            if a.vectors:
                x, y = (sp.Symbol(n) for n in a.vectors)
                self.products[vectors.norm(x) * vectors.norm(y)] = sp.Symbol(f"nn_{str(a.cos)[4:]}",
                                                                             positive=True)
        self.root = {n: sp.sqrt(q) for n, q in squares.items()}
        # norms used both alone and squared: |x|^2 is x.x itself (computed first; |x| is its root)
        self.squared = {}
        for a in formula.args:
            nx = vectors.norm(sp.Symbol(a.name)) if a.kind == "vector" else None
            if nx is None or nx in squares:
                continue
            pows = [t.exp for p in plans for c, _ in p.parts for t in c.atoms(sp.Pow) if t.base == nx]
            if any(k.is_Integer and k >= 2 for k in pows):
                self.squared[nx] = sp.Symbol(f"sqnorm_{a.name}", positive=True)

    def even_powers(self, c):
        for nx, q in self.squared.items():
            c = c.replace(lambda t: t.is_Pow and t.base == nx and t.exp.is_Integer and abs(t.exp) >= 2,
                          lambda t: q ** (t.exp // 2) * (nx if t.exp % 2 else 1))
        return c


class _Printed:
    """Step 2: every coefficient of every plan printed.  Keys: ``(plan index, basis)`` or
    ``(plan index, ("alpha", rejection))``; ``code``: printed text, ``exprs``: the folded
    expression (eager ones), ``cse_lines`` / ``group_lines`` / ``const_lines``: the lines before
    the outputs, ``groups``: how many edge groups ``_h<i>`` were named.  The coefficient of ``x``
    in the rejection form of a pair is needed on near-parallel rows only: printed apart (no CSE
    with the others, its edge groups inlined) and evaluated lazily (``lazy_keys``)."""

    def __init__(self, plans: list[_Plan], shared: _Shared):
        counter = [0]
        jobs, lazy_jobs = [], []
        for i, p in enumerate(plans):
            paired_x = {sp.Symbol(r.x) for r in p.rejections if r.pair}
            for c, b in p.parts:
                (lazy_jobs if b in paired_x else jobs).append(((i, b), c))
            for r in p.rejections:
                if r.pair:
                    jobs.append(((i, ("alpha", str(r.symbol))), r.alpha))
        self.consts: dict = {}
        self.coeffs, self.group_lines = [], []
        for _, c in jobs:
            c2, lines = _edge_groups(c.subs(shared.root), shared.angles, counter)
            self.coeffs.append(_fold_constants(c2, self.consts, shared.products, shared.even_powers))
            self.group_lines += lines
        self.cse_lines, printed = print_block(self.coeffs)
        self.code = dict(zip([k for k, _ in jobs], printed))
        self.exprs = dict(zip([k for k, _ in jobs], self.coeffs))
        self.lazy_syms = set()
        for key, c in lazy_jobs:
            c2, lines = _edge_groups(c.subs(shared.root), shared.angles, counter)
            c2 = _fold_constants(c2, self.consts, shared.products, shared.even_powers)
            self.lazy_syms |= c2.free_symbols
            self.code[key] = _inline_groups(print_expr(c2), lines)
        self.const_lines = [f"{sym} = {print_expr(val)}" for val, sym in self.consts.items()]
        self.text = "\n".join(self.cse_lines + printed + self.group_lines
                              + [self.code[k] for k, _ in lazy_jobs])
        self.groups = counter[0]


def _used_names(plans: list[_Plan], printed: _Printed, shared: _Shared) -> tuple[set, list]:
    """Step 3: the names the printed text uses (with the difference bases of the outputs, the
    norms in the scales of a used difference and the cosine of every rejection), and the
    differences of all plans (each once; two of the same vectors must have the same scales)."""
    formula = plans[0].formula
    used = set(re.findall(r"\b\w+\b", printed.text))
    differences = {}
    for p in plans:
        for d in p.differences:
            old = differences.setdefault(str(d.sq), d)
            if sp.simplify(old.A * d.B - old.B * d.A) != 0:
                raise ValueError(f"{formula.name}: two differences of {d.x} and {d.y} with other scales")
        used |= {str(b) for _, b in p.parts if str(b).startswith("diff_")}
    differences = [differences[k] for k in sorted(differences)]
    for d in differences:  # the norms in the scales of a difference
        if {str(d.sq), str(d.tot), str(d.vec)} & used:
            used |= set(re.findall(r"\b\w+\b", _scale_code(d.A) + " " + _scale_code(d.B)))
    for r in shared.rejections:
        used.add(str(r.angle.cos))
    return used, differences


def _inline_rejections(plans: list[_Plan]) -> set:
    """The rejections that are the whole result of one output and used once: scaled in place
    (``_rt.rejection(..., scale=k)``), no line of their own."""
    inline_rej = {}
    for i, p in enumerate(plans):
        if p.formula.rank == 1 and len(p.parts) == 1 and str(p.parts[0][1]).startswith("rej_"):
            inline_rej.setdefault(str(p.parts[0][1]), []).append(i)
    uses = {}
    for p in plans:
        for _, b in p.parts:
            uses[str(b)] = uses.get(str(b), 0) + 1
    return {r for r, who in inline_rej.items() if uses[r] == 1}


def _sizes(formula: registry.Formula, inv: _Invariants, shared: _Shared, printed: _Printed) -> dict:
    """Step 5: log10 bounds of the invariants on the float path (for the static finiteness
    proof of :func:`_log_bound`)."""
    sizes = {f"norm_{x}": 60.0 for x in inv.norm} | {f"sqnorm_{x}": 120.0 for x in inv.sq}
    sizes |= {str(v): 120.0 for v in shared.products.values()}
    # inner products: |x.y| <= |x||y| or their own range check, 1e120; sums: sqrt(p)|x| (p <= 1e6)
    # or their own range check, 1e60
    sizes |= {n: -120.0 for n in inv.dots} | {n: -63.0 for n in inv.totals}
    # |A x - B y|^2 <= 1e120 (checked; beyond: an XF), so |1.(A x - B y)| <= sqrt(p) 1e60
    sizes |= {str(d.sq): -120.0 for d in inv.differences} | {str(d.tot): -63.0 for d in inv.differences}
    sizes |= {n: -6.0 for n in inv.dims}
    for a in shared.angles:
        sizes |= {str(a.cos): -0.0, str(a.sin): -0.0, str(a.psi): -0.5, str(a.phi): -0.5}
    sizes |= {f"_h{j}": -3.0 for j in range(printed.groups)}
    sizes |= {str(sym): -math.log10(max(abs(float(val)), 1e-300)) for val, sym in printed.consts.items()}
    for ln in _validate_lines(formula):  # interval-checked scalar arguments: |x| <= max |bound|
        m = re.match(r"_rt\.within\((\w+), (.+?), (.+?), \"", ln)
        if m:
            try:
                lo, hi = (abs(float(eval(t, {"numpy": np}))) for t in (m[2], m[3]))
            except NameError:  # a bound given by another argument: no size known
                continue
            sizes[m[1]] = -math.log10(max(lo, hi, 1e-300))
    return sizes


class _Body:
    """The lines of a body being written, and the step-6 context: the printed coefficients,
    the invariants, the sizes (:meth:`proved`) and the ``_k<i>`` locals (:meth:`name`)."""

    def __init__(self, lines: list[str], printed: _Printed, inv: _Invariants, shared: _Shared,
                 sizes: dict, inline_rej: set, fused: bool):
        self.lines, self.printed, self.inv, self.shared = lines, printed, inv, shared
        self.sizes, self.inline_rej, self.fused = sizes, inline_rej, fused
        self.named = 0

    def proved(self, key, limit) -> bool:
        e = self.printed.exprs.get(key)
        bound = None if e is None else _log_bound(e, self.sizes)
        return bound is not None and bound <= limit

    def name(self, c: str) -> str:
        """``c`` as a local (``_k<i>``) unless it is a name or a number already."""
        if _is_simple(c):
            return c
        k = f"_k{self.named}"
        self.named += 1
        self.lines.append(f"{k} = {c}")
        return k


def _output(i: int, p: _Plan, out: _Body) -> tuple[str, int, str | None]:
    """Step 6, one output: ``(expression, rank, checked)``, with the lines naming its
    coefficients appended to the body.  ``checked`` tells ``_rt.finish`` what may overflow:
    ``"True"`` (nothing), ``"((coefficients,), (norms,))"`` to test, or ``None`` (the result)."""
    f, code, inv, body = p.formula, out.printed.code, out.inv, out.lines
    proved, name = out.proved, out.name
    if f.rank == 0:  # proved below 1e300: no scan of the result
        return (code[(i, None)] if p.parts else "0.0", 0,
                "True" if p.parts and proved((i, None), 298.0) else None)
    pairs = {str(r.symbol): r for r in p.rejections if r.pair}
    paired_x = {sp.Symbol(r.x) for r in pairs.values()}
    ks = {b: name(code[(i, b)]) for _, b in p.parts if b not in paired_x}
    kalpha = {s_: name(code[(i, ("alpha", s_))]) for s_ in pairs}
    terms, coef_names, norms, static = [], [], [], True  # terms: (coefficient, basis code)
    eye = ones2 = whole = None
    limit = 298.0 - 60.0 * f.rank - 1.0  # |coefficient| * |basis entry| (<= 1e60^rank) < 1e297
    safe = set()  # coefficients proved bounded: no reductions at run time

    def size_of(x: str):
        s_ = inv.size(x)
        if s_ == "None":
            return False
        norms.append(s_)
        return True

    bounded = True
    for _, b in p.parts:
        if b in paired_x:
            continue  # emitted with its rejection below
        k = ks[b]
        if str(b) in pairs:
            r = pairs[str(b)]
            size = f"norm_x=norm_{r.x}" if r.x in inv.norm else f"sqnorm_x=sqnorm_{r.x}"
            lazy = f"_near_{r.x}" + (f"_{i}" if out.fused else "")
            body.append(f"# the coefficient of {r.x} once {r.y} is split along {r.x} (needed on "
                        f"near-parallel rows only)")
            body.append(f"{lazy} = lambda: {code[(i, sp.Symbol(r.x))]}  # noqa: E731")
            whole = (f"_rt.rejection_pair({r.x}, {kalpha[str(b)]}, {r.y}, {k}, {lazy}, "
                     f"{r.dot}, {r.angle.cos}, {size})")
            coef_names += [kalpha[str(b)], k]
            safe |= {kalpha[str(b)]} if proved((i, ("alpha", str(b))), limit) else set()
            safe |= {k} if proved((i, b), limit) else set()
            bounded &= size_of(r.x) & size_of(r.y)
            static = False
            continue
        coef_names.append(k)
        if proved((i, b), limit):
            safe.add(k)
        if not re.fullmatch(r"[-\d.()/e]+", k):
            static = False
        if str(b).startswith("diff_"):  # A x - B y: entries <= 1e60 unless its square is an XF
            norms.append(f"sqdiff_{str(b)[5:]}")
            terms.append((k, str(b)))
            continue
        if str(b).startswith("rej_"):
            r = next(r for r in out.shared.rejections if str(r.symbol) == str(b))
            bounded &= size_of(r.x) & size_of(r.y)
            if str(b) in out.inline_rej:
                whole = (f"_rt.rejection({r.y}, {r.x}, {inv.sq_code(r.x)}, {r.dot}, "
                         f"{r.angle.cos}, scale={k})")
            else:
                terms.append((k, str(b)))
            continue
        m = vectors.meaning(b)
        if f.rank == 2 and m.kind == "eye":
            eye = (k, _dim_code(f, m.operands[0]))
            continue
        if f.rank == 2 and m.kind == "outer" and all(
                vectors.meaning(sp.Symbol(o)).kind == "ones" for o in m.operands):
            ones2 = (k, _dim_code(f, vectors.space_of(sp.Symbol(m.operands[0]))))
            continue
        if f.rank == 1 and m.kind == "ones" and len(p.parts) > 1:
            terms.append((k, None))  # times the all-ones vector: broadcasts
            continue
        if m.kind == "vector":
            bounded &= size_of(m.operands[0])
        elif m.kind == "outer":
            for o in m.operands:
                if vectors.meaning(sp.Symbol(o)).kind == "vector":
                    bounded &= size_of(vectors.meaning(sp.Symbol(o)).operands[0])
        terms.append((k, _basis_code(f, b)))
    if whole is not None:
        expr = whole
    elif f.rank == 1 and len(terms) > 1:
        expr = "_rt.combine(" + ", ".join(f"({k}, {b})" for k, b in terms) + ")"
    else:
        expr = " + ".join(f"{_wrap(f)}({k})" + ("" if b is None else f" * {b}") for k, b in terms)
        if ones2 is not None:
            expr = f"_rt.filled({ones2[0]}, {ones2[1]})" + (f" + {expr}" if expr else "")
        if eye is not None:
            fn = "set_diagonal" if p.set_diagonal and ones2 is not None else "add_diagonal"
            expr = f"_rt.{fn}({expr or f'_rt.filled(0.0, {eye[1]})'}, {eye[0]})"
    if static and coef_names and sum(abs(float(sp.sympify(k.replace('numpy.', '')))) for k in coef_names) <= 1:
        checked = "True"  # constant coefficients summing to <= 1 times finite arguments
    elif bounded:
        scan = [k for k in coef_names if k not in safe]
        xf = sorted(set(norms))  # (an XF coefficient makes the result an XF: tested anyway)
        checked = (f"(({', '.join(scan)}{',' if scan else ''}), "
                   f"({', '.join(xf)}{',' if xf else ''}))")
    else:
        checked = None
    return expr or "0.0", f.rank, checked


def _return_lines(results: list, out_names: list[str] | None) -> list[str]:
    """Step 7: ``return _rt.finish(...)`` of one output, or the ``out=`` buffers and one
    ``finish`` per output of a fused function."""
    if out_names is None:
        expr, rank, checked = results[0]
        extra = "" if rank == 0 else f", {rank}"
        extra += f", checked={checked}" if checked else ""
        return [f"return _rt.finish({expr}, _shape{extra})"]
    lines = ["_out = (None,) * %d if out is None else _rt.buffers(out, %d)" % (len(results), len(results))]
    names = []
    for i, ((expr, rank, checked), nm) in enumerate(zip(results, out_names)):
        extra = f", checked={checked}" if checked else ""
        lines.append(f"{nm} = _rt.finish({expr}, _shape, {rank}, _out[{i}]{extra})")
        names.append(nm)
    lines.append(f"return {', '.join(names)}")
    return lines


def _body(plans: list[_Plan], out_names: list[str] | None = None, self_name: str | None = None) -> list[str]:
    """Validation, invariants, CSE of every coefficient of every plan, and the return line(s).
    ``self_name``: the emitted function's own name (large batches then go block by block)."""
    formula = plans[0].formula
    shared = _Shared(plans)
    printed = _Printed(plans, shared)
    used, differences = _used_names(plans, printed, shared)
    symbols = set().union(printed.lazy_syms, *(c.free_symbols for c in printed.coeffs))
    symbols |= {s_ for d in differences for s_ in (d.A * d.B).free_symbols}
    inv = _Invariants(formula, used, shared.angles, shared.rejections, symbols, differences)
    inline_rej = _inline_rejections(plans)
    body = _argument_lines(formula, deferred=inv.tested)
    blocks_at = len(body)
    sizes = _sizes(formula, inv, shared, printed)
    body += inv.lines(shared.angles, [r for r in shared.rejections if str(r.symbol) not in inline_rej], used)
    body += printed.group_lines
    body += printed.const_lines
    body += printed.cse_lines
    out = _Body(body, printed, inv, shared, sizes, inline_rej, out_names is not None)
    results = [_output(i, p, out) for i, p in enumerate(plans)]
    body += _return_lines(results, out_names)
    if self_name is not None:
        body[blocks_at:blocks_at] = _block_lines(self_name, formula, out_names is not None, body[blocks_at:])
    return _dead_code(body, keep={a.name for a in formula.args} | {"out"})
