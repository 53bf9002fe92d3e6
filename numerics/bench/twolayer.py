"""Benchmarks of the two-layer engine (issue 20 item 7).  Run with ``nnderive bench twolayer``.

CPU time (``time.process_time``, all threads: other jobs on the shared machine do not inflate
it), candidates interleaved (:func:`numerics.bench.interleaved`), best of several calls; BLAS on
one thread for every NumPy candidate (threadpoolctl; see :func:`run`), JAX with its defaults.

1. The batched gradient of 500 parameter points at k = m = d = 20 (ReLU, fully connected,
   output weights 1) vs a Python loop over the 500 points, each evaluating the same closed-form
   gradient with NumPy the way published code does (target >= 10x):

   * ``sys``: as the ``grad`` function of Safran, Yehudai & Shamir's published code
     (github.com/ItaySafran/Overparameterization, ``local_minima.py``): all unit pairs of one
     point at once, angles by ``arccos`` of the clipped Gram matrix of normalized units, the
     gradient by two matrix products (``|w| . sin(angles)`` and ``W . (pi - angles)``); their
     teacher is ``V = I``, here a general ``V`` (one more Gram matrix);
   * ``tian``: as ``compute_gradient`` / ``compute_term`` of Tian's published ICML 2017 code
     (github.com/yuandong-tian/ICML17_ReLU, ``utils.py``, used by its ``convergence.py``):
     units as columns, a (d, k, k) tensor of ``(pi - theta) w`` and ``|w|/|w_r| sin(theta) w_r``
     summed over the last axis;
   * for information, the engine's own call per point, and the batched NumPy engine.

   The engine runs on the compiled backend (``derivations/generated/twolayer_kernels_numba.py``)
   when Numba is installed, else on NumPy; every row says which.

   Measured twice: with glibc's default allocator settings, and with ``M_TOP_PAD`` = 64 MB
   (:class:`_malloc_top_pad`; the environment variable ``MALLOC_TOP_PAD_`` does the same for a
   whole process), which keeps the batched path's temporaries off the page-fault path.

   1b. (information; :func:`_thread_rows`) the compiled batched gradient on 2 threads over its
   chunks (``compiled.GRAD_THREADS = 2``) and on 1, against the same single-thread SYS loop,
   in CPU time (all threads) and in wall time; the target is row 1's (single thread, CPU).

2. Gradient and Hessian vs ``jax.grad`` / ``jax.hessian`` of a jit-compiled closed-form loss
   (the same ReLU closed form in ``jax.numpy``, :mod:`._twolayer_jax`), CPU, k = m = d = 20 and
   100 (target: the engine at least as fast).  At k = 100 ``jax.hessian`` in one call does not
   fit in memory (10^4 tangents through (100, 100) intermediates, ~20 GB): the row times the
   same forward-over-reverse product 100 tangents at a time.  Skipped, with the reason, when
   jax is not installed (the ``bench`` extra).
3. The dense Hessian at k = m = d = 100 (10^4 x 10^4), target < 2 s.
4. The closed-form loss vs Monte Carlo of the network to 1% relative standard error (target
   >= 1e4x), at k = m = d = 20 (a random point at distance 0.3 of the teacher) and at the
   k = m = d = 7 spurious minimum.  Monte Carlo as well as NumPy does it (:func:`mc_loss`:
   float64, SFC64 normals into a reused buffer, one BLAS product for student and teacher, ReLU
   in place), run until its running standard error is 1% of its running mean (checked after
   every chunk; chunks sized from the running variance, :meth:`_Moments.next_chunk`, so the
   overshoot is small), and its mean must agree with the closed form within 5 standard errors:

   a. one call for one point (Monte Carlo draws its inputs and evaluates the teacher; the
      closed form timed as 200 calls);
   b. the throughput over a landscape scan of 1000 points on a plane through the point: the
      closed form in one batched call, per point; Monte Carlo on 5 of the points, with the
      inputs and the teacher's outputs drawn once for the whole scan (:class:`SharedSamples`,
      their cost divided by the 1000 points), so per point only the student is evaluated;
   c. the floor of a single compiled call (information): a bare ``@numba.njit`` call with 4
      array arguments.

   Both sides in interleaved rounds (best of 2 per round), the ratios paired round by round.

   4c. the closed-form gradient (``net.grad``, one call) vs Monte Carlo of the gradient
      (:func:`mc_grad`: the per-sample gradient ``(f - f*) a_i 1[w_i . x > 0] x`` averaged,
      the same generator, BLAS product and stopping rule, its standard error taken in norm,
      sqrt(sum of per-coordinate variances / n), against the norm of its mean; at most
      :data:`MC_GRAD_CAP` samples), at (a)'s k = 20 point and at the k = 7 spurious minimum
      moved by 0.3 N(0, I)/sqrt(7) (at the minimum itself the gradient is ~1e-10: Monte Carlo
      would never reach 1% of it).  Its mean must agree with the closed form within 5
      standard errors in norm.
5. Hessian-vector product vs the dense Hessian at k = m = d = 100 (information).

``--quick``: smaller sizes, no JAX compilation at k = 100.
"""
from __future__ import annotations

