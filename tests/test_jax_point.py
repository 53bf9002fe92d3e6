"""The raw JAX functions' split of fast and careful branches (derivations.runtime.jax.point_function,
issue 25 item 3): under ``jax.vmap`` the careful branches (double-double near-parallel terms,
refined completed squares) run only on the rows that need them (gathered in chunks); at one point
under ``lax.cond``.  Each path equal to the NumPy backend at the edge points
(1e-14 relative plus the shared float64 conditioning, as tests/test_backend_jax.py), derivatives
through it (``jax.grad`` at one point) finite and equal to the emitted SymPy
gradient, and a planted error in the careful branch caught on the gathered rows."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from derivations.generated import cnn, cnn_jax  # noqa: E402
from derivations.runtime import backend as _backend  # noqa: E402
from derivations.runtime import jax as jr  # noqa: E402

from tests.test_backend_jax import K, P, RAW, assert_equal_backends, edge_points  # noqa: E402

ROW = cnn_jax._population_loss_and_grads_row


def numpy_side(*args):
    with _backend.using("numpy"):
        return cnn.population_loss_and_grads(*args)


def mixed(n_edge_copies, rng, n=2048):
    """``n`` rows: the edge rows (``n_edge_copies`` copies) spread among random rows (which need
    no careful branch), and the mask of the rows that need a careful branch.  One batch shape
    for every case: one compilation."""
    E = edge_points(np.random.default_rng(5))
    X = [rng.standard_normal((n,) + e.shape[1:]) for e in E]
    k = n_edge_copies * len(E[0])
    at = rng.choice(n, k, replace=False)
    for x, e in zip(X, E):
        x[at] = np.tile(e, (n_edge_copies,) + (1,) * (e.ndim - 1))
    _, need = jax.vmap(jr._fast_need(ROW))(*X)
    return X, np.asarray(need)


def test_vmap_paths_equal_numpy():
    """``jit(vmap(...))`` of 2048 rows, with the edge rows among random rows: once (the rows
    that need care fit one gathered chunk of ``ceil(n FEW)`` rows), four times (several chunks),
    none (no careful branch at all).  (Edge rows alone, nearly every row careful:
    tests/test_backend_jax.py::test_edge_points_equal.)"""
    rng = np.random.default_rng(0)
    m = int(np.ceil(2048 * jr.FEW))
    for copies, chunks in ((1, 1), (4, 4), (0, 0)):
        X, need = mixed(copies, rng)
        assert -(-int(need.sum()) // m) == chunks
        r1 = tuple(np.asarray(x) for x in RAW(*X))
        # (a.a* summed by XLA in another order: its conditioning, on the random rows)
        assert_equal_backends(numpy_side(*X), r1, X[0], X[2], a=X[1], a_star=X[3])


def test_planted_careful_error_caught_on_gathered_rows(monkeypatch):
    """The careful branch with Dekker's product error dropped, through a freshly wrapped row
    function: on the gathered rows of a mostly plain batch the comparison fails (the careful
    values are used, at the right rows); the plain rows still agree."""
    X, need = mixed(1, np.random.default_rng(1))
    r0 = numpy_side(*X)
    monkeypatch.setattr(jr, "two_prod", lambda a, b: (a * b, 0.0 * a * b))
    planted = jr.point_function(ROW)
    r1 = tuple(np.asarray(x) for x in jax.jit(jax.vmap(planted))(*X))
    with pytest.raises(AssertionError):
        assert_equal_backends(r0, r1, X[0], X[2], a=X[1], a_star=X[3])
    assert_equal_backends(tuple(r[~need] for r in r0), tuple(r[~need] for r in r1),
                          X[0][~need], X[2][~need], a=X[1][~need], a_star=X[3][~need])


def test_one_point_cond_and_grad():
    """One point at a time (``lax.cond`` picks the branch): values equal to NumPy; ``jax.grad``
    of the loss (the custom JVP: ``jax.jvp`` of the branch-free row) finite and equal to the
    emitted gradient (to 1e-13 of its scale, as tests/test_backend_jax.py)."""
    V, A, W, AS = edge_points(np.random.default_rng(11))
    _, need = jax.vmap(jr._fast_need(ROW))(V, A, W, AS)
    assert 0 < int(np.sum(need)) < len(V)
    grad = jax.jit(jax.grad(cnn_jax.population_loss, argnums=(0, 1)))
    for i in range(0, len(V), 3):
        x = (V[i], A[i], W[i], AS[i])
        r0 = numpy_side(*x)
        r1 = tuple(np.asarray(y) for y in cnn_jax.population_loss_and_grads(*x))
        assert_equal_backends(r0, r1, V[i], W[i])
        scale = (abs(A[i] @ AS[i]) * np.linalg.norm(W[i]) / np.linalg.norm(V[i])
                 + np.linalg.norm(A[i]) + np.linalg.norm(AS[i]) * np.linalg.norm(W[i]))
        gv, ga = (np.asarray(y) for y in grad(*x))
        assert np.all(np.isfinite(gv)) and np.all(np.isfinite(ga)), i
        assert np.linalg.norm(gv - r0[1]) <= 1e-13 * scale, i
        assert np.linalg.norm(ga - r0[2]) <= 1e-13 * scale, i
