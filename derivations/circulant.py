"""Circulant CNNs and channel normalization (Dai & Heckel 2019; seed 000_170dc71b0c187893.txt).

Model (DH sec. 4, App. B-C).  Single-channel linear CNN ``f(x, w) = W_d ... W_1 x`` with
``W_i = C(w_i)`` circulant, ``C(w)[i, j] = w[(i - j) mod n]`` (first column ``w_i``; kernel size
``p`` means ``w_i[p:] = 0``), loss ``L = 1/2 |y - f|^2``.  Filters are a ``(d, n)`` array.

Conventions (spec normalization.md, "Global conventions"): unitary DFT ``F_{jk} = e^{+2 pi i jk/n}
/ sqrt(n)``, so ``F^H v = fft(v) / sqrt(n)`` (the *unitary coefficients* ``v^``) and
``sqrt(n) F^H w = fft(w)`` (the eigenvalues of ``C(w)``).

Derivations, in the paper's order:

1. :func:`prove_diagonalization` / :func:`prove_product_formula`: ``C(w) = F diag(sqrt(n) F^H w)
   F^H`` (App. B.1) and ``prod_i W_i x = n^{d/2} F (prod_i diag(F^H w_i)) F^H x`` proved by SymPy
   for concrete small ``n`` with symbolic entries.  The derivation path is symbolic in n:
   :func:`circulant_eigenvalue` (``Sum.change_index`` over the mod-n split of ``C(w)[a, b] =
   w[(a - b) mod n]``), :func:`eigenvalue_scale` (``lambda_j / w^_j = sqrt(n)``),
   :func:`prove_unitary` (the geometric sum) and :func:`_eig_scale` (``Product.doit`` over d
   layers: ``n^{d/2}``); the concrete-n proofs check the derived scale against dense matrices.
2. Per-frequency forms.  With ``P_j = prod_i w^_{ij}`` (unitary coefficients of the filters),
   the output spectrum is ``f^_j = n^{d/2} P_j x^_j`` (``circulant.output``) and the loss splits
   into ``L = sum_j l_j``, ``l_j = 1/2 |y^_j - n^{d/2} P_j x^_j|^2`` (``circulant.loss``; eq. of
   App. B.1).  The gradient (``circulant.grad``) is derived by real-imaginary calculus: with
   ``P_j = a_j Q_j`` (``a`` the k-th filter's coefficient, ``Q`` the product of the others),
   ``g = dl/d Re a + i dl/d Im a`` by ``sp.diff``, and the chain rule through
   ``a_j = n^{-1/2} sum_m w_m e^{-i theta_j m}`` gives ``dL/dw_m = Re sum_j S_j e^{+i theta_j m}``
   with ``S_j = g_j / sqrt(n)``: one inverse FFT per filter.
3. Channel normalization (gamma = 1, beta = 0, eps = 0; App. C): the layerwise definition
   ``CN(v) = (v - mean v)/sqrt(var v)`` is proved equal to ``sqrt(n) z/|z|`` with
   ``z = W_d ... W_1 (x - mean x)`` (:func:`prove_cn_closed_form`), and
   ``f_N = w_out z/|z|`` (sqrt(n) absorbed into ``w_out``, eq. (7)).  ``cn_loss``,
   ``cn_grad_out`` by SymPy on the invariant form; ``cn_grad_w`` = the invariant gradient
   ``dL/dz = c_y y + c_z z`` (:func:`derivations.vectors.grad`) pulled back through the
   per-frequency linear map (the same real-imaginary calculus as 2).
4. Theorem 1's constants (App. B.2): ``E|w_i|`` by integrating the radial density of ``p``
   i.i.d. ``N(0, s^2)`` taps, ``c_2`` and ``c`` by ``solve``, and ``E|prod W_i x|^2 =
   (p s^2)^d |x|^2`` by the expectation of ``|w^_ij|^2`` per frequency and Parseval.

Every numeric constant a derivation starts from goes through :func:`derivations.knobs.knob`.
The FFT-based emitted code is printed by :func:`emit` from ``formula.expr`` (CSE via
:func:`derivations.codegen.print_block`) inside fixed rfft/irfft templates.
"""
from __future__ import annotations

import sympy as sp

from . import vectors as V
from .knobs import cached, knob
from .registry import Arg, Formula, register

SOURCE = "000 Dai & Heckel 2019"

# --------------------------------------------------------------------------------------------
# Symbols
# --------------------------------------------------------------------------------------------

n, d = sp.symbols("n d", positive=True, integer=True)
p = sp.Symbol("p", positive=True, integer=True)
s = sp.Symbol("s", positive=True)            # tap standard deviation
w_out = sp.Symbol("w_out", real=True)        # the scale w_{d+1} of eq. (7)
theta = sp.Symbol("theta", real=True)        # 2 pi j m / n
# unitary Fourier coefficients at one frequency j (real and imaginary parts)
P_re, P_im = sp.symbols("P_re P_im", real=True)    # prod_i w^_ij (all layers)
A_re, A_im = sp.symbols("A_re A_im", real=True)    # w^_kj, the differentiated layer
Q_re, Q_im = sp.symbols("Q_re Q_im", real=True)    # prod_{i != k} w^_ij
X_re, X_im = sp.symbols("X_re X_im", real=True)    # x^_j (centered x for CN)
Y_re, Y_im = sp.symbols("Y_re Y_im", real=True)    # y^_j
G_re, G_im = sp.symbols("G_re G_im", real=True)    # (dL/dz)^_j

# Per-frequency "basis": real and imaginary part of a spectrum (interpreted by the emitter).
_FREQ = "circulant_freq"
E_re = V.vector("E_re", _FREQ, r"\mathrm{Re}")
E_im = V.vector("E_im", _FREQ, r"\mathrm{Im}")
# invariant vectors of the channel-normalized output
Y = V.vector("y", "d")  # space "d" is shared with derivations.kernels (same names)
Z = V.vector("z", "d", r"\mathbf{z}")

PER_FREQ = {P_re: r"\mathrm{Re}\,P_j", P_im: r"\mathrm{Im}\,P_j", A_re: r"\mathrm{Re}\,\hat w_{kj}",
            A_im: r"\mathrm{Im}\,\hat w_{kj}", Q_re: r"\mathrm{Re}\,Q_{kj}",
            Q_im: r"\mathrm{Im}\,Q_{kj}", X_re: r"\mathrm{Re}\,\hat x_j", X_im: r"\mathrm{Im}\,\hat x_j",
            Y_re: r"\mathrm{Re}\,\hat y_j", Y_im: r"\mathrm{Im}\,\hat y_j",
            G_re: r"\mathrm{Re}\,\hat g_j", G_im: r"\mathrm{Im}\,\hat g_j", w_out: r"w_{d+1}"}
