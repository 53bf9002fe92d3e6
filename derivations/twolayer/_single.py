"""One parameter point on the compiled backend: the per-call path of the public models
(issue 20 item 7, "the closed form 1e4x faster than Monte Carlo").

A compiled loss of one k = m = d = 7 point is ~2 us of work in the Numba kernels
(:mod:`.compiled`); the general path around it (argument conversion and checks, backend
dispatch, flattening and broadcasting, block slicing, six scratch allocations) cost ~17 us more.
:meth:`networks._Base.loss` (likewise ``grad``, ``hessian``) takes this path only when the four
arguments are already exactly what the general path would make of them: ``numpy.ndarray`` of
dtype float64, C-contiguous, of the exact shapes (no batch axes).  Then:

* finiteness of all four arrays in one compiled pass (:func:`first_nonfinite`), instead of
  four NumPy reductions;
* the same compiled functions of :class:`.compiled.CompiledCore` on ``(1, n, d)`` views, with
  the same arguments (one block of one point: the results are bit-identical to the general
  path's), the scratch arrays reused from a per-network pool (``list.pop``/``append``: each call
  owns its buffers, also across threads); outputs are fresh arrays.

Anything else (a NaN, a zero unit, another dtype, batch axes, a list) goes the general way,
which raises the errors naming the argument: the checks and messages are the general path's.
"""
from __future__ import annotations

import math

import numba
import numpy as np


#: the largest finite float64: ``abs(x) <= MAX_F64`` is False exactly for NaN and +-inf
MAX_F64 = 1.7976931348623157e308


@numba.njit(cache=True)
def _finite(x):
    ok = True
    for v in x.flat:   # no early exit: the loop vectorizes (k = 20: 0.36 us for all four)
        ok &= abs(v) <= MAX_F64
    return ok


@numba.njit(cache=True)
def first_nonfinite(w, a, v, b):
    """The position (0-3) of the first argument with a NaN or inf entry; -1 if all are finite."""
    if not _finite(w):
        return 0
    if not _finite(a):
        return 1
    if not _finite(v):
        return 2
    if not _finite(b):
        return 3
    return -1


class Runner:
    """The single-point calls of one network on its :class:`.compiled.CompiledCore` ``cc``
    (the argument lists are :class:`~.compiled.CompiledCore`'s for a block of one point)."""

    first_nonfinite = staticmethod(first_nonfinite)

    def __init__(self, cc, n, m, d):
        self.cc, self.n, self.m, self.d = cc, n, m, d
        self._pools = {"loss": [], "hess": []}

    def _geom(self, R):
        n, m, d = self.n, self.m, self.d
        return (np.empty((1, n + m)), np.empty((1, n + m, d)), np.empty((1, R, n + m)),
                np.empty((1, R, n + m)))

    def _new(self, kind):
        n, m, d = self.n, self.m, self.d
        if kind == "loss":
            return self._geom(n + m) + (np.empty((4, n + m)), np.empty(1))
        return self._geom(n) + self.cc._scratch(n, m, d)

    def loss(self, U, a, T, b):
        """The loss (a NumPy float64 scalar), or None when a unit is zero (the general path
        then raises the error naming the argument)."""
        cc, pool = self.cc, self._pools["loss"]
        s = pool.pop() if pool else self._new("loss")
        try:
            nx, Xh, C, P, S, out = s
            U3, T3 = U[None], T[None]
            if cc.prepare(U3, T3, self.n + self.m, nx, Xh, C):
                return None
            np.arccos(C, out=P)
            cc._loss(U3, a[None], T3, b[None], cc.prm, nx, Xh, C, P, S, out)
            return out[0]
        finally:
            pool.append(s)

    def grad(self, U, a, T, b, output):
        """``(dl/dU (n, d), dl/da (n,) or None)``, or None when a unit is zero: the chunked
        gradient's own calls (:meth:`.compiled.CompiledCore.grad`) for a chunk of one point,
        on its per-thread scratch."""
        cc, n, d = self.cc, self.n, self.d
        gU = np.empty((n, d))
        gA = np.empty((1, n)) if output else np.empty((1, 1))
        if cc.grad_chunks(U, a, T[None], b[None], 1, n, output, gU, gA):
            return None
        return gU, (gA[0] if output else None)

    def hessian(self, U, a, T, b, train_output):
        """The dense ``(P, P)`` Hessian in ``U`` (and ``a``), or None when a unit is zero."""
        cc, pool = self.cc, self._pools["hess"]
        s = pool.pop() if pool else self._new("hess")
        try:
            nx, Xh, C, P, *sc = s
            U3, T3 = U[None], T[None]
            if cc.prepare(U3, T3, self.n, nx, Xh, C):
                return None
            np.arccos(C, out=P)
            Pn = self.n * self.d + (self.n if train_output else 0)
            H = np.empty((1, Pn, Pn))
            cc._hess(U3, a[None], T3, b[None], cc.prm, nx, Xh, C, P, train_output, *sc, H)
            return H[0]
        finally:
            pool.append(s)
