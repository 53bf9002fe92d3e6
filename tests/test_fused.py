"""Fused value-and-gradients functions (issue 7): emitted per family, reachable from the
registry, equal to the separate emitted functions, with ``out=`` buffers."""
import numpy as np
import pytest

import derivations as D
from derivations import codegen
from derivations.generated import cnn


def _args(rng, n=None, p=5, k=4):
    shape = () if n is None else (n,)
    return (rng.standard_normal(shape + (p,)), rng.standard_normal(shape + (k,)),
            rng.standard_normal(shape + (p,)), rng.standard_normal(shape + (k,)))


def test_cnn_fused_groups_are_found():
    groups = {v.name: [g.name for g in gs] for v, gs in codegen.fused_groups("cnn")}
    assert groups["cnn.population_loss"] == ["cnn.grad_v", "cnn.grad_a"]
    assert groups["cnn.population_loss_w"] == ["cnn.grad_w"]


def test_fused_is_reachable_from_the_registry():
    assert codegen.fused("cnn.population_loss") is cnn.population_loss_and_grads
    assert codegen.fused("cnn.population_loss_w") is cnn.population_loss_w_and_grads
    with pytest.raises(LookupError):
        codegen.fused("gaussian.g")


@pytest.mark.parametrize("n", [None, 1, 257])
def test_fused_equals_separate_functions(n):
    rng = np.random.default_rng(n or 0)
    args = _args(rng, n)
    loss, gv, ga = cnn.population_loss_and_grads(*args)
    np.testing.assert_allclose(loss, cnn.population_loss(*args), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(gv, cnn.grad_v(*args), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ga, cnn.grad_a(*args), rtol=1e-13, atol=1e-15)
    lw, gw = cnn.population_loss_w_and_grads(*args)
    np.testing.assert_allclose(lw, cnn.population_loss_w(*args), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(gw, cnn.grad_w(*args), rtol=1e-13, atol=1e-15)


def test_out_buffers_are_filled_and_returned():
    rng = np.random.default_rng(1)
    args = _args(rng, 10)
    bufs = (np.empty(10), np.empty((10, 5)), np.empty((10, 4)))
    res = cnn.population_loss_and_grads(*args, out=bufs)
    assert all(r is b for r, b in zip(res, bufs))
    ref = cnn.population_loss_and_grads(*args)
    for r, b in zip(ref, bufs):
        np.testing.assert_array_equal(r, b)
    partial = cnn.population_loss_and_grads(*args, out=(None, bufs[1], None))
    assert partial[1] is bufs[1]


def test_fused_source_is_sympy_free_and_shares_the_angle():
    src = codegen.emit_fused(D.get("cnn.population_loss"),
                             [D.get("cnn.grad_v"), D.get("cnn.grad_a")])
    assert src.count("_rt.angle_terms(") == 1 and "sympy" not in src
    assert "numpy.cos(" not in src and "numpy.sin(" not in src
