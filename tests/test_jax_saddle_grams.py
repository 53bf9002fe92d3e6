"""The JAX templates (issue 25 item 3): the octopus ``saddle.f`` / ``grad`` / ``hessian``
(``derivations/generated/saddle_jax.py``) and the kernels Grams (``kernels_gram_jax.py``), printed
from the same SymPy pieces as the NumPy templates, against the NumPy backend: public functions
under ``set_backend("jax")`` and the raw JAX functions, on both sides of every region boundary of
the octopus (the points of tests/test_backend_saddle.py) and on the Grams' edge cases (those of
tests/test_backend_grams.py); ``jax.grad`` of the emitted ``f`` equal to the emitted gradient; the
same errors; the modules fresh; and a planted 1e-6 change of a printed coefficient caught.

Agreement rule: 1e-14 relative to the entry or to the float64 conditioning both backends share,
whichever is larger.  The octopus is in fact NumPy's to the bit (its products are rounded where
they stand, so XLA cannot contract them into FMAs, and its sums are unrolled in NumPy's pairwise
order; test_octopus_random_points_bitwise); the scale of its terms is ``(L + gamma) (|x|_inf +
tau)^deg``.  The Grams' scale is ``|x| |y|`` (XLA's ``arccos`` and NumPy's differ by an ulp, the
raw function's product ``X X^T`` sums in XLA's order)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from derivations.generated import kernels, saddle
from derivations.runtime import backend as _backend

jax = pytest.importorskip("jax")

import derivations  # noqa: E402
from derivations import codegen  # noqa: E402
from derivations.generated import kernels_gram_jax, saddle_jax  # noqa: E402
from tests.test_backend_grams import near_rows  # noqa: E402
from tests.test_backend_saddle import GAMMA, L, TAU, edge_points  # noqa: E402

FUNCS = (saddle.f, saddle.grad, saddle.hessian)
GRAMS = ("h_inf_gram", "arccos1_gram", "g_inf_gram", "v_inf_gram")
RTOL = 1e-14


#: the octopus on JAX is NumPy's to the bit with jax 0.4 (every product rounded where it stands);
#: XLA 0.10 (the test extra's newest) may still contract a product into an FMA, differently in a
#: vectorized loop than alone: then within 8 eps of the terms' scale (measured 1.5e-16; the
#: Hessian's cancelling entries 4e-12 of their own size), which ``assert_close`` checks
BITWISE = tuple(int(v) for v in jax.__version__.split(".")[:2]) < (0, 5)


def octopus_scale(name, X, Lv, gv, tv):
    """Per point, the size of the printed terms of ``name`` (homogeneous of degree 2, 1, 0)."""
    X = np.asarray(X, dtype=float)
    c = (np.asarray(Lv) + np.asarray(gv)) * np.ones(X.shape[:-1])
    t = np.asarray(tv) * np.ones(X.shape[:-1])
    if name == "f":
        return c * (np.sum(X * X, axis=-1) + X.shape[-1] * t * t)
    if name == "grad":
        return (c * (np.abs(X).max(axis=-1) + t))[..., None]
    return c[..., None, None]


def assert_close(r1, r0, scale):
    assert type(r1) is type(r0) and np.shape(r1) == np.shape(r0)
    r1, r0 = np.asarray(r1), np.asarray(r0)
    assert r1.dtype == np.float64
    assert np.array_equal(np.isnan(r1), np.isnan(r0))
    inf = np.isinf(r0)  # (overflowing entries, e.g. a Gram of rows at 1e200: the same inf)
    assert np.array_equal(r1[inf], r0[inf])
    r1, r0 = np.where(inf, 0.0, r1), np.where(inf, 0.0, r0)
    bad = np.abs(r1 - r0) > RTOL * np.maximum(np.abs(r0), scale)
    assert not bad.any(), (np.argwhere(bad)[:5], r1[bad][:5], r0[bad][:5])


def both(fn, *args):
    with _backend.using("numpy"):
        r0 = fn(*args)
    with _backend.using("jax"):
        r1 = fn(*args)
    return r0, r1


def test_routed():
    with _backend.using("jax"):
        for fn in FUNCS:
            assert _backend.compiled("saddle", fn.__name__, (5,)) is saddle_jax.BACKEND[fn.__name__]
        for g in GRAMS:
            assert _backend.compiled("kernels_gram", g, (5, 5)) is kernels_gram_jax.BACKEND[g]
    assert derivations.jax_functions("saddle") is saddle_jax
    assert derivations.jax_functions("kernels").h_inf_gram is kernels_gram_jax.h_inf_gram


# ------------------------------------------------------------------------------------------------
# the octopus
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [3, 9])  # (d = 9: NumPy's 8-accumulator order of S_conv, S_tail)
def test_octopus_edges(d):
    """Both sides of every region boundary (|x_a| at 0, tau, 2 tau; converged coordinates at 2, 4,
    6 tau; the next at tau; every region a = 0..d): public (a batch, and single points at d = 3:
    the shape-() path) and raw (``jax.vmap``, d = 3) equal to the NumPy backend, in fact to the bit."""
    X = edge_points(d)
    for fn in FUNCS:
        sc = octopus_scale(fn.__name__, X, L, GAMMA, TAU)
        r0, r1 = both(fn, X, L, GAMMA, TAU)
        assert_close(r1, r0, sc)
        assert np.array_equal(r1, r0) or not BITWISE, fn.__name__
        if d == 3:
            raw = jax.vmap(getattr(saddle_jax, fn.__name__), in_axes=(0, None, None, None))(X, L, GAMMA, TAU)
            assert_close(np.asarray(raw), r0, sc)
            for i in range(0, len(X), max(1, len(X) // 12)):
                assert_close(*both(fn, X[i], L, GAMMA, TAU)[::-1], sc[i])


def test_octopus_random_points_bitwise():
    """Random points of D (30% on boundaries), d = 3: the public JAX functions give
    NumPy's bits (every product rounded where it stands, the sums in NumPy's order), and a point
    alone gives the bits it has in the batch (``nnderive check saddle --backend jax`` needs both)."""
    from numerics.checks.saddle import points_in_D

    for d in (3,):  # (d = 9: test_octopus_edges)
        X = points_in_D(np.random.default_rng(d), 257, d, TAU)
        for fn in FUNCS:
            r0, r1 = both(fn, X, L, GAMMA, TAU)
            sc = octopus_scale(fn.__name__, X, L, GAMMA, TAU)
            assert_close(r1, r0, sc)
            assert np.array_equal(r0, r1) or not BITWISE, (d, fn.__name__)
            if d == 3:
                with _backend.using("jax"):
                    for i in range(0, 257, 64):
                        one = fn(X[i], L, GAMMA, TAU)
                        assert np.array_equal(one, r1[i]) or not BITWISE
                        assert np.all(np.abs(one - r1[i]) <= 8 * np.finfo(float).eps * sc[i])


@pytest.mark.parametrize("tau", [5e-324, 1e-310, 1e-300, 1e300, 1.7e308])
def test_octopus_extreme_tau(tau):
    """The ``tau`` scaling (``frexp`` / ``ldexp``) at subnormal and huge tau: NumPy's values, or
    NumPy's error where the result leaves float64 (the row goes to the NumPy core)."""
    X = np.array([[0.5, 0.1, 0.0], [2.5, 0.5, -1.0], [-6.0, 1.9, 0.99], [1.0, 0.2, 0.3]]) * tau
    X = X[np.all(np.isfinite(X), axis=1)]
    for fn in FUNCS:
        for Lv, x in [(L, x) for x in X] + [(3e300, x) for x in X]:  # (one point at a time: one XLA compile)
            try:
                with _backend.using("numpy"):
                    r0 = fn(x, Lv, GAMMA, tau)
            except ValueError as exc:
                with _backend.using("jax"), pytest.raises(ValueError) as got:
                    fn(x, Lv, GAMMA, tau)
                assert str(got.value) == str(exc)
                continue
            with _backend.using("jax"):
                r1 = fn(x, Lv, GAMMA, tau)
            assert_close(r1, r0, octopus_scale(fn.__name__, x, Lv, GAMMA, tau))


