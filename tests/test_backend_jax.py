"""The JAX backend (issue 25, item 3) against the NumPy backend: equal results on the edge points
(angles 0 and pi, both sides of the series switch and of the double-double switch, student at
teacher) and at the batch sizes where the NumPy path changes; ``jax.grad`` of the emitted JAX
loss equal to the emitted (SymPy-derived) gradient; the same errors; the generated modules
fresh; and a planted error in the JAX printer's output that the comparison catches."""
from __future__ import annotations

import math

import numpy as np
import pytest

from derivations.runtime import backend as _backend
from derivations import runtime as _rt
from derivations.generated import cnn

jax = pytest.importorskip("jax")

from derivations.codegen import jax as codegen_jax  # noqa: E402
from derivations.generated import cnn_jax, filter as filt, kernels, wn  # noqa: E402

P, K = 10, 8
SERIES = 0.0938083151964686  # the edge series switch of cnn's h(phi) near phi = 0
NEAR_ANGLE = math.acos(_rt.NEAR)  # |cos| = NEAR: the double-double switch


def both(fn, *args, **kw):
    with _backend.using("numpy"):
        r0 = fn(*args, **kw)
    with _backend.using("jax"):
        r1 = fn(*args, **kw)
    return r0, r1


def _rowrel(x, y):
    m = np.max(np.abs(y), axis=-1, keepdims=True)
    m = np.where(m > 0, m, 1.0)
    return np.linalg.norm((x - y) / m, axis=-1) / np.maximum(np.linalg.norm(y / m, axis=-1), 1e-300)


def tolerance(v, w_star, rtol=1e-14, a=None, a_star=None):
    """``rtol`` plus the float64 conditioning both backends share (as tests/test_backend.py
    states it): ``1e-15/sin^2 phi`` where ``|cos phi| <= NEAR`` (the angle from the rounded
    cosine), and ``1e-15 |a||a*|/|a.a*|`` (given ``a``, ``a_star``: XLA sums ``a.a*`` in another
    order than NumPy, so the bound is that of a sum of ``K`` terms, not one rounding)."""
    v, w_star = np.broadcast_arrays(np.asarray(v, float), np.asarray(w_star, float))
    v, w_star = (x / np.max(np.abs(x), axis=-1, keepdims=True) for x in (v, w_star))
    c = np.sum(v * w_star, -1) / (np.linalg.norm(v, axis=-1) * np.linalg.norm(w_star, axis=-1))
    s2 = np.maximum(1 - np.minimum(c * c, 1.0), 1e-300)
    tol = rtol + np.where(np.abs(c) > _rt.NEAR, 0.0, 1e-15 / s2).reshape(-1)
    if a is not None:
        a, a_star = np.broadcast_arrays(np.asarray(a, float), np.asarray(a_star, float))
        aa = np.abs(np.sum(a * a_star, -1)) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(a_star, axis=-1))
        tol = tol + (1e-15 / np.maximum(aa, 1e-300)).reshape(-1)
    return tol


def assert_equal_backends(r0, r1, v, w_star, rtol=1e-14, a=None, a_star=None, sizes=(P, K)):
    tol = tolerance(v, w_star, rtol, a, a_star)
    loss0, loss1 = np.atleast_1d(r0[0]).reshape(-1), np.atleast_1d(r1[0]).reshape(-1)
    err = np.abs(loss1 - loss0) / np.abs(loss0)
    assert np.all(err <= tol), np.max(err / tol)
    for j, n in enumerate(sizes, start=1):
        err = _rowrel(np.reshape(r1[j], (-1, n)), np.reshape(r0[j], (-1, n)))
        assert np.all(err <= tol), (j, np.max(err / tol))


ANGLES = [0.0, 1e-300, 1e-12, 1e-8, 1e-4, SERIES * (1 - 1e-9), SERIES * (1 + 1e-9),
          NEAR_ANGLE * (1 - 1e-6), NEAR_ANGLE * (1 + 1e-6), 0.5, math.pi / 2,
          math.pi - NEAR_ANGLE * (1 + 1e-6), math.pi - NEAR_ANGLE * (1 - 1e-6),
          math.pi - 1e-4, math.pi - 1e-8, math.pi - 1e-12, math.pi]


