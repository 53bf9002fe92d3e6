"""Issue 19 item 5: closed forms that used to be typed in are now derived by SymPy operations.

Each test checks (a) that the derivation path really runs the SymPy operation named in its
docstring (the intermediate objects exist and have the derived shape), and (b) that the derived
expression equals the formerly typed one, by ``sympy.simplify`` (the old typed form survives
only here, as a comparison, or as the formula's ``paper``).
"""
import sympy as sp

from derivations import knobs
from derivations import vectors as V


# --- circulant ------------------------------------------------------------------------------


def test_circulant_eigenvalue_derived_for_symbolic_n():
    from derivations import circulant as C

    lam = C.circulant_eigenvalue()          # Sum.change_index + periodicity, symbolic n
    assert lam.has(C._W[C._m]) and C._a not in lam.free_symbols
    assert sp.simplify(lam - C._W[C._m] * sp.exp(-2 * sp.pi * sp.I * C._k * C._m / C.n)) == 0
    assert sp.simplify(C.eigenvalue_scale() - sp.sqrt(C.n)) == 0
    assert C.prove_unitary() and C.parseval_factor() == 1
    assert sp.simplify(C._eig_scale() - C.n ** (C.d / 2)) == 0   # Product.doit, symbolic d


def test_circulant_output_and_loss_equal_the_old_typed_forms():
    from derivations import circulant as C

    typed = C._split(sp.sqrt(C.n) ** C.d * C._cx(C.P_re, C.P_im) * C._cx(C.X_re, C.X_im))
    out = C._spectrum(C.output_spectrum())
    assert all(sp.simplify(a - b) == 0 for a, b in zip(out, typed))
    typed_loss = sp.Rational(1, 2) * ((C.Y_re - typed[0]) ** 2 + (C.Y_im - typed[1]) ** 2)
    assert sp.simplify(C.loss_per_frequency() - typed_loss) == 0


def test_circulant_dft_norm_knob_moves_the_derived_scale():
    from derivations import circulant as C

    with knobs.perturbed("circulant.dft_norm", sp.Rational(1, 1000)):
        scale = C.eigenvalue_scale()
    assert sp.simplify(scale - sp.sqrt(C.n) / (1 + sp.Rational(1, 1000))) == 0


def test_circulant_cn_output_from_the_cn_definition():
    from derivations import circulant as C

    e = C.cn_output_expr()
    assert sp.simplify(e - C.w_out / V.norm(C.Z) * C.Z) == 0
    assert sp.simplify(C.cn_scale().subs(C._TOT, 0) - sp.sqrt(C._NV / C._SV)) == 0


# --- wn ----------------------------------------------------------------------------------------


def test_wn_n_block_by_matrix_algebra():
    from derivations import wn

    # the noncommutative algebra really produces the projector identity
    sq = sp.expand((wn._NCV * wn._NCVT) ** 2).subs(wn._NCVT * wn._NCV, sp.Symbol("N"))
    assert sp.expand(sq - sp.Symbol("N") * wn._NCV * wn._NCVT) == 0
    assert wn._nc_transpose(wn._NCV * wn._NCVT * wn._NCV) == wn._NCVT * wn._NCV * wn._NCVT
    # dw/dg by differentiating w = g v/|v|
    assert sp.simplify(sp.diff(wn.reparam_vector(), wn.G_) - wn.VV / V.norm(wn.VV)) == 0
    # the derived block equals the hand-expanded (a I + b vv^T)^2 + vv^T/|v|^2 of before
    c = wn.components(wn.grad_v(), (wn.Q, wn.VV))
    a, b = c[wn.Q], sp.simplify(c[wn.VV] / V.dot(wn.VV, wn.Q))
    nv2 = V.norm(wn.VV) ** 2
    typed = a**2 * wn.EYE + (2 * a * b + b**2 * nv2) * wn.OUTER_VV + wn.OUTER_VV / nv2
    assert sp.simplify(wn.n_block() - typed) == 0


def test_wn_n_block_on_explicit_matrices():
    """The derived block equals S S^T built from the explicit Jacobian of w = g v/|v| in R^3."""
    from derivations import wn

    vs = sp.Matrix(sp.symbols("v1:4", real=True))
    g = sp.Symbol("g", real=True)
    w = g * vs / sp.sqrt((vs.T * vs)[0])
    S = w.jacobian(list(vs)).row_join(sp.diff(w, g))
    nv = sp.sqrt((vs.T * vs)[0])
    derived = wn.n_block()
    alpha = sp.diff(derived, wn.EYE).subs({V.norm(wn.VV): nv, wn.G_: g})
    beta = sp.diff(derived, wn.OUTER_VV).subs({V.norm(wn.VV): nv, wn.G_: g})
    assert sp.simplify(S * S.T - (alpha * sp.eye(3) + beta * vs * vs.T)) == sp.zeros(3, 3)
