"""The raw JAX functions' split of fast and careful branches (derivations.runtime.jax.point_function,
issue 25 item 3): under ``jax.vmap`` the careful branches (double-double near-parallel terms,
refined completed squares) run on no row, on the few rows that need them (gathered), or on every
row; at one point under ``lax.cond``.  Each path equal to the NumPy backend at the edge points
(1e-14 relative plus the shared float64 conditioning, as tests/test_backend_jax.py), derivatives
through it (``jax.grad`` at one point, ``jax.jacfwd``) finite and equal to the emitted SymPy
gradient, and a planted error in the careful branch caught on the gathered rows."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from derivations.generated import cnn, cnn_jax  # noqa: E402
from derivations.runtime import backend as _backend  # noqa: E402
from derivations.runtime import jax as jr  # noqa: E402

from tests.test_backend_jax import K, P, assert_equal_backends, edge_points  # noqa: E402

ROW = cnn_jax._population_loss_and_grads_row


def numpy_side(*args):
    with _backend.using("numpy"):
        return cnn.population_loss_and_grads(*args)


def mixed(n_plain, rng):
    """``n_plain`` random rows (no careful branch needed) with the edge rows spread among them,
    and the mask of the rows that need a careful branch."""
    E = edge_points(np.random.default_rng(5))
    X = [rng.standard_normal((n_plain, P)), rng.standard_normal((n_plain, K)),
         rng.standard_normal((n_plain, P)), rng.standard_normal((n_plain, K))]
    at = rng.choice(n_plain + len(E[0]), len(E[0]), replace=False)
    out = []
    for x, e in zip(X, E):
        y = np.empty((n_plain + len(e),) + x.shape[1:])
        keep = np.ones(len(y), bool)
        keep[at] = False
        y[keep], y[at] = x, e
        out.append(y)
    _, need = jax.vmap(jr._fast_need(ROW))(*out)
    return out, np.asarray(need)


@pytest.mark.parametrize("n_plain", [0, 500, 20000])
def test_vmap_paths_equal_numpy(n_plain):
    """n_plain = 0: careful branches on every row; 500: more than 1/16 of the rows need them
    (every row again); 20000: fewer (gathered, evaluated, scattered back); and a batch of
    plain rows only (no careful branch at all)."""
    X, need = mixed(n_plain, np.random.default_rng(n_plain))
    n, m = len(need), int(np.ceil(len(need) * jr.FEW))
    assert need.sum() > 0 and (need.sum() <= m) == (n_plain == 20000)
    fn = jax.jit(jax.vmap(cnn_jax.population_loss_and_grads))
    r1 = tuple(np.asarray(x) for x in fn(*X))
    # (a.a* summed by XLA in another order: its conditioning, on the random rows)
    assert_equal_backends(numpy_side(*X), r1, X[0], X[2], a=X[1], a_star=X[3])
    if n_plain == 20000:
        plain = [x[~need] for x in X]
        r1 = tuple(np.asarray(x) for x in fn(*plain))
        assert_equal_backends(numpy_side(*plain), r1, plain[0], plain[2], a=plain[1], a_star=plain[3])


def test_planted_careful_error_caught_on_gathered_rows(monkeypatch):
    """The careful branch with Dekker's product error dropped, through a freshly wrapped row
    function: on the gathered rows of a mostly plain batch the comparison fails (the careful
    values are used, at the right rows); the plain rows still agree."""
    X, need = mixed(20000, np.random.default_rng(1))
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
    of the loss and ``jax.jacfwd`` of the fused value finite and equal to the emitted gradient
    (to 1e-13 of its scale, as tests/test_backend_jax.py)."""
    V, A, W, AS = edge_points(np.random.default_rng(11))
    _, need = jax.vmap(jr._fast_need(ROW))(V, A, W, AS)
    assert 0 < int(np.sum(need)) < len(V)
    grad = jax.jit(jax.grad(cnn_jax.population_loss, argnums=(0, 1)))
    jac = jax.jit(jax.jacfwd(lambda *x: cnn_jax.population_loss_and_grads(*x)[0], argnums=(0, 1)))
    for i in range(0, len(V), 3):
        x = (V[i], A[i], W[i], AS[i])
        r0 = numpy_side(*x)
        r1 = tuple(np.asarray(y) for y in cnn_jax.population_loss_and_grads(*x))
        assert_equal_backends(r0, r1, V[i], W[i])
        scale = (abs(A[i] @ AS[i]) * np.linalg.norm(W[i]) / np.linalg.norm(V[i])
                 + np.linalg.norm(A[i]) + np.linalg.norm(AS[i]) * np.linalg.norm(W[i]))
        for g in (grad(*x), jac(*x)):
            gv, ga = (np.asarray(y) for y in g)
            assert np.all(np.isfinite(gv)) and np.all(np.isfinite(ga)), i
            assert np.linalg.norm(gv - r0[1]) <= 1e-13 * scale, i
            assert np.linalg.norm(ga - r0[2]) <= 1e-13 * scale, i