def test_octopus_batches_and_layouts():
    """Batch sizes 0 and 257; per-row L / gamma / tau; one point shared by a batch of tau; a
    partly broadcast (2, 1, d) x (1, 3) batch."""
    from numerics.checks.saddle import points_in_D

    rng = np.random.default_rng(7)
    taus = np.array([0.3, 1.0, TAU, 17.0, 1e-5, 1e5])
    Xt = np.stack([points_in_D(rng, 1, 3, t)[0] for t in taus])
    Ls = np.array([1.0, 2.0, 3.5, 1.0, 10.0, 1.5])
    gs = np.array([1.0, 0.5, 1.0, 1.0, 2.0, 1.5])
    x0 = np.array([0.3, -0.2, 0.1])
    X2 = points_in_D(rng, 2, 3, 1.0).reshape(2, 1, 3)
    L2 = np.array([[1.0, 2.0, 3.0]])
    cases = [(points_in_D(rng, n, 3, TAU), L, GAMMA, TAU) for n in (0, 257)]  # (one point: test_octopus_edges)
    cases += [(Xt, Ls, gs, taus), (x0, 2.0, 1.0, np.array([0.3, 1.0, TAU, 17.0, 1e5])), (X2, L2, 1.0, 1.0)]
    for k, args in enumerate(cases):
        for fn in FUNCS if k < 3 else (saddle.grad,):  # (the layouts: the same glue for the three)
            r0, r1 = both(fn, *args)
            X, Lv, gv, tv = (np.asarray(a, dtype=float) for a in args)
            shape = r0.shape[:r0.ndim - {"f": 0, "grad": 1, "hessian": 2}[fn.__name__]]
            sc = octopus_scale(fn.__name__, np.broadcast_to(X, shape + X.shape[-1:]),
                               np.broadcast_to(Lv, shape), np.broadcast_to(gv, shape), np.broadcast_to(tv, shape))
            assert_close(r1, r0, sc)


