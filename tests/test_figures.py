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
    for ax in data["figure"]["axes"]:  # (panels after the first of a row share its y label)
        assert "$" in ax["xlabel"] and ("$" in ax["ylabel"] or ax["ylabel"] == ""), ax
    assert "$" in data["figure"]["axes"][0]["ylabel"]
    if name == "fig7_3":  # five panels: two rows of at most three, not a 1980 x 407 strip
        import matplotlib.image

        h, w = matplotlib.image.imread(tmp_path / f"{name}.png").shape[:2]
        assert w / h < 2.0, (w, h)


def test_param_text_words_symbols_and_quick():
    text = P.param_text({"norm_a_star": 0.5, "criterion": "angle", "d1": 10, "T": 1000,
                         "quick": True, "seed": 0})
    assert text == (r"$\|\mathbf{a}^*\| = 0.5$, criterion angle, $d_{1} = 10$, $T = 1000$, "
                    "seed 0, quick run (reduced sizes)")
    assert "quick" not in P.param_text({"gamma": 1, "quick": False})


def test_wrap_keeps_math_whole():
    text = r"Fig. X: a long title with $\eta = 1/\|H^\infty\|$ and $S^{59}$ in it, more words here"
    for width in range(8, 60, 3):
        lines = P._wrap(text, width)
        assert " ".join(lines) == text
        assert all(line.count("$") % 2 == 0 for line in lines), lines


def test_two_line_title_is_not_clipped(tmp_path):
    """The title block (title + caption) sits inside the image: the image's edges are blank
    (with tight_layout a long title line ran off the sides of table5_1.png)."""
    pytest.importorskip("matplotlib")
    import matplotlib.image

    def draw(axes, out):
        for ax in axes:
            ax.plot([0, 1], [0, 1])
            P.axis(ax, x="$x$", y="$y$")

    title = "Table 5.1: P(GD reaches the global minimum); o ours, x thesis, a long title"
    params = {"p": 6, "norm_a_star": 0.5, "eta": 0.1, "T": 1000, "runs": 300, "seed": 0,
              "criterion": "angle", "quick": True}
    P.save(tmp_path, "t", {}, draw, title=title, params=params, ncols=2, figsize=(4.4, 3.6))
    img = matplotlib.image.imread(tmp_path / "t.png")
    for edge in (img[:3, :, :3], img[:, :3, :3], img[:, -3:, :3]):
        assert edge.min() > 0.95, "something is drawn on an edge: the title is clipped"
    assert img[:60, :, :3].min() < 0.5  # and the title is there
