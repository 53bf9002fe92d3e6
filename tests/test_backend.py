"""The compiled (Numba) backend against the NumPy backend (issue 25): equal results on the edge
points (angles 0 and pi, both sides of the series switch and of the double-double switch,
student at teacher, extreme magnitudes) and at the sizes where the NumPy path changes
(single point, small batches, blocks); the same errors and messages; backend selection."""
from __future__ import annotations

import math

import numpy as np
import pytest

from derivations import runtime as _rt
from derivations.runtime import backend as _backend
from derivations.generated import cnn

numba = pytest.importorskip("numba")

P, K = 10, 8
SERIES = 0.0938083151964686  # the edge series switch of cnn's h(phi) near phi = 0
NEAR_ANGLE = math.acos(_rt.NEAR)  # |cos| = NEAR: the double-double switch


def both(fn, *args, **kw):
    with _backend.using("numpy"):
        r0 = fn(*args, **kw)
    with _backend.using("numba"):
        r1 = fn(*args, **kw)
    return r0, r1


def _rowrel(x, y):
    m = np.max(np.abs(y), axis=-1, keepdims=True)  # (scaled: rows of 1e-200 or 1e200)
    m = np.where(m > 0, m, 1.0)
    return np.linalg.norm((x - y) / m, axis=-1) / np.maximum(np.linalg.norm(y / m, axis=-1), 1e-300)


def assert_equal_backends(r0, r1, v, w_star, rtol=1e-14, a=None, a_star=None):
    """Every output to ``rtol`` relative per row (vectors in norm), plus ``1e-15 / sin^2(phi)``
    on the rows where ``|cos phi| <= NEAR``: there both backends take the angle from its cosine
    in float64 (``sin = sqrt((1 - c)(1 + c))``, ``phi = atan2(sin, cos)``, the rejection
    ``w* - (v.w*/|v|^2) v``), whose rounding (a few ulp of ``v.w*``, summed in another order by
    each backend) moves ``phi`` by ~eps/sin(phi): correct results of either backend differ by
    that much (1e-14 for phi > 0.3 from 0 and pi; 5e-12 at |cos| = NEAR).  Beyond NEAR both
    use double-double and agree to ``rtol``.  Likewise ``a.a*`` (a factor of grad_v), whose
    condition number ``|a||a*|/|a.a*|`` times 1e-16 is added (given ``a``, ``a_star``)."""
    v, w_star = np.broadcast_arrays(np.asarray(v, float), np.asarray(w_star, float))
    v, w_star = (x / np.max(np.abs(x), axis=-1, keepdims=True) for x in (v, w_star))
    c = np.sum(v * w_star, -1) / (np.linalg.norm(v, axis=-1) * np.linalg.norm(w_star, axis=-1))
    s2 = np.maximum(1 - np.minimum(c * c, 1.0), 1e-300)
    tol = rtol + np.where(np.abs(c) > _rt.NEAR, 0.0, 1e-15 / s2).reshape(-1)
    if a is not None:
        a, a_star = np.broadcast_arrays(np.asarray(a, float), np.asarray(a_star, float))
        aa = np.abs(np.sum(a * a_star, -1)) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(a_star, axis=-1))
        tol = tol + (1e-16 / np.maximum(aa, 1e-300)).reshape(-1)
    loss0, loss1 = np.atleast_1d(r0[0]).reshape(-1), np.atleast_1d(r1[0]).reshape(-1)
    err = np.abs(loss1 - loss0) / np.abs(loss0)
    assert np.all(err <= tol), np.max(err / tol)
    for j, n in ((1, P), (2, K)):
        err = _rowrel(np.reshape(r1[j], (-1, n)), np.reshape(r0[j], (-1, n)))
        assert np.all(err <= tol), (j, np.max(err / tol))


