"""Input checks and invariants never wake the BLAS thread pool (issue 23, item 5).

On a busy 2-core machine a threaded OpenBLAS call waits milliseconds for its second thread: the
old finiteness pass (``vdot`` over up to 2^20 entries) made circulant.loss_and_grads take 8.0 ms
instead of 0.59 ms and gaussian.g on 20k angles 2.5 ms instead of 0.57 ms.  This test watches
the CPU time (``/proc/self/task/*/stat``, 10 ms ticks) of every thread but the main one while
the emitted functions run on typical batches: it must stay zero.  A positive control (a
``ddot`` of 2^20 entries, threaded by OpenBLAS) shows the probe sees the pool when it works.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/task"),
                                reason="per-thread CPU times from /proc")


def _others():
    """CPU ticks of every thread of this process except the main one."""
    me = os.getpid()
    total = 0
    for t in os.listdir(f"/proc/{me}/task"):
        if int(t) == me:
            continue
        try:
            with open(f"/proc/{me}/task/{t}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(parts[11]) + int(parts[12])
    return total


def _worker_ticks(fn, calls):
    fn()
    for _ in range(20):  # let a pool still spinning from earlier work fall asleep
        a = _others()
        time.sleep(0.1)
        if _others() == a:
            break
    a = _others()
    for _ in range(calls):
        fn()
    return _others() - a


def _cases():
    from derivations.generated import circulant, cnn, gaussian, wn

    rng = np.random.default_rng(0)
    w, x, y = rng.standard_normal((8, 4096)) / 64, rng.standard_normal(4096), rng.standard_normal(4096)
    phi = rng.uniform(0, np.pi, 20000)
    W, U = rng.standard_normal((100000, 6)), rng.standard_normal((100000, 6))
    A = rng.standard_normal((100000, 4))
    ws, as_ = rng.standard_normal(6), rng.standard_normal(4)
    long1, long2 = rng.standard_normal(50000), rng.standard_normal(50000)
    return {
        "circulant.loss_and_grads (8, 4096)": lambda: circulant.loss_and_grads(w, x, y),
        "circulant.loss (8, 4096)": lambda: circulant.loss(w, x, y),
        "gaussian.g, 20k angles": lambda: gaussian.g(phi),
        "gaussian.halfspace_second_moment (1e5, 6)": lambda: gaussian.halfspace_second_moment(W),
        "gaussian.relu_cross_moment (1e5, 6)": lambda: gaussian.relu_cross_moment(W, U),
        "gaussian.relu_cross_moment, one pair of 5e4": lambda: gaussian.relu_cross_moment(long1, long2),
        "cnn.population_loss_and_grads (1e5 rows)": lambda: cnn.population_loss_and_grads(W, A, ws, as_),
        "wn.grad_g (1e5, 6)": lambda: wn.grad_g(W, 1.5, U),
    }


@pytest.fixture(scope="module")
def pool_visible():
    """Whether this process has an OpenBLAS pool the probe can see (positive control)."""
    big = np.random.default_rng(1).standard_normal(2**21)
    return _worker_ticks(lambda: np.vdot(big, big), 300) > 0


@pytest.mark.parametrize("case", list(_cases()))
def test_no_blas_threads_for_validation_and_invariants(case, pool_visible):
    if not pool_visible:
        if os.environ.get("OPENBLAS_NUM_THREADS") == "1" or (os.cpu_count() or 1) < 2:
            pytest.skip("no BLAS thread pool to observe (OPENBLAS_NUM_THREADS=1 or one core)")
        pytest.fail("the positive control saw no BLAS worker thread on a multi-core machine: "
                    "something left the process limited to one BLAS thread")
    fn = _cases()[case]
    assert _worker_ticks(fn, 60) == 0, f"{case} woke the BLAS thread pool"