WHERE = {
    r"\hat v_j": "unitary DFT coefficient (F^H v)_j = fft(v)_j / sqrt(n)",
    r"P_j": "prod_i w^_ij, product of the d filters' unitary coefficients at frequency j",
    r"Q_{kj}": "prod_{i != k} w^_ij",
    r"\mathrm{Re},\ \mathrm{Im}": "real and imaginary part of the per-frequency spectrum",
    n: "signal length (number of frequencies j = 0, ..., n-1)",
    d: "number of circulant layers",
}
_MEANING = {P_re: "P_j", P_im: "P_j", A_re: "w^_kj, the unitary DFT coefficient of the layer k",
            A_im: "w^_kj, the unitary DFT coefficient of the layer k",
            Q_re: "Q_kj", Q_im: "Q_kj", X_re: "x^_j, the unitary DFT of the input (centred for CN)",
            X_im: "x^_j, the unitary DFT of the input (centred for CN)",
            Y_re: "y^_j, the unitary DFT of the target", Y_im: "y^_j, the unitary DFT of the target",
            G_re: "g^_j, the unitary DFT of dL/dz", G_im: "g^_j, the unitary DFT of dL/dz"}
# each per-frequency symbol under its printed name (the "where" list of the LaTeX output)
WHERE.update({s: (PER_FREQ[s], ("real" if str(s).endswith("_re") else "imaginary")
                  + " part of " + what) for s, what in _MEANING.items()})


def _cx(re, im):
    return re + sp.I * im


def _split(z):
    """Real and imaginary part of an expression in real symbols (``expand_complex``)."""
    z = sp.expand_complex(sp.expand(z))
    return sp.simplify(sp.re(z)), sp.simplify(sp.im(z))


# --------------------------------------------------------------------------------------------
# 1. Diagonalization and product formula (symbolic proofs for concrete n)
# --------------------------------------------------------------------------------------------


def circulant_matrix(c) -> sp.Matrix:
    """``C(c)[i, j] = c[(i - j) mod n]`` (first column ``c``), the model's definition."""
    m = len(c)
    return sp.Matrix(m, m, lambda i, j: c[(i - j) % m])


def dft_matrix(m: int) -> sp.Matrix:
    """Unitary DFT ``F_{jk} = e^{+2 pi i jk/m} / sqrt(m)``."""
    return sp.Matrix(m, m, lambda j, k: sp.exp(2 * sp.pi * sp.I * j * k / m) / sp.sqrt(m))


def _is_zero_matrix(M: sp.Matrix) -> bool:
    return all(sp.simplify(sp.expand_complex(sp.expand(e))) == 0 for e in M)


def prove_diagonalization(m: int) -> bool:
    """``C(w) = F diag(sqrt(m) F^H w) F^H`` for symbolic real ``w`` of length ``m`` (exact)."""
    w = sp.symbols(f"w0:{m}", real=True)
    F = dft_matrix(m)
    lam = eigenvalue_scale().subs(n, m) * F.H * sp.Matrix(w)
    return _is_zero_matrix(F * sp.diag(*lam) * F.H - circulant_matrix(w))


def prove_product_formula(m: int, depth: int) -> bool:
    """``prod_i C(w_i) x = m^{d/2} F (prod_i diag(F^H w_i)) F^H x`` (App. B.1), exact."""
    F = dft_matrix(m)
    x = sp.Matrix(sp.symbols(f"x0:{m}", real=True))
    dense = x
    diag = sp.eye(m)
    for i in range(depth):
        w = sp.symbols(f"w{i}_0:{m}", real=True)
        dense = circulant_matrix(w) * dense
        diag = sp.diag(*(F.H * sp.Matrix(w))) * diag
    rn = eigenvalue_scale().subs(n, m)
    return _is_zero_matrix(rn**depth * F * diag * F.H * x - dense)


# --------------------------------------------------------------------------------------------
# 2. Per-frequency output, loss and gradient
# --------------------------------------------------------------------------------------------


# The same facts for symbolic n, in the model's own index notation (the derivation path).
_k, _a, _b, _m, _q = sp.symbols("k a b m q", integer=True)
_i = sp.Symbol("i", integer=True, positive=True)
_W = sp.IndexedBase("w")        # taps of one filter, w[m], m = 0 .. n-1
_AH = sp.IndexedBase("a")       # unitary coefficients w^_{ij} of the layers i = 1 .. d at one j


def dft_norm():
    """The ``1/sqrt(n)`` of the unitary DFT ``F_{jk} = e^{2 pi i jk/n}/sqrt(n)`` (a knob)."""
    return knob("circulant.dft_norm", 1 / sp.sqrt(n))


def fourier_mode(t, k=_k):
    """Entry ``t`` of the column ``k`` of ``F``: ``e^{+2 pi i k t/n}/sqrt(n)``."""
    return dft_norm() * sp.exp(2 * sp.pi * sp.I * k * t / n)


@cached
def circulant_eigenvalue() -> sp.Expr:
    """Summand ``lambda_k(m)`` of ``lambda_k = sum_{m=0}^{n-1} lambda_k(m)`` with ``C(w) e_k =
    lambda_k e_k``, derived by SymPy for symbolic ``n`` from ``C(w)[a, b] = w[(a - b) mod n]``.

    ``(C(w) e_k)_a = sum_{b <= a} w[a - b] e_k(b) + sum_{b > a} w[a - b + n] e_k(b)`` (the mod-n
    index split at ``b = a``); ``Sum.change_index`` with ``m = a - b`` and ``m = a + n - b`` maps
    the two sums to ``m in [0, a]`` and ``m in [a + 1, n - 1]``, whose summands SymPy proves
    equal (``e^{2 pi i k} = 1`` for integer k), so they join into one sum over ``m = 0..n-1``;
    dividing the summand by ``e_k(a)`` leaves ``w_m e^{-2 pi i k m/n}``, free of ``a``: an
    eigenvector with an eigenvalue independent of the row.
    """
    s1 = sp.Sum(_W[_a - _b] * fourier_mode(_b), (_b, 0, _a)).change_index(_b, _a - _b, _m)
    s2 = sp.Sum(_W[_a - _b + n] * fourier_mode(_b), (_b, _a + 1, n - 1)).change_index(
        _b, _a + n - _b, _m)
    if s1.limits != ((_m, 0, _a),) or s2.limits != ((_m, _a + 1, n - 1),):
        raise ArithmeticError(f"the two index ranges do not tile 0..n-1: {s1.limits}, {s2.limits}")
    if sp.simplify(sp.powsimp(sp.expand(s2.function - s1.function), combine="exp")) != 0:
        raise ArithmeticError("the wrapped and unwrapped summands differ (no periodicity)")
    summand = sp.simplify(s1.function / fourier_mode(_a))
    if _a in summand.free_symbols:
        raise ArithmeticError("the Fourier mode is not an eigenvector of C(w)")
    return summand


