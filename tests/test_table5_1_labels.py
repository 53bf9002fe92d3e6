"""Table 5.1 says what it compares with (issue 24): provenance of every setting, |a*| labelled
as fitted, and a cheap sensitivity study."""
import json

import numpy as np

from numerics.experiments import table5_1


def test_provenance_and_fitted_label(tmp_path, monkeypatch):
    monkeypatch.setattr(table5_1, "simulate_k", lambda k, rs, *a, **kw: (
        np.array(table5_1.THESIS[25], float), 0))
    res = table5_1.run(tmp_path, quick=True, ks=(25,), n=50)
    data = json.loads((tmp_path / "table5_1.json").read_text())
    assert data["provenance"]["norm_a_star"]["status"] == "fitted"
    assert data["provenance"]["eta"]["status"] == "ours"
    assert data["provenance"]["p"]["status"] == "paper"
    text = table5_1.report(res)
    assert "norm_a_star [fitted] = 0.5" in text and "does not state |a*|" in text
    res = table5_1.run(tmp_path, quick=True, ks=(25,), n=50, norm_a_star=1.0)
    assert res["provenance"]["norm_a_star"]["status"] == "ours"


def test_sensitivity_small():
    rows = table5_1.sensitivity(n=40, iters=300, cells=((25, 4),))
    knobs = {(r["knob"], r["value"]) for r in rows}
    assert ("norm_a_star", 2.0) in knobs and ("eta", 0.05) in knobs and ("iters", 75) in knobs
    assert all(0 <= r["p"] <= 1 and r["thesis"] == 0.73 for r in rows)
    assert "norm_a_star" in table5_1.sensitivity_report(rows)
