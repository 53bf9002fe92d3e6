"""Benchmarks of the kernels family (``nnderive bench kernels``).

1. Closed-form Gram matrices over n = 2000 points in d = 100 (emitted ``<name>_gram``) vs their
   Monte Carlo estimates at 1% accuracy: ``A = relu(X W^T)`` (or indicators) for ``N`` Gaussian
   weight vectors, ``A A^T / N``.  ``N`` for a 1% standard error of the median entry is measured
   on a pilot batch; the MC time is measured on ``N_pilot`` draws and scaled linearly to ``N``
   (stated in the row).
2. The emitted Gram vs a careful hand-written NumPy Gram of the same kernel (shared interleaved
   timer: median CPU time of alternating rounds).
3. The compiled Grams (``derivations/generated/kernels_gram_numba.py``) / the NumPy backend's,
   n = 100 and 2000 (500 quick), d = 100 (:func:`compiled_rows`).
4. neural-tangents' analytic kernel (ReLU NTK / NNGP) when importable, else a one-line notice.
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import BenchRow, interleaved, ratio_row


def _best(fn, repeat=5):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def _hand_angle(X):
    """Norms, inner products, cosine and angle of all pairs, with the same accuracy contract as
    the emitted code: Kahan's 2 atan2(|x^ - y^|, |x^ + y^|) where |cos| > 0.9 (exact 0 and pi)."""
    r = np.sqrt(np.einsum("ij,ij->i", X, X))
    G = X @ X.T
    c = np.clip(G / np.outer(r, r), -1.0, 1.0)
    phi = np.arccos(c)
    i, j = np.nonzero(np.abs(c) > 0.9)
    xh = X / r[:, None]
    dm = np.linalg.norm(xh[i] - xh[j], axis=1)
    dp = np.linalg.norm(xh[i] + xh[j], axis=1)
    phi[i, j] = 2 * np.arctan2(dm, dp)
    return r, G, c, phi, (i, j, dm, dp)


def hand_arccos1_gram(X):
    r, _, c, phi, (i, j, dm, dp) = _hand_angle(X)
    s = np.sqrt(1 - c * c)
    s[i, j] = 0.5 * dm * dp
    return np.outer(r, r) * (s + (np.pi - phi) * c) / (2 * np.pi)


def hand_h_inf_gram(X):
    _, G, _, phi, _ = _hand_angle(X)
    return G * (np.pi - phi) / (2 * np.pi)


def _mc_gram(X, W, which):
    P = X @ W.T
    if which == "arccos1":
        A = np.maximum(P, 0.0)
        return A @ A.T / W.shape[0], A
    A = (P >= 0).astype(np.float64)
    return (X @ X.T) * (A @ A.T) / W.shape[0], A


