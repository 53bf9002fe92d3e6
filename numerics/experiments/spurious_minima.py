"""Spurious local minima of two-layer ReLU networks (Safran & Shamir, ICML 2018, sec. 4;
issue 21): how often gradient descent from Xavier initialization ends in a spurious minimum of
the population loss, every distinct minimum found, and each one certified by ball arithmetic.

Setting (the paper's): k = m = d student and teacher units, teacher V = I_k, output weights
a = b = 1 (not trained), x ~ N(0, I_k), L(W) = 1/2 E[(sum_i relu(w_i.x) - sum_j relu(x_j))^2].
For each k, R runs of gradient descent from W_0 with iid N(0, 1/k) entries, fixed step 5/k,
until |grad L|_F <= 1e-12 (or an iteration cap; capped runs are reported and left out of the
fraction).  Run r starts from SeedSequence([seed, k, r]); the R runs of one k are split into
tasks of ``block`` runs (:mod:`numerics.sweep`, in process or on Dask).  Each task runs the
compiled loop of :mod:`numerics.spurious_gd` (every run alone, in compiled code; Numba) or,
without Numba, a batched NumPy loop (runs stepped together, retired runs dropped); with the
compiled loop the end points are bit-identical for any split and any number of workers.  No
Newton polish: the end points are plain GD's (docs/spurious_minima.md says what a provably
harmless polish would need and why it would save only ~20% here).

Loss and gradient: issue 20's engine ``derivations.twolayer.fully_connected`` (its derived
``expressions("relu")`` in the compiled loop) when it is installed, else
:mod:`numerics.relu_teacher` (the same formulas: SymPy derivatives of the derived
``gaussian.relu_cross_moment``).

End points: global if L <= ``GLOBAL_LOSS``; otherwise spurious.  Spurious end points are grouped
up to the symmetries of L: permutations of the student units (rows of W) and permutations of the
coordinates, which permute the teacher's units e_j among themselves (columns of W); the group is
S_k x S_d acting by W -> P W Q^T.  The canonical form matches student units to teachers (the
assignment maximizing sum_j W[pi(j), j], so matched pairs sit on the diagonal), then orders the
matched pairs by their invariants (diagonal entry, sorted rest of the row and of the column);
"blocks" are the sizes of the classes of units with equal invariants (e.g. [6, 1] for the k = 7
minimum of issue 20).  Two end points are the same minimum when loss, sorted entries and sorted
diagonal of the canonical form agree to ``SAME_TOL``.  For each distinct minimum: loss, float
smallest Hessian eigenvalue, count, blocks and the certificate of :mod:`numerics.certify`.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

NAME = "spurious_minima"
DESCRIPTION = ("Safran & Shamir 2018: fraction of GD runs (Xavier init, step 5/k) ending in a "
               "spurious minimum, k = m = d = 6..20, every distinct minimum certified (arb)")

GLOBAL_LOSS = 1e-8
SAME_TOL = 1e-6
#: Published fractions of runs converging to a spurious minimum (Safran & Shamir 2018, Table 1,
#: k = n).  Not found in the sources available to this build (the searches are listed in
#: docs/spurious_minima.md): left empty rather than guessed or recalled.
PUBLISHED: dict[int, float] = {}
PAPER_CITATION = ("I. Safran and O. Shamir, Spurious local minima are common in two-layer ReLU "
                  "neural networks, ICML 2018 (PMLR 80:4433-4441; arXiv:1712.08968), Table 1")


# --------------------------------------------------------------------------------------------
# One task: GD on one block of runs
# --------------------------------------------------------------------------------------------


def _one_thread(fn):
    from ..sweep import one_blas_thread

    return one_blas_thread(fn)


#: Pair entries (runs x k x 2k) per gradient call: arrays of ~200 KB stay in cache.  Measured
#: per run-step at k = 20 (stand-in, CPU time): 16 us in chunks of 32 runs, 45 us at 500.
CHUNK_PAIRS = 25600


def chunk_runs(k: int) -> int:
    """Runs per gradient call at width k (cache-sized, see ``CHUNK_PAIRS``)."""
    return max(1, CHUNK_PAIRS // (2 * k * k))


def batched_grad(net, W, a, V, b, rows: int):
    """``net.grad`` of the runs ``W`` (n, k, d), in chunks of ``rows`` runs."""
    if len(W) <= rows:
        return net.grad(W, a, V, b)
    return np.concatenate([net.grad(W[s:s + rows], a, V, b) for s in range(0, len(W), rows)])


def initial_points(seed: int, k: int, start: int, n: int) -> np.ndarray:
    """Xavier starts of runs ``start .. start + n - 1`` at width k: run r draws its (k, k)
    entries N(0, 1/k) from ``SeedSequence([seed, k, r])``, so a run's start does not depend on
    how the runs are split into tasks (``--block``) or spread over workers."""
    from ..sweep import seed_for

    return np.stack([seed_for(seed, k, r).standard_normal((k, k)) / math.sqrt(k)
                     for r in range(start, start + n)])


def backend_name(backend: str = "auto") -> str:
    """``"numba"`` (the compiled loop of :mod:`numerics.spurious_gd`, when Numba is installed)
    or ``"numpy"`` (the batched NumPy loop); ``"auto"`` picks Numba when it is available."""
    from ..spurious_gd import available

    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'numpy', got {backend!r}")
    if backend == "numba" and not available():
        raise ValueError("backend 'numba' needs Numba: pip install 'nnderive[compiled]'")
    if backend == "auto":
        return "numba" if available() else "numpy"
    return backend


@_one_thread
def gd_block(task: dict) -> dict:
    """Gradient descent on one block of runs.  ``task``: k, block, start, n, seed, tol, cap,
    engine, backend.  Returns the end points W (n, k, k), iterations, capped flags, loss and
    |grad|_F (the same numbers for either backend up to rounding: both evaluate the same
    derived coefficients)."""
    from ..relu_teacher import network

    cpu0 = time.thread_time()
    k, n = int(task["k"]), int(task["n"])
    start = int(task.get("start", task["block"] * n))
    net, engine = network(k, k, k, task.get("engine", "auto"))
    W = initial_points(task["seed"], k, start, n)
    V, a, b = np.eye(k), np.ones(k), np.ones(k)
    eta, tol, cap = 5.0 / k, float(task["tol"]), int(task["cap"])
    if backend_name(task.get("backend", "auto")) == "numba":
        from ..spurious_gd import descend

        W, iters, gnorm = descend(W, a, V, b, eta, tol, cap, source=engine)
    else:
        W, iters, gnorm = _numpy_descent(net, W, a, V, b, eta, tol, cap)
    loss = net.loss(W, a, V, b)
    return {"k": k, "block": task["block"], "W": W, "iters": iters, "capped": iters >= cap,
            "loss": np.asarray(loss, float), "gnorm": gnorm,
            "cpu_seconds": time.thread_time() - cpu0}


def _numpy_descent(net, W, a, V, b, eta, tol, cap):
    """The batched NumPy loop (no Numba): all runs of the block stepped together in
    cache-sized chunks, finished runs dropped."""
    n, k = len(W), W.shape[1]
    iters = np.full(n, cap)
    gnorm = np.full(n, np.inf)
    active = np.arange(n)
    rows = chunk_runs(k)
    for t in range(cap + 1):
        g = batched_grad(net, W[active], a, V, b, rows)
        gn = np.sqrt(np.einsum("rij,rij->r", g, g))
        gnorm[active] = gn
        stop = gn <= tol
        if stop.any():
            iters[active[stop]] = t
            active, g = active[~stop], g[~stop]
        if active.size == 0 or t == cap:
            break
        W[active] -= eta * g
    return W, iters, gnorm


# --------------------------------------------------------------------------------------------
# Symmetry: canonical form, blocks, grouping
# --------------------------------------------------------------------------------------------


def canonical(W: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``(P W Q^T, blocks)``: the canonical representative of W under permutations of rows
    (student units) and of columns (coordinates = teacher units), and the sizes of the classes
    of student units with equal sorted weights (largest first): [6, 1] for the k = 7 minimum
    of issue 20 (one special unit, six equivalent ones)."""
    from scipy.optimize import linear_sum_assignment

    W = np.asarray(W, float)
    rows, cols = linear_sum_assignment(W, maximize=True)  # equivariant, so a canonical order
    Wm = np.empty_like(W)
    Wm[cols] = W[rows]  # student matched to teacher j becomes row j: pairs on the diagonal
    k = W.shape[0]
    keys = []
    for j in range(k):
        off_r = np.sort(np.delete(Wm[j], j))
        off_c = np.sort(np.delete(Wm[:, j], j))
        keys.append(np.concatenate([[Wm[j, j]], off_r, off_c]))
    keys = np.array(keys)
    q = np.round(keys / SAME_TOL / 100) * SAME_TOL * 100  # ordering key: 1e-4 buckets
    order = np.lexsort(q.T[::-1])[::-1]  # by diagonal entry (largest first), then the rest
    C = Wm[order][:, order]
    return C, _classes(np.sort(C, axis=1))


