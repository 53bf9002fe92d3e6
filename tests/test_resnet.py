"""resnet family: derivation, emitted code vs the independent simulator, bad input, checks,
mutants (seed 003, spec normalization.md C0-C17)."""
import numpy as np
import pytest
import sympy as sp

import derivations as D
from derivations import resnet as R
from numerics import checks, harness
from numerics.simulators import resnet as S

GRADS = ("grad_W1", "grad_W", "grad_alpha", "grad_a")


def _setup(n=3, d=4, m=5, H=4, seed=0):
    rng = np.random.default_rng(seed)
    X = S.unit_inputs(rng, n, d)
    y = rng.standard_normal(n)
    p = S.init(rng, d, m, H)
    p.alpha = rng.uniform(0.5, 1.5, H - 1)
    return X, y, p


def test_coefficients_are_derived():
    c = R.coefficients(D.get("resnet.grad_W").expr)
    m, H, a = sp.Symbol("m", positive=True, integer=True), sp.Symbol("H", positive=True, integer=True), \
        sp.Symbol("alpha_h", positive=True)
    assert sp.simplify(c[R.E_gW] - a / (H * sp.sqrt(m))) == 0
    assert sp.simplify(c[R.E_fwd1] - sp.sqrt(2 / m)) == 0
    assert c[R.E_skip] == 1
    assert sp.simplify(c[R.E_jw] - a / (H * sp.sqrt(m))) == 0


def test_matrix_form_proved_and_mutant_fails():
    e = D.get("resnet.grad_alpha").expr
    assert R.prove_matrix_form(e) == []
    assert R.prove_matrix_form(e * (1 + sp.Rational(1, 10**6)))


@pytest.mark.parametrize("shape", [(3, 4, 5, 4), (2, 3, 1, 3), (1, 2, 7, 6), (4, 3, 3, 2)])
def test_emitted_gradients_match_complex_step(shape):
    X, y, p = _setup(*shape)
    ref = S.complex_step_gradient(X, y, p)
    for q, attr in zip(GRADS, ("W1", "W", "alpha", "a")):
        got = D.get(f"resnet.{q}").numpy(X, y, p.W1, p.W, p.alpha, p.a)
        want = getattr(ref, attr)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(want))))


def test_depth_one_has_empty_residual_gradients():
    X, y, p = _setup(2, 3, 4, 1)
    f = D.get("resnet.grad_W").numpy
    assert f(X, y, p.W1, p.W, p.alpha, p.a).shape == (0, 4, 4)
    g1 = D.get("resnet.grad_W1").numpy(X, y, p.W1, p.W, p.alpha, p.a)
    np.testing.assert_allclose(g1, S.complex_step_gradient(X, y, p).W1, atol=1e-13)


def test_simulator_backprop_matches_complex_step():
    X, y, p = _setup(4, 3, 6, 5)
    g, _ = S.backprop(X, y, p)
    np.testing.assert_allclose(g.flat(), S.complex_step_gradient(X, y, p).flat(), atol=1e-13)
    g2, _ = S.backprop(X, y, p, residual_scale=False)
    np.testing.assert_allclose(g2.flat(), S.complex_step_gradient(X, y, p, residual_scale=False).flat(),
                               atol=1e-12)


BAD = [
    (dict(X=np.ones(4)), "X"),
    (dict(y=np.ones(5)), "y"),
    (dict(W1=np.ones((5, 3))), "W1"),
    (dict(W1=np.ones((0, 4))), "W1"),
    (dict(W=np.ones((3, 5, 4))), "W"),
    (dict(alpha=np.ones(2)), "alpha"),
    (dict(a=np.ones(4)), "a"),
    (dict(W=np.full((3, 5, 5), np.nan)), "W"),
    (dict(alpha=np.array([1.0, np.inf, 1.0])), "alpha"),
]


@pytest.mark.parametrize("override,arg", BAD)
def test_bad_input_names_the_argument(override, arg):
    X, y, p = _setup()
    args = dict(X=X, y=y, W1=p.W1, W=p.W, alpha=p.alpha, a=p.a)
    args.update(override)
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        D.get("resnet.grad_W").numpy(**args)


def test_lemma_formulas():
    assert D.get("resnet.first_layer_norm_var").numpy(1.0) == pytest.approx(5.0, rel=1e-15)
    assert D.get("resnet.lemma5_C2").numpy(0.0, 1.0, 2.0) == pytest.approx(12.0, rel=1e-14)
    f = D.get("resnet.layer_norm_lower").numpy
    assert 2 * f(2.5, 10) == pytest.approx(0.75 ** 9, rel=1e-14)
    assert f(2.5, 10) < 0.5 * np.exp(-2.5)  # C12: the printed lower bound fails
    with pytest.raises(ValueError, match=r"\ba\b"):
        f(11.0, 10)
    x = np.array([1.0, 0.0, 0.0])
    g = D.get("resnet.gram_H_inf").numpy
    assert g(x, x, 1.0, 1) == pytest.approx(0.5, rel=1e-15)
    assert g(x, -x, 1.0, 1) == 0.0


