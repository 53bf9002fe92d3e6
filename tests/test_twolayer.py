"""The two-layer engine (issue 20): API, worked example, edges, bad input (fast tests)."""
import math

import numpy as np
import pytest

from derivations.twolayer import convolutional, fully_connected, patches
from numerics.simulators import twolayer as S


def test_safran_shamir_spurious_minimum():
    """docs/twolayer.md's worked example: k = m = d = 7, teacher V = I, a = b = 1."""
    W, a, V, b = S.safran_shamir_minimum()
    net = fully_connected(7, 7, 7, activation="relu")
    loss = net.loss(W, a, V, b)
    assert loss == pytest.approx(0.0232, abs=5e-5)
    assert abs(loss - S.loss_quadrature("relu", W, a, V, b)) <= 1e-12 * loss
    assert np.max(np.abs(net.grad(W, a, V, b))) < 1e-9
    H = net.hessian(W, a, V, b)
    assert H.shape == (49, 49) and np.allclose(H, H.T, atol=1e-15)
    lam = np.linalg.eigvalsh(H)
    assert lam[0] > 0 and lam[0] == pytest.approx(0.01406, rel=5e-4)


def test_shapes_order_and_batching():
    rng = np.random.default_rng(0)
    d, k, m = 4, 3, 2
    net = fully_connected(d, k, m, "erf", train_output=True)
    W, a = rng.standard_normal((5, 2, k, d)), rng.standard_normal((5, 2, k))
    V, b = rng.standard_normal((m, d)), rng.standard_normal(m)
    L = net.loss(W, a, V, b)
    gW, ga = net.grad(W, a, V, b)
    H = net.hessian(W, a, V, b)
    assert L.shape == (5, 2) and gW.shape == W.shape and ga.shape == a.shape
    assert H.shape == (5, 2, k * d + k, k * d + k) == (5, 2, net.n_params, net.n_params)
    for idx in [(0, 0), (3, 1)]:
        assert net.loss(W[idx], a[idx], V, b) == pytest.approx(L[idx], rel=1e-14)
        Hi = net.hessian(W[idx], a[idx], V, b)
        assert np.allclose(Hi, H[idx], rtol=1e-13, atol=1e-14)
        g1, g2 = net.grad(W[idx], a[idx], V, b)
        assert np.allclose(np.concatenate([g1.ravel(), g2]),
                           np.concatenate([gW[idx].ravel(), ga[idx]]), rtol=1e-13)
    # order W.ravel() then a: the a-a block is K(W, W) = d^2 l / da^2
    Wi, ai = W[0, 0], a[0, 0]
    h = 1e-5
    e = np.zeros(k)
    e[1] = h
    col = (np.concatenate([t.ravel() for t in net.grad(Wi, ai + e, V, b)])
           - np.concatenate([t.ravel() for t in net.grad(Wi, ai - e, V, b)])) / (2 * h)
    assert np.allclose(col, H[0, 0][:, k * d + 1], atol=1e-8)
    # HVP = H v without forming H
    dW, da = rng.standard_normal((k, d)), rng.standard_normal(k)
    hW, ha = net.hvp(Wi, ai, V, b, dW, da)
    Hv = H[0, 0] @ np.concatenate([dW.ravel(), da])
    assert np.allclose(np.concatenate([hW.ravel(), ha]), Hv, rtol=1e-12, atol=1e-13)


def test_fixed_output_grad_is_array():
    net = fully_connected(3, 2, 2)
    rng = np.random.default_rng(1)
    g = net.grad(rng.standard_normal((2, 3)), np.ones(2), rng.standard_normal((2, 3)), np.ones(2))
    assert isinstance(g, np.ndarray) and g.shape == (2, 3)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "abs", "erf", "quadratic", "identity"])
def test_exact_and_stable_at_parallel_units(act):
    """Student units exactly parallel / antiparallel to teacher units: finite, and continuous
    with the values 1e-9 away."""
    rng = np.random.default_rng(2)
    V = rng.standard_normal((2, 4))
    a, b = np.array([1.0, -0.7]), np.array([0.8, 1.2])
    net = fully_connected(4, 2, 2, act, train_output=True)
    for sign in (1.0, -1.0):
        W = sign * V * np.array([[1.3], [0.6]])
        tilt = W + 1e-9 * rng.standard_normal(W.shape)
        for f in (net.loss, lambda *x: np.concatenate([t.ravel() for t in net.grad(*x)]),
                  net.hessian):
            at, near = np.asarray(f(W, a, V, b)), np.asarray(f(tilt, a, V, b))
            assert np.all(np.isfinite(at))
            assert np.max(np.abs(at - near)) <= 1e-7 * max(1.0, np.max(np.abs(at)))


def test_student_equals_teacher_is_a_global_minimum():
    rng = np.random.default_rng(3)
    V, b = rng.standard_normal((3, 5)), rng.standard_normal(3)
    net = fully_connected(5, 3, 3, "relu", train_output=True)
    assert abs(net.loss(V, b, V, b)) < 1e-14
    gW, ga = net.grad(V, b, V, b)
    assert np.max(np.abs(gW)) < 1e-14 and np.max(np.abs(ga)) < 1e-14
    assert np.linalg.eigvalsh(net.hessian(V, b, V, b))[0] > -1e-12