def edge_points(rng):
    """(v, a, w_star, a_star) rows at the edges of the emitted code (as tests/test_backend.py)."""
    ws, as_ = rng.standard_normal(P), rng.standard_normal(K)
    u = ws / np.linalg.norm(ws)
    e = rng.standard_normal(P)
    e -= e @ u * u
    e /= np.linalg.norm(e)
    rows = []
    nw = np.linalg.norm(ws)
    for t in ANGLES:
        for scale in (1.0, 3.7):
            v = scale * (math.cos(t) * u + math.sin(t) * e)
            for a in (rng.standard_normal(K), nw * as_, nw * as_ * (1 + 1e-9), nw * as_ + 1e-7):
                rows.append((v, a, ws, as_))
    return [np.array(x) for x in zip(*rows)]


#: the raw fused function under jit(vmap) (one object: its compilation is shared by the tests)
RAW = jax.jit(jax.vmap(cnn_jax.population_loss_and_grads))


def test_edge_points_equal():
    V, A, W, AS = edge_points(np.random.default_rng(5))
    r0, r1 = both(cnn.population_loss_and_grads, V, A, W, AS)
    assert_equal_backends(r0, r1, V, W)
    # the raw functions carry the careful branches themselves (the public runner hands those
    # rows to NumPy): jit(vmap(...)) of the emitted JAX function, every row in JAX (here nearly
    # every row needs a careful branch: they are evaluated in gathered chunks)
    raw = RAW(V, A, W, AS)
    assert_equal_backends(r0, tuple(np.asarray(x) for x in raw), V, W)
    r0, r1 = both(cnn.population_loss_w_and_grads, V, A, W, AS)
    assert_equal_backends(r0, r1, V, W, sizes=())
    # grad_w = k0 w + k1 w* cancels at the teacher (0 there): both backends' rounding, to the
    # scale of its terms
    na, nas = np.linalg.norm(A, axis=1), np.linalg.norm(AS, axis=1)
    scale = (na**2 + na * nas) * (np.linalg.norm(V, axis=1) + np.linalg.norm(W, axis=1))
    assert np.all(np.linalg.norm(r1[1] - r0[1], axis=1) <= 1e-14 * scale)
    for i in (0, 9, 40, 130):  # single points
        r0, r1 = both(cnn.population_loss_and_grads, V[i], A[i], W[i], AS[i])
        assert type(r0[0]) is type(r1[0]) and r1[1].shape == (P,) and r1[2].shape == (K,)
        assert_equal_backends(r0, r1, V[i], W[i])


def test_other_families_equal():
    """filter, kernels and wn on edge angles (the pairs of the cnn edge points)."""
    V, A, W, AS = edge_points(np.random.default_rng(6))
    V, W = V[::4], W[::4]
    cos = np.sum(V * W, 1) / (np.linalg.norm(V, axis=1) * np.linalg.norm(W, axis=1))
    tol = tolerance(V, W) + 1e-15 / np.maximum(np.abs(cos), 1e-300)  # x.y summed in p terms
    for fn in (filt.population_loss, kernels.h_inf, kernels.arccos1):
        r0, r1 = both(fn, V, W)
        assert np.all(np.abs(r1 - r0) <= tol * np.abs(r0)), fn.__name__
        raw = np.asarray(jax.vmap(getattr(codegen_jax_module(fn), fn.__name__))(V, W))
        assert np.all(np.abs(raw - r0) <= tol * np.abs(r0)), fn.__name__
    r0, r1 = both(filt.population_grad, V, W)
    assert np.all(_rowrel(r1, r0) <= tol)
    g = np.linspace(0.5, 2.0, len(V))
    r0, r1 = both(wn.grad_g_and_grads, V, g, W)
    assert np.all(np.abs(r1[0] - r0[0]) <= tol * np.abs(r0[0]))  # (g v.grad_w/|v|: x.y again)
    for x, y in zip(r1[1:], r0[1:]):
        assert np.all(_rowrel(np.reshape(x, (len(V), -1)), np.reshape(y, (len(V), -1))) <= tol)


