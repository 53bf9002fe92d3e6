"""The saddle family's JAX template: the octopus ``f`` / ``grad`` / ``hessian`` of thesis ch. 7
as jittable ``jax.numpy`` functions of one point (issue 25 item 3).

In: the same printed SymPy pieces as the NumPy and compiled templates (:func:`.saddle.pieces`:
the homogeneity degree, the CSE lines, the per-coordinate terms of ``S_conv`` / ``S_tail`` and
the role-basis coefficients).  Out: :func:`module_source`, the source of
``derivations/generated/saddle_jax.py`` (written by ``nnderive build``; this module registers
itself as a backend's printer in :mod:`derivations.codegen.backends`).

The NumPy core's operations on one point ``x`` of shape ``(d,)``: the ``tau`` scaling by
``frexp`` / ``ldexp``, the region of (7.12)/(7.13) (the first ``|x_j| < 2 tau`` is the active
coordinate), the masks of the four roles, the printed coefficients with every product rounded
where it stands (``_r``: XLA on CPU would contract ``a * b + c`` into fused multiply-adds, and
differently in vectorized and scalar loops), and ``S_conv`` / ``S_tail`` summed in NumPy's
pairwise order (unrolled at trace time, ``d`` being static), so the values are NumPy's to the bit
(tests/test_jax_saddle_grams.py).  The domain test of (7.13) is the row's ``ok``: the public function
on the JAX backend hands a point outside D (or a non-finite result) to the NumPy core, which
raises its own error (:func:`derivations.runtime.jax.run`).  The raw functions take no checks.
``ldexp`` has a derivative (``jnp.ldexp`` is bit manipulation), so ``jax.grad(f)`` composes.
"""
from __future__ import annotations

import ast
import sys
import textwrap

from ... import registry
from .. import backends
from ..cleanup import _drop_unused
from .saddle import pieces

#: the suffix of the generated module (``saddle_jax.py``)
NAME = "jax"
FAMILY = "saddle"
FUNCTIONS = ("f", "grad", "hessian")

_HELPERS = '''\
@jax.custom_jvp
def _ldexp(x, k):
    """``x * 2**k`` as NumPy's ``ldexp`` gives it where the result is normal (exact; XLA on CPU
    flushes a subnormal one to 0: the public function hands those points to NumPy); its derivative
    in ``x`` is ``2**k`` (``jnp.ldexp`` alone is bit manipulation, not differentiable)."""
    return jnp.ldexp(x, k)


@_ldexp.defjvp
def _ldexp_jvp(primals, tangents):
    x, k = primals
    h = k // 2
    return _ldexp(x, k), tangents[0] * jnp.ldexp(1.0, h) * jnp.ldexp(1.0, k - h)


@jax.custom_jvp
def _r(p, z):
    """The product ``p`` rounded where it stands, as NumPy rounds it: XLA on CPU contracts
    ``a * b + c`` into a fused multiply-add (one rounding fewer, and not the same in a vectorized
    loop as in a scalar one: a point alone and in a batch differed in the last bit).  ``z`` is 0 at
    run time (the sign bit of tau > 0) but not to the compiler, so it cannot fuse through the
    identity ``bits(p) | z``.  Its derivative is the identity."""
    return jax.lax.bitcast_convert_type(jax.lax.bitcast_convert_type(jnp.asarray(p, jnp.float64), jnp.int64) | z,
                                        jnp.float64)


@_r.defjvp
def _r_jvp(primals, tangents):
    return _r(*primals), tangents[0]


def _normal(a):
    """True where ``a`` is 0 or a normal float64: XLA on CPU flushes subnormal inputs and results
    to zero (a subnormal even compares equal to 0), so the bits are tested."""
    b = jax.lax.bitcast_convert_type(jnp.asarray(a, jnp.float64), jnp.int64) & 0x7FFFFFFFFFFFFFFF
    return (b == 0) | (b >= 0x0010000000000000)


def _lands_normal(v, k):
    """True where ``v * 2**k`` is 0 or a normal float64 (not flushed to zero, as NumPy's
    subnormal result would be)."""
    return (v == 0) | (jnp.frexp(v)[1] + k >= -1021)


def _pairwise(a):
    """``sum(a)`` of a 1-D array of static length in the order of NumPy's ``pairwise_sum``
    (``numpy.add.reduce`` over a contiguous row: blocks of at most 128 terms summed by 8
    accumulators, halves above, split at a multiple of 8), unrolled while tracing."""
    n = a.shape[0]
    if n <= 128:
        if n < 8:
            res = 0.0
            for i in range(n):
                res = res + a[i]
            return res
        m = n - n % 8
        r = a[0:8]
        for i in range(8, m, 8):
            r = r + a[i:i + 8]
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for i in range(m, n):
            res = res + a[i]
        return res
    m2 = n // 2
    m2 -= m2 % 8
    return _pairwise(a[:m2]) + _pairwise(a[m2:])
'''