@cached
def eigenvalue_scale() -> sp.Expr:
    """``lambda_k / w^_k`` with ``w^_k = (F^H w)_k = sum_m conj(F_{mk}) w_m`` (the unitary
    coefficient): the ratio of the two sums' summands, which SymPy finds free of ``m`` and ``k``
    (``sqrt(n)``, App. B.1's ``C(w) = F diag(sqrt(n) F^H w) F^H``)."""
    coef = sp.conjugate(fourier_mode(_m)) * _W[_m]
    ratio = sp.simplify(circulant_eigenvalue() / coef)
    if ratio.free_symbols - {n}:
        raise ArithmeticError(f"eigenvalue / unitary coefficient depends on the index: {ratio}")
    return ratio


def prove_unitary() -> bool:
    """``(F^H F)_{jk} = sum_b conj(F_{bj}) F_{bk} = delta_{jk}`` for symbolic n: the geometric
    sum ``sum_b e^{2 pi i q b/n}`` (``q = k - j``) by ``Sum.doit`` is ``n`` if ``e^{2 pi i q/n}
    = 1`` and 0 otherwise."""
    g = sp.Sum(sp.conjugate(fourier_mode(_b, 0)) * fourier_mode(_b, _q), (_b, 0, n - 1)).doit()
    g = sp.simplify(g)
    if not isinstance(g, sp.Piecewise) or len(g.args) != 2:
        return False
    (on, cond), (off, _) = g.args
    return bool(sp.simplify(on - 1) == 0 and off == 0 and cond.subs(_q, 0) == sp.true)


def parseval_factor() -> sp.Expr:
    """``|v|^2 = c sum_j |v^_j|^2`` with ``c = 1/sum_b |F_{bk}|^2`` (the q = 0 value of the
    geometric sum of :func:`prove_unitary`; 1 for the unitary F)."""
    return sp.simplify(1 / sp.Sum(sp.Abs(fourier_mode(_b)) ** 2, (_b, 0, n - 1)).doit())


def _eig_scale():
    """``n^{d/2}``: ``prod_{i=1}^d lambda_ij = prod_i (scale * w^_ij)`` by ``Product.doit`` for
    symbolic depth d, ``scale`` from :func:`eigenvalue_scale`; returns the factor multiplying
    ``P_j = prod_i w^_ij``."""
    prod = sp.Product(eigenvalue_scale() * _AH[_i], (_i, 1, d)).doit()
    pj = sp.Symbol("P_j")
    coeff = prod.subs(sp.Product(_AH[_i], (_i, 1, d)), pj)
    factor = sp.simplify(coeff / pj)
    if factor.free_symbols - {n, d}:
        raise ArithmeticError(f"the layer product does not factor as c * P_j: {coeff}")
    return factor


@cached
def output_spectrum() -> sp.Expr:
    """``f^_j = n^{d/2} P_j x^_j`` as ``Re * E_re + Im * E_im`` (App. B.1), derived: ``x =
    sum_j x^_j e_j`` (F unitary, :func:`prove_unitary`), each ``e_j`` an eigenvector of every
    layer (:func:`circulant_eigenvalue`), so ``f = sum_j (prod_i lambda_ij) x^_j e_j`` and
    ``prod_i lambda_ij = n^{d/2} P_j`` (:func:`_eig_scale`)."""
    re, im = _split(_eig_scale() * _cx(P_re, P_im) * _cx(X_re, X_im))
    return re * E_re + im * E_im


def _spectrum(expr) -> tuple[sp.Expr, sp.Expr]:
    parts = dict((b, c) for c, b in V.components(expr, 1))
    return parts.get(E_re, sp.Integer(0)), parts.get(E_im, sp.Integer(0))


@cached
def loss_per_frequency() -> sp.Expr:
    """``l_j = 1/2 |y^_j - f^_j|^2``: ``L = 1/2 |y - f|^2 = (c/2) sum_j |y^_j - f^_j|^2``
    (Parseval, ``c`` = :func:`parseval_factor` = 1 derived from the geometric sum)."""
    f_re, f_im = _spectrum(output_spectrum())
    half = knob("circulant.loss_half", sp.Rational(1, 2))
    return sp.expand(half * parseval_factor() * ((Y_re - f_re) ** 2 + (Y_im - f_im) ** 2))


def _chain_spectrum(g_re, g_im) -> tuple[sp.Expr, sp.Expr]:
    """Pull ``(dl/dRe a, dl/dIm a)`` back to the taps: ``dL/dw_m = sum_j (g_re dRe a/dw_m +
    g_im dIm a/dw_m)`` with ``a = n^{-1/2} sum_m w_m e^{-i theta m}`` (``d a/d w_m`` by
    ``sp.diff`` of the DFT definition); written as
    ``Re sum_j S_j e^{+i theta}``, ``S`` is read off at theta = 0 (Re) and pi/2 (Im)."""
    # d a / d w_m by sp.diff of the unitary coefficient a = sum_m conj(F_{mk}) w_m, written
    # with theta = 2 pi k m / n
    term = sp.conjugate(fourier_mode(_m)) * _W[_m]
    coef = sp.diff(term, _W[_m]).subs(_m, theta * n / (2 * sp.pi * _k))
    if coef.has(_k) or coef.has(_m):
        raise ArithmeticError(f"d a/d w_m is not a function of theta: {coef}")
    da_re, da_im = _split(coef)
    contrib = g_re * da_re + g_im * da_im        # = Re(S e^{i theta}) = S_re cos - S_im sin
    s_re = sp.simplify(contrib.subs(theta, 0))
    s_im = sp.simplify(-contrib.subs(theta, sp.pi / 2))
    check = sp.simplify(sp.expand_trig(contrib - (s_re * sp.cos(theta) - s_im * sp.sin(theta))))
    if check != 0:
        raise ArithmeticError("chain rule through the DFT is not of the form Re(S e^{i theta})")
    return s_re, s_im


@cached
def grad_spectrum() -> sp.Expr:
    """``S_j`` of ``dL/dw_k = Re sum_j S_j e^{i theta_j m}`` (real-imaginary calculus)."""
    p_re, p_im = _split(_cx(A_re, A_im) * _cx(Q_re, Q_im))
    l_k = loss_per_frequency().subs({P_re: p_re, P_im: p_im}, simultaneous=True)
    g_re, g_im = sp.diff(l_k, A_re), sp.diff(l_k, A_im)
    s_re, s_im = _chain_spectrum(g_re, g_im)
    return sp.factor(s_re) * E_re + sp.factor(s_im) * E_im


