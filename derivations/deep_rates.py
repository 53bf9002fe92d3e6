"""Thesis ch. 3 (seed 004, sec. 3.2-3.6; issue 24): the activation constants of Condition 3.1 and
the linear rate of Theorems 3.1-3.3 (family ``kernels``).

1. ``kernels.softplus_smoothness`` and ``kernels.cond31_c`` (Condition 3.1, l.1001): for
   ``sigma(z) = log(1 + exp(beta z))/beta`` SymPy computes ``sigma' = 1/(1 + exp(-beta z))``, its
   supremum (the Lipschitz constant, a limit at +oo: 1), ``sigma''``, the zero of ``sigma'''``
   (z = 0) and so the smoothness constant ``sup |sigma''| = beta/4``, and ``|sigma(0)| =
   log(2)/beta``; the condition's single constant is the largest, ``c = max(log(2)/beta, 1,
   beta/4)``.  The thesis's softplus (beta = 1) has c = 1, as printed (l.1006: "both Lipschitz
   constant and smoothness constant are 1"; the smoothness constant is 1/4, 1 is a valid bound).
   ReLU is Lipschitz (1) but not smooth: sigma' jumps at 0, no c exists (ReLU is outside
   Condition 3.1; the ch. 3 theorems are stated for smooth activations).
2. ``kernels.deep_loss_bound`` (Theorems 3.1-3.3, l.1255, 1337, 1414): with the Gram of the
   whole network ``G(k) >= G^(H)(k)`` and ``lambda_min(G^(H)(k)) >= lambda_min(K^(H))/2`` (the
   proofs' induction), one GD step gives ``L(k+1) <= (1 - eta lambda_min(K^(H))/2) L(k)`` for a
   small enough step; :func:`sympy.rsolve` solves the comparison recursion:
   ``L(k) <= (1 - eta lambda/2)^k L(0)``.  The widths and step sizes of the theorems carry
   unstated constants (poly(n, H), 2^O(H)); the checks use our step and width (labelled).
3. ``kernels.fc_norm_growth`` and ``kernels.fc_norm_second_moment`` (eq. (3.4), l.1187, and
   sec. 3.9.1's "instability of the fully-connected architecture", l.1279): the ReLU fc net
   ``x^(h) = sqrt(c/m) relu(W^(h) x^(h-1))`` (``W^(h)`` entries N(0, 1), width m; the thesis
   takes ``c = c_sigma``).  Given ``x^(h-1)``, ``R_h = |x^(h)|^2/|x^(h-1)|^2 = (c/m) sum_r
   relu(g_r)^2`` with ``g_r`` iid N(0, 1) (rotation invariance), so the ``R_h`` are iid and
   ``|x^(H)|^2/|x^(0)|^2 = prod_h R_h``.  From SymPy's line integrals ``E relu(z)^2 = 1/2``,
   ``E relu(z)^4 = 3/2`` (:func:`derivations.kernels.relu_moment`): ``E R = c/2`` and ``E R^2 =
   c^2 (m + 5)/(4 m)``; :func:`sympy.rsolve` of ``q_h = E[R] q_{h-1}`` (and of ``E R^2``) gives
   ``(c/2)^H`` and ``(c^2 (m + 5)/(4 m))^H``.  The mean is stable iff ``c/2 = 1``, solved:
   ``c = 2 = c_sigma`` (checked against :func:`derivations.kernels.relu_c_sigma`); any other
   scale explodes or vanishes exponentially in H.  With ``c = c_sigma`` the relative variance
   ``(1 + 5/m)^H - 1`` still grows exponentially in H at a fixed width (a layer-1 fluctuation
   amplified by a factor per layer, the 2^O(H) of (3.4)); keeping it below eps needs ``m >~
   5H/eps``, linear in H for ReLU (the thesis' footnote: for ReLU the exponential may be
   avoided).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .knobs import cached
from .registry import Arg, Formula, register

SOURCE = "004 thesis, ch. 3"
BETA = sp.Symbol("beta", positive=True)
Z = sp.Symbol("z", real=True)
ETA = sp.Symbol("eta", positive=True)
LAM = sp.Symbol("lambda_H", positive=True)
K = sp.Symbol("k", integer=True, nonnegative=True)
L0 = sp.Symbol("loss0", nonnegative=True)


def softplus(beta=BETA):
    return sp.log(1 + sp.exp(beta * Z)) / beta


@cached
def softplus_lipschitz() -> sp.Expr:
    """sup sigma': sigma'' > 0 everywhere, so the supremum is the limit at +oo."""
    d1 = sp.simplify(sp.diff(softplus(), Z))
    d2 = sp.simplify(sp.diff(d1, Z))
    if not sp.simplify(d2 * (1 + sp.exp(BETA * Z)) ** 2 / sp.exp(BETA * Z)).is_positive:
        raise ArithmeticError("sigma' is not increasing")  # pragma: no cover
    return sp.limit(d1, Z, sp.oo)


