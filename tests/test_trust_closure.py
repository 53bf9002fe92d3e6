"""Issue 19 items 2, 3, 8: switch points sampled by the independent references, discrete
parameters sampled at three values or more, and the new mutant kinds caught."""
from __future__ import annotations

import math

import numpy as np
import pytest

import derivations
from derivations import runtime as _rt
from numerics import harness, switches
from numerics.checks import common


def test_switch_points_are_read_from_the_emitted_code():
    g = switches.switches(derivations.get("gaussian.g"))
    ats = sorted(round(s.at, 6) for s in g)
    below = 0.0938083151964686  # the threshold printed in gaussian.g's taylor_pi call
    assert round(math.pi - below, 6) in ats
    assert round(math.acos(_rt.SINE_NEAR), 6) in ats and round(math.pi - math.acos(_rt.SINE_NEAR), 6) in ats
    k = switches.switches(derivations.get("kernels.arccos1"))
    assert {s.args for s in k if s.kind == "angle"} == {("x", "y")}
    # the extended-range arithmetic of the norms: both vectors at SAFE_LO and SAFE_HI
    assert {(s.args, s.at) for s in k if s.kind == "norm"} == {
        ((v,), at) for v in "xy" for at in (_rt.SAFE_LO, _rt.SAFE_HI)}
    assert round(math.acos(_rt.NEAR), 6) in {round(s.at, 6) for s in k}
    # both sides of each switch point
    for s in g + k:
        lo, hi = s.sides()
        assert (hi - lo) / s.at < 3e-3 if s.kind == "norm" else True
        assert lo < s.at < hi


def test_every_series_has_a_switch_row():
    """Every formula whose emitted code has a switch point has a reference row sampling both
    sides of it (relative to the value)."""
    rows = harness.run(["gaussian.g", "filter.gamma", "kernels.arccos1", "cnn.B"],
                       harness.Context(samples=1000))
    sw = [r for r in rows if "both sides of the switch points" in r.label]
    assert {r.formula for r in sw} == {"gaussian.g", "filter.gamma", "kernels.arccos1", "cnn.B"}
    assert all(r.passed and r.resolution <= 1e-10 for r in sw)


@pytest.mark.parametrize("name", ["gaussian.g", "filter.gamma", "kernels.arccos1",
                                  "gaussian.wedge_second_moment"])
def test_series_mutant_caught(name):
    """The t^7 sign flip of issue 19 (5.5e-7 relative for pi - phi in (0.05, 0.094)) and its
    like in every edge series: caught by an independent reference row."""
    ms = harness.run_mutants([name], harness.Context(samples=2000), kinds={"series"})
    assert ms and all(m.kind == "series" for m in ms)
    for m in ms:
        assert m.caught and not m.equivalent, (m.label, m.caught_by)
        assert m.caught_by[0].startswith("reference"), m.caught_by


def test_discrete_mutant_caught():
    """k -> k0 + 1.01 (k - k0) in cnn.gd_next_sum (issue 19: passed with k = 4 only)."""
    ms = harness.run_mutants(["cnn.gd_next_sum"], harness.Context(samples=2000),
                             kinds={"discrete"})
    assert len(ms) == 1 and ms[0].caught and not ms[0].equivalent, ms[0].caught_by
    assert ms[0].caught_by[0].startswith("simulation")


def test_mutant_kinds_pluggable():
    seen = []

    @harness.mutant_kind("_test_kind")
    def plant(formula):
        seen.append(formula.name)
        return []

    try:
        harness.mutants(derivations.get("gaussian.g"), kinds={"_test_kind"})
        assert seen == ["gaussian.g"]
    finally:
        del harness.MUTANT_KINDS["_test_kind"]
    table = harness.mutant_table([harness.Mutant("a.x", "m", None, caught=True, caught_by=["r"],
                                                 kind="series"),
                                  harness.Mutant("a.y", "m", None, caught=False, kind="series")])
    assert table["a"]["planted"] == 2 and table["a"]["caught"] == 1 and table["a"]["missed"] == 1


#: A discrete parameter counts as sampled "large" from this value on.
LARGE = 8
#: Exceptions, with the reason (the check module says the same).
EXEMPT = {("cnn.spurious_threshold", "k"): "k = 1: r = 1 = r_c(1) for every a* (no threshold)"}


@pytest.mark.slow
def test_discrete_parameters_sampled_at_three_values():
    """Every ``int`` argument of every formula is called by the independent checks with at
    least three values, the smallest the emitted function accepts and one >= LARGE; every
    vector length (d, p, k patches, ...) with at least three."""
    names = [n for n in derivations.names()
             if any(a.kind == "int" or (a.kind == "vector" and a.space)
                    for a in derivations.get(n).args)]
    harness.run(names, harness.Context(samples=1000, quick=True))
    bad = []
    for n in names:
        f = derivations.get(n)
        seen = harness.discrete_values(n)
        for a in f.args:
            if a.kind != "int" or (n, a.name) in EXEMPT:
                continue
            vals = set(seen.get(a.name, {}))
            # the smallest value the function accepts at the first recorded call (other
            # arguments fixed there; a domain such as p <= n can raise it above the smallest
            # value sampled at other calls, which then counts); 1 when no value up to 12 works
            lo = harness.smallest_allowed(f, a.name)
            if len(vals) < 3 or min(vals) > (1 if lo is None else lo) \
                    or max(vals, default=0) < LARGE:
                bad.append((n, a.name, sorted(vals), lo))
        spaces = {a.space for a in f.args if a.kind == "vector" and a.space}
        for sp_ in spaces:
            p = f"len {sp_}"
            vals = set(seen.get(p, {}))
            # the smallest length the emitted function accepts (every axis of that space
            # resized, harness.resize_space), probed at the first recorded call
            lo = harness.smallest_allowed(f, p)
            if len(vals) < 3 or min(vals, default=99) > (1 if lo is None else lo) \
                    or max(vals, default=0) < LARGE:
                bad.append((n, p, sorted(vals), lo))
    assert not bad, bad