@cached
def grad_residual_spectrum() -> sp.Expr:
    """``R_j`` with ``S_kj = conj(Q_kj) R_j`` for every layer k (used by the fused emitter).

    The layer enters ``S`` only through ``conj(Q)`` and ``P = A Q``: SymPy divides the derived
    :func:`grad_spectrum` by ``conj(Q)``, substitutes ``A = P/Q`` and must find a result free of
    ``A`` and ``Q`` (else ArithmeticError).  The result, ``n^{-1/2}(n^d |x^|^2 P -
    n^{d/2} conj(x^) y^)``, is one per-frequency array shared by all d layers, so the gradient
    spectra cost one complex product per layer instead of the full expression.
    """
    s_re, s_im = _spectrum(grad_spectrum())
    a_re, a_im = _split(_cx(P_re, P_im) / _cx(Q_re, Q_im))
    r = sp.expand(_cx(s_re, s_im) / _cx(Q_re, -Q_im)).subs({A_re: a_re, A_im: a_im},
                                                           simultaneous=True)
    r_re, r_im = _split(r)
    if {A_re, A_im, Q_re, Q_im} & (r_re.free_symbols | r_im.free_symbols):
        raise ArithmeticError("the gradient spectrum does not factor as conj(Q) R(P, x^, y^)")
    return r_re * E_re + r_im * E_im


def _paper_grad_spectrum() -> sp.Expr:
    """DH sec. 4 as printed: ``grad_{w_k} L = X_k^T (y - X_k w_k)``, i.e. the adjoint of
    ``w_k -> X_k w_k`` (per frequency: multiplication by n^{d/2} Q x^, adjoint = conjugate, and
    the 1/sqrt(n) of the unitary coefficient) applied to the residual, *without* a minus sign."""
    lam = sp.sqrt(n) ** d * _cx(Q_re, Q_im) * _cx(X_re, X_im)
    resid = _cx(Y_re, Y_im) - lam * _cx(A_re, A_im)
    re, im = _split(sp.conjugate(lam) * resid / sp.sqrt(n))
    return re * E_re + im * E_im


# --------------------------------------------------------------------------------------------
# 3. Channel normalization
# --------------------------------------------------------------------------------------------


def channel_norm(v: sp.Matrix) -> sp.Matrix:
    """DH sec. 2 with gamma = 1, beta = 0, eps = 0: ``(v - mean v) / sqrt(var v)``, biased
    (1/n) variance (the model's definition, applied to an explicit vector)."""
    m = len(v)
    mean = sum(v) / m
    c = v - mean * sp.ones(m, 1)
    var = sum(t**2 for t in c) / m
    return c / sp.sqrt(var)


def prove_centering_preserved(m: int) -> bool:
    """A16: ``1^T C(w) = (sum w) 1^T`` for symbolic ``w`` of length ``m``."""
    w = sp.symbols(f"w0:{m}", real=True)
    return _is_zero_matrix(sp.ones(1, m) * circulant_matrix(w) - sum(w) * sp.ones(1, m))


_NV, _SV, _TOT, _CS = sp.symbols("n_v S_v T_v c", positive=True)  # n, |v|^2, 1.v, scale


def cn_scale() -> sp.Expr:
    """``CN(v) = (v - mean(v) 1) * cn_scale()`` in invariants: ``mean = (1.v)/n``, biased
    ``var = |v|^2/n - mean^2`` (the definition of :func:`channel_norm`)."""
    mean = _TOT / _NV
    var = _SV / _NV - mean**2
    return 1 / sp.sqrt(var)


def prove_cn_closed_form() -> bool:
    """Layerwise CN equals ``sqrt(n) z/|z|`` (A17), in any dimension, by two SymPy facts:

    (a) for a centered ``v`` (``1.v = 0``): ``CN(v) = sqrt(n) v / |v|`` (mean 0, var |v|^2/n);
    (b) ``CN(c v) = CN(v)`` for ``c > 0``, and ``W`` maps centered vectors to centered vectors
        (:func:`prove_centering_preserved`), so by induction ``z_{i+1} = CN(W_i z_i)`` with
        ``z_1 = x - mean(x)`` gives ``z_{d+1} = CN(W_d ... W_1 x_c) = sqrt(n) z/|z|``.
    """
    scale_of_v = cn_scale()
    a = sp.simplify(scale_of_v.subs(_TOT, 0) - sp.sqrt(_NV) / sp.sqrt(_SV)) == 0
    # (b): CN(c v) for centered v: |c v|^2 = c^2 |v|^2 -> same normalized vector
    b = sp.simplify(_CS * scale_of_v.subs({_TOT: 0, _SV: _CS**2 * _SV})
                    - scale_of_v.subs(_TOT, 0)) == 0
    return bool(a and b)


def prove_cn_layerwise(m: int, depth: int) -> bool:
    """Layerwise CN with symbolic filters (m = 2 or 3, small depth) equals sqrt(m) z/|z|,
    compared on the squared entries' ratios (exact, sign-safe: both sides are positive
    multiples of z)."""
    x = sp.Matrix(sp.symbols(f"x0:{m}", real=True))
    xc = x - (sum(x) / m) * sp.ones(m, 1)
    zl, z = xc, xc
    for i in range(depth):
        W = circulant_matrix(sp.symbols(f"w{i}_0:{m}", real=True))
        zl = channel_norm(W * zl)
        z = W * z
    nz2 = sum(t**2 for t in z)
    # zl = k z with k = sqrt(m)/|z|  <=>  zl_i * |z| = sqrt(m) z_i; check squares and signs
    ok = all(sp.simplify(zl[i] ** 2 * nz2 - m * z[i] ** 2) == 0 for i in range(m))
    return bool(ok)


@cached
def cn_output_expr() -> sp.Expr:
    """``f_N = w_{d+1} CN(z)`` (eq. (7)) derived from the CN definition: ``z`` is centered
    (:func:`prove_centering_preserved`), so its CN is ``cn_scale()`` at ``1.z = 0``, ``|v|^2 =
    |z|^2``: ``sqrt(n)/|z|`` times ``z`` (SymPy).  Eq. (7) absorbs the constant part of that
    coefficient (SymPy: ``coefficient * |z|``, free of z, i.e. ``sqrt(n)``) into the output
    weight, ``w_out = sqrt(n) w_{d+1}`` (that reparametrization is eq. (7)'s definition, a
    premise; the sqrt(n) itself is derived); the result is ``w_out z/|z|``."""
    if not prove_cn_closed_form():
        raise ArithmeticError("channel normalization closed form not proved")
    coef = sp.simplify(cn_scale().subs({_TOT: 0, _NV: n, _SV: V.norm(Z) ** 2}))
    absorbed = sp.simplify(coef * V.norm(Z))
    if Z in absorbed.free_symbols or V.norm(Z) in absorbed.free_symbols:
        raise ArithmeticError(f"the CN coefficient is not c/|z|: {coef}")
    return w_out * sp.simplify(coef / absorbed) * Z


@cached
def cn_loss_expr() -> sp.Expr:
    """``1/2 |y - w_out z/|z||^2`` expanded in invariants."""
    half = knob("circulant.cn_half", sp.Rational(1, 2))
    coef = sp.diff(cn_output_expr(), Z)      # w_out/|z|
    sq = V.norm(Y) ** 2 - 2 * coef * V.dot(Y, Z) + coef**2 * V.norm(Z) ** 2
    return sp.simplify(sp.expand(half * sq))