@cached
def softplus_smoothness() -> sp.Expr:
    """sup |sigma''|: sigma'' is even around its one critical point z = 0 (sigma''' = 0) and
    vanishes at +-oo, so the supremum is sigma''(0)."""
    d2 = sp.diff(softplus(), Z, 2)
    crit = sp.solve(sp.simplify(sp.diff(d2, Z)), Z)
    if crit != [0]:  # pragma: no cover
        raise ArithmeticError(f"critical points of sigma'': {crit}")
    if sp.limit(d2, Z, sp.oo) != 0 or sp.limit(d2, Z, -sp.oo) != 0:  # pragma: no cover
        raise ArithmeticError("sigma'' does not vanish at +-oo")
    return sp.simplify(d2.subs(Z, 0))


@cached
def cond31_c() -> sp.Expr:
    """Condition 3.1's single constant: max(|sigma(0)|, Lipschitz, smoothness), as a Piecewise
    in beta whose switches SymPy solves for (|sigma(0)| = 1 at beta = log 2, beta/4 = 1 at 4)."""
    at0 = sp.simplify(sp.Abs(softplus().subs(Z, 0)))
    lip, smooth = softplus_lipschitz(), softplus_smoothness()
    (b0,) = sp.solve(sp.Eq(at0, lip), BETA)
    (b1,) = sp.solve(sp.Eq(smooth, lip), BETA)
    if not sp.simplify(b1 - b0).is_positive:  # pragma: no cover
        raise ArithmeticError("switch points out of order")
    out = sp.Piecewise((at0, BETA <= b0), (lip, BETA <= b1), (smooth, True))
    full = sp.Max(at0, lip, smooth)
    for v in (sp.Rational(1, 10), b0, (b0 + b1) / 2, b1, 10):  # the pieces are the maximum
        if sp.simplify(out.subs(BETA, v) - full.subs(BETA, v)) != 0:  # pragma: no cover
            raise ArithmeticError(f"piece at beta = {v} is not the maximum")
    return out


@cached
def deep_loss_bound() -> sp.Expr:
    """Theorems 3.1-3.3: rsolve of L(k+1) = (1 - eta lambda/2) L(k), L(0) = loss0."""
    f = sp.Function("L")
    sol = sp.rsolve(f(K + 1) - (1 - ETA * LAM / 2) * f(K), f(K), {f(0): L0})
    return sp.simplify(sol)


C_W = sp.Symbol("c", positive=True)
H_D = sp.Symbol("H", integer=True, nonnegative=True)
M_W = sp.Symbol("m", integer=True, positive=True)


def _rsolve_power(rho: sp.Expr) -> sp.Expr:
    """rsolve of ``q_H = rho q_{H-1}``, ``q_0 = 1``."""
    q = sp.Function("q")
    return sp.simplify(sp.rsolve(q(H_D) - rho * q(H_D - 1), q(H_D), {q(0): 1}))


@cached
def fc_norm_growth() -> sp.Expr:
    """eq. (3.4): ``E |x^(H)|^2/|x^(0)|^2`` of the ReLU fc net with weight scale ``c``; the
    stable scale (``E R = 1``) is solved and must be the derived ``c_sigma``."""
    from .kernels import relu_c_sigma, relu_moment

    rho = C_W * relu_moment(2)
    (c0,) = sp.solve(sp.Eq(rho, 1), C_W)
    if sp.simplify(c0 - relu_c_sigma()) != 0:  # pragma: no cover
        raise ArithmeticError(f"stable scale {c0} is not c_sigma")
    return _rsolve_power(rho)


