"""Ch. 5 dynamics (derivations/cnn_dynamics.py): derivations, emitted code, model references,
bad input, and the independent checks (seed 004, Lemma 5.1, Thm 5.4/5.5, C5-14..C5-24)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from derivations import cnn_dynamics as CD
from derivations.generated import cnn
from numerics.checks import cnn_dynamics as CK
from numerics.simulators import cnn_gd as S


def test_stationary_angles_are_0_and_pi():
    assert CD.stationary_angles() == {sp.Integer(0), sp.pi}


def test_global_minimum_and_threshold_derived():
    x, y = CD.a_opt_coefficients()
    assert sp.simplify(x.subs(CD.PHI, 0) - CD._nw) == 0 and sp.simplify(y.subs(CD.PHI, 0)) == 0
    assert sp.simplify(CD.profile_loss().subs(CD.PHI, 0)) == 0
    assert sp.simplify(CD.spurious_threshold() - (CD.K + sp.pi - 1) / sp.pi) == 0


@pytest.mark.parametrize("phi", [0.0, 1e-8, 0.9, math.pi / 2, 2.5, math.pi - 1e-8, math.pi])
def test_a_opt_and_profile_vs_dense_model(phi):
    rng = np.random.default_rng(3)
    w_star, a_star = 1.4 * rng.standard_normal(5), rng.standard_normal(6)
    pt = {"phi": phi, "w_star": w_star, "a_star": a_star}
    ref = CK.ref_a_opt(pt)
    assert np.max(np.abs(cnn.a_opt(phi, w_star, a_star) - ref)) < 1e-12 * np.max(np.abs(ref)) + 1e-14
    assert abs(cnn.profile_loss(phi, w_star, a_star) - CK.ref_profile(pt)) < 1e-12


def test_batch_and_spurious_consistency():
    rng = np.random.default_rng(4)
    w_star, a_star = rng.standard_normal(3), rng.standard_normal(9)
    phis = np.linspace(0, math.pi, 7)
    out = cnn.profile_loss(phis, w_star, a_star)
    assert out.shape == (7,)
    assert out[-1] == pytest.approx(cnn.spurious_min_loss(w_star, a_star), rel=1e-14)
    assert np.allclose(cnn.a_opt(math.pi, w_star, a_star), cnn.spurious_a(w_star, a_star), rtol=1e-14)
    # the profile loss is below the loss at any other a (it is the minimum over a)
    v = CK._unit_at(w_star, 1.1)
    a = cnn.a_opt(1.1, w_star, a_star)
    for _ in range(5):
        assert cnn.population_loss(v, a + 0.01 * rng.standard_normal(9), w_star, a_star) >= \
            cnn.profile_loss(1.1, w_star, a_star)


@pytest.mark.parametrize("k", [5, 25, 49, 100])
def test_near_pi_both_sides_of_threshold(k):
    rc = cnn.spurious_threshold(k)
    for r, sign in ((0.9 * rc, 1), (min(1.1 * rc, k), -1)):
        a_star = CK.teacher(k, r, seed=k)
        d = (cnn.profile_loss(math.pi - 0.05, [1.0, 0.2], a_star)
             - cnn.profile_loss(math.pi, [1.0, 0.2], a_star))
        assert np.sign(d) == sign
        c = cnn.spurious_cubic([1.0, 0.2], a_star)
        assert d == pytest.approx(c * 0.05**3, rel=0.05)


def test_gd_identities_vs_exact_simulation():
    rng = np.random.default_rng(5)
    w_star, a_star = 0.8 * rng.standard_normal(4), rng.standard_normal(3)
    v, a = rng.standard_normal(4), rng.standard_normal(3)
    for _ in range(5):
        v2, a2, _ = S.gd_step(v, a, w_star, a_star, 0.4)
        st = CK._state(v, a, w_star, a_star, 3, 0.4)
        args = [st[n] for n in ("phi", "v_norm", "a_dot", "a_sum", "ws_norm", "as_norm", "as_sum",
                                "k", "eta")]
        assert cnn.gd_next_angle(*args) == pytest.approx(S.angle(v2, w_star), abs=1e-13)
        assert cnn.gd_next_norm_v_sq(*args) == pytest.approx(v2 @ v2, rel=1e-13)
        assert cnn.gd_next_dot(*args) == pytest.approx(a2 @ a_star, rel=1e-12, abs=1e-13)
        assert cnn.gd_next_sum(*args) == pytest.approx(a2.sum(), rel=1e-12, abs=1e-13)
        v, a = v2, a2


def test_init_expectations():
    assert cnn.init_cos_mean(6) == pytest.approx(0.33953054526271, rel=1e-12)
    assert cnn.init_cos_mean(25) == pytest.approx(CK.ref_abs_coordinate(25), rel=1e-10)
    v, a = S.init(np.random.default_rng(0), 20000, 6, np.ones(6), np.ones(25))
    assert np.all(v @ np.ones(6) > 0) and np.all(a @ np.ones(25) > 0)
    assert np.all(np.abs(a.sum(axis=1)) <= np.sqrt(25) * np.linalg.norm(a, axis=1) + 1e-12)


@pytest.mark.parametrize("call", [
    lambda: cnn.a_opt(-0.1, [1.0, 0], [1.0]),
    lambda: cnn.a_opt(3.2, [1.0, 0], [1.0]),
    lambda: cnn.profile_loss(1.0, [0.0, 0], [1.0]),
    lambda: cnn.profile_loss(float("nan"), [1.0, 0], [1.0]),
    lambda: cnn.spurious_min_loss([1.0, np.inf], [1.0]),
    lambda: cnn.gd_next_dot(1.0, 1.0, 0.1, 0.2, 1.0, 1.0, 1.0, 3, -0.1),
    lambda: cnn.spurious_threshold(0),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match="phi"):
        cnn.a_opt(4.0, [1.0, 0], [1.0])
    with pytest.raises(ValueError, match="w_star"):
        cnn.a_opt(1.0, [0.0, 0], [1.0])


def test_checks_pass():
    from numerics import harness

    names = ["cnn.a_opt", "cnn.spurious_threshold", "cnn.gd_next_dot", "cnn.init_cos_mean"]
    rows = harness.run(names, harness.Context(samples=20000))
    bad = [(r.formula, r.label, r.stat) for r in rows if not r.passed]
    assert not bad


def test_reference_catches_subtle_perturbation():
    """A 1e-6 relative change of a_opt's constant must fail the dense-model reference."""
    from numerics import harness
    from derivations import codegen, registry

    f = registry.get("cnn.a_opt")
    clone = harness.mutated_formula(f, f.expr * (1 + sp.Rational(1, 10**6)))
    sub = harness.Subject(clone, codegen.compile_function(clone))
    check = [c for c in __import__("numerics.checks", fromlist=["x"]).for_formula("cnn.a_opt")
             if c.kind == "reference"][0]
    rows = harness.run_check(check, sub, harness.Context(samples=1000))
    assert not all(r.passed for r in rows)


