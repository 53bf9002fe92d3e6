"""Teeth of the two-layer checks (issue 20): every row passes on the committed kernels, and
planted errors in the kernel derivation make an independent row fail."""
import numpy as np
import pytest
import sympy as sp

from derivations.knobs import perturbed
from derivations.twolayer import emit
from numerics.checks import twolayer as T
from numerics.harness import Context


def _failed(rows):
    return [r for r in rows if not r.passed]


def test_committed_generated_module_is_fresh():
    """The committed derivations/generated/twolayer_kernels.py is what the derivation emits."""
    assert emit.GENERATED.read_text() == emit.module_source(), \
        "stale: run `nnderive build twolayer` and commit derivations/generated"


def test_every_row_passes():
    rows = T.run(Context(samples=100_000), quick=False)
    assert len(rows) >= 38
    assert not _failed(rows), [(r.formula, r.label, r.stat, r.detail) for r in _failed(rows)]


def test_planted_constant_in_the_density_fails():
    """The Gaussian density's normalization x (1 + 1e-6), re-derived: the kernel row fails."""
    with perturbed("twolayer.density_norm", sp.Rational(1, 10**6)):
        mod = emit.compile_module(only=("relu",))
    rows = T.kernel_rows(mod, activations=("relu",))
    assert _failed(rows) and rows[0].stat > 1e-7
    assert not _failed(T.kernel_rows(activations=("relu",)))


def test_planted_branch_of_one_activation_fails():
    """Leaky ReLU's negative branch (slope alpha) x (1 + 1e-6), re-derived."""
    with perturbed("twolayer.leaky_relu.neg", sp.Rational(1, 10**6)):
        mod = emit.compile_module(only=("leaky_relu",))
    assert _failed(T.kernel_rows(mod, activations=("leaky_relu",)))


def test_planted_sector_edge_fails():
    """The half-plane edge pi/2 of the sectors off by 1e-3 (a wrong branch of sigma's sign).
    The integrand vanishes on the true edges, so a shift delta changes kappa by O(delta^2):
    1e-6 would be a 1e-12 (equivalent) mutant; 1e-3 changes kappa by ~1e-6."""
    with perturbed("twolayer.halfplane_edge", sp.Rational(1, 10**3)):
        mod = emit.compile_module(only=("abs",))
    assert _failed(T.kernel_rows(mod, activations=("abs",)))


@pytest.mark.parametrize("term,factor", [("huv12", 1 + 1e-4), ("huu22", 1 + 1e-4),
                                         ("dh0", 1 + 1e-4), ("huv0", 1 + 1e-5)])
def test_planted_second_derivative_term_fails(term, factor):
    """One Hessian term of the derived kernel scaled: the Hessian-vs-FD row fails, the
    gradient rows still pass (the planted term is second order only)."""
    mod = emit.compile_module(plant={"relu": {term: factor}}, only=("relu",))
    rows = T.fd_rows(mod, activations=("relu",))
    hess = [r for r in rows if "Hessian" in r.label]
    grad = [r for r in rows if "gradient" in r.label]
    assert any(not r.passed for r in hess), [(r.label, r.stat) for r in hess]
    assert all(r.passed for r in grad)


def test_planted_gradient_term_fails():
    mod = emit.compile_module(plant={"relu": {"ga": 1 + 1e-6}}, only=("relu",))
    rows = T.fd_rows(mod, activations=("relu",), hessian=False)
    assert _failed(rows)


def test_monte_carlo_row_has_teeth():
    """Monte Carlo resolves ~1% (a sanity check): the diagonal kappa(u, u) x 1.1 must fail."""
    mod = emit.compile_module(plant={"erf": {"d": 1.1}}, only=("erf",))
    rows = T.mc_rows(Context(samples=400_000), mod, activations=("erf",))
    assert not rows[0].passed
    assert np.isfinite(rows[0].stat)
