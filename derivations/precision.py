"""High-precision evaluation of derived expressions with mpmath (default 50 digits).

Used to check the emitted float64 code (emission fidelity and conditioning) and to compare the
paper's printed statements with the derivations at random points.  Inputs are float64 arrays;
they are converted to mpmath numbers exactly, and every invariant (norm, inner product, sum,
angle) is recomputed at the working precision.
"""
from __future__ import annotations

from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from . import vectors as V


def _mp_vec(x) -> list:
    return [mpmath.mpf(float(t)) for t in np.asarray(x, dtype=np.float64).ravel()]


def _invariant(m: V.Meaning, vecs: dict, dims: dict):
    if m.kind == "dim":
        return mpmath.mpf(dims[m.operands[0]])
    if m.kind == "norm":
        return mpmath.sqrt(mpmath.fsum(t * t for t in vecs[m.operands[0]]))
    if m.kind == "dot":
        x, y = vecs[m.operands[0]], vecs[m.operands[1]]
        return mpmath.fsum(s * t for s, t in zip(x, y))
    if m.kind == "total":
        return mpmath.fsum(vecs[m.operands[0]])
    if m.kind == "angle":
        x, y = vecs[m.operands[0]], vecs[m.operands[1]]
        nx = mpmath.sqrt(mpmath.fsum(t * t for t in x))
        ny = mpmath.sqrt(mpmath.fsum(t * t for t in y))
        dif = mpmath.sqrt(mpmath.fsum((s / nx - t / ny) ** 2 for s, t in zip(x, y)))
        sm = mpmath.sqrt(mpmath.fsum((s / nx + t / ny) ** 2 for s, t in zip(x, y)))
        return 2 * mpmath.atan2(dif, sm)
    raise ValueError(m)


def _vec(name: str, vecs: dict, dims: dict) -> list:
    m = V.meaning(sp.Symbol(name))
    if m.kind == "ones":
        return [mpmath.mpf(1)] * dims[m.operands[0]]
    return vecs[name]


def _basis(m: V.Meaning, vecs: dict, dims: dict):
    if m.kind == "vector":
        return mpmath.matrix(vecs[m.operands[0]])
    if m.kind == "ones":
        return mpmath.matrix([mpmath.mpf(1)] * dims[m.operands[0]])
    if m.kind == "outer":
        x, y = (_vec(n, vecs, dims) for n in m.operands)
        return mpmath.matrix([[s * t for t in y] for s in x])
    if m.kind == "eye":
        return mpmath.eye(dims[m.operands[0]])
    raise ValueError(m)


@lru_cache(maxsize=None)
def _compiled(expr: sp.Expr, rank: int):
    parts = V.components(expr, rank)
    out = []
    for coeff, basis in parts:
        expanded = sp.expand(coeff)
        terms = list(expanded.args) if isinstance(expanded, sp.Add) else [expanded]
        syms = sorted(coeff.free_symbols, key=str)
        fns = [sp.lambdify(syms, t, modules="mpmath") for t in terms]
        out.append((syms, fns, basis))
    return out


def evaluate(formula, args: dict, dps: int = 50, expr: sp.Expr | None = None):
    """Evaluate ``expr`` (default ``formula.expr``) at one point with ``dps`` digits.

    ``args`` maps argument names to float64 values (a single point, no batch axes).  Returns
    ``(value, scale)`` as float64 arrays of the output shape: ``value`` rounded from the
    high-precision result, ``scale`` the sum of the absolute values of the terms that are
    added (the size of any cancellation the float64 code must survive).
    """
    expr = formula.expr if expr is None else expr
    with mpmath.workdps(dps):
        vecs, dims, scalars = {}, {}, {}
        for a in formula.args:
            if a.kind == "vector":
                vecs[a.name] = _mp_vec(args[a.name])
                dims[a.space] = len(vecs[a.name])
            elif a.kind == "int":
                dims[a.space] = int(args[a.name])
                scalars[a.name] = mpmath.mpf(int(args[a.name]))
            else:
                scalars[a.name] = mpmath.mpf(float(args[a.name]))
        value, scale = None, None
        for syms, fns, basis in _compiled(expr, formula.rank):
            vals = []
            for s in syms:
                m = V.meaning(s)
                vals.append(scalars[str(s)] if m is None else _invariant(m, vecs, dims))
            terms = [f(*vals) for f in fns]
            c, cs = mpmath.fsum(terms), mpmath.fsum(abs(t) for t in terms)
            if basis is None:
                v, sc = c, cs
            else:
                b = _basis(V.meaning(basis), vecs, dims)
                v = b * c
                sc = b.apply(abs) * cs
            value = v if value is None else value + v
            scale = sc if scale is None else scale + sc
        return _to_float(value), _to_float(scale)


def _to_float(x) -> np.ndarray:
    if isinstance(x, mpmath.matrix):
        arr = np.array([[float(x[i, j]) for j in range(x.cols)] for i in range(x.rows)])
        return arr.ravel() if x.cols == 1 else arr
    return np.asarray(float(x))
