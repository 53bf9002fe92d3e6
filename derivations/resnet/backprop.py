"""Normalization-free ResNet (Zhang, Ling, Lin, Lin, supplement; seed 003): backpropagation.

Architecture (spec normalization.md C0, reconstructed from the supplement's own formulas)::

    x^(1) = sqrt(c_sigma / m) sigma(W^(1) x),                       W^(1): m x d
    x^(h) = x^(h-1) + alpha_h / (H sqrt m) sigma(W^(h) x^(h-1)),     W^(h): m x m, h = 2..H
    u     = a^T x^(H),         L = 1/2 sum_i (y_i - u_i)^2,          sigma = ReLU

with ``c_sigma = 1 / E[sigma(X)^2]`` (X ~ N(0, 1)), derived here by integrating the Gaussian
density (``c_sigma = 2`` for ReLU).

Derivation (never transcribed):

1. :func:`local_derivatives` differentiates ONE componentwise layer of each kind (symbolic
   3 x 2 and 3 x 3 matrices, a generic activation ``sig`` with derivative ``dsig``) with
   ``sp.diff`` and identifies the coefficients of the backprop roles by solving a linear system
   over all entries (``d x'_k / d x_j = S delta_kj + T dsig(z_k) W_kj``, ``d x'_k / d W_kj =
   D dsig(z_k) x_j``, ``d x'_k / d alpha = A sig(z_k)``, ``d x^(1)_k / d W1_kj = D1 dsig(z_k)
   x_j``, ``d L / d u``); a coefficient that depended on the entry would leave a residual and
   raise.
2. The matrix form (backprop recursion ``g^(H) = (dL/du) a``, ``delta^(h) = J^(h) g^(h)``,
   ``dL/dW^(h) = D delta^(h) x^(h-1)T``, ``g^(h-1) = S g^(h) + T W^(h)T delta^(h)``) is then
   PROVED equal to ``sp.diff`` of the whole componentwise network for several small (d, m, H)
   by :func:`prove_matrix_form` (run as a symbolic check on the formula's own coefficients, so
   a mutant fails it).
3. The emitter (:func:`derivations.codegen.templates.resnet.emit`) prints every coefficient from ``formula.expr`` (role basis, as
   in :mod:`derivations.saddle.octopus`) into a fixed template (forward pass, then the
   recursion), valid for any m, H, n.

Printed statements (spec C1, C2): the supplement's dL/dW^(h) has the wrong sign, the transpose
(x^(h-1) [a^T ... J] is (m_in x m_out)) and an ambiguous product order; its dL/dalpha_h is
garbled.  ``paper=`` transcribes them in the same role basis (with flags for the transpose and
the ascending product order), so the emitter evaluates the printed reading too.
"""
from __future__ import annotations

import sympy as sp

from .. import vectors as V
from ..knobs import cached, knob
from ..registry import Arg, Formula, register

SOURCE = "003 Zhang et al. supplement"

# Scalar symbols the coefficients use (names are the variables of the emitted template).
H, m = sp.symbols("H m", positive=True, integer=True)
alpha_h = sp.Symbol("alpha_h", positive=True)
u, y = sp.symbols("u y", real=True)
t = sp.Symbol("t", real=True)


class dsig(sp.Function):
    """sigma'(z) of a generic activation."""


class sig(sp.Function):
    """A generic activation (its derivative is ``dsig``)."""

    def fdiff(self, argindex=1):
        return dsig(self.args[0])


