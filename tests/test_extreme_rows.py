"""A NumPy batch holding rows beyond the float range (norms outside [SAFE_LO, SAFE_HI]) gives
every row what that row gives alone (``_rt.by_rows``): the extreme rows go through extended
range, the others keep the float path with its refinements (the completed square's
double-double, the near-parallel angle terms).  Before, one extreme row put the whole batch in
extended range: a student at its teacher then lost all digits of the CNN's gradient in ``a``
(relative error 1, the loss 0.54) and 1e-9 from it ~6e-8."""
from __future__ import annotations

import numpy as np
import pytest

from derivations.runtime import backend as _backend
from derivations.generated import cnn, filter as filt, kernels, wn

P, K = 10, 8
SCALES = (1e-70, 1e70, 1e-200, 1e150)


@pytest.fixture(autouse=True)
def _numpy_backend():
    with _backend.using("numpy"):
        yield


def _rel(x, y):
    """Per-row relative difference of results ``x``, ``y`` with rows on axis 0 (vector rows in
    norm, scaled so rows of 1e-200 or 1e200 neither underflow nor overflow)."""
    x, y = np.asarray(x, float).reshape(len(x), -1), np.asarray(y, float).reshape(len(y), -1)
    m = np.max(np.abs(y), axis=-1, keepdims=True)
    m = np.where(m > 0, m, 1.0)
    num = np.linalg.norm((x - y) / m, axis=-1)
    den = np.linalg.norm(y / m, axis=-1)
    return np.where(num == 0, 0.0, num / np.where(den > 0, den, 1e-300))


def _alone(fn, args, i):
    return fn(*(a[i:i + 1] for a in args))


def _check(fn, rows, rtol=1e-14, extreme=()):
    """``fn`` on the batch of ``rows`` (tuples of per-row arguments; rows that raise alone are
    dropped) equals ``fn`` on each row alone (a batch of one) to ``rtol`` (not always exactly:
    a batch of one sums some short rows by einsum where a batch sums them by columns)."""
    keep, kept_extreme = [], []
    for k, row in enumerate(rows):
        try:
            fn(*(np.asarray(a, float)[None] for a in row))
        except ValueError:  # beyond float64 alone (e.g. a loss of 1e400): not a row to batch
            continue
        if k in extreme:
            kept_extreme.append(len(keep))
        keep.append(row)
    args = tuple(np.array(col, float) for col in zip(*keep))
    batch = fn(*args)
    batch = batch if isinstance(batch, tuple) else (batch,)
    for i in range(len(keep)):
        alone = _alone(fn, args, i)
        alone = alone if isinstance(alone, tuple) else (alone,)
        for j, (b, a) in enumerate(zip(batch, alone)):
            err = _rel(b[i:i + 1], a)[0]
            assert err <= rtol, (fn.__name__, i, j, err, i in kept_extreme)
    return args, batch


def _with_extremes(rng, ordinary, lengths):
    """``ordinary`` rows, then for each argument and each scale one random row with that
    argument scaled (the extreme rows); returns (rows, indices of the extreme rows)."""
    rows = list(ordinary)
    extreme = []
    for j in range(len(lengths)):
        for s in SCALES:
            row = [rng.standard_normal(n) if n else np.array(rng.uniform(0.5, 2.0)) for n in lengths]
            row[j] = row[j] * s
            extreme.append(len(rows))
            rows.append(tuple(row))
    # interleave: extreme rows between the ordinary ones
    order = rng.permutation(len(rows))
    rows = [rows[k] for k in order]
    extreme = [int(np.flatnonzero(order == k)[0]) for k in extreme]
    return rows, extreme


