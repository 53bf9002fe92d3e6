"""Thesis ch. 6 with k overlapping patches (derivations/twolayer/ch6.py, numerics/checks/ch6.py,
numerics/experiments/ch6_rates.py): the rows pass, and each kind of row fails on a planted
error."""
from __future__ import annotations

import math

import numpy as np
import pytest

from numerics import checks
from numerics.harness import Context, Subject

CTX = Context(samples=60_000)


def _pub_rows(name, label, fn=None):
    pub = checks.public_callables()[name]
    (c,) = [c for c in checks.public_checks(name) if c.label.startswith(label)]
    return c.run(Subject(pub, fn or pub.resolve()), CTX)


def _scaled_dict(fn, rel, key=None):
    def g(*a, **k):
        out = fn(*a, **k)
        return {kk: (np.asarray(v) * (1 + rel) if key is None or kk == key else v)
                for kk, v in out.items()}
    return g


def test_orthant_probabilities_derived_and_consistent():
    from derivations.twolayer import ch6

    d = ch6.derived()
    assert str(d["P2"]) == "(pi - acos(rho))/(2*pi)"          # the wedge integral, derived
    # P4 of a block-diagonal correlation is the product of two P2 (the path integral is exact)
    R = np.eye(4)
    R[0, 1] = R[1, 0] = 0.3
    R[2, 3] = R[3, 2] = -0.7
    assert abs(ch6.orthant4(R) - ch6.orthant2(0.3) * ch6.orthant2(-0.7)) < 1e-14
    # P4 with one coordinate independent of the rest is P3 / 2
    R = np.eye(4)
    R[0, 1] = R[1, 0] = 0.4
    R[0, 2] = R[2, 0] = -0.2
    R[1, 2] = R[2, 1] = 0.5
    assert abs(ch6.orthant4(R) - ch6.orthant3(0.4, -0.2, 0.5) / 2) < 1e-14
    # P4 by simulation of the Gaussian vector
    rng = np.random.default_rng(5)
    Y = rng.standard_normal((4, 6))
    C = Y @ Y.T
    s = np.sqrt(np.diag(C))
    R = C / np.outer(s, s)
    x = rng.standard_normal((400_000, 6)) @ Y.T
    hit = np.all(x > 0, axis=1)
    assert abs(hit.mean() - ch6.orthant4(R)) < 5 * hit.std() / math.sqrt(len(hit))


def test_one_patch_is_the_filter_family():
    import derivations
    from derivations.twolayer import ch6

    rng = np.random.default_rng(2)
    w, ws = rng.standard_normal(4), rng.standard_normal(4)
    M = ch6.second_moments(w, ws, 4, [[0, 1, 2, 3]])
    assert np.max(np.abs(M[("++", "++")] - derivations.get("filter.A_plus").numpy(w, ws))) < 1e-14
    assert np.max(np.abs(M[("+-", "+-")] - derivations.get("filter.A_minus").numpy(w, ws))) < 1e-14
    with pytest.raises(ValueError, match="patches"):
        ch6.second_moments(w, ws, 3, [[0, 1, 2, 3]])
    with pytest.raises(ValueError, match="phis"):
        ch6.constants(ws, 4, [[0, 1, 2, 3]], [0.5, 0.2])


def test_moment_rows_pass_and_fail_on_planted_errors():
    from derivations.twolayer import ch6

    rows = _pub_rows("filter.patch_second_moments", "network patches")
    assert rows and all(r.passed for r in rows)
    bad = _pub_rows("filter.patch_second_moments", "network patches",
                    _scaled_dict(ch6.second_moments, 0.05))
    assert not all(r.passed for r in bad) and bad[0].kind == "monte_carlo"
    ref = _pub_rows("filter.patch_second_moments", "non-overlapping")
    assert all(r.passed for r in ref)
    bad = _pub_rows("filter.patch_second_moments", "non-overlapping",
                    _scaled_dict(ch6.second_moments, 1e-9))
    assert not bad[0].passed and bad[0].kind == "reference"


def test_constant_rows_pass_and_fail_on_planted_errors():
    from derivations.twolayer import ch6

    assert all(r.passed for r in _pub_rows("filter.patch_constants", "gamma, L"))
    bad = _pub_rows("filter.patch_constants", "gamma, L",
                    _scaled_dict(ch6.constants, 0.1, "gamma_eq"))
    assert not bad[0].passed and bad[0].kind == "monte_carlo"
    bad = _pub_rows("filter.patch_constants", "non-overlapping",
                    _scaled_dict(ch6.constants, 1e-9, "L"))
    assert not bad[0].passed and bad[0].kind == "reference"


def test_random_init_row_and_a_planted_bound():
    from numerics.checks import ch6 as C

    ok = C._random_init(None, CTX)
    assert ok[0].passed and ok[0].kind == "simulation"
    bad = C._random_init(None, CTX, bound=lambda p, c: C.printed_init_bound(p, c) + 0.03)
    assert not bad[0].passed