def _classes(rows: np.ndarray) -> list[int]:
    """Sizes of the classes of equal rows (to 1e-5), largest first."""
    sizes: list[list] = []
    for r in rows:
        for c in sizes:
            if np.abs(c[0] - r).max() <= 1e-5:
                c[1] += 1
                break
        else:
            sizes.append([r, 1])
    return sorted((c[1] for c in sizes), reverse=True)


def teacher_blocks(W: np.ndarray) -> list[int]:
    """Sizes of the classes of teacher units (columns of W) with equal sorted entries."""
    return _classes(np.sort(np.asarray(W).T, axis=1))


def _signature(C: np.ndarray, loss: float) -> np.ndarray:
    return np.concatenate([[loss], np.sort(C.ravel()), np.sort(np.diag(C))])


def group(W: np.ndarray, loss: np.ndarray, gnorm: np.ndarray) -> list[dict]:
    """Distinct end points among ``W`` (n, k, k): ``[{"rep", "blocks", "count", "loss",
    "gnorm", "members"}]``; ``rep`` is the canonical form of the member with the smallest
    gradient."""
    groups: list[dict] = []
    for i in range(len(W)):
        C, blocks = canonical(W[i])
        sig = _signature(C, float(loss[i]))
        for g in groups:
            if np.abs(g["sig"] - sig).max() <= SAME_TOL:
                g["count"] += 1
                g["members"].append(i)
                if gnorm[i] < g["gnorm"]:
                    g.update(rep=C, gnorm=float(gnorm[i]), loss=float(loss[i]), blocks=blocks)
                break
        else:
            groups.append({"sig": sig, "rep": C, "blocks": blocks, "count": 1,
                           "loss": float(loss[i]), "gnorm": float(gnorm[i]), "members": [i]})
    return sorted(groups, key=lambda g: g["loss"])


