"""The compiled backend's hybrid fast pass (issue 25): per chunk of rows a compiled pass stores
the cosines, ``numpy.arccos`` (SIMD) takes the angles in place, a compiled pass finishes the rows
(derivations/codegen/numba.py, ``_hybrid``; derivations/runtime/numba.py, ``run``).  Checked
against the NumPy backend at edge rows spread over the chunks and at the sizes where the path
changes (the 32-row switch to the chunked pass, the 2048-row chunk), and the fused
``filter.population_loss_and_grads`` against the separate calls."""
from __future__ import annotations

import math

import numpy as np
import pytest

from derivations import runtime as _rt
from derivations.generated import filter as F
from derivations.generated import kernels
from derivations.runtime import backend as _backend

numba = pytest.importorskip("numba")
from derivations.runtime import numba as _nb  # noqa: E402

NEAR_ANGLE = math.acos(_rt.NEAR)
SERIES = 0.0938083151964686  # the edge series switch (phi, or pi - phi)
SIZES = [1, 31, 32, 33, 2047, 2048, 2049, 4100]


def both(fn, *args):
    with _backend.using("numpy"):
        r0 = fn(*args)
    with _backend.using("numba"):
        r1 = fn(*args)
    return r0, r1


def edge_rows(rng, n, p=6):
    """``n`` pairs: random, and at random positions (both chunks) pairs at angles 0, pi, pi/2,
    both sides of the double-double switch and of the series switches, 1e-9 off parallel and
    antiparallel, norms 1e-150 / 1e150 (extended range: the NumPy core) and a zero row."""
    x, y = rng.standard_normal((n, p)), rng.standard_normal((n, p))
    specials = []
    for phi in (0.0, math.pi, math.pi / 2, 1e-9, math.pi - 1e-9, NEAR_ANGLE * 0.99,
                NEAR_ANGLE * 1.01, math.pi - NEAR_ANGLE * 0.99, math.pi - NEAR_ANGLE * 1.01,
                SERIES * 0.99, SERIES * 1.01, math.pi - SERIES * 0.99, math.pi - SERIES * 1.01):
        u = rng.standard_normal(p)
        u /= np.linalg.norm(u)
        e = rng.standard_normal(p)
        e -= e @ u * u
        e /= np.linalg.norm(e)
        specials.append((2.0 * u, 0.7 * (math.cos(phi) * u + math.sin(phi) * e)))
    specials += [(1e-150 * x[0], y[0]), (1e150 * x[0], y[0])]
    where = rng.permutation(n)[: len(specials)]
    for i, (a, b) in zip(where, specials):
        x[i], y[i] = a, b
    return x, y


def tolerance(x, y, dot_factor=False, cond=None):
    """1e-14 relative, plus ``1e-15/sin^2(phi)`` where ``|cos| <= NEAR`` (both backends take the
    angle from a cosine summed in another order: see tests/test_backend.py), plus the
    conditioning of ``x.y`` where the value is proportional to it (``dot_factor``), plus
    ``1e-16 cond`` (``cond``: the condition number of the formula's last sum, e.g.
    ``(|cos psi| + sin)/|cos psi + sin|`` of arccos1, ~700 just outside its series switch,
    where each backend rounds the two terms its own way)."""
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    c = np.clip(np.sum(x * y, -1) / (nx * ny), -1, 1)
    s2 = np.maximum(1 - c * c, 1e-300)
    tol = 1e-14 + np.where(np.abs(c) > _rt.NEAR, 0.0, 1e-15 / s2)
    if dot_factor:
        tol = tol + 1e-16 * nx * ny / np.maximum(np.abs(np.sum(x * y, -1)), 1e-300)
    if cond is not None:
        tol = tol + 1e-16 * cond
    return tol


def _angle(x, y):
    """cos, sin, phi of the rows in float64 by atan2 (for condition numbers only)."""
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    xh, yh = x / nx[:, None], y / ny[:, None]
    s = np.linalg.norm(yh - np.sum(xh * yh, -1)[:, None] * xh, axis=-1)
    c = np.sum(xh * yh, -1)
    return c, s, np.arctan2(s, c), nx, ny