# Role basis (interpreted by the emitter; not a vector space).
_SP = "resnet_roles"
E_dldu = V.vector("E_dldu", _SP, r"\mathbf{e}_{\partial\ell/\partial u}")
E_fwd1 = V.vector("E_fwd1", _SP, r"\mathbf{e}_{x^{(1)}}")
E_fwdh = V.vector("E_fwdh", _SP, r"\mathbf{e}_{x^{(h)}}")
E_out = V.vector("E_out", _SP, r"\mathbf{e}_{\partial u/\partial x^{(H)}}")
E_skip = V.vector("E_skip", _SP, r"\mathbf{e}_{I}")
E_jw = V.vector("E_jw", _SP, r"\mathbf{e}_{W^{(h)\top}J^{(h)}}")
E_gW1 = V.vector("E_gW1", _SP, r"\mathbf{e}_{J^{(1)}g\,x^\top}")
E_gW = V.vector("E_gW", _SP, r"\mathbf{e}_{J^{(h)}g^{(h)}x^{(h-1)\top}}")
E_galpha = V.vector("E_galpha", _SP, r"\mathbf{e}_{g^{(h)\top}\sigma(W^{(h)}x^{(h-1)})}")
E_ga = V.vector("E_ga", _SP, r"\mathbf{e}_{x^{(H)}}")
# Flags used only by the transcribed printed statements.
E_transpose = V.vector("E_transpose", _SP, r"\mathbf{e}_{\top}")
E_ascending = V.vector("E_ascending", _SP, r"\mathbf{e}_{\uparrow}")
ROLES = (E_dldu, E_fwd1, E_fwdh, E_out, E_skip, E_jw, E_gW1, E_gW, E_galpha, E_ga,
         E_transpose, E_ascending)


# --------------------------------------------------------------------------------------------
# The model's constants (knobs) and c_sigma
# --------------------------------------------------------------------------------------------


@cached
def c_sigma() -> sp.Expr:
    """``1 / E[relu(X)^2]``, X ~ N(0, 1), integrated from the density (= 2)."""
    dens = knob("resnet.gauss_norm", 1 / sp.sqrt(2 * sp.pi)) * sp.exp(-t**2 / 2)
    return sp.simplify(1 / sp.integrate(t**2 * dens, (t, 0, sp.oo)))


def first_scale() -> sp.Expr:
    return knob("resnet.first_scale", 1) * sp.sqrt(c_sigma() / m)


def res_scale() -> sp.Expr:
    return knob("resnet.res_scale", 1) * alpha_h / (H * sp.sqrt(m))


def loss_half() -> sp.Expr:
    return knob("resnet.loss_half", sp.Rational(1, 2))


# --------------------------------------------------------------------------------------------
# Step 1: local derivatives of one componentwise layer, coefficients identified
# --------------------------------------------------------------------------------------------


def _identify(exprs, basis_rows, unknowns):
    """Solve ``exprs[i] = sum_j unknowns[j] basis_rows[i][j]`` (all entries) and verify."""
    eqs = [sp.expand(e - sum(c * b for c, b in zip(unknowns, row)))
           for e, row in zip(exprs, basis_rows)]
    sol = sp.solve(eqs, unknowns, dict=True)
    if len(sol) != 1:
        raise ArithmeticError(f"no unique coefficients for {unknowns}")
    sol = sol[0]
    for e in eqs:
        if sp.simplify(e.subs(sol)) != 0:
            raise ArithmeticError("the local derivative is not of the assumed matrix form")
    return [sp.simplify(sol[c]) for c in unknowns]


@cached
def local_derivatives() -> dict:
    """Backprop coefficients from ``sp.diff`` of one layer of each kind (see module doc)."""
    mm, dd = 3, 2
    S, T, D, A, D1, O, G = sp.symbols("S T D A D1 O G")
    W = sp.Matrix(mm, mm, lambda i, j: sp.Symbol(f"w{i}{j}"))
    Wf = sp.Matrix(mm, dd, lambda i, j: sp.Symbol(f"v{i}{j}"))
    x = sp.Matrix(mm, 1, lambda i, j: sp.Symbol(f"x{i}"))
    xin = sp.Matrix(dd, 1, lambda i, j: sp.Symbol(f"q{i}"))
    avec = sp.Matrix(mm, 1, lambda i, j: sp.Symbol(f"a{i}"))
    z = W * x
    zf = Wf * xin
    res = x + res_scale() * z.applyfunc(sig)            # residual layer
    first = first_scale() * zf.applyfunc(sig)          # first layer
    out = (avec.T * x)[0]
    ex, rows = [], []
    for k in range(mm):
        for j in range(mm):
            ex.append(sp.diff(res[k], x[j]))
            rows.append([1 if k == j else 0, dsig(z[k]) * W[k, j]])
    s_, t_ = _identify(ex, rows, [S, T])
    d_ = _identify([sp.diff(res[k], W[k, j]) for k in range(mm) for j in range(mm)],
                   [[dsig(z[k]) * x[j]] for k in range(mm) for j in range(mm)], [D])[0]
    for k in range(mm):  # W[k, :] reaches only x'_k
        for k2 in range(mm):
            if k2 != k and any(sp.diff(res[k2], W[k, j]) != 0 for j in range(mm)):
                raise ArithmeticError("row k of W^(h) reaches another unit")
    a_ = _identify([sp.diff(res[k], alpha_h) for k in range(mm)],
                   [[sig(z[k])] for k in range(mm)], [A])[0]
    d1 = _identify([sp.diff(first[k], Wf[k, j]) for k in range(mm) for j in range(dd)],
                   [[dsig(zf[k]) * xin[j]] for k in range(mm) for j in range(dd)], [D1])[0]
    o_ = _identify([sp.diff(out, x[k]) for k in range(mm)], [[avec[k]] for k in range(mm)], [O])[0]
    g_ = _identify([sp.diff(out, avec[k]) for k in range(mm)], [[x[k]] for k in range(mm)], [G])[0]
    dldu = sp.diff(loss_half() * (y - u) ** 2, u)
    # forward scales: read off the layers themselves (x' - x = c sigma(z), x1 = c sigma(zf))
    c_h = sp.simplify((res[0] - x[0]) / sig(z[0]))
    c_1 = sp.simplify(first[0] / sig(zf[0]))
    return {E_dldu: sp.expand(dldu), E_fwd1: c_1, E_fwdh: c_h, E_out: o_, E_skip: s_,
            E_jw: t_, E_gW1: d1, E_gW: d_, E_galpha: a_, E_ga: g_}


