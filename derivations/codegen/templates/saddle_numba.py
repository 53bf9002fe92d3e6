"""The saddle family's compiled template: the octopus ``f`` / ``grad`` / ``hessian`` as Numba
loops over points (issue 25 item 2).

In: the same printed SymPy pieces as the NumPy template (:func:`.saddle.pieces`: the
homogeneity degree, the CSE lines, the per-coordinate terms of ``S_conv`` / ``S_tail`` and the
role-basis coefficients).  Out: :func:`module_source`, the source of
``derivations/generated/saddle_numba.py`` (written by ``nnderive build``; this module registers
itself as a compiled backend's printer in :mod:`derivations.codegen.backends`).

One loop over the points, one pass over each point's coordinates for the region (the first
``|x_j| < 2 tau`` is the active coordinate; the domain test of (7.13) on the others), then the
result coordinate by coordinate, choosing the coefficient of the coordinate's role with a branch
where NumPy masks four full arrays.  Same arithmetic as the NumPy core in the same order: the
``tau`` scaling by ``frexp`` / ``ldexp``, the printed coefficients, and ``S_conv`` / ``S_tail``
summed in NumPy's pairwise order (``_pairwise`` in the generated module, ``numpy.add.reduce`` on a contiguous
row); the only differences are the powers (NumPy's SIMD ``pow`` vs products or libm here, an ulp
or two).  A point outside D or a non-finite result stops the kernel, and the NumPy core then
evaluates the whole batch (so it raises NumPy's own error, naming the argument).
"""
from __future__ import annotations

import ast
import sys
import textwrap

from ... import registry
from .. import backends
from ..numba_header import numba_module_header
from .saddle import pieces

#: the suffix of the generated module (``saddle_numba.py``)
NAME = "numba"
FAMILY = "saddle"
FUNCTIONS = ("f", "grad", "hessian")

_HELPERS = '''\
@_nb.jit
def _pairwise_block(a, lo, n):
    """``sum(a[lo:lo + n])``, ``n <= 128``, in NumPy's order (a plain loop below 8 terms, else
    8 accumulators combined pairwise, then the rest)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@_nb.jit
def _pairwise(a, n):
    """``sum(a[:n])`` in the order of NumPy's ``pairwise_sum`` (``numpy.add.reduce`` over a
    contiguous row: blocks of at most 128 terms, halves above, split at a multiple of 8), so a
    row's sum is NumPy's to the last bit.  The halving is an explicit stack (a recursive kernel
    cannot be cached by Numba)."""
    if n <= 128:
        return _pairwise_block(a, 0, n)
    lo_s = numpy.empty(64, numpy.int64)
    n_s = numpy.empty(64, numpy.int64)
    state = numpy.empty(64, numpy.int64)
    vals = numpy.empty(64)
    lo_s[0], n_s[0], state[0] = 0, n, 0
    sp, vp = 1, 0
    while sp > 0:
        t = sp - 1
        m = n_s[t]
        if m <= 128:
            vals[vp] = _pairwise_block(a, lo_s[t], m)
            vp += 1
            sp -= 1
            continue
        m2 = m // 2
        m2 -= m2 % 8
        if state[t] == 0:  # the left half next
            state[t] = 1
            lo_s[sp], n_s[sp], state[sp] = lo_s[t], m2, 0
            sp += 1
        elif state[t] == 1:  # then the right half
            state[t] = 2
            lo_s[sp], n_s[sp], state[sp] = lo_s[t] + m2, m - m2, 0
            sp += 1
        else:  # both done: left + right
            vals[vp - 2] = vals[vp - 2] + vals[vp - 1]
            vp -= 1
            sp -= 1
    return vals[0]


def _run(kernel, core, shape, x, L, gamma, tau, tail):
    """Rows of the checked arguments to ``kernel``; the result of the batch shape ``shape`` +
    ``tail``, or ``core``'s (the NumPy core) when the kernel stopped at a row it cannot finish."""
    n = math.prod(shape)
    (xr,), (Lr,), (gr,), (tr,) = (_nb.rows(x, shape, 1), _nb.rows(L, shape, 0),
                                  _nb.rows(gamma, shape, 0), _nb.rows(tau, shape, 0))
    out = numpy.empty((n,) + tail)
    if kernel(n, xr, Lr, gr, tr, out, numpy.empty(x.shape[-1]), numpy.empty(x.shape[-1])):
        return core(shape, x, L, gamma, tau)
    out = out.reshape(tuple(shape) + tail)
    return out[()] if out.ndim == 0 else out
'''