@cached
def cn_grad_out_expr() -> sp.Expr:
    return sp.simplify(sp.diff(cn_loss_expr(), w_out))


@cached
def cn_grad_z_expr() -> sp.Expr:
    """``dL_N/dz = c_y y + c_z z`` by the invariant calculus."""
    return V.grad(cn_loss_expr(), Z)


@cached
def backprop_spectrum() -> sp.Expr:
    """Pull-back of a gradient ``g = dL/dz`` through ``z^_j = n^{d/2} a_j Q_j x^_j``:
    ``dL = Re sum_j conj(g^_j) dz^_j`` (Parseval), differentiated in Re a, Im a."""
    f_re, f_im = _spectrum(output_spectrum())
    p_re, p_im = _split(_cx(A_re, A_im) * _cx(Q_re, Q_im))
    f_re = f_re.subs({P_re: p_re, P_im: p_im}, simultaneous=True)
    f_im = f_im.subs({P_re: p_re, P_im: p_im}, simultaneous=True)
    lin = G_re * f_re + G_im * f_im           # Re(conj(G) f)
    s_re, s_im = _chain_spectrum(sp.diff(lin, A_re), sp.diff(lin, A_im))
    return sp.factor(s_re) * E_re + sp.factor(s_im) * E_im


@cached
def cn_grad_w_expr() -> sp.Expr:
    """``S_j(G) E + (c_y y + c_z z)``: the emitter forms g = c_y y + c_z z, G = g^, then S."""
    return backprop_spectrum() + cn_grad_z_expr()


def _paper_cn_grad_w() -> sp.Expr:
    """DH sec. 4 / App. C.1 as printed: ``X_k^T (w_{d+1}/|X_k w_k|)(I - P_{X_k w_k}) y``:
    the pull-back of ``g = +(w_out/|z|)(y - (y.z) z/|z|^2)`` (no minus sign, loss without
    the 1/2)."""
    g = w_out / V.norm(Z) * (Y - V.dot(Y, Z) / V.norm(Z) ** 2 * Z)
    return backprop_spectrum() + sp.expand(g)


# --------------------------------------------------------------------------------------------
# 4. Theorem 1's constants
# --------------------------------------------------------------------------------------------

r_ = sp.Symbol("r", positive=True)


def init_variance():
    """Theorem 1: taps i.i.d. N(0, 1/(np)) (covariance (1/(np)) I_p, *not* Glorot)."""
    return knob("circulant.init_var", 1 / (n * p))


@cached
def norm_mean_expr() -> sp.Expr:
    """``E|w_i|`` for p i.i.d. N(0, s^2) taps: the radial density of a spherical Gaussian in
    R^p is proportional to ``r^{p-1} e^{-r^2/(2 s^2)}`` (polar coordinates), so
    ``E|w| = int r^p e / int r^{p-1} e``; then ``s^2 = 1/(np)``."""
    dens = r_ ** (p - 1) * sp.exp(-r_**2 / (2 * s**2))
    num = sp.integrate(r_ * dens, (r_, 0, sp.oo), conds="none")
    den = sp.integrate(dens, (r_, 0, sp.oo), conds="none")
    mean = sp.simplify(sp.gammasimp(num / den))
    return sp.simplify(mean.subs(s, sp.sqrt(init_variance())))


@cached
def c2_expr() -> sp.Expr:
    """Assumption 1: ``E|w_i| = (1 - c_2)/sqrt(n)``, solved for c_2."""
    c2 = sp.Symbol("c_2")
    sol = sp.solve(sp.Eq(norm_mean_expr(), (1 - c2) / sp.sqrt(n)), c2)
    if len(sol) != 1:
        raise ArithmeticError(f"c_2 not unique: {sol}")
    return sp.simplify(sol[0])


@cached
def rate_c_expr() -> sp.Expr:
    """Lemma 2: ``exp(-4c) = 1 - c_2``, solved for c."""
    c = sp.Symbol("c", real=True)
    sol = sp.solve(sp.Eq(sp.exp(-4 * c), 1 - c2_expr()), c)
    real = [t for t in sol if t.is_real is not False]
    if len(real) != 1:
        raise ArithmeticError(f"c not unique: {sol}")
    return sp.simplify(real[0])


@cached
def output_energy_expr() -> sp.Expr:
    """``E|prod_i W_i x|^2`` for filters with p i.i.d. N(0, s^2) taps (A11).

    Per frequency ``E|w^_ij|^2 = (1/n) sum_{m, m' < p} E[w_m w_m'] e^{-i theta (m - m')}
    = p s^2 / n`` (``E[w_m w_m'] = s^2 delta``), the layers are independent, so
    ``E|f^_j|^2 = n^d (p s^2/n)^d |x^_j|^2`` and Parseval sums ``|x^_j|^2`` to ``|x|^2``.
    """
    m, mp = sp.symbols("m mp", integer=True, nonnegative=True)
    var = knob("circulant.energy_var", s**2)
    e_abs2 = sp.Sum(sp.Sum(var * sp.KroneckerDelta(m, mp)
                           * sp.exp(-sp.I * theta * (m - mp)), (mp, 0, p - 1)),
                    (m, 0, p - 1)).doit() / n
    e_abs2 = sp.simplify(sp.piecewise_fold(e_abs2))
    if isinstance(e_abs2, sp.Piecewise):
        e_abs2 = e_abs2.args[0][0]
    per_freq = sp.simplify(_eig_scale() ** 2 * e_abs2**d)
    return sp.powsimp(sp.simplify(per_freq * V.norm(sp.Symbol("x")) ** 2), force=True)


# --------------------------------------------------------------------------------------------
# 4b. The rest of Theorem 1's chain (App. B.2): Lemma 2 eqs. (1)-(3), c_1, the |D(v)| bound
# --------------------------------------------------------------------------------------------

t_ = sp.Symbol("t", positive=True)


@cached
def small_ball_c1_expr() -> sp.Expr:
    """Assumption 1's small-ball constant: ``P[|w_i| <= t] <= c_1 t`` for all t > 0.

    With the radial density of p i.i.d. N(0, s^2) taps (as in :func:`norm_mean_expr`),
    ``F(t) = int_0^t r^{p-1} e^{-r^2/(2s^2)} dr / Z <= int_0^t r^{p-1} dr / Z = C t^p`` (the
    Gaussian factor is <= 1; SymPy integrates both), and ``F <= 1``; so ``F(t)/t <=
    min(1/t, C t^{p-1})``, largest where the two meet (``solve``): ``c_1 = 1/t* = C^{1/p}``.
    For p = 1 this is the exact ``sup_t F(t)/t = F'(0) = sqrt(2n/pi)`` (F concave); for p >= 2
    it is an upper bound (the checks measure its slack against the exact supremum)."""
    dens = r_ ** (p - 1) * sp.exp(-r_**2 / (2 * s**2))
    Z = sp.integrate(dens, (r_, 0, sp.oo), conds="none")
    C = sp.simplify(sp.integrate(r_ ** (p - 1), (r_, 0, t_), conds="none") / Z / t_**p)
    if t_ in C.free_symbols:
        raise ArithmeticError(f"the small-t bound is not C t^p: {C}")
    sol = sp.solve(sp.Eq(1 / t_, C * t_ ** (p - 1)), t_)
    if len(sol) != 1:
        raise ArithmeticError(f"the meeting point of 1/t and C t^(p-1) is not unique: {sol}")
    return sp.simplify(sp.simplify(1 / sol[0]).subs(s, sp.sqrt(init_variance())))


