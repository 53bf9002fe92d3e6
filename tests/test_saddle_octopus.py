"""The emitted octopus f, grad, hessian: 50-digit agreement with the SymPy pieces, exact region
selection at the boundaries, symmetry, and bad input."""
import math

import numpy as np
import pytest
import sympy as sp

import derivations as D
from derivations.saddle import connectors as C
from derivations.saddle import octopus as O
from numerics.checks.saddle import _mp_octopus, points_in_D

E = math.e
f, grad, hess = (D.get(n).numpy for n in ("saddle.f", "saddle.grad", "saddle.hessian"))
PARAMS = [(E, 1.0, E), (1.0, 1.0, 1.0), (3.0, 0.7, 1.9)]


@pytest.mark.parametrize("L,gamma,tau", PARAMS)
@pytest.mark.parametrize("d", [2, 3, 5])
def test_against_50_digit_pieces(L, gamma, tau, d):
    X = points_in_D(np.random.default_rng(d), 12, d, tau, boundary_fraction=0.5)
    for name, fn in (("saddle.f", f), ("saddle.grad", grad), ("saddle.hessian", hess)):
        got = fn(X, L, gamma, tau)
        for r in range(len(X)):
            ref = _mp_octopus(D.get(name), X[r], L, gamma, tau)
            scale = max(np.max(np.abs(ref)), L * tau**2 if name == "saddle.f" else 1.0)
            assert np.max(np.abs(got[r] - ref)) <= 1e-13 * scale, (name, X[r])


def _piece_value(d, region, point, L, gamma, tau, order):
    """Value / gradient / Hessian of the SymPy tube piece ``region`` at ``point`` (50 digits)."""
    xs = O.coordinates(d)
    P = O.tube_piece(O.tube_template(), d, *region, xs=xs).subs({C.L: L, C.gamma: gamma, C.tau: tau})
    at = {s: sp.Float(v, 50) for s, v in zip(xs, point)}
    if order == 0:
        return float(P.subs(at))
    if order == 1:
        return np.array([float(sp.diff(P, s).subs(at)) for s in xs])
    return np.array([[float(sp.diff(P, s, q).subs(at)) for q in xs] for s in xs])


@pytest.mark.parametrize("L,gamma,tau", PARAMS[:2])
def test_region_selection_exact_at_boundaries(L, gamma, tau):
    """At x_i = tau and x_i = 2 tau (exactly representable) both adjacent pieces agree with the
    emitted code to rounding, and the point is accepted as part of D."""
    d = 3
    cases = [
        ((1, 1), (1, 2), [tau, 0.4 * tau, 0.2 * tau]),
        ((1, 2), (2, 1), [2 * tau, 0.4 * tau, 0.2 * tau]),
        ((2, 1), (2, 2), [4.1 * tau, tau, 0.3 * tau]),
        ((2, 2), (3, 1), [3.9 * tau, 2 * tau, tau]),
        ((3, 1), (3, 2), [4.2 * tau, 3.8 * tau, tau]),
        ((3, 2), (4, 1), [2 * tau, 6 * tau, 2 * tau]),
    ]
    for A, B, pt in cases:
        pt = np.array(pt)
        for order, fn in ((0, f), (1, grad), (2, hess)):
            got = fn(pt, L, gamma, tau)
            assert np.all(np.isfinite(got))
            for region in (A, B):
                ref = _piece_value(d, region, pt, L, gamma, tau, order)
                assert np.max(np.abs(got - ref)) <= 1e-12 * max(1.0, np.max(np.abs(ref))), (A, B, order)


def test_mirror_symmetry_and_edges():
    rng = np.random.default_rng(5)
    X = points_in_D(rng, 200, 4, E)
    S = rng.choice([-1.0, 1.0], X.shape)
    assert np.array_equal(f(X, E, 1, E), f(S * X, E, 1, E))
    assert np.array_equal(grad(S * X, E, 1, E), S * grad(X, E, 1, E))
    H, HS = hess(X, E, 1, E), hess(S * X, E, 1, E)
    assert np.allclose(HS, S[:, :, None] * S[:, None, :] * H * (1 - np.eye(4)) + H * np.eye(4), atol=0)
    # zeros, saddles, minimum: finite, gradient exactly zero at the stationary points
    for k in range(5):
        pt = np.array([4 * E] * k + [0.0] * (4 - k))
        assert np.all(grad(pt, E, 1, E) == 0)
        assert abs(f(pt, E, 1, E) + k * D.get("saddle.nu").numpy(E, 1, E)) < 1e-12 * 600
        ev = np.linalg.eigvalsh(hess(pt, E, 1, E))
        want = sorted([2 * E] * (4 - (k < 4)) + [-2.0] * (k < 4))
        assert np.allclose(ev, want, rtol=1e-14)
    assert np.all(np.isfinite(hess(np.zeros(4), E, 1, E)))


def test_broadcasting_over_parameters():
    X = points_in_D(np.random.default_rng(2), 6, 3, 1.0)
    Ls = np.array([1.0, 2.0, 3.0, 1.5, 1.0, 4.0])
    out = f(X, Ls, 1.0, 1.0)
    single = np.array([f(X[i], Ls[i], 1.0, 1.0) for i in range(6)])
    assert np.array_equal(out, single)
    assert grad(X, Ls, 1.0, 1.0).shape == (6, 3) and hess(X, Ls, 1.0, 1.0).shape == (6, 3, 3)


@pytest.mark.parametrize("fn", [f, grad, hess])
def test_bad_input_names_the_argument(fn):
    ok = np.array([0.3, -0.2, 0.1])
    cases = [
        (dict(x=[0.3], L=E, gamma=1, tau=E), "x"),
        (dict(x=[0.3, np.nan], L=E, gamma=1, tau=E), "x"),
        (dict(x=[0.3, np.inf], L=E, gamma=1, tau=E), "x"),
        (dict(x=ok, L=E, gamma=1, tau=0.0), "tau"),
        (dict(x=ok, L=E, gamma=1, tau=-1.0), "tau"),
        (dict(x=ok, L=E, gamma=0.0, tau=E), "gamma"),
        (dict(x=ok, L=E, gamma=-1.0, tau=E), "gamma"),
        (dict(x=ok, L=0.5, gamma=1.0, tau=E), "L"),
        (dict(x=[3.0, 3.0, 0.1], L=E, gamma=1, tau=E), "x"),   # outside D
        (dict(x=[17.0, 0.1], L=E, gamma=1, tau=E), "x"),       # |x_1| > 6 tau
    ]
    for kw, name in cases:
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            fn(**kw)
    assert np.all(np.isfinite(fn(ok, 1.0, 1.0, E)))  # L = gamma = 1 is valid
