"""The compiled (Numba) two-layer engine (issue 20 item 7) against the NumPy engine: the same
values to 1e-14 relative at edge points (parallel, antiparallel, nearly parallel units, a
student on a teacher's ray), several activations, fully connected and overlapping-patch models,
output weights fixed or trained; the same errors and broadcasting; planted errors reach it."""
import numpy as np
import pytest

pytest.importorskip("numba")

from derivations.runtime import backend as _backend  # noqa: E402
from derivations.twolayer import convolutional, fully_connected, patches  # noqa: E402

TOL = 1e-14


def _rel(x, y):
    if isinstance(x, tuple):
        return max(_rel(a, b) for a, b in zip(x, y))
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape
    return float(np.max(np.abs(x - y)) / max(float(np.max(np.abs(x))), 1e-300))


def _both(fn):
    with _backend.using("numpy"):
        ref = fn()
    with _backend.using("numba"):
        got = fn()
    return ref, got


def _edge_batch(rng, k, m, d):
    W = rng.standard_normal((4, k, d))
    V = rng.standard_normal((m, d))
    W[0, 1] = 2.5 * W[0, 0]                                 # parallel students
    W[1, 1] = -0.7 * W[1, 0]                                # antiparallel
    W[2, 0] = 1.3 * V[0]                                    # on a teacher's ray
    W[3, 1] = W[3, 0] + 1e-9 * rng.standard_normal(d)       # nearly parallel
    return W, rng.standard_normal((4, k)), V, rng.standard_normal(m)


@pytest.mark.parametrize("act, train", [("relu", False), ("relu", True), ("erf", True),
                                        ("leaky_relu", True), ("abs", False)])
def test_fully_connected_matches_numpy_at_edges(act, train):
    rng = np.random.default_rng(3)
    net = fully_connected(4, 3, 2, act, train_output=train)
    W, a, V, b = _edge_batch(rng, 3, 2, 4)
    dW, da = rng.standard_normal(W.shape), rng.standard_normal(a.shape)
    for fn in (lambda: net.loss(W, a, V, b), lambda: net.grad(W, a, V, b),
               lambda: net.hessian(W, a, V, b),
               lambda: net.hvp(W, a, V, b, dW, da if train else None)):
        ref, got = _both(fn)
        assert _rel(ref, got) <= TOL


def test_step_matches_numpy_away_from_its_kink():
    """The step's kernel has a kink at phi = 0, pi (no gradient there in either engine)."""
    rng = np.random.default_rng(4)
    net = fully_connected(4, 3, 2, "step", train_output=True)
    W, a, V, b = rng.standard_normal((3, 3, 4)), rng.standard_normal((3, 3)), \
        rng.standard_normal((2, 4)), rng.standard_normal(2)
    for fn in (lambda: net.loss(W, a, V, b), lambda: net.grad(W, a, V, b),
               lambda: net.hessian(W, a, V, b)):
        ref, got = _both(fn)
        assert _rel(ref, got) <= TOL


def test_overlapping_patches_match_numpy():
    rng = np.random.default_rng(5)
    conv = convolutional(8, 3, 1, "relu")
    w, a = rng.standard_normal((2, 3)), rng.standard_normal((2, 6))
    ws, as_ = rng.standard_normal(3), rng.standard_normal(6)
    gen = patches(5, [[0, 1, 2], [2, 3, 4], [4, 0, 1]], [0, 1, 0], activation="erf",
                  train_output=False)
    g, ga = rng.standard_normal((2, 3)), rng.standard_normal(3)
    gt, gat = rng.standard_normal((2, 3)), rng.standard_normal(3)
    for fn in (lambda: conv.loss(w, a, ws, as_), lambda: conv.grad(w, a, ws, as_),
               lambda: conv.hessian(w, a, ws, as_), lambda: conv.hvp(w, a, ws, as_, w, a),
               lambda: gen.loss(g, ga, gt, gat), lambda: gen.grad(g, ga, gt, gat),
               lambda: gen.hessian(g, ga, gt, gat)):
        ref, got = _both(fn)
        assert _rel(ref, got) <= TOL


def test_broadcasting_batched_teacher_and_blocks():
    rng = np.random.default_rng(6)
    net = fully_connected(3, 2, 2, "relu", train_output=True)
    W, a = rng.standard_normal((2, 3, 2, 3)), rng.standard_normal((3, 2))
    V, b = rng.standard_normal((2, 1, 2, 3)), rng.standard_normal(2)
    ref, got = _both(lambda: net.grad(W, a, V, b))
    assert got[0].shape == (2, 3, 2, 3) and got[1].shape == (2, 3, 2)
    assert _rel(ref, got) <= TOL
    big = rng.standard_normal((3000, 2, 3))                 # several compiled blocks
    ref, got = _both(lambda: net.loss(big, np.ones(2), V[0, 0], b))
    assert got.shape == (3000,) and _rel(ref, got) <= TOL


def test_same_errors_on_the_compiled_engine():
    net = fully_connected(3, 2, 2, "relu")
    W, V = np.ones((2, 3)), np.ones((2, 3))
    W[1] = 0.0
    with _backend.using("numba"):
        with pytest.raises(ValueError, match="^W: every unit"):
            net.grad(W, np.ones(2), V, np.ones(2))
        V[0] = 0.0
        with pytest.raises(ValueError, match="^V: every unit"):
            net.loss(np.ones((2, 3)), np.ones(2), V, np.ones(2))
        with pytest.raises(ValueError, match="a must be finite"):
            net.loss(np.ones((2, 3)), [1.0, np.nan], np.ones((2, 3)), np.ones(2))


def test_backend_selection():
    from derivations.twolayer import compiled

    net = fully_connected(3, 2, 2, "relu")
    with _backend.using("numpy"):
        assert net._ccore(()) is None
    with _backend.using("auto"):      # auto: compiled whenever Numba is installed
        assert isinstance(net._ccore(()), compiled.CompiledCore)
    with _backend.using("numba"):
        assert isinstance(net._ccore((5,)), compiled.CompiledCore)


def test_a_planted_error_reaches_the_compiled_kernels():
    """A module compiled in memory with a planted term brings its compiled counterpart with the
    same plant (what `check --mutants twolayer` judges on both backends)."""
    from derivations.generated import twolayer_kernels_numba as G
    from derivations.codegen.templates import twolayer as emit

    # the plant is applied to the printed terms: use the committed ReLU derivation's output
    mod = emit.compile_module(plant={"relu": {"ga": 1 + 1e-6}}, only=("relu",))
    cm = mod.compiled_module()
    args = (1.0, 2.0, 0.5, float(np.sqrt(0.75)), float(np.pi / 3), np.empty(0))
    ga, gb = cm.relu_dgrad(*args)
    ga0, gb0 = G.relu_dgrad(*args)
    assert ga / ga0 - 1 == pytest.approx(1e-6, rel=1e-6) and gb == gb0
