"""The compiled Grams (``derivations/generated/kernels_gram_numba.py``, issue 25 item 2) against
the NumPy backend: ``h_inf_gram``, ``arccos1_gram``, ``g_inf_gram``, ``v_inf_gram`` agree to
1e-14 relative per entry (off the near-parallel pairs to the last bit: the same operations in the
same order) on random data at n = 1, 2 and around the tile boundaries, with near-parallel,
antiparallel and duplicate rows, extreme norms (the NumPy path), batches of data sets; symmetric
where NumPy's is; the same errors and messages."""
from __future__ import annotations

import numpy as np
import pytest

from derivations.generated import kernels
from derivations.runtime import backend as _backend

numba = pytest.importorskip("numba")

NAMES = ("h_inf_gram", "arccos1_gram", "g_inf_gram", "v_inf_gram")
#: the printed expression is symmetric in the pair (NumPy's Gram is then exactly symmetric)
SYMMETRIC = ("h_inf_gram", "arccos1_gram", "g_inf_gram")


def both(name, X):
    fn = getattr(kernels, name)
    with _backend.using("numpy"):
        r0 = fn(X)
    with _backend.using("numba"):
        r1 = fn(X)
    return r0, r1


def assert_same(r0, r1):
    assert type(r0) is type(r1) and r0.shape == r1.shape and r1.dtype == np.float64
    np.testing.assert_allclose(r1, r0, rtol=1e-14, atol=0)


def tile_rows(n):
    from derivations.generated import kernels_gram_numba as g
    return max(1, min(n, g.TILE // n))


def test_compiled_in_use():
    """The numba backend hands these Grams to the compiled module (else the tests below compare
    NumPy with itself)."""
    with _backend.using("numba"):
        for name in NAMES:
            assert _backend.compiled("kernels_gram", name, (5, 5)) is not None
    with _backend.using("numpy"):
        assert _backend.compiled("kernels_gram", "h_inf_gram", (5, 5)) is None


@pytest.mark.parametrize("n", [1, 2, 3, 181, 182, 183, 200, 257])
@pytest.mark.parametrize("name", NAMES)
def test_random_bitwise(name, n):
    """Random rows (no near-parallel pair): equal to the last bit; one tile (n <= 181) or several
    (the last one short)."""
    if n > 181:
        assert tile_rows(n) < n  # (several tiles)
    X = np.random.default_rng(n).standard_normal((n, 40)) * np.exp(np.random.default_rng(1).uniform(-3, 3, (n, 1)))
    r0, r1 = both(name, X)
    assert_same(r0, r1)
    off = np.abs(r0 - r1) > 0
    assert not off.any()
    if name in SYMMETRIC:
        assert np.array_equal(r1, r1.T)


def near_rows(rng, d=7):
    x, y = rng.standard_normal(d), rng.standard_normal(d)
    z = x.copy()
    z[0] += 1e-9
    rows = [x, x, 3.0 * x, -x, -2.5 * x, z, -z, x + 1e-13 * y, x + 1e-5 * y, x + 0.4 * y, -x + 1e-7 * y,
            y, y * 1e-3, x - (x @ y) / (y @ y) * y]  # duplicates, (anti)parallel, near them, orthogonal
    return np.array(rows)


@pytest.mark.parametrize("name", NAMES)
def test_near_parallel_and_duplicates(name):
    """Near-parallel, antiparallel, duplicate and orthogonal rows (the pair form off the
    diagonal, Kahan's angle 0 on it), alone and among many rows across tiles."""
    rng = np.random.default_rng(4)
    X = near_rows(rng)
    assert_same(*both(name, X))
    big = rng.standard_normal((400, 7))
    big[[3, 150, 399]] = X[:3]  # duplicates in different tiles
    big[[200, 201]] = -X[3], X[5]
    r0, r1 = both(name, big)
    assert_same(r0, r1)
    if name in SYMMETRIC:  # (v_inf's printed products of the norms round differently per order)
        np.testing.assert_allclose(r1, r1.T, rtol=1e-14, atol=0)


@pytest.mark.parametrize("scale", [1e-200, 1e-151, 1e-140, 1e-20, 1e20, 1e140, 1e151, 1e200])
@pytest.mark.parametrize("name", NAMES)
def test_extreme_norms(name, scale):
    """Tiny and huge rows (outside [1e-150, 1e150] the NumPy path takes the call), and rows of
    very different norms in one data set."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 5))
    for Y in (X * scale, X * np.where(np.arange(30) % 3 == 0, scale, 1.0)[:, None]):
        try:
            with np.errstate(all="ignore"):  # (NumPy's own NaN beyond the range: the same here)
                r0, r1 = both(name, Y)
        except ValueError as e0:  # (|x| underflows: NumPy's "nonzero rows", the same here)
            with _backend.using("numba"), pytest.raises(ValueError) as e1:
                getattr(kernels, name)(Y)
            assert str(e1.value) == str(e0)
            continue
        assert_same(r0, r1)


@pytest.mark.parametrize("name", NAMES)
def test_batches_of_data_sets(name):
    """``X`` of shape (..., n, d): the NumPy path (per-call), the same result."""
    X = np.random.default_rng(6).standard_normal((2, 3, 20, 4))
    assert_same(*both(name, X))
    assert_same(*both(name, X[0, 0].tolist()))  # a nested list


@pytest.mark.parametrize("X, msg", [
    (np.zeros((3, 2)), "nonzero rows"),
    (np.array([[1.0, 2.0], [0.0, 0.0]]), "nonzero rows"),
    (np.ones(3), "shape (..., n, d)"),
    (np.ones((0, 3)), "at least one data point"),
    (np.array([[1.0, np.nan]]), "X"),
    (np.array([[1.0, np.inf]]), "X"),
])
@pytest.mark.parametrize("name", NAMES)
def test_errors_unchanged(name, X, msg):
    fn = getattr(kernels, name)
    with _backend.using("numba"), pytest.raises(ValueError) as e1:
        fn(X)
    with _backend.using("numpy"), pytest.raises(ValueError) as e0:
        fn(X)
    assert str(e1.value) == str(e0.value) and msg in str(e1.value)


@pytest.mark.parametrize("name", NAMES)
def test_layouts(name):
    """Fortran order, a strided view, integers: equal to the last bit (off near pairs)."""
    X = np.random.default_rng(7).standard_normal((190, 12))
    for Y in (np.asfortranarray(X), X[::-1, ::2], np.round(X * 10).astype(int)):
        r0, r1 = both(name, Y)
        assert_same(r0, r1)
