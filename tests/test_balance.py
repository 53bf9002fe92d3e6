"""balance family (thesis ch. 4): derivations, emitted code vs exact GD steps, proofs, checks."""
import numpy as np
import pytest
import sympy as sp

import derivations as D
from derivations import balance as Bd
from numerics import harness
from numerics.simulators import balance as B


def test_theorems_proved_symbolically():
    assert Bd.euler_identity_proof() == []
    assert Bd.linear_matrix_proof() == []
    assert Bd.shared_weight_proof() == []


def test_first_order_term_of_claim_4_1_vanishes():
    e = D.get("balance.mf_balance_step").expr
    eta = sp.Symbol("eta", positive=True)
    assert Bd.P_URV not in e.free_symbols
    assert sp.simplify(sp.diff(e, Bd.P_VRRV) - eta ** 2) == 0


@pytest.mark.parametrize("kind", ["relu", "leaky", "linear"])
def test_backprop_matches_complex_step(kind):
    rng = np.random.default_rng(1)
    Ws, X, Y = B.random_net(rng, (3, 4, 5, 2), 6)
    for g, c in zip(B.grads(Ws, X, Y, kind), B.complex_step_grads(Ws, X, Y, kind)):
        np.testing.assert_allclose(g, c, atol=1e-13)


def test_drift_formula_equals_gd_step():
    rng = np.random.default_rng(2)
    Ws, X, Y = B.random_net(rng, (4, 6, 3), 5)
    G = B.grads(Ws, X, Y, "relu")
    W1, _ = B.gd_step(Ws, X, Y, 0.1, "relu")
    f = D.get("balance.gd_neuron_drift").numpy
    got = f(Ws[0], G[0], Ws[1].T, G[1].T, 0.1)  # all units at once (batch over rows)
    want = B.neuron_balance(W1)[0] - B.neuron_balance(Ws)[0]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_mf_formulas():
    rng = np.random.default_rng(3)
    U, V, M = rng.standard_normal((4, 2)), rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    U1, V1 = B.mf_step(U, V, M, 0.2)
    want = (U1.T @ U1 - V1.T @ V1) - (U.T @ U - V.T @ V)
    np.testing.assert_allclose(D.get("balance.mf_balance_step").numpy(U, V, M, 0.2), want, atol=1e-13)
    with pytest.raises(ValueError, match=r"\bV\b"):
        D.get("balance.mf_balance_step").numpy(U, np.ones((3, 3)), M, 0.2)
    with pytest.raises(ValueError, match=r"\bM\b"):
        D.get("balance.mf_hessian").numpy(U, V, np.ones((3, 3)), U, V)
    with pytest.raises(ValueError, match=r"\bU\b"):
        D.get("balance.mf_balance_step").numpy(np.full((4, 2), np.nan), V, M, 0.2)


def test_rank1_edges():
    f = D.get("balance.mf_alpha_perp_next").numpy
    assert f(0.5, 0.3, 0.4, 0.2, 1.0, 100.0) > 0  # |1 - eta |v|^2| branch
    with pytest.raises(ValueError, match="alpha_perp"):
        f(0.5, -0.3, 0.4, 0.2, 1.0, 0.1)


def test_family_checks_pass():
    rows = harness.run(D.names("balance"), harness.Context(samples=20_000))
    bad = [r for r in rows if not r.passed]
    assert not bad, [(r.formula, r.label, r.detail) for r in bad]


def test_mf_batch_matches_loop():
    rng = np.random.default_rng(4)
    U, V, M = rng.standard_normal((5, 4, 2)), rng.standard_normal((5, 3, 2)), rng.standard_normal((4, 3))
    dU, dV = rng.standard_normal((5, 4, 2)), rng.standard_normal((5, 3, 2))
    eta = rng.uniform(0.01, 0.2, 5)
    f = D.get("balance.mf_balance_step").numpy
    h = D.get("balance.mf_hessian").numpy
    np.testing.assert_allclose(f(U, V, M, eta), np.stack([f(U[i], V[i], M, eta[i]) for i in range(5)]),
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h(U, V, M, dU, dV), [h(U[i], V[i], M, dU[i], dV[i]) for i in range(5)],
                               rtol=1e-13)


# -- issue 24, item 4: bounds of ch. 4 and their planted errors --------------------------------

def _row(name, label, fn=None, formula=None):
    from numerics import checks
    from numerics.harness import Context, Subject, run_check

    f = D.get(name)
    (c,) = [c for c in checks.for_formula(name) if c.label.startswith(label)]
    return run_check(c, Subject(formula or f, fn or f.numpy), Context(samples=2000))


