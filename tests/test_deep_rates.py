"""Thesis ch. 3 Condition 3.1 constants and Theorems 3.1-3.2's rate (issue 24;
numerics/checks/ch3_rates.py): the simulator's gradients agree with finite differences, the rows
pass, and planted errors (a wrong constant, a faster stated rate) make them fail."""
import numpy as np
import pytest
import sympy as sp

import derivations as D
from numerics import checks
from numerics.harness import Context, Subject, run_check
from numerics.simulators import deep_gd as S

CTX = Context(samples=2000)


def _rows(name, label, fn=None):
    f = D.get(name)
    (c,) = [c for c in checks.for_formula(name) if c.label.startswith(label)]
    return run_check(c, Subject(f, fn or f.numpy), CTX)


def test_derived_constants():
    from derivations import deep_rates as R

    assert R.softplus_lipschitz() == 1
    assert sp.simplify(R.softplus_smoothness() - R.BETA / 4) == 0
    assert R.cond31_c().subs(R.BETA, 1) == 1


@pytest.mark.parametrize("arch", ["fc", "resnet"])
def test_simulator_gradients_vs_finite_differences(arch):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.standard_normal(3)
    Ws, a = S.init(rng, 4, 12, 3)
    kw = dict(arch=arch, activation="softplus", c_res=0.8)
    G = S.grads(Ws, a, X, y, **kw)
    for h, i, j in ((0, 1, 2), (1, 3, 4), (2, 0, 7)):
        E = [W.copy() for W in Ws]
        F = [W.copy() for W in Ws]
        E[h][i, j] += 1e-6
        F[h][i, j] -= 1e-6
        fd = (S.loss(E, a, X, y, **kw) - S.loss(F, a, X, y, **kw)) / 2e-6
        assert abs(fd - G[h][i, j]) <= 1e-7 * max(1.0, abs(fd))


@pytest.mark.parametrize("name,label", [("kernels.softplus_smoothness", "sup |sigma''|"),
                                        ("kernels.cond31_c", "max(|sigma(0)|")])
def test_constant_rows_catch_a_wrong_constant(name, label):
    assert all(r.passed for r in _rows(name, label))
    f = D.get(name).numpy
    assert not any(r.passed for r in _rows(name, label, lambda b: 1.001 * np.asarray(f(b))))


def test_relu_row_catches_a_too_small_smoothness():
    name = "kernels.softplus_smoothness"
    assert all(r.passed for r in _rows(name, "ReLU has no"))
    assert not any(r.passed for r in _rows(name, "ReLU has no", lambda b: 0.2 * np.asarray(b)))


def test_rate_row_catches_a_faster_stated_rate():
    name = "kernels.deep_loss_bound"
    assert all(r.passed for r in _rows(name, "Theorems 3.1-3.2"))
    f = D.get(name).numpy
    # the stated rate with a 60x larger lambda: faster than the networks' measured rate
    assert not any(r.passed for r in _rows(
        name, "Theorems 3.1-3.2", lambda e, lam, k, L0: f(e, np.minimum(60 * lam, 1.99 / e), k, L0)))


def test_rate_attained_by_a_least_squares_model():
    name = "kernels.deep_loss_bound"
    assert all(r.passed for r in _rows(name, "GD of a least-squares"))
    f = D.get(name).numpy
    assert not any(r.passed for r in _rows(name, "GD of a least-squares",
                                            lambda *a: (1 + 1e-6) * np.asarray(f(*a))))


def test_fc_norm_derived():
    from derivations import deep_rates as R

    c, H, m = R.C_W, R.H_D, R.M_W
    assert sp.simplify(R.fc_norm_growth() - (c / 2) ** H) == 0
    assert sp.simplify(R.fc_norm_second_moment() - (c**2 * (m + 5) / (4 * m)) ** H) == 0


@pytest.mark.parametrize("name,mutant", [
    # the per-layer factor without the c_sigma normalization's 1/2 (E relu^2 dropped)
    ("kernels.fc_norm_growth", lambda c, H: np.asarray(c, float) ** H),
    # the second moment without the layers' fluctuation: (E R)^(2H)
    ("kernels.fc_norm_second_moment", lambda c, H, m: (np.asarray(c, float) / 2) ** (2 * H)),
])
def test_fc_norm_rows_catch_planted_errors(name, mutant):
    for label in ("(E R^j)^H", "random deep ReLU fc nets"):
        assert all(r.passed for r in _rows(name, label))
        assert not all(r.passed for r in _rows(name, label, mutant))


