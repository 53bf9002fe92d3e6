"""The ResNet backpropagation template (seed 003, Zhang et al.).

In: ``resnet.grad_W1``, ``grad_W``, ``grad_alpha``, ``grad_a``, ``output`` (role-basis
coefficients derived and proved in :mod:`derivations.resnet.backprop`).  Out: the source of
each function (:func:`emit`): every coefficient printed from ``formula.expr`` into a fixed
template (forward pass, then the backprop recursion), valid for any m, H, n."""
from __future__ import annotations

import sympy as sp

from ...registry import Formula
from ..functions import function_source
from ..printer import print_block
from ...resnet.backprop import coefficients, E_ascending, E_transpose, RETURNS, ROLES


_PRELUDE = '''\
X = _rt.vector("X", X)
y = _rt.vector("y", y)
W1 = _rt.vector("W1", W1)
W = _rt.scalar("W", W)  # may be empty (H = 1)
alpha = _rt.scalar("alpha", alpha)
a = _rt.vector("a", a)
_rt.require(X.ndim >= 2, "X", f"must be an (n, d) matrix of inputs (plus batch axes), got shape {X.shape}")
n, d = X.shape[-2:]
_rt.require(y.ndim >= 1 and y.shape[-1] == n, "y", f"must have shape (..., n) with n = {n}, got {y.shape}")
_rt.require(W1.ndim >= 2 and W1.shape[-1] == d, "W1",
            f"must be an (m, d) matrix with d = {d} (plus batch axes), got shape {W1.shape}")
m = W1.shape[-2]
_rt.require(m >= 1, "W1", "must have m >= 1 rows")
_rt.require(W.ndim >= 3 and W.shape[-2:] == (m, m), "W",
            f"must have shape (..., H - 1, m, m) with m = {m}, got {W.shape}")
H = W.shape[-3] + 1
_rt.require(alpha.ndim >= 1 and alpha.shape[-1] == H - 1, "alpha",
            f"must have shape (..., H - 1) with H - 1 = {H - 1}, got {alpha.shape}")
_rt.require(a.ndim >= 1 and a.shape[-1] == m, "a", f"must have shape (..., m) with m = {m}, got {a.shape}")
_shape = _rt.batch_shape(("X", X, 2), ("y", y, 1), ("W1", W1, 2), ("W", W, 3), ("alpha", alpha, 1),
                         ("a", a, 1))
# forward pass (C0): keep pre-activations z^(h) and activations x^(h), each (..., n, m)
_z = [X @ numpy.swapaxes(W1, -1, -2)]
_xs = [COEF_FWD1 * numpy.maximum(_z[0], 0.0)]
for _h in range(2, H + 1):
    alpha_h = alpha[..., _h - 2, None, None]
    _z.append(_xs[-1] @ numpy.swapaxes(W[..., _h - 2, :, :], -1, -2))
    _xs.append(_xs[-1] + COEF_FWDH * numpy.maximum(_z[-1], 0.0))
u = (_xs[-1] @ (COEF_OUT * a)[..., :, None])[..., 0]
'''


def _print(exprs, prefix):
    return print_block([sp.sympify(e) for e in exprs], prefix)


def _inline(expr) -> str:
    lines, (val,) = _print([expr], "_c")
    if lines:  # single scalar coefficients: inline the CSE temporaries
        sub = {}
        for ln in lines:
            k, v = ln.split(" = ", 1)
            sub[k] = v
        for k in sorted(sub, key=len, reverse=True):
            val = val.replace(k, f"({sub[k]})")
    return val


