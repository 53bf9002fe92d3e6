"""Masked arrays and other ndarray subclasses (issue 23, item 4).

A masked array's masked entries have no value, and ``numpy.matrix`` changes what ``*`` and
indexing mean, so every public function refuses them with a ``TypeError`` naming the argument
(before, ``relu_mean`` of a masked vector failed naming nothing, and a 2-D masked batch
silently used the data under the mask).  ``numpy.memmap`` is a plain array on disk: accepted.

Every registered formula's emitted function is probed, argument by argument, at a valid point
taken from its own 50-digit check (the first point that check would evaluate), plus the fused
functions and the hand-written public functions of ``derivations.kernels`` and ``wn``.
"""
from __future__ import annotations

import numpy as np
import pytest

import derivations
from numerics import checks
from numerics.harness import Context, Subject

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix


class _Point(Exception):
    pass


def _valid_point(name):
    """The first point the formula's mpmath check (or, failing that, any check) evaluates."""
    f = derivations.get(name)

    def record(*args):
        raise _Point(args)

    kinds = sorted(checks.for_formula(name), key=lambda c: c.kind != "mpmath")
    for check in kinds:
        try:
            check.run(Subject(f, record), Context(samples=1000, seed=0, quick=True))
        except _Point as p:
            return p.args[0]
        except Exception:
            continue
    return None


NAMES = derivations.names()


def _masked(x):
    x = np.asarray(x, dtype=float)
    mask = np.zeros(x.shape, bool)
    if x.size:
        mask.reshape(-1)[-1] = True
    return np.ma.array(x, mask=mask)


@pytest.mark.parametrize("name", NAMES)
def test_every_formula_refuses_masked_arguments(name):
    f = derivations.get(name)
    args = _valid_point(name)
    assert args is not None, f"{name}: no check yields a point"
    np.asarray(f.numpy(*args))  # the point itself is valid
    probed = 0
    for i, a in enumerate(f.args):
        if a.kind == "int":
            continue
        for bad, what in ((_masked(args[i]), "masked array"),
                          (_masked(args[i])[None] if np.ndim(args[i]) else None, "masked batch")):
            if bad is None:
                continue
            new = list(args)
            new[i] = bad
            with pytest.raises(TypeError, match=rf"\b{a.name} must be a plain array, got a masked"):
                f.numpy(*new)
            probed += 1
        if np.ndim(args[i]) >= 1:
            new = list(args)
            new[i] = np.asmatrix(np.atleast_2d(args[i])) if np.ndim(args[i]) <= 2 else None
            if new[i] is not None:
                with pytest.raises(TypeError, match=rf"\b{a.name} must be a plain array, got numpy.matrix"):
                    f.numpy(*new)
    if any(a.kind != "int" for a in f.args):
        assert probed


def test_masked_batch_no_longer_ignores_the_mask():
    """The issue's case: a masked entry of 1e6 in a batch gave 398942 instead of 0.564."""
    from derivations.generated import gaussian

    w = np.ma.array([[1e6, 1.0], [1.0, 1.0]], mask=[[True, False], [False, False]])
    with pytest.raises(TypeError, match=r"^w must be a plain array, got a masked array"):
        gaussian.relu_mean(w)
    with pytest.raises(TypeError, match=r"^w must be a plain array, got a masked array"):
        gaussian.relu_mean(np.ma.array([1.0, 2.0, 3.0], mask=[0, 1, 0]))
    with pytest.raises(TypeError, match=r"^w must be a plain array"):
        gaussian.relu_mean([np.ma.array([1.0, 2.0], mask=[0, 1])])  # inside a list
    with pytest.raises(TypeError, match=r"^phi must be a plain array"):
        gaussian.g(np.ma.masked)


def test_other_subclasses_refused_and_memmap_accepted(tmp_path):
    from derivations.generated import gaussian

    class Tagged(np.ndarray):
        pass

    with pytest.raises(TypeError, match=r"^w must be a plain numpy.ndarray, got the subclass"):
        gaussian.relu_mean(np.ones(3).view(Tagged))
    m = np.memmap(tmp_path / "w.dat", dtype=float, mode="w+", shape=(2, 3))
    m[:] = 1.0
    assert np.allclose(gaussian.relu_mean(m), gaussian.relu_mean(np.ones((2, 3))))


def _fused_cases():
    from derivations.generated import circulant, cnn, wn

    rng = np.random.default_rng(0)
    v, a, ws, as_ = (rng.standard_normal(5), rng.standard_normal(4), rng.standard_normal(5),
                     rng.standard_normal(4))
    return [
        (cnn.population_loss_and_grads, {"v": v, "a": a, "w_star": ws, "a_star": as_}, 3),
        (cnn.population_loss_w_and_grads, {"w": v, "a": a, "w_star": ws, "a_star": as_}, 2),
        (circulant.loss_and_grads, {"w": rng.standard_normal((3, 16)), "x": rng.standard_normal(16),
                                    "y": rng.standard_normal(16)}, 2),
        (wn.grad_g_and_grads, {"v": rng.standard_normal(3), "g": 1.5,
                               "grad_w": rng.standard_normal(3)}, 2),
    ]


@pytest.mark.parametrize("case", range(4))
def test_fused_functions_refuse_masked_arguments_and_out(case):
    fn, kw, nout = _fused_cases()[case]
    results = fn(**kw)
    for k in kw:
        bad = dict(kw, **{k: _masked(kw[k])})
        with pytest.raises(TypeError, match=rf"^{k} must be a plain array, got a masked"):
            fn(**bad)
    out = [np.empty(np.shape(r)) for r in results]
    out[0] = np.ma.array(out[0])
    with pytest.raises(TypeError, match=r"^out\[0\] must be a plain array, got a masked"):
        fn(**kw, out=tuple(out))
    out = [np.empty(np.shape(r)) for r in results]
    out[-1].flags.writeable = False
    with pytest.raises(ValueError, match=rf"^out\[{nout - 1}\] is read-only"):
        fn(**kw, out=tuple(out))


def test_hand_written_public_functions_refuse_masked_arrays():
    from derivations import kernels as K
    from derivations import wn as W

    X = np.random.default_rng(1).standard_normal((4, 3))
    for call in (lambda Z: K.gram("v_inf", Z), K.lambda_0, K.mu_0, lambda Z: K.lambda_min("h_inf", Z),
                 lambda Z: K.deep_kernel(Z, 2)):
        call(X)
        with pytest.raises(TypeError, match=r"^X must be a plain array, got a masked"):
            call(_masked(X))
        with pytest.raises(TypeError, match=r"^X must be a plain array, got numpy.matrix"):
            call(np.asmatrix(X))
    Vk, g = np.random.default_rng(2).standard_normal((5, 3)), np.ones(5)
    W.grams(Vk, g, X, 1.0)
    for which, args in (("Vk", (_masked(Vk), g, X)), ("g", (Vk, _masked(g), X)), ("X", (Vk, g, _masked(X)))):
        with pytest.raises(TypeError, match=rf"^{which} must be a plain array, got a masked"):
            W.grams(*args, 1.0)