def edge_points(rng):
    """(v, a, w_star, a_star) rows at the edges of the emitted code."""
    ws, as_ = rng.standard_normal(P), rng.standard_normal(K)
    u = ws / np.linalg.norm(ws)
    e = rng.standard_normal(P)
    e -= e @ u * u
    e /= np.linalg.norm(e)
    angles = [0.0, 1e-300, 1e-12, 1e-8, 1e-4, SERIES * (1 - 1e-9), SERIES * (1 + 1e-9),
              NEAR_ANGLE * (1 - 1e-6), NEAR_ANGLE * (1 + 1e-6), 0.5, math.pi / 2,
              math.pi - NEAR_ANGLE * (1 + 1e-6), math.pi - NEAR_ANGLE * (1 - 1e-6),
              math.pi - 1e-4, math.pi - 1e-8, math.pi - 1e-12, math.pi]
    rows = []
    nw = np.linalg.norm(ws)
    for t in angles:
        for scale in (1.0, 3.7):
            v = scale * (math.cos(t) * u + math.sin(t) * e)
            for a in (rng.standard_normal(K), nw * as_, nw * as_ * (1 + 1e-9), nw * as_ + 1e-7):
                rows.append((v, a, ws, as_))
    return [np.array(x) for x in zip(*rows)]


def test_edge_points_equal():
    V, A, W, AS = edge_points(np.random.default_rng(5))
    r0, r1 = both(cnn.population_loss_and_grads, V, A, W, AS)
    assert_equal_backends(r0, r1, V, W)
    for i in range(0, len(V), 3):  # single points: the NumPy single-point path
        r0, r1 = both(cnn.population_loss_and_grads, V[i], A[i], W[i], AS[i])
        assert type(r0[0]) is type(r1[0]) and r1[1].shape == (P,) and r1[2].shape == (K,)
        assert_equal_backends(r0, r1, V[i], W[i])


def test_extreme_rows_each_as_numpy_alone():
    """Rows beyond [SAFE_LO, SAFE_HI] go to the NumPy core row by row: equal to NumPy on the
    row alone, and to NumPy on the whole batch (which evaluates its extreme rows in extended
    range and its other rows apart, on the float path: ``_rt.by_rows``), students at their
    teacher included."""
    rng = np.random.default_rng(7)
    rows = []
    for s in (1e-70, 1e70, 1e-200, 1e150):
        rows.append((s * rng.standard_normal(P), rng.standard_normal(K), rng.standard_normal(P),
                     rng.standard_normal(K)))
        rows.append((rng.standard_normal(P), rng.standard_normal(K), s * rng.standard_normal(P),
                     rng.standard_normal(K)))
        ws, as_ = rng.standard_normal(P), rng.standard_normal(K)  # a student at its teacher
        rows.append((3.0 * ws, np.linalg.norm(ws) * as_, ws, as_))
    V, A, W, AS = (np.array(x) for x in zip(*rows))
    r0b, r1 = both(cnn.population_loss_and_grads, V, A, W, AS)
    for i in range(len(V)):
        with _backend.using("numpy"):
            r0 = cnn.population_loss_and_grads(V[i], A[i], W[i], AS[i])
        assert_equal_backends(r0, tuple(r[i] for r in r1), V[i], W[i])
        assert_equal_backends(tuple(r[i] for r in r0b), tuple(r[i] for r in r1), V[i], W[i])


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 2047, 2048, 65535, 65536])
def test_batch_switch_sizes(n):
    rng = np.random.default_rng(n)
    args = (rng.standard_normal((n, P)), rng.standard_normal((n, K)), rng.standard_normal((n, P)),
            rng.standard_normal((n, K)))
    r0, r1 = both(cnn.population_loss_and_grads, *args)
    assert_equal_backends(r0, r1, args[0], args[2], a=args[1], a_star=args[3])
    r0, r1 = both(cnn.population_loss_w_and_grads, *args)
    np.testing.assert_allclose(r1[0], r0[0], rtol=1e-14)