_ROLES_OF = {
    "grad_W1": (E_dldu, E_fwd1, E_fwdh, E_out, E_skip, E_jw, E_gW1),
    "grad_W": (E_dldu, E_fwd1, E_fwdh, E_out, E_skip, E_jw, E_gW),
    "grad_alpha": (E_dldu, E_fwd1, E_fwdh, E_out, E_skip, E_jw, E_galpha),
    "grad_a": (E_dldu, E_fwd1, E_fwdh, E_out, E_ga),
    "output": (E_fwd1, E_fwdh, E_out),
}


def _derive(quantity):
    def derive():
        c = local_derivatives()
        return V.combine({b: c[b] for b in _ROLES_OF[quantity]})
    derive.__name__ = f"derive_{quantity}"
    return derive


def coefficients(expr) -> dict:
    """``{role symbol: coefficient}`` of a role-basis expression."""
    return {b: c for c, b in V.components(expr, 1)}


# --------------------------------------------------------------------------------------------
# Step 2: the matrix form proved equal to sp.diff of the componentwise network
# --------------------------------------------------------------------------------------------


def componentwise_network(d: int, mm: int, HH: int):
    """Symbolic network of sizes (d, m, H) with generic activation; returns the pieces."""
    xin = sp.Matrix(d, 1, lambda i, j: sp.Symbol(f"xi{i}"))
    W1 = sp.Matrix(mm, d, lambda i, j: sp.Symbol(f"W1_{i}{j}"))
    Ws = [sp.Matrix(mm, mm, lambda i, j, h=h: sp.Symbol(f"W{h}_{i}{j}")) for h in range(2, HH + 1)]
    al = [sp.Symbol(f"alpha{h}", positive=True) for h in range(2, HH + 1)]
    av = sp.Matrix(mm, 1, lambda i, j: sp.Symbol(f"a{i}"))
    yy = sp.Symbol("yy", real=True)
    return xin, W1, Ws, al, av, yy


