"""LaTeX of the two-layer engine: the derived pair kernel of an activation and a model's loss
(thesis notation: sigma the activation, kappa the pair kernel, phi the angle)."""
from __future__ import annotations

import sympy as sp

from . import kernels as K


def kernel_latex(activation: str) -> str:
    """``kappa(u, v) = <derived closed form>`` for ``activation`` (amsmath, display math)."""
    act = K.activation(activation)
    nu, nv = sp.Symbol(r"\|\mathbf{u}\|"), sp.Symbol(r"\|\mathbf{v}\|")
    expr = K.kappa(act.name).subs({K.A: nu, K.B: nv})
    body = sp.latex(expr)
    if act.params:  # long: one line per power of the parameter (proved equal by SymPy)
        pref = nu**act.degree * nv**act.degree / (2 * sp.pi)
        groups = sp.collect(sp.expand(sp.simplify(expr / pref)), list(act.params), evaluate=False)
        if sp.simplify(sum(k * v for k, v in groups.items()) - expr / pref) != 0:
            raise AssertionError("display form differs from the derivation")
        terms = [sp.latex(k * sp.factor_terms(v)) for k, v in
                 sorted(groups.items(), key=lambda kv: -sp.degree(kv[0], act.params[0]))]
        body = (sp.latex(pref) + r"\Big[" + r"\\ + ".join(terms) + r"\Big]")
    where = (r"\phi = \angle(\mathbf{u},\mathbf{v}) \in [0,\pi],\quad "
             r"\mathbf{x}\sim\mathcal{N}(0, I_d),\quad \sigma(t) = " + act.latex)
    return (r"\kappa(\mathbf{u},\mathbf{v}) = \mathbb{E}\left[\sigma(\mathbf{u}^\top\mathbf{x})"
            r"\sigma(\mathbf{v}^\top\mathbf{x})\right] = " + body + r",\qquad " + where)


def model_latex(net) -> str:
    """The model's population loss as a double sum of ``kappa`` (amsmath ``align*`` body)."""
    from .networks import Convolutional, FullyConnected, Patches

    if isinstance(net, FullyConnected):
        k, m = net.k, net.m
        units = (r"\mathbf{w}_i", r"\mathbf{v}_j", r"\mathbf{w}_j", r"\mathbf{v}_i")
        student = rf"f(\mathbf{{x}}) = \sum_{{i=1}}^{{{k}}} a_i\sigma(\mathbf{{w}}_i^\top\mathbf{{x}})"
        teacher = (rf"f^*(\mathbf{{x}}) = \sum_{{j=1}}^{{{m}}} b_j\sigma(\mathbf{{v}}_j^\top"
                   r"\mathbf{x})")
        w1, w2, w3 = "a_i a_j", "a_i b_j", "b_i b_j"
    elif isinstance(net, (Convolutional, Patches)):
        k, m = net.n_student, net.n_teacher
        filt = r"\mathbf{w}" if isinstance(net, Convolutional) else r"\mathbf{w}_{f(i)}"
        filt_t = r"\mathbf{w}^*" if isinstance(net, Convolutional) else r"\mathbf{w}^*_{f(j)}"
        units = (rf"P_i{filt}", rf"P_j{filt_t}", rf"P_j{filt.replace('f(i)', 'f(j)')}",
                 rf"P_i{filt_t.replace('f(j)', 'f(i)')}")
        student = (rf"f(\mathbf{{x}}) = \sum_{{i=1}}^{{{k}}} a_i\sigma\big((P_i{filt})^\top"
                   r"\mathbf{x}\big)")
        teacher = (rf"f^*(\mathbf{{x}}) = \sum_{{j=1}}^{{{m}}} a^*_j\sigma\big((P_j{filt_t})"
                   r"^\top\mathbf{x}\big)")
        w1, w2, w3 = "a_i a_j", "a_i a^*_j", "a^*_i a^*_j"
    else:
        raise TypeError(f"net must be a two-layer model, got {type(net).__name__}")
    u_i, t_j, u_j, t_i = units
    student = student.replace(r"f(\mathbf{x}) = ", r"f(\mathbf{x}) &= ", 1)
    teacher = teacher.replace(r"f^*(\mathbf{x}) = ", r"f^*(\mathbf{x}) &= ", 1)
    return (
        rf"{student},\qquad \mathbf{{x}}\sim\mathcal{{N}}(0, I_{{{net.d}}}),\\" "\n"
        rf"{teacher},\\" "\n"
        r"\ell &= \tfrac12\,\mathbb{E}\left[(f(\mathbf{x}) - f^*(\mathbf{x}))^2\right]\\" "\n"
        rf"&= \tfrac12\sum_{{i,j=1}}^{{{k}}} {w1}\,\kappa({u_i}, {u_j})\\" "\n"
        rf"&\quad - \sum_{{i=1}}^{{{k}}}\sum_{{j=1}}^{{{m}}} {w2}\,\kappa({u_i}, {t_j})\\" "\n"
        rf"&\quad + \tfrac12\sum_{{i,j=1}}^{{{m}}} {w3}\,\kappa({t_i}, {t_j})"
    )


def document(net) -> str:
    """A pdflatex-compilable document: the kernel and the model's loss."""
    return (
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{amsmath,amssymb}\n"
        "\\begin{document}\n\\section*{Two-layer model}\n\\begin{flushleft}\\texttt{" + repr(net).replace("_", r"\_")
        .replace(", ", r", \allowbreak ") + "}\\end{flushleft}\n"
        "\\begin{align*}\n" + model_latex(net) + "\n\\end{align*}\nwith the pair kernel\n"
        "\\begin{multline*}\n" + kernel_latex(net.activation).replace(r"\right] = ", r"\right]\\ = ", 1)
        .replace(r",\qquad ", r",\\ ")
        + "\n\\end{multline*}\n\\end{document}\n")
