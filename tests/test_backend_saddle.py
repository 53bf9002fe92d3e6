"""The compiled octopus (``derivations/generated/saddle_numba.py``, issue 25 item 2) against the
NumPy backend: ``saddle.f``, ``grad`` and ``hessian`` agree to 1e-14 relative per entry (they
are printed from the same pieces with the same operations: in fact to the last bit) on both
sides of every region boundary of (7.12)/(7.13), at extreme ``tau`` (the ``ldexp`` fallback of
the scaling), at the batch sizes around ``auto``'s switch and in every broadcasting layout; the
same errors and messages."""
from __future__ import annotations

import math

import numpy as np
import pytest

from derivations.generated import saddle
from derivations.runtime import backend as _backend

numba = pytest.importorskip("numba")

FUNCS = (saddle.f, saddle.grad, saddle.hessian)
TAU, L, GAMMA = math.e, math.e, 1.0


def both(fn, *args):
    with _backend.using("numpy"):
        r0 = fn(*args)
    with _backend.using("numba"):
        r1 = fn(*args)
    return r0, r1


def assert_same(r0, r1):
    """Same type and shape, every entry to 1e-14 relative (+-0 equal)."""
    assert type(r0) is type(r1) and np.shape(r0) == np.shape(r1)
    np.testing.assert_allclose(r1, r0, rtol=1e-14, atol=0)


def edge_points(d, tau=TAU, rng=None):
    """Points of D on both sides of each boundary: the active coordinate's |x_a| at 0, tau (the
    quadratic/spline switch) and 2 tau (the switch of the active coordinate), a converged one
    at 2 tau and 6 tau (the domain's edge), the next one at tau; every region (a = 0 .. d);
    random signs."""
    rng = rng or np.random.default_rng(d)
    rows = []
    for a in range(d + 1):
        for xa in (0.0, 1e-300, 1e-12 * tau, np.nextafter(tau, 0), tau, np.nextafter(tau, 3 * tau),
                   tau * (1 - 1e-12), tau * (1 + 1e-12), 1.7 * tau, np.nextafter(2 * tau, 0), 2 * tau):
            for conv in (2 * tau, np.nextafter(6 * tau, 0), 6 * tau, 4 * tau, np.nextafter(4 * tau, 0)):
                for nxt in (tau, np.nextafter(tau, 0), 0.0, 0.3 * tau):
                    x = np.empty(d)
                    x[:a] = conv
                    if a < d:
                        x[a] = xa
                    x[a + 1:] = nxt
                    rows.append(x * rng.choice([-1.0, 1.0], d))
    return np.array(rows)


