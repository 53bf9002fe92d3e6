"""The spurious-minima study (issue 21): the derived loss/gradient/Hessian against an independent
simulator, the arb certificates (the k = 7 minimum of issue 20 certifies, planted wrong points
do not), the symmetry canonical form, and the experiment's determinism across Dask workers."""
from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest

from numerics import quadrature as Q

HAVE_FLINT = importlib.util.find_spec("flint") is not None
HAVE_DASK = importlib.util.find_spec("distributed") is not None
needs_flint = pytest.mark.skipif(not HAVE_FLINT, reason="python-flint not installed (extra "
                                 "'rigorous')")


def k7_minimum():
    """The k = m = d = 7 spurious minimum printed in the README of Safran, Yehudai & Shamir's
    code (issue 20, item 8): rows are student units."""
    k = 7
    W = np.full((k, k), -0.0350801559)
    W[0] = 0.1859910463
    W[0, 0] = -0.6327039049
    for j in range(1, k):
        W[j, 0] = 0.2616910758
        W[j, j] = 0.9969227988
    return W


def loss_by_quadrature(W, V):
    """1/2 E[(sum_i relu(w_i.x) - sum_j relu(v_j.x))^2]: the network's own integrand, each
    product of two units integrated over their plane (polar Gauss quadrature with the ReLU
    kinks as breakpoints).  Independent of every closed form."""
    Y = np.vstack([W, V])
    s = np.concatenate([np.ones(len(W)), -np.ones(len(V))])
    total = 0.0
    for i in range(len(Y)):
        for j in range(len(Y)):
            e1, e2 = Q.plane_basis(Y[i], Y[j])
            ci, cj = Q.coordinates(Y[i], e1, e2), Q.coordinates(Y[j], e1, e2)

            def f(z1, z2, ci=ci, cj=cj):
                return (np.maximum(ci[0] * z1 + ci[1] * z2, 0)
                        * np.maximum(cj[0] * z1 + cj[1] * z2, 0))

            total += s[i] * s[j] * Q.plane_expectation(f, Q.relu_kinks(ci, cj))
    return 0.5 * total


@pytest.fixture(scope="module")
def T():
    from numerics import relu_teacher

    return relu_teacher


def test_loss_matches_quadrature_and_gradient_matches_its_differences(T):
    rng = np.random.default_rng(3)
    k, d, m = 3, 4, 2
    W, V = rng.standard_normal((k, d)), rng.standard_normal((m, d))
    L = T.loss(W, 1.0, V, 1.0)
    assert L == pytest.approx(loss_by_quadrature(W, V), rel=1e-12, abs=1e-14)
    G = T.grad(W, 1.0, V, 1.0)
    h = 1e-5
    for (i, l) in [(0, 0), (1, 2), (2, 3)]:
        E = np.zeros_like(W)
        E[i, l] = h
        fd = (loss_by_quadrature(W + E, V) - loss_by_quadrature(W - E, V)) / (2 * h)
        assert G[i, l] == pytest.approx(fd, rel=1e-7, abs=1e-9)


def test_hessian_is_the_derivative_of_the_gradient_and_batches(T):
    rng = np.random.default_rng(4)
    k = 4
    W = rng.standard_normal((k, k)) / 2
    a, V, b = rng.uniform(0.5, 1.5, k), np.eye(k), rng.uniform(0.5, 1.5, k)
    H = T.hessian(W, a, V, b)
    assert H.shape == (k * k, k * k) and np.abs(H - H.T).max() < 1e-14
    h = 1e-6
    fd = np.empty_like(H)
    for p in range(k * k):
        E = np.zeros(k * k)
        E[p] = h
        E = E.reshape(k, k)
        fd[:, p] = (T.grad(W + E, a, V, b) - T.grad(W - E, a, V, b)).ravel() / (2 * h)
    assert np.abs(fd - H).max() < 1e-7 * np.abs(H).max()
    # batched over a leading axis: the same numbers as point by point
    Wb = np.stack([W, W[::-1], 0.5 * W])
    for fn in (T.loss, T.grad, T.hessian):
        batch = fn(Wb, a, V, b)
        for r in range(3):
            np.testing.assert_allclose(batch[r], fn(Wb[r], a, V, b), rtol=1e-14, atol=1e-15)