@pytest.mark.parametrize("name", ["kernels.fc_norm_growth", "kernels.fc_norm_second_moment"])
def test_fc_norm_reference_catches_a_small_error(name):
    f = D.get(name).numpy
    assert not any(r.passed for r in _rows(name, "(E R^j)^H",
                                            lambda *a: (1 + 1e-9) * np.asarray(f(*a))))


def _general_rows(label, fn):
    from numerics.harness import Subject as Sub

    out = []
    for c in checks.public_checks("kernels.general_kernel"):
        if c.label.startswith(label):
            out += run_check(c, Sub(D.get("kernels.fc_norm_growth"), fn), CTX)
    assert out
    return out


def test_general_kernel_rows_and_planted_errors():
    from derivations import deep_rates as R

    assert all(r.passed for lab in ("Defs. 3.1-3.3", "MC of wide", "K_H, K^(h)") for r in
               _general_rows(lab, R.general_kernel))

    # D^(h) = sqrt(d) I instead of d I: the same on the instances (d in {0, 1}), so only the
    # non-instance networks can see it
    def sqrt_d(X, layers, activation="relu", patch=False):
        return R.general_kernel(X, [(s, np.sqrt(d)) for s, d in layers], activation, patch)

    assert all(r.passed for r in _general_rows("Defs. 3.1-3.3", sqrt_d))
    assert not all(r.passed for r in _general_rows("MC of wide", sqrt_d))
    assert not any(r.passed for r in _general_rows("K_H, K^(h)", sqrt_d))

    # the last layer's scale s_H^2 dropped: seen by both
    def no_scale(X, layers, activation="relu", patch=False):
        out = R.general_kernel(X, layers, activation, patch)
        return dict(out, K_H=out["K_H"] / layers[-1][0] ** 2)

    assert not any(r.passed for r in _general_rows("Defs. 3.1-3.3", no_scale))
    assert not all(r.passed for r in _general_rows("MC of wide", no_scale))


@pytest.mark.parametrize("layers,err", [([], ValueError), ([(1.0, 0.5)], ValueError),
                                        ([(0.0, 0.0)], ValueError), ("ab", TypeError)])
def test_general_kernel_bad_layers(layers, err):
    from derivations import deep_rates as R

    with pytest.raises(err, match="layers"):
        R.general_kernel(np.eye(3), layers)


def test_conv_simulator_gradients_vs_finite_differences():
    from numerics.simulators import conv_gd as C

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((3, 4, 2)), rng.standard_normal(3)
    Ws, a = C.init(rng, 2, 6, 3, 4)
    kw = dict(activation="softplus", c_res=0.8)
    G = C.grads(Ws, a, X, y, **kw)
    for h, i, j in ((0, 1, 2), (1, 3, 4), (2, 0, 7), (1, 5, 17)):
        E = [W.copy() for W in Ws]
        F = [W.copy() for W in Ws]
        E[h][i, j] += 1e-6
        F[h][i, j] -= 1e-6
        fd = (C.loss(E, a, X, y, **kw) - C.loss(F, a, X, y, **kw)) / 2e-6
        assert abs(fd - G[h][i, j]) <= 1e-7 * max(1.0, abs(fd))
    x, g = rng.standard_normal((2, 3, 4)), rng.standard_normal((6, 3, 4))
    assert abs(np.sum(C.patches(x) * g) - np.sum(x * C.patches_adjoint(g, 2))) < 1e-12


def test_theorem33_row_catches_a_faster_stated_rate():
    name = "kernels.deep_loss_bound"
    assert all(r.passed for r in _rows(name, "Theorem 3.3"))
    f = D.get(name).numpy
    assert not any(r.passed for r in _rows(
        name, "Theorem 3.3", lambda e, lam, k, L0: f(e, np.minimum(150 * lam, 1.99 / e), k, L0)))
