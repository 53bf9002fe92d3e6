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


# --- cnn: marginal densities on the sphere / in the ball, the angle after a GD step ----------


def test_cnn_coordinate_densities_derived():
    from derivations import cnn_dynamics as D

    t, n = D._T, sp.Symbol("n", positive=True, integer=True)
    vol = D._section_volume(n)                         # solve(t^2 + r^2 = rho^2) -> r^{n-1}
    assert vol.has(D._RHO) and sp.simplify(vol.subs(D._RHO, 1) - (1 - t**2) ** ((n - 1) / 2)) == 0
    typed = {  # the old typed kernels (1 - t^2)^{(n-3)/2}, (1 - t^2)^{(n-1)/2}, normalized
        "sphere": (1 - t**2) ** ((D.P - 3) / 2), "ball": (1 - t**2) ** ((D.K - 1) / 2)}
    for key, derived in (("sphere", D._sphere_coordinate_density(D.P)),
                         ("ball", D._ball_coordinate_density(D.K))):
        f = typed[key]
        ratio = sp.powsimp(derived / f, force=True)
        assert t not in sp.simplify(ratio).free_symbols   # same shape in t
    old_cos = sp.gammasimp(D._abs_mean(typed["sphere"] / sp.integrate(typed["sphere"], (t, -1, 1), conds="none")))
    assert sp.simplify(sp.gammasimp(D.init_cos_mean() - old_cos)) == 0
    # a concrete dimension: S^2 (p = 3) gives the uniform density 1/2 on [-1, 1] (Archimedes)
    assert sp.simplify(D._sphere_coordinate_density(D.P).subs(D.P, 3) - sp.Rational(1, 2)) == 0


def test_cnn_gd_next_angle_is_the_angle_of_the_vectors():
    from derivations import cnn_dynamics as D

    e = D.gd_next_angle()
    assert e.func == sp.atan2 and not e.has(sp.Piecewise)
    # equals the old folded |phi - atan(x2/x1)| at sample points (both sides of the fold)
    x1, x2 = D._v_next_plane()
    d = sp.Abs(D.PHI - sp.atan(x2 / x1))
    old = sp.Piecewise((2 * sp.pi - d, d > sp.pi), (d, True))
    subs = [{D.PHI: ph, D.NV: 1.3, D.DOT: ad, D.NWS: 0.7, D.ETA: 0.9}
            for ph in (0.01, 0.4, 1.5, 2.9, 3.13) for ad in (-40.0, -1.0, 2.0, 50.0)]
    for s_ in subs:
        assert abs(float(e.subs(s_)) - float(old.subs(s_))) < 1e-13


# --- kernels -----------------------------------------------------------------------------------


def test_kernels_g_inf_radial_factor_integrated():
    from derivations import kernels as K

    assert sp.simplify(K.radial_factor() - 1 / K.DIM) == 0
    assert sp.simplify(K.radial_factor() - 1 / K.chi2_mean()) == 0  # sympy.stats agrees
    assert sp.simplify(K.g_inf() - K.arccos1() / K.DIM) == 0       # the old typed step


def test_kernels_init_residual_from_the_width_m_sums():
    from derivations import kernels as K

    typed = V.norm(K.YV) ** 2 + K.NPTS * K.relu_second_moment()     # the old decomposition
    assert sp.simplify(K.init_residual() - typed) == 0
    # the moments come from the relu integrals (a perturbed Gaussian normalization moves them)
    with knobs.perturbed("kernels.normal_density_norm", sp.Rational(1, 100)):
        moved = K.init_residual()
    assert sp.simplify(moved - K.init_residual()) != 0


# --- balance, saddle ---------------------------------------------------------------------------


def test_balance_drift_by_bilinearity():
    from derivations import balance as B

    step = B.eta
    typed = lambda w, g: V.norm(w) ** 2 - 2 * step * V.dot(w, g) + step**2 * V.norm(g) ** 2
    change = (typed(B.w_in, B.g_in) - typed(B.w_out, B.g_out)
              - (V.norm(B.w_in) ** 2 - V.norm(B.w_out) ** 2))
    old = sp.factor(sp.expand(change.subs(V.dot(B.w_out, B.g_out), V.dot(B.w_in, B.g_in))))
    assert sp.simplify(B.gd_neuron_drift() - old) == 0


def test_saddle_g_assembled_from_the_pieces():
    from derivations.saddle import connectors as S

    assert sp.expand(S.g() - (S.g1() + S.g2() * S.y**2)) == 0
    # a perturbed piece is joined by the perturbed connector (the lookup follows the pieces)
    with knobs.perturbed("saddle.g2_left_value", sp.Rational(1, 10)):
        g_moved = S.g()
        assert sp.expand(g_moved - (S.g1() + S.g2() * S.y**2)) == 0
    assert sp.expand(g_moved - S.g()) != 0
