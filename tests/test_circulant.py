"""Circulant family (Dai & Heckel): checks pass, knob mutants are caught by independent checks,
bad input raises ValueError naming the argument, batches broadcast, simulator backprop vs FD."""
import numpy as np
import pytest

import derivations as D
from derivations import codegen, knobs
from numerics import checks, harness
from numerics.simulators import circulant as S
from derivations.generated import circulant as G

FAST = ["circulant.output", "circulant.loss", "circulant.grad", "circulant.grad_p",
        "circulant.cn_output", "circulant.cn_loss", "circulant.cn_grad_w", "circulant.cn_grad_out",
        "circulant.init_norm_mean", "circulant.c2", "circulant.rate_c", "circulant.output_energy",
        "circulant.small_ball_c1", "circulant.lemma2_min", "circulant.lemma2_max",
        "circulant.lemma2_prod", "circulant.lemma2_failure", "circulant.residual_bound"]
CTX = harness.Context(samples=40_000, quick=True)


def test_generated_module_fresh():
    path, src = next(iter(codegen.build(write=False, families=["circulant"]).items()))
    assert path.read_text() == src


@pytest.mark.parametrize("name", FAST)
def test_checks_pass(name):
    f = D.get(name)
    for c in checks.for_formula(name):
        for r in harness.run_check(c, harness.Subject(f, f.numpy), CTX):
            assert r.passed, (c.label, r.detail)


def _indep_fail(name):
    f = D.get(name)
    fn = codegen.compile_function(f)
    subj = harness.Subject(f, fn)
    return [c.label for c in checks.for_formula(name) if c.independent
            and not all(r.passed for r in harness.run_check(c, subj, CTX))]


@pytest.mark.parametrize("name,knob", [
    ("circulant.loss", "circulant.loss_half"), ("circulant.loss", "circulant.dft_norm"),
    ("circulant.grad", "circulant.loss_half"), ("circulant.grad", "circulant.dft_norm"),
    ("circulant.grad_p", "circulant.dft_norm"), ("circulant.output", "circulant.dft_norm"),
    ("circulant.cn_loss", "circulant.cn_half"), ("circulant.cn_grad_w", "circulant.cn_half"),
    ("circulant.cn_grad_w", "circulant.dft_norm"), ("circulant.init_norm_mean", "circulant.init_var"),
    ("circulant.output_energy", "circulant.energy_var"),
    ("circulant.small_ball_c1", "circulant.init_var"), ("circulant.lemma2_min", "circulant.init_var"),
    ("circulant.lemma2_max", "circulant.init_var"), ("circulant.lemma2_prod", "circulant.init_var"),
    ("circulant.lemma2_failure", "circulant.init_var"),
    ("circulant.residual_bound", "circulant.dft_norm")])
@pytest.mark.parametrize("rel", [1e-6])
def test_knob_mutants_caught(name, knob, rel):
    f = D.get(name)
    assert knob in knobs.used_by(f)
    with knobs.perturbed(knob, rel):
        failing = _indep_fail(name)
    assert failing, f"{name} with {knob} x (1 + {rel}) not caught"


@pytest.mark.parametrize("name", ["circulant.grad", "circulant.cn_grad_w", "circulant.loss"])
def test_sign_and_factor_mutants_caught(name):
    f = D.get(name)
    # for cn_grad_w, -expr negates both g_z = c_y y + c_z z and the (linear) pull-back S(G):
    # an equivalent mutant (same code result), so only the factor-2 mutant (4x) is meaningful
    muts = (2 * f.expr,) if name == "circulant.cn_grad_w" else (-f.expr, 2 * f.expr)
    for expr in muts:
        clone = harness_clone(f, expr)
        subj = harness.Subject(clone, codegen.compile_function(clone))
        assert any(not all(r.passed for r in harness.run_check(c, subj, CTX))
                   for c in checks.for_formula(name) if c.independent)


def harness_clone(f, expr):
    import copy

    c = copy.copy(f)
    c._expr = expr
    return c