import math
import time

import numpy as np

from derivations.twolayer import fully_connected
from numerics.simulators import twolayer as S

from . import BenchRow, interleaved, ratio_row


def _point(rng, k, m, d, batch=()):
    return (rng.standard_normal(batch + (k, d)) / np.sqrt(d), np.ones(batch + (k,)),
            rng.standard_normal((m, d)) / np.sqrt(d), np.ones(m))


def _cpu(fn, repeat=3, number=1):
    """Best CPU time (all threads) per call, over ``repeat`` timings of ``number`` calls."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, (time.process_time() - t0) / number)
    return best


# --- per-point baselines "the way published code runs it" (a = b = 1, ReLU) ----------------


def sys_grad(W, V):
    """dl/dW of one point as Safran-Yehudai-Shamir's ``grad`` computes it (rows are units)."""
    Wn, Vn = np.linalg.norm(W, axis=1), np.linalg.norm(V, axis=1)
    Wh, Vh = W / Wn[:, None], V / Vn[:, None]
    t_ww = np.arccos(np.clip(Wh @ Wh.T, -1, 1))
    t_wv = np.arccos(np.clip(Wh @ Vh.T, -1, 1))
    g_ww = (np.sin(t_ww) @ Wn)[:, None] * Wh + (np.pi - t_ww) @ W
    g_wv = (np.sin(t_wv) @ Vn)[:, None] * Wh + (np.pi - t_wv) @ V
    return (g_ww - g_wv) * 0.5 / np.pi


def _tian_term(ws_ref, ws, n_ref, n_w):
    corrs = (ws_ref.T @ ws) / n_ref[:, None] / n_w[None, :]
    corrs[corrs < -1] = -1
    corrs[corrs > 1] = 1
    theta = np.arccos(corrs)
    alpha = n_w[None, :] / n_ref[:, None]
    d1 = (math.pi - theta[None, :, :]) * ws[:, None, :]
    d2 = (alpha * np.sin(theta))[None, :, :] * ws_ref[:, :, None]
    return np.sum(d1 + d2, axis=2) / math.pi / 2


def tian_grad(W, V):
    """dl/dW of one point as Tian's ``compute_gradient`` computes it (units as columns there;
    his code returns -dl/dW)."""
    ws, ws_star = W.T, V.T
    n_w, n_star = np.linalg.norm(ws, axis=0), np.linalg.norm(ws_star, axis=0)
    return (_tian_term(ws, ws, n_w, n_w) - _tian_term(ws, ws_star, n_w, n_star)).T


# --- Monte Carlo of the loss to 1% relative standard error (rows 4 and 4b) ---------------

#: relative standard error at which Monte Carlo stops
MC_RSE = 0.01
#: samples of the first Monte Carlo chunk, and the most in one chunk
MC_FIRST, MC_MOST = 2048, 1 << 16


class _Moments:
    """Running count, mean and sum of squared deviations of the per-sample losses, updated
    chunk by chunk (Chan, Golub & LeVeque's pairwise formulas: no ``E[x^2] - E[x]^2``)."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x):
        k = x.size
        mk = float(x.mean())
        dev = x - mk
        n = self.n + k
        delta = mk - self.mean
        self.m2 += float(dev @ dev) + delta * delta * self.n * k / n
        self.mean += delta * k / n
        self.n = n

    @property
    def se(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1) / self.n)

    def done(self) -> bool:
        """The stopping rule: running standard error <= MC_RSE x running mean."""
        return self.n > 1 and self.se <= MC_RSE * self.mean

    def next_chunk(self) -> int:
        """The samples still needed, predicted from the running variance (+2%), at least
        MC_FIRST/2 and at most MC_MOST: the rule is checked after every chunk, so this only
        limits the overshoot past the first n at which it holds (fixed 10^4-sample chunks
        overshot by up to 10^4 samples, ~30% at the k = 20 point)."""
        need = self.m2 / (self.n - 1) / (MC_RSE * self.mean) ** 2 if self.mean > 0 else math.inf
        return int(min(MC_MOST, max(MC_FIRST // 2, math.ceil(1.02 * need) - self.n)))


def _rng(seed):
    """Monte Carlo's generator: NumPy's fastest bit generator here, SFC64 (8.0 ns per float64
    normal vs 9.3 for the default PCG64 on the shared VMs, 2026-12-06)."""
    return np.random.Generator(np.random.SFC64(seed))


def mc_loss(U, a, T, b, seed, cap=10**8) -> _Moments:
    """Plain Monte Carlo of the ReLU network loss ``E[(f(x) - f*(x))^2]/2``, ``x ~ N(0, I_d)``,
    until its standard error is 1% of its mean, as well as NumPy does it: float64 inputs from
    :func:`_rng` drawn into a reused buffer, student and teacher in one BLAS
    product ``x @ [U; T]^T``, ReLU in place, the output weights ``[a; -b]`` as one
    matrix-vector product; chunks sized by :meth:`_Moments.next_chunk`."""
    rng = _rng(seed)
    d = U.shape[1]
    UT = np.ascontiguousarray(np.concatenate([U, T]).T)
    w = np.concatenate([a, -b])
    X, Z = np.empty((MC_MOST, d)), np.empty((MC_MOST, UT.shape[1]))
    mom, size = _Moments(), MC_FIRST
    while mom.n < cap:
        x, z = X[:size], Z[:size]
        rng.standard_normal(out=x)
        np.matmul(x, UT, out=z)
        np.maximum(z, 0.0, out=z)
        r = z @ w
        r *= r
        r *= 0.5
        mom.add(r)
        if mom.done():
            break
        size = mom.next_chunk()
    return mom


class SharedSamples:
    """The work Monte Carlo can share across the points of a scan: the inputs ``x`` and the
    teacher's outputs ``f*(x)``, drawn once (grown on demand) for every point; ``seconds`` is
    the CPU time spent drawing them."""

    def __init__(self, T, b, seed):
        self.T, self.b, self.rng = T, b, _rng(seed)
        self.x, self.fs, self.seconds = np.empty((0, T.shape[1])), np.empty(0), 0.0

    def get(self, start, size):
        if start + size > len(self.fs):
            t0 = time.process_time()
            grow = max(start + size - len(self.fs), MC_MOST)
            x = self.rng.standard_normal((grow, self.T.shape[1]))
            fs = np.maximum(x @ self.T.T, 0.0) @ self.b
            self.x, self.fs = np.concatenate([self.x, x]), np.concatenate([self.fs, fs])
            self.seconds += time.process_time() - t0
        return self.x[start:start + size], self.fs[start:start + size]


def mc_loss_shared(U, a, shared: SharedSamples) -> _Moments:
    """:func:`mc_loss` of one point of a scan on the shared inputs and teacher outputs: per
    point only the student's product ``x @ U^T``, its ReLU and ``a``, and the residual."""
    UT = np.ascontiguousarray(U.T)
    Z = np.empty((MC_MOST, UT.shape[1]))
    mom, size, start = _Moments(), MC_FIRST, 0
    while True:
        x, fs = shared.get(start, size)
        z = Z[:size]
        np.matmul(x, UT, out=z)
        np.maximum(z, 0.0, out=z)
        r = z @ a
        r -= fs
        r *= r
        r *= 0.5
        mom.add(r)
        start += size
        if mom.done():
            return mom
        size = mom.next_chunk()


