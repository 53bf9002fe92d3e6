"""Display forms of Dai & Heckel 2019 (seed 000): per-frequency forms in complex notation.

The derivation (:mod:`derivations.circulant`) works with real and imaginary parts of the
unitary DFT coefficients; the paper writes complex products: ``f^_j = n^{d/2} P_j x^_j``,
``l_j = 1/2 |y^_j - f^_j|^2`` and the gradient as the adjoint of ``w_k -> X_k w_k`` applied to the
residual, i.e. per frequency ``S_kj = n^{(d-1)/2} conj(Q_kj x^_j) r^_j`` with ``r^ = f^ - y^`` the
DFT of the residual.  Each display is a complex SymPy expression in symbols ``P_j, Q_kj,
w^_kj, x^_j, y^_j, g^_j``; the proof substitutes ``Re + i Im`` of each and compares real and
imaginary parts with the derived per-frequency expressions (``expand_complex``).  Scales
(``n^{(d-1)/2}``) are read off the derived expression at one point and then proved everywhere.
"""
from __future__ import annotations

import sympy as sp

from .. import circulant as CI
from . import Display, expand_named, named, register, to_tex

# complex per-frequency symbols (printed names) and their real/imaginary parts
P, Q, Wk, Xh, Yh, Gh = sp.symbols("P Q What Xhat Yhat Ghat")
NAMES = {P: "P_j", Q: "Q_{kj}", Wk: r"\hat w_{kj}", Xh: r"\hat x_j", Yh: r"\hat y_j",
         Gh: r"\hat g_j", CI.n: "n", CI.d: "d"}
PARTS = {P: (CI.P_re, CI.P_im), Q: (CI.Q_re, CI.Q_im), Wk: (CI.A_re, CI.A_im),
         Xh: (CI.X_re, CI.X_im), Yh: (CI.Y_re, CI.Y_im), Gh: (CI.G_re, CI.G_im)}
CONSTS = (CI.n, CI.d)

WHERE = [
    (r"\hat v_j", r"the unitary DFT coefficient $(F^{\mathsf H}\mathbf v)_j = "
                  r"\mathrm{fft}(\mathbf v)_j/\sqrt n$ of a length-$n$ vector $\mathbf v$, "
                  r"$j = 0, \dots, n-1$"),
    (r"\hat w_{kj}", r"the unitary DFT coefficient of the $k$-th filter $\mathbf w_k$ "
                     r"(a row of the $d \times n$ array of filters) at frequency $j$"),
    (r"P_j", r"$\prod_{i=1}^{d} \hat w_{ij}$, the product of the $d$ filters' coefficients at "
             r"frequency $j$ (a complex scalar)"),
    (r"Q_{kj}", r"$\prod_{i \ne k} \hat w_{ij}$, the same product without layer $k$, so "
                r"$P_j = \hat w_{kj} Q_{kj}$"),
    (r"\hat x_j,\ \hat y_j", r"the unitary DFT of the input $\mathbf x$ and of the target "
                             r"$\mathbf y$ (length $n$; $\mathbf x$ centred for channel "
                             r"normalization)"),
    (r"\overline{z}", r"the complex conjugate of $z$"),
    (r"n,\ d", r"the signal length (number of frequencies) and the number of circulant layers"),
]


def complex_form(e):
    """``e`` with every complex symbol replaced by ``Re + i Im``, expanded."""
    e = expand_named(e)
    e = e.subs({s: re + sp.I * im for s, (re, im) in PARTS.items()}, simultaneous=True)
    return sp.expand_complex(sp.expand(e))


def _spectrum_residuals(display, expr):
    """``Re``/``Im`` of ``display`` minus the derived ``E_re``/``E_im`` coefficients."""
    re, im = CI._spectrum(expr)
    z = complex_form(display)
    return [sp.expand(sp.re(z) - re), sp.expand(sp.im(z) - im)]


def _scale(display_unit, expr):
    """The constant ``c`` with ``c * display_unit`` equal to the derived spectrum, read off at
    ``w^ = Q = x^ = 1, y^ = g^ = 0`` (then proved everywhere by the residuals)."""
    re, im = CI._spectrum(expr)
    point = {CI.A_re: 1, CI.A_im: 0, CI.Q_re: 1, CI.Q_im: 0, CI.X_re: 1, CI.X_im: 0,
             CI.Y_re: 0, CI.Y_im: 0, CI.P_re: 1, CI.P_im: 0, CI.G_re: 1, CI.G_im: 0}
    unit = complex_form(display_unit).subs(point)
    return sp.simplify((re + sp.I * im).subs(point) / unit)


# the output spectrum and the residual spectrum as named functions
fhat = named("fhat", r"\hat f_j", lambda: CI._eig_scale() * Wk * Q * Xh, nargs=0,
             show_definition=False)
rhat = named("rhat", r"\hat r_j", lambda: fhat() - Yh, nargs=0, show_definition=False,
             rank=4.5)

ghat = named("ghat", r"\hat g_j", lambda: Gh, nargs=0, show_definition=False, rank=4.5)

HEAD = r"\Big(\mathrm{Re}\sum_{j=0}^{n-1} S_{kj}\, e^{2\pi i jm/n}\Big)_{m=0}^{n-1},\quad S_{kj}"