@cached
def fc_norm_second_moment() -> sp.Expr:
    """eq. (3.4): ``E (|x^(H)|^2/|x^(0)|^2)^2``: ``E R^2 = (c/m)^2 (m E relu^4 + m (m - 1)
    (E relu^2)^2)`` (the m diagonal and m (m - 1) off-diagonal terms of the squared sum)."""
    from .kernels import relu_moment

    rho2 = sp.factor((C_W / M_W) ** 2 * (M_W * relu_moment(4)
                                         + M_W * (M_W - 1) * relu_moment(2) ** 2))
    return _rsolve_power(rho2)


_C_A = Arg("c", "scalar", "weight scale: x^(h) = sqrt(c/m) relu(W^(h) x^(h-1)) (c_sigma = 2)",
           positive=True)
_H_A = Arg("H", "int", "depth (number of layers)")
_M_A = Arg("m", "int", "width m of every layer")
_FC_MODEL = ("ReLU fc net x^(h) = sqrt(c/m) relu(W^(h) x^(h-1)), h = 1..H, W^(h) entries iid "
             "N(0, 1), widths m, no bias, x^(0) != 0 fixed; ratio |x^(H)|^2/|x^(0)|^2")
register(Formula(
    "kernels.fc_norm_growth", f"{SOURCE}, eq. (3.4) (l.1187) and sec. 3.9.1 (l.1279): the fc "
    "output norm, stable only at c = c_sigma", (_C_A, _H_A), _FC_MODEL, fc_norm_growth,
    lhs=r"\mathbb E\,\|x^{(H)}\|^2/\|x^{(0)}\|^2",
    notes="(c/2)^H: grows or vanishes exponentially in H unless c = c_sigma = 2",
))
register(Formula(
    "kernels.fc_norm_second_moment", f"{SOURCE}, eq. (3.4) (l.1187): the fluctuation of the fc "
    "output norm", (_C_A, _H_A, _M_A), _FC_MODEL, fc_norm_second_moment,
    lhs=r"\mathbb E\,(\|x^{(H)}\|^2/\|x^{(0)}\|^2)^2",
    notes="relative variance (1 + 5/m)^H - 1 at any c: exponential in H at a fixed width",
))


_BETA = Arg("beta", "scalar", "softplus sharpness: sigma(z) = log(1 + exp(beta z))/beta",
            positive=True)
register(Formula(
    "kernels.softplus_smoothness", f"{SOURCE}, Condition 3.1 (l.1001), softplus (l.999, l.1006)",
    (_BETA,), "sigma(z) = log(1 + exp(beta z))/beta", softplus_smoothness,
    lhs=r"\sup_z|\sigma''(z)|",
    notes="the Lipschitz constant sup sigma' is 1 for every beta (a limit, not attained)",
))
register(Formula(
    "kernels.cond31_c", f"{SOURCE}, Condition 3.1 (l.1001): |sigma(0)| <= c, c-Lipschitz, "
    "c-smooth", (_BETA,), "sigma(z) = log(1 + exp(beta z))/beta", cond31_c,
    lhs=r"c_{3.1}",
    paper=lambda: sp.Integer(1) + 0 * BETA,
    paper_reading="l.1006: for softplus (beta = 1) both constants are 1",
))
register(Formula(
    "kernels.deep_loss_bound", f"{SOURCE}, Theorems 3.1-3.3 (l.1255, l.1337, l.1414)",
    (Arg("eta", "scalar", "step size", positive=True),
     Arg("lambda_H", "scalar", "lambda_min(K^(H))", positive=True),
     Arg("k", "scalar", "iteration", domain=(">= 0",)),
     Arg("loss0", "scalar", "L(theta(0))", domain=(">= 0",))),
    "deep fc / ResNet / ConvResNet of width m trained by GD with step eta; lambda_min of the "
    "network's Gram >= lambda_min(K^(H))/2 along the run (the theorems' width and step "
    "conditions, constants unstated)", deep_loss_bound, lhs=r"L(\theta(k)) \le",
    where={L0: (r"L(\theta(0))", "the loss at initialization")},
    paper=lambda: (1 - ETA * LAM / 2) ** K * L0,
    paper_reading="L(theta(k)) <= (1 - eta lambda_min(K^(H))/2)^k L(theta(0))",
    validate=('_rt.require(eta * lambda_H <= 2, "eta", "must be <= 2/lambda_H (a contraction)")',),
))


# --- Definition 3.4 (l.2925, eqs. (3.15)-(3.16)): the population Grams of the general
# architecture X^(h) = D^(h) X^(h-1) + rho^(h)(W^(h) X^(h-1)) (l.2893; Remark 3.5: D = 0 and
# rho = sqrt(c_sigma) sigma give the fc net, D = I and rho = (c_res/H) sigma the ResNet).