_REGION = '''\
L = L_all[_i]
gamma = gamma_all[_i]
tau = tau_all[_i]
{scale}
# Region (7.12)/(7.13): the active coordinate _a is the first with |x_j| < 2 tau (d if none)
_a = _d
for _j in range(_d):
    if abs(_xb[_j]) < 2.0 * tau:
        _a = _j
        break
for _j in range(_d):
    y_j = abs(_xb[_j])
    if _j < _a:
        if not y_j <= 6.0 * tau:
            return 1  # outside D: the NumPy core raises its error
    elif _j > _a and not y_j <= tau:
        return 1
u = abs(_xb[_a]) if _a < _d else 0.0
v = abs(_xb[_a + 1]) if _a + 1 < _d else 0.0
k = float(_a)
R_quad = 1.0 if u <= tau else 0.0
R_spline = 1.0 - R_quad
'''

#: ``x * 2**k``: a product by the power of two where that is a normal number (exactly what
#: ``ldexp`` returns, one rounding where the result is subnormal), else ``ldexp`` (a libm call)
_LDEXP = "(({v}) * {p} if {p} != 0.0 else math.ldexp({v}, {k}))"


def _names(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


def _check_plain(code: str) -> None:
    """The kernels copy the printed lines as they are: plain float arithmetic only."""
    for n in ast.walk(ast.parse(code)):
        if isinstance(n, (ast.Call, ast.Attribute)):
            raise NotImplementedError(f"saddle_numba: a call in a printed piece: {code[:60]}")


def _split(lines: list[str]) -> tuple[list[str], list[str]]:
    """CSE lines ``_tN = ...`` split into those of the point (outside the coordinate loop) and
    those depending on the coordinate ``y_j`` (inside it)."""
    point, coord, per = [], [], {"y_j"}
    for ln in lines:
        _check_plain(ln)
        name, rhs = ln.split(" = ", 1)
        if _names(rhs) & per:
            per.add(name)
            coord.append(ln)
        else:
            point.append(ln)
    return point, coord


def _kernel(formula: registry.Formula) -> str:
    """The kernel ``_<name>_kernel(_n, x_all, L_all, gamma_all, tau_all, _o, _buf, _xb)`` -> 0,
    or 1 at the first point it cannot finish (outside D, a non-finite result); ``_buf``, ``_xb``:
    scratch rows (the terms of a sum; the point's coordinates scaled by ``2^-e``)."""
    pc = pieces(formula)
    deg = pc["deg"]
    name = formula.quantity
    scaled = deg is not None
    xj = "_xb[_j]"
    if scaled:
        scale = [f"# F is homogeneous (degree {deg}): evaluate at tau in [0.5, 1)"
                 + (f", scale back by 2^({deg} _e)" if deg else ""),
                 "_e = math.frexp(tau)[1]",
                 "tau = math.ldexp(tau, -_e)",
                 "_p = math.ldexp(1.0, -_e) if -1022 <= -_e <= 1023 else 0.0",
                 "for _j in range(_d):",
                 "    _xb[_j] = " + _LDEXP.format(v="x_all[_i, _j]", p="_p", k="-_e")]
        if deg:
            scale.append(f"_q = math.ldexp(1.0, {deg} * _e) if -1022 <= {deg} * _e <= 1023 else 0.0")
    else:
        scale = ["for _j in range(_d):", "    _xb[_j] = x_all[_i, _j]"]
    region = _REGION.format(scale="\n".join(scale))
    point, coord = _split(pc["lines"])
    spoint, scoord = _split(pc["sum_lines"])
    vals = pc["values"]
    used = _names("\n".join(pc["lines"] + (list(vals) if isinstance(vals, list) else list(vals.values()))))
    body = region.splitlines()
    if used & {"S_conv", "S_tail"}:
        body += spoint
        for part, mask in (("conv", "_j < _a"), ("tail", "_j > _a + 1")):
            _check_plain(pc[part])
            body += ["for _j in range(_d):", f"    y_j = abs({xj})"]
            body += [f"    {ln}" for ln in scoord]
            body += [f"    _buf[_j] = {pc[part]} if {mask} else 0.0",
                     f"S_{part} = 0.0 + _pairwise(_buf, _d)"]
    body += point
    back = (lambda e: _LDEXP.format(v=e, p="_q", k=f"{deg} * _e")) if deg else (lambda e: e)
    if formula.rank == 0:
        (val,) = vals
        _check_plain(val)
        body += [f"_v = {back(val)}",
                 "if not math.isfinite(_v):",
                 "    return 1",
                 "_o[_i] = _v"]
    elif formula.rank == 1:
        for c in vals.values():
            _check_plain(c)
        body += ["for _j in range(_d):",
                 f"    _x = {xj}",
                 "    y_j = abs(_x)"]
        body += [f"    {ln}" for ln in coord]
        body += ["    if _j < _a:",
                 f"        _c = {vals['e_conv']}",
                 "    elif _j == _a:",
                 f"        _c = {vals['e_act']}",
                 "    elif _j == _a + 1:",
                 f"        _c = {vals['e_next']}",
                 "    else:",
                 f"        _c = {vals['e_tail']}",
                 "    _s = 1.0 if _x > 0.0 else (-1.0 if _x < 0.0 else 0.0)",
                 f"    _c = {back('_s * _c')}",
                 "    if not math.isfinite(_c):",
                 "        return 1",
                 "    _o[_i, _j] = _c"]
    else:
        for c in vals.values():
            _check_plain(c)
        # NumPy: c (e_a e_n^T + e_n e_a^T) + diag(_diag); entries off the pattern are +-0
        body += [f"_cn = {vals['H_an']}",
                 "if not math.isfinite(_cn):",
                 "    return 1",
                 "for _j in range(_d):",
                 "    for _l in range(_d):",
                 "        _o[_i, _j, _l] = 0.0",
                 f"    _x = {xj}",
                 "    y_j = abs(_x)"]
        body += [f"    {ln}" for ln in coord]
        body += ["    if _j < _a:",
                 f"        _c = {vals['H_conv']}",
                 "    elif _j == _a:",
                 f"        _c = {vals['H_aa']}",
                 "    elif _j == _a + 1:",
                 f"        _c = {vals['H_nn']}",
                 "    else:",
                 f"        _c = {vals['H_tail']}",
                 *([f"    _c = {back('_c')}"] if deg else []),
                 "    if not math.isfinite(_c):",
                 "        return 1",
                 "    _o[_i, _j, _j] = _c",
                 "if _a + 1 < _d:",
                 "    _x = _xb[_a]",
                 "    _sa = 1.0 if _x > 0.0 else (-1.0 if _x < 0.0 else 0.0)",
                 "    _x = _xb[_a + 1]",
                 "    _sn = 1.0 if _x > 0.0 else (-1.0 if _x < 0.0 else 0.0)",
                 f"    _o[_i, _a, _a + 1] = {back('_cn * (_sa * _sn + 0.0)')}",
                 "    _o[_i, _a + 1, _a] = _o[_i, _a, _a + 1]"]
    head = (f"@_nb.jit\n"
            f"def _{name}_kernel(_n, x_all, L_all, gamma_all, tau_all, _o, _buf, _xb):\n"
            f'    """The points of :func:`{name}` (0; 1 at the first point outside D or with a\n'
            f'    non-finite result: the NumPy core then takes the batch)."""\n'
            "    _d = x_all.shape[1]\n"
            "    for _i in range(_n):\n")
    return head + textwrap.indent("\n".join(body), "        ") + "\n    return 0\n"


def _wrapper(formula: registry.Formula) -> str:
    name = formula.quantity
    tail = {0: "()", 1: "(x.shape[-1],)", 2: "(x.shape[-1], x.shape[-1])"}[formula.rank]
    return (f"def {name}(_core, _shape, x, L, gamma, tau):\n"
            f'    """:func:`derivations.generated.saddle.{name}` on checked arguments of batch shape\n'
            f'    ``_shape``, compiled (its public function calls this after its checks; ``_core``: its\n'
            f'    NumPy core, for a batch with a point the kernel cannot finish)."""\n'
            f"    return _run(_{name}_kernel, _core, _shape, x, L, gamma, tau, {tail})\n")


def module_source(family: str) -> str:
    """The generated ``saddle_numba.py`` ("" for any other family)."""
    if family != FAMILY:
        return ""
    formulas = [registry.get(f"{FAMILY}.{n}") for n in FUNCTIONS]
    header = numba_module_header(
        "# Generated by `nnderive build` (derivations/codegen/templates/saddle_numba.py) from the SymPy\n"
        "# derivations in derivations/saddle/octopus.py.  Do not edit: rebuild with `nnderive build`.\n"
        '"""Compiled (Numba) octopus of the ``saddle`` family: f, grad, hessian.\n\n'
        "One loop over the points, a branch per region (derivations/codegen/templates/saddle_numba.py);\n"
        "the same printed SymPy pieces as the NumPy core, which takes a batch with a point outside D.\n"
        "Imported only when the compiled backend is in use.\n"
        '"""\n',
        list(FUNCTIONS))
    parts = [_HELPERS] + [_kernel(f) + "\n\n" + _wrapper(f) for f in formulas]
    return header + "\n\n" + "\n\n".join(p.rstrip("\n") + "\n" for p in parts)


def dispatch_lines(formula, name, fused, core) -> list[str]:
    """None: the saddle template prints its own dispatch (:func:`.saddle.emit`)."""
    return []


def reset(family: str) -> None:
    """Nothing to forget: :func:`module_source` prints from the registry each time."""


backends.register(sys.modules[__name__])
