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


# --- issue 24: Defs. 3.1-3.3, wide networks, full rank (each row kind with a planted error) ----

from numerics.checks import kernels as CK  # noqa: E402
from numerics.harness import Context, Subject  # noqa: E402


def _run(check, fn):
    return check.run(Subject(None, fn), Context())


def _last_layer_scaled(rel):
    def fn(X, depth, arch="fc", activation="relu", c_res=1.0):
        d = K.deep_kernel(X, depth, arch, activation, c_res)
        return {**d, "K_H": d["K_H"] * (1 + rel)}
    return fn


@pytest.mark.parametrize("cfg", CK.NET_CONFIGS)
def test_wide_network_rows_pass_and_catch_a_planted_error(cfg):
    check = CK.wide_network_check(*cfg)
    (good,) = _run(check, K.deep_kernel)
    assert good.passed and abs(good.stat) < 5
    (bad,) = _run(check, _last_layer_scaled(0.2))  # 20 %: MC resolves ~3-7 %
    assert not bad.passed


def test_conv_resnet_reference_catches_the_ocr_final_factor():
    """The OCR's M^(H) lacks c_res^2/H^2 (C3-4): planted, the quadrature row fails."""
    check = [c for c in _public("kernels.deep_kernel") if "ConvResNet" in c.label][0]
    assert _run(check, K.deep_kernel).passed

    def ocr(X, depth, arch="fc", activation="relu", c_res=1.0):
        d = K.deep_kernel(X, depth, arch, activation, c_res)
        return {**d, "K_H": d["K_H"] * (depth / c_res) ** 2}

    assert not _run(check, ocr).passed


def _public(name):
    from numerics import checks

    return checks.public_checks(name)


def test_full_rank_rows_fail_on_a_rank_deficient_kernel():
    check = CK.full_rank_check()
    rows = _run(check, K.deep_kernel)
    assert all(r.passed for r in rows)

    def deficient(X, depth, arch="fc", activation="relu", c_res=1.0):
        d = K.deep_kernel(X, depth, arch, activation, c_res)
        KH = d["K_H"].copy()
        KH[-1], KH[:, -1] = KH[0], KH[:, 0]  # two identical rows: lambda_min = 0
        KH[-1, -1] = KH[0, 0]
        return {**d, "K_H": KH}

    bad = _run(check, deficient)
    assert not bad[0].passed and not bad[1].passed


def test_consistency_row_catches_a_layer_constant():
    check = [c for c in _public("kernels.deep_kernel") if c.kind == "consistency"][0]
    assert check.run(Subject(None, K.deep_kernel), Context()).passed
    assert not check.run(Subject(None, _last_layer_scaled(1e-6)), Context()).passed


def test_conv_resnet_depth_one_and_bad_input():
    X = np.random.default_rng(2).standard_normal((2, 4, 3))
    d = K.deep_kernel(X, 1, "convresnet")
    Kp = K.patch_gram(X.reshape(8, 3) @ X.reshape(8, 3).T, 2, 4)
    assert d["K_H"].shape == (2, 2) and np.all(np.linalg.eigvalsh(d["K_H"]) > 0)
    assert abs(d["K_H"][0, 0] - 2 * 0.5 * np.trace(Kp[:4, :4])) < 1e-12  # c_sigma E s'^2 = 1
    with pytest.raises(ValueError, match="X"):
        K.deep_kernel(np.ones((3, 4)), 2, "convresnet")
