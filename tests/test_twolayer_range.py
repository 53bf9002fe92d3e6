"""The two-layer engine at extreme scales (issue 20, numerically honest): inside
``[model.NORM_LO, NORM_HI]`` the loss and gradient scale exactly with the weights (ReLU is
homogeneous: loss(sW, a, sV, b) = s^2 loss(W, a, V, b), grad = s grad) to ~1e-15 on every
backend; outside, a ValueError naming the argument and the range (before: NaN at 1e154, a
gradient off by 3e-4 at 1e-160, a false "zero vector" error at 1e-170); a true zero vector keeps
its own error."""
import numpy as np
import pytest

import derivations
from derivations.twolayer import fully_connected, model

BACKENDS = ["numpy"] + (["numba"] if derivations.runtime.backend.numba_available() else [])

NET = fully_connected(5, 3, 3)
_rng = np.random.default_rng(0)
W, V = _rng.standard_normal((3, 5)), _rng.standard_normal((3, 5))
A, B = np.ones(3), np.array([1.0, -0.5, 2.0])


@pytest.mark.skipif("numba" not in BACKENDS, reason="numba not installed")
def test_compiled_range_is_the_models():
    """The compiled kernels' norm test uses the NumPy core's range."""
    from derivations.generated import twolayer_kernels_numba as compiled
    assert (compiled.NORM_LO, compiled.NORM_HI) == (model.NORM_LO, model.NORM_HI)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("s", [2.0**-490, 1e-150 * 1.5, 1e-100, 1e100, 1e150 / 3.0, 2.0**490])
def test_inside_the_range_scales_exactly(backend, s):
    """Scales that are powers of two keep W and V exact; the others are rounded once (~1e-16)."""
    with derivations.using_backend("numpy"):
        L1, g1 = NET.loss(W, A, V, B), NET.grad(W, A, V, B)
    with derivations.using_backend(backend):
        L, g = NET.loss(W * s, A, V * s, B), NET.grad(W * s, A, V * s, B)
        Lb, gb = NET.loss(np.stack([W * s] * 3), A, V * s, B), NET.grad(np.stack([W * s] * 3), A, V * s, B)
    assert abs(L / s / s / L1 - 1) < 5e-15
    assert np.max(np.abs(g / s - g1)) < 5e-15 * np.max(np.abs(g1))
    assert np.all(Lb == L) and np.all(gb == g)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("s, which", [(1e154, "W"), (1e-160, "W"), (1e-170, "W"), (1e-300, "W"),
                                      (1e200, "V")])
def test_outside_the_range_is_refused(backend, s, which):
    Ws, Vs = (W * s, V) if which == "W" else (W, V * s)
    with derivations.using_backend(backend):
        for f in (NET.loss, NET.grad, NET.hessian):
            with pytest.raises(ValueError, match=rf"^{which}: a unit's effective vector has norm "
                                                 r".*outside \[1e-150, 1e\+150\]"):
                f(Ws, A, Vs, B)
        with pytest.raises(ValueError, match=rf"^{which}:"):  # one bad point in a batch
            NET.grad(np.stack([W, Ws]), A, Vs, B) if which == "W" else NET.grad(W, A, np.stack([V, Vs]), B)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_vector_keeps_its_error_and_students_come_first(backend):
    W0 = W.copy()
    W0[1] = 0.0
    with derivations.using_backend(backend):
        with pytest.raises(ValueError, match=r"^W: every unit's effective vector must be nonzero"):
            NET.grad(W0, A, V, B)
        with pytest.raises(ValueError, match=r"^W: every unit's effective vector must be nonzero"):
            NET.loss(W0, A, V * 1e200, B)  # a zero student before an out-of-range teacher
        with pytest.raises(ValueError, match=r"^W: a unit's effective vector has norm"):
            NET.grad(np.stack([W, W * 1e-200]), A, V * 1e200, B)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_near_the_teacher_is_never_negative(backend):
    """1e-8 from the teacher the kernel sum cancels to ~1e-14 of its scale (absolute accuracy;
    docs/twolayer.md): the loss never goes below 0 there (it did, to -2.8e-14, before the
    clamp), and 1e-4 away it keeps its value to the Hessian's quadratic form (1e-4 relative)."""
    k = 7
    net = fully_connected(k, k, k)
    rng = np.random.default_rng(2)
    Vt, a = rng.standard_normal((k, k)), np.ones(k)
    with derivations.using_backend(backend):
        L = net.loss(Vt + 1e-8 * rng.standard_normal((300, k, k)), a, Vt, a)
        assert L.min() >= 0.0 and np.all(L < 1e-13)
        D = rng.standard_normal((k, k))
        H = net.hessian(Vt, a, Vt, a)
        far = net.loss(Vt + 1e-4 * D, a, Vt, a)
    assert abs(far / (0.5e-8 * D.ravel() @ H @ D.ravel()) - 1) < 1e-3