def _cnn_rows(rng):
    ws, as_ = rng.standard_normal(P), rng.standard_normal(K)
    at = np.linalg.norm(ws) * as_
    rows = [
        (3.0 * ws, at, ws, as_),  # student exactly at its teacher (phi = 0, a = |w*| a*)
        (3.0 * ws, at * (1 + 1e-9 * rng.standard_normal(K)), ws, as_),  # 1e-9 from it
        (ws.copy(), as_.copy(), ws, as_),  # at its teacher in the unnormalized w (|w| a = |w*| a*)
        (2.0 * ws, 0.5 * as_ * (1 + 1e-9 * rng.standard_normal(K)), ws, as_),  # 1e-9 from it
        (ws + 1e-9 * rng.standard_normal(P), at, ws, as_),  # near-parallel
        (-ws + 1e-8 * rng.standard_normal(P), rng.standard_normal(K), ws, as_),  # near-antiparallel
        (rng.standard_normal(P), rng.standard_normal(K), rng.standard_normal(P), rng.standard_normal(K)),
    ]
    return _with_extremes(rng, rows, (P, K, P, K))


@pytest.mark.parametrize("name", ["population_loss_and_grads", "population_loss", "grad_a", "grad_v",
                                  "population_loss_w", "grad_w", "population_loss_w_and_grads"])
def test_cnn(name):
    rng = np.random.default_rng(11)
    rows, extreme = _cnn_rows(rng)
    if name in ("grad_a", "grad_w", "population_loss_w_and_grads"):  # c a + d a* + e 1 (grad_a
        # alone), c w + d w* (grad_w): terms that cancel at the teacher, not formed from the
        # difference, so there these gradients have no relative accuracy to compare
        at = [np.allclose(r[1], np.linalg.norm(r[2]) * r[3], rtol=1e-6)
              or np.allclose(np.linalg.norm(r[0]) * r[1], np.linalg.norm(r[2]) * r[3], rtol=1e-6)
              for r in rows]
        extreme = [k - sum(at[:k]) for k in extreme]
        rows = [r for r, t in zip(rows, at) if not t]
    _check(getattr(cnn, name), rows, extreme=extreme)


def test_cnn_at_teacher_keeps_its_digits():
    """The planted case of the report: row 0 at its teacher, row 1 with |w*| = 1e150; the
    gradient in ``a`` of row 0 was wrong in every digit."""
    rng = np.random.default_rng(1)
    ws, as_ = rng.standard_normal(P), rng.standard_normal(K)
    V = np.array([3.0 * ws, rng.standard_normal(P)])
    A = np.array([np.linalg.norm(ws) * as_, rng.standard_normal(K)])
    W = np.array([ws, 1e150 * rng.standard_normal(P)])
    AS = np.array([as_, rng.standard_normal(K)])
    batch = cnn.population_loss_and_grads(V, A, W, AS)
    alone = cnn.population_loss_and_grads(V[:1], A[:1], W[:1], AS[:1])
    for b, a in zip(batch, alone):
        np.testing.assert_array_equal(b[:1], a)


def test_cnn_blocks():
    """A batch evaluated block by block (_rt.by_blocks): the extreme rows set apart in their
    block; the other rows equal to the same batch without extreme rows."""
    rng = np.random.default_rng(5)
    n = 70000
    args = [rng.standard_normal((n, P)), rng.standard_normal((n, K)), rng.standard_normal((n, P)),
            rng.standard_normal((n, K))]
    ws, as_ = args[2][3], args[3][3]
    args[0][3], args[1][3] = 3.0 * ws, np.linalg.norm(ws) * as_  # at its teacher, in block 0
    args[0][n - 5], args[1][n - 5] = 3.0 * args[2][n - 5], np.linalg.norm(args[2][n - 5]) * args[3][n - 5]
    clean = cnn.population_loss_and_grads(*args)
    bad = [0, 4, 40000, n - 1]
    for k, i in enumerate(bad):  # extreme rows in both blocks
        args[k % 4][i] = args[k % 4][i] * SCALES[k]
    mixed = cnn.population_loss_and_grads(*args)
    ok = np.setdiff1d(np.arange(n), bad)
    for c, m in zip(clean, mixed):
        assert np.max(_rel(m[ok], c[ok])) <= 1e-14
    for i in bad + [3, n - 5]:
        alone = cnn.population_loss_and_grads(*(a[i:i + 1] for a in args))
        for m, a in zip(mixed, alone):
            assert _rel(m[i:i + 1], a)[0] <= 1e-14