def codegen_jax_module(fn):
    import derivations

    return derivations.jax_functions(fn.__module__.rsplit(".", 1)[1])


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 2047, 2048, 65536])
def test_batch_switch_sizes(n):
    rng = np.random.default_rng(n)
    args = (rng.standard_normal((n, P)), rng.standard_normal((n, K)), rng.standard_normal((n, P)),
            rng.standard_normal((n, K)))
    r0, r1 = both(cnn.population_loss_and_grads, *args)
    assert_equal_backends(r0, r1, args[0], args[2], a=args[1], a_star=args[3])


def test_extreme_rows_go_to_numpy():
    """Norms beyond [SAFE_LO, SAFE_HI]: the JAX row is flagged and NumPy evaluates it."""
    rng = np.random.default_rng(7)
    V = np.array([1e-70 * rng.standard_normal(P), 1e150 * rng.standard_normal(P), rng.standard_normal(P)])
    A, W, AS = rng.standard_normal((3, K)), rng.standard_normal((3, P)), rng.standard_normal((3, K))
    with _backend.using("jax"):
        r1 = cnn.population_loss_and_grads(V, A, W, AS)
    for i in range(3):
        with _backend.using("numpy"):
            r0 = cnn.population_loss_and_grads(V[i], A[i], W[i], AS[i])
        assert_equal_backends(r0, tuple(r[i] for r in r1), V[i], W[i])


def test_broadcasting_and_out():
    rng = np.random.default_rng(3)
    v, a = rng.standard_normal((2, 3, P)), rng.standard_normal((3, K))
    ws, as_ = rng.standard_normal(P), rng.standard_normal(K)
    r0, r1 = both(cnn.population_loss_and_grads, v, a, ws, as_)
    assert [np.shape(x) for x in r1] == [(2, 3), (2, 3, P), (2, 3, K)]
    assert_equal_backends(r0, r1, v, ws, a=np.broadcast_to(a, (2, 3, K)), a_star=as_)
    bufs = (np.empty((2, 3)), np.empty((2, 3, P)), np.empty((2, 3, K)))
    with _backend.using("jax"):
        out = cnn.population_loss_and_grads(v, a, ws, as_, out=bufs)
    assert all(o is b for o, b in zip(out, bufs))


BAD = [
    ((np.array([np.nan] + [1.0] * (P - 1)), np.ones(K), np.ones(P), np.ones(K)), "v must be finite"),
    ((np.zeros(P), np.ones(K), np.ones(P), np.ones(K)), "v"),
    ((np.ones(P), np.ones(K), np.ones(P + 1), np.ones(K)), "w_star"),
    ((np.ones(P), np.full(K, 1e300), np.ones(P), np.full(K, -1e300)), "overflows"),
    (("x", np.ones(K), np.ones(P), np.ones(K)), "v"),
]


@pytest.mark.parametrize("args,match", BAD)
def test_same_errors(args, match):
    msgs = []
    for be in ("numpy", "jax"):
        for batch in (False, True):
            xs = tuple(np.stack([x, x]) for x in args) if batch else args
            with _backend.using(be), pytest.raises((TypeError, ValueError), match=match) as info:
                cnn.population_loss_and_grads(*xs)
            msgs.append((batch, type(info.value), str(info.value)))
    assert msgs[:2] == msgs[2:]


def test_selection():
    import derivations

    old = derivations.set_backend("jax")
    try:
        assert _backend.active() == "jax"
        assert _rt.compiled("cnn", "population_loss_and_grads", (5,)) is not None
        assert _rt.compiled("cnn", "gd_next_angle", (5,)) is None  # no JAX version: NumPy
        derivations.set_backend("auto")
        assert _backend.active() != "jax"  # auto never picks JAX
    finally:
        derivations.set_backend(old)
    assert derivations.jax_functions("cnn") is cnn_jax


