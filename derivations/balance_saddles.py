"""Thesis ch. 4 (seed 004, sec. 4.3 and 4.7.3; issue 24): the strict saddles of the asymmetric
matrix factorization ``f(U, V) = 1/2 |U V^T - M*|_F^2`` (family ``balance``).

``balance.mf_saddle_min_eig`` (Lemma 4.2, l.4058; Claim 4.5, l.4527): the smallest eigenvalue of
the Hessian of ``f`` at the balanced rank-1 stationary point built on a singular pair ``(sigma_j,
phi_j, psi_j)`` of ``M*`` (``U = sqrt(sigma_j) phi_j``, ``V = sqrt(sigma_j) psi_j``), or at the
origin (``sigma_j = 0``), when ``sigma_1`` is the top singular value.  SymPy builds ``f`` for
``M* = diag(sigma_1, sigma_j)`` (d1 = d2 = 2, r = 1), takes its Hessian at that point
(:func:`sympy.hessian`) and its eigenvalues: ``{sigma_1 + sigma_j, 2 sigma_j, 0, sigma_j -
sigma_1}`` (at the origin ``+-sigma_1, +-sigma_j``), so the point is a strict saddle iff
``sigma_j < sigma_1``, with ``lambda_min = sigma_j - sigma_1``.  For a larger ``M*`` each other
singular pair adds the same 2 x 2 block with its own sigma_k, so the smallest eigenvalue stays
``sigma_j - sigma_1`` (checked on dense Hessians of random ``M*``, numerics/checks/
ch4_saddles.py).
"""
from __future__ import annotations

import sympy as sp

from .knobs import cached
from .registry import Arg, Formula, register

SOURCE = "004 thesis, ch. 4"
S1 = sp.Symbol("sigma_1", positive=True)
SJ = sp.Symbol("sigma_j", nonnegative=True)


def saddle_hessian(at_origin: bool = False) -> sp.Matrix:
    """Hessian of f for M* = diag(sigma_1, sigma_j), r = 1, at the stationary point on sigma_j
    (or at the origin)."""
    u = sp.symbols("u1 u2", real=True)
    v = sp.symbols("v1 v2", real=True)
    U, V = sp.Matrix(2, 1, u), sp.Matrix(2, 1, v)
    R = U * V.T - sp.diag(S1, SJ)
    f = sum(x ** 2 for x in R) / 2
    xs = list(u) + list(v)
    pt = {u[0]: 0, v[0]: 0, u[1]: 0 if at_origin else sp.sqrt(SJ), v[1]: 0 if at_origin else sp.sqrt(SJ)}
    grad = sp.Matrix([sp.diff(f, x) for x in xs]).subs(pt)
    if sp.simplify(grad) != sp.zeros(4, 1):  # pragma: no cover - a derivation regression
        raise AssertionError("not a stationary point")
    return sp.hessian(f, xs).subs(pt)


@cached
def mf_saddle_min_eig() -> sp.Expr:
    """The smallest Hessian eigenvalue at the stationary point on sigma_j (sigma_j <= sigma_1)."""
    eigs = list(saddle_hessian().eigenvals())
    # sigma_j <= sigma_1: the smallest of the four, decided symbolically on the ordering
    d = sp.Symbol("delta", nonnegative=True)
    on = [sp.simplify(e.subs(S1, SJ + d)) for e in eigs]
    low = [e for e, o in zip(eigs, on)
           if all(sp.simplify(p - o).is_nonnegative for p in on)]
    if not low:  # pragma: no cover
        raise ArithmeticError(f"no smallest eigenvalue among {eigs}")
    origin = sorted(saddle_hessian(True).eigenvals(), key=lambda e: e.subs({S1: 2, SJ: 1}))[0]
    if sp.simplify(low[0].subs(SJ, 0) - origin) != 0:  # pragma: no cover
        raise ArithmeticError("the origin's eigenvalue does not continue the family")
    return sp.simplify(low[0])


register(Formula(
    "balance.mf_saddle_min_eig", f"{SOURCE}, Lemma 4.2 (l.4058) and Claim 4.5 (l.4527): strict "
    "saddles",
    (Arg("sigma_1", "scalar", "top singular value of M*", positive=True),
     Arg("sigma_j", "scalar", "singular value the stationary point is built on (0: the origin)",
         domain=(">= 0", "<= sigma_1: the top one or below"))),
    "f = 1/2 |U V^T - M*|_F^2, r = 1; stationary point U = sqrt(sigma_j) phi_j, V = sqrt(sigma_j) "
    "psi_j (the origin for sigma_j = 0); M* with distinct singular values",
    mf_saddle_min_eig, lhs=r"\lambda_{\min}(\nabla^2 f)",
))