def test_family_checks_pass():
    ctx = harness.Context(samples=100_000)
    rows = harness.run(D.names("resnet"), ctx)
    bad = [r for r in rows if not r.passed]
    assert not bad, [(r.formula, r.label, r.detail) for r in bad]
    errata = {(r.formula, r.erratum_class) for r in rows if r.erratum}
    assert ("resnet.grad_W", "printed error") in errata
    assert ("resnet.grad_alpha", "printed error") in errata
    assert ("resnet.lemma5_C2", "printed error") in errata
    assert ("resnet.layer_norm_lower", "printed error") in errata


def test_knob_mutants_of_the_gradient_are_caught():
    ctx = harness.Context(samples=20_000)
    f = D.get("resnet.grad_W")
    indep = [c for c in checks.for_formula("resnet.grad_W") if c.independent and c.kind == "reference"]
    from derivations import codegen
    for m in harness._knob_mutants(f):
        fn = codegen.compile_function(harness.mutated_formula(f, m.expr))
        sub = harness.Subject(harness.mutated_formula(f, m.expr), fn)
        assert any(not r.passed for c in indep for r in harness.run_check(c, sub, ctx)), m.label


def test_simulator_bad_input():
    rng = np.random.default_rng(0)
    for kw, name in ((dict(n_in=3, m=4, H=0), "H"), (dict(n_in=3, m=0, H=2), "m")):
        with pytest.raises(ValueError, match=rf"\b{name}\b"):
            S.init(rng, **kw)
    X, y, p = _setup()
    p.W = p.W[:, :, :4]
    with pytest.raises(ValueError, match=r"\bW\b"):
        S.backprop(X, y, p)


def test_cli_bad_input_one_line_exit_2():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "numerics.cli", "reproduce", "zr_thm9", "--quick"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_batch_of_networks_matches_loop():
    nets = [_setup(3, 4, 5, 3, seed=s) for s in range(4)]
    X = np.stack([t[0] for t in nets])
    y = np.stack([t[1] for t in nets])
    W1 = np.stack([t[2].W1 for t in nets])
    W = np.stack([t[2].W for t in nets])
    al = np.stack([t[2].alpha for t in nets])
    a = nets[0][2].a  # shared across the batch (broadcasts)
    for q in ("output",) + GRADS:
        f = D.get(f"resnet.{q}").numpy
        batched = f(X, y, W1, W, al, a)
        loop = np.stack([f(X[i], y[i], W1[i], W[i], al[i], a) for i in range(4)])
        assert batched.shape[0] == 4
        np.testing.assert_allclose(batched, loop, rtol=1e-13, atol=1e-15)


# -- issue 24, item 6: Lemma 5's tail (4) and upper bound, with planted errors ------------------

def _row24(name, label, fn):
    from numerics import checks
    from numerics.harness import Context, Subject, run_check

    f = D.get(name)
    (c,) = [c for c in checks.for_formula(name) if c.label.startswith(label)]
    return run_check(c, Subject(f, fn or f.numpy), Context(samples=2000, quick=True))


def test_lemma5_tail_derived_equals_printed_and_the_slack_row_catches_a_failing_bound():
    import math

    assert D.get("resnet.lemma5_tail").paper is not None
    assert all(r.passed for r in _row24("resnet.lemma5_tail", "(4) on Gaussian", None))

    def no_minus_one(c_w0, c, m):   # e^{-(c_w0 - sqrt c)^2 m/2}: the "- 1" dropped, a bound that fails
        return np.exp(-(np.asarray(c_w0) - np.sqrt(c)) ** 2 * np.asarray(m) / 2)

    assert not any(r.passed for r in _row24("resnet.lemma5_tail", "(4) on Gaussian", no_minus_one))
    f = D.get("resnet.lemma5_tail").numpy
    assert not any(r.passed for r in _row24("resnet.lemma5_tail", "vs e^{-t^2/2}",
                                            lambda *a: f(*a) * (1 + 1e-6)))
    assert math.isclose(float(f(2.1, 1.0, 20.0)), math.exp(-0.1), rel_tol=1e-13)


def test_layer_norm_upper_rows_catch_planted_errors():
    assert all(r.passed for r in _row24("resnet.layer_norm_upper", "Lemma 5 upper", None))

    def shrinking(a, H):   # (1 - a/H)^(H-1): a bound the ReLU network's growing norms violate
        return 2 * (1 - np.asarray(a) / H) ** (H - 1)

    assert not any(r.passed for r in _row24("resnet.layer_norm_upper", "Lemma 5 upper", shrinking))
    f = D.get("resnet.layer_norm_upper").numpy
    assert not any(r.passed for r in _row24("resnet.layer_norm_upper", "vs the per-layer",
                                            lambda *a: f(*a) * (1 + 1e-6)))