def test_grad_of_jax_loss_equals_emitted_gradient():
    """``jax.grad`` of the JAX value (the emitted SymPy loss) against the emitted SymPy gradient:
    to 1e-13 of the gradient's scale ``|a.a*||w*|/|v| + |a| + |a*||w*|`` (AD of the closed form
    cancels near phi = pi, where the gradient is ~(pi - phi)^2 of that scale)."""
    V, A, W, AS = edge_points(np.random.default_rng(11))
    grad = jax.jit(jax.vmap(jax.grad(cnn_jax.population_loss, argnums=(0, 1))))
    gv, ga = (np.asarray(x) for x in grad(V, A, W, AS))
    assert np.all(np.isfinite(gv)) and np.all(np.isfinite(ga))
    with _backend.using("numpy"):
        _, gv0, ga0 = cnn.population_loss_and_grads(V, A, W, AS)
    nw = np.linalg.norm(W, axis=1)
    scale = (np.abs(np.sum(A * AS, 1)) * nw / np.linalg.norm(V, axis=1) + np.linalg.norm(A, axis=1)
             + np.linalg.norm(AS, axis=1) * nw)
    assert np.all(np.linalg.norm(gv - gv0, axis=1) <= 1e-13 * scale)
    assert np.all(np.linalg.norm(ga - ga0, axis=1) <= 1e-13 * scale)
    # and the fused JAX gradients agree with jax.grad likewise
    _, gv1, ga1 = (np.asarray(x) for x in RAW(V, A, W, AS))
    assert np.all(np.linalg.norm(gv - gv1, axis=1) <= 1e-13 * scale)
    assert np.all(np.linalg.norm(ga - ga1, axis=1) <= 1e-13 * scale)


def test_generated_fresh():
    built = codegen_jax.build(write=False)
    assert {p.name for p in built} == {f"{f}_jax.py" for f in codegen_jax.FAMILIES}
    for path, src in built.items():
        assert src == path.read_text(), f"{path.name} is stale: run `nnderive build`"


def test_planted_error_caught():
    """The JAX module with one edge-series coefficient sign-flipped (t^4 of h near phi = 0) is
    caught by the edge-point comparison, though it agrees away from the edge."""
    from pathlib import Path

    src = Path(cnn_jax.__file__).read_text()
    old = "(1.5707963267948966, -0.3333333333333333, -0.13089969389957473"
    assert src.count(old) >= 2
    src = src.replace(old, "(1.5707963267948966, -0.3333333333333333, 0.13089969389957473")
    ns = {"__name__": "derivations.generated._planted_cnn_jax"}
    exec(compile(src.replace("from . import", "from derivations.generated import"),
                 "<planted cnn_jax>", "exec"), ns)
    V, A, W, AS = edge_points(np.random.default_rng(5))
    shape = _rt.batch_shape(*((n, x, 1) for n, x in zip(("v", "a", "w_star", "a_star"), (V, A, W, AS))))
    planted = ns["BACKEND"]["population_loss_and_grads"](cnn._population_loss_and_grads_core, shape, V, A, W, AS)
    with _backend.using("numpy"):
        r0 = cnn.population_loss_and_grads(V, A, W, AS)
    with pytest.raises(AssertionError):
        assert_equal_backends(r0, planted, V, W)
    far = slice(4 * 2 * 9, 4 * 2 * 11)  # angles 0.5 and pi/2: no series there
    assert_equal_backends(tuple(r[far] for r in r0), tuple(r[far] for r in planted), V[far], W[far])


def test_out_buffers_and_errors_same():
    args = (np.ones(P), np.ones(K), np.arange(1.0, P + 1), np.ones(K))
    bufs = (np.empty(()), np.empty(P), np.empty(K))
    with _backend.using("jax"):
        out = cnn.population_loss_and_grads(*args, out=bufs)
    assert all(o is b for o, b in zip(out, bufs))
    for bad in ((np.empty(()),), (np.empty(()), np.empty(P), np.empty(K + 1))):
        msgs = []
        for be in ("numpy", "jax"):
            with _backend.using(be), pytest.raises((TypeError, ValueError)) as info:
                cnn.population_loss_and_grads(*args, out=bad)
            msgs.append(str(info.value))
        assert msgs[0] == msgs[1]


def test_planted_runtime_error_caught(monkeypatch):
    """The raw functions' careful branch with Dekker's product error dropped (``two_prod``
    returning ``(a b, 0)``: the near-parallel rejection and angle then lose ~eps/phi) is caught
    by the edge-point comparison of the raw functions."""
    from derivations.runtime import jax as jr

    V, A, W, AS = edge_points(np.random.default_rng(5))
    with _backend.using("numpy"):
        r0 = cnn.population_loss_and_grads(V, A, W, AS)
    monkeypatch.setattr(jr, "two_prod", lambda a, b: (a * b, 0.0 * a * b))
    planted = jax.jit(jax.vmap(lambda *x: cnn_jax._population_loss_and_grads_row(*x)[:-1]))(V, A, W, AS)
    with pytest.raises(AssertionError):
        assert_equal_backends(r0, tuple(np.asarray(x) for x in planted), V, W)