def _pretty_defs():
    return [(r"\hat f_j", to_tex(CI._eig_scale(), NAMES, CONSTS) + r" P_j \hat x_j"
             + r",\quad P_j = \hat w_{kj} Q_{kj}"),
            (r"\hat r_j", r"\hat f_j - \hat y_j \text{ (the DFT of the residual } "
                          r"\mathbf f - \mathbf y\text{)}")]


@register("circulant.grad", "circulant.grad_p")
def _grad(formula, expr):
    unit = sp.conjugate(Q * Xh) * rhat()
    c = _scale(unit, expr)
    if c == 0:
        return _parts(formula, expr)
    disp = sp.Mul(c, unit, evaluate=False)
    res = _spectrum_residuals(disp, expr)
    if any(sp.simplify(r) != 0 for r in res):  # not of the adjoint form (the printed reading)
        return _parts(formula, expr)
    tex = HEAD + " = " + to_tex(disp, NAMES, CONSTS)
    return Display(expr=disp, tex=tex, proof=lambda: _spectrum_residuals(disp, expr),
                   definitions=_pretty_defs(), where=WHERE)


def _parts(formula, expr):
    """Fallback: the derived real and imaginary parts as they are."""
    re, im = CI._spectrum(expr)
    tex = (HEAD + " = " + to_tex(re, CI.PER_FREQ, CONSTS) + r" + i\left("
           + to_tex(im, CI.PER_FREQ, CONSTS) + r"\right)")
    return Display(expr=expr, tex=tex, proof=lambda: [], where=WHERE)


@register("circulant.output")
def _output(formula, expr):
    disp = sp.Mul(CI._eig_scale(), P, Xh, evaluate=False)
    tex = (r"\sqrt n\,\mathcal F^{-1}[\hat f_j],\quad \hat f_j = " + to_tex(disp, NAMES, CONSTS))
    return Display(expr=disp, tex=tex, proof=lambda: _spectrum_residuals(disp, expr),
                   where=WHERE)


@register("circulant.loss")
def _loss(formula, expr):
    z = Yh - CI._eig_scale() * P * Xh
    disp = sp.Mul(sp.Rational(1, 2), sp.Abs(z) ** 2, evaluate=False)
    tex = r"\sum_{j=0}^{n-1} \ell_j,\quad \ell_j = " + to_tex(disp, NAMES, CONSTS)

    def proof():
        zz = complex_form(z)
        return [sp.expand(sp.Rational(1, 2) * (sp.re(zz) ** 2 + sp.im(zz) ** 2) - expr)]
    return Display(expr=disp, tex=tex, proof=proof, where=WHERE)


@register("circulant.cn_grad_w")
def _cn_grad(formula, expr):
    cy, cz = sp.diff(expr, CI.Y), sp.diff(expr, CI.Z)
    spec = expr - cy * CI.Y - cz * CI.Z
    unit = sp.conjugate(Q * Xh) * ghat()
    c = _scale(unit, spec)
    if c == 0:
        raise ValueError("no spectral part: not of the display's shape")
    disp = sp.Mul(c, unit, evaluate=False)
    g_tex = to_tex(sp.Add(sp.Mul(sp.factor(cz), CI.Z, evaluate=False),
                          sp.Mul(sp.factor(cy), CI.Y, evaluate=False), evaluate=False),
                   {CI.w_out: r"w_{d+1}"})
    tex = HEAD + " = " + to_tex(disp, NAMES, CONSTS)
    defs = [(r"\hat g_j", r"\text{the DFT of } \mathbf g = \frac{\partial L_N}{\partial \mathbf z}"
             r" = " + g_tex)]
    where = WHERE + [(r"\mathbf z", r"$\prod_i \mathbf W_i (\mathbf x - \bar x \mathbf 1)$, the "
                                    r"output before normalization (length $n$)")]
    def compare(printed) -> str:
        """Both forms pull a gradient g = dL_N/dz back the same way (same S_kj in g^); they
        differ in g only, so the difference is stated for g."""
        if printed.tex.split(" = ", 1)[-1] != tex.split(" = ", 1)[-1]:
            return ""
        pg = printed.definitions[0][1].rsplit(" = ", 1)[-1]
        return (r"the same pull-back $S_{kj}$ of $\hat g_j$; the gradient $\mathbf g = "
                r"\partial L_N/\partial\mathbf z$ differs: derived $\mathbf g = " + g_tex
                + r"$, printed $\mathbf g = " + pg + "$.")

    return Display(expr=disp, tex=tex, proof=lambda: _spectrum_residuals(disp, spec)
                   + [sp.expand(cy * CI.Y + cz * CI.Z - (expr - spec))],
                   definitions=defs, where=where, compare=compare)


@register("circulant.cn_output", "circulant.cn_loss", "circulant.cn_grad_out")
def _cn(formula, expr):
    """Grouped and ordered (:func:`derivations.display.auto`), the scale under its printed
    name ``w_{d+1}`` (eq. (7))."""
    from . import auto

    disp = auto(formula, expr)
    disp.names = {CI.w_out: r"w_{d+1}"}
    return disp
