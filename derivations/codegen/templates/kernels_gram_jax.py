"""The kernels family's JAX Gram template: ``h_inf_gram``, ``arccos1_gram``, ``g_inf_gram``,
``v_inf_gram`` as jittable ``jax.numpy`` functions of a data set ``X`` of shape ``(n, d)``
(issue 25 item 3).

In: the same printed SymPy pieces as the NumPy and compiled Gram templates
(:func:`.kernels.gram_pieces`: the CSE lines and the result expression on ``norm_x``,
``norm_y``, ``dot_x_y``, ``phi_x_y``, ``dim_d``, ``_c``, ``_s``), and the pair form of the
same expression the NumPy Gram evaluates on its near-parallel pairs (:func:`.kernels._pair_source`,
printed again for one pair by the JAX printer, :func:`derivations.codegen.jax.row_source`).
Out: :func:`module_source`, the source of ``derivations/generated/kernels_gram_jax.py``
(``nnderive build``; this module registers itself as a backend's printer in
:mod:`derivations.codegen.backends`).

Per Gram, the generated module has

* ``_<name>_values(dot_x_y, nrm, dim_d)``: the printed expression over all pairs from the product
  and the row norms, as NumPy's Gram computes it (clipped cosine, ``arccos``, sine
  ``sqrt(1 - c^2)``; angle and sine 0 on the diagonal, where NumPy's Kahan angle gives 0), and the
  mask of the near-parallel pairs off the diagonal (``|cos| > 0.9``);
* the raw function ``<name>(X)`` (``jax.jit``; ``jax.vmap`` for a batch of data sets): the
  product ``X X^T`` in XLA, the values, and the near pairs evaluated by the printed pair row
  (double-double angle, edge series), gathered in chunks in a ``lax.while_loop`` (none in most
  data: a ``lax.cond`` skips it); derivatives (``jax.custom_jvp``) are those of the values alone
  (the angle's derivative taken as 0 at ``|cos| = 1``, as ``sqrt0`` does in the pair rows);
* the runner of the public function under ``set_backend("jax")``: NumPy's own product
  ``matmul(X, X^T)`` (so the entries near orthogonal pairs are NumPy's bits, not XLA's
  summation order), the values in JAX, and the near pairs returned as indices for the public
  function's NumPy pair form (the contract of the compiled Gram, :mod:`.kernels_numba`).  A batch
  of data sets and norms outside ``[1e-150, 1e150]`` stay NumPy's (the runner returns None).
"""
from __future__ import annotations

import ast
import sys
import textwrap

from ... import registry
from .. import backends

#: the generated module is ``kernels_gram_jax.py``; the NumPy functions ask
#: ``_rt.compiled("kernels_gram", "<name>_gram")``, which under the JAX backend reads its ``BACKEND``
NAME = "gram_jax"
FAMILY = "kernels"
FUNCTIONS = ("h_inf_gram", "arccos1_gram", "g_inf_gram", "v_inf_gram")

