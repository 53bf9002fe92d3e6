"""The circulant family's JAX template: ``grad``, ``grad_p``, ``cn_grad_w`` (and the losses they
are gradients of) as ``jax.numpy`` functions, FFTs included (``jnp.fft``; issue 25 item 3).

In: the text of the generated NumPy module (``derivations/generated/circulant.py``), whose FFT
functions :mod:`.circulant` printed around the SymPy-printed per-frequency expressions
(:func:`.circulant.spectrum_pieces`, ``residual_form``, the z lines).  Out:
:func:`functions`, ``[(name, source)]`` that :mod:`derivations.codegen.jax` appends to
``derivations/generated/circulant_jax.py`` (``nnderive build``; the freshness tests cover it).

Each function's body is the NumPy function's body, statement by statement (as the JAX printer
reads the other families' cores, not typed again):

* the argument checks (``_rt.vector``, ``_rt.require``, ``_rt.batch_shape``, ...) and the
  backends' hand-offs (``_rt.compiled``: the JAX one, and the compiled spectrum's, whose NumPy
  ``else`` branch, the printed spectrum lines, is taken) are dropped;
* lines on the sizes alone (``n``, ``d``, ``p``, ``numpy.sqrt(n)``, the CSE constants ``n**d``,
  the frequency weights) stay Python/NumPy, evaluated once at trace time exactly as NumPy does
  them; a CSE constant is passed to JAX as ``float(...)`` (``n**d`` is a Python int, beyond
  int64 too: NumPy converts it so);
* every other line is the same expression with ``numpy`` -> ``jnp`` (``jnp.fft.rfft`` /
  ``irfft``), ``_rt.col(c)`` -> ``jnp.expand_dims(c, -1)``, ``_rt.finish(v, ...)`` -> ``v``;
* the products over the layers are taken in NumPy's order (``cumprod`` and ``prod`` along the
  layer axis multiply one layer at a time; ``jnp.cumprod`` on CPU is an associative scan, a
  different rounding): :func:`_PRODUCTS` below, printed into the module;
* ``loss`` and ``cn_loss`` drop ``_rt.refine_circulant_loss`` (the double-double evaluation of
  rows that nearly fit ``y``): their JAX versions are the plain completed squares, raw only
  (their public functions stay NumPy), there for ``jax.grad`` against the emitted gradients.

The row ``_<name>_row`` returns ``(result, ok)`` (the JAX runner's convention,
:func:`derivations.runtime.jax.run`); the raw function ``<name>`` is its ``jax.jit`` (integer
arguments static); ``_<name>_batch(_shape, *args)`` is what the public function calls under
``set_backend("jax")`` (after all its checks: :func:`.circulant._jax_dispatch`).  It returns
None when a row is not ``ok`` or its result is not finite (or ``n**d`` exceeds float64): the
public function then goes on in NumPy for the whole call, which gives its own result or error.
``ok`` is false where a spectrum or a partial product over the layers has a scale below
``TINY = 1e-55``: XLA on CPU flushes subnormal results to zero, NumPy underflows gradually, so
there (filters of 1e-100, a zero target) JAX would lose digits NumPy keeps.  The raw functions
return what XLA computes there.
"""
from __future__ import annotations

import ast
import textwrap

from .circulant import _EXCLUSIVE

#: the functions printed: routed (public function -> JAX under set_backend("jax")), raw only
ROUTED = ("grad", "grad_p", "cn_grad_w")
RAW = ("loss", "cn_loss")

#: names known at trace time (sizes); statements on these alone stay Python/NumPy
_SIZES = {"n", "d", "p", "numpy", "float", "range"}
#: checks and hand-offs: dropped
_DROP_CALLS = {"vector", "scalar", "integer", "require", "batch_shape", "positive"}