def test_cli_backend_jax_without_jax(monkeypatch, capsys):
    """``check --backend jax`` without JAX: one line and exit 2."""
    import importlib.util

    from numerics.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "jax" else real(n, *a))
    old = _backend.get_backend()
    try:
        assert main(["check", "cnn.A", "--backend", "jax", "--quiet"]) == 2
    finally:
        _backend.set_backend(old)
    assert "nnderive[jax]" in capsys.readouterr().err


def _numpy_facing(f, raw):
    """A JAX one-point function as the checks call a public function: broadcasting over leading
    axes (``jnp.vectorize``), integers passed as they are, NumPy results."""
    import jax.numpy as jnp

    ints = {i for i, a in enumerate(f.args) if a.kind == "int"}
    sig = ",".join(f"(p{i})" if a.kind == "vector" else "()" for i, a in enumerate(f.args)
                   if i not in ints)
    vec = jnp.vectorize(raw, excluded=ints, signature=f"{sig}->{'()' if f.rank == 0 else '(q)'}")

    def call(*args):
        return np.asarray(vec(*[a if i in ints else jnp.asarray(a, float) for i, a in enumerate(args)]))

    return call


RAW_ONLY = [(fam, n) for fam in codegen_jax.FAMILIES for n in codegen_jax.names(fam)
            if n not in __import__("derivations").jax_functions(fam).BACKEND]


@pytest.mark.parametrize("family,name", RAW_ONLY)
def test_raw_only_functions_vs_50_digits(family, name):
    """The JAX functions whose public function has no compiled dispatch (raw only: a_opt,
    profile_loss, spurious_*, g_inf, ...) through their registered mpmath rows (float64 vs the
    SymPy expression at 50 digits, at the formula's edge points, and batch vs single calls)."""
    import derivations
    from numerics import checks, harness

    f = derivations.get(f"{family}.{name}")
    subject = harness.Subject(f, _numpy_facing(f, getattr(derivations.jax_functions(family), name)))
    rows = [r for c in checks.for_formula(f.name) if c.kind == "mpmath"
            for r in harness.run_check(c, subject, harness.Context(quick=True))]
    assert rows and all(r.passed for r in rows), [(r.stat, r.detail) for r in rows]


#: the per-row functions of gaussian, resnet and circulant (the Numba printer's other families),
#: printed by the JAX printer too
LATER = [(fam, n) for fam in ("gaussian", "resnet", "circulant") for n in codegen_jax.names(fam)]


@pytest.mark.parametrize("family,name", LATER)
def test_gaussian_resnet_circulant_on_jax(family, name):
    """Each JAX function of gaussian, resnet and circulant: its public function on the JAX
    backend passes every registered check row of its formula (quadrature / dense references,
    Monte Carlo, 50-digit rows at the edge points, whose extreme-range rows the public path
    hands to the NumPy core); the raw one-point function (vmapped by the harness) passes the
    reference rows (points in float range: raw JAX carries no extended range)."""
    import importlib

    import derivations
    from numerics import checks, harness

    f = derivations.get(f"{family}.{name}")
    assert name in derivations.jax_functions(family).BACKEND  # routed by the public function
    public = getattr(importlib.import_module(f"derivations.generated.{family}"), name)
    cases = checks.for_formula(f.name)
    with derivations.using_backend("jax"):
        rows = [r for c in cases
                for r in harness.run_check(c, harness.Subject(f, public), harness.Context(quick=True))]
    assert rows and all(r.passed for r in rows), [(r.kind, r.stat, r.detail) for r in rows]
    raw = harness.Subject(f, _numpy_facing(f, getattr(derivations.jax_functions(family), name)))
    rows = [r for c in cases if c.kind in ("reference", "dense")
            for r in harness.run_check(c, raw, harness.Context(quick=True))]
    assert rows and all(r.passed for r in rows), [(r.kind, r.stat, r.detail) for r in rows]