def arccos1_cond(x, y):
    c, s, phi, _, _ = _angle(x, y)
    psi = np.pi - phi
    return (np.abs(c * psi) + s) / np.maximum(np.abs(c * psi + s), 1e-300)


def filter_conds(w, ws):
    """Condition numbers of the filter loss ``(c phi - s) |w||w*|/2pi + |w - w*|^2/4`` and of the
    gradient ``k0 w + k1 w*`` (``k0 = 1/2 - |w*| s/(2 pi |w|)``, ``k1 = -(pi - phi)/2pi``)."""
    c, s, phi, nw, ns = _angle(w, ws)
    terms = (np.abs(c * phi) + s) * nw * ns / (2 * np.pi) + np.sum((w - ws) ** 2, -1) / 4
    loss = (c * phi - s) * nw * ns / (2 * np.pi) + np.sum((w - ws) ** 2, -1) / 4
    k0, k1 = 0.5 - ns * s / (2 * np.pi * nw), -(np.pi - phi) / (2 * np.pi)
    gterms = (0.5 + ns * s / (2 * np.pi * nw)) * nw + np.abs(k1) * ns
    g = np.linalg.norm(k0[:, None] * w + k1[:, None] * ws, axis=-1)
    return terms / np.maximum(np.abs(loss), 1e-300), gterms / np.maximum(g, 1e-300)


def assert_rows_close(r1, r0, tol, what):
    r0, r1 = np.asarray(r0, float), np.asarray(r1, float)
    if r0.ndim == 1:
        err = np.abs(r1 - r0) / np.maximum(np.abs(r0), 1e-300)
    else:
        m = np.max(np.abs(r0), axis=-1, keepdims=True)
        m = np.where(m > 0, m, 1.0)
        err = np.linalg.norm((r1 - r0) / m, axis=-1) / np.maximum(np.linalg.norm(r0 / m, axis=-1), 1e-300)
    assert np.all(np.isfinite(r1)), what
    assert np.all(err <= tol), (what, float(np.max(err / tol)), int(np.argmax(err / tol)))


@pytest.mark.parametrize("n", SIZES)
def test_kernels_equal_numpy(n):
    rng = np.random.default_rng(n)
    x, y = edge_rows(rng, n) if n >= 16 else (rng.standard_normal((n, 6)), rng.standard_normal((n, 6)))
    for fn, tol in ((kernels.h_inf, tolerance(x, y, True)),
                    (kernels.arccos1, tolerance(x, y, cond=arccos1_cond(x, y)))):
        r0, r1 = both(fn, x, y)
        assert_rows_close(r1, r0, tol, fn.__name__)


@pytest.mark.parametrize("n", SIZES)
def test_filter_fused_equals_numpy_and_the_separate_calls(n):
    rng = np.random.default_rng(100 + n)
    w, ws = edge_rows(rng, n) if n >= 16 else (rng.standard_normal((n, 6)), rng.standard_normal((n, 6)))
    cl, cg = filter_conds(w, ws)
    tl, tg = tolerance(w, ws, cond=cl), tolerance(w, ws, cond=cg)
    (l0, g0), (l1, g1) = both(F.population_loss_and_grads, w, ws)
    assert_rows_close(l1, l0, tl, "loss, compiled vs NumPy")
    assert_rows_close(g1, g0, tg, "grad, compiled vs NumPy")
    for be in ("numpy", "numba"):
        with _backend.using(be):
            fused = F.population_loss_and_grads(w, ws)
            sep = F.population_loss(w, ws), F.population_grad(w, ws)
        assert_rows_close(fused[0], sep[0], tl, f"fused loss vs population_loss ({be})")
        assert_rows_close(fused[1], sep[1], tg, f"fused grad vs population_grad ({be})")


