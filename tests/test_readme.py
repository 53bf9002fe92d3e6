"""The README's Python tour runs as written (issue 23, item 9: it once shadowed the fused
``grad_v`` with an import).  Every ```python block of README.md is executed in order, in one
namespace, from the repository root."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_a_python_tour():
    assert _python_blocks()


def test_readme_python_blocks_run(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    ns: dict = {"__name__": "readme"}
    for block in _python_blocks():
        exec(compile(block, "README.md", "exec"), ns)
    # the tour's names mean what the comments say
    import numpy as np

    assert ns["f"].numpy(ns["V"], ns["a"], ns["w_star"], ns["a_star"]).shape == (5000,)
    assert ns["g_v"].shape == (5000, 6) and ns["g_a"].shape == (5000, 4)
    assert np.shape(ns["G"]) == (8, 4096)
