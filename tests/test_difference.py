"""The completed square |A x - B y|^2 (``_rt.difference``, emitted for the CNN losses): exact where
the student meets its teacher, exact scaling at extreme magnitudes, errors naming the argument."""
import math

import mpmath as mp
import numpy as np
import pytest

import derivations as D
from derivations import runtime as rt
from derivations.generated import cnn

RNG = np.random.default_rng(21)
WS, AS = RNG.standard_normal(5), RNG.standard_normal(4)


def _loss_50_digits(v, a, ws, as_):
    """The derived closed form evaluated in 50 digits from the float inputs (invariants in mpmath)."""
    mp.mp.dps = 50
    V, A, W, S = ([mp.mpf(float(t)) for t in x] for x in (v, a, ws, as_))

    def dot(x, y):
        return mp.fsum(p * q for p, q in zip(x, y))

    vals = {"norm_a": mp.sqrt(dot(A, A)), "norm_a_star": mp.sqrt(dot(S, S)),
            "norm_w_star": mp.sqrt(dot(W, W)), "dot_a_a_star": dot(A, S), "sum_a": mp.fsum(A),
            "sum_a_star": mp.fsum(S),
            "phi_v_w_star": mp.acos(max(-1, min(1, dot(V, W) / mp.sqrt(dot(V, V) * dot(W, W)))))}
    f = D.get("cnn.population_loss").expr
    import sympy as sp

    return float(sp.N(f.subs({s: sp.Float(mp.nstr(vals[str(s)], 50), 50) for s in f.free_symbols}), 30))


@pytest.mark.parametrize("eps", [1e-2, 1e-4, 1e-6, 1e-8])
def test_loss_near_the_teacher(eps):
    """v parallel to w*, a = |w*| a* (1 + eps): the loss ~ eps^2.  The sum of invariants gave
    4.4e-5 at eps = 1e-6 and a negative loss at 1e-8; the difference alone kept ~eps_machine/eps
    (the rounding of |w*| a*); with the near rows re-formed in double-double (scales=) the
    loss is exact to rounding."""
    v, a = WS * 1.7, np.linalg.norm(WS) * AS * (1 + eps)
    got, ref = cnn.population_loss(v, a, WS, AS), _loss_50_digits(v, a, WS, AS)
    assert got > 0
    assert abs(got - ref) <= 1e-14 * ref


@pytest.mark.parametrize("dphi", [1e-3, 1e-5, 1e-7])
def test_loss_at_small_angles(dphi):
    """a = |w*| a*, v at angle dphi from w*: the loss ~ dphi^2 comes from pi - g(phi), evaluated
    by its Taylor series near phi = 0 (taylor_zero): full relative accuracy."""
    u = RNG.standard_normal(5)
    u -= u @ WS / (WS @ WS) * WS
    v = WS / np.linalg.norm(WS) + dphi * u / np.linalg.norm(u)
    a = np.linalg.norm(WS) * AS
    got, ref = cnn.population_loss(v, a, WS, AS), _loss_50_digits(v, a, WS, AS)
    assert abs(got - ref) <= 1e-13 * ref