_REGION = '''\
_d = x.shape[-1]
# XLA flushes subnormals: such a point is the NumPy core's (public function)
_ok = jnp.all(_normal(x)) & _normal(L) & _normal(gamma) & _normal(tau)
_z = jax.lax.bitcast_convert_type(tau, jnp.int64) >> 63  # (0: tau > 0; see _r)
{scale}
# Region (7.12)/(7.13): the active coordinate is the first with |x_j| < 2 tau (d if none)
y_j = jnp.abs(x)
_below = y_j < 2.0 * tau
_a = jnp.where(jnp.any(_below), jnp.argmax(_below), _d)
_j = jnp.arange(_d)
_conv = _j < _a
_act = _j == _a
_next = _j == _a + 1
_tail = _j > _a + 1
# the domain D of (7.13) (the public function's NumPy core raises its error where this fails)
_ok = (_ok & jnp.all(jnp.where(_conv, y_j <= 6.0 * tau, True))
       & jnp.all(jnp.where(_next | _tail, y_j <= tau, True)))
u = jnp.sum(jnp.where(_act, y_j, 0.0))
v = jnp.sum(jnp.where(_next, y_j, 0.0))
k = _a.astype(jnp.float64)
R_quad = (u <= tau).astype(jnp.float64)
R_spline = 1.0 - R_quad
'''


class _Jnp(ast.NodeTransformer):
    """``numpy.`` -> ``jnp.``; every product ``a * b`` -> ``_r(a * b, _z)`` (rounded where it
    stands, as NumPy rounds it: no fused multiply-add, see ``_r`` in the generated module)."""

    def visit_Name(self, node):
        if node.id == "numpy":
            return ast.copy_location(ast.Name("jnp", node.ctx), node)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Mult):
            return ast.Call(ast.Name("_r", ast.Load()), [node, ast.Name("_z", ast.Load())], [])
        return node


def _jnp(code: str) -> str:
    """A printed line (or the template's arithmetic) for JAX (:class:`_Jnp`)."""
    return ast.unparse(_Jnp().visit(ast.parse(code)))


def _row(formula: registry.Formula) -> str:
    """``_<name>_row(x, L, gamma, tau)`` -> ``(result, ok)`` at one point."""
    pc = pieces(formula)
    deg = pc["deg"]
    name = formula.quantity
    if deg is not None:
        scale = (f"# F is homogeneous (degree {deg}): evaluate at tau in [0.5, 1), scale back by 2^({deg} _e)\n"
                 "_e = jnp.frexp(tau)[1]\n"
                 "x = _ldexp(x, _e * -1)\n"
                 "tau = _ldexp(tau, _e * -1)")
    else:
        scale = ""
    body = _REGION.format(scale=scale).splitlines() + [_jnp(ln) for ln in pc["sum_lines"]]
    body += [f"S_conv = 0.0 + _pairwise(jnp.where(_conv, {_jnp(pc['conv'])}, 0.0))",
             f"S_tail = 0.0 + _pairwise(jnp.where(_tail, {_jnp(pc['tail'])}, 0.0))"]
    body += [_jnp(ln) for ln in pc["lines"]]
    c = pc["values"]
    if formula.rank == 0:
        (val,) = c
        body.append(f"_f = jnp.broadcast_to({_jnp(val)}, ())")
        if deg:
            body += [f"_ok = _ok & jnp.all(_lands_normal(_f, {deg} * _e))", f"_f = _ldexp(_f, {deg} * _e)"]
        body.append("return _f, _ok")
    elif formula.rank == 1:
        c = {k_: _jnp(v_) for k_, v_ in c.items()}
        body += [
            f"_g = (jnp.where(_conv, {c['e_conv']}, 0.0) + jnp.where(_act, {c['e_act']}, 0.0)",
            f"      + jnp.where(_next, {c['e_next']}, 0.0) + jnp.where(_tail, {c['e_tail']}, 0.0))",
            _jnp("_g = jnp.sign(x) * _g"),
        ]
        if deg:
            body += [f"_ok = _ok & jnp.all(_lands_normal(_g, {deg} * _e))", f"_g = _ldexp(_g, {deg} * _e)"]
        body.append("return _g, _ok")
    else:
        c = {k_: _jnp(v_) for k_, v_ in c.items()}
        body += [
            "# diagonal: F is even in each coordinate, so no sign factor",
            f"_diag = (jnp.where(_conv, {c['H_conv']}, 0.0) + jnp.where(_tail, {c['H_tail']}, 0.0)",
            f"         + jnp.where(_act, {c['H_aa']}, 0.0) + jnp.where(_next, {c['H_nn']}, 0.0))",
            "_diag = jnp.broadcast_to(_diag, (_d,))",
            "_s = jnp.sign(x)",
            "_ea = jnp.where(_act, _s, 0.0)",
            "_en = jnp.where(_next, _s, 0.0)",
            f"_c = jnp.broadcast_to({c['H_an']}, ())",
            _jnp("_H = _c * (_ea[:, None] * _en[None, :] + _en[:, None] * _ea[None, :])"),
            _jnp("_H = _H + _diag[:, None] * jnp.eye(_d)"),
        ]
        if deg:
            body += [f"_ok = _ok & jnp.all(_lands_normal(_H, {deg} * _e))", f"_H = _ldexp(_H, {deg} * _e)"]
        body.append("return _H, _ok")
    return (f"def _{name}_row(x, L, gamma, tau):\n"
            f'    """One point of :func:`{name}` (``x`` of shape ``(d,)``, the others scalars), printed\n'
            f'    from the same SymPy pieces as the NumPy core; returns ``({name}, ok)`` (``ok``: x in D)."""\n'
            + textwrap.indent("\n".join(body), "    ") + "\n")


