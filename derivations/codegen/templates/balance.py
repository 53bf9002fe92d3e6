"""The balance family's templates: matrix-factorization products, the rank-1 step at its target.

In: ``balance.mf_balance_step``, ``balance.mf_hessian`` (coefficients of the role products
``V^T R^T R V``... derived in :mod:`derivations.balance`) and ``balance.mf_h_next``.  Out: the
source of functions forming the matrix products with ``@`` around the printed scalar
coefficients (:func:`emit_mf_step`, :func:`emit_mf_hessian`), and the default emitter on
:func:`derivations.balance.target_form` with ``h_t = alpha beta - sigma1`` formed exactly
(:func:`emit_at_target`).  Seed 004 (thesis ch. 4)."""
from __future__ import annotations

import sympy as sp

from ... import vectors as V
from ...registry import Formula
from ..functions import emit_function, function_source
from ..printer import print_block
from ...balance import MF_STEP_ROLES, target_form


_MF_PRELUDE = '''\
U = _rt.vector("U", U)
V = _rt.vector("V", V)
M = _rt.vector("M", M)
eta = _rt.scalar("eta", eta)
_rt.require(U.ndim >= 2, "U", f"must be a (d1, r) matrix (plus batch axes), got shape {U.shape}")
_rt.require(V.ndim >= 2 and V.shape[-1] == U.shape[-1], "V",
            f"must be a (d2, r) matrix with r = {U.shape[-1]}, got shape {V.shape}")
_rt.require(M.ndim >= 2 and M.shape[-2:] == (U.shape[-2], V.shape[-2]), "M",
            f"must have shape (..., d1, d2) = (..., {U.shape[-2]}, {V.shape[-2]}), got {M.shape}")
_shape = _rt.batch_shape(("U", U, 2), ("V", V, 2), ("M", M, 2), ("eta", eta, 0))
eta = eta[..., None, None]
_T = lambda A: numpy.swapaxes(A, -1, -2)  # noqa: E731
R = U @ _T(V) - M
'''


def _print_scalar(expr) -> str:
    lines, (val,) = print_block([sp.sympify(expr)], "_c")
    sub = dict(ln.split(" = ", 1) for ln in lines)
    for k in sorted(sub, key=len, reverse=True):
        val = val.replace(k, f"({sub[k]})")
    return val


def emit_mf_step(formula: Formula) -> str:
    parts = {b: c for c, b in V.components(formula.expr, 1)}
    unknown = set(parts) - set(MF_STEP_ROLES)
    if unknown:
        raise ValueError(f"{formula.name}: unexpected roles {sorted(map(str, unknown))}")
    code = {"P_VRRV": "_T(V) @ _T(R) @ R @ V", "P_URRU": "_T(U) @ R @ _T(R) @ U",
            "P_URV": "(_T(U) @ R @ V + _T(V) @ _T(R) @ U)"}
    terms = [f"({_print_scalar(c)}) * ({code[str(b)]})" for b, c in
             sorted(parts.items(), key=lambda kv: str(kv[0]))]
    body = _MF_PRELUDE.splitlines() + [
        f"_out = {' + '.join(terms) if terms else 'numpy.zeros(U.shape[-1:] * 2)'}",
        "return _rt.finish(_out, _shape, 2)"]
    return _wrap(formula, body, "an (r, r) array: the change of U^T U - V^T V in one GD step")


def emit_mf_hessian(formula: Formula) -> str:
    pre = (_MF_PRELUDE.replace('eta = _rt.scalar("eta", eta)\n', "")
           .replace(', ("eta", eta, 0))', ', ("dU", _rt.vector("dU", dU), 2), ("dV", _rt.vector("dV", dV), 2))')
           .replace("eta = eta[..., None, None]\n", ""))
    body = pre.splitlines() + [
        'dU = _rt.vector("dU", dU)',
        'dV = _rt.vector("dV", dV)',
        '_rt.require(dU.shape[-2:] == U.shape[-2:], "dU", f"must have the shape of U {U.shape[-2:]}, got {dU.shape}")',
        '_rt.require(dV.shape[-2:] == V.shape[-2:], "dV", f"must have the shape of V {V.shape[-2:]}, got {dV.shape}")',
        "T1 = numpy.sum(R * (dU @ _T(dV)), axis=(-2, -1))",
        "T2 = numpy.sum((U @ _T(dV) + dU @ _T(V)) ** 2, axis=(-2, -1))",
        "T3 = numpy.sum(R * R, axis=(-2, -1))",
        f"return _rt.finish({_print_scalar(formula.expr)}, _shape)",
    ]
    return _wrap(formula, body, "a float: the quadratic form of the Hessian at (dU, dV)")


def _wrap(formula, body, returns):
    sig = ", ".join(a.name for a in formula.args)
    doc = (f'"""{formula.name}: {formula.source}.\n\n'
           "f(U, V) = 1/2 |U V^T - M|_F^2; R = U V^T - M.  Coefficients printed from the SymPy\n"
           "derivation in derivations/balance.py.\n\nArguments (leading axes broadcast as a batch):\n"
           + "\n".join(f"    {a.name}: {a.meaning}" for a in formula.args)
           + f"\n\nReturns {returns}.  Raises ValueError naming the argument for shapes that do\n"
           "not chain or non-finite entries.  Emitted by `nnderive build`; do not edit.\n"
           '"""')
    return function_source(formula.quantity, sig, doc, body)


def emit_at_target(formula: Formula) -> str:
    """The default emitter on :func:`target_form` of the formula, with ``h_t = alpha beta -
    sigma1`` formed exactly (``_rt.product_minus``: the product split by Dekker's algorithm),
    so ``h_{t+1}`` keeps its relative accuracy as GD reaches the target (the expanded form
    loses ``sigma1 / h``: 6e-7 at 1e-8 from it)."""
    form = target_form(formula.expr)
    clone = Formula(formula.name, formula.source, formula.args, formula.assumptions,
                    (lambda: formula.expr) if form is None else (lambda: form), formula.lhs,
                    formula.rank, validate=formula.validate, notes=formula.notes)
    lines = emit_function(clone).splitlines()
    if form is None:
        return "\n".join(lines) + "\n"
    at = max(i for i, ln in enumerate(lines)
             if ln.strip().startswith(("_rt.require(", "_rt.within(", "_shape = ")))
    pad = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines[at + 1:at + 1] = [f"{pad}# h_t = alpha beta - sigma1, exact to rounding of itself (Dekker product)",
                            f"{pad}h_t = _rt.product_minus(alpha, beta, sigma1)"]
    return "\n".join(lines) + "\n"