def test_planted_error_in_a_derived_coefficient_is_caught(T, monkeypatch):
    """Teeth: the gradient check above fails when one derived coefficient is off by 1e-6."""
    from numerics import relu_pairs

    good = relu_pairs.numpy_functions()
    bad = dict(good, grad_s=dict(good["grad_s"]))
    bad["grad_s"]["w"] = lambda *x: good["grad_s"]["w"](*x) * (1 + 1e-6)
    monkeypatch.setattr(T, "numpy_functions", lambda: bad)
    rng = np.random.default_rng(3)
    W, V = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    E = np.zeros_like(W)
    E[1, 2] = 1e-5
    fd = (loss_by_quadrature(W + E, V) - loss_by_quadrature(W - E, V)) / 2e-5
    assert abs(T.grad(W, 1.0, V, 1.0)[1, 2] - fd) > 1e-7 * abs(fd)


def test_issue20_worked_example(T):
    W, k = k7_minimum(), 7
    assert T.loss(W, 1.0, np.eye(k), 1.0) == pytest.approx(0.0232, abs=5e-5)
    assert np.linalg.norm(T.grad(W, 1.0, np.eye(k), 1.0)) < 1e-9
    lam = np.linalg.eigvalsh(T.hessian(W, 1.0, np.eye(k), 1.0))
    assert lam[0] == pytest.approx(0.01406, abs=1e-5)
    # global minimum: zero loss and gradient (phi = 0 pairs: the hardened angle terms)
    P = np.eye(k)[[3, 1, 0, 2, 6, 5, 4]]
    assert abs(T.loss(P, 1.0, np.eye(k), 1.0)) < 1e-14
    assert np.abs(T.grad(P, 1.0, np.eye(k), 1.0)).max() < 1e-15


@needs_flint
def test_certificate_of_the_k7_minimum_and_planted_wrong_points():
    from numerics.certify import certify

    W = k7_minimum()
    c = certify(W)
    assert c["certified"], c["reason"]
    assert c["radius"] < 1e-9 and c["krawczyk"] < 1
    assert 0.01 < c["min_eig_lower"] <= 0.01406 and c["angle_margin"] > 0
    moved = W.copy()
    moved[3, 2] += 1e-3  # a wrong point: the minimum is 1e-3 away
    bad = certify(moved)
    assert not bad["certified"] and "max_radius" in bad["reason"]
    bad = certify(moved, radius=1e-6)  # even when the radius is forced, Krawczyk fails
    assert not bad["certified"] and "Krawczyk" in bad["reason"]
    # the global minimum sits at angle 0 (kernel not smooth): refused, not "certified"
    glob = certify(np.eye(7))
    assert not glob["certified"] and "parallel" in glob["reason"]


@needs_flint
def test_arb_evaluation_encloses_the_float_value():
    import flint
    import sympy as sp

    from numerics.relu_pairs import arb_eval, derived

    D = derived()
    nu, nw, phi = D["symbols"]
    for expr in [D["kappa"], *D["hess"].values()]:
        f = sp.lambdify((nu, nw, phi), expr, "mpmath")
        val = arb_eval(expr, {nu: flint.arb(1.25), nw: flint.arb(0.5), phi: flint.arb("0.7")})
        import mpmath

        with mpmath.workdps(40):
            ref = f(mpmath.mpf(1.25), mpmath.mpf(0.5), mpmath.mpf("0.7"))
        assert val.contains(flint.arb(str(ref))) or abs(float(val) - float(ref)) < 1e-15
        assert float(val.rad()) < 1e-12
    with pytest.raises(ValueError, match="unsupported"):
        arb_eval(sp.exp(nu), {nu: flint.arb(1)})


