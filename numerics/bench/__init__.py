"""Benchmarks (``nnderive bench [FAMILY ...]``): speed ratios measured side by side in one run.

One module per formula family, ``numerics/bench/<family>.py``, each exporting
``run(quick: bool = False) -> list[BenchRow]``.  Modules are discovered automatically (names
starting with ``_`` are helpers), so a new family only adds its file.

Shared tools for the family modules:

* :func:`interleaved` - the honest timer: candidates are called in alternating rounds (the order
  rotates every round, so load drifts hit every candidate alike), each round on fresh random
  inputs if a ``points`` factory is given, each candidate timed right after an untimed call of
  its own (so the memory another candidate freed and the allocator returned to the OS is not
  re-faulted on the next one's clock); reports the median and the spread (quartiles) of every
  candidate, and :func:`ratio_row` turns two of them into a :class:`BenchRow` whose value is
  the median of the round-by-round ratios (:func:`paired_ratio`: drift of the machine cancels).
* :func:`write_json`, :func:`plot` - the table as JSON and a PNG of time per point vs N
  (``python -m numerics.bench --json out.json --plot out.png``).
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class BenchRow:
    name: str
    value: float
    target: str
    unit: str
    ok: bool
    detail: str = ""
    data: dict = field(default_factory=dict)  # extra numbers for the JSON (curves, timings)


@dataclass
class Timing:
    """Seconds per call of one candidate over the rounds: median and quartiles."""

    median: float
    q1: float
    q3: float
    rounds: int
    times: list = field(default_factory=list, repr=False)  # seconds per call, round by round
    best_of: int = 1  # calls per round of which the fastest is kept (``interleaved(repeat=)``)

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else 0.0


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    xs = sorted(xs)
    if len(xs) < 4:
        return xs[0], statistics.median(xs), xs[-1]
    q = statistics.quantiles(xs, n=4)
    return q[0], q[1], q[2]


def interleaved(candidates: dict[str, Callable], rounds: int = 15, number: int = 1,
                points: Callable[[int], tuple] | None = None, warmup: int = 1,
                clock: Callable[[], float] = time.process_time, settle: int = 1,
                repeat: int = 1) -> dict[str, Timing]:
    """Time ``candidates`` (name -> function) in alternating rounds.

    Every round calls each candidate ``number`` times (order rotated round by round); with
    ``points``, round ``r`` first draws ``args = points(r)`` and every candidate gets the same
    ``args`` (random points, shared), else the functions take no arguments.  Returns the median
    and quartiles of the per-call time of each candidate.  ``clock`` defaults to the process's
    CPU time (all threads), which other jobs on a shared machine do not inflate; pass
    ``time.perf_counter`` for wall time.

    ``settle`` untimed calls precede each candidate's timed calls in every round, so that a
    candidate is timed in its own steady state: otherwise the allocator state left by the
    previous candidate is charged to the next one (after a candidate with large temporaries
    returns them, glibc gives the heap top back to the OS, and the next candidate re-faults
    those pages: at N = 1e5 that alone moved a ratio by 30%, from round to round).

    ``repeat``: each round goes ``repeat`` times through its order and keeps, per candidate, the
    fastest of its ``repeat`` timings (the round's best, as :mod:`timeit` advises).  On the shared
    VMs a call of the same code on the same data runs in one of two speeds that switch every few
    milliseconds (``g``, a cos, a sin and a product at N = 1e5: 2.4 ms or 6.6 ms, with no page
    fault in either; see docs/guide.md), so one call per round may catch one side in the slow
    speed and the other in the fast one; the best of three back-to-back calls rarely does.
    """
    names = list(candidates)
    for _ in range(warmup):
        args = points(-1) if points else ()
        for n in names:
            candidates[n](*args)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        args = points(r) if points else ()
        order = names[r % len(names):] + names[: r % len(names)]
        best = dict.fromkeys(names, float("inf"))
        for _ in range(repeat):
            for n in order:
                fn = candidates[n]
                for _ in range(settle):
                    fn(*args)
                t0 = clock()
                for _ in range(number):
                    fn(*args)
                best[n] = min(best[n], (clock() - t0) / number)
        for n in names:
            times[n].append(best[n])
    out = {}
    for n, ts in times.items():
        q1, med, q3 = _quartiles(ts)
        out[n] = Timing(med, q1, q3, len(ts), ts, repeat)
    return out


def paired_ratio(a: Timing, b: Timing) -> tuple[float, float, float]:
    """Median and quartiles of the round-by-round ratios ``a / b``.  The two candidates of a
    round run back to back on the same points, so a slow spell of the machine (another job, a
    descheduled virtual CPU) scales both and cancels in their ratio; the ratio of the two
    medians keeps that noise (on this project's shared 2-core VMs the medians of single
    candidates spread by 25% where the paired ratios spread by a few %)."""
    if not a.times or len(a.times) != len(b.times):
        return a.median / b.median, a.median / b.median, a.median / b.median
    q1, med, q3 = _quartiles([x / y for x, y in zip(a.times, b.times)])
    return med, q1, q3


def ratio_row(name: str, t: dict[str, Timing], num: str, den: str, target: float,
              better: str = "<=", unit: str = "x", detail: str = "", clock: str = "CPU time") -> BenchRow:
    """A row for the paired ratio ``t[num] / t[den]`` (median of the per-round ratios, see
    :func:`paired_ratio`) against ``target`` (``<=`` or ``>=``); the detail also gives both
    medians and their plain ratio."""
    a, b = t[num], t[den]
    value, q1, q3 = paired_ratio(a, b)
    ok = value <= target if better == "<=" else value >= target
    text = (f"paired ratio IQR {q1:.3f}-{q3:.3f}; {num} {a.median * 1e3:.3f} ms (IQR {a.spread:.0%}), "
            f"{den} {b.median * 1e3:.3f} ms (IQR {b.spread:.0%}), ratio of medians "
            f"{a.median / b.median:.3f}; {clock}, {a.rounds} interleaved rounds"
            + (f" (best of {a.best_of} calls each)" if a.best_of > 1 else ""))
    return BenchRow(name, value, f"{better} {target:g}", unit, ok, (detail + "; " if detail else "") + text,
                    {num: asdict(a), den: asdict(b), "paired_ratio": {"median": value, "q1": q1, "q3": q3}})


def families() -> list[str]:
    """The benchmark modules present, in alphabetical order."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


#: The families whose rows carry a time-vs-N curve (``data["curve"]``, drawn by :func:`plot`);
#: tests/test_cli.py checks this list against the modules.
SCALING_FAMILIES = ("gaussian",)


def run(quick: bool = False, progress=None, only: list[str] | None = None) -> list[BenchRow]:
    known = families()
    for name in only or ():
        if name not in known:
            raise ValueError(f"unknown benchmark family {name!r}; known: {', '.join(known)}")
    rows = []
    for fam in only or known:
        if progress:
            progress(f"bench {fam}")
        rows.extend(importlib.import_module(f"{__name__}.{fam}").run(quick=quick))
    return rows


def table(rows: list[BenchRow]) -> str:
    width = max(len(r.name) for r in rows)
    return "\n".join(
        f"{r.name:<{width}}  {r.value:>10.4g} {r.unit:<9} target {r.target:<9} "
        f"{'ok' if r.ok else 'MISSED'}  {r.detail}" for r in rows)


def write_json(rows: list[BenchRow], path) -> None:
    with open(path, "w") as fh:
        json.dump([asdict(r) for r in rows], fh, indent=2, default=float)


def plot(rows: list[BenchRow], path) -> bool:
    """PNG of time per point vs N for every row carrying a scaling curve (``data["curve"]``:
    ``{"N": [...], "<label>": [seconds per point, ...]}``).  False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    curves = [r for r in rows if "curve" in r.data]
    if not curves:
        return False
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False)
    for ax, r in zip(axes[0], curves):
        c = r.data["curve"]
        for label, ys in c.items():
            if label != "N":
                ax.loglog(c["N"], [y * 1e9 for y in ys], marker="o", label=label)
        ax.set_xlabel(r"batch size $N$ (points)")
        ax.set_ylabel(r"time per point (ns)")
        ax.set_title(r.data.get("title", r.name), fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m numerics.bench",
                                description="benchmarks: table, JSON and a PNG of time per point vs N")
    p.add_argument("families", nargs="*", metavar="FAMILY", help="benchmark families (default: all)")
    p.add_argument("--quick", action="store_true", help="small sizes (tests)")
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON to FILE")
    p.add_argument("--plot", metavar="FILE", help="write a PNG of time per point vs N to FILE")
    args = p.parse_args(argv)
    if args.plot:  # the path checked before the (long) run, as `nnderive bench --plot` does
        from ..usage import UsageError, plot_target as _plot_target

        try:
            _plot_target(args.plot)
            if not any(f in SCALING_FAMILIES for f in args.families or families()):
                raise UsageError(f"--plot: no time-vs-N curves in {', '.join(args.families)} "
                                 f"(only in: {', '.join(SCALING_FAMILIES)})")
        except UsageError as exc:
            p.error(str(exc))
    rows = run(quick=args.quick, only=args.families or None)
    print(table(rows))
    if args.json:
        write_json(rows, args.json)
    if args.plot and not plot(rows, args.plot):
        print("no plot written (matplotlib missing or no scaling rows)")
    return 0 if all(r.ok for r in rows) else 1
