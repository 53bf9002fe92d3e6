"""The two-layer engine on the compiled backend (issue 20 item 7): the same chain rule as
:class:`derivations.twolayer.model.Core`, as Numba loops over the parameter points and unit
pairs of a batch, calling the derived pair kernels emitted as scalar ``@numba.njit`` functions
(``derivations/generated/twolayer_kernels_numba.py``, from :mod:`derivations.codegen.templates.twolayer_numba` and
:mod:`.kernels`; ``nnderive build twolayer``).

Used by the public models (:mod:`.networks`) when the backend in use is Numba
(:mod:`derivations.runtime.backend`: ``NNDERIVE_BACKEND``, ``derivations.set_backend``,
``using``); the NumPy core is the fallback without Numba.  For the engine, ``auto`` picks Numba
whenever it is installed, single points included (:data:`AUTO_ROWS` = 1: a k = m = d = 7 loss
costs ~0.1 ms in NumPy and a few us compiled; importing Numba and loading the cached kernels is
paid once per process).

Per block of points (at most :data:`BLOCK_ENTRIES` pair entries): ``prepare`` (norms,
normalized vectors, clipped cosines, the Gram matrix by BLAS), ``np.arccos`` of the block's
cosines (NumPy's SIMD loop, ~10x a scalar ``acos`` in compiled code), then one compiled pass
(the Kahan angle at the edges, the derived pair terms, the chain rule) into preallocated outputs.
The gradient (:meth:`CompiledCore.grad`) runs over equal chunks of at most :data:`GRAD_ENTRIES`
pair entries with scratch kept per thread between calls (no fresh pages: a
page fault costs ~1-3 us on the shared VMs): ``prepare_chunk``, ``np.arccos``, ``NAME_asm_grad``.
Edge handling, zero-vector errors and broadcasting are the NumPy core's.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from ..runtime import backend as _backend
from . import model as _model

#: ``auto`` uses the compiled engine from this many parameter points on (see the module doc)
AUTO_ROWS = 1
#: pair entries (points x rows x columns of the cosine array) per block
BLOCK_ENTRIES = 65536
#: pair entries per chunk of the gradient (its cosines, sines and angles: 3 x 8 x this bytes;
#: ~111 points at k = m = d = 20: larger chunks mean fewer calls from Python, and measured
#: 2-4% faster than 16384 (27 points, cache-resident) on the bench's 500 points)
GRAD_ENTRIES = 65536
#: threads over the gradient's chunks (1: the calling thread only).  The compiled passes and
#: ``np.arccos`` run without the GIL, each thread on its own scratch; used from this many
#: chunks per thread on (``nnderive bench twolayer`` measures 1 and 2)
GRAD_THREADS = 1

_generated = {}


def module_for(kernel):
    """The compiled module of ``kernel`` (the generated one, or the in-memory counterpart of a
    kernel module compiled in memory, e.g. with a planted error); None if it has none."""
    mod = kernel.module
    if mod is None:
        if "mod" not in _generated:
            from ..generated import twolayer_kernels_numba

            _generated["mod"] = twolayer_kernels_numba
        return _generated["mod"]
    make = getattr(mod, "compiled_module", None)
    return make() if make is not None else None


def use_compiled(kernel, batch=()) -> bool:
    """Whether the backend in use is Numba for this kernel (and batch)."""
    b = _backend.get_backend()
    if b == "numpy":
        return False
    if b == "auto":
        if not _backend.numba_available():
            return False
        if AUTO_ROWS > 1 and math.prod(batch) < AUTO_ROWS:
            return False
    if kernel.module is not None and getattr(kernel.module, "compiled_module", None) is None:
        return False
    return True


_POOLS = {}
_POOLS_LOCK = threading.Lock()


def _pool(k):
    """A thread pool of ``k`` workers kept for the process: its threads keep their gradient
    workspaces (:meth:`CompiledCore._grad_scratch` is per thread) between calls, so a call does
    not allocate and page in fresh ones."""
    with _POOLS_LOCK:
        ex = _POOLS.get(k)
        if ex is None:
            from concurrent.futures import ThreadPoolExecutor

            ex = _POOLS[k] = ThreadPoolExecutor(k, thread_name_prefix="nnderive-grad")
        return ex


def _equal_chunk(N, most):
    """Points per chunk: ``N`` points cut into equal chunks of at most ``most`` (no small
    last chunk)."""
    return max(1, -(-N // max(1, -(-N // most))))


def _zero_error(name):
    return ValueError(f"{name}: every unit's effective vector must be nonzero (a unit with a "
                      "zero vector has no angle; its kernel derivatives are undefined)")


class CompiledCore:
    """Loss and derivatives in the effective vectors ``U (..., n, d)``, ``T (..., m, d)``."""

    def __init__(self, kernel):
        mod = module_for(kernel)
        act = kernel.name
        self.prepare = mod.prepare
        self.prepare_chunk = mod.prepare_chunk
        self.grad_ws_layout = mod.grad_ws_layout
        self._loss = getattr(mod, f"{act}_asm_loss")
        self._grad = getattr(mod, f"{act}_asm_grad")
        self._hess = getattr(mod, f"{act}_asm_hess")
        self._hvp = getattr(mod, f"{act}_asm_hvp")
        self.prm = np.array(kernel.params, dtype=np.float64)
        self._tls = threading.local()   # per-thread scratch of the gradient

    # ------------------------------------------------------------------------------------
    @staticmethod
    def _flat(U, a, T, b):
        """Contiguous ``(N, n, d)``, ``(N, n)`` and teacher ``(1 or N, m, d)``, ``(1 or N, m)``."""
        batch = U.shape[:-2]
        n, d = U.shape[-2:]
        N = math.prod(batch)
        Uf = np.ascontiguousarray(U.reshape(N, n, d))
        if a.shape[:-1] != batch:
            a = np.broadcast_to(a, batch + (n,))
        af = np.ascontiguousarray(a.reshape(N, n))
        m = T.shape[-2]
        if T.ndim == 2 and b.ndim == 1:
            Tf, bf = np.ascontiguousarray(T.reshape(1, m, d)), np.ascontiguousarray(b.reshape(1, m))
        else:
            Tf = np.ascontiguousarray(np.broadcast_to(T, batch + (m, d)).reshape(N, m, d))
            bf = np.ascontiguousarray(np.broadcast_to(b, batch + (m,)).reshape(N, m))
        return Uf, af, Tf, bf, batch, N

    def _blocks(self, Uf, af, Tf, bf, N, R, names, body):
        """``body(sl, Ub, ab, Tb, bb, nx, Xh, C, P)`` for every block slice ``sl`` of points."""
        n, d = Uf.shape[1:]
        m = Tf.shape[1]
        B = max(1, min(N, BLOCK_ENTRIES // (R * (n + m))))
        nx = np.empty((B, n + m))
        Xh = np.empty((B, n + m, d))
        C = np.empty((B, R, n + m))
        P = np.empty((B, R, n + m))
        tb = Tf.shape[0] > 1
        for s in range(0, N, B):
            e = min(N, s + B)
            k = e - s
            Ub, ab = Uf[s:e], af[s:e]
            Tb, bb = (Tf[s:e], bf[s:e]) if tb else (Tf, bf)
            bad = self.prepare(Ub, Tb, R, nx[:k], Xh[:k], C[:k])
            if bad:
                self._raise_bad(Uf, Tf, names)
            np.arccos(C[:k], out=P[:k])
            body(slice(s, e), Ub, ab, Tb, bb, nx[:k], Xh[:k], C[:k], P[:k])

    # ------------------------------------------------------------------------------------
    def loss(self, U, a, T, b, names=("U", "a", "T", "b")):
        Uf, af, Tf, bf, batch, N = self._flat(U, a, T, b)
        n, m = Uf.shape[1], Tf.shape[1]
        out = np.empty(N)
        S = np.empty((4, n + m))
        self._blocks(Uf, af, Tf, bf, N, n + m, names,
                     lambda sl, Ub, ab, Tb, bb, nx, Xh, C, P: self._loss(
                         Ub, ab, Tb, bb, self.prm, nx, Xh, C, P, S, out[sl]))
        return out.reshape(batch)[()]

    def grad(self, U, a, T, b, names=("U", "a", "T", "b"), output: bool = True):
        """Chunks of :data:`GRAD_ENTRIES` pair entries: ``prepare_chunk`` (norms, the clipped
        cosines of the student pairs i < j, packed, and of the student-teacher pairs as one
        ``(m, chunk rows)`` array), ``np.arccos`` into a chunk-sized buffer, the compiled pass
        writing straight into ``gU`` (and ``gA``).  The scratch is small (cache-resident, no
        fresh pages) and kept between calls (:meth:`_grad_scratch`)."""
        Uf, af, Tf, bf, batch, N = self._flat(U, a, T, b)
        n, d = Uf.shape[1:]
        m = Tf.shape[1]
        gU = np.empty((N, n, d))
        gA = np.empty((N, n)) if output else np.empty((1, 1))
        args = (Uf.reshape(N * n, d), af.reshape(N * n), Tf, bf, N, n, output,
                gU.reshape(N * n, d), gA)
        L = n * (n - 1) // 2 + n * m
        per = max(1, GRAD_ENTRIES // max(L, 1))
        if GRAD_THREADS > 1 and N >= 2 * per:
            bad = self._grad_threads(args, _equal_chunk(N, per))
        else:
            bad = self.grad_chunks(*args)
        if bad:
            self._raise_bad(Uf, Tf, names)
        gU = gU.reshape(batch + (n, d))
        return gU, (gA.reshape(batch + (n,)) if output else None)

    def _grad_threads(self, args, per):
        """:meth:`grad_chunks` on ``GRAD_THREADS`` threads, each on a contiguous run of whole
        chunks of ``per`` points, the single thread's chunks (the same BLAS products, so the same
        bits; its own scratch: :meth:`_grad_scratch` is per thread)."""
        N = args[4]
        nchunks = -(-N // per)
        k = min(GRAD_THREADS, nchunks)
        cuts = [per * (nchunks * i // k) for i in range(k)] + [N]
        res = list(_pool(GRAD_THREADS).map(
            lambda i: self.grad_chunks(*args, lo=cuts[i], hi=cuts[i + 1], step=per), range(k)))
        bad = [r for r in res if r]
        return min(bad) if bad else 0

    def grad_chunks(self, U2, a2, Tf, bf, N, n, output, gU2, gA, lo=0, hi=None, step=None):
        """The chunk loop of :meth:`grad` on flat ``U2 (N n, d)``, ``a2 (N n)``, for the points
        ``lo <= p < hi`` in chunks of ``step`` points (default: equal chunks of at most the
        workspace's): returns 0, or 1 (2) if a student (teacher) vector is zero."""
        d = U2.shape[1]
        m = Tf.shape[1]
        L = n * (n - 1) // 2 + n * m       # the pairs (i, j), i < j, and (i, t) of a point
        hi = N if hi is None else hi
        Bm, V, CB, PB = self._grad_scratch(n, m, d, L, Tf.shape[0] > 1)
        if step is not None:
            B = step
        else:
            B = hi - lo if hi - lo <= Bm else _equal_chunk(hi - lo, Bm)
        prm, prep, asm = self.prm, self.prepare_chunk, self._grad
        for s in range(lo, hi, B):
            e = min(hi, s + B)
            edges = prep(U2, Tf, n, s, e, Bm, V)
            if edges < 0:
                return -edges
            k = (e - s) * L
            if k == CB.shape[0]:
                np.arccos(CB, out=PB)
            else:
                np.arccos(CB[:k], out=PB[:k])
            asm(U2, a2, Tf, bf, prm, n, s, e, Bm, V, output, gU2, gA, edges)
        return 0

    def _grad_scratch(self, n, m, d, L, tb):
        """The gradient's workspace for chunks of at most ``Bm = GRAD_ENTRIES // L`` points:
        ``(Bm, V, CB, PB)``, one flat array (the compiled passes take their views of it,
        ``grad_views``) and its cosine and angle regions; kept per thread and shape (allocated
        once: a single-point call then allocates only its output; ~2.4 MB at k = m = d = 20)."""
        key = (n, m, d, GRAD_ENTRIES, tb)
        ws = getattr(self._tls, "grad", None)
        if ws is None or ws[0] != key:
            Bm = max(1, GRAD_ENTRIES // max(L, 1))
            size, cb = self.grad_ws_layout(n, m, d, Bm, tb)
            V = np.empty(size)
            ws = (key, (Bm, V, V[cb:cb + Bm * L], V[cb + Bm * L:cb + 2 * Bm * L]))
            self._tls.grad = ws
        return ws[1]

    @staticmethod
    def _raise_bad(Uf, Tf, names):
        """The error of a bad vector found by a compiled pass (a zero vector or a norm outside
        ``[model.NORM_LO, NORM_HI]``): the NumPy core's, in its order (every student first)."""
        _model._norms(Uf, names[0])
        _model._norms(Tf, names[2])
        raise _zero_error(names[0])  # (not reached: the compiled test is the NumPy core's)

    def _scratch(self, n, m, d):
        return (np.empty((n, n + m, d)), np.empty((n, n + m, 12)), np.empty((n, d, d)),
                np.empty((n, d)), np.empty((n, n)))

    def hessian(self, U, a, T, b, train_output: bool, names=("U", "a", "T", "b")):
        Uf, af, Tf, bf, batch, N = self._flat(U, a, T, b)
        n, d = Uf.shape[1:]
        m = Tf.shape[1]
        Pn = n * d + (n if train_output else 0)
        H = np.empty((N, Pn, Pn))
        sc = self._scratch(n, m, d)
        self._blocks(Uf, af, Tf, bf, N, n, names,
                     lambda sl, Ub, ab, Tb, bb, nx, Xh, C, P: self._hess(
                         Ub, ab, Tb, bb, self.prm, nx, Xh, C, P, train_output, *sc, H[sl]))
        return H.reshape(batch + (Pn, Pn))

    def hvp(self, U, a, T, b, dU, da, train_output: bool, names=("U", "a", "T", "b")):
        Uf, af, Tf, bf, batch, N = self._flat(U, a, T, b)
        n, d = Uf.shape[1:]
        m = Tf.shape[1]
        dUf = np.ascontiguousarray(np.broadcast_to(dU, batch + (n, d)).reshape(N, n, d))
        dAf = np.ascontiguousarray(np.broadcast_to(da, batch + (n,)).reshape(N, n))
        hU = np.empty((N, n, d))
        hA = np.zeros((N, n))
        sc = self._scratch(n, m, d)
        self._blocks(Uf, af, Tf, bf, N, n, names,
                     lambda sl, Ub, ab, Tb, bb, nx, Xh, C, P: self._hvp(
                         Ub, ab, Tb, bb, self.prm, nx, Xh, C, P, dUf[sl], dAf[sl],
                         train_output, *sc, hU[sl], hA[sl]))
        return hU.reshape(batch + (n, d)), (hA.reshape(batch + (n,)) if train_output else None)
