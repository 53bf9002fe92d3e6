"""wn family: reparametrization gradients, eq. (2.3), network Grams, Prop. 1, Obs. 1, S_k."""
import numpy as np
import pytest
import sympy as sp

import derivations as D
from derivations import wn
from derivations.generated import wn as gen
from numerics import harness
from numerics.simulators import wn as sim


def test_symbolic_facts():
    assert wn.orthogonality() == 0
    assert sp.simplify(D.get("wn.grad_v").expr - wn.paper_grad_v()) == 0
    # Proposition 1 and Observation 1 at g = |v|/alpha
    v, g, h = (wn._linear_part(t) for t in (wn.v_term(), wn.g_term(), wn.h_term()))
    assert sp.simplify(wn.at_init(v + g - h)) == 0
    assert not sp.simplify(wn.at_init(v)).has(wn.ALPHA)


def test_gd_norm_growth_and_flow_constancy():
    """(2.3) along a real GD run of the simulated network; gradient flow keeps |v_k|."""
    rng = np.random.default_rng(1)
    X = sim.unit_data(rng, 5, 6)
    y = rng.standard_normal(5)
    net = sim.init(rng, 30, 6, 0.8)
    eta = 0.3
    gv, gg = sim.gradients(net, X, y)
    # per neuron: grad_w L of the unnormalized parametrization, from the simulator's Jacobians
    r = sim.forward(net, X) - y
    _, _, jw = sim.jacobians(net, X)
    grad_w = np.einsum("i,ikd->kd", r, jw)
    got = gen.norm_after_gd_step(net.v, net.g, grad_w, eta)
    np.testing.assert_allclose(got, np.sum((net.v - eta * gv) ** 2, axis=1), rtol=1e-13)
    np.testing.assert_allclose(gen.grad_v(net.v, net.g, grad_w), gv, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gen.grad_g(net.v, net.g, grad_w), gg, rtol=1e-12, atol=1e-15)
    assert np.all(got >= np.sum(net.v**2, axis=1))
    ts, norms, _ = sim.flow(net, X, y, t_end=0.5, dt=0.01)
    change = np.abs(norms[-1] / norms[0] - 1)
    # RK4 is exact to 1e-11 between kinks; a neuron whose pattern flips inside a step sees the
    # discontinuous field at O(dt^2) (here ~3e-5), still far below the GD growth
    assert np.median(change) < 1e-10 and np.max(change) < 1e-4


def test_grams_match_the_network_and_prop1():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 5))
    for alpha in (0.1, 1.0, 10.0):
        net = sim.init(np.random.default_rng(3), 200, 5, alpha)
        V, G, H = wn.grams(net.v, net.g, X, alpha)
        Vs, Gs, Hs = sim.grams(net, X)
        np.testing.assert_allclose(V, Vs, atol=1e-13)
        np.testing.assert_allclose(G, Gs, atol=1e-13)
        np.testing.assert_allclose(V + G, H, atol=1e-13)  # Proposition 1
        if alpha == 0.1:
            V0, G0 = V, G
        else:  # Observation 1: same directions -> same V(0), G(0)
            np.testing.assert_allclose(V, V0, atol=1e-13)
            np.testing.assert_allclose(G, G0, atol=1e-13)


def test_weyl_beats_the_printed_max_bound():
    rng = np.random.default_rng(4)
    X = sim.unit_data(rng, 6, 20)
    net = sim.init(rng, 400, 20, 0.5)
    V, G, _ = wn.grams(net.v, net.g, X, 0.5)
    for alpha in (0.5, 2.0):
        lam = np.linalg.eigvalsh(V / alpha**2 + G)[0]
        weyl = np.linalg.eigvalsh(V)[0] / alpha**2 + np.linalg.eigvalsh(G)[0]
        printed = max(np.linalg.eigvalsh(V)[0] / alpha**2, np.linalg.eigvalsh(G)[0])
        assert lam >= weyl - 1e-12 and weyl > printed