_PRODUCTS = '''\
#: XLA on CPU flushes subnormal results to zero (NumPy keeps gradual underflow): a row is run on
#: JAX only when every spectrum and every partial product over the layers has a scale (largest
#: modulus) of at least TINY, so that a flushed part of a product (< 2**-1022) is below eps**2
#: of any product of up to five of them (the printed monomials' degree): 1e-55**5 eps**2 >
#: 2**-1022.  Other rows (filters of 1e-100, a zero target) take the NumPy path.
TINY = 1e-55


def _scaled(*arrays):
    """True when each layer (row of the last axis) of every array has a modulus >= TINY."""
    ok = True
    for a in arrays:
        ok = ok & jnp.all(jnp.max(jnp.abs(a), axis=-1) >= TINY)
    return ok


def _layer_products(_A):
    """``prod_i A_i`` over the layer axis (-2), keepdims, one layer at a time (NumPy's order;
    a ``lax.scan``: one compiled step whatever d)."""
    _L = jnp.moveaxis(_A, -2, 0)
    _acc, _ = jax.lax.scan(lambda _c, _a: (_c * _a, None), _L[0], _L[1:])
    return _acc[..., None, :]


def _exclusive_products(_A):
    """``(Q, ok)``: ``Q_k = prod_{i != k} A_i`` as the NumPy template forms it (``_pre * _suf``,
    each a cumprod from a leading 1, one layer at a time: ``lax.scan``); ``ok``: every partial
    product and ``Q`` of scale >= TINY (:func:`_scaled`)."""
    _L = jnp.moveaxis(_A, -2, 0)
    _one = jnp.ones_like(_L[:1])

    def _step(_c, _a):
        _c = _c * _a
        return _c, _c

    _pre = jnp.concatenate([_one, jax.lax.scan(_step, _one[0], _L[:-1])[1]])
    _suf = jnp.concatenate([_one, jax.lax.scan(_step, _one[0], _L[:0:-1])[1]])[::-1]
    _Q = jnp.moveaxis(_pre * _suf, 0, -2)
    return _Q, _scaled(_Q, _pre[1:], _suf[:-1])


class _NumPyPath(Exception):
    """A result the JAX backend does not carry: the public function's NumPy path takes it."""


def _numpy_path(*_):
    raise _NumPyPath


def _run(row, shape, args, ranks):
    """:func:`derivations.runtime.jax.run` of ``row``; None where a result is not finite."""
    try:
        return _jr.run(row, _numpy_path, shape, args, ranks, None)
    except (_NumPyPath, OverflowError):  # (OverflowError: n**d beyond float64, as in NumPy)
        return None
'''


class Unsupported(Exception):
    """A statement of the NumPy body this template does not translate."""


def _rt_attr(node):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "_rt"):
        return node.func.attr
    return None


def _names(node) -> set[str]:
    """Names read by ``node``, not counting ``X.shape`` (static under jit)."""
    out = set()

    def walk(n):
        if isinstance(n, ast.Attribute) and n.attr == "shape":
            return
        if isinstance(n, ast.Name):
            out.add(n.id)
        for c in ast.iter_child_nodes(n):
            walk(c)

    walk(node)
    return out


class _ToJax(ast.NodeTransformer):
    def visit_Name(self, node):
        if node.id == "numpy":
            return ast.copy_location(ast.Name("jnp", node.ctx), node)
        if node.id in ("_rt", "math"):
            raise Unsupported(f"bare {node.id}")
        return node

    def visit_Call(self, node):
        h = _rt_attr(node)
        if h == "col":
            return ast.parse(f"jnp.expand_dims({ast.unparse(self.visit(node.args[0]))}, -1)",
                             mode="eval").body
        if h is not None:
            raise Unsupported(f"_rt.{h}")
        return self.generic_visit(node)


def _jax(node) -> str:
    return ast.unparse(_ToJax().visit(node))


def _flatten(body):
    """The statements of a NumPy body with the backends' hand-offs resolved to the NumPy path."""
    out = []
    for st in body:
        if isinstance(st, ast.Assign) and _rt_attr(st.value) == "compiled":
            continue
        if (isinstance(st, ast.If) and isinstance(st.test, ast.Compare)
                and isinstance(st.test.left, ast.Name) and st.test.left.id in ("_fast", "_jx")):
            out += _flatten(st.orelse)  # the NumPy branch ("" for the JAX hand-off)
            continue
        out.append(st)
    return out


def _exclusive_block() -> list[str]:
    return [ast.unparse(ast.parse(ln)) for ln in _EXCLUSIVE.splitlines()]