def _exp_cd(k=1):
    """``exp(k c d)`` with Lemma 2's c (:func:`rate_c_expr`)."""
    return sp.exp(k * rate_c_expr() * d)


@cached
def lemma2_min_expr() -> sp.Expr:
    """Lemma 2 eq. (2): ``P[min_i |w_i| <= e^{-cd}] <= sum_i P[|w_i| <= e^{-cd}] <= d c_1
    e^{-cd}`` (union bound, then the small-ball bound at t = e^{-cd}): ``d F(t)`` with
    ``F(t) <= c_1 t`` substituted."""
    F = sp.Function("F")
    union = d * F(t_)
    return sp.simplify(union.subs(F(t_), small_ball_c1_expr() * t_).subs(t_, 1 / _exp_cd()))


@cached
def lemma2_max_expr() -> sp.Expr:
    """Lemma 2 eq. (3): ``P[max_i |w_i| >= e^{cd}] <= sum_i P[|w_i| >= e^{cd}] <= d E|w_i|
    e^{-cd}`` (union bound, then Markov ``P[X >= t] <= E X/t``, E|w_i| from
    :func:`norm_mean_expr`)."""
    EX = sp.Symbol("EX", positive=True)
    markov = EX / t_
    return sp.simplify((d * markov).subs(EX, norm_mean_expr()).subs(t_, _exp_cd()))


@cached
def lemma2_prod_expr() -> sp.Expr:
    """Lemma 2 eq. (1) with its union bound over k: ``P[max_k prod_{i != k} |w_i| >= t] <=
    d prod_{i != k} E|w_i| / t`` (Markov, independent layers), ``E|w_i| = (1 - c_2)/sqrt(n)``,
    ``t = e^{-2cd}/n^{d/2}`` (Lemma 2's alpha).  SymPy: ``d sqrt(n) e^{-2c(d-2)}`` (spec A12)."""
    EX = sp.Symbol("EX", positive=True)
    markov = EX ** (d - 1) / t_
    alpha = 1 / _exp_cd(2) / sp.sqrt(n) ** d
    return sp.simplify(sp.powsimp((d * markov).subs(EX, norm_mean_expr()).subs(t_, alpha),
                                  force=True))


@cached
def lemma2_failure_expr() -> sp.Expr:
    """Lemma 2: the conditions i-iii fail with probability at most the sum of eqs. (1)-(3)."""
    return lemma2_prod_expr() + lemma2_min_expr() + lemma2_max_expr()


NY, NX, PV = sp.symbols("norm_y norm_x prod_v", nonnegative=True)


@cached
def residual_bound_expr() -> sp.Expr:
    """B.2 (spec A14): ``|D(v)| = |F^H y - n^{d/2} prod_i diag(F^H v_i) F^H x|`` bounded by the
    triangle inequality: ``|F^H y| = |y|`` (Parseval, :func:`parseval_factor`) and, per
    frequency, ``|v^_ij| <= |F_{:j}| |v_i| = |v_i|`` (Cauchy-Schwarz with the column norm
    ``sum_b |F_bj|^2 = 1/parseval_factor``), the layer product's ``n^{d/2}`` from
    :func:`_eig_scale`, and ``|F^H x| = |x|``:  ``|D| <= |y| + n^{d/2} prod_i |v_i| |x|``.
    Attained (the checks' tightness row) at constant filters and input, y = -f."""
    col = sp.sqrt(1 / parseval_factor())          # |F_{:j}|, Cauchy-Schwarz factor
    unit = sp.sqrt(parseval_factor())             # |F^H v| / |v|
    return sp.simplify(NY / unit + _eig_scale() * (col * PV) * NX / unit)


def _paper_residual_bound():
    """B.2 as printed: ``|D(v)| <= sum_j (|f_j^H y| + n^{d/2} prod |f_j^H v_i| |f_j^H x|) <=
    n(|y| + n^{d/2} prod |v_i| |x|)`` (the middle form; the last step also drops prod|v_i|)."""
    return n * (NY + sp.sqrt(n) ** d * PV * NX)


# --------------------------------------------------------------------------------------------
# Arguments of the emitted functions (templates: derivations/codegen/templates/circulant.py)
# --------------------------------------------------------------------------------------------

_ARG_W = Arg("w", "vector", "filters, shape (..., d, n): row i is the first column of W_{i+1}",
             space="n")
_ARG_X = Arg("x", "vector", "input, shape (..., n)", space="n")
_ARG_Y = Arg("y", "vector", "target, shape (..., n)", space="n")
_ARG_P = Arg("p", "int", "kernel size: the trainable taps are w[..., :p], 1 <= p <= n",
             domain=("<= w.shape[-1]: the filters w have n = w.shape[-1] taps",))
_ARG_WOUT = Arg("w_out", "scalar", "output scale w_{d+1} of eq. (7), shape (...)")


def residual_form(expr, ys=(Y_re, Y_im)):
    """``(c, [r_1, r_2])`` with ``expr == c (r_1^2 + r_2^2)`` and ``r_i = F_i - Y_i``: the square
    completed in the target of a loss quadratic in it (``1/2 |F_j - Y_j|^2`` per frequency),
    derived by differentiation (``dl/dY_i = -2 c r_i``) and proved by expansion; ``None`` if the
    loss is not of that form.  Emitted as the sum of squares of the residual spectrum: never
    negative, and no cancellation where the network fits the target (the expanded form loses
    every digit there: relative error 2.9 at 1e-8 from it)."""
    c = sp.simplify(sp.diff(expr, ys[0], 2) / 2)
    if c == 0 or c.free_symbols & set(ys) or sp.simplify(c - sp.diff(expr, ys[1], 2) / 2) != 0:
        return None
    rs = [sp.expand(-sp.diff(expr, y) / (2 * c)) for y in ys]
    if sp.expand(expr - c * sum(r**2 for r in rs)) != 0:
        return None
    return c, rs


def cn_residual_form(expr):
    """``(h, c)`` with ``expr == h |c z - y|^2`` (``c = w_out/|z|``, the channel-normalized output
    coefficient): the loss's square completed back at vector level, proved by expansion in the
    invariants; ``None`` if it is not of that form."""
    c = sp.diff(cn_output_expr(), Z)
    h = sp.expand(expr).coeff(V.norm(Y) ** 2)
    sq = c**2 * V.norm(Z) ** 2 - 2 * c * V.dot(Y, Z) + V.norm(Y) ** 2
    if h == 0 or sp.simplify(expr - h * sq) != 0:
        return None
    return h, c