def matrix_form_gradients(coeffs: dict, d: int, mm: int, HH: int):
    """Gradients by the matrix recursion with the given role coefficients (symbolic sizes)."""
    xin, W1, Ws, al, av, yy = componentwise_network(d, mm, HH)
    sub = {m: mm, H: HH}
    co = lambda b, a_h=None: sp.sympify(coeffs.get(b, 0)).subs(  # noqa: E731
        {**sub, **({alpha_h: a_h} if a_h is not None else {})})
    z1 = W1 * xin
    xs, zs = [co(E_fwd1) * z1.applyfunc(sig)], [z1]
    for W, a_h in zip(Ws, al):
        z = W * xs[-1]
        zs.append(z)
        xs.append(xs[-1] + co(E_fwdh, a_h) * z.applyfunc(sig))
    uu = (co(E_out) * av.T * xs[-1])[0]
    r = co(E_dldu).subs({u: uu, y: yy})
    g = r * co(E_out) * av
    gW, galpha = [None] * (HH - 1), [None] * (HH - 1)
    for h in range(HH, 1, -1):
        a_h = al[h - 2]
        delta = sp.Matrix(mm, 1, lambda i, j: dsig(zs[h - 1][i]) * g[i])
        gW[h - 2] = co(E_gW, a_h) * delta * xs[h - 2].T
        galpha[h - 2] = co(E_galpha, a_h) * (g.T * zs[h - 1].applyfunc(sig))[0]
        g = co(E_skip, a_h) * g + co(E_jw, a_h) * Ws[h - 2].T * delta
    delta = sp.Matrix(mm, 1, lambda i, j: dsig(zs[0][i]) * g[i])
    gW1 = co(E_gW1) * delta * xin.T
    ga = r * co(E_ga) * xs[-1]
    return dict(u=uu, gW1=gW1, gW=gW, galpha=galpha, ga=ga)


def model_network(d: int, mm: int, HH: int):
    """Output and loss of the componentwise network, straight from the definition C0 (no
    knobs: c_sigma integrated here again)."""
    xin, W1, Ws, al, av, yy = componentwise_network(d, mm, HH)
    cs = 1 / sp.integrate(t**2 * sp.exp(-t**2 / 2) / sp.sqrt(2 * sp.pi), (t, 0, sp.oo))
    x = sp.sqrt(cs / mm) * (W1 * xin).applyfunc(sig)
    for W, a_h in zip(Ws, al):
        x = x + a_h / (HH * sp.sqrt(mm)) * (W * x).applyfunc(sig)
    uu = (av.T * x)[0]
    return uu, sp.Rational(1, 2) * (yy - uu) ** 2


PROOF_SIZES = ((2, 2, 1), (1, 2, 2), (1, 2, 3))


def prove_matrix_form(expr, sizes=PROOF_SIZES) -> list[str]:
    """Prove (symbolically) that the role coefficients of ``expr`` give, through the matrix
    recursion, exactly ``sp.diff`` of the componentwise loss of :func:`model_network`, entry
    by entry, at each size (d, m, H).  Returns the failures (empty = proved)."""
    coeffs = coefficients(expr)
    bad = []
    for d, mm, HH in sizes:
        xin, W1, Ws, al, av, yy = componentwise_network(d, mm, HH)
        u_model, Lm = model_network(d, mm, HH)
        got = matrix_form_gradients(coeffs, d, mm, HH)
        pairs = []
        if E_gW1 in coeffs:
            pairs += [(got["gW1"][i, j], sp.diff(Lm, W1[i, j])) for i in range(mm) for j in range(d)]
        if E_gW in coeffs:
            pairs += [(got["gW"][h - 2][i, j], sp.diff(Lm, Ws[h - 2][i, j]))
                      for h in range(2, HH + 1) for i in range(mm) for j in range(mm)]
        if E_galpha in coeffs:
            pairs += [(got["galpha"][h - 2], sp.diff(Lm, al[h - 2])) for h in range(2, HH + 1)]
        if E_ga in coeffs:
            pairs += [(got["ga"][i], sp.diff(Lm, av[i])) for i in range(mm)]
        if E_dldu not in coeffs:
            pairs += [(got["u"], u_model)]
        for g_, want in pairs:
            if sp.expand(g_ - want) != 0:
                bad.append(f"(d, m, H) = ({d}, {mm}, {HH})")
                break
    return bad


#: what each registered function returns (its source line and the emitted docstring)
RETURNS = {"grad_W1": "dL/dW^(1), shape (m, d)",
           "grad_W": "dL/dW^(h) for h = 2..H stacked, shape (H - 1, m, m)",
           "grad_alpha": "dL/dalpha_h for h = 2..H, shape (H - 1,)",
           "grad_a": "dL/da, shape (m,)",
           "output": "u = (u_1..u_n), shape (n,)"}


# --------------------------------------------------------------------------------------------
# Printed statements (transcribed in the role basis, for comparison only)
# --------------------------------------------------------------------------------------------