def _agrees(mom: _Moments, loss: float) -> bool:
    """Whether Monte Carlo's mean is within 5 standard errors of the closed form (a check with
    teeth on both: a wrong simulator or a wrong closed form fails the row)."""
    return abs(mom.mean - loss) <= 5.0 * mom.se


# --- Monte Carlo of the gradient to 1% relative standard error in norm (row 4c) -----------

#: the most samples in one chunk of :func:`mc_grad` (its (n, k) and (n, d) temporaries stay in
#: the L2 cache: 1.3 MB each at k = d = 20)
MC_GRAD_MOST = 1 << 13
#: the most samples :func:`mc_grad` draws in the bench (~30 s at k = 20)
MC_GRAD_CAP = 10**8


class _GradMoments:
    """Running count, mean vector and total sum of squared deviations (summed over the
    coordinates) of per-sample gradients, merged chunk by chunk (Chan et al.).  Within a chunk
    the total is ``sum |g_s|^2 - n |mean|^2``: no cancellation to speak of, as the per-sample
    gradient's total variance is >= 1e-4 n |mean|^2 until the rule holds (n ~ 1e5-1e6 here)."""

    def __init__(self, shape):
        self.n, self.mean, self.m2 = 0, np.zeros(shape), 0.0

    def add(self, k, s1, sq):
        mk = s1 / k
        n = self.n + k
        delta = mk - self.mean
        self.m2 += (sq - k * float(np.vdot(mk, mk))) + float(np.vdot(delta, delta)) * self.n * k / n
        self.mean += delta * (k / n)
        self.n = n

    @property
    def se(self) -> float:
        """sqrt(sum of per-coordinate variances / n): the standard error in norm."""
        return math.sqrt(max(self.m2, 0.0) / (self.n - 1) / self.n)

    def done(self) -> bool:
        return self.n > 1 and self.se <= MC_RSE * float(np.linalg.norm(self.mean))

    def next_chunk(self) -> int:
        nm = float(np.linalg.norm(self.mean))
        need = self.m2 / (self.n - 1) / (MC_RSE * nm) ** 2 if nm > 0 else math.inf
        return int(min(MC_GRAD_MOST, max(MC_FIRST // 2, math.ceil(1.02 * need) - self.n)))


def mc_grad(U, a, T, b, seed, cap=10**8) -> _GradMoments:
    """Plain Monte Carlo of the gradient of the ReLU network loss w.r.t. the student's first
    layer, ``E[(f(x) - f*(x)) a_i 1[u_i . x > 0] x]``, ``x ~ N(0, I_d)``, until its standard
    error in norm (sqrt(sum of per-coordinate variances / n)) is 1% of the norm of its mean, or
    ``cap`` samples.  As well as NumPy does it: :func:`mc_loss`'s inputs, BLAS product and ReLU,
    then the (n, k) weights ``M = r a 1[z > 0]`` and the chunk's gradient sum as one BLAS
    product ``M^T x``; the per-sample squared norm ``|g_s|^2 = |M_s|^2 |x_s|^2`` for the
    variance; chunks sized from the running variance, at most :data:`MC_GRAD_MOST`."""
    rng = _rng(seed)
    k, d = U.shape
    UT = np.ascontiguousarray(np.concatenate([U, T]).T)
    w = np.concatenate([a, -b])
    X, Z = np.empty((MC_GRAD_MOST, d)), np.empty((MC_GRAD_MOST, UT.shape[1]))
    M = np.empty((MC_GRAD_MOST, k))
    mom, size = _GradMoments(U.shape), MC_FIRST
    while mom.n < cap:
        size = min(size, cap - mom.n)
        x, z, m = X[:size], Z[:size], M[:size]
        rng.standard_normal(out=x)
        np.matmul(x, UT, out=z)
        zs = z[:, :k]
        np.greater(zs, 0.0, out=m)
        np.maximum(z, 0.0, out=z)
        r = z @ w
        m *= a
        m *= r[:, None]
        s1 = m.T @ x
        sq = float(np.einsum("ij,ij->i", m, m) @ np.einsum("ij,ij->i", x, x))
        mom.add(size, s1, sq)
        if mom.done():
            break
        size = mom.next_chunk()
    return mom


def _grad_agrees(mom: _GradMoments, grad) -> bool:
    """Whether Monte Carlo's mean gradient is within 5 standard errors (in norm) of the closed
    form: ``|mean - grad| <= 5 se``."""
    return float(np.linalg.norm(mom.mean - grad)) <= 5.0 * mom.se


def _bare_call_floor():
    """CPU seconds of a bare call of a trivial ``@numba.njit`` function with 4 array arguments
    (the floor of any single compiled call from Python), or None without Numba."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit
    def bare(w, a, v, b):
        return w[0, 0] + a[0] + v[0, 0] + b[0]

    W, a = np.ones((7, 7)), np.ones(7)
    bare(W, a, W, a)
    return _cpu(lambda: bare(W, a, W, a), repeat=5, number=2000)


#: glibc's M_TOP_PAD for the second run of row 1 (``MALLOC_TOP_PAD_`` in the environment)
TOP_PAD = 64 << 20


class _malloc_top_pad:
    """Within the block, glibc keeps ``pad`` bytes at the top of the heap (``mallopt(M_TOP_PAD)``)
    instead of trimming it: the batched gradient's 256 kB temporaries are then not returned to
    the OS and re-faulted on every block (on the shared VMs a page fault is slow: it made the
    batched gradient 2.5x slower; the per-point baselines' 3 kB arrays never leave the heap).
    ``None``: no change.  The block's value is None, or the reason it cannot be applied."""

    M_TOP_PAD, DEFAULT = -2, 128 * 1024

    def __init__(self, pad):
        self.pad, self.libc = pad, None

    def __enter__(self):
        if self.pad is None:
            return None
        try:
            import ctypes

            self.libc = ctypes.CDLL("libc.so.6")
            if self.libc.mallopt(self.M_TOP_PAD, int(self.pad)) != 1:
                raise OSError("mallopt(M_TOP_PAD) refused")
        except (OSError, AttributeError) as exc:
            self.libc = None
            return f"not glibc ({exc})"
        return None

    def __exit__(self, *exc):
        if self.libc is not None:
            self.libc.mallopt(self.M_TOP_PAD, self.DEFAULT)
        return False


def _one_blas_thread():
    """BLAS limited to one thread (threadpoolctl), or a no-op context without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _engine_backend() -> str:
    """The engine's backend for the rows: the compiled one when Numba is installed."""
    from derivations.runtime import backend as _backend

    return "numba" if _backend.numba_available() else "numpy"


def run(quick: bool = False) -> list[BenchRow]:
    """Every row, with BLAS on one thread for every NumPy candidate (engine and baselines):
    on the shared 2-core VMs OpenBLAS's idle worker threads spin, and a 100 x 100 product costs
    ~20x its single-thread CPU time (the k = 100 gradient: 16-28 ms vs 0.9 ms).  The engine runs
    on the compiled backend when Numba is installed (row 1 also times its NumPy engine)."""
    from derivations.runtime import backend as _backend

    with _one_blas_thread(), _backend.using(_engine_backend()):
        return _run(quick)


def _run(quick: bool) -> list[BenchRow]:
    rows = []
    rng = np.random.default_rng(0)
    # 1. batched gradient vs per-point loops of published code
    k = 20
    n = 100 if quick else 500
    net = fully_connected(k, k, k, "relu")
    W, a, V, b = _point(rng, k, k, k, (n,))
    ref = net.grad(W, a, V, b)
    for i in (0, n - 1):
        assert np.allclose(sys_grad(W[i], V), ref[i], rtol=1e-10, atol=1e-12)
        assert np.allclose(tian_grad(W[i], V), ref[i], rtol=1e-10, atol=1e-12)
    from derivations.runtime import backend as _backend

    be = _engine_backend()

    def numpy_batched():
        with _backend.using("numpy"):
            return net.grad(W, a, V, b)

    cands = {"batched": lambda: net.grad(W, a, V, b),
             "sys loop": lambda: [sys_grad(W[i], V) for i in range(n)],
             "tian loop": lambda: [tian_grad(W[i], V) for i in range(n)],
             "engine loop": lambda: [net.grad(W[i], a[i], V, b) for i in range(n)]}
    if be != "numpy":
        cands["numpy batched"] = numpy_batched
    for pad in (None, TOP_PAD):
        with _malloc_top_pad(pad) as why:
            if why:
                rows.append(BenchRow("twolayer grad batched, malloc top pad (skipped)",
                                     float("nan"), "info", "", True, why))
                continue
            t = interleaved(cands, rounds=3 if quick else 7, repeat=1 if quick else 2)
        tag = "" if pad is None else f", malloc top pad {pad >> 20} MB"
        for base, what in (("sys loop", "Safran-Yehudai-Shamir's grad per point"),
                           ("tian loop", "Tian's compute_gradient per point"),
                           ("engine loop", "the engine's own call per point")):
            if pad is not None and base == "engine loop":
                continue
            rows.append(ratio_row(f"twolayer grad batched ({be}) vs {base} (k=m=d={k}, {n} "
                                  f"points{tag})", t, base, "batched",
                                  10.0 if base != "engine loop" else 1.0, better=">=",
                                  detail=f"ReLU, a = b = 1; engine on {be}; baseline: {what}"))
        if "numpy batched" in t:
            rows.append(ratio_row(f"twolayer grad batched (numpy) vs sys loop (k=m=d={k}, {n} "
                                  f"points{tag})", t, "sys loop", "numpy batched", 1.0,
                                  better=">=", detail="information: the NumPy engine"))
    if be != "numpy":
        rows += _thread_rows(net, W, a, V, b, n, k, quick)
    # 2. vs JAX
    rows += _jax_rows(rng, quick)
    rows += _jax_engine_rows(rng, quick)   # the engine itself on JAX (derivations/twolayer/jax.py)
    # 3. Hessian at k = m = d = 100
    kh = 30 if quick else 100
    net_h = fully_connected(kh, kh, kh, "relu")
    Wh, ah, Vh, bh = _point(rng, kh, kh, kh)
    sec = _cpu(lambda: net_h.hessian(Wh, ah, Vh, bh), repeat=2)
    rows.append(BenchRow(f"twolayer Hessian k=m=d={kh} ({kh * kh}x{kh * kh})", sec, "< 2", "s",
                         sec < 2.0, f"CPU time, best of 2 calls, dense float64 (..., P, P); "
                         f"engine on {_engine_backend()}"))
    # 4. closed form vs Monte Carlo to 1% relative SE
    rows += _mc_rows(rng, V, quick)
    # 5. HVP vs dense Hessian
    dW = rng.standard_normal(Wh.shape)
    hvp_sec = _cpu(lambda: net_h.hvp(Wh, ah, Vh, bh, dW), repeat=3)
    rows.append(BenchRow(f"twolayer HVP vs dense Hessian (k=m=d={kh})", sec / hvp_sec, "info",
                         "x", True, f"HVP {hvp_sec * 1e3:.1f} ms, Hessian {sec:.2f} s (CPU)"))
    return rows


def _thread_rows(net, W, a, V, b, n, k, quick) -> list[BenchRow]:
    """Row 1b (information, the target is row 1's): the compiled batched gradient on 2 threads
    over its chunks (``compiled.GRAD_THREADS = 2``) against the single-thread SYS loop, in CPU
    time (all threads: what the 2 threads cost together) and in wall time (what a user waits;
    on the shared 2-core VM other jobs inflate both sides of it)."""
    from derivations.twolayer import compiled

    def two():
        old = compiled.GRAD_THREADS
        compiled.GRAD_THREADS = 2
        try:
            return net.grad(W, a, V, b)
        finally:
            compiled.GRAD_THREADS = old

    assert all(np.array_equal(x, y) for x, y in zip(two(), net.grad(W, a, V, b)))
    cands = {"batched 2 threads": two, "batched": lambda: net.grad(W, a, V, b),
             "sys loop": lambda: [sys_grad(W[i], V) for i in range(n)]}
    rows = []
    for clock, label in ((time.process_time, "CPU time"), (time.perf_counter, "wall time")):
        t = interleaved(cands, rounds=3 if quick else 7, repeat=1 if quick else 2, clock=clock)
        for den in ("batched 2 threads", "batched"):
            rows.append(ratio_row(f"twolayer grad {den} (numba) vs sys loop, {label} (k=m=d={k}, "
                                  f"{n} points)", t, "sys loop", den, 10.0, better=">=",
                                  clock=label,
                                  detail="information (row 1 is the target's): the engine's "
                                         "chunks on 2 threads (compiled.GRAD_THREADS = 2) and on "
                                         "1, vs the single-thread SYS loop"))
            rows[-1].target = "info"
            rows[-1].ok = True
    return rows


def _paired(t, num, den, scale=1.0):
    """Median and quartiles of the round-by-round ratios ``scale * t[num] / t[den]`` where
    ``num`` may be a list of candidates (their per-round mean is the numerator)."""
    nums = [num] if isinstance(num, str) else num
    per_round = [float(np.mean(x)) for x in zip(*(t[n].times for n in nums))]
    r = sorted(scale * x / y for x, y in zip(per_round, t[den].times))
    q = np.quantile(r, [0.25, 0.5, 0.75])
    return float(q[1]), float(q[0]), float(q[2])


def _mc_rows(rng, V, quick: bool) -> list[BenchRow]:
    """Row 4: the closed-form loss vs Monte Carlo to 1% relative SE, (a) one call for one point
    and (b) the throughput over a scan of P points (one batched call; Monte Carlo shares its
    inputs and teacher outputs across the points, :class:`SharedSamples`).  Candidates timed in
    interleaved rounds (CPU time, best of 2 per round), ratios paired round by round."""
    rows = []
    be = _engine_backend()
    k = V.shape[0]
    cases = [(f"k=m=d={k}, |W - V| ~ 0.3", V + 0.3 * rng.standard_normal(V.shape) / np.sqrt(k),
              np.ones(k), V, np.ones(k), 0.3)]
    Ws, as_, Vs, bs = S.safran_shamir_minimum()
    cases.append(("k=m=d=7 spurious minimum", Ws, as_, Vs, bs, 0.1))
    side = 20 if quick else 40
    P = 200 if quick else 1000
    grid = (np.linspace(-1, 1, side)[:, None, None, None],
            np.linspace(-1, 1, P // side)[None, :, None, None])
    n_mc = 3 if quick else 5
    rounds = 3 if quick else 7
    calls = 200
    for label, Wc, ac, Vc, bc, scale in cases:
        kk, d = Wc.shape
        net = fully_connected(d, kk, Vc.shape[0], "relu")
        seed = kk
        # (a) one point, one call; Monte Carlo draws its inputs and evaluates the teacher
        loss = float(net.loss(Wc, ac, Vc, bc))
        mom = mc_loss(Wc, ac, Vc, bc, seed)
        ok = _agrees(mom, loss)

        def closed_calls():
            for _ in range(calls):
                net.loss(Wc, ac, Vc, bc)

        t = interleaved({"MC": lambda: mc_loss(Wc, ac, Vc, bc, seed),
                         "closed form": closed_calls}, rounds=rounds, repeat=2)
        ratio, q1, q3 = _paired(t, "MC", "closed form", calls)
        mc_sec, cf = t["MC"].median, t["closed form"].median / calls
        rows.append(BenchRow(
            f"twolayer closed-form loss vs MC to 1% SE, one call ({label})", ratio,
            ">= 1e+04", "x", ratio >= 1e4 and ok,
            f"MC reached 1% relative SE after {mom.n:.3g} samples in {mc_sec:.3g} s CPU "
            f"({mc_sec / mom.n * 1e9:.0f} ns/sample, inputs drawn and teacher evaluated; mean "
            f"{mom.mean:.4g} +- {mom.se:.2g}{'' if ok else ', DISAGREES with the closed form'}); "
            f"closed form {cf * 1e6:.1f} us/call ({be}), loss {loss:.4g}; paired ratio IQR "
            f"{q1:.0f}-{q3:.0f}, CPU time, {rounds} interleaved rounds (best of 2 each)",
            {"samples": mom.n, "mc_seconds": mc_sec, "closed_form_seconds": cf}))
        # (b) a landscape scan: P points on a plane through the point, one batched call
        D = scale * rng.standard_normal((2,) + Wc.shape) / np.sqrt(d)
        scan = (Wc + grid[0] * D[0] + grid[1] * D[1]).reshape((-1,) + Wc.shape)
        losses = net.loss(scan, ac, Vc, bc)
        shared = SharedSamples(Vc, bc, seed)
        idx = np.linspace(0, len(scan) - 1, n_mc).astype(int)
        need, bad = [], []
        for i in idx:
            m = mc_loss_shared(scan[i], ac, shared)   # also draws the shared samples, once
            need.append(m.n)
            if not _agrees(m, float(losses[i])):
                bad.append(int(i))
        cands = {"batched": lambda: net.loss(scan, ac, Vc, bc)}
        for i in idx:
            cands[f"MC {i}"] = (lambda W=scan[i]: mc_loss_shared(W, ac, shared))
        t = interleaved(cands, rounds=rounds, repeat=2)
        mcs = [f"MC {i}" for i in idx]
        share = shared.seconds / len(scan)
        mc_mean = float(np.mean([t[n].median for n in mcs]))
        cf_scan = t["batched"].median / len(scan)
        charge = (mc_mean + share) / mc_mean     # the shared draws, charged per point
        ratio, q1, q3 = (charge * x for x in _paired(t, mcs, "batched", len(scan)))
        rows.append(BenchRow(
            f"twolayer closed-form loss vs MC to 1% SE, throughput over {len(scan)} scan points "
            f"({label})", ratio, ">= 1e+04", "x", ratio >= 1e4 and not bad,
            f"closed form {cf_scan * 1e6:.2f} us/point (one batched call, {be}); MC "
            f"{(mc_mean + share) * 1e3:.3g} ms/point: mean over {n_mc} of the points "
            f"({min(need):.3g}-{max(need):.3g} samples, {mc_mean / np.mean(need) * 1e9:.0f} "
            f"ns/sample) on inputs and teacher outputs shared by the scan (drawn once, "
            f"{shared.seconds * 1e3:.3g} ms, charged / {len(scan)} points); paired ratio IQR "
            f"{q1:.0f}-{q3:.0f}, CPU time, {rounds} interleaved rounds (best of 2 each)"
            + (f"; MC DISAGREES with the closed form at points {bad}" if bad else ""),
            {"closed_form_seconds_per_point": cf_scan, "mc_seconds_per_point": mc_mean + share,
             "mc_samples": need, "shared_seconds": shared.seconds}))
    # 4c. the gradient vs Monte Carlo of the gradient, at the k = 20 point of (a)
    rows += _mc_grad_rows(cases[0][1], cases[0][3], quick)
    floor = _bare_call_floor()
    if floor is not None:
        rows.append(BenchRow("twolayer single-call floor: a bare Numba call with 4 arrays",
                             floor * 1e6, "info", "us", True,
                             "a trivial @numba.njit function of (W, a, V, b), k = d = 7: the "
                             "dispatch alone (argument typing and unboxing), best of 5 x 2000"))
    return rows


def _mc_grad_rows(W20, V20, quick: bool) -> list[BenchRow]:
    """Row 4c: the closed-form gradient (``net.grad``, one call) vs Monte Carlo of the gradient
    (:func:`mc_grad`) to 1% relative standard error in norm, at row 4's k = m = d = 20 point
    and at the k = m = d = 7 spurious minimum moved by 0.3 N(0, I)/sqrt(7) (seed 7; at the
    minimum itself the gradient is ~1e-10 and Monte Carlo would never reach 1% of it).  Same
    timing as row 4a (interleaved rounds, best of 2, paired ratios; the closed form as 200
    calls); Monte Carlo's mean must agree with the closed form within 5 standard errors in
    norm (seeds 20 and 7).  Monte Carlo stops at :data:`MC_GRAD_CAP` samples at the latest: the
    row then reports the cap and fails, untimed."""
    rows = []
    be = _engine_backend()
    Ws, as_, Vs, bs = S.safran_shamir_minimum()
    W7 = Ws + 0.3 * np.random.default_rng(7).standard_normal(Ws.shape) / np.sqrt(7)
    k = V20.shape[0]
    cases = [(f"k=m=d={k}, |W - V| ~ 0.3 (row 4's point)", W20, np.ones(k), V20, np.ones(k)),
             ("k=m=d=7, spurious minimum + 0.3 N(0, I)/sqrt(7)", W7, as_, Vs, bs)]
    rounds, calls = (3 if quick else 7), 200
    for label, Wc, ac, Vc, bc in cases:
        kk, d = Wc.shape
        net = fully_connected(d, kk, Vc.shape[0], "relu")
        seed = kk
        g = np.asarray(net.grad(Wc, ac, Vc, bc))
        mom = mc_grad(Wc, ac, Vc, bc, seed, cap=MC_GRAD_CAP)
        gn = float(np.linalg.norm(g))
        ok = _grad_agrees(mom, g)
        dev = float(np.linalg.norm(mom.mean - g)) / mom.se
        name = f"twolayer closed-form grad vs MC of the gradient to 1% SE, one call ({label})"
        if not mom.done():
            rows.append(BenchRow(name, float("nan"), ">= 1e+04", "x", False,
                                 f"MC hit its cap of {MC_GRAD_CAP:.0e} samples at relative SE "
                                 f"{mom.se / float(np.linalg.norm(mom.mean)):.3g} (|grad| "
                                 f"{gn:.3g}): not timed"))
            continue

        def closed_calls():
            for _ in range(calls):
                net.grad(Wc, ac, Vc, bc)

        t = interleaved({"MC": lambda: mc_grad(Wc, ac, Vc, bc, seed, cap=MC_GRAD_CAP),
                         "closed form": closed_calls}, rounds=rounds, repeat=2)
        ratio, q1, q3 = _paired(t, "MC", "closed form", calls)
        mc_sec, cf = t["MC"].median, t["closed form"].median / calls
        rows.append(BenchRow(
            name, ratio, ">= 1e+04", "x", ratio >= 1e4 and ok,
            f"MC reached 1% relative SE in norm after {mom.n:.3g} samples in {mc_sec:.3g} s CPU "
            f"({mc_sec / mom.n * 1e9:.0f} ns/sample, inputs drawn and teacher evaluated); "
            f"|MC mean - closed form| = {dev:.2f} SE (norm){'' if ok else ', DISAGREES'}; "
            f"closed form {cf * 1e6:.1f} us/call ({be}), |grad| {gn:.4g}; paired ratio IQR "
            f"{q1:.0f}-{q3:.0f}, CPU time, {rounds} interleaved rounds (best of 2 each)",
            {"samples": mom.n, "mc_seconds": mc_sec, "closed_form_seconds": cf,
             "deviation_se": dev}))
    return rows


def _jax_rows(rng, quick: bool) -> list[BenchRow]:
    from . import _twolayer_jax as J

    why = J.available()
    if why is not None:
        return [BenchRow("twolayer vs jax (skipped)", float("nan"), "info", "", True, why)]
    rows = []
    for k in ((20,) if quick else (20, 100)):
        net = fully_connected(k, k, k, "relu")
        W, a, V, b = _point(rng, k, k, k)
        jg, jh, _ = J.functions(k, k, k)
        w = W.ravel()
        g_ref = net.grad(W, a, V, b).ravel()
        err = float(np.max(np.abs(J.block(jg(w, V)) - g_ref)) / np.max(np.abs(g_ref)))
        t = interleaved({"jax.grad": lambda: J.block(jg(w, V)),
                         "engine": lambda: net.grad(W, a, V, b)},
                        rounds=5 if quick else 9, number=20, repeat=2)
        rows.append(ratio_row(f"twolayer grad vs jax.grad (jit, k=m=d={k})", t, "jax.grad",
                              "engine", 1.0, better=">=",
                              detail=f"ReLU closed form in jax.numpy, x64; engine on "
                                     f"{_engine_backend()}; max rel diff {err:.1e}"))
        if k <= 50:
            hess = jh
            note = "jax.hessian"
        else:
            hess = J.hessian_chunked(k, k, k, chunk=100)
            note = "jax.hessian's jvp-of-grad, 100 tangents per lax.map step (one call: ~20 GB)"
        t0 = time.perf_counter()
        Hj = J.block(hess(w, V))  # compiles
        compile_s = time.perf_counter() - t0
        H = net.hessian(W, a, V, b)
        herr = float(np.max(np.abs(Hj - H)) / np.max(np.abs(H)))
        del Hj
        reps = 1 if k > 50 else 5
        tj = _cpu(lambda: J.block(hess(w, V)), repeat=reps)
        te = _cpu(lambda: net.hessian(W, a, V, b), repeat=max(reps, 2))
        rows.append(BenchRow(f"twolayer Hessian vs jax (jit, k=m=d={k})", tj / te, ">= 1", "x",
                             tj >= te, f"{note}: {tj:.3g} s, engine {te:.3g} s (CPU, best of "
                             f"{reps}); first call (compile) {compile_s:.1f} s wall; max rel diff "
                             f"{herr:.1e}"))
    return rows


# --------------------------------------------------------------------------------------------
# The engine on JAX (issue 25 item 3; derivations/twolayer/jax.py): one row
# --------------------------------------------------------------------------------------------


def _jax_engine_rows(rng, quick: bool, k: int = 20) -> list[BenchRow]:
    """The JAX engine (``net.jax()``: the derived pair kernels emitted as JAX, the chain rule in
    ``jax.numpy``, jit-compiled) vs ``jax.grad`` / ``jax.hessian`` of the jit-compiled closed-form
    loss (:mod:`._twolayer_jax`), both on JAX, at k = m = d = 20: one row, the gradient ratio
    (target >= 1), the Hessian ratio in the detail.  (k = 100: docs/twolayer.md, "On JAX".)"""
    from . import _twolayer_jax as J

    why = J.available()
    if why is not None:
        return [BenchRow("twolayer JAX engine vs jax.grad (skipped)", float("nan"), "info", "",
                         True, why)]
    import jax.numpy as jnp

    net = fully_connected(k, k, k, "relu")
    W, a, V, b = _point(rng, k, k, k)
    jg, jh, _ = J.functions(k, k, k)
    f = net.jax()
    w = W.ravel()
    Wj, aj, Vj, bj = (jnp.asarray(x) for x in (W, a, V, b))
    g = J.block(f.grad(Wj, aj, Vj, bj))                     # compiles
    gerr = float(np.max(np.abs(g.ravel() - J.block(jg(w, V)))) / np.max(np.abs(g)))
    H = J.block(f.hessian(Wj, aj, Vj, bj))
    herr = float(np.max(np.abs(H - J.block(jh(w, V)))) / np.max(np.abs(H)))
    t = interleaved({"jax.grad": lambda: J.block(jg(w, V)),
                     "JAX engine grad": lambda: J.block(f.grad(Wj, aj, Vj, bj)),
                     "jax.hessian": lambda: J.block(jh(w, V)),
                     "JAX engine Hessian": lambda: J.block(f.hessian(Wj, aj, Vj, bj))},
                    rounds=5 if quick else 9, number=5, repeat=2)
    hmed, hq1, hq3 = _paired(t, "jax.hessian", "JAX engine Hessian")
    return [ratio_row(f"twolayer JAX engine grad vs jax.grad (jit, k=m=d={k})", t, "jax.grad",
                      "JAX engine grad", 1.0, better=">=",
                      detail=f"both on JAX (x64, CPU): net.jax() vs jax.grad of the ReLU closed "
                             f"form; Hessian: net.jax().hessian {hmed:.1f}x faster than "
                             f"jax.hessian (IQR {hq1:.1f}-{hq3:.1f}); max rel diff {gerr:.1e} "
                             f"(grad), {herr:.1e} (Hessian)")]