def row_lines(fn: ast.FunctionDef) -> tuple[list[str], str]:
    """The JAX lines of the NumPy function ``fn`` and the name (or expression) it returns."""
    sizes = set(_SIZES)
    lines: list[str] = []
    checked: list[str] = []  # the range tests (XLA flushes subnormals: :data:`TINY`)
    ret = None
    stmts = _flatten(fn.body)
    excl = _exclusive_block()
    i = 0
    while i < len(stmts):
        st = stmts[i]
        i += 1
        if isinstance(st, ast.Expr):
            if isinstance(st.value, ast.Constant):
                continue  # the docstring
            if _rt_attr(st.value) in _DROP_CALLS:
                continue
            raise Unsupported(ast.unparse(st)[:60])
        if isinstance(st, ast.Return):
            v = st.value
            while _rt_attr(v) in ("finish", "refine_circulant_loss"):
                v = v.args[0]
            ret = _jax(v)
            break
        text = ast.unparse(st)
        if text == excl[0]:  # the exclusive products: NumPy's order (module helper)
            got = [ast.unparse(s) for s in stmts[i - 1:i - 1 + len(excl)]]
            if got != excl:
                raise Unsupported("exclusive products")
            i += len(excl) - 1
            lines.append("_Q, _okq = _exclusive_products(_A)")
            checked.append("_okq")
            continue
        if isinstance(st, ast.Assign) and _rt_attr(st.value) in _DROP_CALLS:
            continue  # argument conversion and checks
        if isinstance(st, ast.Assign) and _rt_attr(st.value) == "refine_circulant_loss":
            continue  # (near fits in double-double: not in the raw JAX losses)
        if isinstance(st, (ast.If, ast.Assign)) and _names(st) - {
                t for t in _targets(st)} <= sizes:
            lines.append(text)  # sizes alone: Python/NumPy at trace time, as in NumPy
            sizes |= _targets(st)
            continue
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            name = st.targets[0].id
            src = _jax(st.value).replace("jnp.prod(_A, axis=-2, keepdims=True)",
                                         "_layer_products(_A)")
            if "jnp.prod(" in src or "jnp.cumprod(" in src:
                raise Unsupported(f"a product over the layers: {text[:60]}")
            lines.append(f"{name} = {src}")
            if name in _SPECTRA:
                checked.append(name)
            continue
        raise Unsupported(text[:60])
    if ret is None:
        raise Unsupported("no return")
    okq = [c for c in checked if c == "_okq"]
    arrays = [c for c in checked if c != "_okq"]
    lines.append(f"_ok = {' & '.join(okq + [f'_scaled({a})' for a in arrays])}")
    return _floats(lines, sizes), ret


def _targets(st) -> set[str]:
    out = set()
    for n in ast.walk(st):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
    return out


def _floats(lines: list[str], sizes: set[str]) -> list[str]:
    """After the size-only lines, each CSE constant (``_t0``, ``_f0``, ``_c1``...) the traced
    lines read as a Python float (``n**d`` may be an int beyond int64; NumPy converts it so)."""
    consts = sorted(n for n in sizes if n[:2] in ("_t", "_f", "_c") and n[2:].isdigit())
    out, done = [], set()
    for ln in lines:
        name = ln.split(" = ", 1)[0]
        if name in consts and name not in done:
            used = any(name in _names(ast.parse(other)) for other in lines
                       if other.split(" = ", 1)[0] not in sizes)
            out.append(ln)
            if used:
                out.append(f"{name} = float({name})")
            done.add(name)
            continue
        out.append(ln)
    return out


def _drop_dead(lines: list[str], ret: str) -> list[str]:
    """Assignments nothing later reads (the NumPy checks' own operands, e.g. ``_bound``)."""
    keep, live = [], _names(ast.parse(ret))
    for ln in reversed(lines):
        tree = ast.parse(ln)
        st = tree.body[0]
        tg = _targets(st)
        if isinstance(st, ast.Assign) and all(isinstance(t, ast.Name) for t in st.targets) \
                and not (tg & live):
            continue
        keep.append(ln)
        live |= _names(st)
    return keep[::-1]


