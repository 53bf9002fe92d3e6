"""Quick runs of the ch. 5-6 experiments (table5_1, fig5_2, fig5_1b, fig6_3)."""
from __future__ import annotations

import json
import math

import pytest

from numerics.experiments import fig5_1b, fig5_2, fig6_3, table5_1


def test_table5_1_quick(tmp_path):
    res = table5_1.run(tmp_path, quick=True, ks=(25,), n=200, iters=600)
    data = json.loads((tmp_path / "table5_1.json").read_text())
    assert len(data["cells"]) == 6 and data["r_c"]["25"] == pytest.approx(8.6394, abs=1e-3)
    row = res["table"]["25"]
    assert abs(row[0] - 0.5) < 0.15 and row[-1] == 1.0  # r = 0 coin flip; r = 25 > r_c
    assert "r_c" in table5_1.report(res)


def test_table5_1_options_validated(tmp_path):
    with pytest.raises(ValueError):
        table5_1.run(tmp_path, quick=True, eta=-1.0)
    with pytest.raises(ValueError):
        table5_1.simulate_k(25, (1,), 10, 6, __import__("numpy").random.default_rng(0),
                            iters=2, criterion="nope")
    with pytest.raises(SystemExit) as exc:
        table5_1.main(["--criterion", "nope"])
    assert exc.value.code == 2


def test_fig5_2_two_phases(tmp_path):
    res = fig5_2.run(tmp_path, quick=True)
    s = res["series"]
    assert s["sum_err"][10] < 0.2 * s["sum_err"][0]  # fast first phase of 1^T(a - a*)
    assert s["loss"][-1] < s["loss"][0]
    # the quick run reaches the fast second phase the caption describes (from t ~ 200)
    assert len(s["loss"]) == 401 and s["loss"][-1] < 1e-4 * s["loss"][150]
    assert "natural logs" in fig5_2.report(res)


def test_fig5_1b_success_and_failure(tmp_path):
    res = fig5_1b.run(tmp_path, quick=True)
    outcomes = sorted(r["angle"][-1] < math.pi / 2 for r in res["runs"].values())
    assert outcomes == [False, True]


def test_fig6_3_rate_grows_with_spread(tmp_path):
    res = fig6_3.run(tmp_path, quick=True)
    assert res["monotone"]


def test_table5_1_flags_cells_far_from_the_thesis(tmp_path, monkeypatch):
    """A cell more than FLAG_SE binomial SEs from the thesis is flagged in the JSON, the report
    and the figure (the quick table once printed a cell 4.5 SE off without a flag)."""
    import numpy as np

    def fake(k, rs, n, p, rng, *a, **kw):  # the thesis row of k = 25, but r = 9 at 0.937
        probs = np.array(table5_1.THESIS[25], float)
        probs[3] = 0.937
        return probs, 0

    monkeypatch.setattr(table5_1, "simulate_k", fake)
    res = table5_1.run(tmp_path, quick=True, ks=(25,), n=300)
    flagged = [(c["k"], c["r"]) for c in res["cells"] if c["flag"]]
    assert flagged == [(25, 9)]
    text = table5_1.report(res)
    assert "-4.5SE!" in text and "FLAGGED: 1 cell(s) more than 3 SE" in text and "k=25 r=9" in text
    monkeypatch.setattr(table5_1, "simulate_k", lambda k, rs, *a, **kw: (
        np.array(table5_1.THESIS[25], float), 0))
    res = table5_1.run(tmp_path, quick=True, ks=(25,), n=300)
    assert not any(c["flag"] for c in res["cells"])
    assert "every cell within 3 SE" in table5_1.report(res)
