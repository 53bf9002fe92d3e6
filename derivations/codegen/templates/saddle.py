"""The saddle family's template: the octopus function of thesis ch. 7 (seed 004) by regions.

In: ``saddle.octopus_f`` / gradient / Hessian (role-basis pieces derived in
:mod:`derivations.saddle.octopus`).  Out: the source of each function (:func:`emit`): the
region and interface selection of (7.12)/(7.13) as a fixed template, every polynomial piece and
the role sums printed from the SymPy expressions, scaled by an exact power of two where the
expression is homogeneous (:func:`derivations.saddle.octopus.homogeneity_degree`)."""
from __future__ import annotations

import ast

import sympy as sp

from ... import vectors as V
from ...registry import Formula
from ..blocks import core_name
from ..functions import function_source
from ..printer import print_block
from ...saddle.octopus import CONV_TERM, GRAD_BASIS, HESS_BASIS, homogeneity_degree, TAIL_TERM


_CHECKS = '''\
x = _rt.vector("x", x)
L = _rt.scalar("L", L)
gamma = _rt.scalar("gamma", gamma)
tau = _rt.scalar("tau", tau)
_rt.positive("gamma", gamma)
_rt.positive("tau", tau)
_rt.require(L >= gamma, "L", "must be >= gamma (the proofs need L >= gamma > 0)")
_shape = _rt.batch_shape(("x", x, 1), ("L", L, 0), ("gamma", gamma, 0), ("tau", tau, 0))
_d = x.shape[-1]
_rt.require(_d >= 2, "x", f"must have length d >= 2 (got d = {_d})")
'''

_PRELUDE = '''\
_d = x.shape[-1]
x = numpy.broadcast_to(x, _shape + (_d,))
L = numpy.broadcast_to(L, _shape)[..., None]
gamma = numpy.broadcast_to(gamma, _shape)[..., None]
tau = numpy.broadcast_to(tau, _shape)[..., None]
# Region (7.12)/(7.13): the active coordinate is the first with |x_j| < 2 tau (d if none);
# at |x_j| = 2 tau both adjacent formulas hold (C2), and this choice is valid whenever x in D.
y_j = numpy.abs(x)
_below = y_j < 2.0 * tau
_a = numpy.where(numpy.any(_below, axis=-1, keepdims=True),
                 numpy.argmax(_below, axis=-1)[..., None], _d)
_j = numpy.arange(_d)
_conv = _j < _a
_act = _j == _a
_next = _j == _a + 1
_tail = _j > _a + 1
_rt.require(numpy.where(_conv, y_j <= 6.0 * tau, True), "x",
            "must lie in the octopus domain D of (7.13): a coordinate with |x_j| > 6 tau")
_rt.require(numpy.where(_next | _tail, y_j <= tau, True), "x",
            "must lie in the octopus domain D of (7.13): after the first coordinate with "
            "|x_i| < 2 tau every later |x_j| must be <= tau")
u = numpy.sum(numpy.where(_act, y_j, 0.0), axis=-1, keepdims=True)
v = numpy.sum(numpy.where(_next, y_j, 0.0), axis=-1, keepdims=True)
k = _a.astype(numpy.float64)
R_quad = (u <= tau).astype(numpy.float64)
R_spline = 1.0 - R_quad
'''


