"""Figures state their parameters, label axes in math text, and write JSON beside the PNG
(numerics/experiments/_plotting.py, used by every experiment that draws)."""
import json
import math

import numpy as np
import pytest

from numerics import experiments
from numerics.experiments import _plotting as P

#: Experiments drawn with the shared helper (others join by calling _plotting.save).
DRAWN = {"fig7_3": ("gamma", "tau", "eta", "seed"), "fig7_4": ("gamma", "tau", "eta", "seed"),
         "key_observation": ("gamma", "eta", "seed")}


def test_param_text_is_math_text():
    text = P.param_text({"gamma": 1.0, "tau": math.e, "eta": "1/(4L)", "d": 5, "seed": 3})
    assert text == r"$\gamma = 1$, $\tau = e$, $\eta = 1/(4L)$, $d = 5$, seed 3"


def test_jsonable():
    data = {"a": np.float64(1.5), "b": np.arange(3), "c": float("nan"), "d": (np.int64(2),),
            "e": np.bool_(True)}
    assert json.loads(json.dumps(P.jsonable(data))) == {"a": 1.5, "b": [0, 1, 2], "c": "nan",
                                                         "d": [2], "e": True}


def test_save_without_a_drawing_writes_json(tmp_path):
    res = P.save(tmp_path, "x", {"v": np.float64(2.0)}, None, title="T", params={"gamma": 1})
    data = json.loads((tmp_path / "x.json").read_text())
    assert data["v"] == 2.0 and data["params"] == {"gamma": 1} and res["png"] is None


@pytest.mark.parametrize("name", sorted(DRAWN))
def test_figure_states_parameters_and_labels(name, tmp_path):
    if name == "fig7_4":
        pytest.skip("same driver as fig7_3 (tests/test_saddle_experiments.py runs it)")
    res = experiments.get(name).run(tmp_path, quick=True, seed=0)
    data = json.loads((tmp_path / f"{name}.json").read_text())
    for p in DRAWN[name]:
        assert p in data["params"], p
    caption = data["figure"]["caption"]
    assert r"\gamma" in caption and "seed 0" in caption and data["figure"]["title"]
    if res["png"] is None:
        pytest.importorskip("matplotlib")
    assert (tmp_path / f"{name}.png").stat().st_size > 5000
    for ax in data["figure"]["axes"]:
        assert "$" in ax["xlabel"] and "$" in ax["ylabel"], ax