def test_cnn_broadcast_batch():
    """A shared teacher (one vector) and a 2-D batch of students: the rows set apart are found
    through the broadcast."""
    rng = np.random.default_rng(9)
    ws, as_ = rng.standard_normal(P), rng.standard_normal(K)
    V = rng.standard_normal((3, 4, P))
    A = rng.standard_normal((4, K))
    V[1, 2] = 3.0 * ws
    A[2] = np.linalg.norm(ws) * as_
    V[0, 1] *= 1e150
    r = cnn.population_loss_and_grads(V, A, ws, as_)
    for i in range(3):
        for j in range(4):
            alone = cnn.population_loss_and_grads(V[i, j][None], A[j][None], ws, as_)
            for x, a in zip(r, alone):
                assert _rel(x[i, j][None], a)[0] <= 1e-14, (i, j)


def test_filter():
    rng = np.random.default_rng(12)
    ws = rng.standard_normal(P)
    rows = [(ws.copy(), ws), (ws * (1 + 1e-9 * rng.standard_normal(P)), ws),
            (ws + 1e-12 * rng.standard_normal(P), ws), (-ws, ws),
            (rng.standard_normal(P), rng.standard_normal(P))]
    rows, extreme = _with_extremes(rng, rows, (P, P))
    for fn in (filt.population_loss, filt.population_grad):
        _check(fn, rows, extreme=extreme)


def test_wn():
    rng = np.random.default_rng(13)
    v = rng.standard_normal(P)
    rows = [(v, np.array(1.5), 2.0 * v), (v, np.array(0.7), v + 1e-10 * rng.standard_normal(P)),
            (v, np.array(1.1), rng.standard_normal(P))]
    rows, extreme = _with_extremes(rng, rows, (P, 0, P))
    for fn in (wn.grad_v, wn.grad_g, wn.grad_g_and_grads):
        _check(fn, rows, extreme=extreme)


def test_kernels():
    rng = np.random.default_rng(14)
    x = rng.standard_normal(P)
    rows = [(x, 2.0 * x), (x, x + 1e-10 * rng.standard_normal(P)), (x, -x + 1e-9 * rng.standard_normal(P)),
            (rng.standard_normal(P), rng.standard_normal(P))]
    rows, extreme = _with_extremes(rng, rows, (P, P))
    for fn in (kernels.h_inf, kernels.arccos1, kernels.g_inf, kernels.v_inf):
        _check(fn, rows, extreme=extreme)


def test_shared_extreme_argument():
    """A teacher shared by every row and beyond the float range: every row is extreme (nothing
    to set apart), each equal to itself alone."""
    rng = np.random.default_rng(15)
    ws, as_ = 1e150 * rng.standard_normal(P), rng.standard_normal(K)
    V, A = rng.standard_normal((6, P)), rng.standard_normal((6, K))
    r = cnn.population_loss_w_and_grads(V, A, ws, as_)
    for i in range(6):
        alone = cnn.population_loss_w_and_grads(V[i:i + 1], A[i:i + 1], ws, as_)
        for x, a in zip(r, alone):
            assert _rel(x[i:i + 1], a)[0] <= 1e-14


def test_matrix_argument():
    """A batch of Gram matrices (rank-2 argument) holding rows beyond the float range and a
    near-parallel pair: each matrix's Gram equals that matrix's alone."""
    rng = np.random.default_rng(16)
    X = rng.standard_normal((5, 4, P))
    X[1, 2] = X[1, 0] * (1 + 1e-12)  # near-parallel pair
    X[3, 1] *= 1e150
    X[4, 0] *= 1e-70
    for fn in (kernels.h_inf_gram, kernels.arccos1_gram):
        r = fn(X)
        for i in range(5):
            assert _rel(r[i:i + 1], fn(X[i:i + 1]))[0] <= 1e-14, (fn.__name__, i)