def paper_grad_W():
    """ZR Sec. II first display: + alpha_h/(H sqrt m) sum_i (y_i - u_i) x_i^(h-1) [a^T
    prod_{l=h+1}^H (I + alpha_l/(H sqrt m) J_i^(l) W^(l)) J_i^(h)] (product read left to right
    with l ascending; the bracket is a row, so the result is (m_in x m_out))."""
    c = dict(local_derivatives())
    c.pop(E_gW1, None), c.pop(E_galpha, None), c.pop(E_ga, None)
    c[E_dldu] = y - u                      # printed (y_i - u_i), no minus sign
    c[E_gW] = alpha_h / (H * sp.sqrt(m))
    c[E_jw] = alpha_h / (H * sp.sqrt(m))
    c[E_skip] = sp.Integer(1)
    c[E_transpose] = sp.Integer(1)
    c[E_ascending] = sp.Integer(1)
    return V.combine(c)


def paper_grad_alpha():
    """ZR Lemma 3 proof: -sum_i (y - u_i) a_i prod_{l=h+1}^H (I + alpha_l/(H sqrt m) J W
    1/(H sqrt m)), read with the 1/(H sqrt m) inside each factor and the factor
    1/(H sqrt m) sigma(W^(h) x^(h-1)) of the next display (the only well-typed reading)."""
    c = dict(local_derivatives())
    c.pop(E_gW1, None), c.pop(E_gW, None), c.pop(E_ga, None)
    c[E_dldu] = -(y - u)
    c[E_jw] = alpha_h / (H * sp.sqrt(m)) / (H * sp.sqrt(m))
    c[E_galpha] = 1 / (H * sp.sqrt(m))
    return V.combine(c)


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

_ARGS = (
    Arg("X", "vector", "(n, d) inputs x_i (rows; the paper uses |x_i| = 1)", space="d"),
    Arg("y", "vector", "(n,) targets", space="n"),
    Arg("W1", "vector", "(m, d) first-layer weights W^(1)", space="d"),
    Arg("W", "vector", "(H - 1, m, m) residual weights W^(2..H)", space="m"),
    Arg("alpha", "vector", "(H - 1,) residual scales alpha_2..alpha_H", space="H"),
    Arg("a", "vector", "(m,) output weights", space="m"),
)
_ASSUME = ("ReLU activation (sigma'(0) := 0), c_sigma = 1/E[relu(X)^2] = 2, loss "
           "1/2 sum_i (y_i - u_i)^2, architecture of spec C0 (reconstructed)")
_WHERE = {"g^{(h)}": "dL/dx^(h) (backprop vector), g^(H) = (dL/du) a",
          "J^{(h)}": "diag(sigma'(W^(h) x^(h-1)))",
          H: "depth (number of layers)", m: "width (units per layer)",
          alpha_h: "residual scale of layer h", u: "network output u_i", y: "target y_i"}


def _latex_roles(expr) -> str:
    names = {b: V.meaning(b).latex for b in ROLES}
    names.update({alpha_h: r"\alpha_h"})
    return r"\mathrm{backprop}\left(" + sp.latex(expr, symbol_names=names) + r"\right)"


_LHS = {"grad_W1": r"\partial\mathcal L/\partial W^{(1)}",
        "grad_W": r"\partial\mathcal L/\partial W^{(h)}",
        "grad_alpha": r"\partial\mathcal L/\partial\alpha_h",
        "grad_a": r"\partial\mathcal L/\partial a",
        "output": r"u"}
_PAPER = {"grad_W": (paper_grad_W, "Sec. II first display, read as printed: + sign, "
                     "x^(h-1) times a row (the transpose), product with l ascending left to right"),
          "grad_alpha": (paper_grad_alpha, "Lemma 3 proof display (garbled): 1/(H sqrt m) read "
                         "inside each product factor")}

for _q in ("output", "grad_W1", "grad_W", "grad_alpha", "grad_a"):
    _p = _PAPER.get(_q)
    _f = register(Formula(
        f"resnet.{_q}", f"{SOURCE}, Sec. II / spec C0-C2 ({RETURNS[_q].split(',')[0]})", _ARGS,
        _ASSUME, _derive(_q), _LHS[_q], rank=1, emitter="resnet.emit",
        paper=_p[0] if _p else None, paper_reading=_p[1] if _p else "", where=_WHERE,
        notes="Coefficients of the backprop roles derived by sp.diff of one layer; the matrix "
              "recursion is proved equal to sp.diff of the whole network for small sizes.",
    ))
    _f.latex_rhs = _latex_roles
