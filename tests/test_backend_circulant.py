"""The compiled per-frequency spectra of ``circulant.grad``, ``grad_p`` and ``cn_grad_w``
(``derivations/generated/circulant_fft_numba.py``, issue 25 item 2) against the NumPy backend:
the same printed lines entry by entry, so equal to 1e-14 relative (in fact to the last bit) at
odd and even n (the Nyquist frequency), one layer and many (``n**d`` beyond int64), small and
tiny filters, every broadcasting layout of the batch, the batch sizes around ``auto``'s
switch; the same errors."""
from __future__ import annotations

import numpy as np
import pytest

from tests.circulant_cases import circulant_data

from derivations.generated import circulant as G
from derivations.runtime import backend as _backend

numba = pytest.importorskip("numba")


def both(fn, *args):
    with _backend.using("numpy"):
        r0 = fn(*args)
    with _backend.using("numba"):
        r1 = fn(*args)
    return r0, r1


def assert_same(r0, r1):
    assert type(r0) is type(r1) and np.shape(r0) == np.shape(r1)
    np.testing.assert_allclose(r1, r0, rtol=1e-14, atol=0)
    assert np.array_equal(r0, r1)  # the same operations in the same order


def calls(w, x, y, p):
    return (lambda: G.grad(w, x, y), lambda: G.grad_p(w, x, y, p),
            lambda: G.cn_grad_w(w, 1.7, x, y))


_data = circulant_data


@pytest.mark.parametrize("batch, d, n", [((), 1, 2), ((), 2, 7), ((), 3, 8), ((5,), 6, 100),
                                         ((2, 3), 4, 9), ((3,), 20, 64), ((1,), 40, 33)])
def test_spectra_equal(batch, d, n):
    rng = np.random.default_rng(d * n)
    w, x, y = _data(rng, batch, d, n)
    for call in calls(w, x, y, min(3, n)):
        assert_same(*both(call))


@pytest.mark.parametrize("B", [1, 2, 255, 256, 257])
def test_batch_sizes_and_auto(B):
    rng = np.random.default_rng(B)
    w, x, y = _data(rng, (B,), 3, 16)
    for call in calls(w, x, y, 5):
        r0, r1 = both(call)
        assert_same(r0, r1)
        with _backend.using("auto"):
            assert_same(r0, call())


def test_broadcasting_layouts():
    """x and y per batch row, shared, or partly broadcast against the filters' batch."""
    rng = np.random.default_rng(3)
    n, d = 12, 3
    w = rng.standard_normal((4, 1, d, n)) / n
    xs = rng.standard_normal((4, 5, n))
    ys = rng.standard_normal((5, n))
    for x, y in ((xs, ys), (xs[0, 0], ys), (xs[:, :1], ys[0])):
        for call in calls(w, x, y, 4):
            assert_same(*both(call))


def test_extreme_scales():
    """Filters of 1e-100 and 1e100 (the printed factors n**d and n**(d/2) scale them)."""
    rng = np.random.default_rng(5)
    for s in (1e-100, 1e-5, 1e5, 1e30):
        w, x, y = _data(rng, (3,), 4, 10)
        for call in calls(w * s, x, y, 4)[:2]:
            try:
                with _backend.using("numpy"):
                    r0 = call()
            except ValueError as exc:
                with _backend.using("numba"), pytest.raises(ValueError) as got:
                    call()
                assert str(got.value) == str(exc)
                continue
            with _backend.using("numba"):
                assert_same(r0, call())


def test_same_errors():
    """The checks run before the compiled spectrum: the NumPy messages under both backends."""
    rng = np.random.default_rng(9)
    w, x, y = _data(rng, (300,), 3, 8)
    bad = [(lambda: G.grad(w, x[:7], y), "x has length 7"),
           (lambda: G.grad_p(w, x, y, 9), r"p \(kernel size\) must be <= n = 8"),
           (lambda: G.cn_grad_w(w, 1.0, np.ones(8), y), "x is constant"),
           (lambda: G.cn_grad_w(np.zeros_like(w), 1.0, x, y), "w gives a zero product output")]
    for call, msg in bad:
        for b in ("numpy", "numba"):
            with _backend.using(b), pytest.raises(ValueError, match=msg):
                call()