def test_filter_fused_single_point_broadcasting_and_out():
    rng = np.random.default_rng(3)
    w, ws = rng.standard_normal((40, 5)), rng.standard_normal(5)  # a shared teacher
    (l0, g0), (l1, g1) = both(F.population_loss_and_grads, w, ws)
    assert l1.shape == (40,) and g1.shape == (40, 5)
    assert_rows_close(g1, g0, tolerance(w, np.broadcast_to(ws, w.shape),
                                        cond=filter_conds(w, np.broadcast_to(ws, w.shape))[1]),
                      "broadcast teacher")
    one = both(F.population_loss_and_grads, w[0], ws)
    assert np.ndim(one[1][0]) == 0 and one[1][1].shape == (5,)
    bufs = (np.empty(40), np.empty((40, 5)))
    with _backend.using("numba"):
        res = F.population_loss_and_grads(w, ws, out=bufs)
    assert res[0] is bufs[0] and res[1] is bufs[1]
    np.testing.assert_array_equal(bufs[1], g1)
    with pytest.raises(ValueError, match="w"):
        F.population_loss_and_grads(np.zeros(5), ws)


def test_hybrid_is_used_where_it_pays_and_the_bare_anchor_stays_scalar():
    """kernels and filter run the chunked pass; the fused CNN function (its difference vector
    is used after the angle) has it too, with the one-pass kernel kept for wide rows
    (tests/test_backend_cnn_hybrid.py)."""
    from derivations.generated import cnn_numba, filter_numba, kernels_numba

    assert hasattr(kernels_numba, "_h_inf_angles") and hasattr(kernels_numba, "_arccos1_angles")
    assert hasattr(filter_numba, "_population_loss_and_grads_angles")
    assert hasattr(cnn_numba, "_population_loss_and_grads_angles")
    assert hasattr(cnn_numba, "_population_loss_and_grads_kernel")


def test_equality_test_has_teeth(monkeypatch):
    """The chunked pass with the arccos step left out (the second half reads cosines as angles)
    is caught by the comparison above."""
    rng = np.random.default_rng(9)
    x, y = edge_rows(rng, 300)

    def no_arccos(kernel, angles, n, ins, flat, bad):
        first, ncol, nkept = angles
        cs, cv = np.empty((n, ncol)), np.empty((n, nkept))
        first(0, n, *ins, cs, cv, False)
        return kernel(0, n, *ins, *flat, bad, cs, cv)

    monkeypatch.setattr(_nb, "_hybrid", no_arccos)
    r0, r1 = both(kernels.arccos1, x, y)
    with pytest.raises(AssertionError):
        assert_rows_close(r1, r0, tolerance(x, y, cond=arccos1_cond(x, y)), "arccos1")


@pytest.mark.parametrize("n", [None, 2049])
def test_cnn_single_functions_equal_numpy(n):
    """The single CNN functions run the hybrid pass: equal to NumPy at
    the angles of the edge points of tests/test_backend.py (the rows with a random ``a``: 34
    rows, over the 32-row switch) and on a random batch over a chunk.  (At the student-at-teacher
    rows, ``a = |w*| a*``, the separate ``grad_a`` and ``grad_w`` are ~1e-16 and the backends
    differ by O(1) of that, before the hybrid pass as after it: the fused function, which
    refines its completed square, is the one compared there, in tests/test_backend.py.)"""
    from derivations.generated import cnn
    from tests.test_backend import K, P, assert_equal_backends, edge_points

    rng = np.random.default_rng(11)
    if n is None:
        V, A, W, AS = (x[::4] for x in edge_points(rng))
    else:
        V, A, W, AS = (rng.standard_normal((n, d)) for d in (P, K, P, K))
    for fns in ((cnn.population_loss, cnn.grad_v, cnn.grad_a),
                (cnn.population_loss_w, cnn.grad_w, cnn.grad_a)):
        r0, r1 = (tuple(x) for x in zip(*(both(f, V, A, W, AS) for f in fns)))
        assert_equal_backends(r0, r1, V, W, a=A, a_star=AS)
