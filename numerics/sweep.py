"""Fan a sweep of independent tasks out in process or on a Dask cluster (DESIGN.md, "Scale").

``run(fn, tasks, workers=None, scheduler=None)`` returns ``[fn(t) for t in tasks]`` (in task
order), computed

* in this process (default),
* on a local ``dask.distributed`` cluster of ``workers`` single-threaded workers
  (``LocalCluster``; ``processes=False`` keeps them as threads of this process), or
* on a running cluster reached at ``scheduler`` (``tcp://host:8786``), whose workers must be
  able to import this package.

Each task carries its own seed (see :func:`seed_for`), so the results do not depend on the
number of workers or on the order in which tasks finish.  Progress: a tqdm bar on stderr when
tqdm is installed (extra ``distributed``), else one line per finished task through ``progress``.
"""
from __future__ import annotations

import sys
import threading
from typing import Callable, Iterable

import numpy as np


def seed_for(seed: int, *key: int) -> np.random.Generator:
    """The generator of one task: ``SeedSequence([seed, *key])`` (independent streams for
    distinct keys; the same stream for the same key on any worker)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, key)]))


_WORKER_LIMITED = []


def one_blas_thread(fn: Callable) -> Callable:
    """``fn`` run with BLAS limited to one thread (threadpoolctl, when installed).  A sweep
    runs one task per core already; on a shared machine a multithreaded BLAS inside each task
    is much slower (measured: a 400 x 400 ``eigh`` 0.05 s on one thread, 0.6-3 s on two).

    The BLAS limit is process-wide: in this process's main thread (the in-process sweep) it is
    set around the task and restored; in a worker process (a Dask worker) it is set once for the
    process's life; tasks run as threads of this process (``processes=False``) are left alone,
    since limits set and restored from several threads leave OpenBLAS at one thread (seen with
    OpenBLAS 0.3.31)."""
    import functools
    import multiprocessing

    @functools.wraps(fn)
    def wrapped(*args, **kw):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return fn(*args, **kw)
        if threading.current_thread() is threading.main_thread():
            with threadpool_limits(limits=1, user_api="blas"):
                return fn(*args, **kw)
        if multiprocessing.parent_process() is not None and not _WORKER_LIMITED:
            threadpool_limits(limits=1, user_api="blas")  # a worker process: for its life
            _WORKER_LIMITED.append(True)
        return fn(*args, **kw)

    return wrapped


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)


def run(fn: Callable, tasks: Iterable, *, workers: int | None = None,
        scheduler: str | None = None, processes: bool = True, progress: Callable | None = None,
        desc: str = "tasks", label: Callable | None = None) -> list:
    """``[fn(t) for t in tasks]``, in process or on Dask (see the module docstring).

    ``workers``: start a LocalCluster with that many single-threaded workers (``processes``
    chooses worker processes or threads).  ``scheduler``: attach to a running scheduler instead.
    ``progress``: a callable taking one message (enables the progress bar / lines);
    ``label(task)`` names a task in those messages.
    """
    tasks = list(tasks)
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    if workers is not None and scheduler is not None:
        raise ValueError("give workers or scheduler, not both")
    bar = _bar(len(tasks), desc, progress is not None)
    name = label or (lambda t: str(t))

    def done(task):
        if bar is not None:
            bar.update(1)
        elif progress is not None:
            progress(f"{desc}: {name(task)} done")

    try:
        if workers is None and scheduler is None:
            out = []
            for t in tasks:
                out.append(fn(t))
                done(t)
            return out
        return _dask(fn, tasks, workers, scheduler, processes, done)
    finally:
        if bar is not None:
            bar.close()


def _dask(fn, tasks, workers, scheduler, processes, done):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ValueError("--workers/--scheduler need dask.distributed: "
                         "pip install 'nnderive[distributed]'") from None
    cluster = None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=5)
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(fn, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out = [None] * len(tasks)
        for fut in as_completed(futures):
            i = index[fut.key]
            out[i] = fut.result()
            done(tasks[i])
        return out
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
