"""The Monte Carlo side of `nnderive bench twolayer` (row 4): its chunked moments are the
moments of all samples, it stops at 1% relative standard error, and its mean agrees with the
closed form (a 10% plant in the closed form or a missing 1/2 in the simulator fails the check)."""
import numpy as np

from derivations.runtime import backend as _backend
from derivations.twolayer import fully_connected
from numerics.bench import twolayer as B
from numerics.simulators import twolayer as S


def test_chunked_moments_are_the_moments_of_all_samples():
    rng = np.random.default_rng(1)
    parts = [rng.exponential(size=n) + 5.0 for n in (3, 1000, 17, 4096)]
    mom = B._Moments()
    for p in parts:
        mom.add(p)
    x = np.concatenate(parts)
    assert mom.n == x.size
    assert abs(mom.mean - x.mean()) <= 1e-13 * x.mean()
    assert abs(mom.m2 / (mom.n - 1) - x.var(ddof=1)) <= 1e-11 * x.var()
    assert abs(mom.se - x.std(ddof=1) / np.sqrt(x.size)) <= 1e-11 * mom.se


def test_mc_stops_at_one_percent_and_agrees_with_the_closed_form():
    W, a, V, b = S.safran_shamir_minimum()
    with _backend.using("numpy"):
        loss = float(fully_connected(7, 7, 7).loss(W, a, V, b))
    mom = B.mc_loss(W, a, V, b, seed=7)
    assert mom.se <= B.MC_RSE * mom.mean and 1e4 < mom.n < 1e6
    assert B._agrees(mom, loss)
    assert not B._agrees(mom, 1.1 * loss) and not B._agrees(mom, loss / 1.1)
    # a simulator without the 1/2 disagrees
    half = B._Moments()
    half.n, half.mean, half.m2 = mom.n, 2 * mom.mean, 4 * mom.m2
    assert not B._agrees(half, loss)
    # the scan's Monte Carlo on shared inputs and teacher outputs: two points, one draw
    shared = B.SharedSamples(V, b, seed=7)
    W2 = W + 0.05 * np.random.default_rng(2).standard_normal(W.shape)
    with _backend.using("numpy"):
        loss2 = float(fully_connected(7, 7, 7).loss(W2, a, V, b))
    for Wp, lp in ((W, loss), (W2, loss2)):
        m = B.mc_loss_shared(Wp, a, shared)
        assert m.se <= B.MC_RSE * m.mean and B._agrees(m, lp)
    assert len(shared.fs) >= max(mom.n, 1) // 2 and shared.seconds > 0


def test_mc_gradient_moments_stopping_and_agreement():
    """Row 4c's Monte Carlo of the gradient: chunked moments of per-sample gradients are those of
    all samples; at the k = 7 minimum moved by 0.3 it stops at 1% relative SE in norm and agrees
    with the closed form within 5 SE (seed 7), while the closed form x 1.1, a simulator without
    the indicator 1[w_i . x > 0] and a capped run are caught."""
    rng = np.random.default_rng(3)
    parts = [rng.standard_normal((n, 2, 3)) + [1.0, 2.0, 3.0] for n in (3, 500, 4096)]
    mom = B._GradMoments((2, 3))
    for p in parts:
        mom.add(len(p), p.sum(0), float((p * p).sum()))
    x = np.concatenate(parts)
    assert mom.n == len(x) and np.allclose(mom.mean, x.mean(0), rtol=1e-13)
    assert abs(mom.m2 - x.var(0, ddof=1).sum() * (len(x) - 1)) <= 1e-11 * mom.m2
    Ws, a, V, b = S.safran_shamir_minimum()
    W = Ws + 0.3 * np.random.default_rng(7).standard_normal(Ws.shape) / np.sqrt(7)
    with _backend.using("numpy"):
        g = fully_connected(7, 7, 7).grad(W, a, V, b)
    m = B.mc_grad(W, a, V, b, seed=7)
    assert m.done() and 1e4 < m.n < 1e6
    assert B._grad_agrees(m, g) and not B._grad_agrees(m, 1.1 * g)
    # without the indicator: E[(f - f*) a_i x] instead, far from the gradient
    xs = np.random.default_rng(7).standard_normal((10**5, 7))
    r = np.maximum(xs @ W.T, 0) @ a - np.maximum(xs @ V.T, 0) @ b
    wrong = B._GradMoments(W.shape)
    gs = (r[:, None, None] * a[None, :, None]) * xs[:, None, :]
    wrong.add(len(xs), gs.sum(0), float((gs * gs).sum()))
    assert not B._grad_agrees(wrong, g)
    capped = B.mc_grad(W, a, V, b, seed=7, cap=3000)
    assert capped.n == 3000 and not capped.done()
