"""wn's compiled functions (``derivations/generated/wn_numba.py``) against the NumPy backend, and
the fast pass's near-parallel test by squares (``derivations.codegen.numba._near_test_by_squares``,
``derivations.runtime.numba.norm_and_dot_far``): 002 WN (Dukler, Gu & Montufar), sec. 2,
``grad_v = (g/|v|) (grad_w - (v.grad_w/|v|^2) v)``, ``grad_g = v.grad_w/|v|`` (eq. 2.1)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from derivations import runtime as _rt
from derivations.runtime import backend as _backend

numba = pytest.importorskip("numba")

NEAR_ANGLE = math.acos(_rt.NEAR)  # |cos| = NEAR: the double-double switch


def _rows(rng, n, p=7):
    """``n`` rows ``(v, g, grad_w)``: random, plus grad_w parallel, antiparallel, orthogonal,
    1e-9 from parallel, both sides of NEAR, zero, and norms 1e-50, 1e50 (in the kernel's range),
    1e-70, 1e70 (beyond it: the NumPy core)."""
    v, g, gw = rng.standard_normal((n, p)), rng.standard_normal(n), rng.standard_normal((n, p))
    u = v[0] / np.linalg.norm(v[0])
    e = rng.standard_normal(p)
    e -= e @ u * u
    e /= np.linalg.norm(e)
    specials = [(u, 2.0 * u), (u, -3.0 * u), (u, e), (u, u + 1e-9 * e),
                (u, math.cos(NEAR_ANGLE * 0.99) * u + math.sin(NEAR_ANGLE * 0.99) * e),
                (u, math.cos(NEAR_ANGLE * 1.01) * u + math.sin(NEAR_ANGLE * 1.01) * e),
                (u, 0.0 * e), (1e-50 * u, e), (u, 1e50 * e), (1e-70 * u, e), (u, 1e70 * e)]
    for i, (a, b) in enumerate(specials[:n]):
        v[i], gw[i] = a, b
    return v, g, gw


def _grad_g_close(x, y, gw):
    """grad_g of both backends: 1e-14 relative plus ``2e-15 |grad_w|`` absolute (see
    test_wn_compiled_equals_numpy)."""
    return bool(np.all(np.abs(x - y) <= 1e-14 * np.abs(y) + 2e-15 * np.linalg.norm(gw, axis=-1)))


def _sin_cond(x, y):
    """``1e-15/sin^2`` where ``|cos| <= NEAR``, else 0 (see test_wn_compiled_equals_numpy)."""
    x, y = (a / np.maximum(np.max(np.abs(a), axis=-1, keepdims=True), 1e-300) for a in (x, y))
    c = np.sum(x * y, -1) / np.maximum(np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1), 1e-300)
    return np.where(np.abs(c) > _rt.NEAR, 0.0, 1e-15 / np.maximum(1 - np.minimum(c * c, 1.0), 1e-300))


def _both(fn, *args):
    with _backend.using("numpy"):
        r0 = fn(*args)
    with _backend.using("numba"):
        r1 = fn(*args)
    return r0, r1


def _rel(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 1:
        return np.abs(x - y) / np.maximum(np.abs(y), 1e-300)
    m = np.maximum(np.max(np.abs(y), axis=-1, keepdims=True), 1e-300)
    return np.linalg.norm((x - y) / m, axis=-1) / np.maximum(np.linalg.norm(y / m, axis=-1), 1e-300)


@pytest.mark.parametrize("n", [1, 11, 257, 2049])
def test_wn_compiled_equals_numpy(n):
    """grad_g_and_grads, grad_v and grad_g: 1e-14 relative per row (grad_v in norm; a zero
    grad_v exactly), plus the float64 conditioning both backends share (each sums v.grad_w in
    its own order): ``2e-15 |grad_w|`` absolute for grad_g (= v.grad_w/|v|: a sum's
    rounding, p eps |v||grad_w|, over |v|; a zero grad_g of one backend is ~1e-17 in the other), ``1e-15/sin^2`` for grad_v
    where ``|cos| <= NEAR`` (the rejection in plain arithmetic; beyond NEAR both use
    double-double), as in tests/test_backend.py."""
    from derivations.generated import wn

    v, g, gw = _rows(np.random.default_rng(n), n)
    (gg0, gv0), (gg1, gv1) = _both(wn.grad_g_and_grads, v, g, gw)
    assert _grad_g_close(gg1, gg0, gw)
    zero = np.all(gv0 == 0, axis=-1)
    tol = 1e-14 + _sin_cond(v, gw)
    assert np.all(gv1[zero] == 0) and np.all((_rel(gv1, gv0) <= tol) | zero)
    gv0, gv1 = _both(wn.grad_v, v, g, gw)
    assert np.all((_rel(gv1, gv0) <= tol) | np.all(gv0 == 0, axis=-1))
    gg0, gg1 = _both(wn.grad_g, v, g, gw)
    assert _grad_g_close(gg1, gg0, gw)


def test_fast_pass_flags_near_parallel_and_out_of_range_rows():
    """The fast pass hands exactly the rare rows to the careful pass: grad_w within NEAR of
    parallel to v (the rejection needs double-double), a norm outside [SAFE_LO, SAFE_HI] or
    zero, a scale beyond 1e240; every other row is finished in the fast loop.  (Teeth: a fast
    pass without the near-parallel test, or with the test on the wrong side, fails here.)"""
    from derivations.generated import wn_numba

    rng = np.random.default_rng(0)
    v, g, gw = _rows(rng, 64)
    g[20] = 1e300  # |g/|v|| beyond 1e240
    cos = np.sum(v * gw, -1) / np.maximum(np.linalg.norm(v, axis=-1) * np.linalg.norm(gw, axis=-1), 1e-300)
    norms = np.concatenate([np.linalg.norm(v, axis=-1)[:, None], np.linalg.norm(gw, axis=-1)[:, None]], 1)
    rare = ((np.abs(cos) > _rt.NEAR) | np.any((norms < _rt.SAFE_LO) | (norms > _rt.SAFE_HI), 1)
            | (np.abs(g / np.linalg.norm(v, axis=-1)) > 1e240))
    assert rare[[0, 1, 3, 4, 6, 9, 10, 20]].all() and not rare[[2, 5, 7, 8]].any()
    for kernel, outs in ((wn_numba._grad_g_and_grads_kernel, (np.empty(64), np.empty((64, 7)))),
                         (wn_numba._grad_v_kernel, (np.empty((64, 7)),))):
        bad = np.zeros(64, np.uint8)
        nbad = kernel(64, v, g, gw, *outs, bad)
        assert nbad == rare.sum() and np.array_equal(bad.astype(bool), rare), np.flatnonzero(bad != rare)


def test_near_test_by_squares_rewrites_only_its_pattern():
    """The printer's rewrite applies where |x| only feeds the cosine of a rejection, and leaves
    a kernel alone where the norm or the cosine is used otherwise."""
    from derivations.codegen.numba import _FLAG, _near_test_by_squares

    head = ["nx, ny, d, _ok = _nb.norms_and_dot(x_all, _ix, y_all, _iy)", f"if not _ok: {_FLAG}",
            "nn = nx * ny", "c = _nb.cosine_or_zero(d, nn)", "_k0 = s / ny"]
    rej = f"if not _nb.rejection_bounded(x_all, _ix, y_all, _iy, ny * ny, d, c, _k0, _o0, _i): {_FLAG}"
    out = _near_test_by_squares(head + [rej])
    assert out[0] == "ny, d, _far, _inr = _nb.norm_and_dot_far(x_all, _ix, y_all, _iy)"
    assert out[-1] == (f"if not (_nb.rejection_far(x_all, _ix, y_all, _iy, ny * ny, d, _far, _k0, "
                       f"_o0, _i) and _inr): {_FLAG}")
    assert "nn = nx * ny" not in out
    for other in ("_v = nx * 2.0", "_v = c + 1.0"):  # |x| or the cosine in a result: untouched
        lines = head + [other, rej]
        assert _near_test_by_squares(lines) == lines


def test_finite_by_range_drops_only_covered_tests():
    """A scalar result ``t * dxy`` (``t = 1 / ny``) loses its finiteness test only when the row's
    range flag is tested later in the row; any other result, or no later test, keeps it (a
    kernel without it and without the later range test would write inf unflagged)."""
    from derivations.codegen.numba import _FLAG, _finite_by_range

    fin = f"if not math.isfinite(_v): {_FLAG}"
    head = ["ny, d, _far, _inr = _nb.norm_and_dot_far(x_all, _ix, y_all, _iy)", "_t0 = 1 / ny"]
    tail = f"if not (_nb.rejection_far(x_all, _ix, y_all, _iy, ny * ny, d, _far, _k0, _o1, _i) and _inr): {_FLAG}"
    for v in ("_v = _t0 * d", "_v = d * _t0", "_v = d / ny"):
        assert fin not in _finite_by_range(head + [v, fin, "_o0[_i] = _v", tail])
    for lines in (head + ["_v = _t0 * d", fin, "_o0[_i] = _v"],            # no later range test
                  head + ["_v = _t0 * g", fin, "_o0[_i] = _v", tail],      # not bounded by the range
                  head + ["_t0 = 2 / ny", "_v = _t0 * d", fin, tail],      # _t0 reassigned
                  head + ["_v = _t0 * d", fin, "d = d * 2.0", tail]):      # d reassigned
        assert _finite_by_range(lines) == lines


def test_divide_by_summed_square_rewrites_only_its_pattern():
    """The fast pass's rejection divides by ``|y|^2`` as summed in place of ``ny * ny`` only
    when ``ny`` is the norm of the rejection's divided vector and is not reassigned in the row
    (``ny * ny`` and the sum agree to 2 ulp there; see ``_divide_by_summed_square``)."""
    from derivations.codegen.numba import _FLAG, _divide_by_summed_square

    head = ["ny, d, _far, _inr = _nb.norm_and_dot_far(x_all, _ix, y_all, _iy)", "_k0 = s / ny"]
    rej = (f"if not (_nb.rejection_far(x_all, _ix, y_all, _iy, ny * ny, d, _far, _k0, _o0, _i) "
           f"and _inr): {_FLAG}")
    out = _divide_by_summed_square(head + [rej])
    assert out[0] == "ny, _sqny, d, _far, _inr = _nb.norm_sq_and_dot_far(x_all, _ix, y_all, _iy)"
    assert out[1] == head[1] and out[2] == rej.replace("ny * ny", "_sqny")
    for lines in (head + ["ny = ny * 2.0", rej],                                   # ny reassigned
                  head + [rej.replace("y_all, _iy, ny", "z_all, _iz, ny")],        # another vector
                  head + [rej.replace("ny * ny", "ny * d")]):                      # not |y|^2
        assert _divide_by_summed_square(lines) == lines


def test_summed_square_matches_the_product_of_norms():
    """``norm_sq_and_dot_far``'s ``|y|^2`` is ``|y| * |y|`` to 2 ulp and its other outputs are
    ``norm_and_dot_far``'s exactly (the rewrite's premise), over random rows of 1e-50..1e50."""
    from derivations.runtime import numba as _nbrt

    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 10)) * 10.0 ** rng.uniform(-50, 50, (200, 1))
    y = rng.standard_normal((200, 10)) * 10.0 ** rng.uniform(-50, 50, (200, 1))
    one = numba.njit(lambda x, y, i: _nbrt.norm_and_dot_far(x, i, y, i))
    two = numba.njit(lambda x, y, i: _nbrt.norm_sq_and_dot_far(x, i, y, i))
    for i in range(200):
        ny, sq, d, far, ok = two(x, y, i)
        assert (ny, d, far, ok) == one(x, y, i)
        assert abs(ny * ny - sq) <= 2 * np.spacing(sq)
