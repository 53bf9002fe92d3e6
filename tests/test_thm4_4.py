"""Thesis Theorem 4.4 / Lemma 4.4 experiment (issue 24): the quick run writes its record, the
descent (4.16) and the balance of Lemma 4.1 (i) hold along it, and a planted larger step breaks
the descent count."""
import json

import numpy as np

from numerics.experiments import thm4_4 as E


def test_quick_run(tmp_path):
    res = E.run(tmp_path, quick=True, steps=20_000)
    data = json.loads((tmp_path / "thm4_4.json").read_text())
    assert set(data["runs"]) == {"r=1", "r=2"}
    for r in res["runs"].values():
        assert r["descent_violations"] == 0 and r["lemma41_i"]
        assert r["sum_eta"] > 0


def test_descent_count_has_teeth():
    k = E._kernel()
    rng = np.random.default_rng(0)
    M = rng.standard_normal((4, 1)) @ rng.standard_normal((1, 4))
    M /= np.linalg.norm(M)
    U, V = rng.standard_normal((4, 1)), rng.standard_normal((4, 1))
    # |M*|_F passed as 1e-3: steps 3e4 x larger than the schedule's, f no longer descends
    _, bad, _ = k(U, V, M, 0.5, 1.0, 0.1, 1e-3, 50, np.array([0, 50]))
    assert bad > 0