# --------------------------------------------------------------------------------------------
# LaTeX
# --------------------------------------------------------------------------------------------


def _tex(e) -> str:
    from .latex import to_latex

    return to_latex(e, {**PER_FREQ, n: "n", d: "d"})


def _latex_spectrum(kind: str):
    def f(expr):
        re, im = _spectrum(expr)
        head = {"output": r"\sqrt n\,\mathcal F^{-1}[\hat f_j],\ \hat f_j",
                "grad": r"\Big(\textstyle\sum_j S_{j}e^{2\pi i jm/n}\Big)_{k,m},\ S_{j}"}[kind]
        return head + " = " + _tex(re) + " + i\\left(" + _tex(im) + r"\right)"

    return f


def _latex_loss(expr):
    return r"\sum_{j=0}^{n-1} \ell_j,\quad \ell_j = " + _tex(expr)


def _latex_cn_grad_w(expr):
    cy, cz = sp.diff(expr, Y), sp.diff(expr, Z)
    re, im = _spectrum(expr - cy * Y - cz * Z)
    return (r"\Big(\textstyle\sum_j S_{j}e^{2\pi i jm/n}\Big)_{k,m},\ S_j = " + _tex(re)
            + " + i\\left(" + _tex(im) + r"\right),\ \hat g = \widehat{" + _tex(cy * Y + cz * Z)
            + "}")


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

_ASSUME = ("single-channel linear circulant CNN f = C(w_d)...C(w_1) x, C(w)[i, j] = "
           "w[(i - j) mod n]; unitary DFT F_{jk} = e^{2 pi i jk/n}/sqrt(n)")
_ASSUME_CN = (_ASSUME + "; channel normalization with gamma = 1, beta = 0, eps = 0 after every "
              "layer, sqrt(n) absorbed into w_out (eq. (7)); x not constant, z != 0")


def _reg(name, source, args, derive, lhs, rank, latex_rhs, paper=None, reading="",
         emitter="circulant.emit", assumptions=_ASSUME, notes=""):
    f = register(Formula(f"circulant.{name}", f"{SOURCE}, {source}", args, assumptions, derive,
                         lhs, rank=rank, paper=paper, paper_reading=reading, emitter=emitter,
                         notes=notes, where=WHERE))
    if latex_rhs is not None:
        f.latex_rhs = latex_rhs
    return f


_reg("output", "App. B.1 (product formula)", (_ARG_W, _ARG_X), output_spectrum,
     r"f(\mathbf{x},\mathbf{w}) = \prod_i \mathbf W_i\mathbf x", 1, _latex_spectrum("output"),
     paper=lambda: _split(sp.sqrt(n) ** d * _cx(P_re, P_im) * _cx(X_re, X_im))[0] * E_re
     + _split(sp.sqrt(n) ** d * _cx(P_re, P_im) * _cx(X_re, X_im))[1] * E_im,
     reading="n^{d/2} F (prod_i diag(F^H w_i)) F^H x")
_reg("loss", "App. B.1 (Fourier form of the loss)", (_ARG_W, _ARG_X, _ARG_Y), loss_per_frequency,
     r"L(\mathbf w,\mathbf x,\mathbf y)", 0, _latex_loss,
     paper=lambda: sp.expand(sp.Rational(1, 2) * ((Y_re - _split(sp.sqrt(n) ** d * _cx(P_re, P_im) * _cx(X_re, X_im))[0]) ** 2
                                                  + (Y_im - _split(sp.sqrt(n) ** d * _cx(P_re, P_im) * _cx(X_re, X_im))[1]) ** 2)),
     reading="1/2 sum_j |f_j^H y - n^{d/2} (prod_i f_j^H w_i) f_j^H x|^2 (OCR '\\|^2' read as |.|^2)")
_reg("grad", "sec. 4 (unnormalized gradient), derived per frequency", (_ARG_W, _ARG_X, _ARG_Y),
     grad_spectrum, r"\nabla_{\mathbf w_k} L", 1, _latex_spectrum("grad"),
     paper=_paper_grad_spectrum, reading="grad_{w_k} L = X_k^T (y - X_k w_k), X_k = prod_{i!=k} W_i X")
_reg("grad_p", "sec. 4 / App. B.2 (gradient on the first p taps = projected GD onto S_p)",
     (_ARG_W, _ARG_X, _ARG_Y, _ARG_P), lambda: grad_spectrum(),
     r"\Pi_{S_p}\nabla_{\mathbf w_k} L", 1, _latex_spectrum("grad"))
_reg("cn_output", "App. C, eq. (7)", (_ARG_W, _ARG_WOUT, _ARG_X), cn_output_expr,
     r"f_N(\mathbf W,\mathbf x)", 1, None, assumptions=_ASSUME_CN,
     paper=lambda: w_out / V.norm(Z) * Z, reading="w_{d+1} prod W_i x / |prod W_i x| (x centered)")
_reg("cn_loss", "App. C.1 (L_N with the 1/2 of sec. 4)", (_ARG_W, _ARG_WOUT, _ARG_X, _ARG_Y),
     cn_loss_expr, r"L_N", 0, None, assumptions=_ASSUME_CN)
_reg("cn_grad_w", "sec. 4 and App. C.1 (channel-normalized gradient)",
     (_ARG_W, _ARG_WOUT, _ARG_X, _ARG_Y), cn_grad_w_expr, r"\nabla_{\mathbf w_k} L_N", 1,
     _latex_cn_grad_w, assumptions=_ASSUME_CN, paper=_paper_cn_grad_w,
     reading="X_k^T w_{d+1}/|X_k w_k| (I - X_k w_k w_k^T X_k^T/|X_k w_k|^2) y"
     ).equivalence = lambda mutant: _same_program(mutant)


def _same_program(mutant: sp.Expr) -> str:
    """``cn_grad_w``'s expression is a program: ``g = c_y y + c_z z`` is formed, ``G = fft(g)``,
    and the spectral part ``S(G)`` (linear in G) is pulled back.  A mutant computes the same
    gradient iff its (c_y, c_z) is ``s`` times the derived one and its spectral part is ``S`` with
    G scaled by 1/s (then ``S'(sG) = S(G)``).  Returns the proof, or ''."""
    f = cn_grad_w_expr()
    cy, cz = sp.diff(f, Y), sp.diff(f, Z)
    my, mz = sp.diff(mutant, Y), sp.diff(mutant, Z)
    if cy == 0 or sp.simplify(my * cz - mz * cy) != 0:
        return ""
    s = sp.simplify(my / cy)
    spec, mspec = f - cy * Y - cz * Z, mutant - my * Y - mz * Z
    G = {G_re: s * G_re, G_im: s * G_im}
    if s != 0 and sp.simplify(mspec.subs(G, simultaneous=True) - spec) == 0:
        return (f"same program: (c_y, c_z) scaled by {s} and the spectral part, linear in G, "
                f"by 1/{s} (SymPy)")
    return ""