@_one_thread
def certify_task(task: dict) -> dict:
    """Certificate of one distinct minimum (a sweep task): ``task = {"W": rep}``."""
    from ..certify import certify

    t0, cpu0 = time.perf_counter(), time.thread_time()
    out = certify(task["W"])
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.thread_time() - cpu0
    return out


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------


def wilson(hits: int, n: int, z: float = 2.0) -> list[float]:
    """The Wilson score interval of a binomial fraction (z = 2: ~95%); [0, 1] when n = 0.
    Unlike +-z SE it is not empty at 0 of n."""
    if n == 0:
        return [0.0, 1.0]
    p = hits / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [max(0.0, mid - half), min(1.0, mid + half)]


def _validate(k_min, k_max, runs, block, cap, tol, workers):
    for name, v, lo in (("k_min", k_min, 2), ("k_max", k_max, 2), ("runs", runs, 1),
                        ("block", block, 1), ("cap", cap, 1)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be a whole number >= {lo}, got {v!r}")
    if k_max < k_min:
        raise ValueError(f"k_max ({k_max}) must be >= k_min ({k_min})")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")


def run(out_dir, quick=False, seed=0, progress=None, k_min=None, k_max=None, runs=None,
        workers=None, scheduler=None, block=None, cap=None, tol=1e-12, certify=True,
        engine="auto", processes=True, backend="auto"):
    from ..relu_teacher import network
    from ..sweep import run as sweep
    from ..relu_teacher import hessian as float_hessian
    from ._plotting import save

    k_min = k_min if k_min is not None else (7 if quick else 6)
    k_max = k_max if k_max is not None else (8 if quick else 20)
    runs = runs if runs is not None else (30 if quick else 500)
    block = block if block is not None else 50
    cap = cap if cap is not None else (20000 if quick else 200000)
    _validate(k_min, k_max, runs, block, cap, tol, workers)
    _, engine_name = network(2, 2, 2, engine)
    if quick and backend == "auto":
        backend = "numpy"  # CI size: Numba's one-off compile (~9 s CPU) would dominate
    backend = backend_name(backend)
    ks = list(range(k_min, k_max + 1))
    tasks = [{"k": k, "block": j, "start": j * block, "n": min(block, runs - j * block),
              "seed": seed, "tol": tol, "cap": cap, "engine": engine, "backend": backend}
             for k in ks for j in range(math.ceil(runs / block))]
    t0 = time.perf_counter()
    done = sweep(gd_block, tasks, workers=workers, scheduler=scheduler, processes=processes,
                 progress=progress, desc="GD blocks",
                 label=lambda t: f"k={t['k']} block {t['block']}")
    gd_seconds = time.perf_counter() - t0
    rows, to_certify = [], []
    for k in ks:
        parts = sorted((d for d in done if d["k"] == k), key=lambda d: d["block"])
        W = np.concatenate([d["W"] for d in parts])
        loss = np.concatenate([d["loss"] for d in parts])
        gnorm = np.concatenate([d["gnorm"] for d in parts])
        iters = np.concatenate([d["iters"] for d in parts])
        capped = np.concatenate([d["capped"] for d in parts])
        ok = ~capped
        spurious = ok & (loss > GLOBAL_LOSS)
        n_ok = int(ok.sum())
        frac = float(spurious.sum() / n_ok) if n_ok else float("nan")
        minima = []
        idx = np.flatnonzero(spurious)
        for g in group(W[idx], loss[idx], gnorm[idx]):
            lam = _one_thread(np.linalg.eigvalsh)(float_hessian(g["rep"], 1.0, np.eye(k), 1.0))
            m = {"loss": g["loss"], "min_eig": float(lam[0]), "count": g["count"],
                 "blocks": g["blocks"], "teacher_blocks": teacher_blocks(g["rep"]),
                 "grad_norm": g["gnorm"],
                 "kind": "minimum" if lam[0] > 0 else "saddle",
                 "certified": False, "radius": None, "W": g["rep"]}
            minima.append(m)
            if certify and lam[0] > 0:
                to_certify.append(m)
        rows.append({"k": k, "runs": runs, "converged": n_ok, "capped": int(capped.sum()),
                     "global": int((ok & ~spurious).sum()), "spurious": int(spurious.sum()),
                     "spurious_fraction": frac,
                     "se": math.sqrt(frac * (1 - frac) / n_ok) if n_ok else None,
                     "ci": wilson(int(spurious.sum()), n_ok),
                     "published": PUBLISHED.get(k), "paper": PUBLISHED.get(k),
                     "gd_cpu_seconds": float(sum(d["cpu_seconds"] for d in parts)),
                     "iterations": {"median": float(np.median(iters[ok])) if n_ok else None,
                                    "max": int(iters[ok].max()) if n_ok else None},
                     "distinct_minima": len(minima), "minima": minima})
        if progress:
            progress(f"k={k}: {int(spurious.sum())}/{n_ok} spurious, {len(minima)} distinct, "
                     f"{int(capped.sum())} capped")
    t1 = time.perf_counter()
    certs = sweep(certify_task, [{"W": m["W"]} for m in to_certify], workers=workers,
                  scheduler=scheduler, processes=processes, progress=progress,
                  desc="certificates", label=lambda t: f"k={len(t['W'])}")
    for m, c in zip(to_certify, certs):
        m.update(certified=bool(c["certified"]), radius=c["radius"],
                 radius_2=c["radius_2"], min_eig_lower=c["min_eig_lower"],
                 grad_norm_upper=c["grad_norm_upper"], angle_margin=c["angle_margin"],
                 certificate=c["reason"], certify_seconds=c["seconds"])
    result = {"name": NAME, "rows": rows, "ks": ks, "runs": runs, "seed": seed,
              "engine": engine_name, "backend": backend, "gd_seconds": gd_seconds,
              "certify_seconds": time.perf_counter() - t1, "tol": tol, "cap": cap,
              "gd_cpu_seconds": float(sum(d["cpu_seconds"] for d in done)),
              "certify_cpu_seconds": float(sum(c["cpu_seconds"] for c in certs)),
              "block": block, "workers": workers, "scheduler": scheduler,
              "published_source": "Safran & Shamir 2018, Table 1 (not found; not compared)"
              if not PUBLISHED else "Safran & Shamir 2018, Table 1",
              "paper_citation": PAPER_CITATION,
              "paper_note": None if PUBLISHED else
              "the table's numbers were not found in the searchable sources; rows' paper = null"}

    def draw(axes, out):
        ax, bx = axes
        kk = np.array([r["k"] for r in rows])
        fr = np.array([r["spurious_fraction"] for r in rows], float)
        lo = np.array([r["ci"][0] for r in rows], float)
        hi = np.array([r["ci"][1] for r in rows], float)
        ax.errorbar(kk, fr, yerr=[fr - lo, hi - fr], fmt="o-", capsize=3,
                    label="ours (Wilson interval, z = 2)")
        pub = [(k, PUBLISHED[k]) for k in ks if k in PUBLISHED]
        if pub:
            ax.plot(*zip(*pub), "x", label="Safran & Shamir 2018")
        ax.set_xlabel(r"$k = m = d$")
        ax.set_ylabel(r"spurious fraction $\hat p_k$ (runs)")
        ax.legend(fontsize="small")
        bx.plot(kk, [r["distinct_minima"] for r in rows], "s-")
        from matplotlib.ticker import MaxNLocator

        for axis_ in (ax, bx):
            axis_.xaxis.set_major_locator(MaxNLocator(integer=True))
        bx.set_xlabel(r"$k = m = d$")
        bx.set_ylabel(r"distinct spurious minima $N_k$")

    return save(out_dir, NAME, result, draw, ncols=2,
                title="Spurious minima of two-layer ReLU nets (GD, Xavier init, step 5/k)",
                params={"runs": runs, "eta": "5/k", "seed": seed})


def report(result) -> str:
    lines = [f"Spurious minima (Safran & Shamir 2018 setting), {result['runs']} runs per k, "
             f"engine {result['engine']}, backend {result.get('backend')}; wall: GD {result['gd_seconds']:.1f} s, certificates "
             f"{result['certify_seconds']:.1f} s; CPU: GD {result['gd_cpu_seconds']:.1f} s, "
             f"certificates {result['certify_cpu_seconds']:.1f} s"]
    lines.append("  k  runs capped spurious  fraction +- SE    published  distinct  certified")
    for r in result["rows"]:
        cert = sum(m["certified"] for m in r["minima"])
        pub = "   ---   " if r["published"] is None else f"{r['published']:9.3f}"
        se = f"{r['se']:.3f}" if r["se"] is not None else "  -  "
        lines.append(f"{r['k']:3d} {r['runs']:5d} {r['capped']:6d} {r['spurious']:8d}  "
                     f"{r['spurious_fraction']:8.3f} +- {se} {pub}  {r['distinct_minima']:8d}  "
                     f"{cert:5d}/{len(r['minima'])}")
        for m in r["minima"]:
            c = (f"certified r={m['radius']:.1e}, lambda_min >= {m['min_eig_lower']:.4f}"
                 if m["certified"] else f"not certified ({m.get('certificate', m['kind'])})")
            lines.append(f"      loss {m['loss']:.6f}  min eig {m['min_eig']:.5f}  count "
                         f"{m['count']:4d}  blocks {m['blocks']}  {c}")
    if not PUBLISHED:
        lines.append("published fractions: not found in the available sources; not compared")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    """The experiment's own options (``nnderive reproduce spurious_minima --help``)."""
    parser.add_argument("--k-min", type=int, default=None, help="smallest k (default 6)")
    parser.add_argument("--k-max", type=int, default=None, help="largest k (default 20)")
    parser.add_argument("--runs", type=int, default=None, help="GD runs per k (default 500)")
    parser.add_argument("--block", type=int, default=None, help="runs per task (default 50)")
    parser.add_argument("--cap", type=int, default=None,
                        help="iteration cap per run (default 200000)")
    parser.add_argument("--workers", type=int, default=None,
                        help="run the tasks on a local Dask cluster with N workers")
    parser.add_argument("--scheduler", default=None,
                        help="attach to a running Dask scheduler at ADDRESS")
    parser.add_argument("--no-certify", dest="certify", action="store_false",
                        help="skip the ball-arithmetic certificates (default: certify)")
    parser.add_argument("--engine", choices=("auto", "twolayer", "standin"), default="auto",
                        help="loss/gradient: issue 20's engine or the stand-in")
    parser.add_argument("--backend", choices=("auto", "numba", "numpy"), default="auto",
                        help="GD loop: compiled (Numba) or batched NumPy (default auto: Numba "
                        "when installed, NumPy with --quick)")


def main(argv=None) -> int:
    """``python -m numerics.experiments.spurious_minima [--k-min K] [--k-max K] [--runs R]
    [--workers N | --scheduler ADDRESS] [--quick] [--seed S] [--out DIR]``."""
    import argparse

    class P(argparse.ArgumentParser):
        def error(self, message):
            print(f"{NAME}: {message}", file=sys.stderr)
            raise SystemExit(2)

    ap = P(prog=NAME)
    add_arguments(ap)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=".")
    a = vars(ap.parse_args(argv))
    out, quick, seed = a.pop("out"), a.pop("quick"), a.pop("seed")
    try:
        res = run(out, quick, seed, lambda m: print(f"  .. {m}", file=sys.stderr), **a)
    except ValueError as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return 2
    print(report(res))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