class _Products(ast.NodeTransformer):
    """``a**n`` (an integral exponent, ``|n| <= 8``) -> ``(a*a*...*a)``, ``1/(...)`` for ``n < 0``."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if not isinstance(node.op, ast.Pow):
            return node
        e = node.right
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and isinstance(e.operand, ast.Constant):
            n = -e.operand.value
        elif isinstance(e, ast.Constant):
            n = e.value
        else:
            return node
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n != int(n) or not 1 <= abs(n) <= 8:
            return node
        prod = node.left
        for _ in range(abs(int(n)) - 1):
            prod = ast.BinOp(prod, ast.Mult(), node.left)
        return prod if n > 0 else ast.BinOp(ast.Constant(1.0), ast.Div(), prod)


def _products(code: str) -> str:
    """Integral powers of the printed pieces as explicit products (:class:`_Products`), left to
    right: NumPy evaluates ``x**3`` with its own (SIMD) ``pow`` and a compiled loop with products
    or libm, an ulp apart; written as products, both backends do the same operations in the same
    order and agree to the last bit (the NumPy-vs-compiled test, tests/test_backend_saddle.py)."""
    return ast.unparse(_Products().visit(ast.parse(code)))


def _print(exprs, prefix):
    lines, values = print_block([sp.sympify(e) for e in exprs], prefix)
    return [_products(ln) for ln in lines], [_products(v) for v in values]


def pieces(formula: Formula) -> dict:
    """The SymPy pieces of ``saddle.f`` / ``grad`` / ``hessian`` printed once, for both backends'
    templates (this NumPy one and :mod:`.saddle_numba`): ``deg`` (the homogeneity degree, or
    None), ``sum_lines`` / ``conv`` / ``tail`` (the CSE lines and the per-coordinate terms of
    ``S_conv`` and ``S_tail``, in ``y_j``), ``lines`` (the CSE lines of the result) and
    ``values``: ``[f]``, or the coefficients of ``formula``'s role basis by name."""
    expr = formula.expr
    sum_lines, (conv, tail) = _print([CONV_TERM, TAIL_TERM], "_s")
    out = {"deg": homogeneity_degree(expr), "sum_lines": sum_lines, "conv": conv, "tail": tail}
    if formula.rank == 0:
        out["lines"], out["values"] = _print([expr], "_t")
        return out
    basis = GRAD_BASIS if formula.rank == 1 else HESS_BASIS
    parts = dict((b, c) for c, b in V.components(expr, formula.rank))
    unknown = set(parts) - set(basis)
    if unknown:
        raise ValueError(f"{formula.name}: unexpected basis symbols {sorted(map(str, unknown))}")
    coeffs = [parts.get(b, sp.Integer(0)) for b in basis]
    lines, printed = _print(coeffs, "_t")
    out["lines"], out["values"] = lines, dict(zip((str(b) for b in basis), printed))
    return out


def _docstring(formula: Formula, returns: str) -> str:
    return (
        f'"""{formula.name}: {formula.source}.\n\n'
        "The octopus f(x) = F_tube(|x_1|, ..., |x_d|) on the domain D of (7.13) (which contains\n"
        "[-1, 1]^d); F_tube is (7.6)-(7.10) with the derived connectors g1, g2 and nu.\n\n"
        "Arguments (leading axes broadcast as a batch):\n"
        "    x: (..., d), d >= 2 - the point\n"
        "    L: (...) - stable curvature, L >= gamma\n"
        "    gamma: (...) (> 0) - unstable curvature\n"
        "    tau: (...) (> 0) - saddle-region width (thesis: tau = e)\n\n"
        f"Returns {returns}.  Raises ValueError naming the argument for d < 2, non-finite x,\n"
        "gamma <= 0, tau <= 0, L < gamma, or x outside D.  Emitted by `nnderive build`; do not edit.\n"
        '"""'
    )


_SCALE = """\
# F is homogeneous: F(s x; L, gamma, s tau) = s^{deg} F(x; L, gamma, tau) (degree derived by
# SymPy at build time).  Evaluate at tau in [0.5, 1) and scale back by an exact power of two, so
# that no tau (1e-300 .. 1e300) under- or overflows inside the polynomial pieces.
_e = numpy.frexp(tau)[1]
x = numpy.ldexp(x, _e * -1)
tau = numpy.ldexp(tau, _e * -1)"""


