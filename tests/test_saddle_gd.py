"""GD/PGD integrators on the octopus: the exact GD equals plain float64 GD while float64 is
valid and mpmath GD at 50 digits; float64 stalls; PGD behaves as in sec. 7.5."""
import math

import mpmath
import numpy as np
import pytest

from numerics.simulators import saddle_gd as G
from numerics.simulators.saddle import Octopus

E = math.e


@pytest.mark.parametrize("d,L", [(5, E), (10, 1.0), (3, 3.0), (4, 1.0)])
def test_exact_gd_equals_float64_on_the_valid_prefix(d, L):
    rng = np.random.default_rng(d)
    X0 = rng.uniform(-1, 1, (3, d))
    T = 1000
    xs = G.gd_float64(X0, L, 1.0, E, steps=T)
    for i in range(3):
        run = G.gd_exact(X0[i], L, 1.0, E, record=range(T + 1))
        for t in range(T + 1):
            xe, xf = run.records[t][0], xs[t, i]
            valid = np.abs(xf) > 1e-290
            assert np.array_equal(np.sign(xe), np.sign(xf))
            rel = np.abs(xe - xf)[valid] / np.abs(xf[valid])
            assert rel.max() < 1e-11, (t, rel.max())
        # escape times seen by float64 within the prefix are the exact ones
        for k, Tk in enumerate(run.escape):
            if Tk <= T:
                hit = np.flatnonzero(np.abs(xs[:, i, k]) >= 2 * E)
                assert hit[0] == Tk


def test_float64_gd_stalls_where_exact_gd_escapes():
    x0 = np.array([0.3, -0.5, 0.7, 0.4, 0.6, -0.2])
    run = G.gd_exact(x0, E, 1.0, E)
    assert all(np.isfinite(run.escape))
    T5 = run.escape[4]
    assert T5 > 1100
    xs = G.gd_float64(x0, E, 1.0, E, steps=T5 + 200, every=T5 + 200)
    assert abs(xs[-1, 4]) < 2 * E          # stuck at saddle 5
    assert abs(xs[-1, 4]) < 1e-300         # because its coordinate underflowed


@pytest.mark.parametrize("d,L", [(3, E), (2, 1.0), (4, 1.5)])
def test_exact_gd_equals_mpmath_gd(d, L):
    rng = np.random.default_rng(10 + d)
    x0 = rng.uniform(-1, 1, d)
    run = G.gd_exact(x0, L, 1.0, E)
    T = int(run.escape[-1]) + 5
    every = 7
    ref = G.gd_mpmath(x0, L, 1.0, E, steps=T, dps=50, every=every)
    times = list(range(0, T + 1, every))
    rec = G.gd_exact(x0, L, 1.0, E, record=times).records
    with mpmath.workdps(50):
        for t, xm in zip(times, ref):
            xe = rec[t][0]
            for j in range(d):
                m = xm[j]
                if m == 0:
                    continue
                if abs(m) < mpmath.mpf("1e-290"):
                    continue  # float64 iterate underflows; the log-domain value is checked below
                assert abs(float((xe[j] - m) / m)) < 1e-10, (t, j)
    # escape times identical to mpmath's
    with mpmath.workdps(50):
        for k in range(d):
            hit = next(i for i, xm in enumerate(G.gd_mpmath(x0, L, 1.0, E, steps=T, dps=30))
                       if abs(xm[k]) >= 2 * E)
            assert hit == run.escape[k]


def test_log_domain_tracks_coordinates_far_below_float64():
    """d = 6, L = e: by saddle 6 the pending coordinate is ~2^-10000; mpmath confirms its log."""
    x0 = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    run = G.gd_exact(x0, E, 1.0, E, max_steps=3000)
    assert run.final_log_abs[5] < -1000
    # closed form for a coordinate that only ever contracted by 1 - 2 eta L = 1/2 (no spline
    # steps yet touch coordinate 6 while saddles 1-3 are escaped): log|x| = log 0.5 - t log 2
    run2 = G.gd_exact(x0, E, 1.0, E, max_steps=int(run.escape[2]))
    t = run2.steps
    assert abs(run2.final_log_abs[5] - (math.log(0.5) - t * math.log(2))) < 1e-9 * t


def test_lemma_7_2_and_domain_on_runs():
    rng = np.random.default_rng(0)
    for L in (1.0, E, 3.0):
        eta = 1 / (4 * L)
        for x0 in rng.uniform(-1, 1, (5, 8)):
            run = G.gd_exact(x0, L, 1.0, E, eta)
            assert not run.left_domain
            assert max(run.spline_steps) <= 1 / (2 * eta)
            assert run.escape[-1] >= (1 / (2 * eta)) * (L + 1) ** 7


def test_pgd_escapes_each_saddle_in_roughly_constant_time():
    rng = np.random.default_rng(1)
    X0 = rng.uniform(-1, 1, (6, 8))
    run = G.pgd(X0, E, 1.0, E, rng=rng)
    assert run.left_domain == 0 and np.isfinite(run.escape).all()
    Dk = np.median(run.per_saddle, axis=0)[2:]
    assert 30 < Dk.min() and Dk.max() < 70
    assert run.objective[-1].max() < -8 * Octopus().nu + 1.0


def test_bad_gd_input():
    with pytest.raises(ValueError, match="^x0"):
        G.gd_exact(np.array([0.1]), E, 1.0, E)
    with pytest.raises(ValueError, match="^x0"):
        G.gd_exact(np.array([0.1, np.nan]), E, 1.0, E)
    with pytest.raises(ValueError, match="^eta"):
        G.gd_exact(np.array([0.1, 0.2]), E, 1.0, E, eta=1.0)
    with pytest.raises(ValueError, match="^L"):
        G.gd_exact(np.array([0.1, 0.2]), 0.5, 1.0, E)
    with pytest.raises(ValueError, match="^tau"):
        G.pgd(np.array([0.1, 0.2]), E, 1.0, 0.0)
    with pytest.raises(ValueError, match="^gamma"):
        G.gd_float64(np.array([0.1, 0.2]), E, 0.0, E)