def run(quick: bool = False) -> list[BenchRow]:
    from derivations import kernels as K

    n, d = (500, 100) if quick else (2000, 100)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)) / math.sqrt(d)
    rows = []
    for which in ("arccos1", "h_inf"):
        closed = K.gram(which, X)
        hand = hand_arccos1_gram if which == "arccos1" else hand_h_inf_gram
        np.testing.assert_allclose(closed, hand(X), atol=1e-12)
        t = interleaved({"emitted": lambda: K.gram(which, X), "hand-written": lambda: hand(X)},
                        rounds=5 if quick else 11)
        t_closed = _best(lambda: K.gram(which, X), 3)  # wall time, best of 3: like the MC pilot
        # pilot: per-sample standard deviation of every entry (on a 200-point subset)
        sub = X[:200]
        Wp = rng.standard_normal((4000, d))
        P = sub @ Wp.T
        if which == "arccos1":
            A = np.maximum(P, 0.0)
            samp_mean = A @ A.T / Wp.shape[0]
            samp_sq = (A**2) @ (A**2).T / Wp.shape[0]
        else:
            A = (P >= 0).astype(float)
            G = sub @ sub.T
            samp_mean = G * (A @ A.T) / Wp.shape[0]
            samp_sq = G**2 * (A @ A.T) / Wp.shape[0]
        sd = np.sqrt(np.maximum(samp_sq - samp_mean**2, 0.0))
        ref = K.gram(which, sub)
        iu = np.triu_indices(len(sub), 1)
        rel_sd = np.median(sd[iu] / np.abs(ref[iu]))
        N = int(math.ceil((rel_sd / 0.01) ** 2))
        n_pilot = 2000 if quick else 4000
        W = rng.standard_normal((n_pilot, d))
        t_pilot = _best(lambda: _mc_gram(X, W, which), repeat=2)
        t_mc = t_pilot * N / n_pilot
        est, _ = _mc_gram(X, W, which)
        rows.append(BenchRow(
            f"kernels.{which}_gram: MC(1%) / closed form", t_mc / t_closed, ">= 10", "x",
            t_mc / t_closed >= 10,
            detail=(f"n = {n}, d = {d}: closed {t_closed * 1e3:.1f} ms; MC needs N = {N} draws "
                    f"for 1% SE of the median entry (measured {n_pilot} draws in "
                    f"{t_pilot:.2f} s, scaled); MC at N={n_pilot} deviates "
                    f"{np.median(np.abs(est - closed)[np.triu_indices(n, 1)]):.2g} (median)")))
        rows.append(ratio_row(f"kernels.{which}_gram: emitted / hand-written NumPy (n = {n}, d = {d})", t,
                              "emitted", "hand-written", 1.1,
                              detail="both with the exact-angle pass on |cos| > 0.9 pairs"))
    rows += compiled_rows(quick)
    try:
        import jax

        jax.config.update("jax_enable_x64", True)  # float64, like ours (before any kernel call)
        import neural_tangents as nt  # noqa: F401
        from neural_tangents import stax
    except ImportError:
        rows.append(BenchRow("kernels vs neural-tangents", float("nan"), "skipped", "", True,
                             detail="neural-tangents not installed (pip install nnderive[bench]); "
                                    "skipped"))
        return rows
    # NT's NTK parametrization divides the first layer's variance by the fan-in d: W_std =
    # sqrt(d) makes w ~ N(0, I_d) as in E_w[relu(w.x) relu(w.y)]
    _, _, kfn = stax.serial(stax.Dense(1, W_std=float(np.sqrt(X.shape[1])), b_std=0.0),
                            stax.Relu(), stax.Dense(1, W_std=1.0, b_std=0.0))
    nngp = np.asarray(kfn(X, X, "nngp"))
    ours = K.gram("arccos1", X)
    err = float(np.max(np.abs(nngp - ours)) / np.max(np.abs(ours)))
    t_nt = _best(lambda: np.asarray(kfn(X, X, "nngp")), 3)
    t_us = _best(lambda: K.gram("arccos1", X), 3)
    rows.append(BenchRow("kernels.arccos1_gram vs neural-tangents nngp: time ratio", t_us / t_nt,
                         "<= 1", "x", t_us <= t_nt and err < 1e-12,
                         detail=f"max rel difference {err:.1e} (target 1e-12)"))
    return rows


def compiled_rows(quick: bool = False) -> list[BenchRow]:
    """Compiled / NumPy backend for the four ``<name>_gram`` (d = 100; n = 100 and 2000): BLAS's
    Gram, NumPy's arccos and compiled fused passes in tiles of rows
    (derivations/codegen/templates/kernels_numba.py)."""
    import importlib.util

    from derivations.generated import kernels as gen
    from derivations.runtime import backend as _backend

    if importlib.util.find_spec("numba") is None:
        return [BenchRow("kernels: compiled Gram rows", 0.0, "-", "", True, "skipped: numba not installed")]
    rng = np.random.default_rng(3)
    rows = []
    for n, target in ((100, 1.0), (500 if quick else 2000, 0.6)):
        X = rng.standard_normal((n, 100))
        for which in ("h_inf", "arccos1", "g_inf", "v_inf"):
            fn = getattr(gen, f"{which}_gram")

            def side(backend, fn=fn):
                def call():
                    with _backend.using(backend):
                        return fn(X)
                return call

            cands = {"compiled": side("numba"), "NumPy backend": side("numpy")}
            a, b = cands["compiled"](), cands["NumPy backend"]()
            err = float(np.max(np.abs(a - b) / np.abs(b)))
            assert err <= 1e-14, (which, n, err)
            t = interleaved(cands, rounds=5 if quick else 11, number=1 if n > 100 else 20,
                            repeat=1 if n > 100 else 3)
            rows.append(ratio_row(f"kernels.{which}_gram: compiled / NumPy backend (n = {n}, d = 100)", t,
                                  "compiled", "NumPy backend", target,
                                  detail=f"max relative difference {err:.1e}"))
    return rows