@pytest.mark.parametrize("x, msg", [
    ([7.0 * TAU, 0.0, 0.0], "a coordinate with |x_j| > 6 tau"),  # (d = 3 throughout: fewer XLA compiles)
    ([0.0, 1.5 * TAU, 0.0], "every later |x_j| must be <= tau"),
    ([3.0 * TAU, 0.5, 1.01 * TAU], "every later |x_j| must be <= tau"),
])
def test_octopus_outside_domain_same_error(x, msg):
    X = np.zeros((257, len(x)))  # (the batch shape of test_octopus_batches_and_layouts: one XLA compile)
    X[137] = x
    for fn in FUNCS:
        for arg in (X, np.array(x)):
            with _backend.using("jax"), pytest.raises(ValueError, match="x must lie in the octopus domain") as e1:
                fn(arg, L, GAMMA, TAU)
            with _backend.using("numpy"), pytest.raises(ValueError) as e0:
                fn(arg, L, GAMMA, TAU)
            assert str(e1.value) == str(e0.value) and msg in str(e1.value)


def test_octopus_bad_arguments_same_error():
    for args in (([1.0], L, GAMMA, TAU), ([0.1, np.nan], L, GAMMA, TAU), ([0.1, 0.2], 0.5, GAMMA, TAU),
                 ([0.1, 0.2], L, GAMMA, -1.0)):
        with _backend.using("jax"), pytest.raises(ValueError) as e1:
            saddle.grad(*args)
        with _backend.using("numpy"), pytest.raises(ValueError) as e0:
            saddle.grad(*args)
        assert str(e1.value) == str(e0.value)


def test_jax_grad_of_f_is_the_emitted_grad():
    """``jax.grad`` of the emitted JAX ``f`` equals the emitted (SymPy-derived) ``grad``, and
    ``jax.jacfwd`` of that the emitted ``hessian`` (where no coordinate is 0), to 1e-14 of the
    scale of the terms at the edge points off the region boundaries, 1e-12 on them (measured:
    3e-15 and 3e-14; the function is C^2, AD differentiates the piece the point selects)."""
    X = edge_points(3)
    sc = octopus_scale("grad", X, L, GAMMA, TAU)
    g_ad = np.asarray(jax.vmap(jax.grad(saddle_jax.f), in_axes=(0, None, None, None))(X, L, GAMMA, TAU))
    g = np.asarray(jax.vmap(saddle_jax.grad, in_axes=(0, None, None, None))(X, L, GAMMA, TAU))
    y = np.abs(X) / TAU
    boundary = np.any(np.isclose(y, 1.0, rtol=1e-11, atol=0) | np.isclose(y, 2.0, rtol=1e-11, atol=0), axis=1)
    assert (~boundary).sum() > 100 and boundary.sum() > 100
    err = np.abs(g_ad - g) / sc
    assert err[~boundary].max() <= 1e-14, err[~boundary].max()
    assert err.max() <= 1e-12, err.max()
    H_ad = np.asarray(jax.vmap(jax.jacfwd(saddle_jax.grad), in_axes=(0, None, None, None))(X, L, GAMMA, TAU))
    H = np.asarray(jax.vmap(saddle_jax.hessian, in_axes=(0, None, None, None))(X, L, GAMMA, TAU))
    errH = np.abs(H_ad - H).reshape(len(X), -1).max(axis=1) / (L + GAMMA)
    smooth = ~np.any(X == 0, axis=1)  # (AD of sign(x) |x|' at x_j = 0 is 0, the Hessian's is not)
    assert errH[smooth & ~boundary].max() <= 1e-14, errH[smooth & ~boundary].max()
    assert errH[smooth].max() <= 1e-12, errH[smooth].max()


