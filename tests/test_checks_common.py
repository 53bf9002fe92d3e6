"""The shared row builders of numerics/checks (common.py, bounds.py; issue 26 item 5): each
passes on its side of the threshold and fails on the other."""
from __future__ import annotations

import numpy as np
import pytest

from numerics.checks import bounds, common


def test_error_row_threshold_and_strictness():
    assert common.error_row("f.x", "dense", "l", 1e-12, 1e-12, "d").passed
    assert not common.error_row("f.x", "dense", "l", 1e-12, 1e-12, "d", strict=True).passed
    r = common.error_row("f.x", "dense", "l", 2e-12, 1e-12, "d")
    assert not r.passed and (r.value, r.reference, r.stat, r.resolution) == (2e-12, 0.0, 2e-12, 1e-12)
    assert common.error_row("f.x", "dense", "l", 0.0, 1.0, "d", resolution=None).resolution is None
    assert not common.error_row("f.x", "dense", "l", float("nan"), 1.0, "d").passed


def test_worst_and_worst_of():
    w = common.Worst()
    for err, where in ((1e-3, "a"), (1e-2, "b"), (1e-2, "c"), (1e-4, "d")):
        w.see(err, where)
    assert (w.err, w.where) == (1e-2, "c")
    rows = [common.error_row("f.x", "dense", "l", e, 1e-3, f"e={e}") for e in (1e-4, 2e-3, 1e-5)]
    r = common.worst_of(rows, " (note)")
    assert r.stat == 2e-3 and not r.passed and r.detail == "e=0.0001; e=0.002; e=1e-05 (note)"
    ok = common.worst_of([common.error_row("f.x", "dense", "l", 1e-5, 1e-3, "x")], "n", join=False)
    assert ok.passed and ok.detail == "n"


def test_proof_rows():
    assert common.proof_row("f.x", "l", True, "exact", "d").passed
    r = common.proof_row("f.x", "l", False, "exact", "d", failed="fails")
    assert not r.passed and r.value == "fails" and r.stat == 1.0
    assert common.failures_row("f.x", "l", [], "sp.diff", "d").passed
    r = common.failures_row("f.x", "l", ["a", "b"], "sp.diff", "d", stat_name="count")
    assert not r.passed and r.stat == 2.0 and r.value == "fails"


def test_call_fused_requires_the_out_buffers_back():
    def good(x, out=None):
        res = (np.sum(x), 2 * x)
        if out is None:
            return res
        out[0][...], out[1][...] = res
        return out

    def bad(x, out=None):
        return (np.sum(x), 2 * x)

    x = np.arange(3.0)
    assert common.call_fused(good, (x,), True)[1].tolist() == [0.0, 2.0, 4.0]
    assert common.call_fused(bad, (x,), False)[0] == 3.0
    with pytest.raises(ValueError, match="out buffers"):
        common.call_fused(bad, (x,), True)


def test_bound_rows_fail_when_the_bound_fails():
    assert bounds.ratio_row("f.b", "l", [0.5, 1.0], "d").passed
    r = bounds.ratio_row("f.b", "l", [0.5, 1.0 + 1e-9], "d")
    assert not r.passed and r.kind == bounds.SLACK and r.value == 1.0 + 1e-9
    assert not bounds.ratio_row("f.b", "l", [np.inf], "d").passed
    hits = (np.random.default_rng(0).random(10_000) < 0.3).astype(float)
    assert bounds.mc_ratio_row("f.b", "l", hits, 0.31).passed
    r = bounds.mc_ratio_row("f.b", "l", hits, 0.27)  # MC 0.301 +- 0.0046: z = 6.7
    assert not r.passed and r.stat_name == "MC/bound" and r.kind == bounds.SLACK
    assert bounds.violations_row("f.b", "l", 0, 10, 0.2, "s", "n").passed
    assert not bounds.violations_row("f.b", "l", 1, 10, -0.1, "s", "n").passed
    assert not bounds.violations_row("f.b", "l", 0, 0, 0.0, "s", "n").passed  # nothing applied
