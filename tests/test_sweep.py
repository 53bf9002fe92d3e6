"""numerics.sweep: the same numbers in process and on a running Dask scheduler (table5_1's rows
as tasks, attached with ``scheduler=ADDRESS``), and the CLI flag."""
from __future__ import annotations

import importlib.util

import pytest

HAVE_DASK = importlib.util.find_spec("distributed") is not None


@pytest.mark.skipif(not HAVE_DASK, reason="needs the distributed extra")
def test_table5_1_rows_identical_on_an_attached_scheduler(tmp_path):
    from dask.distributed import LocalCluster

    from numerics.experiments import table5_1

    kw = dict(ks=(25, 36), rs=(0, 4), n=40, iters=60, seed=3)
    here = table5_1.run(tmp_path / "a", **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        there = table5_1.run(tmp_path / "b", scheduler=cluster.scheduler_address, **kw)
    assert here["table"] == there["table"]
    assert set(here["table"]) == {"25", "36"}


def test_unreachable_scheduler_is_a_usage_error(tmp_path, capsys):
    if not HAVE_DASK:
        pytest.skip("needs the distributed extra")
    from numerics import cli

    rc = cli.main(["reproduce", "table5_1", "--quick", "--scheduler", "tcp://127.0.0.1:9",
                   "--out", str(tmp_path)])
    assert rc == 2 and "scheduler" in capsys.readouterr().err


def test_one_blas_thread_restores_the_process_setting_after_threaded_tasks():
    """Tasks run as threads of this process leave the process-wide BLAS setting as it was (set
    and restored from several threads, it was left at one thread, which silently skipped
    tests/test_threads.py); in the main thread the task runs on one BLAS thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from concurrent.futures import ThreadPoolExecutor
    import time

    from numerics.sweep import one_blas_thread

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    seen = []
    task = one_blas_thread(lambda t: (time.sleep(0.05 * t), seen.append(blas_threads()))[1])
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(task, [2, 1, 3, 1]))
    assert blas_threads() == before
    assert one_blas_thread(lambda: blas_threads())() == [1] * len(before)  # main thread: limited
    assert blas_threads() == before
