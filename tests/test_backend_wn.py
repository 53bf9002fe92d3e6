"""wn's compiled functions (``derivations/generated/wn_numba.py``) against the NumPy backend, and
the fast pass's near-parallel test by squares (``derivations.codegen.numba._squares_plan``,
``derivations.runtime.numba.norm_and_dot_far``), and the errors of bad input: 002 WN (Dukler, Gu & Montufar), sec. 2,
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


def _fast_lines(body: str) -> list[str]:
    """The fast pass's lines for a NumPy core ``body`` over vectors ``x``, ``y`` and a scalar
    ``s`` (the printer's plan applied: ``derivations.codegen.numba._squares_plan``)."""
    import ast

    from derivations.codegen.numba import _Kernel

    k = _Kernel([("x", 1), ("y", 1), ("s", 0)], fast=True)
    k.statements(ast.parse("\n".join(ln.strip() for ln in body.splitlines())).body)
    return k.lines


_HEAD = """
    nx, ny, d = _rt.norms_and_dot(x, y, ("x", "y"), nonzero=(False, True))
    nn = nx*ny
    c = _rt.cosine_or_zero(d, nn)
    del nn
    _t0 = (1/ny)
    _k0 = _t0*s
"""
_REJ = "grad = _rt.finish(_rt.rejection(x, y, ny*ny, d, c, scale=_k0), _shape, 1, _out[1], checked=((_k0,), (nx, ny)))\n"


def test_squares_plan_applies_only_to_its_pattern():
    """The printer's plan tests near-parallel rows by squares where ``|x|`` only feeds the cosine
    of a rejection: ``|x|^2`` summed for the test alone, the rejection dividing by ``|y|^2`` as
    summed, ``1/|y|`` never computed (its products printed as divisions), and the scalar
    ``x.y / |y|`` without its own finiteness test (the later range test bounds it).  Where
    ``|x|`` or the cosine is read otherwise, the kernel keeps the cosine, the norms' flag line
    and the finiteness test (a kernel without them would write inf or a bad rejection
    unflagged)."""
    from derivations.codegen.numba import _FLAG

    value = "value = _rt.finish(_t0*d, _shape, 0, _out[0], checked=True)\n"
    out = _fast_lines(_HEAD + value + _REJ)
    assert out == ["ny, _sqny, d, _far, _inr = _nb.norm_sq_and_dot_far(x_all, _ix, y_all, _iy)",
                   "_k0 = s / ny", "_v = d / ny", "_o0[_i] = _v",
                   f"if not (_nb.rejection_far(x_all, _ix, y_all, _iy, _sqny, d, _far, _k0, _o1, _i) "
                   f"and _inr): {_FLAG}"]
    for other in ("value = _rt.finish(nx*2.0, _shape, 0, _out[0])\n",     # |x| in a result
                  "value = _rt.finish(c + 1.0, _shape, 0, _out[0])\n",    # the cosine in a result
                  "ny = ny*2.0\n"):                                       # |y| reassigned
        out = _fast_lines(_HEAD + other + _REJ)
        assert out[0].startswith("nx, ny, d, _ok = _nb.norms_and_dot(") and out[1] == f"if not _ok: {_FLAG}"
        assert not any("_far" in ln for ln in out) and "_t0 = 1 / ny" in out


def test_squares_plan_keeps_what_it_cannot_prove():
    """Finer choices of the plan: a rejection not dividing by ``|y|^2`` keeps its divisor (no
    summed square); a reciprocal read other than as a factor is computed (and products by it
    stay products); a scalar result other than ``x.y / |y|`` keeps its finiteness test."""
    from derivations.codegen.numba import _FLAG

    fin = f"if not math.isfinite(_v): {_FLAG}"
    out = _fast_lines(_HEAD + _REJ.replace("ny*ny", "ny*d"))
    assert out[0] == "ny, d, _far, _inr = _nb.norm_and_dot_far(x_all, _ix, y_all, _iy)"
    assert "ny * d, d, _far" in out[-1]
    out = _fast_lines(_HEAD + "_t1 = _t0 + 1.0\n" + "value = _rt.finish(_t0*d, _shape, 0, _out[0])\n" + _REJ)
    assert "_t0 = 1 / ny" in out and "_k0 = _t0 * s" in out and "_v = _t0 * d" in out and fin not in out
    out = _fast_lines(_HEAD + "value = _rt.finish(_t0*s, _shape, 0, _out[0])\n" + _REJ)
    assert "_v = s / ny" in out and out[out.index("_v = s / ny") + 1] == fin


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


def _errors(fn, *args):
    """``(type, message)`` of ``fn(*args)`` on each backend, batched and not."""
    out = []
    for be in ("numpy", "numba"):
        for batch in (False, True):
            xs = tuple(np.stack([np.asarray(x)] * 40) if batch and np.ndim(x) else x for x in args)
            if batch:
                xs = tuple(x if np.ndim(x) else np.full(40, x) for x in xs)
            with _backend.using(be), pytest.raises((TypeError, ValueError)) as info:
                fn(*xs)
            out.append((be, batch, type(info.value).__name__, str(info.value)))
    return out


P7 = np.ones(7)
NAN7 = np.r_[np.nan, np.ones(6)]
TWO_BAD = [  # (v, g, grad_w), the argument grad_g_and_grads names first on a batch (NumPy)
    ((NAN7, np.nan, P7), "g"),               # v non-finite, g non-finite: g (checked first)
    ((P7, np.nan, np.ones(8)), "g"),         # g non-finite, lengths differ: g
    ((np.zeros(7), 1.0, NAN7), "grad_w"),    # v zero, grad_w non-finite: grad_w
    ((NAN7, 1.0, NAN7), "grad_w"),           # both vectors non-finite: grad_w
    ((np.zeros(7), np.inf, P7), "g"),        # v zero, g infinite: g
    ((P7, "a", NAN7), "g"),                  # g text, grad_w non-finite: g
    ((P7, 1e300, np.ones(8)), "grad_w"),     # g huge (fine), lengths differ
]


@pytest.mark.parametrize("args,first", TWO_BAD)
@pytest.mark.parametrize("name", ["grad_g_and_grads", "grad_v", "grad_g"])
def test_two_bad_arguments_same_error(name, args, first):
    """With two bad arguments, the compiled backend raises the NumPy backend's error (the same
    type and message, naming the same argument), for one point and for a batch.  (Teeth: a
    kernel that tested g's finiteness itself, after the length or the norms' checks, fails the
    rows naming g.)"""
    from derivations.generated import wn

    errs = _errors(getattr(wn, name), *args)
    if name == "grad_g_and_grads":  # (on a batch the vectors' finiteness is tested late)
        assert errs[1][3].startswith(first), errs[1]
    for be, batch, kind, msg in errs[2:]:
        ref = errs[1] if batch else errs[0]
        assert (kind, msg) == ref[2:], (be, batch, kind, msg, ref)


@pytest.mark.parametrize("p", [2, 50, 300])
def test_wn_compiled_equals_numpy_wide_and_scaled(p):
    """The fast pass sums ``|grad_w|^2``, ``|v|^2`` and ``v.grad_w`` in any order
    (``runtime.numba.row_sums``): on rows of other lengths and norms 1e-40..1e40, a third of
    them with ``grad_w`` orthogonal to ``v`` (``v.grad_w`` cancels), the compiled grad_g and
    grad_v still meet the agreement rule of test_wn_compiled_equals_numpy.  (Teeth: grad_g
    divided by ``|v|^2`` instead of ``|v|``, or the sums of another row, fail it.)"""
    from derivations.generated import wn

    rng = np.random.default_rng(p)
    n = 300
    v = rng.standard_normal((n, p)) * 10.0 ** rng.uniform(-40, 40, (n, 1))
    gw = rng.standard_normal((n, p)) * 10.0 ** rng.uniform(-40, 40, (n, 1))
    gw[:100] -= (np.sum(gw[:100] * v[:100], -1) / np.sum(v[:100] ** 2, -1))[:, None] * v[:100]
    g = rng.standard_normal(n)
    (gg0, gv0), (gg1, gv1) = _both(wn.grad_g_and_grads, v, g, gw)
    assert _grad_g_close(gg1, gg0, gw)
    assert np.all(_rel(gv1, gv0) <= 1e-14 + _sin_cond(v, gw))
