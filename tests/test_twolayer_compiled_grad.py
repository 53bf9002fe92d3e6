"""The compiled two-layer gradient's chunked pass (issue 20 item 7; compiled.CompiledCore.grad):
packed pairs (each student pair once, in both orders), the raw Gram matrix, the chain rule as
one product per point.  Against the NumPy engine to 1e-14 relative, with many small chunks
(a partial last one), edge pairs (parallel, antiparallel, on a teacher's ray, nearly parallel)
in several chunks, shared and batched teachers, output weights fixed and trained; the zero-
vector error names the same argument as the NumPy engine when it sits in a later chunk."""
import numpy as np
import pytest

pytest.importorskip("numba")

from derivations.runtime import backend as _backend  # noqa: E402
from derivations.twolayer import compiled, fully_connected  # noqa: E402

TOL = 1e-14


def _rel(x, y):
    if isinstance(x, tuple):
        return max(_rel(a, b) for a, b in zip(x, y))
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape
    return float(np.max(np.abs(x - y)) / np.max(np.abs(x)))


def _both(fn):
    with _backend.using("numpy"):
        ref = fn()
    with _backend.using("numba"):
        got = fn()
    return ref, got


def _edges(rng, W, V):
    """Edge pairs at points 0, 4, 8, 13 (different chunks of 3 points)."""
    d = W.shape[-1]
    W[0, 1] = 2.5 * W[0, 0]                                  # parallel students
    W[4, 2] = -0.7 * W[4, 0]                                 # antiparallel
    W[8, 3] = 1.3 * (V[8, 1] if V.ndim == 3 else V[1])       # on a teacher's ray
    W[13, 0] = W[13, 4] + 1e-9 * rng.standard_normal(d)      # nearly parallel
    return W


@pytest.mark.parametrize("act", ["relu", "erf", "leaky_relu"])
@pytest.mark.parametrize("train", [False, True])
def test_chunked_grad_matches_numpy(monkeypatch, act, train):
    monkeypatch.setattr(compiled, "GRAD_ENTRIES", 3 * 35)   # k = 5, m = 4: 35 pairs, 3 points
    rng = np.random.default_rng(11)
    net = fully_connected(6, 5, 4, act, train_output=train)
    N = 17
    for batched_teacher in (False, True):
        V = rng.standard_normal((N, 4, 6) if batched_teacher else (4, 6))
        b = rng.standard_normal((N, 4) if batched_teacher else 4)
        W = _edges(rng, rng.standard_normal((N, 5, 6)), V)
        a = rng.standard_normal((N, 5))
        ref, got = _both(lambda: net.grad(W, a, V, b))
        assert _rel(ref, got) <= TOL


def test_chunked_grad_one_unit_and_wide_teacher(monkeypatch):
    """No student pairs at all (k = 1), and more teachers than students."""
    monkeypatch.setattr(compiled, "GRAD_ENTRIES", 16)
    rng = np.random.default_rng(12)
    for k, m in ((1, 3), (2, 7)):
        net = fully_connected(4, k, m, "relu", train_output=True)
        W, a = rng.standard_normal((9, k, 4)), rng.standard_normal((9, k))
        V, b = rng.standard_normal((m, 4)), rng.standard_normal(m)
        ref, got = _both(lambda: net.grad(W, a, V, b))
        assert _rel(ref, got) <= TOL


def test_zero_student_in_a_later_chunk_is_named_first(monkeypatch):
    """A zero teacher in chunk 1 and a zero student in chunk 3: the NumPy engine checks the
    students first, and so does the compiled one."""
    monkeypatch.setattr(compiled, "GRAD_ENTRIES", 2 * 35)
    rng = np.random.default_rng(13)
    net = fully_connected(6, 5, 4, "relu")
    W, V = rng.standard_normal((9, 5, 6)), rng.standard_normal((9, 4, 6))
    V[0, 2] = 0.0
    W[6, 1] = 0.0
    for backend in ("numpy", "numba"):
        with _backend.using(backend):
            with pytest.raises(ValueError, match="^W: every unit"):
                net.grad(W, np.ones(5), V, np.ones(4))
    W[6, 1] = 1.0
    with _backend.using("numba"):
        with pytest.raises(ValueError, match="^V: every unit"):
            net.grad(W, np.ones(5), V, np.ones(4))