def test_broadcasting_and_out():
    rng = np.random.default_rng(3)
    v, a = rng.standard_normal((2, 3, P)), rng.standard_normal((3, K))
    ws, as_ = rng.standard_normal(P), rng.standard_normal(K)
    r0, r1 = both(cnn.population_loss_and_grads, v, a, ws, as_)
    assert [np.shape(x) for x in r1] == [(2, 3), (2, 3, P), (2, 3, K)]
    assert_equal_backends(r0, r1, v, ws, a=np.broadcast_to(a, (2, 3, K)), a_star=as_)
    bufs = (np.empty((2, 3)), np.empty((2, 3, P)), np.empty((3, 2, K)).transpose(1, 0, 2))
    with _backend.using("numba"):
        out = cnn.population_loss_and_grads(v, a, ws, as_, out=bufs)
    assert all(o is b for o, b in zip(out, bufs))
    for x, y in zip(out, r1):
        np.testing.assert_array_equal(x, y)


BAD = [
    ((np.array([np.nan] + [1.0] * (P - 1)), np.ones(K), np.ones(P), np.ones(K)), "v must be finite"),
    ((np.zeros(P), np.ones(K), np.ones(P), np.ones(K)), "v"),
    ((np.ones(P), np.ones(K), np.ones(P + 1), np.ones(K)), "w_star"),
    ((np.ones(P), np.full(K, 1e300), np.ones(P), np.full(K, -1e300)), "overflows"),
]


@pytest.mark.parametrize("args,match", BAD)
def test_same_errors(args, match):
    msgs = []
    for be in ("numpy", "numba"):
        for batch in (False, True):
            xs = tuple(np.stack([x, x]) for x in args) if batch else args
            with _backend.using(be), pytest.raises(ValueError, match=match) as info:
                cnn.population_loss_and_grads(*xs)
            msgs.append((batch, str(info.value)))
    assert msgs[:2] == msgs[2:]


def test_out_errors_same():
    args = (np.ones(P), np.ones(K), np.arange(1.0, P + 1), np.ones(K))
    for bad in ((np.empty(()),), (np.empty(()), np.empty(P), np.empty(K + 1))):
        msgs = []
        for be in ("numpy", "numba"):
            with _backend.using(be), pytest.raises((TypeError, ValueError)) as info:
                cnn.population_loss_and_grads(*args, out=bad)
            msgs.append(str(info.value))
        assert msgs[0] == msgs[1]


def test_backend_setting(monkeypatch):
    with pytest.raises(ValueError, match="backend must be one of"):
        _backend.set_backend("cuda")
    import derivations

    old = derivations.set_backend("numpy")
    try:
        assert derivations.get_backend() == "numpy" and _backend.active() == "numpy"
        assert _rt.compiled("cnn", "population_loss_and_grads", (1000,)) is None
        derivations.set_backend("auto")
        assert _backend.active() == "numba"
        assert _rt.compiled("cnn", "population_loss_and_grads", (1000,)) is not None
        assert _rt.compiled("cnn", "gd_next_angle", (1000,)) is None  # scalar arguments only: no compiled version
        # numba not installed: auto falls back to NumPy
        monkeypatch.setitem(_backend._cache, "numba", False)
        derivations.set_backend("auto")
        assert _backend.active() == "numpy"
        assert _rt.compiled("cnn", "population_loss_and_grads", (1000,)) is None
    finally:
        derivations.set_backend(old)


def test_env_variable(monkeypatch):
    monkeypatch.setenv("NNDERIVE_BACKEND", "NumPy")
    monkeypatch.setitem(_backend._state, "backend", None)
    assert _backend.get_backend() == "numpy"
    monkeypatch.setenv("NNDERIVE_BACKEND", "fortran")
    monkeypatch.setitem(_backend._state, "backend", None)
    with pytest.raises(ValueError, match="backend must be one of"):
        _backend.get_backend()