_HELPERS = '''\
def _plain(values, X):
    """The Gram of ``values`` from ``X`` (n, d) without the near pairs' pair form."""
    nrm = jnp.sqrt(jnp.sum(X * X, axis=-1))
    D = jnp.matmul(X, jnp.swapaxes(X, -1, -2))
    return values(D, nrm, jnp.float64(X.shape[-1]))


def _gram(values, pair_row, X):
    """The Gram of ``values`` from ``X`` (n, d), its near-parallel pairs off the diagonal again
    by the printed pair row ``pair_row`` (as NumPy's Gram does), ``m`` pairs at a time."""
    r, near = _plain(values, X)
    n = X.shape[0]
    m = max(16, n)
    cap = -(-(n * n) // m) * m

    def some(r):
        idx = jnp.nonzero(near.ravel(), size=cap, fill_value=n * n)[0]
        count = jnp.sum(near)

        def body(state):
            i, flat = state
            at = jax.lax.dynamic_slice(idx, (i * m,), (m,))
            vals = jax.vmap(pair_row)(X[jnp.minimum(at // n, n - 1)], X[at % n])[0]
            return i + 1, flat.at[at].set(vals, mode="drop")

        flat = jax.lax.while_loop(lambda st: st[0] * m < count, body, (jnp.int32(0), r.ravel()))[1]
        return flat.reshape(n, n)

    return jax.lax.cond(jnp.any(near), some, lambda r: r, r)


def _raw(values, pair_row):
    """The raw Gram function of ``values``: :func:`_gram`, differentiated as :func:`_plain`."""
    @jax.custom_jvp
    def gram(X):
        return _gram(values, pair_row, X)

    @gram.defjvp
    def _jvp(primals, tangents):  # (the values as without derivatives, the closed form's tangents)
        _, dG = jax.jvp(lambda X: _plain(values, X)[0], primals, tangents)
        return gram(*primals), dG

    return gram


def _run(values, X, nrm):
    """The public function's runner (``set_backend("jax")``) on checked rows ``X`` with norms
    ``nrm``: ``(G, (I, J))``, the near-parallel pairs off the diagonal (both orders, row-major)
    left to the NumPy pair form; None where the call stays NumPy's (a batch of data sets, norms
    near the ends of the range)."""
    if X.ndim != 2 or not (nrm.min() >= 1e-150 and nrm.max() <= 1e150):
        return None
    _jr.require_x64()
    D = numpy.matmul(X, numpy.swapaxes(X, -1, -2))  # (NumPy's own product: the NumPy path's bits)
    n = D.shape[0]
    m = max(64, _jr._bucket(n))  # (data sets padded to a few sizes: fewer XLA compilations)
    if m != n:
        D = numpy.pad(D, ((0, m - n), (0, m - n)))
        nrm = numpy.concatenate([nrm, numpy.ones(m - n)])
    r, near = values(D, nrm, float(X.shape[-1]))
    r = numpy.array(numpy.asarray(r)[:n, :n])
    I, J = numpy.nonzero(numpy.asarray(near)[:n, :n])
    return r, (I, J)
'''


class _Jnp(ast.NodeTransformer):
    def visit_Name(self, node):
        if node.id == "numpy":
            return ast.copy_location(ast.Name("jnp", node.ctx), node)
        return node


def _jnp(code: str) -> str:
    return ast.unparse(_Jnp().visit(ast.parse(code)))


def _pair_row(formula: registry.Formula) -> tuple[str, str]:
    """The JAX row of the NumPy Gram's pair form (the default emitter's function of the Gram
    formula's own expression), printed by the JAX printer from its NumPy core; and its name."""
    from .. import jax as codegen_jax
    from .kernels import _pair_source

    src, quantity = _pair_source(formula)
    core = next(n for n in ast.parse(src).body
                if isinstance(n, ast.FunctionDef) and n.name == f"_{quantity}_core")
    return codegen_jax.row_source(quantity, core, ["x", "y"]), f"_{quantity}_row"


