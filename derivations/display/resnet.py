"""Display forms of the normalization-free ResNet (Zhang et al. supplement, seed 003).

The derivation (:mod:`derivations.resnet.backprop`) identifies the coefficients of the backprop
roles by ``sp.diff`` of one layer and proves the matrix recursion equal to ``sp.diff`` of the
whole network (:func:`~derivations.resnet.backprop.prove_matrix_form`).  The display prints that
recursion in closed matrix form, as the supplement writes it: the gradient is the residual times
a product of layer Jacobians,

    dL/dW^(h) = sum_i (u_i - y_i) c_W J_i^(h) [prod_{l=h+1}^H (c_S I + c_T W^(l)T J_i^(l))] c_o a
                x_i^(h-1)T,

with every coefficient ``c`` printed from ``formula.expr``.  The proof: the coefficients the
display prints are the derived ones (read back from the display's own role table) and the
recursion they instantiate is proved equal to ``sp.diff`` of the network at small sizes.
"""
from __future__ import annotations

import sympy as sp

from ..resnet import backprop as B
from . import Display, register, to_tex

alpha_l = sp.Symbol("alpha_l", positive=True)
u_i, y_i = sp.symbols("u_i y_i", real=True)
NAMES = {B.alpha_h: r"\alpha_h", alpha_l: r"\alpha_l", u_i: "u_i", y_i: "y_i", B.H: "H",
         B.m: "m"}
CONSTS = (B.H, B.m)


def _t(e, consts=CONSTS) -> str:
    return to_tex(e, NAMES, consts)


def _coef(c, e: str) -> str:
    """``c e`` with ``c = 1`` omitted and a sum bracketed."""
    c = sp.sympify(c)
    if c == 1:
        return e
    if c == -1:
        return "-" + e
    t = _t(c)
    if c.is_Add:
        t = r"\left(" + t + r"\right)"
    return t + " " + e


def product(c, first: str) -> str:
    """``prod_{l=first}^{H} (c_S I + c_T W^(l)T J_i^(l))`` with the derived coefficients."""
    s, t = c.get(B.E_skip, 1), sp.sympify(c.get(B.E_jw, 0)).subs(B.alpha_h, alpha_l)
    return (r"\prod_{l=" + first + r"}^{H}\Big(" + _coef(s, "I") + " + "
            + _coef(t, r"W^{(l)\top} J_i^{(l)}") + r"\Big)")


def residual(c) -> str:
    r = sp.sympify(c[B.E_dldu]).subs({B.u: u_i, B.y: y_i})
    return r"\left(" + _t(r) + r"\right)" if r.is_Add else _t(r)


def forward_defs(c) -> list:
    return [(r"\mathbf x_i^{(1)}", _coef(c[B.E_fwd1], r"\sigma\big(W^{(1)}\mathbf x_i\big)")),
            (r"\mathbf x_i^{(h)}", r"\mathbf x_i^{(h-1)} + "
             + _coef(c[B.E_fwdh], r"\sigma\big(W^{(h)}\mathbf x_i^{(h-1)}\big)")
             + r",\quad h = 2, \dots, H"),
            (r"u_i", _coef(c[B.E_out], r"\mathbf a^\top\mathbf x_i^{(H)}")),
            (r"J_i^{(l)}", r"\operatorname{diag}\Big(\sigma'\big(W^{(l)}\mathbf x_i^{(l-1)}"
                           r"\big)\Big)")]


WHERE = [
    (r"\mathbf x_i", r"the $i$-th input ($d$-vector; row $i$ of the $n \times d$ matrix $X$), "
                     r"$i = 1, \dots, n$"),
    (r"y_i,\ u_i", r"the $i$-th target and network output (scalars)"),
    (r"W^{(1)}", r"the first-layer weights ($m \times d$)"),
    (r"W^{(h)}", r"the weights of residual layer $h = 2, \dots, H$ ($m \times m$)"),
    (r"\alpha_h", r"the scale of residual layer $h$ (scalar)"),
    (r"\mathbf a", r"the output weights ($m$-vector)"),
    (r"\mathbf x_i^{(h)}", r"the activations of layer $h$ for input $i$ ($m$-vector)"),
    (r"J_i^{(l)}", r"the $m \times m$ diagonal Jacobian of the activation of layer $l$ "
                   r"at input $i$"),
    (r"\sigma", r"the ReLU, $\sigma(z) = \max(z, 0)$ entrywise, $\sigma'(0) := 0$"),
    (r"H,\ m,\ n", r"depth, width and number of samples"),
]

#: Roles each display prints (the proof compares exactly these with the derivation).
PRINTED = {
    "grad_W": (B.E_dldu, B.E_gW, B.E_skip, B.E_jw, B.E_out, B.E_fwd1, B.E_fwdh),
    "grad_W1": (B.E_dldu, B.E_gW1, B.E_skip, B.E_jw, B.E_out, B.E_fwd1, B.E_fwdh),
    "grad_alpha": (B.E_dldu, B.E_galpha, B.E_skip, B.E_jw, B.E_out, B.E_fwd1, B.E_fwdh),
    "grad_a": (B.E_dldu, B.E_ga, B.E_out, B.E_fwd1, B.E_fwdh),
    "output": (B.E_out, B.E_fwd1, B.E_fwdh),
}