def test_bad_input():
    rng = np.random.default_rng(0)
    w, x, y = rng.standard_normal((3, 8)), rng.standard_normal(8), rng.standard_normal(8)
    with pytest.raises(ValueError, match="^x "):
        G.loss(w, x[:7], y)
    with pytest.raises(ValueError, match="^y "):
        G.grad(w, x, y[:5])
    with pytest.raises(ValueError, match="^p "):
        G.grad_p(w, x, y, 9)
    with pytest.raises(ValueError, match="w"):
        G.loss(np.full((3, 8), np.nan), x, y)
    with pytest.raises(ValueError, match="x"):
        G.cn_output(w, 1.0, np.ones(8))           # constant x: zero centered input
    w0 = np.zeros((3, 8))
    w0[:, 0] = 1.0
    w0[1] = np.ones(8)                            # C(1) kills centered vectors: z = 0
    with pytest.raises(ValueError, match="^w "):
        G.cn_grad_w(w0, 1.0, x, y)
    with pytest.raises(ValueError, match="w_out"):
        G.cn_loss(w, np.inf, x, y)


def test_batch_broadcast():
    rng = np.random.default_rng(1)
    w, x, y = rng.standard_normal((4, 2, 6)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    g = G.grad(w, x, y)
    assert g.shape == (4, 2, 6)
    for b in range(4):
        np.testing.assert_allclose(g[b], S.grad(w[b], x[b], y), rtol=1e-12, atol=1e-12)
    wo = rng.uniform(1, 2, 4)
    gc = G.cn_grad_w(w, wo, x, y)
    for b in range(4):
        np.testing.assert_allclose(gc[b], S.cn_grad(w[b], wo[b], x[b], y)[0], rtol=1e-11, atol=1e-12)


def test_simulator_convnet_backprop_vs_fd():
    rng = np.random.default_rng(2)
    for norm in ("learned", "fixed", "none"):
        net = S.ConvNet(16, 2, 3, 3, norm=norm)
        prm = net.init(rng)
        x, y = rng.uniform(0, 1, 16), rng.standard_normal(16)
        L, g = net.loss_grad(prm, x, y)
        for key in ("K0", "K2", "a") + (("g1", "b0") if norm == "learned" else ()):
            idx = (0,) * prm[key].ndim
            h = 1e-6
            pp = {k: v.copy() for k, v in prm.items()}
            pm = {k: v.copy() for k, v in prm.items()}
            pp[key][idx] += h
            pm[key][idx] -= h
            fd = (net.loss_grad(pp, x, y)[0] - net.loss_grad(pm, x, y)[0]) / (2 * h)
            assert abs(fd - g[key][idx]) <= 1e-6 * max(1.0, abs(fd)), (norm, key, fd, g[key][idx])


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("norm", ["learned", "fixed", "none"])
def test_simulator_convnet_full_gradients_vs_fd(norm, relu):
    """Every entry of the first and a middle layer's filter gradient (the gather-index
    convolution and its transpose) against central differences of the loss."""
    rng = np.random.default_rng(7)
    net = S.ConvNet(12, 2, 3, 4, norm=norm, relu=relu)
    prm = net.init(rng)
    x, y = rng.uniform(0, 1, 12), rng.standard_normal(12)
    _, g = net.loss_grad(prm, x, y)
    h = 1e-6
    for key in ("K0", "K1"):
        fd = np.empty_like(prm[key])
        for idx in np.ndindex(prm[key].shape):
            pp = {k: v.copy() for k, v in prm.items()}
            pm = {k: v.copy() for k, v in prm.items()}
            pp[key][idx] += h
            pm[key][idx] -= h
            fd[idx] = (net.loss_grad(pp, x, y)[0] - net.loss_grad(pm, x, y)[0]) / (2 * h)
        assert np.max(np.abs(fd - g[key])) <= 1e-6 * max(1.0, np.max(np.abs(fd))), (key, fd, g[key])


def test_simulator_conv_matches_dense_circulant():
    """The gather-index convolution equals sums of dense circulant matrices C(K[o, c])."""
    rng = np.random.default_rng(8)
    z, K = rng.standard_normal((3, 10)), rng.standard_normal((2, 3, 4))
    pad = np.concatenate([K, np.zeros((2, 3, 6))], axis=-1)
    dense = np.array([sum(S.circulant(pad[o, c]) @ z[c] for c in range(3)) for o in range(2)])
    np.testing.assert_allclose(S._conv(z, K), dense, rtol=1e-13, atol=1e-13)


def test_dh_depth_quick(tmp_path):
    from numerics.experiments import dh_depth

    r = dh_depth.run(tmp_path, quick=True)
    u = r["rows"]["N(0,1/(np))"]["unnormalized"]
    c = r["rows"]["N(0,1/(np))"]["cn"]
    assert u[-1] < 1e-4 * u[0]                 # vanishing without normalization
    assert max(c) < 2 * min(c)                 # CN: independent of depth
    assert (tmp_path / "dh_depth.json").exists()
    assert "unnormalized" in dh_depth.report(r)


def test_dh_fig4_quick(tmp_path):
    from numerics.experiments import dh_fig4

    r = dh_fig4.run(tmp_path, quick=True)
    assert r["without"]["kurtosis"] > r["with_cn"]["kurtosis"]   # heavier tails without CN
    assert "kurtosis" in dh_fig4.report(r)


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("n,d,batch", [(8, 3, ()), (7, 2, ()), (16, 4, (3,)), (9, 1, (2, 1))])
def test_fused_loss_and_grads_equals_separate(n, d, batch):
    rng = np.random.default_rng(n * 10 + d)
    w = rng.standard_normal(batch + (d, n))
    x, y = rng.standard_normal(batch[:1] + (n,)), rng.standard_normal((n,))
    L, g = G.loss_and_grads(w, x, y)
    assert D.get("circulant.loss").fused is G.loss_and_grads
    assert np.shape(L) == np.shape(G.loss(w, x, y)) and g.shape == G.grad(w, x, y).shape
    assert _rel(L, G.loss(w, x, y)) <= 1e-14
    assert _rel(g, G.grad(w, x, y)) <= 1e-14


def test_fused_loss_and_grads_out_buffers():
    rng = np.random.default_rng(1)
    w, x, y = rng.standard_normal((2, 3, 8)), rng.standard_normal(8), rng.standard_normal(8)
    bl, bg = np.empty(2), np.empty((2, 3, 8))
    L, g = G.loss_and_grads(w, x, y, out=(bl, bg))
    assert L is bl and g is bg
    assert _rel(bl, G.loss(w, x, y)) <= 1e-14 and _rel(bg, G.grad(w, x, y)) <= 1e-14


def test_fused_loss_and_grads_bad_input():
    w, x, y = np.ones((2, 8)), np.arange(8.0), np.arange(8.0)
    with pytest.raises(ValueError, match="^x "):
        G.loss_and_grads(w, x[:5], y)
    with pytest.raises(ValueError, match="^y "):
        G.loss_and_grads(w, x, y[:5])
    with pytest.raises(ValueError, match="^w "):
        G.loss_and_grads(np.ones(8), x, y)
    with pytest.raises(ValueError, match="^x "):
        G.loss_and_grads(w, np.r_[x[:7], np.nan], y)
    with pytest.raises(ValueError, match="^w "):
        G.loss_and_grads(np.full((2, 8), np.inf), x, y)


@pytest.mark.parametrize("n,d", [(64, 5), (63, 3), (128, 8)])
def test_fused_loss_and_grads_equals_dense_model(n, d):
    """The fused function (gradient spectra as conj(Q_k) R) against the dense circulant model
    with reverse mode (numerics.simulators.circulant: no FFT, no derived formula)."""
    rng = np.random.default_rng(n + d)
    w = rng.standard_normal((d, n)) / np.sqrt(n)
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    L, g = G.loss_and_grads(w, x, y)
    assert _rel(L, S.loss(w, x, y)) <= 1e-12
    assert _rel(g, S.grad(w, x, y)) <= 1e-12


def test_fused_loss_and_grads_reuses_work_without_aliasing():
    """Work buffers are reused across calls of one shape; returned arrays never alias them,
    so a later call does not change an earlier result."""
    rng = np.random.default_rng(3)
    w1, w2 = rng.standard_normal((2, 4, 32))
    x, y = rng.standard_normal(32), rng.standard_normal(32)
    L1, g1 = G.loss_and_grads(w1, x, y)
    g1_copy = g1.copy()
    work = G._loss_and_grads_work[(w1.shape, x.shape, y.shape)]
    L2, g2 = G.loss_and_grads(w2, x, y)
    assert G._loss_and_grads_work[(w1.shape, x.shape, y.shape)] is work   # reused
    assert np.array_equal(g1, g1_copy) and not np.shares_memory(g1, g2)
    assert not any(np.shares_memory(g2, b) for b in work)
    assert _rel(g2, G.grad(w2, x, y)) <= 1e-14 and _rel(L2, G.loss(w2, x, y)) <= 1e-14


def test_fused_loss_and_grads_threads():
    """Concurrent calls of one shape (the work-buffer cache is take-out / put-back) give the
    same results as serial calls."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    ws = rng.standard_normal((16, 6, 256)) / 16
    x, y = rng.standard_normal(256), rng.standard_normal(256)
    serial = [G.loss_and_grads(w, x, y) for w in ws]
    with ThreadPoolExecutor(4) as ex:
        for _ in range(5):
            par = list(ex.map(lambda w: G.loss_and_grads(w, x, y), ws))
            for (L0, g0), (L1, g1) in zip(serial, par):
                assert L0 == L1 and np.array_equal(g0, g1)


@pytest.mark.parametrize("name,label,rel", [
    ("circulant.small_ball_c1", "slack: sup_t", -0.5),        # c_1 too small by 2x
    ("circulant.small_ball_c1", "slack: MC", -0.5),
    ("circulant.lemma2_min", "slack: exact", -1e-2),          # measured slack 0.992
    ("circulant.lemma2_max", "slack: exact", -0.7),           # measured slack 0.385
    ("circulant.lemma2_prod", "slack: MC", -0.85),            # measured slack 0.21
    ("circulant.residual_bound", "slack: |D(v)|", -1e-3),     # measured slack 1.0 (n = 1)
])
def test_bound_too_small_fails_its_slack_row(name, label, rel):
    """Planted error of the "slack" rows (issue 24): the bound scaled down until it no longer
    holds on the measured points must fail the row that measures (true value)/(bound)."""
    f = D.get(name)
    c = next(c for c in checks.for_formula(name) if c.label.startswith(label))
    assert c.kind == "slack"
    ok = harness.run_check(c, harness.Subject(f, f.numpy), CTX)
    assert all(r.passed for r in ok)
    low = harness.Subject(f, lambda *a: np.asarray(f.numpy(*a)) * (1 + rel))
    bad = harness.run_check(c, low, CTX)
    assert any(not r.passed and r.kind == "slack" for r in bad), [r.detail for r in bad]


def test_residual_bound_too_large_fails_the_equality_row():
    """The |D(v)| bound is attained (constant filters, y = -f): x (1 + 1e-9) fails the dense row."""
    f = D.get("circulant.residual_bound")
    c = next(c for c in checks.for_formula(f.name) if c.label.startswith("attained"))
    rows = harness.run_check(c, harness.Subject(f, lambda *a: f.numpy(*a) * (1 + 1e-9)), CTX)
    assert not any(r.passed for r in rows)


def test_small_ball_c1_exact_at_p1_and_lemma2_nonvacuous_depths():
    import math

    assert G.small_ball_c1(64, 1) == pytest.approx(math.sqrt(2 * 64 / math.pi), rel=1e-14)
    # Lemma 2's failure bound drops below 1 only at large depth (c(9) = 0.00693)
    assert G.lemma2_failure(64, 9, 1391) > 1 > G.lemma2_failure(64, 9, 1392)
    assert G.lemma2_failure(64, 1, 117) > 1 > G.lemma2_failure(64, 1, 118)


def test_theorem1_chain_symbolic_forms():
    """The derived Lemma 2 bounds equal the forms the proof states once c is substituted
    (eq. (1): d sqrt(n) e^{-2c(d-2)}, spec A12; eq. (2): d c_1 e^{-cd}; eq. (3): d E|w| e^{-cd})
    and c_1 is sqrt(2n/pi) at p = 1 (spec A10)."""
    import sympy as sp
    from derivations import circulant as C

    c, n, d, p = C.rate_c_expr(), C.n, C.d, C.p
    assert sp.simplify(sp.expand_log(sp.log(C.lemma2_prod_expr() / (d * sp.sqrt(n) * sp.exp(-2 * c * (d - 2)))), force=True)) == 0
    assert sp.simplify(sp.expand_log(sp.log(C.lemma2_min_expr() / (d * C.small_ball_c1_expr() * sp.exp(-c * d))), force=True)) == 0
    assert sp.simplify(sp.expand_log(sp.log(C.lemma2_max_expr() / (d * C.norm_mean_expr() * sp.exp(-c * d))), force=True)) == 0
    assert sp.simplify(C.small_ball_c1_expr().subs(p, 1) - sp.sqrt(2 * n / sp.pi)) == 0
    assert sp.simplify(C.residual_bound_expr() - (C.NY + n ** (d / 2) * C.PV * C.NX)) == 0