def instance_layers(arch: str, depth: int, activation: str = "relu", c_res: float = 1.0):
    """The ``(s_h, d_h)`` of Definitions 3.1-3.3 as instances of Definition 3.4 (Remark 3.5):
    layer 1 ``(sqrt(c_sigma), 0)``; fc ``(sqrt(c_sigma), 0)``, ResNet / ConvResNet ``(c_res/H,
    1)`` afterwards."""
    from .kernels import c_sigma

    s1 = float(np.sqrt(c_sigma(activation)))
    rest = (s1, 0.0) if arch == "fc" else (c_res / depth, 1.0)
    return [(s1, 0.0)] + [rest] * (depth - 1)


def general_kernel(X, layers, activation: str = "relu", patch: bool = False):
    """Thesis Definition 3.4 (l.2925, eqs. (3.15)-(3.16)) with ``rho^(h) = s_h sigma`` and
    ``D^(h) = d_h I`` (``layers = [(s_1, d_1), ..., (s_H, d_H)]``, ``d_1 = 0``: the first layer
    changes the dimension):

    ``K^(h) = d_h^2 K^(h-1) + s_h d_h (b^(h-1) e^T + e b^(h-1)T) + s_h^2 E[sigma(U) sigma(V)]``,
    ``b^(h) = d_h b^(h-1) + s_h e``, ``e = E sigma(U)``, ``b^(0) = 0``, ``(U, V)`` centred
    Gaussian with covariance ``psi(K^(h-1))`` (``psi`` the identity, or with ``patch=True`` the
    patch Gram of Def. 3.3, ``X`` then ``(n, p, d0)``); the Gram of the last layer's weights
    ``K^(H)_ij = s_H^2 sum_pixels psi(K^(H-1)) E[sigma'(U) sigma'(V)]``.  The expectations are
    the layer maps of :mod:`derivations.kernels` (the registered ReLU closed forms, or
    quadrature for softplus).  Returns ``{"K": [K^(0), ..., K^(H-1)], "b": [b^(1), ...,
    b^(H-1)], "K_H": K^(H)}``; Definitions 3.1-3.3 are ``layers = instance_layers(...)``."""
    from . import kernels as KK
    from . import runtime as _rt

    X = _rt.array("X", X)
    if activation not in KK.ACTIVATIONS:
        raise ValueError(f"activation must be one of {KK.ACTIVATIONS}, got {activation!r}")
    try:
        L = np.asarray(layers, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("layers must be a sequence of (s, d) pairs of numbers") from None
    if L.ndim != 2 or L.shape[0] < 1 or L.shape[1] != 2 or not np.all(np.isfinite(L)):
        raise ValueError("layers must be a non-empty sequence of finite (s, d) pairs")
    if np.any(L[:, 0] <= 0):
        raise ValueError("layers: every scale s must be > 0")
    if L[0, 1] != 0:
        raise ValueError("layers: d_1 must be 0 (the first layer changes the dimension)")
    if patch:
        if X.ndim != 3 or min(X.shape) == 0:
            raise ValueError("X must have shape (n, p, d0) when patch=True")
        n, p, d0 = X.shape
        Z = X.reshape(n * p, d0)
        psi = lambda A: KK.patch_gram(A, n, p)  # noqa: E731
    else:
        if X.ndim != 2 or min(X.shape) == 0:
            raise ValueError("X must have shape (n, d) with n >= 1 data points")
        Z, psi = X, (lambda A: A)  # noqa: E731
    Ks, bs = [Z @ Z.T], []
    b = np.zeros(Z.shape[0])
    for s, d in L[:-1]:
        Kp = psi(Ks[-1])
        e = KK._expect_single(Kp, activation)
        Ks.append(d * d * Ks[-1] + s * d * (np.outer(b, e) + np.outer(e, b))
                  + s * s * KK._expect_pair(Kp, "value", activation))
        b = d * b + s * e
        bs.append(b)
    Kp = psi(Ks[-1])
    M = Kp * KK._expect_pair(Kp, "derivative", activation)
    if patch:
        M = np.einsum("isjs->ij", M.reshape(n, p, n, p))
    return {"K": Ks, "b": bs, "K_H": L[-1, 0] ** 2 * M}