def test_edge_pairs_get_the_stable_angle():
    """The pass redoes the pairs with c^2 > 0.81 with the Kahan angle (in place in the chunk's
    angle buffer): a student pair 1e-9 apart gets its angle to ~1e-6 relative (arccos of the
    rounded cosine gives 0 or ~1e-8), the antiparallel-ish one pi - angle likewise.  (The
    gradient itself hardly feels it: its pair terms are smooth in the angle at 0 and pi.)"""
    rng = np.random.default_rng(14)
    n, m, d = 3, 2, 5
    U = rng.standard_normal((1, n, d))
    e1, e2 = 1e-9 * rng.standard_normal(d), 1e-9 * rng.standard_normal(d)
    U[0, 1] = U[0, 0] + e1
    T = np.stack([-2.0 * U[0, 2] + e2, rng.standard_normal(d)])[None]
    net = fully_connected(d, n, m, "relu")
    core = compiled.CompiledCore(net.kernel)
    L = n * (n - 1) // 2 + n * m
    Bm, V, CB, PB = core._grad_scratch(n, m, d, L, False)
    U2 = U.reshape(n, d)
    edges = core.prepare_chunk(U2, T, n, 0, 1, Bm, V)   # the count of pairs with c^2 > 0.81
    assert edges == 2
    np.arccos(CB[:L], out=PB[:L])
    core._grad(U2, np.ones(n), T, np.ones((1, m)), core.prm, n, 0, 1, Bm, V, False,
               np.empty((n, d)), np.empty((1, 1)), edges)
    cb = core.grad_ws_layout(n, m, d, Bm, False)[1]
    SB = V[cb + 2 * Bm * L:]       # the sines follow the angles (compiled grad_views)

    def angle(x, y):   # exact enough: the rejection of y from x over the projection
        x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
        return np.arctan2(np.linalg.norm(y - (x @ y) * x), x @ y)

    # packed: student pairs by rows of the lower triangle, (1, 0), (2, 0), (2, 1); then the
    # student-teacher pairs as an (m, n) array
    k10 = 0
    k20 = n * (n - 1) // 2 + 0 * n + 2   # teacher 0, student 2
    assert PB[k10] == pytest.approx(angle(U[0, 0], U[0, 1]), rel=1e-6)
    assert np.sin(PB[k10]) == pytest.approx(SB[k10], rel=1e-12)
    assert np.pi - PB[k20] == pytest.approx(np.pi - angle(U[0, 2], T[0, 0]), rel=1e-6)
    # without the edge pass (arccos of the rounded cosines) the first is far off
    assert abs(np.arccos(CB[k10]) - angle(U[0, 0], U[0, 1])) > 1e-3 * angle(U[0, 0], U[0, 1])


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "abs", "identity", "quadratic", "step",
                                 "erf"])
def test_chunked_grad_all_activations_k20(act):
    """Every activation at k = m = d = 20 (the bench's size), several chunks, output weights
    trained, a shared and a batched teacher: to 2e-15 relative to the largest entry (measured
    4e-16 - 1.1e-15; quadratic's 1.08e-15 is the same with the previous compiled pass)."""
    rng = np.random.default_rng(15)
    net = fully_connected(20, 20, 20, act, train_output=True)
    N = 60
    W = rng.standard_normal((N, 20, 20)) / np.sqrt(20)
    a = rng.standard_normal((N, 20))
    for V, b in ((rng.standard_normal((20, 20)) / np.sqrt(20), rng.standard_normal(20)),
                 (rng.standard_normal((N, 20, 20)) / np.sqrt(20), rng.standard_normal((N, 20)))):
        ref, got = _both(lambda: net.grad(W, a, V, b))
        assert _rel(ref, got) <= 2e-15


def test_two_threads_give_the_same_bits(monkeypatch):
    """``GRAD_THREADS = 2`` splits the batch at chunk boundaries: the same values bit for bit,
    and the zero-vector error still names the student first."""
    monkeypatch.setattr(compiled, "GRAD_ENTRIES", 2 * 35)
    rng = np.random.default_rng(16)
    net = fully_connected(6, 5, 4, "erf", train_output=True)
    W, a = rng.standard_normal((11, 5, 6)), rng.standard_normal((11, 5))
    V, b = rng.standard_normal((4, 6)), rng.standard_normal(4)
    with _backend.using("numba"):
        one = net.grad(W, a, V, b)
        monkeypatch.setattr(compiled, "GRAD_THREADS", 2)
        two = net.grad(W, a, V, b)
        assert all(np.array_equal(x, y) for x, y in zip(one, two))
        V2 = np.broadcast_to(V, (11, 4, 6)).copy()
        V2[1, 0] = 0.0
        W[9, 2] = 0.0
        with pytest.raises(ValueError, match="^W: every unit"):
            net.grad(W, a, V2, b)