def _signature(fn: ast.FunctionDef) -> tuple[list[str], list[str]]:
    """(argument names, integer arguments) from the NumPy function's checks."""
    args = [a.arg for a in fn.args.args]
    ints = [st.targets[0].id for st in fn.body if isinstance(st, ast.Assign)
            and _rt_attr(st.value) == "integer"]
    return args, ints


#: the spectra whose scale is tested (:data:`TINY`)
_SPECTRA = ("_A", "_X", "_Y", "_P", "_G")
_RANKS = {"w": 2, "x": 1, "y": 1, "w_out": 0}


def function_source(fn: ast.FunctionDef, routed: bool) -> str:
    name = fn.name
    lines, ret = row_lines(fn)
    lines = _drop_dead(lines, f"({ret}, _ok)")
    args, ints = _signature(fn)
    sig = ", ".join(args)
    row = (f"def _{name}_row({sig}):\n"
           f'    """One point of :func:`derivations.generated.circulant.{name}` (w of shape (d, n)),\n'
           f"    printed from its NumPy body; returns ``(result, ok)`` (ok: spectra in range, TINY).\"\"\"\n"
           + textwrap.indent("\n".join(lines + [f"return {ret}, _ok"]), "    ") + "\n")
    jit = (f"@functools.partial(jax.jit, static_argnames={tuple(ints)!r})" if ints else "@jax.jit")
    note = ("\n    Without the NumPy function's double-double refinement of rows that nearly fit y"
            "\n    (raw only: the public function stays NumPy)." if not routed else "")
    raw = (f"{jit}\ndef {name}({sig}):\n"
           f'    """:func:`derivations.generated.circulant.{name}` at one point (w of shape (d, n),\n'
           f"    vectors 1-D), in JAX with ``jnp.fft``: jittable; ``jax.vmap`` it for a batch,\n"
           f"    ``jax.grad`` / ``jax.jacfwd`` it for derivatives.  No argument checks.{note}\n"
           f'    """\n'
           f"    return _{name}_row({sig})[0]\n")
    out = row + "\n\n" + raw
    if routed:
        arrays = [a for a in args if a not in ints]
        ranks = ", ".join(str(_RANKS[a]) for a in arrays)
        bind = (f"functools.partial(_{name}_row, {', '.join(f'{a}={a}' for a in ints)})"
                if ints else f"_{name}_row")
        cache = (f"_{name}_rows = {{}}  # integer arguments bound (one row function, one compile each)\n\n\n"
                 if ints else "")
        get = (f"    _row = _{name}_rows.setdefault(({', '.join(ints)},), {bind})\n" if ints
               else f"    _row = {bind}\n")
        out += ("\n\n" + cache +
                f"def _{name}_batch(_shape, {sig}):\n"
                f'    """The public function on checked arguments (``set_backend("jax")``); None: its\n'
                f'    NumPy path takes the call (a non-finite result)."""\n'
                + get +
                f"    return _run(_row, _shape, ({', '.join(arrays)},), ({ranks},))\n")
    return out


def prelude(family: str) -> str:
    """The module-level helpers the functions use (``""`` for other families)."""
    if family != "circulant":
        return ""
    return ("# grad, grad_p, cn_grad_w, loss, cn_loss below: printed by\n"
            "# derivations/codegen/templates/circulant_jax.py from the same functions of the NumPy module\n"
            "# (their FFT template's printed SymPy lines), with jnp.fft for the FFTs.\n"
            "import numpy  # noqa: E402,F401  (the size-only lines)\n\n\n" + _PRODUCTS)


def functions(family: str, numpy_source: str) -> list[tuple[str, str]]:
    """``[(name, source)]`` for :mod:`derivations.codegen.jax` (``[]`` for other families); a
    routed function's source defines ``_<name>_batch`` (the JAX printer puts it in BACKEND)."""
    if family != "circulant":
        return []
    defs = {n.name: n for n in ast.parse(numpy_source).body if isinstance(n, ast.FunctionDef)}
    return [(name, function_source(defs[name], name in ROUTED)) for name in ROUTED + RAW]