def test_canonical_form_is_invariant_under_the_symmetry_group():
    from numerics.experiments.spurious_minima import canonical, group

    W = k7_minimum()
    C, blocks = canonical(W)
    assert blocks == [6, 1]
    rng = np.random.default_rng(0)
    copies = []
    for _ in range(4):
        p, q = rng.permutation(7), rng.permutation(7)
        Wp = W[p][:, q]  # students permuted, coordinates (= teacher units) permuted
        Cp, bp = canonical(Wp)
        np.testing.assert_allclose(Cp, C, atol=1e-12)
        assert bp == blocks
        copies.append(Wp)
    other = W.copy()
    other[0, 0] += 0.01  # not a symmetric copy
    Ws = np.stack(copies + [other])
    groups = group(Ws, np.array([0.0232] * 4 + [0.0232]), np.full(5, 1e-12))
    assert sorted(g["count"] for g in groups) == [1, 4]


def test_sweep_seeds_and_validation():
    from numerics import sweep

    a = sweep.seed_for(5, 7, 1).standard_normal(3)
    assert np.array_equal(a, sweep.seed_for(5, 7, 1).standard_normal(3))
    assert not np.array_equal(a, sweep.seed_for(5, 7, 2).standard_normal(3))
    assert sweep.run(lambda t: t * t, [3, 1, 2]) == [9, 1, 4]
    with pytest.raises(ValueError, match="workers"):
        sweep.run(abs, [1], workers=0)
    with pytest.raises(ValueError, match="not both"):
        sweep.run(abs, [1], workers=1, scheduler="tcp://127.0.0.1:1")


def _small(tmp_path, **kw):
    from numerics.experiments import spurious_minima as S

    return S.run(tmp_path, seed=1, k_min=7, k_max=8, runs=12, block=6, cap=20000,
                 processes=False, **kw)


@pytest.mark.skipif(not (HAVE_DASK and HAVE_FLINT), reason="needs the distributed and "
                    "rigorous extras")
def test_experiment_in_process_equals_two_dask_workers(tmp_path):
    one = _small(tmp_path / "one")
    two = _small(tmp_path / "two", workers=2)
    data = json.loads((tmp_path / "one" / "spurious_minima.json").read_text())
    assert [r["k"] for r in data["rows"]] == [7, 8]
    for r1, r2 in zip(one["rows"], two["rows"]):
        assert r1["spurious"] == r2["spurious"] and r1["capped"] == r2["capped"] == 0
        assert r1["spurious_fraction"] == r2["spurious_fraction"]
        assert [m["loss"] for m in r1["minima"]] == [m["loss"] for m in r2["minima"]]
        assert r1["converged"] + r1["capped"] == 12
        for m in r1["minima"]:
            assert m["certified"] and m["min_eig"] > 0 and m["radius"] < 1e-8
            assert sum(m["blocks"]) == r1["k"]
    assert any(r["spurious"] for r in one["rows"])  # measured: 2 of 12 at k = 8 (seed 1)
    from numerics.experiments import spurious_minima as S

    text = S.report(one)
    assert "certified" in text and "not found" in text


def test_experiment_bad_options(tmp_path):
    from numerics.experiments import spurious_minima as S

    with pytest.raises(ValueError, match="k_max"):
        S.run(tmp_path, k_min=9, k_max=3)
    with pytest.raises(ValueError, match="runs"):
        S.run(tmp_path, runs=0)
    with pytest.raises(ValueError, match="engine"):
        S.run(tmp_path, engine="jax")


def test_cli_options(tmp_path, capsys):
    from numerics import cli

    assert cli.main(["reproduce", "spurious_minima", "--k-min", "9", "--k-max", "3",
                     "--out", str(tmp_path)]) == 2
    assert "k_max" in capsys.readouterr().err
    assert cli.main(["reproduce", "spurious_minima", "--bogus", "--out", str(tmp_path)]) == 2
    assert cli.main(["reproduce", "table5_1", "--runs", "3", "--out", str(tmp_path)]) == 2
    assert cli.main(["list", "--runs", "3"]) == 2
    assert math.isfinite(1.0)


