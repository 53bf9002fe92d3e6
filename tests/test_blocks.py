"""Large batches are evaluated block by block (``_rt.blocks``/``_rt.by_blocks``): the same values
as the whole batch at once, the same errors, ``out=`` buffers honoured, no block of a
broadcast argument copied."""
import numpy as np
import pytest

from derivations import runtime as rt
from derivations.generated import cnn, gaussian

P, K = 5, 4


def _cnn_batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, P)), rng.standard_normal((n, K)), rng.standard_normal((n, P)),
            rng.standard_normal((n, K)))


def _at_once(monkeypatch, fn, *args, **kw):
    with monkeypatch.context() as m:
        m.setattr(rt, "BLOCK_ROWS", 10**12)
        m.setattr(rt, "_BLOCK_ENTRIES", 10**15)
        return fn(*args, **kw)


def test_blocks_only_for_large_batches():
    n = 4 * rt.BLOCK_ROWS
    big = rt.batch_shape(("v", np.ones((n, P)), 1), ("w_star", np.ones(P), 1))
    assert rt.blocks(big) == rt.BLOCK_ROWS
    assert rt.blocks(rt.batch_shape(("v", np.ones((n - 1, P)), 1))) == 0
    wide = rt.batch_shape(("w", np.ones((4 * 1024, 1000)), 1))
    assert rt.blocks(wide) == 1024  # at most 2^19 entries of a 1000-vector: the 1024-row floor
    # (n, 1) against (1, m): a split would copy; evaluated at once
    grid = rt.batch_shape(("v", np.ones((n, 1, P)), 1), ("a", np.ones((1, 2, K)), 1))
    assert rt.blocks(grid) == 0


@pytest.mark.parametrize("name", ["population_loss", "grad_v", "grad_a", "A"])
def test_blocked_equals_at_once(monkeypatch, name):
    n = 4 * rt.BLOCK_ROWS + 123  # a ragged last block
    v, a, ws, as_ = _cnn_batch(n)
    fn = getattr(cnn, name)
    args = (v, K) if name == "A" else (v, a, ws, as_)
    got = fn(*args)
    ref = _at_once(monkeypatch, fn, *args)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-15, atol=0)


def test_blocked_fused_with_out_buffers(monkeypatch):
    n = 4 * rt.BLOCK_ROWS + 7
    v, a, ws, as_ = _cnn_batch(n, 1)
    ref = _at_once(monkeypatch, cnn.population_loss_and_grads, v, a, ws, as_)
    bufs = (np.empty(n), np.empty((n, P)), None)
    got = cnn.population_loss_and_grads(v, a, ws, as_, out=bufs)
    assert got[0] is bufs[0] and got[1] is bufs[1]
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-15, atol=0)
    strided = np.empty((n, 2 * P))[:, ::2]  # a non-contiguous buffer: filled at the end
    got = cnn.population_loss_and_grads(v, a, ws, as_, out=(None, strided, None))
    assert got[1] is strided
    np.testing.assert_allclose(strided, ref[1], rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match=r"out must be a float64 array of shape"):
        cnn.population_loss_and_grads(v, a, ws, as_, out=(np.empty(3), None, None))


def test_blocked_broadcast_and_batch_axes(monkeypatch):
    n = 4 * rt.BLOCK_ROWS
    v, a, _, _ = _cnn_batch(n, 2)
    ws, as_ = np.arange(1.0, P + 1), np.linspace(-1, 1, K)  # one teacher for the whole batch
    got = cnn.grad_v(v.reshape(4, -1, P), a.reshape(4, -1, K), ws, as_)
    assert got.shape == (4, n // 4, P)
    ref = _at_once(monkeypatch, cnn.grad_v, v, a, ws, as_)
    np.testing.assert_allclose(got.reshape(n, P), ref, rtol=1e-15, atol=0)
    w, u = np.random.default_rng(3).standard_normal((2, n, 10))
    np.testing.assert_allclose(gaussian.wedge_second_moment(w, u),
                               _at_once(monkeypatch, gaussian.wedge_second_moment, w, u),
                               rtol=1e-15, atol=0)


def test_blocked_errors_name_the_argument():
    n = 4 * rt.BLOCK_ROWS
    v, a, ws, as_ = _cnn_batch(n, 4)
    v[n - 3, 1] = np.nan  # in the last block
    with pytest.raises(ValueError, match=r"\bv must be finite"):
        cnn.population_loss(v, a, ws, as_)
    v[n - 3] = 0.0
    with pytest.raises(ValueError, match=r"\bv must be nonzero"):
        cnn.population_loss(v, a, ws, as_)


def test_blocks_are_of_equal_size():
    """No short last block (it would pay a block's whole fixed cost for a few rows): the rows are
    shared out evenly, at most ``BLOCK_ROWS`` each; busy bodies are blocked from two blocks on."""
    def rows(n, busy=False):
        return rt.blocks(rt.batch_shape(("v", np.ones((n, P)), 1)), busy)

    assert rows(100_000, busy=True) == 25_000  # four blocks of 25,000, not 3 x 32,768 + 1,696
    assert rows(100_000) == 0  # fewer than four full blocks: at once
    assert rows(4 * 32_768 + 1) == 26_215  # five blocks, the last of 26,214 rows
    n = 4 * rt.BLOCK_ROWS + 123
    r = rows(n)
    count = -(-n // r)
    last = n - (count - 1) * r
    assert r <= rt.BLOCK_ROWS and 0 <= r - last < count  # short by less than one row per block


def test_checks_run_once_per_call_not_per_block(monkeypatch):
    """The public function checks its arguments once; ``by_blocks`` then calls the emitted core
    (``_<name>_core``) on each block, with a block shape that still names the arguments."""
    n = 4 * rt.BLOCK_ROWS
    calls = []
    real = rt.vector
    monkeypatch.setattr(rt, "vector", lambda name, x, finite=True: calls.append(name) or real(name, x, finite))
    cnn.population_loss(*_cnn_batch(n, 5))
    assert calls == ["v", "a", "w_star", "a_star"]
    assert callable(cnn._population_loss_core) and "population_loss" in cnn._population_loss_core.__doc__