def test_thm62_slack_and_planted_rate_and_step():
    from numerics.experiments import ch6_rates as E

    rows = E.thm62(quick=True)
    assert all(r["holds"] and r["slack"] <= 1 for r in rows)
    assert all(r["rate_ratio"] > 1 for r in rows)          # GD is faster than stated
    # a stated rate beyond the measured one, and a step far beyond the condition, fail
    worst = max(r["rate_ratio"] for r in rows)
    assert not all(r["holds"] for r in E.thm62(quick=True, rate_factor=2 * worst))
    assert not all(r["holds"] for r in E.thm62(quick=True, step_factor=300.0))


def test_thm63_slack_on_identical_patches_and_planted_rate():
    from numerics.experiments import ch6_rates as E

    (row,) = E.thm63(quick=True, cases=((0.5, 0.0),), n=3000)
    assert row["premise"] and row["holds"] and row["L_cross"] == 0
    assert abs(row["thm65_gamma_slack"]) < 1e-12         # rho = 0: gamma = gamma_avg
    (bad,) = E.thm63(quick=True, cases=((0.5, 0.0),), n=3000,
                     rate_factor=2 * row["rate_ratio"], plant65=(1e-3, 1.0))
    assert row["thm65_holds"] and not bad["holds"] and not bad["thm65_holds"]


def test_gaussian_conv_patches_violate_thm63_premise():
    from numerics.experiments import ch6_rates as E

    (row,) = E.gaussian_premise(((6, 3, 3),), phis=np.array([0.05, 0.6, 1.2]))
    assert not row["premise_at_some_phi0"] and row["6 L_cross / gamma(0.05)"] > 2


def test_experiment_quick_writes_json(tmp_path, monkeypatch):
    from numerics.experiments import ch6_rates as E

    monkeypatch.setattr(E, "QUICK", {"thm63": {"cases": ((0.5, 0.0),), "n": 3000},
                                     "gaussian": {"structures": ((6, 3, 3),),
                                                  "phis": np.array([0.05, 0.6, 1.2])}})
    res = E.run(tmp_path, quick=True)
    assert (tmp_path / "ch6_rates.json").exists() and res["all_hold"]
    assert "Theorem 6.2" in E.report(res) and "premise fails" in E.report(res)


def test_fig6_3cd_stand_in_quick(tmp_path):
    pytest.importorskip("sklearn")
    from numerics.experiments import fig6_3cd

    res = fig6_3cd.run(tmp_path, quick=True)
    assert (tmp_path / "fig6_3cd.json").exists() and "not MNIST" in res["stand_in"]
    # SGD lowers the relative loss from every start, and the closest start ends lowest
    for key, curve in res["curves"].items():
        assert curve[-1] < curve[0], key
    assert all(res["better_init_lower_loss"].values())
    assert "STAND-IN" in fig6_3cd.report(res)


def test_parallel_and_antiparallel_edges_are_finite_and_continuous():
    from derivations.twolayer import ch6

    ws = np.array([0.6, -0.3, 0.75])
    pats = ch6.conv_patches(6, 3, 1)
    for base in (ws, -ws):
        vals = {}
        for th in (0.0, 1e-8, 0.99e-4, 1.01e-4, 1e-3):
            W = ch6.directions_at_angle(base, [th], 4)[0][:1]
            vals[th] = ch6.second_moments(W, ws, 6, pats)
            assert all(np.all(np.isfinite(v)) for v in vals[th].values())
        for key in vals[0.0]:
            assert np.max(np.abs(vals[1e-8][key] - vals[0.0][key])) < 1e-8
            # across the switch: the change is the O(theta) slope times 2e-6 plus < 1e-9
            jump = np.max(np.abs(vals[1.01e-4][key] - vals[0.99e-4][key]))
            assert jump < 1e-9 + 2e-6 * 0.5, key
    lim = ch6.second_moments(ws, 3 * ws, 6, pats)
    assert np.max(np.abs(lim[("+-", "+-")])) < 1e-15 and np.max(np.abs(lim[("++", "-+")])) < 1e-15
    with pytest.raises(ValueError, match="w_star"):
        ch6.second_moments(ws, np.zeros(3), 6, pats)
    with pytest.raises(TypeError, match="w"):
        ch6.second_moments("abc", ws, 6, pats)


def test_thm62_check_row_and_planted_rate():
    from numerics.checks import ch6 as C

    (ok,) = C._thm62_row(None, CTX)
    assert ok.passed and ok.kind == "simulation" and ok.stat <= 1
    (bad,) = C._thm62_row(None, CTX, rate_factor=50.0)
    assert not bad.passed


def test_orthant4_row_and_too_few_nodes(monkeypatch):
    from derivations.twolayer import ch6

    assert all(r.passed for r in _pub_rows("filter.patch_second_moments", "4-D orthant"))
    monkeypatch.setattr(ch6, "_GL", np.polynomial.legendre.leggauss(3))
    bad = _pub_rows("filter.patch_second_moments", "4-D orthant")
    assert not bad[0].passed and bad[0].kind == "reference"