DYNAMICS = ("a_opt", "profile_loss", "spurious_min_loss", "spurious_a", "spurious_threshold",
            "spurious_cubic", "init_cos_mean", "init_dot_mean", "gd_next_angle", "gd_next_sin2",
            "gd_next_norm_v_sq", "gd_next_dot", "gd_next_sum")


def test_cubic_reference_is_50_digit_model_to_1e_12():
    """The spurious_cubic reference (mpmath model + Richardson in eps) resolves ~1e-14: its own
    error estimate and its distance to the emitted formula are both far below 1e-10."""
    import inspect

    src = inspect.getsource(S)  # the model does not import the formulas it validates
    assert "import derivations" not in src and "from derivations" not in src
    for pt in CK.cubic_points()[1:4] + CK.cubic_points()[-3:-1]:
        ref, err = CK.ref_cubic_mp(pt)
        scale = max(abs(ref), CK.cubic_floor(pt))
        assert err < 1e-12 * scale
        assert abs(cnn.spurious_cubic(pt["w_star"], pt["a_star"]) - ref) < 1e-12 * scale


def test_subtle_mutants_of_dynamics_caught_by_independent_checks():
    """x (1 + 1e-6) of every ch. 5 dynamics formula fails an independent check (the full set,
    knobs and swaps included: `nnderive check cnn.a_opt ... --mutants`).  gd_next_angle is the
    derived atan2(|cross|, dot) of the two vectors (issue 19 item 5): no Piecewise fold, so no
    branch mutants any more."""
    from numerics import harness

    names = [f"cnn.{n}" for n in DYNAMICS]
    ms = harness.run_mutants(names, harness.Context(samples=20000, seed=1),
                             kinds={"relative", "branch"})
    assert len(ms) == len(names)
    for m in ms:
        assert m.caught and not m.equivalent, (m.formula, m.label)
        assert m.caught_by[0].startswith(("reference", "simulation")), (m.label, m.caught_by)


def test_theorem_5_5_induction_sign_erratum():
    """Thm 5.5's proof (l.6048): the printed hypothesis a.a* > 0 fails the induction along
    exact GD; the corrected a.a* < 0 holds at every step (spec C5-25)."""
    step, traj = CK.thm55_evidence()
    assert step[+1][0] > 100 and step[+1][1] > 0 and step[+1][2] > 0
    assert step[-1][0] > 100 and step[-1][1] == 0 and step[-1][2] == 0
    assert traj["printed"] == 0 and traj["corrected"] == traj["steps"] > 0
    assert traj["phi_down"] == 0
    row = CK._thm55(None, None)
    assert row.passed and row.erratum and row.erratum_class == "printed error"