def _function(formula: registry.Formula) -> str:
    from .kernels import gram_pieces

    lines, printed, uses_sin = gram_pieces(formula)
    name = formula.quantity
    pair, pair_name = _pair_row(formula)
    body = ["norm_x = nrm[:, None]",
            "norm_y = nrm[None, :]",
            "_diag = jnp.eye(nrm.shape[0], dtype=bool)",
            "_c = jnp.clip(dot_x_y / (norm_x * norm_y), -1.0, 1.0)",
            "# the angle: arccos off the diagonal (0 there, NumPy's Kahan angle); at |cos| = 1 (a pair",
            "# the pair form takes again) arccos's own 0 or pi with a finite derivative (safe where)",
            "_in = (jnp.abs(_c) < 1.0) & ~_diag",
            "phi_x_y = jnp.where(_in, jnp.arccos(jnp.where(_in, _c, 0.0)), jnp.where(_diag | (_c > 0), 0.0, jnp.pi))"]
    if uses_sin:
        body.append("_s = jnp.where(_diag, 0.0, _jr.sqrt0(1.0 - _c * _c))")
    body += [_jnp(ln) for ln in lines]
    body += [f"_r = jnp.broadcast_to({_jnp(printed)}, dot_x_y.shape)",
             "return _r, (jnp.abs(_c) > 0.9) & ~_diag"]
    values = (
        f"def _{name}_values(dot_x_y, nrm, dim_d):\n"
        f'    """:func:`derivations.generated.kernels.{name}` over all pairs from the product ``dot_x_y``\n'
        f"    (n, n) and the row norms ``nrm`` (n,): the printed expression, and the mask of the\n"
        f'    near-parallel pairs off the diagonal (``|cos| > 0.9``)."""\n'
        + textwrap.indent("\n".join(body), "    ") + "\n")
    wrappers = (
        f"_{name}_raw = _raw(_{name}_values, {pair_name})\n\n\n"
        "@jax.jit\n"
        f"def {name}(X):\n"
        f'    """:func:`derivations.generated.kernels.{name}` of a data set ``X`` (n, d), in JAX: the\n'
        f"    (n, n) Gram matrix.  Jittable; ``jax.vmap`` it for a batch of data sets, ``jax.grad`` /\n"
        f"    ``jax.jacfwd`` it for derivatives (those of the closed form off the near-parallel pairs).\n"
        f'    No argument checks (nonzero, finite rows; norms in [1e-150, 1e150])."""\n'
        f"    return _{name}_raw(X)\n\n\n"
        f"_{name}_jit = jax.jit(_{name}_values)\n\n\n"
        f"def _{name}_batch(X, nrm):\n"
        f'    """The public function on checked rows (``set_backend("jax")``): see :func:`_run`."""\n'
        f"    return _run(_{name}_jit, X, nrm)\n")
    return pair + "\n\n" + values + "\n\n" + wrappers


def module_source(family: str) -> str:
    """The generated ``kernels_gram_jax.py`` ("" for any other family)."""
    if family != FAMILY:
        return ""
    parts = [_function(registry.get(f"{FAMILY}.{q}")) for q in FUNCTIONS]
    header = (
        "# Generated by `nnderive build` (derivations/codegen/templates/kernels_gram_jax.py) from the\n"
        "# SymPy derivations in derivations/kernels.py (the pieces of derivations/codegen/templates/kernels.py).\n"
        "# Do not edit: rebuild with `nnderive build`; tests fail when this file is stale.\n"
        f'"""JAX Gram matrices of the ``kernels`` family: {", ".join(FUNCTIONS)}.\n\n'
        "The same printed SymPy pieces as the NumPy Grams (derivations/codegen/templates/kernels_gram_jax.py):\n"
        "functions of a data set ``X`` (n, d), jittable, composable with ``jax.vmap`` and ``jax.grad``,\n"
        "float64 (importing this module turns ``jax_enable_x64`` on).  ``BACKEND`` maps each name to\n"
        'the runner the public NumPy-facing function calls under ``derivations.set_backend("jax")``.\n'
        '"""\n'
        "import numpy\n\n"
        "from derivations.runtime import jax as _jr\n\n"
        "import jax  # noqa: E402  (after derivations.runtime.jax: float64 on)\n"
        "import jax.numpy as jnp  # noqa: E402\n\n"
        f"__all__ = {list(FUNCTIONS)!r}\n"
    )
    table = ("#: the functions the public (NumPy-facing) functions run on under set_backend(\"jax\")\n"
             "BACKEND = {\n" + "".join(f"    {n!r}: _{n}_batch,\n" for n in FUNCTIONS) + "}\n")
    return header + "\n\n" + "\n\n".join(p.rstrip("\n") + "\n" for p in [_HELPERS] + parts + [table])


def dispatch_lines(formula, name, fused, core) -> list[str]:
    """None: the kernels template prints the Grams' dispatch (:func:`.kernels.gram_emitter`)."""
    return []


def reset(family: str) -> None:
    """Nothing to forget: :func:`module_source` prints from the registry each time."""


backends.register(sys.modules[__name__])