def _planted(module, old, new, count=1):
    src = Path(module.__file__).read_text()
    assert src.count(old) == count, (old, src.count(old))
    ns = {"__name__": f"derivations.generated._planted_{Path(module.__file__).stem}"}
    exec(compile(src.replace(old, new), f"<planted {module.__name__}>", "exec"), ns)
    return ns


def test_octopus_planted_error_caught():
    """The JAX octopus with one printed coefficient changed by 1e-6 relative (nu's ``37 * L``
    in ``f``) fails the comparison with the NumPy backend at the edge points."""
    from derivations import runtime as _rt

    ns = _planted(saddle_jax, "_r(37 * L, _z)", "_r(37.000037 * L, _z)")
    X = edge_points(3)
    shape = _rt.batch_shape(("x", X, 1))
    r1 = ns["_f_batch"](saddle._f_core, shape, X, np.float64(L), np.float64(GAMMA), np.float64(TAU))
    with _backend.using("numpy"):
        r0 = saddle.f(X, L, GAMMA, TAU)
    with pytest.raises(AssertionError):
        assert_close(r1, r0, octopus_scale("f", X, L, GAMMA, TAU))


# ------------------------------------------------------------------------------------------------
# the Grams
# ------------------------------------------------------------------------------------------------


def gram_scale(X):
    with np.errstate(over="ignore"):  # (rows at 1e200: the Gram overflows too; assert_close)
        n = np.linalg.norm(np.asarray(X, dtype=float), axis=-1)
        return n[..., :, None] * n[..., None, :]


def gram_cases():
    rng = np.random.default_rng(4)
    big = rng.standard_normal((60, 7))
    X = near_rows(rng)
    big[[3, 30, 59]] = X[:3]  # duplicates
    big[[20, 21]] = -X[3], X[5]  # antiparallel, near-parallel
    mixed = rng.standard_normal((30, 5)) * np.where(np.arange(30) % 3 == 0, 1e-20, 1.0)[:, None]
    return {"n=1": rng.standard_normal((1, 4)), "n=2": rng.standard_normal((2, 40)),
            "n=3": rng.standard_normal((3, 6)), "near": X, "near among many": big,
            "mixed norms": mixed, "extreme norms": rng.standard_normal((30, 5)) * 1e200,
            "batch": rng.standard_normal((2, 3, 20, 4))}


@pytest.mark.parametrize("name", GRAMS)
def test_grams_public(name):
    """Public Grams on the JAX backend equal to NumPy's: n = 1, 2, 3, near-parallel, antiparallel
    and duplicate rows (the NumPy pair form on them), mixed norms, norms beyond [1e-150, 1e150]
    and batches of data sets (the NumPy path)."""
    fn = getattr(kernels, name)
    for case, X in gram_cases().items():
        r0, r1 = both(fn, X)
        assert_close(r1, r0, 2 * np.finfo(float).eps / RTOL * gram_scale(X))
        if case in ("n=1", "n=3", "near", "near among many"):
            with _backend.using("jax"):  # (the JAX runner took the call)
                assert kernels_gram_jax.BACKEND[name](np.asarray(X), np.linalg.norm(X, axis=-1)) is not None