def test_convolutional_overlapping_and_general_patches():
    rng = np.random.default_rng(4)
    net = convolutional(9, 4, 2, "relu")   # n = 3 overlapping patches [0,4), [2,6), [4,8)
    assert net.n == 3 and net.patches == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]
    w, a, ws, as_ = (rng.standard_normal(4), rng.standard_normal(3), rng.standard_normal(4),
                     rng.standard_normal(3))
    gw, ga = net.grad(w, a, ws, as_)
    assert gw.shape == (4,) and ga.shape == (3,)
    assert net.hessian(w, a, ws, as_).shape == (7, 7)
    # the same model through the general constructor
    gen = patches(9, net.patches, activation="relu")
    assert gen.loss(w[None], a, ws[None], as_) == pytest.approx(net.loss(w, a, ws, as_),
                                                                 rel=1e-15)
    # and as a fully connected net on the effective vectors
    U, T = S.conv_units(w, 9, net.patches), S.conv_units(ws, 9, net.patches)
    fc = fully_connected(9, 3, 3, "relu", train_output=True)
    assert fc.loss(U, a, T, as_) == pytest.approx(net.loss(w, a, ws, as_), rel=1e-15)
    gU, gaU = fc.grad(U, a, T, as_)
    assert np.allclose(gw, sum(gU[i, p] for i, p in enumerate(net.patches)), rtol=1e-13)


def test_bad_input_names_the_argument():
    net = fully_connected(3, 2, 2)
    W, a, V, b = np.ones((2, 3)), np.ones(2), np.eye(2, 3), np.ones(2)
    with pytest.raises(ValueError, match="W"):
        net.loss(np.ones((3, 3)), a, V, b)
    with pytest.raises(ValueError, match="b"):
        net.loss(W, a, V, np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="a"):
        net.loss(W, a.astype(complex), V, b)
    with pytest.raises(ValueError, match="W"):
        net.loss(np.zeros((2, 3)), a, V, b)
    with pytest.raises(ValueError, match="tanh"):
        fully_connected(3, 2, 2, activation="tanh")
    with pytest.raises(ValueError, match="softmax"):
        fully_connected(3, 2, 2, activation="softmax")
    with pytest.raises(TypeError, match="k"):
        fully_connected(3, 2.5, 2)
    with pytest.raises(ValueError, match="patch_size"):
        convolutional(3, 4, 1)
    with pytest.raises(ValueError, match="patches"):
        patches(4, [[0, 1], [3, 4]])


def test_kernel_expressions_for_certificates():
    """The SymPy expressions are exposed (issue 21 evaluates them in ball arithmetic)."""
    sp = pytest.importorskip("sympy")
    from derivations.twolayer import expressions

    ex = expressions("relu")
    s = ex["symbols"]
    assert sp.simplify(ex["kappa"] - s["a"] * s["b"] * (sp.sin(s["phi"]) + (sp.pi - s["phi"])
                                                        * sp.cos(s["phi"])) / (2 * sp.pi)) == 0
    from derivations.twolayer.kernels import PAIR_TERMS, SELF_TERMS

    assert tuple(ex["pair"]) == PAIR_TERMS and tuple(ex["self"]) == SELF_TERMS
    with pytest.raises(ValueError, match="gelu"):
        expressions("gelu")


def test_fig6_3b_closer_patches_converge_faster(tmp_path):
    from numerics.experiments import fig6_3b

    res = fig6_3b.run(tmp_path, quick=True)
    assert res["monotone"], res["rates"]
    assert (tmp_path / "fig6_3b.json").exists()
    assert "sigma_2" in fig6_3b.report(res)


def test_cli_twolayer(capsys):
    from numerics import cli

    assert cli.main(["twolayer", "--fc", "7", "7", "7"]) == 0
    assert "parameters 49" in capsys.readouterr().out
    assert cli.main(["twolayer", "--conv", "9", "4", "2", "--latex"]) == 0
    assert r"\kappa(P_i\mathbf{w}, P_j\mathbf{w}^*)" in capsys.readouterr().out
    assert cli.main(["twolayer", "--fc", "3", "2", "2", "--activation", "erf", "--code"]) == 0
    assert "def erf_hess(" in capsys.readouterr().out
    for bad in (["twolayer", "--fc", "0", "1", "1"], ["twolayer", "--fc", "3", "2", "2",
                "--activation", "tanh"], ["twolayer", "--conv", "3", "4", "1"],
                ["twolayer", "--fc", "3", "2", "2", "--alpha", "0.1"],
                ["twolayer", "--fc", "3", "2", "2", "--latex", "--code"], ["twolayer"]):
        assert cli.main(bad) == 2, bad
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, err


def test_bench_baselines_and_jax_skip(monkeypatch):
    """`bench twolayer`'s per-point baselines (as Safran-Yehudai-Shamir's and Tian's published
    code compute the gradient) agree with the engine, and the JAX rows are skipped with the
    reason when jax is missing."""
    from numerics.bench import _twolayer_jax as J
    from numerics.bench import twolayer as B

    rng = np.random.default_rng(5)
    W, V = rng.standard_normal((6, 4)), rng.standard_normal((3, 4))
    g = fully_connected(4, 6, 3).grad(W, np.ones(6), V, np.ones(3))
    assert np.allclose(B.sys_grad(W, V), g, rtol=1e-12, atol=1e-13)
    assert np.allclose(B.tian_grad(W, V), g, rtol=1e-12, atol=1e-13)
    monkeypatch.setattr(J, "available", lambda: "jax not importable (test)")
    rows = B._jax_rows(rng, quick=True)
    assert len(rows) == 1 and "skipped" in rows[0].name and "test" in rows[0].detail
