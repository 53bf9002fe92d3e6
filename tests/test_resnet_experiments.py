"""Quick runs of the resnet/balance experiments (zr_thm1-3, fig4_1, fig4_2): JSON + report."""
import json

import pytest

from numerics import experiments


@pytest.mark.parametrize("name", ["zr_thm1", "zr_thm2", "zr_thm3", "fig4_1", "fig4_2", "zr_lemmas"])
def test_quick_experiment(tmp_path, name):
    mod = experiments.get(name)
    res = mod.run(tmp_path, quick=True)
    assert (tmp_path / f"{name}.json").exists()
    json.loads((tmp_path / f"{name}.json").read_text())
    text = mod.report(res)
    assert name in text and ("Paper" in text or "Thesis" in text)
    if name == "zr_thm1":
        assert all(r["holds"] for r in res["runs"])
    if name == "zr_lemmas":   # Lemma 8's O(eta^2): the ratios at eta and eta/4 agree
        assert all(0.8 < r["lemma8_scaling"] < 1.25 for r in res["rows"])
        assert all(r["lemma1_holds"] for r in res["rows"])
    if name == "zr_thm3":
        assert res["standard"][-1]["cond"] > 5 * res["scaled"][-1]["cond"]
    if name == "fig4_1":
        assert res["drift_vs_derived"] < 1e-10
    if name == "fig4_2":
        for r in res["runs"].values():
            assert r["drift_vs_derived"] < 1e-10
        assert res["runs"]["balanced"]["max_abs_diff"] < 0.1
        # issue 24: every printed number carries its seed line; the rest is labelled ours
        assert set(res["thesis"]) <= set(res["thesis_lines"]) and "l.4129" in str(res["thesis_lines"])
        assert "ours" in res["labels"]["eta"] and "fitted" in res["labels"]["target_scale"]
