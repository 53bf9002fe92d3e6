"""The circulant family's templates: FFT code around the printed per-frequency expressions.

In: the registered ``circulant.*`` formulas (their SymPy expressions per frequency, derived in
:mod:`derivations.circulant`).  Out: the source of each emitted function (:func:`emit`: rfft of
the filters and inputs, the printed spectrum, irfft), of the fused ``loss_and_grads``
(:func:`fused_functions`) and of the Theorem-1 constants (:func:`emit_constant`, mpmath where
Gamma functions would overflow).  Seed 000 (Dai & Heckel 2019)."""
from __future__ import annotations

import ast

import sympy as sp

from ...registry import Formula, get
from ...circulant import (cn_residual_form, grad_residual_spectrum, P_im, P_re, residual_form,
                          _spectrum, Y, Z)
from ..arguments import _argument_lines, docstring
from ..functions import emit_function, function_source
from ..printer import print_block


_PRE_W = '''\
w = _rt.vector("w", w)
_rt.require(w.ndim >= 2, "w", f"must have shape (..., d, n) (one filter per row), got shape {w.shape}")
'''
_PRE_X = '''\
x = _rt.vector("x", x)
_rt.require(x.shape[-1] == w.shape[-1], "x", f"has length {x.shape[-1]} but the filters w have n = {w.shape[-1]}")
'''
_PRE_Y = '''\
y = _rt.vector("y", y)
_rt.require(y.shape[-1] == w.shape[-1], "y", f"has length {y.shape[-1]} but the filters w have n = {w.shape[-1]}")
'''
_FFT_COMMON = '''\
n = w.shape[-1]
d = w.shape[-2]
_sn = numpy.sqrt(n)
_A = numpy.fft.rfft(w, axis=-1) / _sn
'''
_WEIGHTS = '''\
_wt = numpy.full(_A.shape[-1], 2.0)
_wt[0] = 1.0
if n % 2 == 0:
    _wt[-1] = 1.0
'''
_EXCLUSIVE = '''\
_one = numpy.ones_like(_A[..., :1, :])
_pre = numpy.cumprod(numpy.concatenate([_one, _A[..., :-1, :]], axis=-2), axis=-2)
_suf = numpy.cumprod(numpy.concatenate([_one, _A[..., :0:-1, :]], axis=-2), axis=-2)[..., ::-1, :]
_Q = _pre * _suf
'''
_CENTER = '''\
_xc = x - numpy.mean(x, axis=-1, keepdims=True)
_rt.require(numpy.max(numpy.abs(_xc), axis=-1) > 0, "x", "is constant: its centered version x - mean(x) is zero, so z = 0 and the channel normalization divides by |z| = 0")
_X = (numpy.fft.rfft(_xc, axis=-1) / _sn)[..., None, :]
'''


def _print(exprs, prefix):
    lines, printed = print_block([sp.sympify(e) for e in exprs], prefix)
    return ([ln.replace("math.", "_rt.math.") for ln in lines],
            [t.replace("math.", "_rt.math.") for t in printed])


def _spectrum_lines(expr, target: str, prefix: str) -> list[str]:
    re, im = _spectrum(expr)
    lines, (pr, pi) = _print([re, im], prefix)
    return lines + [f"{target} = ({pr}) + 1j * ({pi})"]


def spectrum_pieces(formula: Formula) -> list[str]:
    """The printed lines of the per-frequency spectrum ``_S`` of ``grad``, ``grad_p`` or
    ``cn_grad_w`` (CSE lines, then ``_S = (re) + 1j * (im)``), for both backends' templates."""
    expr = formula.expr
    if formula.quantity == "cn_grad_w":
        expr = expr - sp.diff(expr, Y) * Y - sp.diff(expr, Z) * Z
    return _spectrum_lines(expr, "_S", "_t")


#: the arrays of the spectrum lines (everything else in them is a size or a CSE name)
ARRAYS = ("A_re", "A_im", "Q_re", "Q_im", "X_re", "X_im", "Y_re", "Y_im", "G_re", "G_im")


