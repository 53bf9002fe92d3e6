"""Every kind of check row has a planted error that makes it fail (issue 19, item 7).

For each row kind registered anywhere (formula checks, public-callable checks, the CLI's
freshness row) one representative check is run on a planted error -- the emitted function
perturbed, the derived expression perturbed, the simulator or the trajectories the claim counts
perturbed -- and must produce a failing row of that kind.  A new kind without a planted error
here fails :func:`test_every_row_kind_has_a_planted_error`.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import derivations
from numerics import checks, harness
from numerics.harness import Context, Subject, mutated_formula, run_check

CTX = Context(samples=20_000)


def _check(name, label_start, kind=None):
    for c in checks.for_formula(name) + checks.public_checks(name):
        if c.label.startswith(label_start) and (kind is None or c.kind == kind):
            return c
    raise LookupError(f"{name}: no check {label_start!r}")


def _scaled(fn, rel):
    def g(*a, **k):
        out = fn(*a, **k)
        return tuple(np.asarray(o) * (1 + rel) for o in out) if isinstance(out, tuple) \
            else np.asarray(out) * (1 + rel)
    return g


def _rows_fn(name, label, rel, kind=None):
    f = derivations.get(name)
    return run_check(_check(name, label, kind), Subject(f, _scaled(f.numpy, rel)), CTX)


def _rows_expr(name, label, expr_of, kind=None):
    f = derivations.get(name)
    clone = mutated_formula(f, expr_of(f.expr))
    return run_check(_check(name, label, kind), Subject(clone, f.numpy), CTX)


# --- one planted error per kind -----------------------------------------------------------


def plant_reference(monkeypatch):
    return _rows_fn("kernels.h_inf", "plane quadrature", 1e-6)


def plant_monte_carlo(monkeypatch):
    return _rows_fn("cnn.population_loss", "network on Gaussian patches", 0.2)


def plant_finite_difference(monkeypatch):
    return _rows_fn("cnn.grad_a", "FD of the network's loss", 1e-4)


def plant_mpmath(monkeypatch):
    return _rows_fn("gaussian.g", "float64 vs 50 digits", 1e-9)


def plant_dense(monkeypatch):
    return _rows_fn("circulant.grad", "vs dense reverse-mode gradient", 1e-9)


def plant_slack(monkeypatch):
    """A bound 2x too small: (true value)/(bound) exceeds 1 (circulant c_1, issue 24); the
    other shape of the kind, violations counted along GD runs, in
    :func:`test_slack_rows_of_every_shape_fail_planted_errors`."""
    return _rows_fn("circulant.small_ball_c1", "slack: sup_t", -0.5)


def plant_simulation(monkeypatch):
    return _rows_fn("balance.gd_neuron_drift", "Cor 4.1 drift order", 1e-3)


def plant_symbolic(monkeypatch):
    return _rows_expr("circulant.output", "formula = dense product",
                      lambda e: (1 + sp.Rational(1, 1000)) * e)


def plant_consistency(monkeypatch):
    return _rows_expr("cnn.grad_v", "weight-norm chain rule", lambda e: 2 * e)


def plant_property(monkeypatch):
    return _rows_property(monkeypatch)


def _rows_property(monkeypatch):
    f = derivations.get("circulant.cn_grad_w")
    c = _check("circulant.cn_grad_w", "<grad_k, w_k> = 0")

    def tilted(w, w_out, x, y, *rest):  # add a component along w_k: breaks <grad_k, w_k> = 0
        g = np.asarray(f.numpy(w, w_out, x, y, *rest))
        return g + 1e-3 * np.asarray(w) * np.max(np.abs(g))

    return run_check(c, Subject(f, tilted), CTX)


def plant_paper(monkeypatch):
    """A circulant claim row (kind paper) with the dense model's gradient off by 1%: the
    pinned evidence of eq. (4) / Lemma 1 moves, the row fails."""
    from numerics.simulators import circulant as S

    grad = S.grad
    monkeypatch.setattr(S, "grad", lambda w, x, y: 1.01 * grad(w, x, y))
    f = derivations.get("circulant.grad")
    return run_check(_check("circulant.grad", "Lemma 1 and eq. (4)"), Subject(f, f.numpy), CTX)


def plant_claim(monkeypatch):
    """Lemma 5.2's violation count on trajectories of a perturbed angle map (x (1 + 1e-3),
    capped at pi): the pinned count moves."""
    from derivations.generated import cnn
    from numerics.checks import cnn_dynamics as CD

    angle = cnn.gd_next_angle
    monkeypatch.setattr(cnn, "gd_next_angle",
                        lambda *a: np.minimum(angle(*a) * (1 + 1e-3), np.pi))
    monkeypatch.setattr(CD, "_CLAIM_CACHE", {})
    f = derivations.get("cnn.gd_next_angle")
    return run_check(_check("cnn.gd_next_angle", "Lemma 5.2"), Subject(f, f.numpy), CTX)


def plant_emission(monkeypatch):
    """The freshness row when the committed emitted module differs from a fresh build."""
    from derivations import codegen
    from numerics import cli

    build = codegen.build
    monkeypatch.setattr(codegen, "build", lambda write=False, families=None: {
        p: s + "\n# stale\n" for p, s in build(write=write, families=families).items()})
    return cli._freshness_rows(["gaussian"])


def _plant_violations(monkeypatch):
    """A bound row (thesis ch. 5 rates): the GD runs' |v^t|^2 scaled by 2.5 breaks Lemma 5.9's
    |v^t|^2 <= 2."""
    from numerics.checks import cnn_rates as R

    runs = dict(R.runs())
    runs["nv2"] = runs["nv2"] * 2.5
    monkeypatch.setattr(R, "runs", lambda: runs)
    f = derivations.get("cnn.lambda_t")
    return run_check(_check("cnn.lambda_t", "Lemma 5.9", "slack"), Subject(f, f.numpy), CTX)


def _plant_mc_ratio(monkeypatch):
    """A Monte Carlo probability vs a bound 2x too small (circulant c_1, n = 16, p = 2)."""
    return _rows_fn("circulant.small_ball_c1", "slack: MC", -0.5)


PLANTED = {k[len("plant_"):]: v for k, v in globals().items() if k.startswith("plant_")}


def _all_kinds() -> set[str]:
    kinds = {"emission"}  # the CLI's freshness row
    for cs in checks.all_checks().values():
        kinds |= {c.kind for c in cs}
    for name in checks.public_callables():
        kinds |= {c.kind for c in checks.public_checks(name)}
    return kinds


def test_every_row_kind_has_a_planted_error():
    assert _all_kinds() <= set(PLANTED), sorted(_all_kinds() - set(PLANTED))


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_planted_error_fails_a_row_of_its_kind(kind, monkeypatch):
    rows = PLANTED[kind](monkeypatch)
    # a crash is reported as a failing row too: require a real verdict
    failing = [r for r in rows if not r.passed and r.kind == kind and r.stat_name != "error"]
    assert failing, [(r.kind, r.label, r.passed, r.detail[:120]) for r in rows]


@pytest.mark.parametrize("plant", [plant_slack, _plant_violations, _plant_mc_ratio])
def test_slack_rows_of_every_shape_fail_planted_errors(plant, monkeypatch):
    """Each shape of the one bound kind (numerics/checks/bounds.py: ratio, Monte Carlo ratio,
    violations along runs) fails on its planted error."""
    rows = plant(monkeypatch)
    assert any(not r.passed and r.kind == "slack" and r.stat_name != "error" for r in rows), \
        [(r.kind, r.label, r.passed, r.detail[:120]) for r in rows]


@pytest.mark.parametrize("kind", ["paper", "claim", "simulation", "consistency", "symbolic"])
def test_the_same_rows_pass_without_the_planted_error(kind):
    """The representative rows pass unperturbed (so the failure above is the plant's)."""
    name, label = {"paper": ("circulant.grad", "Lemma 1 and eq. (4)"),
                   "claim": ("cnn.gd_next_angle", "Lemma 5.2"),
                   "simulation": ("balance.gd_neuron_drift", "Cor 4.1 drift order"),
                   "consistency": ("cnn.grad_v", "weight-norm chain rule"),
                   "symbolic": ("circulant.output", "formula = dense product")}[kind]
    f = derivations.get(name)
    rows = run_check(_check(name, label), Subject(f, f.numpy), CTX)
    assert rows and all(r.passed for r in rows), [(r.label, r.detail[:200]) for r in rows]


def test_claim_pin_catches_a_move_the_corrected_statement_does_not_see(monkeypatch):
    """Angle map x (1 + 1e-6): the corrected Lemma 5.2 still has no violation, so only the
    pinned counts (applicable steps 89184) make the row fail (the issue: 5720 -> 5877 passed)."""
    from derivations.generated import cnn
    from numerics.checks import cnn_dynamics as CD

    angle = cnn.gd_next_angle
    monkeypatch.setattr(cnn, "gd_next_angle",
                        lambda *a: np.minimum(angle(*a) * (1 + 1e-6), np.pi))
    monkeypatch.setattr(CD, "_CLAIM_CACHE", {})
    row = CD._lemma52(None, CTX)
    assert row.stat == 0.0  # corrected statement: no violation
    assert not row.passed and "EXPECTED exactly 5720" in row.detail


def test_every_independent_check_reads_the_formula():
    """A formula check that passes when the emitted function raises AND the derived expression
    is replaced by a different one never looks at the formula: it must not count as
    independent.  (Found: balance's theorem rows, resnet's C12 counterexamples.)  Expression
    mutants that keep a sign or an orthogonality (x 2) cannot tell, so the plant is -(expr + 1),
    tilted along a vector argument; Monte Carlo rows are skipped (slow; they call the
    function)."""
    from derivations import vectors as V
    from numerics.harness import NOT_INDEPENDENT, mutated_formula

    def boom(*a, **k):
        raise RuntimeError("planted: the formula was evaluated")

    blind = []
    ctx = Context(samples=2000, quick=True)
    for name, cs in checks.all_checks().items():
        f = derivations.get(name)
        vecs = [t for t in sorted(f.expr.free_symbols, key=str)
                if getattr(V.meaning(t), "kind", "") == "vector"]
        # -(expr + 1), tilted along a vector argument for vector formulas (breaks orthogonality)
        clone = mutated_formula(f, -(f.expr + 1) + (vecs[0] if vecs else 0))
        for c in cs:
            if not c.independent or c.kind in NOT_INDEPENDENT or c.kind == "monte_carlo":
                continue
            if all(r.passed for r in run_check(c, Subject(clone, boom), ctx)):
                blind.append((name, c.label))
    assert blind == []


def test_resnet_printed_reading_on_the_simulator_is_the_gradient_once_fixed():
    """The printed dL/dW^(h), evaluated on the simulated network (not on derived pieces), with
    all three defects fixed (sign, transpose, product order) is the complex-step gradient; as
    printed it is not."""
    from numerics.checks import resnet as R

    for pt in R._points(31, ((2, 3, 4, 3), (3, 2, 5, 5)))():
        ref = R._cs_reference("grad_W")(pt)
        fixed = R.printed_grad_W(pt, -1, False, False)
        assert np.max(np.abs(fixed - ref)) <= 1e-12 * np.max(np.abs(ref))
        printed = R.printed_grad_W(pt, +1, True, True)
        assert np.max(np.abs(printed - ref)) > 0.1 * np.max(np.abs(ref))