@pytest.mark.parametrize("d", [2, 3, 5, 9])
def test_edges_equal(d):
    X = edge_points(d)
    for fn in FUNCS:
        assert_same(*both(fn, X, L, GAMMA, TAU))
        for x in X[:: max(1, len(X) // 40)]:  # one point at a time (the shape-() path)
            assert_same(*both(fn, x, L, GAMMA, TAU))


@pytest.mark.parametrize("tau", [5e-324, 1e-310, 2.0**-1022, 1e-300, 3.0, 1e300, 2.0**1023, 1.7e308])
def test_extreme_tau(tau):
    """The ``tau`` scaling: a power of two by product, or ``ldexp`` where ``2^-e`` or the
    scale back is not a normal number (subnormal or huge tau); a result beyond float64 is the
    NumPy error under both backends."""
    X = np.array([[0.5, 0.1, 0.0], [2.5, 0.5, -1.0], [-6.0, 1.9, 0.99], [1.0, 0.2, 0.3]]) * tau
    X = X[np.all(np.isfinite(X), axis=1)]
    for fn in FUNCS:
        for Lv in (L, 1e-300, 3e300):
            try:
                with _backend.using("numpy"):
                    r0 = fn(X, Lv, min(GAMMA, Lv), tau)
            except ValueError as exc:
                with _backend.using("numba"), pytest.raises(ValueError) as got:
                    fn(X, Lv, min(GAMMA, Lv), tau)
                assert str(got.value) == str(exc)
                continue
            with _backend.using("numba"):
                r1 = fn(X, Lv, min(GAMMA, Lv), tau)
            assert_same(r0, r1)


@pytest.mark.parametrize("n", [0, 1, 2, 255, 256, 257, 1000])
def test_batch_sizes(n):
    """Around ``auto``'s switch (AUTO_ROWS = 256) and on an empty batch; ``auto`` too."""
    from numerics.checks.saddle import points_in_D

    X = points_in_D(np.random.default_rng(n), n, 4, TAU)
    for fn in FUNCS:
        r0, r1 = both(fn, X, L, GAMMA, TAU)
        assert_same(r0, r1)
        with _backend.using("auto"):
            assert_same(r0, fn(X, L, GAMMA, TAU))


def test_broadcasting_layouts():
    """A batch of points with per-row L / gamma / tau, one point shared by a batch of tau, a
    partly broadcast (2, 1, d) x (1, 3) batch."""
    from numerics.checks.saddle import points_in_D

    rng = np.random.default_rng(7)
    taus = np.array([0.3, 1.0, TAU, 17.0, 1e-5, 1e5])
    X = np.stack([points_in_D(rng, 1, 3, t)[0] for t in taus])
    Ls = np.array([1.0, 2.0, 3.5, 1.0, 10.0, 1.5])
    gs = np.array([1.0, 0.5, 1.0, 1.0, 2.0, 1.5])
    x0 = np.array([0.3, -0.2, 0.1])
    X2 = points_in_D(rng, 2, 3, 1.0).reshape(2, 1, 3)
    for fn in FUNCS:
        assert_same(*both(fn, X, Ls, gs, taus))
        assert_same(*both(fn, x0, 2.0, 1.0, np.array([0.3, 1.0, TAU, 17.0, 1e5])))
        assert_same(*both(fn, X2, np.array([[1.0, 2.0, 3.0]]), 1.0, 1.0))


def test_random_points_bitwise():
    """Random points of D, d = 2 .. 20 (sums of up to 20 terms: NumPy's 8-accumulator order):
    the two backends agree to the last bit, not only to 1e-14."""
    from numerics.checks.saddle import points_in_D

    for d in (2, 7, 8, 9, 16, 20):
        X = points_in_D(np.random.default_rng(d), 400, d, TAU)
        for fn in FUNCS:
            r0, r1 = both(fn, X, L, GAMMA, TAU)
            assert np.array_equal(r0, r1), (d, fn.__name__)


def test_pairwise_is_numpys_sum():
    from derivations.generated import saddle_numba

    rng = np.random.default_rng(0)
    for n in list(range(1, 40)) + [127, 128, 129, 135, 256, 1000, 1031, 4097]:
        a = rng.standard_normal(n) * np.exp(rng.uniform(-30, 30, n))
        assert saddle_numba._pairwise(a, n) == np.sum(a), n


@pytest.mark.parametrize("x, msg", [
    ([7.0 * TAU, 0.0], "a coordinate with |x_j| > 6 tau"),
    ([0.0, 1.5 * TAU], "every later |x_j| must be <= tau"),
    ([3.0 * TAU, 0.5, 1.01 * TAU], "every later |x_j| must be <= tau"),
])
def test_outside_domain_same_error(x, msg):
    """A point outside D anywhere in a batch: the NumPy error (the compiled kernel stops and the
    NumPy core takes the batch)."""
    X = np.zeros((300, len(x)))
    X[137] = x
    for fn in FUNCS:
        for arg in (X, np.array(x)):
            with _backend.using("numba"), pytest.raises(ValueError, match="x must lie in the octopus domain") as e1:
                fn(arg, L, GAMMA, TAU)
            with _backend.using("numpy"), pytest.raises(ValueError) as e0:
                fn(arg, L, GAMMA, TAU)
            assert str(e1.value) == str(e0.value) and msg in str(e1.value)