def _names(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


def split(lines: list[str]) -> tuple[list[str], list[str], list[str], tuple[str, str]]:
    """``(scalar lines, array lines, arrays used, (re, im))`` of the printed spectrum lines
    ``_tN = ...`` and the last ``_S = (re) + 1j * (im)``."""
    *cse, last = lines
    target, rhs = last.split(" = ", 1)
    call = ast.parse(rhs, mode="eval").body  # (re) + 1j * (im)
    if not (isinstance(call, ast.BinOp) and isinstance(call.op, ast.Add)
            and isinstance(call.right, ast.BinOp) and isinstance(call.right.op, ast.Mult)
            and isinstance(call.right.left, ast.Constant) and call.right.left.value == 1j):
        raise NotImplementedError(f"circulant template: unexpected spectrum line {last[:60]}")
    re, im = ast.unparse(call.left), ast.unparse(call.right.right)
    scalar, array, dep = [], [], set(ARRAYS)
    for ln in cse:
        name, expr = ln.split(" = ", 1)
        if _names(expr) & dep:
            dep.add(name)
            if any(isinstance(n, (ast.Call, ast.Attribute)) for n in ast.walk(ast.parse(expr))):
                raise NotImplementedError(f"circulant template: a call in an array line {ln[:60]}")
            array.append(ln)
        else:
            scalar.append(ln)
    used = sorted(set(ARRAYS) & _names("\n".join(array + [re, im])), key=ARRAYS.index)
    return scalar, array, used, (re, im)


def _compiled_spectrum(formula: Formula, lines: list[str]) -> list[str]:
    """``lines`` (the NumPy spectrum) behind the compiled version's dispatch
    (:mod:`.circulant_numba`: the same lines in one loop over the entries; the FFTs stay here)."""
    _, _, used, _ = split(lines)
    return ([f"_fast = _rt.compiled('circulant_fft', '{formula.quantity}_spectrum', _shape)",
             "if _fast is not None:  # the compiled backend (derivations.runtime.backend)",
             f"    _S = _fast({', '.join(used)}, n, d)",
             "else:"]
            + [f"    {ln}" for ln in lines])


def _jax_dispatch(formula: Formula, rank: int) -> list[str]:
    """The JAX backend's hand-off, after every check: the whole function in ``jax.numpy``
    (FFTs included; :mod:`.circulant_jax`, generated ``circulant_jax.py``).  It returns None for
    a result JAX could not carry (a non-finite entry, ``n**d`` beyond float64): the NumPy path
    below then gives NumPy's result or error."""
    args = ", ".join(a.name for a in formula.args)
    return [f"_jx = _rt.compiled('circulant', '{formula.quantity}', _shape)",
            "if _jx is not None:  # the JAX backend (derivations/generated/circulant_jax.py)",
            f"    _jg = _jx(_shape, {args})",
            "    if _jg is not None:  # (None: a result JAX could not carry; the NumPy path below)",
            f"        return _rt.finish(_jg, _shape, {rank})"]


def _unpack(name: str, src: str) -> list[str]:
    return [f"{name}_re = {src}.real", f"{name}_im = {src}.imag"]


def _z_lines() -> list[str]:
    """z = W_d ... W_1 (x - mean x) from the product formula's printed spectrum."""
    lines = ["_P = numpy.prod(_A, axis=-2, keepdims=True)"]
    lines += _unpack("P", "_P") + _unpack("X", "_X")
    lines += _spectrum_lines(get("circulant.output").expr, "_F", "_f")
    lines += ["z = (_sn * numpy.fft.irfft(_F, n, axis=-1))[..., 0, :]",
              "norm_z = numpy.sqrt(numpy.sum(z * z, axis=-1))",
              "_bound = numpy.max(numpy.abs(_P), axis=(-2, -1)) * _sn ** d * numpy.sqrt(numpy.sum(_xc * _xc, axis=-1))",
              "_rt.require(norm_z > 1e-13 * _bound, \"w\", \"gives a zero product output z = "
              "W_d...W_1 (x - mean x) (up to rounding); the channel normalization divides by |z|\")"]
    return lines


def _doc(formula: Formula, returns: str) -> str:
    args = "\n".join(f"    {a.name}: {a.meaning}" for a in formula.args)
    return (f'"""{formula.name}: {formula.source}.\n\nAssumptions: {formula.assumptions}\n\n'
            f"Arguments (leading axes broadcast as a batch):\n{args}\n\nReturns {returns}.  "
            "Raises ValueError naming the argument for a length mismatch, non-finite values,\n"
            "p outside [1, n], or a zero output where the normalization divides by |z|.\n"
            "Emitted by `nnderive build` (FFT template around the printed SymPy expression); "
            'do not edit.\n"""')


def _finish_fn(formula: Formula, body: list[str], returns: str) -> str:
    sig = ", ".join(a.name for a in formula.args)
    return function_source(formula.quantity, sig, _doc(formula, returns), body)


def emit(formula: Formula) -> str:
    """Source of one FFT-based function of this family, printed from ``formula.expr``."""
    q = formula.quantity
    expr = formula.expr
    body = _PRE_W.splitlines()
    names = [a.name for a in formula.args]
    if "x" in names:
        body += _PRE_X.splitlines()
    if "y" in names:
        body += _PRE_Y.splitlines()
    if "w_out" in names:
        body.append('w_out = _rt.scalar("w_out", w_out)')
    specs = [f'("{a.name}", {a.name}, {2 if a.name == "w" else 1 if a.kind == "vector" else 0})'
             for a in formula.args if a.kind != "int"]
    body.append(f"_shape = _rt.batch_shape({', '.join(specs)})")
    sizes, spectra = _FFT_COMMON.splitlines()[:2], _FFT_COMMON.splitlines()[2:]
    body += sizes
    if "p" in names:
        body += ['p = _rt.integer("p", p)',
                 '_rt.require(p <= n, "p", f"(kernel size) must be <= n = {n}, got {p}")']
    if q in ("grad", "grad_p"):  # every check done: the JAX backend may take the call
        body += _jax_dispatch(formula, 2)
    body += spectra
    if q == "output":
        body += ["_X = (numpy.fft.rfft(x, axis=-1) / _sn)[..., None, :]",
                 "_P = numpy.prod(_A, axis=-2, keepdims=True)"]
        body += _unpack("P", "_P") + _unpack("X", "_X")
        body += _spectrum_lines(expr, "_F", "_t")
        body += ["_f = (_sn * numpy.fft.irfft(_F, n, axis=-1))[..., 0, :]",
                 "return _rt.finish(_f, _shape, 1)"]
        return _finish_fn(formula, body, "f = W_d ... W_1 x, shape batch + (n,)")
    if q == "loss":
        body += ["_X = (numpy.fft.rfft(x, axis=-1) / _sn)[..., None, :]",
                 "_Y = (numpy.fft.rfft(y, axis=-1) / _sn)[..., None, :]",
                 "_P = numpy.prod(_A, axis=-2, keepdims=True)"]
        body += _unpack("P", "_P") + _unpack("X", "_X") + _unpack("Y", "_Y")
        body += _WEIGHTS.splitlines()
        form = residual_form(expr)
        if form is None:
            lines, (lj,) = _print([expr], "_t")
            body += lines + [f"_l = {lj}"]
        else:  # c |F - Y|^2 per frequency: the residual spectrum squared (residual_form)
            c, rs = form
            lines, (cc, r1, r2) = _print([c] + rs, "_t")
            body += lines + ["# the completed square: c |F_j - Y_j|^2 (derived and proved by residual_form)",
                             f"_l = ({cc}) * (({r1})**2 + ({r2})**2)"]
        body += ["_L = numpy.sum(_l * _wt, axis=-1)[..., 0]"]
        if form is not None:  # rows that nearly fit y: f again in double-double
            body += [f"_L = _rt.refine_circulant_loss(_L, w, x, y, {cc})"]
        body += ["return _rt.finish(_L, _shape)"]
        return _finish_fn(formula, body, "L = 1/2 |y - f|^2, shape batch")
    if q in ("grad", "grad_p"):
        body += ["_X = (numpy.fft.rfft(x, axis=-1) / _sn)[..., None, :]",
                 "_Y = (numpy.fft.rfft(y, axis=-1) / _sn)[..., None, :]"]
        body += _EXCLUSIVE.splitlines()
        body += _unpack("A", "_A") + _unpack("Q", "_Q") + _unpack("X", "_X") + _unpack("Y", "_Y")
        body += _compiled_spectrum(formula, spectrum_pieces(formula))
        body += ["_g = n * numpy.fft.irfft(_S, n, axis=-1)"]
        if q == "grad_p":
            body += ["return _rt.finish(_g[..., :p], _shape, 2)"]
            return _finish_fn(formula, body, "dL/dw[..., :p] (projected GD), shape batch + (d, p)")
        body += ["return _rt.finish(_g, _shape, 2)"]
        return _finish_fn(formula, body, "dL/dw, shape batch + (d, n)")
    # channel-normalized functions
    body += _CENTER.splitlines() + _z_lines()
    if q == "cn_grad_w":  # every check done (those on x and on z): the JAX backend may take the call
        body += _jax_dispatch(formula, 2)
    if "y" in names:
        body += ["norm_y = numpy.sqrt(numpy.sum(y * y, axis=-1))",
                 "dot_y_z = numpy.sum(y * z, axis=-1)"]
    if q == "cn_output":
        coef = sp.diff(expr, Z)
        lines, (c,) = _print([coef], "_t")
        body += lines + [f"_f = _rt.col({c}) * z", "return _rt.finish(_f, _shape, 1)"]
        return _finish_fn(formula, body, "f_N = w_out z/|z|, shape batch + (n,)")
    if q == "cn_loss" and cn_residual_form(expr) is not None:
        h, c = cn_residual_form(expr)
        lines, (hh, cc) = _print([h, c], "_t")
        body += lines + ["# the completed square h |c z - y|^2, c = w_out/|z| (cn_residual_form): no",
                         "# cancellation where the network fits y",
                         f"_r = _rt.col({cc}) * z - y",
                         f"_L = ({hh}) * numpy.sum(_r * _r, axis=-1)",
                         "# rows that nearly fit y: w_out z/|z| again in double-double",
                         f"return _rt.finish(_rt.refine_circulant_loss(_L, w, x, y, {hh}, normalized=w_out), _shape)"]
        return _finish_fn(formula, body, "L_N = 1/2 |y - f_N|^2, shape batch")
    if q in ("cn_loss", "cn_grad_out"):
        lines, (c,) = _print([expr], "_t")
        body += lines + [f"return _rt.finish({c}, _shape)"]
        what = "L_N = 1/2 |y - f_N|^2" if q == "cn_loss" else "dL_N/dw_out"
        return _finish_fn(formula, body, f"{what}, shape batch")
    if q == "cn_grad_w":
        cy, cz = sp.diff(expr, Y), sp.diff(expr, Z)
        lines, (py, pz) = _print([cy, cz], "_c")
        body += lines + [f"_gz = _rt.col({py}) * y + _rt.col({pz}) * z",
                         "_G = (numpy.fft.rfft(_gz, axis=-1) / _sn)[..., None, :]"]
        body += _EXCLUSIVE.splitlines()
        body += _unpack("A", "_A") + _unpack("Q", "_Q") + _unpack("G", "_G")
        body += _compiled_spectrum(formula, spectrum_pieces(formula))
        body += ["_g = n * numpy.fft.irfft(_S, n, axis=-1)", "return _rt.finish(_g, _shape, 2)"]
        return _finish_fn(formula, body, "dL_N/dw, shape batch + (d, n)")
    raise ValueError(f"no FFT template for {formula.name}")


_WORK_DOC = """\
# Work buffers of loss_and_grads: {(w.shape, x.shape, y.shape): (conj spectra of w, gradient
# spectra)}, two complex arrays of batch x d x (n//2 + 1) (262 KB each at n = 4096, d = 8).
# Fresh arrays of that size straddle glibc's mmap threshold, so every call paid new page
# faults; reusing them takes the call from 0.59 to 0.32 ms (CPU time).  Thread safety: a call takes its set out
# of the dict (dict.pop is atomic) and puts it back when done, so concurrent calls never share
# a buffer (a second concurrent call of the same shape allocates its own); a call that raises
# simply drops its set.  Sets over 32 MiB are not kept, at most 8 shapes are (then the cache
# is emptied), so the memory held stays bounded.  Results never alias these buffers.
_loss_and_grads_work = {}
"""


def fused_functions(family: str) -> list[tuple[str, str]]:
    """Extra fused functions of this family for :func:`derivations.codegen.module_source`:
    ``loss_and_grads(w, x, y, *, out=None) -> (loss, grad)``, printed from the registered
    ``circulant.loss`` expression and the factor ``R`` of ``circulant.grad``'s spectrum
    (:func:`grad_residual_spectrum`, ``S_k = conj(Q_k) R``) in one CSE block.

    Work: validation and the rfft of w, x, y once; conj(w^) and the exclusive products are
    formed in reused work buffers (see ``_WORK_DOC``); per frequency the loss and ``R`` are
    arrays of length n//2 + 1 shared by the layers; the suffix pass multiplies ``R`` into the
    prefix products, so ``S_k = conj(prod_{i<k} w^_i) (R conj(prod_{i>k} w^_i))`` costs one
    complex product per layer; one irfft of the d spectra.
    """
    if family != "circulant":
        return []
    loss = get("circulant.loss")
    body = _PRE_W.splitlines() + _PRE_X.splitlines() + _PRE_Y.splitlines()
    body.append('_shape = _rt.batch_shape(("w", w, 2), ("x", x, 1), ("y", y, 1))')
    body += ["n = w.shape[-1]", "d = w.shape[-2]",
             "# work buffers (module comment above): conj spectra of w and the gradient spectra",
             "_key = (w.shape, x.shape, y.shape)",
             "_work = _loss_and_grads_work.pop(_key, None)",
             "if _work is None:",
             "    _work = (numpy.empty(w.shape[:-1] + (n // 2 + 1,), complex),",
             "             numpy.empty(tuple(_shape) + (d, n // 2 + 1), complex))",
             "_Ac, _S = _work",
             # unitary coefficients by the FFT's own scaling (norm="ortho": no extra pass)
             "# conj(w^_k), unitary coefficients (norm=\"ortho\") of the filters, conjugated in place",
             'numpy.fft.rfft(w, axis=-1, norm="ortho", out=_Ac)',
             "numpy.conjugate(_Ac, out=_Ac)",
             '_X = numpy.fft.rfft(x, axis=-1, norm="ortho")',
             '_Y = numpy.fft.rfft(y, axis=-1, norm="ortho")',
             "# prefix products: _S[k] = conj(prod_{i<k} w^_i); then P = prod_i w^_i",
             "_acc = numpy.ones_like(_Ac[..., 0, :])",
             "for _k in range(d):",
             "    _S[..., _k, :] = _acc",
             "    _acc *= _Ac[..., _k, :]",
             "_P = numpy.conjugate(_acc)"]
    body += _unpack("P", "_P") + _unpack("X", "_X") + _unpack("Y", "_Y")
    body += _WEIGHTS.replace("_A.shape[-1]", "n // 2 + 1").splitlines()
    r_re, r_im = _spectrum(grad_residual_spectrum())
    # fewer array passes: collect in the per-frequency unknowns, factor the coefficients
    keys = [P_re, P_im]
    form = residual_form(loss.expr)
    if form is None:
        exprs = [sp.collect(sp.expand(e), keys, func=sp.factor) for e in (loss.expr, r_re, r_im)]
        lines, (lj, pr, pi) = _print(exprs, "_t")
    else:  # the loss as c |F - Y|^2 per frequency (residual_form): exact where f fits y
        c, rs = form
        exprs = [sp.collect(sp.expand(e), keys, func=sp.factor) for e in (r_re, r_im)]
        lines, (pr, pi, cc, q1, q2) = _print(exprs + [c] + rs, "_t")
        lj = f"({cc}) * (({q1})**2 + ({q2})**2)"
    body += lines + [f"_l = {lj}",
                     "_R = numpy.empty(numpy.broadcast_shapes(_P.shape, _X.shape, _Y.shape), complex)",
                     f"_R.real = {pr}", f"_R.imag = {pi}",
                     "# suffix products times R: _S[k] = conj(Q_k) R, Q_k = prod_{i != k} w^_i",
                     "_acc = _R",
                     "for _k in range(d - 1, -1, -1):",
                     "    _S[..., _k, :] *= _acc",
                     "    _acc = _acc * _Ac[..., _k, :]",
                     "# dL/dw = n irfft(S) (norm=\"forward\": no 1/n), a fresh array",
                     '_g = numpy.fft.irfft(_S, n, axis=-1, norm="forward")',
                     "if _Ac.nbytes + _S.nbytes <= 1 << 25:",
                     "    if len(_loss_and_grads_work) >= 8:",
                     "        _loss_and_grads_work.clear()",
                     "    _loss_and_grads_work[_key] = _work",
                     "_out = (None,) * 2 if out is None else _rt.buffers(out, 2)",
                     "_L = numpy.sum(_l * _wt, axis=-1)",
                     *([f"_L = _rt.refine_circulant_loss(_L, w, x, y, {cc})  # near fits: double-double"]
                       if form is not None else []),
                     "value = _rt.finish(_L, _shape, 0, _out[0])",
                     "grad = _rt.finish(_g, _shape, 2, _out[1])",
                     "return value, grad"]
    doc = _doc(loss, "(L = 1/2 |y - f|^2 of shape batch, dL/dw of shape batch + (d, n)), "
               "fused with circulant.grad: one validation, one rfft of w, x, y, shared "
               "subexpressions, the gradient spectra as conj(Q_k) R (R derived from "
               "circulant.grad by SymPy), reused work buffers (thread-safe; see the comment "
               "above); out: optional (value_buf, grad_buf) float64 arrays")
    src = _WORK_DOC + "\n\n" + function_source("loss_and_grads", "w, x, y, *, out=None", doc, body)
    return [("loss_and_grads", src)]


def emit_constant(formula: Formula) -> str:
    """Integer-argument constants (Theorem 1): the default emitter with ``math`` taken from the
    runtime module (generated modules import NumPy and the runtime only)."""
    if formula.expr.has(sp.gamma):
        return _emit_mp_constant(formula)
    clone = Formula(formula.name, formula.source, formula.args, formula.assumptions,
                    lambda: formula.expr, formula.lhs, formula.rank)
    src = emit_function(clone)
    return src.replace("math.", "_rt.math.").replace("numpy._rt.math.", "numpy.math.")


def _emit_mp_constant(formula: Formula) -> str:
    """A Theorem-1 constant in Gamma functions of the integer arguments, evaluated by
    :func:`derivations.runtime.mp_constant` (mpmath, 30 + 2 x digits(p) digits) and rounded once (issue 23
    item 2): ``math.gamma`` overflows from p = 343, and in float64 ``c_2 = 1 - sqrt(2/p)
    Gamma((p+1)/2)/Gamma(p/2) ~ 1/(4p)`` and ``rate_c`` cancel ``log10(4p)`` digits (1e-7
    relative at p = 10^4 from log-Gamma differences).  ``log(Gamma(a))`` is printed as
    ``loggamma(a)`` (no huge intermediate).  The expression printed is ``formula.expr``."""
    from sympy.printing.pycode import MpmathPrinter

    if any(a.kind != "int" for a in formula.args):
        raise ValueError(f"{formula.name}: the mpmath template takes integer arguments only")
    expr = formula.expr.replace(lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.gamma),
                                lambda e: sp.loggamma(e.args[0].args[0]))
    code = MpmathPrinter({"fully_qualified_modules": True}).doprint(expr).replace("mpmath.", "mp.")
    names = [a.name for a in formula.args]
    sig = ", ".join(names)
    # the same conversion and domain checks (``p <= n``, ...) as every emitted function
    body = _argument_lines(formula)
    body += [
             f"_v = _rt.mp_constant(lambda mp, {sig}: {code}, {sig})",
             "return _rt.finish(_v, _shape)"]
    return function_source(formula.quantity, sig, docstring(formula), body)
