"""One-hidden-layer CNN with non-overlapping Gaussian patches (seed 004, thesis ch. 5).

Model (sec. 5.2): input ``Z = [Z_1, ..., Z_k]`` with patches ``Z_i ~ N(0, I_p)`` i.i.d.,
``f(Z, w, a) = sum_i a_i sigma(Z_i . w)``, teacher ``f(Z, w*, a*)`` with ``w*`` NOT normalized,
loss ``l = 1/2 E_Z[(f(Z, w, a) - f(Z, w*, a*))^2]``; weight normalization ``w = v / |v|``.

Derivation, in the order of the proof of Theorem 5.1 (sec. 5.7):

1. ``A(w) = E[sigma(Z^T w) sigma(Z^T w)^T]`` and ``B(w, w*) = E[sigma(Z^T w) sigma(Z^T w*)^T]``
   (eqs. 5.5, 5.6): diagonal entries are the single-patch cross moment (Lemma 5.6 iv); off the
   diagonal the patches are independent, so the entry is a product of means (Lemma 5.6 ii).
   Hence ``M = offdiag * J + (diag - offdiag) * I``.
2. Expanding the square, ``l = 1/2 [a^T A(w) a - 2 a^T B(w, w*) a* + a*^T A(w*) a*]``, where
   ``x^T J y = (1^T x)(1^T y)`` and ``x^T I y = x^T y``.
3. Weight normalization: ``|w| = 1`` and ``theta(w, w*) = theta(v, w*)``.
4. Theorem 5.2: gradients by SymPy differentiation through the invariants
   (:func:`derivations.vectors.grad`), which carries the weight-normalization chain rule.
"""
from __future__ import annotations

import sympy as sp

from . import gaussian as G
from . import vectors as V
from .knobs import knob
from .registry import Arg, Formula, register

SOURCE = "004 thesis"

W = V.vector("w", "p")
V_ = V.vector("v", "p")
WS = V.vector("w_star", "p", r"\mathbf{w}^*")
A_ = V.vector("a", "k")
AS = V.vector("a_star", "k", r"\mathbf{a}^*")
ONE_K = V.ones("k")
J = V.outer(ONE_K, ONE_K)
I_K = V.eye("k")


def patch_gram(diag: sp.Expr, offdiag: sp.Expr) -> sp.Expr:
    """The k x k matrix with ``diag`` on and ``offdiag`` off the diagonal, as ``c_J J + c_I I``."""
    return offdiag * J + (diag - offdiag) * I_K


def A_matrix(w: sp.Symbol) -> sp.Expr:
    """Eq. (5.5): ``A(w)``; ``E[sigma(Z_i.w)^2]`` on, ``E[sigma(Z_i.w)]^2`` off the diagonal."""
    return patch_gram(sp.simplify(G.relu_cross_moment(w, w)), G.relu_mean(w) ** 2)


def B_matrix(w: sp.Symbol, w_star: sp.Symbol) -> sp.Expr:
    """Eq. (5.6): ``B(w, w*)``; cross moment on, product of means off the diagonal."""
    return patch_gram(G.relu_cross_moment(w, w_star), G.relu_mean(w) * G.relu_mean(w_star))


def bilinear(M: sp.Expr, x: sp.Symbol, y: sp.Symbol) -> sp.Expr:
    """``x^T M y`` for ``M = c_J J + c_I I``."""
    return M.subs({J: V.total(x) * V.total(y), I_K: V.dot(x, y)})


def loss_unnormalized() -> sp.Expr:
    """``l(w, a)`` for an unnormalized first layer ``w`` (the proof's intermediate step)."""
    half = knob("cnn.loss_half", sp.Rational(1, 2))  # l = 1/2 E[(f - f*)^2]
    ell = half * (bilinear(A_matrix(W), A_, A_) - 2 * bilinear(B_matrix(W, WS), A_, AS)
                  + bilinear(A_matrix(WS), AS, AS))
    return sp.expand(ell)


def weight_normalize(expr: sp.Expr) -> sp.Expr:
    """Substitute ``w = v/|v|``: ``|w| = 1`` and ``theta(w, w*) = theta(v, w*)``."""
    return expr.subs({V.norm(W): knob("cnn.unit_norm", 1), V.angle(W, WS): V.angle(V_, WS)})


def population_loss() -> sp.Expr:
    """Theorem 5.1, eq. (5.3), derived."""
    return sp.collect(sp.expand(weight_normalize(loss_unnormalized())), sp.pi)


def grad_v() -> sp.Expr:
    """Theorem 5.2, ``E[d l / d v]``: SymPy gradient of the derived loss with respect to ``v``."""
    return V.grad(population_loss(), V_)


def grad_a() -> sp.Expr:
    """Theorem 5.2, ``E[d l / d a]``: SymPy gradient of the derived loss with respect to ``a``."""
    return V.grad(population_loss(), A_)


def grad_w() -> sp.Expr:
    """Eqs. (5.7)-(5.8): ``E[d l / d w]`` for an unnormalized ``w`` (C5-10)."""
    return V.grad(loss_unnormalized(), W)


# --------------------------------------------------------------------------------------------
# The printed statements (transcribed only to be compared with the derivations)
# --------------------------------------------------------------------------------------------

PHI = V.angle(V_, WS)
_g = (sp.pi - PHI) * sp.cos(PHI) + sp.sin(PHI)