def _front(c) -> str:
    """A coefficient set in front of the sum over samples (as the supplement writes
    ``alpha_h/(H sqrt m) sum_i ...``)."""
    c = sp.sympify(c)
    if c == 1:
        return ""
    t = _t(c)
    return (r"\left(" + t + r"\right) " if c.is_Add else t + " ")


def body(q: str, c: dict) -> str:
    out = _coef(c[B.E_out], r"\mathbf a")
    if q == "output":
        return _coef(c[B.E_out], r"\mathbf a^\top\mathbf x_i^{(H)}") + r",\quad i = 1, \dots, n"
    r = r"\sum_{i=1}^{n} " + residual(c) + " "
    if q == "grad_a":
        return _front(c[B.E_ga]) + r + r"\mathbf x_i^{(H)}"
    if q == "grad_alpha":
        return (_front(c[B.E_galpha]) + r + r"\sigma\big(W^{(h)}\mathbf x_i^{(h-1)}\big)^{\top}"
                + " " + product(c, "h+1") + " " + out)
    if B.E_transpose in c:  # the printed reading: x^(h-1) times a row vector
        return (_front(c[B.E_gW]) + r + r"\mathbf x_i^{(h-1)}\Big[" + out + r"^\top "
                + product(c, "h+1").replace(r"_{l=h+1}", r"_{l=h+1\,\uparrow}")
                .replace(r"W^{(l)\top} J_i^{(l)}", r"J_i^{(l)} W^{(l)}")
                + r" J_i^{(h)}\Big]")
    if q == "grad_W1":
        return (_front(c[B.E_gW1]) + r + r"J_i^{(1)} " + product(c, "2") + " " + out
                + r"\,\mathbf x_i^\top")
    return (_front(c[B.E_gW]) + r + r"J_i^{(h)} " + product(c, "h+1") + " " + out
            + r"\,\mathbf x_i^{(h-1)\top}")


@register(*[f"resnet.{q}" for q in PRINTED])
def _resnet(formula, expr):
    q = formula.quantity
    c = B.coefficients(expr)
    table = {b: c.get(b, sp.Integer(0)) for b in PRINTED[q]}

    def proof():
        derived = B.coefficients(expr)
        res = [sp.simplify(table[b] - derived.get(b, 0)) for b in PRINTED[q]]
        extra = set(derived) - set(PRINTED[q]) - {B.E_transpose, B.E_ascending}
        res += [sp.Integer(1) for _ in extra]  # a role the display would not print
        return res

    def compare(printed) -> str:
        return compare_roles(c, B.coefficients(printed.expr))

    defs = forward_defs(c)
    if q == "output":
        defs = [d for d in defs if d[0] != r"u_i" and not d[0].startswith("J")]
    return Display(expr=expr, tex=body(q, c), proof=proof, definitions=defs, where=WHERE,
                   lhs=r"u_i" if q == "output" else None, compare=compare)


ROLE_WORDS = {
    B.E_dldu: r"the residual factor $\partial\ell/\partial u_i$",
    B.E_gW: r"the factor of $J_i^{(h)}$", B.E_gW1: r"the factor of $J_i^{(1)}$",
    B.E_galpha: r"the factor of $\sigma(W^{(h)}\mathbf x_i^{(h-1)})^\top$",
    B.E_skip: r"the coefficient of $I$ in each product factor",
    B.E_jw: r"the coefficient of $W^{(l)\top} J_i^{(l)}$ in each product factor",
    B.E_out: r"the factor of $\mathbf a$", B.E_ga: r"the factor of $\mathbf x_i^{(H)}$",
    B.E_fwd1: r"the scale of the first layer", B.E_fwdh: r"the scale of residual layer $h$",
}


def compare_roles(derived: dict, printed: dict) -> str:
    """The printed statement's differences from the derivation, role by role, in words."""
    items = []
    for b, words in ROLE_WORDS.items():
        d, p = sp.sympify(derived.get(b, 0)), sp.sympify(printed.get(b, 0))
        if sp.simplify(d - p) != 0:
            sub = {B.u: u_i, B.y: y_i}
            items.append(rf"{words}: derived ${_t(d.subs(sub))}$, printed ${_t(p.subs(sub))}$")
    if printed.get(B.E_transpose):
        items.append(r"printed as $\mathbf x_i^{(h-1)}$ times a row vector: the transpose "
                     r"($m_{\mathrm{in}} \times m_{\mathrm{out}}$ instead of "
                     r"$m_{\mathrm{out}} \times m_{\mathrm{in}}$)")
    if printed.get(B.E_ascending):
        items.append(r"the product read with $l$ ascending from left to right")
    if not items:
        return "the role coefficients agree."
    return "\\begin{itemize}\n" + "\n".join(rf"\item {i}" for i in items) + "\n\\end{itemize}"