def test_resize_space_changes_every_axis_of_the_space():
    """A space's length is changed on every axis of that size (both axes of an m x m matrix),
    and refused when two spaces share the length (the axes cannot be told apart)."""
    f = derivations.get("circulant.output")
    xs = [np.ones((2, 5)), np.arange(5.0)]
    ys = harness.resize_space(f, xs, "n", 1)
    assert ys[0].shape == (2, 1) and ys[1].shape == (1,)
    ys = harness.resize_space(f, xs, "n", 9)
    assert ys[0].shape == (2, 9) and np.all(ys[1][:5] == np.arange(5.0))
    g = derivations.get("resnet.output")
    names = [a.name for a in g.args]
    shapes = {"X": (3, 4), "y": (3,), "W1": (6, 4), "W": (2, 6, 6), "alpha": (2,), "a": (6,)}
    xs = [np.ones(shapes[n]) if n in shapes else 1.0 for n in names]
    ys = dict(zip(names, harness.resize_space(g, xs, "m", 1)))
    assert ys["W"].shape == (2, 1, 1) and ys["W1"].shape == (1, 4) and ys["a"].shape == (1,)
    xs2 = [np.ones((3, 3)) if n == "X" else x for n, x in zip(names, xs)]
    assert harness.resize_space(g, xs2, "d", 1) is None  # d = n = 3: ambiguous


# --- issue 19 item 2: the switches by size (block evaluation, blocked ddot, sine on batches) ---


def _size_rows(rows):
    return [r for r in rows if "both sides of the size switches" in r.label]


def test_size_switches_read_from_the_emitted_code():
    f = derivations.get("gaussian.relu_cross_moment")
    sw = switches.size_switches(f, 2)
    blocks = [s for s in sw if s.what.startswith("block")]
    assert blocks and blocks[0].above == 4 * _rt.BLOCK_ROWS and blocks[0].below == blocks[0].above - 1
    assert any(s.layout == "length" and s.above == _rt._DOT_CHUNK + 1 for s in sw)
    busy = derivations.get("cnn.population_loss")
    assert switches.busy(busy) and switches.block_threshold(busy, 2) == 2 * _rt.BLOCK_ROWS
    g = derivations.get("gaussian.g")
    assert [(s.below, s.above) for s in switches.size_switches(g, 1)] == [(63, 64)]


SIZE_NAMES = ["gaussian.relu_cross_moment", "kernels.arccos1", "wn.grad_v", "gaussian.g"]


def test_size_rows_pass_on_both_sides():
    rows = harness.run(SIZE_NAMES, harness.Context(samples=1000, quick=True))
    sz = _size_rows(rows)
    assert {r.formula for r in sz} == set(SIZE_NAMES)
    assert all(r.passed and r.resolution <= 1e-10 for r in sz), [(r.formula, r.stat) for r in sz]
    assert any("131072" in r.detail and "131071" in r.detail for r in sz)
    assert any("len 8193" in r.detail for r in sz)


def _planted(monkeypatch, what):
    """A planted error that only the big-batch (or long-vector) path takes."""
    if what == "blocks":
        orig = _rt.by_blocks

        def by_blocks(fn, shape, args, out=None, busy=False):
            r = orig(fn, shape, args, out=out, busy=busy)
            return tuple(x * (1 + 1e-8) for x in r) if isinstance(r, tuple) else r * (1 + 1e-8)

        monkeypatch.setattr(_rt, "by_blocks", by_blocks)
    elif what == "ddot":
        orig = _rt._vecdot
        monkeypatch.setattr(_rt, "_vecdot", lambda x, y: orig(x, y) * (
            1 + 1e-6 if x.shape[0] > _rt._DOT_CHUNK else 1.0))
    else:
        orig = _rt.sine
        monkeypatch.setattr(_rt, "sine", lambda phi, cos: orig(phi, cos) * (
            1 + 1e-8 if getattr(cos, "size", 1) >= 64 else 1.0))


@pytest.mark.parametrize("what,name", [("blocks", "gaussian.relu_cross_moment"),
                                       ("blocks", "wn.grad_v"),
                                       ("ddot", "kernels.arccos1"),
                                       ("sine", "gaussian.g")])
def test_planted_big_batch_error_fails_only_the_size_rows(monkeypatch, what, name):
    _planted(monkeypatch, what)
    rows = harness.run([name], harness.Context(samples=1000, quick=True))
    sz = _size_rows(rows)
    assert sz and not any(r.passed for r in sz), [(r.label, r.stat) for r in sz]
    # the other independent reference rows (a few points, single vectors of ordinary length)
    # do not see it: the size rows are what catches it
    others = [r for r in rows if r.kind == "reference" and r not in sz
              and "switch points" not in r.label]
    assert others and all(r.passed for r in others), [(r.label, r.stat) for r in others]