def test_n_block_printed_form_is_wrong_by_numbers():
    v, g = np.array([1.0, 2.0, -0.5]), 1.3
    N = gen.n_block(v, g)
    P = np.outer(v, v) / (v @ v)
    np.testing.assert_allclose(N, g**2 / (v @ v) * (np.eye(3) - P) + P, atol=1e-15)
    Pp = np.eye(3) - np.outer(v, v) / np.linalg.norm(v)  # the printed projector
    printed = g**2 / (v @ v) * Pp @ Pp + P
    assert np.max(np.abs(printed - N)) > 0.1


@pytest.mark.parametrize("fn, args, arg", [
    (gen.grad_v, (np.zeros(3), 1.0, np.ones(3)), "v"),
    (gen.grad_v, (np.ones(3), 1.0, np.ones(4)), "grad_w"),
    (gen.grad_g, (np.ones(3), np.nan, np.ones(3)), "g"),
    (gen.norm_after_gd_step, (np.ones(3), 1.0, np.ones(3), 0.0), "eta"),
    (gen.v_term, (np.ones(3), 1.0, np.ones(3), np.ones(3), -1.0), "alpha"),
])
def test_bad_input(fn, args, arg):
    with pytest.raises(ValueError, match=arg):
        fn(*args)


def test_grams_bad_input():
    with pytest.raises(ValueError, match="X"):
        wn.grams(np.ones((3, 2)), np.ones(3), np.ones((0, 2)), 1.0)
    with pytest.raises(ValueError, match="g"):
        wn.grams(np.ones((3, 2)), np.ones(2), np.ones((4, 2)), 1.0)
    with pytest.raises(ValueError, match="alpha"):
        wn.grams(np.ones((3, 2)), np.ones(3), np.ones((4, 2)), 0.0)


def test_checks_pass_with_errata():
    rows = harness.run(D.names("wn"), harness.Context(samples=4000))
    assert not [r for r in rows if not r.passed]
    assert sorted(r.formula for r in rows if r.erratum) == ["wn.grad_g", "wn.grad_theta", "wn.n_block"]


def test_mutants_are_caught():
    if not hasattr(harness, "run_mutants"):
        pytest.skip("mutant runner not available")
    ms = harness.run_mutants(["wn.grad_v", "wn.v_term", "wn.n_block"], harness.Context(samples=4000))
    assert ms and all(m.caught for m in ms), [m.label for m in ms if not m.caught]


WIDTHS = ["wn.width_thm41", "wn.width_thm42", "wn.width_prop2", "wn.alpha_opt", "wn.width_opt"]


def test_width_formulas_and_alpha_opt():
    """Issue 24: alpha = sqrt(n/mu_0) and m = n^2 log(n/delta)/mu_0^2 come out of SymPy from
    Theorem 4.2's printed width condition (its two terms meet there)."""
    n, mu0 = sp.symbols("n mu_0", positive=True)
    assert sp.simplify(D.get("wn.alpha_opt").expr - sp.sqrt(n / mu0)) == 0
    assert gen.alpha_opt(10.0, 0.004) == pytest.approx(50.0, rel=1e-14)
    a = 50.0
    assert gen.width_thm42(10.0, 0.1, a * (1 - 1e-6), 0.004) > gen.width_opt(10.0, 0.1, 0.004)
    assert gen.width_thm42(10.0, 0.1, a * 2, 0.004) == pytest.approx(gen.width_opt(10.0, 0.1, 0.004))
    with pytest.raises(ValueError, match="delta"):
        gen.width_thm41(10.0, 1.5, 0.3)


def test_width_mutants_are_caught():
    if not hasattr(harness, "run_mutants"):
        pytest.skip("mutant runner not available")
    ms = harness.run_mutants(WIDTHS, harness.Context(samples=4000))
    assert ms and all(m.caught for m in ms if not m.equivalent), \
        [m.label for m in ms if not m.caught and not m.equivalent]