def paper_loss() -> sp.Expr:
    n, pi = V.norm(WS), sp.pi
    return sp.Rational(1, 2) * (
        (pi - 1) * n**2 / (2 * pi) * V.norm(AS) ** 2
        + (pi - 1) / (2 * pi) * V.norm(A_) ** 2
        - 2 * (_g - 1) * n / (2 * pi) * V.dot(A_, AS)
        + n**2 / (2 * pi) * V.total(AS) ** 2
        + 1 / (2 * pi) * V.total(A_) ** 2
        - 2 * n / (2 * pi) * V.total(A_) * V.total(AS)
    )


def paper_grad_v() -> sp.Expr:
    nv = V.norm(V_)
    coeff = V.dot(A_, AS) * (sp.pi - PHI) / (2 * sp.pi * nv)
    return coeff * (WS - V.dot(V_, WS) / nv**2 * V_)


def paper_grad_a() -> sp.Expr:
    n = V.norm(WS)
    return ((V.total(A_) * ONE_K + (sp.pi - 1) * A_)
            - n * (V.total(AS) * ONE_K + (_g - 1) * AS)) / (2 * sp.pi)


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

_MODEL = ("Z_i ~ N(0, I_p) i.i.d., k non-overlapping patches; f(Z, w, a) = sum_i a_i relu(Z_i.w); "
          "teacher w* not normalized")
_ARGS = (
    Arg("v", "vector", "first-layer weights before weight normalization (w = v/|v|)", "p",
        nonzero=True),
    Arg("a", "vector", "second-layer weights", "k"),
    Arg("w_star", "vector", "teacher filter (not normalized)", "p", nonzero=True),
    Arg("a_star", "vector", "teacher second layer", "k"),
)
_ARGS_W = (Arg("w", "vector", "first-layer weights (unnormalized)", "p", nonzero=True),) + _ARGS[1:]

register(Formula(
    "cnn.A", f"{SOURCE}, eq. (5.5)",
    (Arg("w", "vector", "filter", "p"), Arg("k", "int", "number of patches", "k")),
    "Z_i ~ N(0, I_p) i.i.d.", lambda: A_matrix(W), rank=2,
    lhs=r"A(\mathbf{w}) = \mathbb{E}\left[\sigma(Z^\top\mathbf{w})\sigma(Z^\top\mathbf{w})^\top\right]",
))
register(Formula(
    "cnn.B", f"{SOURCE}, eq. (5.6)",
    (Arg("w", "vector", "filter", "p", nonzero=True),
     Arg("w_star", "vector", "teacher filter", "p", nonzero=True),
     Arg("k", "int", "number of patches", "k")),
    "Z_i ~ N(0, I_p) i.i.d.", lambda: B_matrix(W, WS), rank=2,
    lhs=(r"B(\mathbf{w},\mathbf{w}^*) = \mathbb{E}\left[\sigma(Z^\top\mathbf{w})"
         r"\sigma(Z^\top\mathbf{w}^*)^\top\right]"),
))
def display_over_4pi(expr: sp.Expr) -> str:
    """LaTeX of ``expr`` as ``1/(4 pi) [ ... ]`` collected by invariants (display only)."""
    from .latex import to_latex

    inner = sp.expand(4 * sp.pi * expr)
    keys = sorted((s for s in inner.free_symbols if V.meaning(s) is not None), key=str)
    return r"\frac{1}{4\pi}\Big[" + to_latex(sp.collect(inner, keys)) + r"\Big]"


_loss = register(Formula(
    "cnn.population_loss", f"{SOURCE}, Theorem 5.1, eq. (5.3)",
    _ARGS, _MODEL + "; w = v/|v|", population_loss,
    lhs=r"\ell(\mathbf{v},\mathbf{a})",
    paper=paper_loss,
    paper_reading="eq. (5.3), l.5118, with g(phi) = (pi - phi) cos(phi) + sin(phi)",
))
register(Formula(
    "cnn.grad_v", f"{SOURCE}, Theorem 5.2",
    _ARGS, _MODEL + "; w = v/|v|", grad_v, rank=1,
    lhs=r"\mathbb{E}_Z\left[\frac{\partial \ell}{\partial \mathbf{v}}\right]",
    paper=paper_grad_v,
    paper_reading=("Theorem 5.2, l.5143, as the OCR prints it: "
                   "(1/(2 pi |v|)) (I - v v^T/|v|^2) a^T a* (pi - phi) w*, no leading minus sign"),
))
register(Formula(
    "cnn.grad_a", f"{SOURCE}, Theorem 5.2",
    _ARGS, _MODEL + "; w = v/|v|", grad_a, rank=1,
    lhs=r"\mathbb{E}_Z\left[\frac{\partial \ell}{\partial \mathbf{a}}\right]",
    paper=paper_grad_a,
    paper_reading=("Theorem 5.2, l.5147: (1/(2 pi))(11^T + (pi - 1) I) a - "
                   "(1/(2 pi))(11^T + (g(phi) - 1) I) |w*| a*"),
))
_loss_w = register(Formula(
    "cnn.population_loss_w", f"{SOURCE}, proof of Theorem 5.1 (unnormalized w)",
    _ARGS_W, _MODEL + "; w unnormalized", loss_unnormalized,
    lhs=r"\ell(\mathbf{w},\mathbf{a})",
))
register(Formula(
    "cnn.grad_w", f"{SOURCE}, proof of Theorem 5.2, eqs. (5.7)-(5.8)",
    _ARGS_W, _MODEL + "; w unnormalized", grad_w, rank=1,
    lhs=r"\mathbb{E}_Z\left[\frac{\partial \ell}{\partial \mathbf{w}}\right]",
))

_loss.latex_rhs = _loss_w.latex_rhs = display_over_4pi