def _scaled(name, k):
    f = D.get(name).numpy
    return lambda *a: np.asarray(f(*a)) * k


def test_lemma_4_3_derived_supremum_and_printed_constant():
    c, Mn = Bd.c_set, Bd.M_norm
    assert sp.simplify(D.get("balance.mf_smoothness").expr - (3 * c + 1) * Mn) == 0
    assert sp.simplify(D.get("balance.mf_smoothness").paper / D.get("balance.mf_smoothness").expr) == 2


@pytest.mark.parametrize("label,k", [("vs lambda_max", 1 + 1e-6), ("Lemma 4.3 bound", 1 - 1e-3)])
def test_lemma_4_3_rows_pass_and_catch_a_planted_error(label, k):
    assert all(r.passed for r in _row("balance.mf_smoothness", label))
    assert not any(r.passed for r in _row("balance.mf_smoothness", label,
                                          _scaled("balance.mf_smoothness", k)))


def test_lemma_4_1_norm_bound_rows_catch_planted_errors():
    assert all(r.passed for r in _row("balance.mf_norm_bound", "Claim 4.3 on GD"))
    # the GD states sit at relative slack 0.62: a bound 0.3x as large fails there
    assert not any(r.passed for r in _row("balance.mf_norm_bound", "Claim 4.3 on GD",
                                          _scaled("balance.mf_norm_bound", 0.3)))
    assert not any(r.passed for r in _row("balance.mf_norm_bound", "vs the supremum",
                                          _scaled("balance.mf_norm_bound", 1 + 1e-6)))


def test_lemma_4_1_gd_row_catches_a_wrong_gd_step(monkeypatch):
    assert all(r.passed for r in _row("balance.mf_balance_step", "Lemma 4.1"))

    def wrong(U, V, M, eta):   # V updated with 1.01x the gradient: the O(eta) terms no longer cancel
        R = U @ V.T - M
        return U - eta * R @ V, V - 1.01 * eta * R.T @ U

    monkeypatch.setattr(B, "mf_step", wrong)
    assert not any(r.passed for r in _row("balance.mf_balance_step", "Lemma 4.1"))


def test_lemmas_4_5_4_6_row_catches_a_wrong_simulator():
    from numerics.checks import balance as CB
    from numerics.harness import Context, Subject

    f = D.get("balance.mf_h_next")
    assert CB._lemma45_46(Subject(f, f.numpy), Context()).passed

    def overshoot(u0, v0, M, eta, steps):   # an extra growth term: alpha beta overshoots sigma1
        us, vs = [u0], [v0]
        u, v = u0, v0
        for _ in range(steps):
            R = np.outer(u, v) - M
            u, v = u - eta * R @ v + 0.05 * eta * u, v - eta * R.T @ u
            us.append(u)
            vs.append(v)
        return np.array(us), np.array(vs)

    assert not CB._lemma45_46(Subject(f, f.numpy), Context(), sim=overshoot).passed


@pytest.mark.parametrize("name", ["balance.mf_h_next", "balance.mf_xi_next"])
def test_trajectory_rows_catch_a_relative_1e_6(name):
    assert all(r.passed for r in _row(name, "vs simulated GD along"))
    assert not any(r.passed for r in _row(name, "vs simulated GD along", _scaled(name, 1 + 1e-6)))


def test_fig4_2_scale_symmetry_of_gd():
    """The symmetry fig4_2's report rests on: for a bias-free ReLU net (degree 3), targets x c^3,
    weights x c and eta x c^-4 map GD runs onto each other exactly (norms and differences x c^2)."""
    rng = np.random.default_rng(7)
    Ws, X, Y = B.random_net(rng, (5, 4, 4, 3), 6)
    c, eta = 1.7, 0.05
    A, Bw = [W.copy() for W in Ws], [c * W for W in Ws]
    for _ in range(50):
        A, _ = B.gd_step(A, X, Y, eta, "relu")
        Bw, _ = B.gd_step(Bw, X, c ** 3 * Y, eta * c ** -4, "relu")
    for a, b in zip(A, Bw):
        np.testing.assert_allclose(c * a, b, rtol=1e-10, atol=1e-12)
    na, nb = B.layer_norms(A), B.layer_norms(Bw)
    np.testing.assert_allclose(c ** 2 * (na[:-1] - na[1:]), nb[:-1] - nb[1:], rtol=1e-9, atol=1e-12)
