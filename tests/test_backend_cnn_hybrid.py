"""The fused CNN function's hybrid pass (issue 25): ``cnn.population_loss_and_grads`` uses its
difference vector ``a - |w*| a*`` after the angle, so its second half forms that vector again
in the loop that uses it (derivations/codegen/numba.py, ``_reform``), and the wrapper runs the
hybrid pass on narrow rows (``REFORM_ROW_BYTES`` of input per row: p = 10, k = 8), a chunk
(2048) or more of them, and the one-pass kernel on wide ones (p = 50, k = 25) or fewer rows,
as measured by ``nnderive bench backend``.
Both paths are compared with the NumPy backend at the edge points of tests/test_backend.py."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from derivations.codegen.numba import REFORM_ROW_BYTES
from derivations.generated import cnn

numba = pytest.importorskip("numba")
from derivations.generated import cnn_numba  # noqa: E402
from derivations.runtime import numba as _nb  # noqa: E402
from tests import test_backend as tb  # noqa: E402


def _edge(monkeypatch, p, k, seed):
    """The edge points of tests/test_backend.py at ``p``, ``k``, 16 times over;
    its comparison then reads the same ``p``, ``k``."""
    monkeypatch.setattr(tb, "P", p)
    monkeypatch.setattr(tb, "K", k)
    rows = tb.edge_points(np.random.default_rng(seed))
    return [np.tile(x, (16, 1)) for x in rows]  # 2176 rows: the hybrid pass needs a chunk


def _which(monkeypatch):
    """Record which fast pass each call runs ("hybrid" or "one pass")."""
    seen = []
    hybrid = _nb._hybrid
    _nb._mostly_rare.clear()

    def spy_hybrid(kernel, angles, *a):
        seen.append("hybrid")
        return hybrid(kernel, angles, *a)

    monkeypatch.setattr(_nb, "_hybrid", spy_hybrid)
    return seen


def test_fused_cnn_has_both_passes_and_the_threshold_is_between_the_bench_sizes():
    assert hasattr(cnn_numba, "_population_loss_and_grads_angles")
    assert hasattr(cnn_numba, "_population_loss_and_grads_rest")
    assert hasattr(cnn_numba, "_population_loss_and_grads_kernel")
    assert 8 * (2 * 10 + 2 * 8) <= REFORM_ROW_BYTES < 8 * (2 * 50 + 2 * 25)


@pytest.mark.parametrize("p,k,path", [(10, 8, "hybrid"), (50, 25, "one pass"),
                                      (2, 1, "hybrid")])
def test_fused_cnn_edge_points_equal_numpy_on_each_path(monkeypatch, p, k, path):
    seen = _which(monkeypatch)
    V, A, W, AS = _edge(monkeypatch, p, k, 5)
    r0, r1 = tb.both(cnn.population_loss_and_grads, V, A, W, AS)
    assert (seen == ["hybrid"]) == (path == "hybrid"), seen
    tb.assert_equal_backends(r0, r1, V, W)
    n = 2 * 2048 + 5  # several chunks, random rows
    rng = np.random.default_rng(p)
    X = [rng.standard_normal((n, d)) for d in (p, k, p, k)]
    _nb._mostly_rare.clear()  # the edge batch had mostly rare rows: the fast pass again
    r0, r1 = tb.both(cnn.population_loss_and_grads, *X)
    assert (seen == ["hybrid"] * 2) == (path == "hybrid"), seen
    tb.assert_equal_backends(r0, r1, X[0], X[2], a=X[1], a_star=X[3])


def test_fused_cnn_one_pass_below_a_chunk(monkeypatch):
    seen = _which(monkeypatch)
    rng = np.random.default_rng(3)
    for n in (1, 33, 2047):
        X = [rng.standard_normal((n, d)) for d in (10, 8, 10, 8)]
        r0, r1 = tb.both(cnn.population_loss_and_grads, *X)
        tb.assert_equal_backends(r0, r1, X[0], X[2], a=X[1], a_star=X[3])
    X = [rng.standard_normal((2048, d)) for d in (10, 8, 10, 8)]
    tb.both(cnn.population_loss_and_grads, *X)
    assert seen == ["hybrid"]


def test_fused_cnn_wide_rows_forced_hybrid_equal_numpy(monkeypatch):
    """The hybrid pass is right on wide rows too (the choice is speed only)."""
    seen = _which(monkeypatch)
    monkeypatch.setattr(_nb, "_row_bytes", lambda ins: 0)
    V, A, W, AS = _edge(monkeypatch, 50, 25, 5)
    r0, r1 = tb.both(cnn.population_loss_and_grads, V, A, W, AS)
    assert seen == ["hybrid"]
    tb.assert_equal_backends(r0, r1, V, W)


def test_fused_cnn_comparison_has_teeth(monkeypatch):
    """The second half reading cosines as angles (no arccos step), or forming the difference
    vector with ``a*`` in place of ``|w*| a*``, is caught."""
    V, A, W, AS = _edge(monkeypatch, 10, 8, 7)
    with tb._backend.using("numpy"):
        r0 = cnn.population_loss_and_grads(V, A, W, AS)

    def no_arccos(kernel, angles, n, ins, flat, bad):
        first, ncol, nkept = angles[:3]
        cs, cv = np.empty((n, ncol)), np.empty((n, nkept))
        first(0, n, *ins, cs, cv, False)
        return kernel(0, n, *ins, *flat, bad, cs, cv)

    with monkeypatch.context() as m:
        m.setattr(_nb, "_hybrid", no_arccos)
        _nb._mostly_rare.clear()
        with tb._backend.using("numba"):
            r1 = cnn.population_loss_and_grads(V, A, W, AS)
        with pytest.raises(AssertionError):
            tb.assert_equal_backends(r0, r1, V, W)
    # a wrong re-formed vector: the second half of a kernel printed with b = 1
    text = inspect.getsource(cnn_numba._population_loss_and_grads_rest.py_func).replace("- norm_w_star * a_star_all", "- 1.0 * a_star_all")
    assert "- 1.0 * a_star_all" in text
    ns = dict(cnn_numba.__dict__)
    exec(text.replace("@_nb.jit\n", ""), ns)
    bad_rest = numba.njit(error_model="numpy")(ns["_population_loss_and_grads_rest"])
    with monkeypatch.context() as m:
        hybrid = _nb._hybrid
        m.setattr(_nb, "_hybrid", lambda kernel, angles, *a: hybrid(bad_rest, angles, *a))
        _nb._mostly_rare.clear()
        with tb._backend.using("numba"):
            r1 = cnn.population_loss_and_grads(V, A, W, AS)
        with pytest.raises(AssertionError):
            tb.assert_equal_backends(r0, r1, V, W)
