"""The kernels family's compiled Gram template: ``h_inf_gram``, ``arccos1_gram``, ``g_inf_gram``,
``v_inf_gram`` as BLAS's Gram, NumPy's SIMD ``arccos`` and compiled fused passes, in tiles of
rows (issue 25 item 2).

In: the same printed SymPy pieces as the NumPy template (:func:`.kernels.gram_pieces`: the CSE
lines and the result expression on ``norm_x``, ``norm_y``, ``dot_x_y``, ``phi_x_y``, ``dim_d``,
``_c``, ``_s``).  Out: :func:`module_source`, the source of
``derivations/generated/kernels_gram_numba.py`` (``nnderive build``; this module registers
itself as a compiled backend's printer in :mod:`derivations.codegen.backends`; the per-pair
kernels' ``kernels_numba.py`` is the per-row printer's).

Measured before writing it (docs/guide.md, "Backends"): of NumPy's ``h_inf_gram`` at n = 2000,
d = 100 the matrix product is 26%, ``arccos`` 8%, the other elementwise passes over n x n
temporaries 65%; a per-pair compiled loop would call the scalar libm ``acos`` (slower than the
whole NumPy function).  So: the same ``numpy.matmul(X, X.T)`` (BLAS's symmetric product, the
same bits as NumPy's), then per tile of rows ``[lo, hi)`` and the columns ``[lo, n)`` (the upper
triangle and a small square): one compiled pass for the clipped cosine, NumPy's ``arccos`` on the
tile, one compiled pass for the printed expression written over the product in place and
mirrored to the lower triangle.  The same operations in the same order as NumPy per entry (the
lower triangle is the upper one's mirror: equal to NumPy's where its printed product of the norms
is symmetric, else within an ulp or two).  The diagonal has angle 0 and sine 0, as NumPy's
Kahan angle gives there; the near-parallel and antiparallel pairs off it (``|cos| > 0.9``, rare
in data) are returned as indices and the public function evaluates them by the same pair form
as its NumPy path.  Norms outside ``[1e-150, 1e150]`` (where ``|x| |y|`` could leave the normal
range) and a batch of Gram matrices (``X.ndim > 2``) stay NumPy's (the wrapper returns None).
"""
from __future__ import annotations

import ast
import sys
import textwrap

from ... import registry
from .. import backends
from ..numba_header import numba_module_header

#: the generated module is ``kernels_gram_numba.py`` (``kernels_numba.py`` is the per-row
#: printer's); the NumPy functions ask ``_rt.compiled("kernels_gram", "<name>_gram")``
NAME = "gram_numba"
FAMILY = "kernels"
FUNCTIONS = ("h_inf_gram", "arccos1_gram", "g_inf_gram", "v_inf_gram")
#: doubles per tile buffer (the cosine and the angle of ``TILE // n`` rows: 2 x 256 KB)
TILE = 32768

_COSINE = '''\
@_nb.jit
def _cosine(D, nrm, lo, hi, c):
    """``c[i - lo, j - lo]`` = NumPy's clipped cosine ``D[i, j] / (|x_i| |x_j|)`` for the rows
    ``[lo, hi)`` and columns ``[lo, n)`` (finite: the wrapper's norms are in range); the number
    of entries with ``|c| > 0.9`` (the diagonal's ``hi - lo`` among them: ``|c| = 1`` there to an
    ulp), in a loop without branches (vectorized)."""
    n = D.shape[0]
    near = 0
    for i in range(lo, hi):
        ni = nrm[i]
        for j in range(lo, n):
            v = min(max(D[i, j] / (ni * nrm[j]), -1.0), 1.0)
            c[i - lo, j - lo] = v
            near += abs(v) > 0.9
    return near


@_nb.jit
def _mirror(D, lo, hi, low):
    """The lower triangle of the columns ``[lo, hi)``: ``D[j, i] = low[i - lo, j - lo]`` for
    ``j > i`` (the fill's values with the pair's roles swapped)."""
    n = D.shape[0]
    for j in range(lo + 1, n):
        for i in range(lo, min(hi, j)):
            D[j, i] = low[i - lo, j - lo]


def _run(fill, X, nrm, dim_d):
    """The Gram of the rows of ``X`` (norms ``nrm``) by ``fill`` tile by tile, and the indices
    ``(I, J)`` (both orders, row-major) of the pairs off the diagonal with ``|cos| > 0.9``; None
    where this call stays NumPy's (a batch of data sets, norms near the ends of the range)."""
    if X.ndim != 2 or not (nrm.min() >= 1e-150 and nrm.max() <= 1e150):
        return None
    D = numpy.matmul(X, numpy.swapaxes(X, -1, -2))  # (NumPy's own call: BLAS's symmetric product)
    n = D.shape[0]
    rows = max(1, min(n, TILE // n))
    cb = numpy.empty(rows * n)
    pb = numpy.empty(rows * n)
    near_i, near_j = [], []
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        w = n - lo
        c = cb[:(hi - lo) * w].reshape(hi - lo, w)
        p = pb[:(hi - lo) * w].reshape(hi - lo, w)
        if _cosine(D, nrm, lo, hi, c) > hi - lo:  # (a near pair off the diagonal)
            ii, jj = numpy.nonzero(numpy.abs(c) > 0.9)
            ii, jj = ii + lo, jj + lo
            up = jj > ii
            near_i.append(ii[up])
            near_j.append(jj[up])
        numpy.arccos(c, out=p)
        fill(D, nrm, lo, hi, c, p, dim_d)
        _mirror(D, lo, hi, c)  # (the fill leaves the lower triangle's values in c)
    if not near_i:
        e = numpy.empty(0, numpy.intp)
        return D, (e, e)
    I = numpy.concatenate(near_i + near_j)
    J = numpy.concatenate(near_j + near_i)
    order = numpy.lexsort((J, I))
    return D, (I[order], J[order])
'''


