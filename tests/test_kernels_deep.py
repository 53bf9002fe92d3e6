"""Thesis ch. 3 deep-kernel recursions vs finite-width networks and independent quadrature."""
import math

import numpy as np
import pytest

from derivations import kernels as K
from numerics import quadrature as Q
from numerics.simulators import kernels as S


def _data(n=4, d=5, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_c_sigma():
    assert K.c_sigma("relu") == 2.0
    assert abs(K.c_sigma("softplus") - S.c_sigma_quadrature("softplus")) < 1e-12
    assert abs(K.c_sigma("softplus") - 1.085487) < 1e-6  # spec C3-1


def test_depth_one_is_twice_h_inf():
    X = _data()
    np.testing.assert_allclose(K.deep_kernel(X, 1)["K_H"], 2 * K.gram("h_inf", X), atol=1e-15)


def test_softplus_gauss_hermite_vs_plane_quadrature():
    Kmat = np.array([[1.3, -0.4], [-0.4, 0.7]])
    got = K._expect_pair(Kmat, "value", "softplus")
    r = np.sqrt(np.diag(Kmat))
    phi = math.acos(-0.4 / (r[0] * r[1]))
    sp_ = lambda s: np.logaddexp(0.0, s)  # noqa: E731
    ref = Q.plane_expectation(lambda z1, z2: sp_(r[0] * z1) * sp_(
        r[1] * (math.cos(phi) * z1 + math.sin(phi) * z2)), n_r=60)
    assert abs(got[0, 1] - ref) < 1e-9 * abs(ref)


@pytest.mark.parametrize("arch, act, H", [("fc", "softplus", 2), ("fc", "relu", 3),
                                          ("resnet", "softplus", 4), ("resnet", "relu", 3)])
def test_recursion_vs_finite_width(arch, act, H):
    X = _data()
    th = K.deep_kernel(X, H, arch, act, c_res=0.5)
    sims = [S.deep_network(np.random.default_rng(s), X, H, 3000, arch, act, 0.5) for s in range(4)]
    KH = np.mean([s["K_H"] for s in sims], axis=0)
    err = np.abs(KH - th["K_H"]).max() / np.abs(th["K_H"]).max()
    assert err < 0.06  # ~ (m * networks)^(-1/2) fluctuations: measured 1-5 %
    for h in range(1, H):
        Kh = np.mean([s["K"][h] for s in sims], axis=0)
        assert np.abs(Kh - th["K"][h]).max() / np.abs(th["K"][h]).max() < 0.06
    if arch == "fc" and act == "softplus":
        # the thesis' literal final covariance A^(H-1) (built from K^(H-2)) is farther off
        lit = K.c_sigma(act) * th["K"][-1] * K._expect_pair(th["K"][-2], "derivative", act)
        assert np.abs(KH - lit).max() > 2 * np.abs(KH - th["K_H"]).max()


@pytest.mark.parametrize("kw, arg", [({"depth": 0}, "depth"), ({"arch": "cnn"}, "arch"),
                                     ({"activation": "tanh"}, "activation"),
                                     ({"c_res": -1.0}, "c_res")])
def test_bad_input(kw, arg):
    args = {"X": _data(), "depth": 2, **kw}
    with pytest.raises(ValueError, match=arg):
        K.deep_kernel(**args)
    with pytest.raises(ValueError, match="X"):
        K.deep_kernel(np.zeros((0, 3)), 2)
