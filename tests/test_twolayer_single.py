"""The single-point path of the two-layer engine on the compiled backend
(``derivations/twolayer/_single.py``, issue 20 item 7): taken only for exact float64
C-contiguous arrays of the exact shapes; its results equal the general path's (the same compiled
functions on a block of one point: bit for bit); bad input still gives the general path's
errors naming the argument; the pooled scratch never leaks into results."""
import numpy as np
import pytest

pytest.importorskip("numba")

from derivations.runtime import backend as _backend  # noqa: E402
from derivations.twolayer import convolutional, fully_connected, patches  # noqa: E402
from numerics.simulators import twolayer as S  # noqa: E402


def _general(net, fn):
    """``fn()`` with the single-point path switched off (the general path)."""
    net._one = lambda *args: None
    try:
        return fn()
    finally:
        del net._one


def _same(x, y):
    if isinstance(x, tuple):
        assert len(x) == len(y)
        return all(_same(a, b) for a, b in zip(x, y))
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape and x.dtype == y.dtype
    return float(np.max(np.abs(x - y), initial=0.0)) <= 1e-15 * max(float(np.max(np.abs(x))), 1.0)


def _nets():
    rng = np.random.default_rng(11)
    W, a, V, b = S.safran_shamir_minimum()
    yield fully_connected(7, 7, 7), (W, a, V, b)
    yield fully_connected(7, 7, 7, train_output=True), (W, a, V, b)
    Wp = rng.standard_normal((5, 4))
    Wp[1] = -0.5 * Wp[0]                                   # antiparallel units (edge angles)
    yield fully_connected(4, 5, 3, "erf", train_output=True), (
        Wp, rng.standard_normal(5), rng.standard_normal((3, 4)), rng.standard_normal(3))
    yield fully_connected(20, 20, 20, "leaky_relu"), (
        rng.standard_normal((20, 20)), np.ones(20), rng.standard_normal((20, 20)), np.ones(20))
    yield convolutional(8, 3, 1, "relu"), (
        rng.standard_normal(3), rng.standard_normal(6), rng.standard_normal(3),
        rng.standard_normal(6))
    yield patches(5, [[0, 1, 2], [2, 3, 4], [4, 0, 1]], [0, 1, 0], activation="abs",
                  train_output=False), (
        rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal((2, 3)),
        rng.standard_normal(3))


@pytest.mark.parametrize("backend", ["numba", "auto"])
def test_single_point_path_equals_the_general_path(backend):
    with _backend.using(backend):
        for net, args in _nets():
            assert net._one(*args) is not None, net
            for name in ("loss", "grad", "hessian"):
                fn = getattr(net, name)
                got, ref = fn(*args), _general(net, lambda: fn(*args))
                assert type(got) is type(ref), (net, name)
                assert _same(got, ref), (net, name)


def test_single_point_path_only_for_exact_arrays():
    net = fully_connected(7, 7, 7)
    W, a, V, b = S.safran_shamir_minimum()
    with _backend.using("numba"):
        assert net._one(W, a, V, b) is not None
        for args in ((W.tolist(), a, V, b),                      # a list
                     (W, a.astype(np.float32), V, b),            # another dtype
                     (W, a, np.asfortranarray(V), b),            # not C-contiguous
                     (W[None], a, V, b),                         # batch axes
                     (W, a, V, b[:6]),                           # a wrong shape
                     (W.view(np.matrix), a, V, b)):              # an ndarray subclass
            assert net._one(*args) is None
            # ... and the general path still computes the same value (or the same error)
            if args[3].shape == (7,) and not isinstance(args[0], np.matrix):
                assert np.allclose(net.loss(*args), net.loss(W, a, V, b), rtol=1e-6)
    with _backend.using("numpy"):
        assert net._one(W, a, V, b) is None                     # NumPy backend: general path
    with _backend.using("numba"):
        assert net._one(W, a, V, b) is not None                 # and back


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("which", [0, 1, 2, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_bad_input_same_errors(backend, which, bad):
    net = fully_connected(3, 2, 2, "relu", train_output=True)
    args = [np.ones((2, 3)), np.ones(2), np.ones((2, 3)), np.ones(2)]
    args[0][1] = [1.0, 2.0, 0.5]
    args[which].flat[1] = bad
    name = net.arg_names[which]
    with _backend.using(backend):
        for fn in (net.loss, net.grad, net.hessian):
            with pytest.raises(ValueError, match=f"^{name} must be finite"):
                fn(*args)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_zero_unit_same_errors(backend):
    net = fully_connected(3, 2, 2, "relu")
    with _backend.using(backend):
        for which, name in ((0, "W"), (2, "V")):
            args = [np.ones((2, 3)), np.ones(2), np.ones((2, 3)), np.ones(2)]
            args[which][1] = 0.0
            for fn in (net.loss, net.grad, net.hessian):
                with pytest.raises(ValueError, match=f"^{name}: every unit"):
                    fn(*args)
            with pytest.raises(TypeError, match="^b must be a real array"):
                net.loss(args[0], args[1], args[2], np.array(["x", "y"]))


def test_pooled_scratch_does_not_leak_into_results():
    net = fully_connected(7, 7, 7, train_output=True)
    W, a, V, b = S.safran_shamir_minimum()
    rng = np.random.default_rng(3)
    with _backend.using("numba"):
        g1, h1, l1 = net.grad(W, a, V, b), net.hessian(W, a, V, b), net.loss(W, a, V, b)
        keep = (g1[0].copy(), g1[1].copy(), h1.copy(), float(l1))
        W2 = W + 0.1 * rng.standard_normal(W.shape)
        g2, h2, l2 = net.grad(W2, a, V, b), net.hessian(W2, a, V, b), net.loss(W2, a, V, b)
        assert g2[0] is not g1[0] and h2 is not h1
        assert np.array_equal(g1[0], keep[0]) and np.array_equal(g1[1], keep[1])
        assert np.array_equal(h1, keep[2]) and float(l1) == keep[3]
        assert not np.array_equal(g1[0], g2[0]) and float(l1) != float(l2)
        # the fixed-output gradient is an array, not a tuple, on both paths
        net_f = fully_connected(7, 7, 7)
        assert isinstance(net_f.grad(W, a, V, b), np.ndarray)


def test_finiteness_pass():
    """The single-point path's finiteness pass: NaN and +-inf in any position of any argument
    are caught and attributed to the right argument; the largest finite float64, subnormals and
    -0.0 are finite (as ``np.isfinite`` says)."""
    from derivations.twolayer._single import first_nonfinite

    for bad, expect in ((np.nan, True), (np.inf, True), (-np.inf, True),
                        (np.finfo(float).max, False), (-np.finfo(float).max, False),
                        (5e-324, False), (-0.0, False)):
        for which in range(4):
            for pos in (0, -1):
                args = [np.ones((3, 4)), np.ones(3), np.ones((2, 4)), np.ones(2)]
                args[which].flat[pos] = bad
                assert first_nonfinite(*args) == (which if expect else -1), (bad, which, pos)
    args = [np.ones((3, 4)), np.ones(3), np.ones((2, 4)), np.ones(2)]
    args[3][0] = args[1][2] = np.nan
    assert first_nonfinite(*args) == 1                        # the first bad argument