def _wrappers(formula: registry.Formula) -> str:
    name = formula.quantity
    what = {0: "the value", 1: "the gradient, shape (d,)", 2: "the Hessian, shape (d, d)"}[formula.rank]
    return (
        "@jax.jit\n"
        f"def {name}(x, L, gamma, tau):\n"
        f'    """:func:`derivations.generated.saddle.{name}` at one point ``x`` (shape ``(d,)``, d >= 2;\n'
        f"    L, gamma, tau scalars), in JAX: {what}.  Jittable; ``jax.vmap`` it for a batch,\n"
        f"    ``jax.grad`` / ``jax.jacfwd`` it for derivatives.  No argument checks: ``x`` must lie in\n"
        f'    the domain D of (7.13) and L >= gamma > 0, tau > 0 (not tested here)."""\n'
        f"    return _{name}_row(x, L, gamma, tau)[0]\n"
        "\n\n"
        f"def _{name}_batch(_core, _shape, x, L, gamma, tau):\n"
        f'    """The public function on checked arguments (``set_backend("jax")``): points outside D\n'
        f'    or with a non-finite result go to the NumPy core ``_core`` (its value or its error)."""\n'
        "    if math.prod(_shape) == 0:  # (an empty batch: NumPy's empty result)\n"
        "        return _core(_shape, x, L, gamma, tau)\n"
        f"    return _jr.run(_{name}_row, _core, _shape, (x, L, gamma, tau), (1, 0, 0, 0), None)\n")


def module_source(family: str) -> str:
    """The generated ``saddle_jax.py`` ("" for any other family)."""
    if family != FAMILY:
        return ""
    formulas = [registry.get(f"{FAMILY}.{n}") for n in FUNCTIONS]
    header = (
        "# Generated by `nnderive build` (derivations/codegen/templates/saddle_jax.py) from the SymPy\n"
        "# derivations in derivations/saddle/octopus.py (the pieces of derivations/codegen/templates/saddle.py).\n"
        "# Do not edit: rebuild with `nnderive build`; tests fail when this file is stale.\n"
        '"""JAX octopus of the ``saddle`` family: f, grad, hessian at one point.\n\n'
        "The same printed SymPy pieces as the NumPy core (derivations/codegen/templates/saddle_jax.py):\n"
        "jittable, composable with ``jax.vmap`` and ``jax.grad``, float64 (importing this module turns\n"
        "``jax_enable_x64`` on).  ``BACKEND`` maps each name to the runner the public NumPy-facing\n"
        'function calls under ``derivations.set_backend("jax")``.\n'
        '"""\n'
        "import math\n\n"
        "from derivations.runtime import jax as _jr\n\n"
        "import jax  # noqa: E402  (after derivations.runtime.jax: float64 on)\n"
        "import jax.numpy as jnp  # noqa: E402\n\n"
        f"__all__ = {list(FUNCTIONS)!r}\n"
    )
    parts = [_HELPERS] + [_row(f) + "\n\n" + _wrappers(f) for f in formulas]
    table = ("#: the functions the public (NumPy-facing) functions run on under set_backend(\"jax\")\n"
             "BACKEND = {\n" + "".join(f"    {n!r}: _{n}_batch,\n" for n in FUNCTIONS) + "}\n")
    src = header + "\n\n" + "\n\n".join(p.rstrip("\n") + "\n" for p in parts + [table])
    return _drop_unused(src)  # (the template's lines a function does not use: S_conv in grad, ...)


def dispatch_lines(formula, name, fused, core) -> list[str]:
    """None: the saddle template prints its own dispatch (:func:`.saddle.emit`)."""
    return []


def reset(family: str) -> None:
    """Nothing to forget: :func:`module_source` prints from the registry each time."""


backends.register(sys.modules[__name__])