_reg("cn_grad_out", "App. C.1 (derivative in the scale w_{d+1})",
     (_ARG_W, _ARG_WOUT, _ARG_X, _ARG_Y), cn_grad_out_expr, r"\partial L_N/\partial w_{d+1}", 0,
     None, assumptions=_ASSUME_CN)

_ARG_N = Arg("n", "int", "signal length n", space="n")
_ARG_PP = Arg("p", "int", "kernel size p (number of nonzero taps)")
_ARG_PN = Arg("p", "int", "kernel size p (number of nonzero taps)",
              domain=("<= n: the first p of the n taps are nonzero",))
_ARG_PX = Arg("p", "int", "kernel size p (number of nonzero taps)",
              domain=("<= x.shape[-1]: p of the n = len(x) taps are nonzero",))
_ARG_D = Arg("d", "int", "depth d")
_ARG_S = Arg("s", "scalar", "standard deviation of each tap", positive=True)
_ARG_XV = Arg("x", "vector", "input x", space="d")
V.vector("x", "d")

_reg("init_norm_mean", "App. B.2, Assumption 1", (_ARG_N, _ARG_PN), norm_mean_expr,
     r"\mathbb E\|\mathbf w_i\|", 0, None, emitter="circulant.emit_constant",
     assumptions="first p taps i.i.d. N(0, 1/(np)), the rest 0",
     paper=lambda: sp.sqrt(2 / (n * p)) * sp.gamma((p + 1) / 2) / sp.gamma(p / 2),
     reading="sqrt(2/(np)) Gamma((p+1)/2)/Gamma(p/2)")
_reg("c2", "App. B.2, Assumption 1", (_ARG_PP,), c2_expr, r"c_2", 0, None, emitter="circulant.emit_constant",
     assumptions="E|w_i| = (1 - c_2)/sqrt(n) with taps N(0, 1/(np))",
     paper=lambda: 1 - sp.sqrt(sp.Rational(2) / p) * sp.gamma((p + 1) / 2) / sp.gamma(p / 2),
     reading="c_2 = 1 - sqrt(2/p) Gamma((p+1)/2)/Gamma(p/2)")
_reg("rate_c", "App. B.2, Lemma 2", (_ARG_PP,), rate_c_expr, r"c", 0, None, emitter="circulant.emit_constant",
     assumptions="exp(-4c) = 1 - c_2")
_ARG_DD = Arg("d", "int", "depth d (number of layers)")
WHERE.update({
    r"\bar P_{(1)}": "bound on P[max_k prod_{i != k} |w_i| >= e^{-2cd}/n^{d/2}] (Lemma 2 eq. (1), union over k)",
    r"\bar P_{(2)}": "bound on P[min_i |w_i| <= e^{-cd}] (Lemma 2 eq. (2))",
    r"\bar P_{(3)}": "bound on P[max_i |w_i| >= e^{cd}] (Lemma 2 eq. (3))",
    r"\bar P_{\mathrm{fail}}": "bound on the probability that Lemma 2's conditions i-iii fail",
    r"\bar D": "upper bound on |D(v)| = |F^H y - n^{d/2} prod_i diag(F^H v_i) F^H x|",
    r"c_1": "small-ball constant: P[|w_i| <= t] <= c_1 t for all t > 0",
})


def _latex_resid(expr):
    from .latex import to_latex

    return to_latex(expr, {NY: r"\|\mathbf y\|", NX: r"\|\mathbf x\|",
                           PV: r"\prod_{i=1}^d\|\mathbf v_i\|", n: "n", d: "d"})

_INIT_ASSUME = "first p taps of every filter i.i.d. N(0, 1/(np)) (Theorem 1), the rest 0; independent layers"
_reg("small_ball_c1", "App. B.2, Assumption 1 (P[|w_i| <= t] <= c_1 t)", (_ARG_N, _ARG_PN),
     small_ball_c1_expr, r"c_1", 0, None, emitter="circulant.emit_constant",
     assumptions=_INIT_ASSUME + "; exact sup_t P[|w_i| <= t]/t for p = 1, an upper bound for p >= 2")
_reg("lemma2_min", "App. B.2, Lemma 2, eq. (2)", (_ARG_N, _ARG_PN, _ARG_DD), lemma2_min_expr,
     r"\bar P_{(2)}", 0, None, emitter="circulant.emit_constant",
     assumptions=_INIT_ASSUME + "; c = circulant.rate_c(p), c_1 = circulant.small_ball_c1(n, p)")
_reg("lemma2_max", "App. B.2, Lemma 2, eq. (3)", (_ARG_N, _ARG_PN, _ARG_DD), lemma2_max_expr,
     r"\bar P_{(3)}", 0, None, emitter="circulant.emit_constant",
     assumptions=_INIT_ASSUME + "; c = circulant.rate_c(p)")
_reg("lemma2_prod", "App. B.2, Lemma 2, eq. (1) with the union bound over k",
     (_ARG_N, _ARG_PN, _ARG_DD), lemma2_prod_expr,
     r"\bar P_{(1)}", 0, None,
     emitter="circulant.emit_constant", assumptions=_INIT_ASSUME + "; c = circulant.rate_c(p)")
_reg("lemma2_failure", "App. B.2, Lemma 2 (sum of eqs. (1)-(3): conditions i-iii fail)",
     (_ARG_N, _ARG_PN, _ARG_DD), lemma2_failure_expr, r"\bar P_{\mathrm{fail}}", 0, None,
     emitter="circulant.emit_constant", assumptions=_INIT_ASSUME + "; c = circulant.rate_c(p)")
_reg("residual_bound", "App. B.2, the |D(v)| bound after Lemma 2 (spec A14)",
     (Arg("norm_y", "scalar", "|y|", domain=(">= 0",)), Arg("norm_x", "scalar", "|x|", domain=(">= 0",)),
      Arg("prod_v", "scalar", "prod_i |v_i|", domain=(">= 0",)), _ARG_N, _ARG_DD),
     residual_bound_expr, r"\bar D", 0, _latex_resid, emitter="circulant.emit_constant",
     assumptions=_ASSUME + "; D(v) = F^H y - n^{d/2} prod_i diag(F^H v_i) F^H x",
     paper=_paper_residual_bound, reading="|D(v)| <= n(|y| + n^{d/2} prod_i |v_i| |x|) (middle form)")
_reg("output_energy", "App. B.2 (the vanishing/exploding output, spec A11)",
     (_ARG_XV, _ARG_S, _ARG_PX, _ARG_D), output_energy_expr,
     r"\mathbb E\|\textstyle\prod_i\mathbf W_i\mathbf x\|^2", 0, None, emitter="circulant.emit_constant",
     assumptions="first p taps of every filter i.i.d. N(0, s^2), independent layers, p <= n")