def test_difference_float_path_and_dot():
    x, y, b = RNG.standard_normal((3000, 4)), RNG.standard_normal((3000, 4)), RNG.uniform(0.5, 2, 3000)
    a = RNG.uniform(0.5, 2, 3000)
    sq, tot, d, xy = rt.difference(x, y, a, b, ("x", "y"), vector=True, with_dot=True)
    ref = a[:, None] * x - b[:, None] * y
    np.testing.assert_allclose(d, ref, rtol=0, atol=1e-15)
    np.testing.assert_allclose(sq, (ref * ref).sum(-1), rtol=1e-14)
    np.testing.assert_allclose(tot, ref.sum(-1), rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(xy, rt.rowdot(x, y))
    one = rt.difference(x[7], y[7], float(a[7]), float(b[7]), ("x", "y"), with_dot=True)
    np.testing.assert_allclose(one, (sq[7], tot[7], xy[7]), rtol=1e-14)


@pytest.mark.parametrize("k", [-600, -300, 300, 500])
def test_difference_extreme_scales(k):
    """x, y scaled by 2^k: the square scales by 4^k exactly (extended range beyond float64)."""
    x, y = RNG.standard_normal((50, 4)), RNG.standard_normal((50, 4))
    sq0, tot0 = rt.difference(x, y, 1.0, 0.75, ("x", "y"))
    sq, tot = rt.difference(x * 2.0**k, y * 2.0**k, 1.0, 0.75, ("x", "y"))
    if abs(2 * k) > 1000:  # beyond float64: an XF with the exact exponent
        assert isinstance(sq, rt.XF)
        np.testing.assert_allclose(sq.m * 2.0 ** (sq.e - 2 * k), sq0, rtol=1e-15)
    else:
        np.testing.assert_allclose(np.asarray(rt.XF.of(sq).value()) / 4.0**k, sq0, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(rt.XF.of(tot).m) * 2.0 ** (np.asarray(rt.XF.of(tot).e) - k),
                               tot0, rtol=1e-15)


def test_loss_with_extreme_teacher_norm():
    """|w*| = 2^600 (an extended-range norm): with a = a* = 0 the loss is 0 exactly; with
    a = a* the loss ~ |w*|^2 |a*|^2 ~ 4^600 is beyond float64: an error, not inf."""
    ws = WS * 2.0**600
    v = WS.copy()
    assert cnn.population_loss(v, np.zeros(4), ws, np.zeros(4)) == 0.0
    with pytest.raises(ValueError, match="overflows float64"):
        cnn.population_loss(v, AS, ws, AS)


def test_difference_errors_name_the_argument():
    x, y = RNG.standard_normal((100, 4)), RNG.standard_normal((100, 4))
    y[40, 2] = math.inf
    with pytest.raises(ValueError, match=r"\by must be finite"):
        rt.difference(x, y, 1.0, 2.0, ("x", "y"))
    with pytest.raises(ValueError, match=r"\ba_star must be finite"):
        cnn.population_loss(RNG.standard_normal(5), RNG.standard_normal(4), WS,
                            np.array([1.0, np.nan, 0.0, 0.0]))


def test_refined_difference_rows():
    """_rt.difference with scales: the near rows of a batch (a = |u| b 1 + 1e-9) exact to
    rounding, the others untouched (bit-identical to the float path)."""
    u = RNG.standard_normal((200, 5))
    y = RNG.standard_normal((200, 4))
    b = np.sqrt((u * u).sum(-1))
    x = RNG.standard_normal((200, 4))
    x[::7] = b[::7, None] * y[::7] + 1e-9 * RNG.standard_normal((len(x[::7]), 4))
    sq0, tot0 = rt.difference(x, y, 1.0, b, ("x", "y"))
    sq, tot = rt.difference(x, y, 1.0, b, ("x", "y"), scales=(None, u))
    far = np.ones(200, bool)
    far[::7] = False
    np.testing.assert_array_equal(sq[far], sq0[far])
    mp.mp.dps = 50
    for i in range(0, 200, 7):
        nb = mp.sqrt(mp.fsum(mp.mpf(float(t)) ** 2 for t in u[i]))
        d = [mp.mpf(float(p)) - nb * mp.mpf(float(q)) for p, q in zip(x[i], y[i])]
        ref = mp.fsum(t * t for t in d)
        assert abs(sq[i] - ref) <= 1e-15 * ref
        assert abs(tot[i] - mp.fsum(d)) <= 1e-15 * mp.fsum(abs(t) for t in d)


def test_filter_rewrite_is_the_derived_loss():
    """The emitted filter loss |w - w*|^2/4 + |w||w*| (phi cos - sin)/(2 pi) equals the derived
    one once |w - w*|^2 is written out (|w|^2 - 2 |w||w*| cos + |w*|^2)."""
    import sympy as sp

    from derivations import codegen, vectors

    f = D.get("filter.population_loss")
    d = codegen.Difference("w", "w_star", sp.Integer(1), sp.Integer(1))
    angles = [s for s in f.expr.free_symbols if vectors.meaning(s) is not None
              and vectors.meaning(s).kind == "angle"]
    form = codegen._angle_difference(sp.expand(f.expr), d, angles)
    assert form is not None and not form.has(vectors.norm(sp.Symbol("w")) ** 2)
    W, S = sp.Symbol("w"), sp.Symbol("w_star")
    nw, ns, phi = vectors.norm(W), vectors.norm(S), vectors.angle(W, S)
    back = form.subs(d.sq, nw**2 - 2 * nw * ns * sp.cos(phi) + ns**2)
    assert sp.simplify(back - f.expr) == 0


def test_sqnorm_difference_and_product_minus():
    x, y = RNG.standard_normal((50, 4)), RNG.standard_normal((50, 6))
    y *= (np.sqrt((x * x).sum(-1)) / np.sqrt((y * y).sum(-1)) * (1 + 1e-11))[:, None]
    got = rt.sqnorm_difference(x, y, ("x", "y"))
    mp.mp.dps = 50
    for i in range(50):
        ref = mp.fsum(mp.mpf(float(t)) ** 2 for t in x[i]) - mp.fsum(mp.mpf(float(t)) ** 2 for t in y[i])
        assert abs(got[i] - ref) <= 1e-15 * abs(ref)
    with pytest.raises(ValueError, match=r"\by must be finite"):
        rt.sqnorm_difference(x[0], np.array([1.0, np.nan]), ("x", "y"))
    a, b = 1.1, 3.0
    c = a * b * (1 + 2**-40)
    ref = mp.mpf(a) * mp.mpf(b) - mp.mpf(c)
    assert abs(rt.product_minus(a, b, c) - ref) <= 1e-15 * abs(ref)


def test_circulant_residual_forms_are_proved():
    """The circulant losses are emitted as completed squares (else the expanded forms cancel)."""
    from derivations import circulant as C

    assert C.residual_form(D.get("circulant.loss").expr) is not None
    assert C.cn_residual_form(D.get("circulant.cn_loss").expr) is not None
