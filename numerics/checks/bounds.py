"""Rows for a bound stated in a seed: one row kind, ``slack``, that measures how much room the
bound leaves and fails when the bound fails (project brief, standard 3; issue 26 item 5).

Three shapes, one kind:

* :func:`ratio_row` -- (true value)/(bound) at a list of points, computed from the model or an
  exact reference (SciPy distribution, dense model); the row shows the largest ratio and fails
  above ``1 + tol`` (circulant.py: ``c_1``, Lemma 2, the ``|D(v)|`` bound).
* :func:`mc_ratio_row` -- a Monte Carlo estimate of the bounded quantity (a probability) vs the
  bound; shows MC/bound and fails when the estimate exceeds the bound by more than
  :data:`~numerics.rows.Z_MC` standard errors.
* :func:`violations_row` -- a bound checked at many states (GD runs, sampled points): the row
  counts the violations among the applicable cases and fails on any (or when no case applies);
  its value is the smallest slack found, in the row's own units, described by ``slack_text``
  (cnn_rates.py: Lemmas 5.9-5.12, Corollary 5.2, Theorem 5.3).

A bound too small (the seed's claim false, or a derivation off) fails each of them; the planted
errors are in tests/test_row_kinds_teeth.py (``plant_slack``) and tests/test_circulant.py,
tests/test_cnn_rates.py.  How to write one: docs/guide.md, "Writing checks".
"""
from __future__ import annotations

import math

import numpy as np

from ..rows import Z_MC, CheckResult

#: The row kind of every bound's slack.
SLACK = "slack"


def ratio_row(name: str, label: str, ratios, detail: str, tol: float = 1e-12,
              resolution: float | None = None) -> CheckResult:
    """(true value)/(bound) at each point (``ratios``): shows the largest, fails above
    ``1 + tol`` (or if it is not finite)."""
    worst = float(np.max(ratios))
    return CheckResult(name, SLACK, label, worst, 1.0, worst, "max true/bound",
                       bool(np.isfinite(worst) and worst <= 1 + tol), resolution=resolution,
                       detail=detail + f"; fails if a ratio exceeds 1 (+{tol:g})")


def mc_ratio_row(name: str, label: str, hits, bound: float, detail: str = "") -> CheckResult:
    """A Monte Carlo estimate (the mean of the 0/1 or real ``hits``) of a quantity the bound
    ``bound`` must dominate: shows MC/bound, fails iff ``(MC - bound)/SE > Z_MC``.  ``detail``
    defaults to ``"MC <est> +- <se> vs bound <bound>"``; a callable gets ``(est, se, z)``."""
    hits = np.asarray(hits, dtype=np.float64)
    est, se = float(hits.mean()), float(hits.std(ddof=1) / math.sqrt(hits.shape[0]))
    z = (est - bound) / max(se, 1e-300)
    text = detail(est, se, z) if callable(detail) else (
        detail or f"MC {est:.4f} +- {se:.1e} vs bound {bound:.4f}")
    return CheckResult(name, SLACK, label, est / bound, 1.0, est / bound, "MC/bound",
                       bool(z <= Z_MC), resolution=Z_MC * se / bound, detail=text)


def violations_row(name: str, label: str, violations: int, applicable: int, slack: float,
                   slack_text: str, note: str = "", ok: bool | None = None) -> CheckResult:
    """A bound checked at ``applicable`` cases with ``violations`` failures: passes iff there is
    none (or ``ok``, a stated criterion) and at least one case applied.  Shows the smallest
    ``slack`` (value) against 0 and the count (stat); ``slack_text`` says what the slack is."""
    ok = violations == 0 if ok is None else ok
    return CheckResult(name, SLACK, label, float(slack), 0.0, float(violations), "count",
                       bool(ok and applicable > 0), resolution=0.0,
                       detail=(f"{applicable} applicable cases; {violations} "
                               f"violations; {slack_text}." + (f" {note}" if note else "")))
