"""kernels family: derivations, emitted pairwise and Gram code, exact edges, bad input, checks."""
import math
import warnings

import numpy as np
import pytest
import sympy as sp

import derivations as D
from derivations import kernels as K
from derivations.generated import kernels as gen
from numerics import harness
from numerics.simulators import kernels as sim

NAMES = ("h_inf", "arccos1", "g_inf", "v_inf")


def _data(rng, n=7, d=5):
    X = rng.standard_normal((n, d))
    X[3] = -0.5 * X[0]
    X[4] = 2.0 * X[1]
    return X


def test_derivation_facts():
    assert K.alpha_cancels()
    assert K.pythagoras_residual() == 0
    assert K.chi2_mean() == K.DIM
    assert K.relu_second_moment() == sp.Rational(1, 2)
    # v_inf + g_inf = h_inf exactly (Proposition 1 in the infinite-width limit)
    assert sp.simplify(K.v_inf() + K.g_inf() - K.h_inf()) == 0


@pytest.mark.parametrize("name", NAMES)
def test_gram_matches_pairwise_broadcast(name):
    X = _data(np.random.default_rng(1))
    G = K.gram(name, X)
    P = getattr(gen, name)(X[:, None, :], X[None, :, :])
    np.testing.assert_allclose(G, P, rtol=0, atol=1e-15 * np.max(np.abs(P)) + 1e-300)
    np.testing.assert_array_equal(G, G.T) if name != "v_inf" else np.testing.assert_allclose(
        G, G.T, atol=1e-16)


def test_gram_batches_over_leading_axes():
    rng = np.random.default_rng(2)
    Xs = rng.standard_normal((3, 4, 6))
    G = K.gram("v_inf", Xs)
    assert G.shape == (3, 4, 4)
    for b in range(3):
        np.testing.assert_allclose(G[b], K.gram("v_inf", Xs[b]), atol=1e-15)


def test_edges_exact_and_quiet():
    rng = np.random.default_rng(3)
    X = _data(rng)
    r = np.linalg.norm(X, axis=1)
    d = X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        H, A, Gm, Vm = (K.gram(n, X) for n in NAMES)
    # antiparallel pair: every kernel vanishes (the wedge is empty)
    assert H[0, 3] == 0 and A[0, 3] == 0 and Gm[0, 3] == 0
    assert abs(Vm[0, 3]) <= 1e-16 * r[0] * r[3]
    # diagonals: r^2/2, r^2/2, r^2/(2d), r^2 (d-1)/(2d)
    np.testing.assert_allclose(np.diag(H), r**2 / 2, rtol=1e-15)
    np.testing.assert_allclose(np.diag(A), r**2 / 2, rtol=1e-15)
    np.testing.assert_allclose(np.diag(Gm), r**2 / (2 * d), rtol=1e-15)
    np.testing.assert_allclose(np.diag(Vm), r**2 * (d - 1) / (2 * d), rtol=1e-14)
    # parallel (scaled) pair: kernels of the direction times the norms
    np.testing.assert_allclose(A[1, 4], r[1] * r[4] / 2, rtol=1e-15)


def test_right_angle_values():
    x, y = np.array([1.0, 0, 0]), np.array([0, 2.0, 0])
    assert gen.h_inf(x, y) == 0
    np.testing.assert_allclose(gen.arccos1(x, y), 2 / (2 * math.pi), rtol=1e-15)
    np.testing.assert_allclose(gen.v_inf(x, y), -2 / (2 * math.pi * 3), rtol=1e-14)


def test_lambda0_mu0():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 10))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    lam, mu = K.lambda_0(X), K.mu_0(X)
    assert lam > 0 and mu > 0
    np.testing.assert_allclose(mu, np.linalg.eigvalsh(sim.gram_reference("g_inf", X))[0],
                               rtol=1e-10)
    # parallel points make the Grams singular
    X[2] = 0.5 * X[0]
    assert abs(K.mu_0(X)) < 1e-12 and abs(K.lambda_min("h_inf", X)) < 1e-12


@pytest.mark.parametrize("X, arg", [
    (np.zeros((0, 3)), "X"),
    (np.ones(3), "X"),
    (np.array([[1.0, 2.0], [0.0, 0.0]]), "X"),
    (np.array([[1.0, np.nan]]), "X"),
    ("abc", "X"),
])
def test_gram_bad_input(X, arg):
    with pytest.raises(ValueError, match=arg):
        K.gram("h_inf", X)


def test_gram_bad_name():
    with pytest.raises(ValueError, match="name"):
        K.gram("ntk", np.eye(2))


@pytest.mark.parametrize("x, y, arg", [
    (np.zeros(3), np.ones(3), "x"),
    (np.ones(3), np.ones(4), "y"),
    (np.ones(3), np.array([1.0, np.inf, 0.0]), "y"),
])
def test_pairwise_bad_input(x, y, arg):
    for n in NAMES:
        with pytest.raises(ValueError, match=arg):
            getattr(gen, n)(x, y)


def test_anticoncentration_is_erf_and_vectorizes():
    import math

    r = np.array([0.1, 0.5, 2.0])
    np.testing.assert_allclose(gen.anticoncentration(r, 1.0), [math.erf(t / math.sqrt(2)) for t in r],
                               rtol=1e-15)
    assert gen.anticoncentration(r[:, None], np.array([1.0, 2.0])).shape == (3, 2)
    with pytest.raises(ValueError, match="alpha"):
        gen.anticoncentration(0.1, 0.0)


def test_layer_maps_reject_bad_angles():
    with pytest.raises(ValueError, match="phi"):
        gen.relu_derivative_map(4.0)
    with pytest.raises(ValueError, match="r_x"):
        gen.relu_layer_map(0.0, 1.0, 1.0)


def test_checks_pass_and_find_the_erratum():
    names = D.names("kernels")
    rows = harness.run(names, harness.Context(samples=40_000))
    failed = [r for r in rows if not r.passed]
    assert not failed, failed
    errata = [r for r in rows if r.erratum]
    # deep_kernel: Lemma 3.25 as the OCR reads it (no constant) is false (an "OCR reading" row);
    # flow_movement: Lemma 2.3 as the OCR reads it lacks a factor 2 (an "OCR reading" row)
    assert sorted(r.formula for r in errata) == ["kernels.anticoncentration",
                                                 "kernels.deep_kernel",
                                                 "kernels.flow_movement",
                                                 "kernels.init_residual"]
    indep = {r.formula for r in rows if r.kind == "reference" and r.stat < 1e-12}
    assert indep >= {f"kernels.{n}" for n in NAMES}


def _run_mutants():
    import importlib

    for mod in ("numerics.mutants", "numerics.harness"):
        try:
            fn = getattr(importlib.import_module(mod), "run_mutants")
        except (ImportError, AttributeError):
            continue
        return fn
    pytest.skip("the mutant runner is being moved (issue 6); `nnderive check --mutants kernels`")


def test_mutants_are_caught():
    names = ["kernels.h_inf", "kernels.relu_derivative_map"]
    ms = _run_mutants()(names, harness.Context(samples=4000))
    assert ms and all(m.caught for m in ms), [m.label for m in ms if not m.caught]