def emit(formula: Formula) -> str:
    """Source of ``f``, ``grad`` or ``hessian`` (dispatch on ``formula.rank``), built from
    ``formula.expr`` (the template or its role-basis derivatives): the public function (argument
    checks, then the compiled version when the backend in use has one, :mod:`.saddle_numba`) and
    its NumPy core ``_<name>_core(_shape, x, L, gamma, tau)`` (regions, domain test, result)."""
    pc = pieces(formula)
    deg = pc["deg"]
    head, regions = _PRELUDE.split("# Region (7.12)")
    body = head.splitlines()
    if deg is not None:
        body += _SCALE.replace("{deg}", str(deg)).splitlines()
    body += ("# Region (7.12)" + regions).splitlines() + pc["sum_lines"] + [
        f"S_conv = numpy.sum(numpy.where(_conv, {pc['conv']}, 0.0), axis=-1, keepdims=True)",
        f"S_tail = numpy.sum(numpy.where(_tail, {pc['tail']}, 0.0), axis=-1, keepdims=True)",
    ]
    body += pc["lines"]
    if formula.rank == 0:
        (val,) = pc["values"]
        body += [f"_f = numpy.broadcast_to({val}, _shape + (1,))[..., 0]"]
        if deg:
            body.append(f"_f = _rt.ldexp(_f, {deg} * _e[..., 0])")
        body.append("return _rt.finish(_f, _shape)")
        returns = "an array of the batch shape"
    else:
        c = pc["values"]
        if formula.rank == 1:
            body += [
                f"_g = (numpy.where(_conv, {c['e_conv']}, 0.0) + numpy.where(_act, {c['e_act']}, 0.0)",
                f"      + numpy.where(_next, {c['e_next']}, 0.0) + numpy.where(_tail, {c['e_tail']}, 0.0))",
                "_g = numpy.sign(x) * _g",
            ]
            if deg:
                body.append(f"_g = _rt.ldexp(_g, {deg} * _e)")
            body.append("return _rt.finish(_g, _shape, 1)")
            returns = "an array of shape batch + (d,)"
        else:
            body += [
                "# diagonal: F is even in each coordinate, so no sign factor",
                f"_diag = (numpy.where(_conv, {c['H_conv']}, 0.0) + numpy.where(_tail, {c['H_tail']}, 0.0)",
                f"         + numpy.where(_act, {c['H_aa']}, 0.0) + numpy.where(_next, {c['H_nn']}, 0.0))",
                "_diag = numpy.broadcast_to(_diag, _shape + (_d,))",
                "_s = numpy.sign(x)",
                "_ea = numpy.where(_act, _s, 0.0)",
                "_en = numpy.where(_next, _s, 0.0)",
                f"_c = numpy.broadcast_to({c['H_an']}, _shape + (1,))[..., None]",
                "_H = _c * (_ea[..., :, None] * _en[..., None, :] + _en[..., :, None] * _ea[..., None, :])",
                "_H = _H + _diag[..., :, None] * numpy.eye(_d)",
            ]
            if deg:
                body.append(f"_H = _rt.ldexp(_H, {deg} * _e[..., None])")
            body.append("return _rt.finish(_H, _shape, 2)")
            returns = "an array of shape batch + (d, d)"
    name = formula.quantity
    sig = ", ".join(a.name for a in formula.args)
    core = core_name(name)
    public = _CHECKS.splitlines() + [
        f"_fast = _rt.compiled({formula.family!r}, {name!r}, _shape)",
        "if _fast is not None:  # the compiled backend (derivations.runtime.backend)",
        f"    return _fast({core}, _shape, {sig})",
        f"return {core}(_shape, {sig})",
    ]
    core_doc = (f'"""The body of :func:`{name}` after its argument checks (NumPy; the compiled\n'
                'version hands it the batch when a row fails, so the errors are NumPy\'s)."""')
    return (function_source(name, sig, _docstring(formula, returns), public) + "\n\n"
            + function_source(core, f"_shape, {sig}", core_doc, body))