def test_equality_test_has_teeth():
    """A compiled kernel with one edge-series coefficient sign-flipped (t^4 of h near phi = 0)
    is caught by the edge-point comparison, though it agrees away from the edge."""
    from pathlib import Path

    import derivations.generated.cnn_numba as gen

    src = Path(gen.__file__).read_text()
    for deco in ("@_nb.jit", "@_nb.helper"):
        src = src.replace(deco, "@numba.njit(error_model='numpy')")
    old = "(1.5707963267948966, -0.3333333333333333, -0.13089969389957473"
    assert src.count(old) >= 2
    src = src.replace(old, "(1.5707963267948966, -0.3333333333333333, 0.13089969389957473")
    ns = {"__name__": "derivations.generated._planted_cnn_numba", "numba": numba}
    exec(compile(src.replace("from . import", "from derivations.generated import"),
                 "<planted cnn_numba>", "exec"), ns)
    V, A, W, AS = edge_points(np.random.default_rng(5))
    shape = _rt.batch_shape(*((n, x, 1) for n, x in zip(("v", "a", "w_star", "a_star"), (V, A, W, AS))))
    planted = ns["population_loss_and_grads"](cnn._population_loss_and_grads_core, shape, V, A, W, AS)
    with _backend.using("numpy"):
        r0 = cnn.population_loss_and_grads(V, A, W, AS)
    with pytest.raises(AssertionError):
        assert_equal_backends(r0, planted, V, W)
    far = slice(4 * 2 * 9, 4 * 2 * 11)  # angles 0.5 and pi/2: no series there
    assert_equal_backends(tuple(r[far] for r in r0), tuple(r[far] for r in planted), V[far], W[far])


def test_mostly_rare_batches_then_common_ones():
    """A batch of near-parallel rows (GD at the teacher) runs the careful pass alone for the next
    calls (``derivations.runtime.numba.run``); results stay equal, and a common batch after it too."""
    rng = np.random.default_rng(7)
    n = 300
    ws = rng.standard_normal((n, P))
    v = 2.0 * ws + 1e-7 * rng.standard_normal((n, P))  # |cos| > NEAR on every row
    a, as_ = rng.standard_normal((n, K)), rng.standard_normal((n, K))
    for _ in range(10):
        assert_equal_backends(*both(cnn.population_loss_and_grads, v, a, ws, as_), v, ws,
                              a=a, a_star=as_)
    v2 = rng.standard_normal((n, P))
    for _ in range(10):
        assert_equal_backends(*both(cnn.population_loss_and_grads, v2, a, ws, as_), v2, ws,
                              a=a, a_star=as_)


ROW_FUNCTIONS = ("gd_next_angle", "gd_next_norm_v_sq", "gd_next_dot", "gd_next_sum")


def _gd_states(rng):
    """Reduced-GD states (phi, |v|, a.a*, 1^T a, |w*|, |a*|, 1^T a*) at the angle edges."""
    rows = []
    for phi in (0.0, 1e-300, 1e-12, 1e-4, 0.5, math.pi / 2, math.pi - 1e-4, math.pi - 1e-12,
                math.pi):
        for _ in range(3):
            k = 49
            nas = abs(rng.standard_normal()) + 0.1
            rows.append((phi, abs(rng.standard_normal()) + 0.05, rng.standard_normal(),
                         rng.standard_normal(), 1.0 + rng.random(), nas,
                         math.sqrt(k) * nas * (2 * rng.random() - 1)))
    return [np.array(x) for x in zip(*rows)]


@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_scalar_row_functions_equal(name):
    """The compiled per-row versions of the reduced-GD steps (the loop of Table 5.1) against the
    public NumPy functions, to 1e-14 relative, at the angle edges."""
    from derivations.generated import cnn_numba

    st = _gd_states(np.random.default_rng(11))
    with _backend.using("numpy"):
        ref = getattr(cnn, name)(*st, 49, 0.1)
    row = getattr(cnn_numba, f"{name}_row")
    got = np.array([row(*(float(x[i]) for x in st), 49, 0.1) for i in range(len(ref))])
    scale = np.maximum(np.abs(ref), 1e-300)
    assert np.all(np.abs(got - ref) <= 1e-14 * scale + 1e-300), np.max(np.abs(got - ref) / scale)


