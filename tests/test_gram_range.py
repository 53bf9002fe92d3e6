"""The kernels Grams (``h_inf_gram``, ``arccos1_gram``, ``g_inf_gram``, ``v_inf_gram``) at extreme
scales, rows with norms 1e-300..1e300 and mixed in one data set, against the pair functions of the
same expressions (``kernels._<name>_pair``, extended range of their own: :class:`XF`), entry by
entry: relative accuracy where the true entry is a normal float64, +-inf where it overflows
(the pair function raises there; the sign from the rows' exact power-of-two rescaling), 0 or a
subnormal within a few ulps where it underflows, never NaN.  The false "nonzero rows" error at
|x|^2 underflow is gone, the true one stays.  On the NumPy, Numba and (if installed) JAX backends.
A planted error (the Gram's rescaling dropped) fails the same check.  Seed 0 (numpy default_rng)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from derivations import kernels as _model, registry  # noqa: F401  (registers the formulas)
from derivations import runtime as _rt
from derivations.generated import kernels
from derivations.runtime import backend as _backend

NAMES = ("h_inf_gram", "arccos1_gram", "g_inf_gram", "v_inf_gram")
TINY = np.finfo(np.float64).tiny
RTOL = 1e-12  # the Grams against their pair functions in the safe range: ~1e-14 (below)


def backends():
    out = ["numpy"]
    if _backend.numba_available():
        out.append("numba")
    try:
        import jax  # noqa: F401
        out.append("jax")
    except ImportError:
        pass
    return out


def base_rows():
    """Random rows plus a near-parallel, an antiparallel and a duplicate row (the near path)."""
    B = np.random.default_rng(0).standard_normal((6, 3))
    B[3] = B[0] + 1e-9 * B[1]
    B[4] = -2.5 * B[1]
    B[5] = B[2]
    return B


SCALES = {
    "1e-300": [1e-300] * 6, "1e-200": [1e-200] * 6, "1e-170": [1e-170] * 6, "1e-155": [1e-155] * 6,
    "1e155": [1e155] * 6, "1e160": [1e160] * 6, "1e200": [1e200] * 6, "1e300": [1e300] * 6,
    "mixed": [1e-200, 1e200, 1.0, 1e-300, 1e300, 1e154],
    "mixed2": [1e-170, 1e-170, 1e160, 1e160, 3.0, 1e-60],
}


def _pair(formula):
    from derivations.codegen.templates.kernels import _pair_source
    src, pname = _pair_source(formula)
    ns = {"numpy": np, "_rt": _rt, "math": __import__("math")}
    exec(compile(src, f"<{pname}>", "exec"), ns)
    return ns[pname]


def reference(pair, X):
    """Entry by entry by the pair function; None where it reports the true value beyond float64
    (then the expected entry is +-inf, its sign that of the pair at the exactly rescaled rows)."""
    n = X.shape[0]
    _, k = np.frexp(np.max(np.abs(X), axis=1))
    Xs = np.ldexp(X, -k[:, None])
    ref = np.empty((n, n))
    over = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(n):
            try:
                ref[i, j] = pair(X[i], X[j])
            except ValueError:
                over[i, j] = True
                ref[i, j] = np.copysign(np.inf, pair(Xs[i], Xs[j]))
    return ref, over


def bad_entries(G, ref):
    """Count of entries off the reference: NaN; a normal reference not to RTOL; an overflowed one
    not the same inf; an underflowed one more than 4 subnormal ulps (+ RTOL) away."""
    G = np.asarray(G)
    bad = np.isnan(G)
    inf = np.isinf(ref)
    bad |= inf & (G != ref)
    normal = ~inf & (np.abs(ref) >= TINY)
    with np.errstate(all="ignore"):
        bad |= normal & ~(np.abs(G - ref) <= RTOL * np.abs(ref))
    small = ~inf & ~normal
    with np.errstate(all="ignore"):
        bad |= small & ~(np.abs(G - ref) <= 4 * 2.0**-1074 + RTOL * np.abs(ref))
    return int(bad.sum())


@pytest.fixture(scope="module")
def pairs():
    return {name: _pair(registry._REGISTRY[f"kernels.{name}"]) for name in NAMES}


@pytest.fixture(scope="module")
def refs(pairs):
    B = base_rows()
    out = {}
    for label, s in SCALES.items():
        X = B * np.asarray(s)[:, None]
        for name in NAMES:
            out[label, name] = (X, *reference(pairs[name], X))
    return out


def test_reference_in_safe_range(pairs):
    """The pair functions agree with the Grams at scale 1 (so RTOL is the safe range's accuracy)."""
    X = base_rows()
    for name in NAMES:
        ref, over = reference(pairs[name], X)
        assert not over.any()
        assert bad_entries(getattr(kernels, name)(X), ref) == 0


@pytest.mark.parametrize("bk", backends())
@pytest.mark.parametrize("label", list(SCALES))
@pytest.mark.parametrize("name", NAMES)
def test_extreme_scales(refs, name, label, bk):
    X, ref, over = refs[label, name]
    with _backend.using(bk), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # (no overflow/invalid warnings either)
        G = getattr(kernels, name)(X)
    assert G.shape == (6, 6) and G.dtype == np.float64
    assert not np.isnan(G).any()
    assert bad_entries(G, ref) == 0
    if label in ("1e160", "1e200", "1e300"):
        assert over.any() and np.isinf(G[over]).all()  # (the honest answer: inf, not NaN)


@pytest.mark.parametrize("bk", backends())
@pytest.mark.parametrize("name", NAMES)
def test_batch_of_data_sets(refs, name, bk):
    """A (2, n, d) batch of an extreme and an ordinary data set: each as alone."""
    X1, ref1, _ = refs["mixed", name]
    X0 = base_rows()
    with _backend.using(bk):
        G = getattr(kernels, name)(np.stack([X1, X0]))
        G0 = getattr(kernels, name)(X0)
    assert bad_entries(G[0], ref1) == 0
    np.testing.assert_allclose(G[1], G0, rtol=1e-14, atol=1e-17)  # (JAX: batches go to NumPy)


@pytest.mark.parametrize("bk", backends())
@pytest.mark.parametrize("name", NAMES)
def test_zero_rows(name, bk):
    """|x|^2 underflows (rows 1e-170): no error; a true zero row: the error, as before."""
    fn = getattr(kernels, name)
    X = base_rows() * 1e-170
    with _backend.using(bk):
        assert np.isfinite(fn(X)).all()
        for Z in (np.vstack([X, np.zeros(3)]), np.vstack([base_rows() * 1e200, np.zeros(3)]),
                  np.vstack([base_rows(), np.zeros(3)])):
            with pytest.raises(ValueError, match="X must have nonzero rows"):
                fn(Z)


@pytest.mark.parametrize("name", NAMES)
def test_safe_range_unchanged(name):
    """Norms within [1e-150, 1e150]: the ordinary path (the compiled one is bit-equal to it)."""
    X = base_rows() * np.array([1e-149, 1e149, 1.0, 1e-100, 1e100, 2.0])[:, None]
    with _backend.using("numpy"):
        G0 = getattr(kernels, name)(X)
    if _backend.numba_available():
        with _backend.using("numba"):
            G1 = getattr(kernels, name)(X)
        np.testing.assert_allclose(G1, G0, rtol=1e-14, atol=0)


def test_homogeneity_derived():
    """The degrees come from SymPy on the expression; a non-homogeneous or non-integer-degree
    mutant is recognized (and then goes to the pair form)."""
    import sympy as sp
    from derivations.codegen.templates.kernels import homogeneity
    for name in NAMES:
        assert homogeneity(registry._REGISTRY[f"kernels.{name}"]) == (1, 1)
    f = registry._REGISTRY["kernels.arccos1_gram"]
    nx = next(s for s in f.expr.free_symbols if str(s) == "norm_x")

    class Mutant:
        pass

    for expr in (f.expr + nx, f.expr * sp.sqrt(nx)):
        m = Mutant()
        m.expr = expr
        assert homogeneity(m) is None


def planted(name, mutate):
    """The emitted Gram with ``mutate`` applied to its source, in a namespace of its own."""
    from derivations.codegen.templates.kernels import gram_emitter
    src = mutate(gram_emitter(registry._REGISTRY[f"kernels.{name}"]))
    ns = {"numpy": np, "_rt": _rt, "math": __import__("math")}
    exec(compile(src, f"<planted {name}>", "exec"), ns)
    return ns[name]


@pytest.mark.parametrize("name", ("h_inf_gram", "v_inf_gram"))
def test_planted_error_fails(refs, name):
    """Teeth: the emitted source run as is passes; with the rescaling dropped (the scaled Gram
    returned as is) or with the extreme branch removed (the old code), the check fails."""
    X, ref, _ = refs["mixed", name]
    with _backend.using("numpy"):
        assert bad_entries(planted(name, lambda s: s)(X), ref) == 0
        drop = planted(name, lambda s: s.replace("return numpy.ldexp(_g,", "return (lambda g, e: g)(_g,"))
        assert bad_entries(drop(X), ref) > 0
        old = planted(name, lambda s: s.replace(">= 1e-150 and", ">= 0 and").replace("<= 1e150)", "<= numpy.inf)"))
        X, ref, _ = refs["1e160", name]
        with np.errstate(all="ignore"):
            assert bad_entries(old(X), ref) > 0


def test_not_homogeneous_goes_to_pair_form():
    """A kernel that is not bi-homogeneous (a mutant: arccos1 times (|x| + |y|)/(|x||y|), degree
    1 jointly but not per row) is emitted with the pair form on every pair for extreme rows: its
    values at 1e-200 are 1e-200 times those at scale 1 (the ordinary path)."""
    import copy
    from derivations.codegen.templates.kernels import gram_emitter, homogeneity
    f = copy.copy(registry._REGISTRY["kernels.arccos1_gram"])
    nx, ny = (next(s for s in f.expr.free_symbols if str(s) == v) for v in ("norm_x", "norm_y"))
    f._expr = f.expr * (nx + ny) / (nx * ny)
    assert homogeneity(f) is None
    src = gram_emitter(f)
    assert "_rt._pow2_scale" not in src
    ns = {"numpy": np, "_rt": _rt, "math": __import__("math")}
    exec(compile(src, "<mutant>", "exec"), ns)
    X = base_rows()[[0, 1, 2, 3, 5]]  # (not the antiparallel row: there the true value is 0)
    with _backend.using("numpy"):
        np.testing.assert_allclose(ns["arccos1_gram"](X * 1e-200), ns["arccos1_gram"](X) * 1e-200, rtol=1e-13)