@pytest.mark.parametrize("name", GRAMS)
def test_grams_raw(name):
    """The raw Grams (one data set, and ``jax.vmap`` over a batch; n = 1, near rows, mixed norms
    and a batch for ``arccos1``, the one that cancels near pi, near rows and a batch for the
    others): NumPy's values; the
    near-parallel pairs by the printed pair row (where the closed form would cancel: ``arccos1``
    near pi), so the comparison includes them."""
    raw = getattr(kernels_gram_jax, name)
    with _backend.using("numpy"):
        for case, X in gram_cases().items():
            if case in ("extreme norms", "n=2", "n=3", "near among many") or case not in ("near", "batch") and name != "arccos1_gram":
                continue  # (no extended range in the raw functions; fewer XLA compiles: ~0.5 s each)
            r0 = getattr(kernels, name)(X)
            r1 = np.asarray(jax.vmap(jax.vmap(raw))(X) if X.ndim == 4 else raw(X))
            # (XLA sums the product X X^T in its own order: d terms, measured <= 3.3 eps |x||y|)
            assert_close(r1, r0, max(2, X.shape[-1]) * np.finfo(float).eps / RTOL * gram_scale(X))


def test_grams_raw_derivative():
    """``jax.jvp`` of a raw Gram (the closed form's derivative off the near pairs) against a
    central difference."""
    rng = np.random.default_rng(9)
    X, T = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    for name in ("arccos1_gram",):
        raw = getattr(kernels_gram_jax, name)
        _, dG = jax.jvp(raw, (X,), (T,))
        h = 1e-6
        fd = (np.asarray(raw(X + h * T)) - np.asarray(raw(X - h * T))) / (2 * h)
        np.testing.assert_allclose(np.asarray(dG), fd, rtol=1e-6, atol=1e-7)
        assert np.isfinite(np.asarray(jax.grad(lambda Y: raw(Y).sum())(X))).all()


@pytest.mark.parametrize("X, msg", [
    (np.zeros((3, 2)), "nonzero rows"),
    (np.ones(3), "shape (..., n, d)"),
    (np.ones((0, 3)), "at least one data point"),
    (np.array([[1.0, np.nan]]), "X"),
])
def test_grams_errors_unchanged(X, msg):
    for name in GRAMS:
        fn = getattr(kernels, name)
        with _backend.using("jax"), pytest.raises(ValueError) as e1:
            fn(X)
        with _backend.using("numpy"), pytest.raises(ValueError) as e0:
            fn(X)
        assert str(e1.value) == str(e0.value) and msg in str(e1.value)


def test_grams_planted_error_caught():
    """``arccos1_gram``'s printed constant ``1/(2 pi)`` changed by 1e-6 relative in a copy of the
    generated module: the comparison with NumPy fails (the pair rows keep theirs)."""
    ns = _planted(kernels_gram_jax, "(_c * jnp.pi + _s - _c * phi_x_y) * (1 / 2 / jnp.pi), dot_x_y.shape)",
                  "(_c * jnp.pi + _s - _c * phi_x_y) * (1.000001 / 2 / jnp.pi), dot_x_y.shape)")
    X = np.random.default_rng(3).standard_normal((12, 5))
    r1, _ = ns["_arccos1_gram_batch"](X, np.linalg.norm(X, axis=-1))
    with _backend.using("numpy"):
        r0 = kernels.arccos1_gram(X)
    with pytest.raises(AssertionError):
        assert_close(r1, r0, 2 * np.finfo(float).eps / RTOL * gram_scale(X))


def test_generated_fresh():
    """``saddle_jax.py`` and ``kernels_gram_jax.py`` (and kernels_jax.py's re-export) are what
    ``nnderive build saddle kernels`` writes."""
    from derivations.codegen import jax as codegen_jax
    from derivations.codegen.templates import kernels_gram_jax as tk, saddle_jax as ts

    gen = Path(codegen.GENERATED_DIR)
    built = {gen / "saddle_jax.py": ts.module_source("saddle"),
             gen / "kernels_gram_jax.py": tk.module_source("kernels"),
             gen / "kernels_jax.py": codegen_jax.module_source("kernels", (gen / "kernels.py").read_text())}
    for path, src in built.items():
        assert path.read_text() == src, f"{path.name} is stale: run `nnderive build`"
    assert "from derivations.generated.kernels_gram_jax import h_inf_gram" in built[gen / "kernels_jax.py"]