def test_issue20_engine_agrees_with_the_standin(T):
    """Two derivations (issue 20's engine and the stand-in built on gaussian.relu_cross_moment)
    agree to rounding, including next to the global minimum (angles ~1e-9)."""
    twolayer = pytest.importorskip("derivations.twolayer")
    rng = np.random.default_rng(5)
    k = 6
    net = twolayer.fully_connected(k, k, k, activation="relu", train_output=False)
    o, V = np.ones(k), np.eye(k)
    Wb = np.stack([rng.standard_normal((k, k)) / math.sqrt(k),
                   np.eye(k)[::-1] + 1e-9 * rng.standard_normal((k, k))])
    # atol: both sums round to ~1e-16 of their terms' scale (k^2 here); next to the minimum the
    # stand-in gives -1.3e-15 and the engine's public loss max(l, 0) = 0
    np.testing.assert_allclose(net.loss(Wb, o, V, o), T.loss(Wb, o, V, o), rtol=1e-13,
                               atol=1e-16 * k * k)
    assert np.abs(net.grad(Wb, o, V, o) - T.grad(Wb, o, V, o)).max() < 1e-14
    H1, H2 = net.hessian(Wb[:1], o, V, o), T.hessian(Wb[:1], o, V, o)
    assert np.abs(H1 - H2).max() < 1e-13 * np.abs(H2).max()
    from numerics.relu_teacher import network

    assert network(k, k, k)[1] == "twolayer" and network(k, k, k, "standin")[1] == "standin"


def test_wilson_interval():
    from numerics.experiments.spurious_minima import wilson

    lo, hi = wilson(0, 30)
    assert lo == 0.0 and 0.1 < hi < 0.13  # (z^2/n)/(1 + z^2/n) = 0.1176
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.5 - 0.0981, abs=1e-3) and hi == pytest.approx(1 - lo)
    assert wilson(0, 0) == [0.0, 1.0]


needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="Numba not installed (extra 'fast')")


@needs_numba
def test_compiled_gradient_agrees_with_the_engine(T, source="twolayer"):
    """The compiled loop's gradient (the engine's or the stand-in's derived coefficients,
    lambdified and compiled) against the NumPy engine: random points with unequal output weights
    and a general teacher, the identity teacher (its fast path), and next to a global minimum
    (angles ~1e-9, the Kahan angle).  (The stand-in's coefficients compile the same way,
    ``source="standin"``; one compile per test keeps CI short.)"""
    from numerics import spurious_gd as S

    pytest.importorskip("derivations.twolayer")
    rng = np.random.default_rng(11)
    k, d, m = 5, 5, 4
    W = rng.standard_normal((3, k, d))
    a, V, b = rng.uniform(0.5, 1.5, k), rng.standard_normal((m, d)), rng.uniform(0.5, 1.5, m)
    assert np.abs(S.gradients(W, a, V, b, source) - T.grad(W, a, V, b)).max() < 1e-13
    I = np.eye(k)
    Wg = np.stack([rng.standard_normal((k, k)) / math.sqrt(k),
                   I[::-1] + 1e-9 * rng.standard_normal((k, k))])
    G = S.gradients(Wg, 1.0, I, 1.0, source)
    assert np.abs(G - T.grad(Wg, 1.0, I, 1.0)).max() < 1e-14
    assert np.abs(G[1]).max() < 1e-8  # |W - P| ~ 1e-9: the gradient is that small too
    with pytest.raises(ValueError, match="W must have shape"):
        S.gradients(W[0], a, V, b, source)


@needs_numba
def test_gd_end_points_do_not_depend_on_blocks_or_backend():
    """Per-run seeds: the same runs split into different tasks give bit-identical end points
    (compiled loop); the batched NumPy loop reaches the same minima (equal to rounding)."""
    from numerics.experiments.spurious_minima import gd_block

    base = {"k": 7, "seed": 2, "tol": 1e-12, "cap": 20000, "engine": "auto"}
    whole = gd_block({**base, "block": 0, "start": 0, "n": 6, "backend": "numba"})
    parts = [gd_block({**base, "block": j, "start": 3 * j, "n": 3, "backend": "numba"})
             for j in range(2)]
    assert np.array_equal(whole["W"], np.concatenate([p["W"] for p in parts]))
    assert np.array_equal(whole["iters"], np.concatenate([p["iters"] for p in parts]))
    nump = gd_block({**base, "block": 0, "start": 0, "n": 6, "backend": "numpy"})
    assert np.abs(nump["W"] - whole["W"]).max() < 1e-8
    assert np.abs(nump["iters"] - whole["iters"]).max() <= 5
    assert (nump["gnorm"] <= 1e-12).all() and (whole["gnorm"] <= 1e-12).all()
