"""The benchmark timer (numerics/bench/__init__.py): rounds, pairing and the best-of-``repeat``
rule, on a fake clock (no timing of real code here: speed is measured by ``nnderive bench``)."""
from __future__ import annotations

import itertools

from numerics.bench import interleaved, paired_ratio, ratio_row


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _candidates(clock, costs):
    """Candidates whose timed calls advance ``clock`` by the next of their ``costs`` (settle
    calls are the even calls, timed ones the odd)."""
    out = {}
    for name, seq in costs.items():
        it = itertools.cycle(seq)
        calls = itertools.count()

        def fn(*_, it=it, calls=calls):
            if next(calls) % 2:  # the timed call (settle=1 precedes it)
                clock.now += next(it)

        out[name] = fn
    return out


def test_repeat_keeps_the_best_call_of_each_round():
    """A slow spell hitting one side in two of its three calls of a round does not count: the
    round's best is kept, and the ratio is that of the fast calls."""
    clock = FakeClock()
    cands = _candidates(clock, {"a": [6.0, 6.0, 2.0], "b": [1.0, 4.0, 4.0]})
    t = interleaved(cands, rounds=5, warmup=0, clock=clock, repeat=3)
    assert t["a"].times == [2.0] * 5 and t["b"].times == [1.0] * 5
    assert t["a"].best_of == 3
    assert paired_ratio(t["a"], t["b"])[0] == 2.0
    assert "best of 3 calls each" in ratio_row("r", t, "a", "b", 1.1).detail


def test_one_call_per_round_keeps_the_slow_spell():
    clock = FakeClock()
    cands = _candidates(clock, {"a": [6.0, 2.0], "b": [1.0]})
    t = interleaved(cands, rounds=4, warmup=0, clock=clock)
    assert sorted(t["a"].times) == [2.0, 2.0, 6.0, 6.0] and t["a"].best_of == 1
    assert "best of" not in ratio_row("r", t, "a", "b", 1.1).detail