def test_compiled_reduced_gd_loop_equals_numpy():
    """Table 5.1's compiled GD loop and the NumPy loop: the same final states (1e-10 relative
    after 300 steps) and the same retired runs."""
    from numerics.experiments import table5_1 as T

    rng = np.random.default_rng(5)
    n, k = 200, 36
    phi = rng.uniform(0, math.pi, n)
    nv = rng.uniform(0.2, 2.0, n)
    dot, sm = 0.3 * rng.standard_normal(n), 0.3 * rng.standard_normal(n)
    nas = np.full(n, 0.5)
    sas = np.full(n, 0.5 * math.sqrt(k) * 0.4)
    with _backend.using("numpy"):
        ref = T.reduced_gd(phi, nv, dot, sm, nas, sas, k, 0.1, 300)
    with _backend.using("numba"):
        got = T.reduced_gd(phi, nv, dot, sm, nas, sas, k, 0.1, 300)
    for g, r in zip(got[:4], ref[:4]):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-13)
    assert np.array_equal(got[4], ref[4]) and got[4].any() and not got[4].all()


def _pair_rows(rng, n, p=7):
    """``n`` pairs of rows: random, plus parallel, antiparallel, orthogonal, nearly parallel
    (1e-9, both sides of NEAR), and norms 1e-50 / 1e50 (inside the float64 range of the kernel)."""
    x, y = rng.standard_normal((n, p)), rng.standard_normal((n, p))
    u = x[0] / np.linalg.norm(x[0])
    e = rng.standard_normal(p)
    e -= e @ u * u
    e /= np.linalg.norm(e)
    specials = [(u, 2.0 * u), (u, -3.0 * u), (u, e), (u, u + 1e-9 * e),
                (u, math.cos(NEAR_ANGLE * 0.99) * u + math.sin(NEAR_ANGLE * 0.99) * e),
                (u, math.cos(NEAR_ANGLE * 1.01) * u + math.sin(NEAR_ANGLE * 1.01) * e),
                (1e-50 * u, e), (1e50 * u, e)]
    for i, (a, b) in enumerate(specials[: n]):
        x[i], y[i] = a, b
    return x, y


def _cond(x, y):
    """float64 conditioning of x.y (both backends are correct to it; summation order differs)."""
    return 1e-16 * np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1) / np.maximum(
        np.abs(np.sum(x * y, -1)), 1e-300)


@pytest.mark.parametrize("n", [1, 8, 257, 2049])
def test_other_families_equal(n):
    """gaussian, resnet and circulant's compiled functions against NumPy at edge rows and around
    the sizes where the paths change: 1e-14 relative plus the conditioning of x.y."""
    from derivations.generated import circulant, gaussian, resnet

    rng = np.random.default_rng(n)
    x, y = _pair_rows(rng, n)
    s, alpha = rng.random(n) + 0.1, rng.random(n) + 0.1
    cases = [(gaussian.relu_mean, (x,), 0.0), (gaussian.halfspace_second_moment, (x,), 0.0),
             (gaussian.relu_cross_moment, (x, y), 0.0),
             (resnet.gram_H_inf, (x, y, alpha, 3), _cond(x, y)),
             (circulant.output_energy, (x, s, 3, x.shape[-1]), 0.0)]
    for fn, args, cond in cases:
        r0, r1 = both(fn, *args)
        r0, r1 = np.asarray(r0), np.asarray(r1)
        scale = np.abs(r0) if r0.ndim == 1 else np.max(np.abs(r0), axis=-1)
        err = np.abs(r1 - r0) if r0.ndim == 1 else np.max(np.abs(r1 - r0), axis=-1)
        assert np.all(err <= (1e-14 + cond) * scale + 1e-300), (fn.__name__, np.max(err / scale))
