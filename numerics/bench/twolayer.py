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

2. Gradient and Hessian vs ``jax.grad`` / ``jax.hessian`` of a jit-compiled closed-form loss
   (the same ReLU closed form in ``jax.numpy``, :mod:`._twolayer_jax`), CPU, k = m = d = 20 and
   100 (target: the engine at least as fast).  At k = 100 ``jax.hessian`` in one call does not
   fit in memory (10^4 tangents through (100, 100) intermediates, ~20 GB): the row times the
   same forward-over-reverse product 100 tangents at a time.  Skipped, with the reason, when
   jax is not installed (the ``bench`` extra).
3. The dense Hessian at k = m = d = 100 (10^4 x 10^4), target < 2 s.
4. The closed-form loss vs Monte Carlo of the network to 1% relative standard error (target
   >= 1e4x): Monte Carlo is run in chunks of 10^4 inputs until the running standard error is
   1% of the running mean, and its CPU time is what that took; at k = m = d = 20 (a random point
   at distance 0.3 of the teacher) and at the k = m = d = 7 spurious minimum.
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


def _mc_to_one_percent(U, a, T, b, seed, chunk=10_000, cap=10**8):
    """Monte Carlo of the loss in chunks until SE <= 1% of the mean: (samples, CPU s, mean)."""
    rng = np.random.default_rng(seed)
    n, s1, s2 = 0, 0.0, 0.0
    t0 = time.process_time()
    while n < cap:
        x = S.loss_mc("relu", U, a, T, b, rng, chunk)
        n, s1, s2 = n + chunk, s1 + float(x.sum()), s2 + float((x * x).sum())
        mean = s1 / n
        var = max(s2 / n - mean * mean, 0.0) * n / (n - 1)
        if math.sqrt(var / n) <= 0.01 * mean:
            break
    return n, time.process_time() - t0, mean


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
    # 2. vs JAX
    rows += _jax_rows(rng, quick)
    # 3. Hessian at k = m = d = 100
    kh = 30 if quick else 100
    net_h = fully_connected(kh, kh, kh, "relu")
    Wh, ah, Vh, bh = _point(rng, kh, kh, kh)
    sec = _cpu(lambda: net_h.hessian(Wh, ah, Vh, bh), repeat=2)
    rows.append(BenchRow(f"twolayer Hessian k=m=d={kh} ({kh * kh}x{kh * kh})", sec, "< 2", "s",
                         sec < 2.0, f"CPU time, best of 2 calls, dense float64 (..., P, P); "
                         f"engine on {_engine_backend()}"))
    # 4. closed form vs Monte Carlo to 1% relative SE
    Wm = V + 0.3 * rng.standard_normal(V.shape) / np.sqrt(k)
    cases = [(f"k=m=d={k}, |W - V| ~ 0.3", k, Wm, np.ones(k), V, np.ones(k))]
    Ws, as_, Vs, bs = S.safran_shamir_minimum()
    cases.append(("k=m=d=7 spurious minimum", 7, Ws, as_, Vs, bs))
    for label, kk, Wc, ac, Vc, bc in cases:
        net_m = fully_connected(Wc.shape[1], kk, Vc.shape[0], "relu")
        loss = float(net_m.loss(Wc, ac, Vc, bc))
        cf = _cpu(lambda: net_m.loss(Wc, ac, Vc, bc), repeat=5, number=20)
        need, mc_sec, mean = _mc_to_one_percent(Wc, ac, Vc, bc, seed=kk)
        ratio = mc_sec / cf
        rows.append(BenchRow(
            f"twolayer closed-form loss vs MC to 1% SE ({label})", ratio, ">= 1e+04", "x",
            ratio >= 1e4,
            f"MC reached 1% relative SE after {need:.3g} samples in {mc_sec:.3g} s CPU "
            f"({mc_sec / need * 1e9:.0f} ns/sample; mean {mean:.4g}); closed form "
            f"{cf * 1e6:.0f} us/call (best of 5 x 20, {_engine_backend()}), loss {loss:.4g}",
            {"samples": need, "mc_seconds": mc_sec, "closed_form_seconds": cf}))
    # 5. HVP vs dense Hessian
    dW = rng.standard_normal(Wh.shape)
    hvp_sec = _cpu(lambda: net_h.hvp(Wh, ah, Vh, bh, dW), repeat=3)
    rows.append(BenchRow(f"twolayer HVP vs dense Hessian (k=m=d={kh})", sec / hvp_sec, "info",
                         "x", True, f"HVP {hvp_sec * 1e3:.1f} ms, Hessian {sec:.2f} s (CPU)"))
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