def emit(formula: Formula) -> str:
    expr = formula.expr
    parts = coefficients(expr)
    unknown = set(parts) - set(ROLES)
    if unknown:
        raise ValueError(f"{formula.name}: unexpected basis symbols {sorted(map(str, unknown))}")
    c = {str(b): _inline(parts.get(b, sp.Integer(0))) for b in ROLES}
    pre = (_PRELUDE.replace("COEF_FWD1", f"({c['E_fwd1']})")
           .replace("COEF_FWDH", f"({c['E_fwdh']})").replace("COEF_OUT", f"({c['E_out']})"))
    body = pre.splitlines()
    q = formula.quantity
    if q == "output":
        body += ["return _rt.finish(u, _shape, 1)"]
    elif q == "grad_a":
        body += [f"_r = {c['E_dldu']}",
                 f"return _rt.finish(numpy.sum(({c['E_ga']}) * _r[..., :, None] * _xs[-1], axis=-2), _shape, 1)"]
    else:
        transpose = parts.get(E_transpose, 0) != 0
        ascending = parts.get(E_ascending, 0) != 0
        body += [
            f"_r = {c['E_dldu']}",
            f"_g = _r[..., :, None] * (({c['E_out']}) * a)[..., None, :]",
            "_gW = numpy.zeros(tuple(_shape) + (H - 1, m, m))",
            "_ga = numpy.zeros(tuple(_shape) + (H - 1,))",
        ]
        grads = [(f"    _gW[..., _h - 2, :, :] = ({c['E_gW']}) * (numpy.swapaxes(_delta, -1, -2) @ _xs[_h - 2])",
                  "E_gW"),
                 (f"    _ga[..., _h - 2] = numpy.sum(({c['E_galpha']}) * _G * numpy.maximum(_z[_h - 1], 0.0), "
                  "axis=(-2, -1))", "E_galpha")]
        if ascending:
            # printed reading: prod_{l=h+1}^H (I + c_l J_l W_l) left to right, applied to a^T
            body += [
                "for _h in range(2, H + 1):",
                f"    _v = _r[..., :, None] * (({c['E_out']}) * a)[..., None, :]",
                "    for _l in range(_h + 1, H + 1):",
                "        alpha_h = alpha[..., _l - 2, None, None]",
                "        _d = _v * (_z[_l - 1] > 0)",
                f"        _v = ({c['E_skip']}) * _v + ({c['E_jw']}) * (_d @ W[..., _l - 2, :, :])",
                "    alpha_h = alpha[..., _h - 2, None, None]",
                "    _G = _v",
                "    _delta = (_z[_h - 1] > 0) * _G",
            ]
            body += [ln for ln, role in grads if c[role] != "0"]
        else:
            body += [
                "for _h in range(H, 1, -1):",
                "    alpha_h = alpha[..., _h - 2, None, None]",
                "    _G = _g",
                "    _delta = (_z[_h - 1] > 0) * _G",
            ]
            body += [ln for ln, role in grads if c[role] != "0"]
            body += [f"    _g = ({c['E_skip']}) * _g + ({c['E_jw']}) * (_delta @ W[..., _h - 2, :, :])"]
        if transpose:
            body += ["_gW = numpy.swapaxes(_gW, -1, -2)"]
        if q == "grad_W1":
            body += [f"return _rt.finish(({c['E_gW1']}) * (numpy.swapaxes((_z[0] > 0) * _g, -1, -2) @ X), "
                     "_shape, 2)"]
        elif q == "grad_W":
            body += ["return _rt.finish(_gW, _shape, 3)"]
        else:
            body += ["return _rt.finish(_ga, _shape, 1)"]
    sig_ = ", ".join(a_.name for a_ in formula.args)
    doc = (f'"""{formula.name}: {formula.source}.\n\n'
           "ReLU ResNet of spec C0 (x^(1) = sqrt(c_sigma/m) relu(W1 x), x^(h) = x^(h-1) +\n"
           "alpha_h/(H sqrt m) relu(W^(h) x^(h-1)), u = a^T x^(H), L = 1/2 |y - u|^2); the\n"
           "coefficients below are printed from the SymPy derivation (derivations/resnet.py).\n\n"
           "Arguments (leading axes broadcast as a batch of networks):\n"
           + "\n".join(f"    {a_.name}: {a_.meaning}" for a_ in formula.args)
           + f"\n\nReturns {RETURNS[q]}.  Raises ValueError naming the argument for shapes that\n"
           "do not chain, m < 1 or non-finite entries.  Emitted by `nnderive build`; do not edit.\n"
           '"""')
    return function_source(q, sig_, doc, body)