def _canonical(code: str, swap: bool) -> str:
    """``code``'s AST dump with ``norm_x`` and ``norm_y`` swapped (``swap``) and the operands of
    each product of two names sorted (``a*b`` and ``b*a`` round alike)."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if swap and isinstance(node, ast.Name) and node.id in ("norm_x", "norm_y"):
            node.id = "norm_y" if node.id == "norm_x" else "norm_x"
    for node in ast.walk(tree):
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)
                and isinstance(node.left, ast.Name) and isinstance(node.right, ast.Name)
                and node.left.id > node.right.id):
            node.left, node.right = node.right, node.left
    return ast.dump(tree)


def symmetric(lines: list[str], printed: str) -> bool:
    """Whether the printed lines give the same bits with the pair's roles swapped (then the
    lower triangle is the upper one's mirror; else the fill evaluates it again, as NumPy does)."""
    code = "\n".join(lines + [f"_r = {printed}"])
    return _canonical(code, True) == _canonical(code, False)


def _function(formula: registry.Formula) -> str:
    from .kernels import gram_pieces

    lines, printed, uses_sin = gram_pieces(formula)
    name = formula.quantity
    body = ["phi_x_y = p[i - lo, j - lo]", "_c = c[i - lo, j - lo]"]
    if uses_sin:
        body.append("_s = math.sqrt(1.0 - _c * _c)")
    body += ["if j == i:  # (Kahan's angle on the diagonal, as in NumPy: 0, and the sine 0)",
             "    phi_x_y = 0.0"]
    if uses_sin:
        body.append("    _s = 0.0")
    body += ["norm_y = nrm[j]", "dot_x_y = D[i, j]"] + lines + [f"_r = {printed}", "D[i, j] = _r"]
    if symmetric(lines, printed):
        body.append("c[i - lo, j - lo] = _r  # (the same bits with x and y swapped)")
    else:  # the entry (j, i) as NumPy computes it: norm_x = |x_j|, norm_y = |x_i|
        body += ["norm_x, norm_y = norm_y, norm_x"] + lines + [
            f"c[i - lo, j - lo] = {printed}", "norm_x = nrm[i]"]
    kernel = (
        "@_nb.jit\n"
        f"def _{name}_fill(D, nrm, lo, hi, c, p, dim_d):\n"
        f'    """:func:`derivations.generated.kernels.{name}` on the rows ``[lo, hi)`` and columns\n'
        f'    ``[j >= i]``, written over the product ``D``: its printed expression, one pair at a time."""\n'
        "    n = D.shape[0]\n"
        "    for i in range(lo, hi):\n"
        "        norm_x = nrm[i]\n"
        "        for j in range(i, n):\n"
        + textwrap.indent("\n".join(body), "            ") + "\n")
    wrapper = (
        f"def {name}(X, nrm):\n"
        f'    """The Gram of :func:`derivations.generated.kernels.{name}` on checked rows ``X`` with\n'
        f"    norms ``nrm``: ``(G, (I, J))`` with the near-parallel pairs off the diagonal to evaluate\n"
        f'    by the pair form, or None (this call stays NumPy\'s)."""\n'
        f"    return _run(_{name}_fill, X, nrm, X.shape[-1])\n")
    return kernel + "\n\n" + wrapper


def module_source(family: str) -> str:
    """The generated ``kernels_gram_numba.py`` ("" for any other family)."""
    if family != FAMILY:
        return ""
    parts = [_function(registry.get(f"{FAMILY}.{q}")) for q in FUNCTIONS]
    header = numba_module_header(
        "# Generated by `nnderive build` (derivations/codegen/templates/kernels_numba.py) from the\n"
        "# SymPy derivations in derivations/kernels.py.  Do not edit: rebuild with `nnderive build`.\n"
        f'"""Compiled (Numba) Gram matrices of the ``kernels`` family: {", ".join(FUNCTIONS)}.\n\n'
        "BLAS's Gram, NumPy's arccos and compiled fused passes in tiles of rows\n"
        "(derivations/codegen/templates/kernels_numba.py).  Imported only when the compiled backend\n"
        "is in use.\n"
        '"""\n',
        list(FUNCTIONS)) + (
        f"#: doubles per tile buffer (two buffers: the cosine and the angle of TILE // n rows)\n"
        f"TILE = {TILE}\n"
    )
    return header + "\n\n" + "\n\n".join(p.rstrip("\n") + "\n" for p in [_COSINE] + parts)


def dispatch_lines(formula, name, fused, core) -> list[str]:
    """None: the kernels template prints the Grams' dispatch (:func:`.kernels.gram_emitter`)."""
    return []


def reset(family: str) -> None:
    """Nothing to forget: :func:`module_source` prints from the registry each time."""


backends.register(sys.modules[__name__])
