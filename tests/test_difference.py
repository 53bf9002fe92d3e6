"""The completed square |A x - B y|^2 (``_rt.difference``, emitted for the CNN losses): exact where
the student meets its teacher, exact scaling at extreme magnitudes, errors naming the argument."""
import math

import mpmath as mp
import numpy as np
import pytest

import derivations as D
from derivations.generated import _runtime as rt
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
    4.4e-5 at eps = 1e-6 and a negative loss at 1e-8; the difference keeps ~eps_machine/eps
    (the rounding of |w*| a* itself)."""
    v, a = WS * 1.7, np.linalg.norm(WS) * AS * (1 + eps)
    got, ref = cnn.population_loss(v, a, WS, AS), _loss_50_digits(v, a, WS, AS)
    assert got > 0
    assert abs(got - ref) <= max(1e-14, 2e-15 / eps) * ref


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
