"""`nnderive docs` is deterministic (issue 23, item 7): it rewrote ~150 lines of the committed
catalogue with no change to the formulas, all rounding noise (rel = 3.94e-15 vs 3.46e-15) and
worst points that change with it; and a row read "-2.54e-34 vs 3.86e-15, rel = 2.9e-15, pass".

Two runs of the catalogue generator on a subset of formulas that has every kind of row (Monte
Carlo, quadrature references, finite differences, 50-digit mpmath, printed-vs-derived, errata),
in separate processes with different hash seeds, give byte-identical Markdown and LaTeX."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from numerics import harness
from numerics.harness import CheckResult

ROOT = Path(__file__).resolve().parents[1]

SUBSET = ["gaussian.relu_cross_moment", "gaussian.g", "cnn.grad_v", "wn.grad_g", "filter.beta"]

_SCRIPT = """
import sys
from numerics import docs, harness
names = sys.argv[1:]
results = docs._rows_by_formula(names, harness.Context(samples=20000, seed=0), None)
sys.stdout.write(docs.markdown(names, results))
sys.stdout.write(docs.latex_catalogue(names, results))
"""


def _render(hashseed):
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed), NNDERIVE_USE_INSTALLED="1")
    return subprocess.Popen([sys.executable, "-c", _SCRIPT, *SUBSET], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_runs_of_the_catalogue_generator_are_identical():
    a, b = _render(1), _render(2)
    (out_a, err_a), (out_b, err_b) = a.communicate(), b.communicate()
    assert a.returncode == 0 and b.returncode == 0, (err_a[-2000:], err_b[-2000:])
    assert "cnn.grad_v" in out_a and "| pass |" in out_a
    assert out_a == out_b


def _row(value, reference, stat, scale=None, name="rel"):
    return CheckResult("f", "reference", "label", value, reference, stat, name, True,
                       resolution=1e-10, scale=scale)


def test_near_zero_values_are_reported_against_their_scale():
    r = _row(-2.54e-34, 3.86e-15, 2.9e-15, scale=1.34)
    assert harness.shown_value(r, r.value) == "~0" and harness.shown_value(r, r.reference) == "~0"
    assert harness.shown_stat(r) == "rel < 1e-13 (scale 1.34)"
    r = _row(0.5, 0.5, 4.8e-10, scale=1.0)
    assert harness.shown_value(r, r.value) == "0.5" and harness.shown_stat(r) == "rel = 4.8e-10"
    r = _row(1e-3, 1e-3, 2e-12)  # no scale stated: the value as it is
    assert harness.shown_value(r, r.value) == "0.001" and harness.shown_stat(r) == "rel = 2e-12"
    z = _row(0.39, 0.39, 1.234, name="z")  # Monte Carlo z: printed as computed (fixed seeds)
    assert harness.shown_stat(z) == "z = 1.23"


def test_catalogue_cells_do_not_carry_rounding_noise():
    """In the catalogue, a row agreeing to rounding reads "every point | agrees | rel < 1e-13"
    (its worst point is chosen by rounding noise), an error 100x inside the resolution is given
    as a power of ten, others to two digits."""
    from numerics import docs

    r = _row(0.592992, 0.592992, 1.73e-16)
    assert (docs._value(r, "value"), docs._value(r, "reference"), docs._stat(r)) == \
        ("every point", "agrees", "rel < 1e-13")
    r = _row(0.5, 0.5, 2.6e-13)  # resolution 1e-10
    assert docs._stat(r) == "rel < 1e-12" and docs._value(r, "value") == "0.5"
    r = _row(0.166122, 0.166122, 4.82e-9)
    assert docs._stat(r) == "rel = 4.8e-09"
    md = docs.markdown(["gaussian.g"], {"gaussian.g": [r]})
    assert "| label | reference | 0.166122 | 0.166122 | rel = 4.8e-09 | 1e-10 | pass |" in md
