"""Gradient descent and perturbed GD on the octopus (seed 004, ch. 7, (7.1) and Algorithm 2).

Three GD integrators that compute the same iterates ``x <- x - eta grad f(x)``:

* :func:`gd_float64` -- plain float64, batched over starts.  It *stalls*: with
  ``eta = 1/(4L)`` every pending coordinate halves per step, underflows after ~1075 steps, and
  then ``eta grad f`` rounds to zero in the coordinate that should escape next.
* :func:`gd_exact` -- the same iteration in a representation that cannot underflow: each
  coordinate is kept as ``sign * exp(log-magnitude)`` (the converged ones as ``4 tau + sign *
  exp(log|deviation|)``).  Inside a quadratic piece ((7.6)/(7.8)/(7.10)) the update of every
  coordinate is a fixed factor (``1 + 2 eta gamma`` active, ``1 - 2 eta L`` for the others and
  for the converged deviations), so the integrator *fast-forwards* analytically to the step at
  which the active coordinate first exceeds ``tau``; the spline steps ((7.7)/(7.9), at most
  ``~1/(2 eta gamma)`` per saddle) are taken one at a time.  Cost: O(d) per saddle, independent
  of the number of iterations.
* :func:`gd_mpmath` -- plain GD at high precision (mpmath has unbounded exponents), for the
  checks.

:func:`pgd` is Algorithm 2 (Jin et al.) in float64 (its iterates never get small enough to
underflow: the perturbation re-injects O(r) in every direction near a saddle).

All integrators use :class:`numerics.simulators.saddle.Octopus` (connectors solved numerically),
never the emitted formulas.  The octopus is even in every coordinate and GD preserves signs
(every factor is >= 0 when ``eta <= 1/(2L)``), so the integrators work on ``|x|``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .saddle import Octopus, check_params

# The thesis's experiment (sec. 7.5), with our readings of the OCR (see docs/saddle.md).
THESIS = dict(gamma=1.0, tau=math.e)


def default_eta(L: float) -> float:
    """Step size of sec. 7.5: ``eta = 1/(4L)`` (OCR '\\frac{1}{4L}' printed as 'ﬁ')."""
    return 1.0 / (4.0 * L)


def pgd_defaults(L: float, gamma: float = 1.0) -> dict:
    """PGD parameters of sec. 7.5 as read: ``t_thres = 1``, ``g_thres = gamma e / 100``,
    ``r = e / 100``, ``eta = 1/(4L)`` (OCR '%' and '155'; see docs/saddle.md)."""
    return dict(eta=default_eta(L), t_thres=1, g_thres=gamma * math.e / 100, r=math.e / 100)


def _check_run(x0, L, gamma, tau, eta):
    check_params(L, gamma, tau)
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim == 0 or x0.shape[-1] < 2:
        raise ValueError("x0 must have length d >= 2")
    if not np.all(np.isfinite(x0)):
        raise ValueError("x0 must be finite")
    if not (math.isfinite(eta) and 0 < eta <= 1 / (2 * L)):
        raise ValueError(f"eta must satisfy 0 < eta <= 1/(2L) (Lemma 7.2), got {eta!r}")
    return x0


# --------------------------------------------------------------------------------------------
# Plain float64 GD
# --------------------------------------------------------------------------------------------


def gd_float64(x0, L=math.e, gamma=1.0, tau=math.e, eta=None, steps=1000, model=None,
               every: int = 1):
    """Plain float64 GD from each row of ``x0``; returns iterates ``(steps//every + 1, n, d)``."""
    eta = default_eta(L) if eta is None else eta
    x = _check_run(x0, L, gamma, tau, eta)
    batch = x.ndim == 1
    x = np.atleast_2d(x).copy()
    model = model or Octopus(L, gamma, tau)
    out = [x.copy()]
    for t in range(1, steps + 1):
        x = x - eta * model.grad(x)
        if t % every == 0:
            out.append(x.copy())
    res = np.stack(out)
    return res[:, 0] if batch else res


# --------------------------------------------------------------------------------------------
# Exact GD: log-domain magnitudes + analytic fast-forward
# --------------------------------------------------------------------------------------------


@dataclass
class GDRun:
    """One exact GD trajectory.

    ``escape[k]`` is ``T_{k+1}``: the first iteration ``t`` with ``|x_{k+1}^{(t)}| >= 2 tau``
    (``inf`` if it never happens within ``max_steps``).  ``records`` maps requested iteration
    numbers to ``(x, f)`` with ``x`` as float64 (may underflow to 0) and ``log_abs`` exact.
    """

    d: int
    escape: list
    steps: int
    spline_steps: list
    records: dict = field(default_factory=dict)
    left_domain: bool = False

    @property
    def per_saddle(self) -> list:
        """``D_k = T_k - T_{k-1}`` (``T_0 = 0``)."""
        out, prev = [], 0
        for T in self.escape:
            out.append(T - prev)
            prev = T
        return out


class _State:
    """Magnitudes as log|.|; converged coordinates as log|y - 4 tau| with a sign."""

    def __init__(self, x0, tau):
        self.sign = np.sign(x0)
        with np.errstate(divide="ignore"):
            self.logm = np.log(np.abs(x0))  # pending coordinates: log |x_j|
        self.dev_sign = np.zeros(len(x0))     # converged: sign of (|x_j| - 4 tau)
        self.dev_log = np.full(len(x0), -np.inf)
        self.tau = tau

    def magnitude(self, j, a):
        if j < a:
            return 4 * self.tau + self.dev_sign[j] * math.exp(self.dev_log[j])
        return math.exp(self.logm[j])

    def x(self, a):
        return np.array([self.sign[j] * self.magnitude(j, a) for j in range(len(self.sign))])


def gd_exact(x0, L=math.e, gamma=1.0, tau=math.e, eta=None, max_steps=10**12, record=(),
             model=None) -> GDRun:
    """Exact GD on the octopus from one start ``x0`` (shape (d,)), up to escaping every saddle.

    ``record``: iteration numbers at which to store the iterate and objective (evaluated from the
    fast-forward formula when the step is inside a skipped segment).
    """
    eta = default_eta(L) if eta is None else eta
    x0 = _check_run(x0, L, gamma, tau, eta)
    if x0.ndim != 1:
        raise ValueError("x0 must be one start, shape (d,)")
    model = model or Octopus(L, gamma, tau)
    if not model.in_domain(x0[None])[0]:
        raise ValueError("x0 must lie in the octopus domain D")
    d = len(x0)
    st = _State(x0, tau)
    up = math.log1p(2 * eta * gamma)
    fac_down = 1 - 2 * eta * L
    down = math.log(fac_down) if fac_down > 0 else -math.inf
    log_tau, two_tau = math.log(tau), 2 * tau
    record = sorted(set(int(t) for t in record))
    rec_i = 0
    run = GDRun(d, [], 0, [0] * d)

    def converge_actives(a, t):
        while a < d and st.magnitude(a, a) >= two_tau:
            y = st.magnitude(a, a)
            dev = y - 4 * tau
            st.dev_sign[a] = math.copysign(1.0, dev) if dev != 0 else 0.0
            st.dev_log[a] = math.log(abs(dev)) if dev != 0 else -math.inf
            run.escape.append(t)
            a += 1
        return a

    def snapshot(a, extra_steps=0, spline=False):
        """Iterate after ``extra_steps`` quadratic-piece steps from the current state."""
        logm = st.logm.copy()
        dev_log = st.dev_log.copy()
        if extra_steps:
            logm[a + 1:] += extra_steps * down
            if a < d:
                logm[a] += extra_steps * up
            dev_log[:a] += extra_steps * down
        y = np.empty(d)
        with np.errstate(under="ignore"):
            for j in range(d):
                y[j] = (4 * tau + st.dev_sign[j] * math.exp(dev_log[j])) if j < a else math.exp(logm[j])
        x = st.sign * y
        return x

    def emit_records(a, t, n):
        """Record every requested iteration in ``[t, t + n)`` (state at t + m)."""
        nonlocal rec_i
        while rec_i < len(record) and record[rec_i] < t + n:
            m = record[rec_i] - t
            if m >= 0:
                x = snapshot(a, m)
                run.records[record[rec_i]] = (x, float(model.f(x[None])[0]))
            rec_i += 1

    t = 0
    a = converge_actives(0, 0)
    while a < d and t < max_steps:
        la = st.logm[a]
        if la == -math.inf:  # exactly at the saddle: GD never moves
            emit_records(a, t, max_steps - t)
            t = max_steps
            break
        if la <= log_tau:
            # quadratic piece: the step from iterate t + m uses (7.6)/(7.8) while la + m up <= log tau
            n = int(math.floor((log_tau - la) / up)) + 1
            while n > 1 and la + (n - 1) * up > log_tau:
                n -= 1
            while la + n * up <= log_tau:
                n += 1
            n = min(n, max_steps - t)
            emit_records(a, t, n)
            st.logm[a] += n * up
            st.logm[a + 1:] += n * down
            st.dev_log[:a] += n * down
            t += n
        else:
            emit_records(a, t, 1)
            u = math.exp(la)
            v = math.exp(st.logm[a + 1]) if a + 1 < d else 0.0
            with np.errstate(under="ignore"):
                du = model.p(u) + model.dg2(u) * v * v
            u_new = u - eta * du
            if a + 1 < d:
                fac = 1 - 2 * eta * model.g2(u)
                st.logm[a + 1] += math.log(fac) if fac > 0 else -math.inf
            st.logm[a + 2:] += down
            st.dev_log[:a] += down
            st.logm[a] = math.log(u_new)
            run.spline_steps[a] += 1
            t += 1
            if u_new > 6 * tau:
                run.left_domain = True
        if a + 1 < d and st.logm[a + 1] > log_tau:
            run.left_domain = True
        a = converge_actives(a, t)
    # converged: every coordinate contracts to 4 tau; record the remaining requests
    if a == d:
        while rec_i < len(record):
            m = record[rec_i] - t
            if m >= 0:
                x = snapshot(a, m)
                run.records[record[rec_i]] = (x, float(model.f(x[None])[0]))
            rec_i += 1
    run.escape += [math.inf] * (d - len(run.escape))
    run.steps = t
    run.final_log_abs = st.logm.copy()
    run.final_sign = st.sign.copy()
    return run


def log_abs_at(x0, L, gamma, tau, eta, t, model=None):
    """``log|x^{(t)}|`` of the exact GD iterate (pending coordinates; for the mpmath check)."""
    run = gd_exact(x0, L, gamma, tau, eta, max_steps=t, record=[t], model=model)
    return run


# --------------------------------------------------------------------------------------------
# High-precision GD (checks)
# --------------------------------------------------------------------------------------------


def gd_mpmath(x0, L=math.e, gamma=1.0, tau=math.e, eta=None, steps=100, dps=50, every=1):
    """Plain GD at ``dps`` digits with the connectors solved at that precision.  Returns the
    iterates as a list of mpmath vectors (every ``every`` steps, including step 0)."""
    import mpmath

    eta = default_eta(L) if eta is None else eta
    x0 = _check_run(x0, L, gamma, tau, eta)
    with mpmath.workdps(dps):
        model = Octopus(mpmath.mpf(L), mpmath.mpf(gamma), mpmath.mpf(tau), mp=True)
        e = mpmath.mpf(eta)
        x = np.array([mpmath.mpf(float(t)) for t in x0], dtype=object)
        out = [x.copy()]
        for t in range(1, steps + 1):
            x = x - e * model.grad(x[None])[0]
            if t % every == 0:
                out.append(x.copy())
    return out


# --------------------------------------------------------------------------------------------
# Perturbed GD (Algorithm 2)
# --------------------------------------------------------------------------------------------


@dataclass
class PGDRun:
    escape: np.ndarray        # (n, d) first t with |x_k| >= 2 tau (inf if never)
    objective: np.ndarray     # (steps + 1, n)
    noise_steps: list         # per start, the iterations at which noise was added
    left_domain: int          # number of starts that ever left D
    steps: int

    @property
    def per_saddle(self) -> np.ndarray:
        T = self.escape
        return np.diff(np.concatenate([np.zeros((T.shape[0], 1)), T], axis=1), axis=1)


def uniform_ball(rng, n, d, r):
    """``n`` points uniform in the d-ball of radius ``r``."""
    g = rng.standard_normal((n, d))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return r * rng.random((n, 1)) ** (1.0 / d) * g


def pgd(x0, L=math.e, gamma=1.0, tau=math.e, eta=None, t_thres=1, g_thres=None, r=None,
        max_steps=5000, rng=None, extra=20, model=None) -> PGDRun:
    """Algorithm 2 from each row of ``x0`` (batched), until every start has escaped all saddles
    (then ``extra`` more steps) or ``max_steps``.

    At iteration t: if ``||grad f(x_t)|| <= g_thres`` and ``t - t_noise > t_thres``, add
    ``xi ~ Unif(B_0(r))`` and set ``t_noise = t``; then ``x_{t+1} = x_t - eta grad f(x_t)``.
    """
    dflt = pgd_defaults(L, gamma)
    eta = dflt["eta"] if eta is None else eta
    g_thres = dflt["g_thres"] if g_thres is None else g_thres
    r = dflt["r"] if r is None else r
    x = np.atleast_2d(_check_run(x0, L, gamma, tau, eta)).copy()
    rng = rng if rng is not None else np.random.default_rng(0)
    model = model or Octopus(L, gamma, tau)
    n, d = x.shape
    t_noise = np.full(n, -t_thres - 1)
    escape = np.full((n, d), np.inf)
    noise = [[] for _ in range(n)]
    left = np.zeros(n, bool)
    obj = [model.f(x)]
    done_at = None
    t = 0
    y = np.abs(x)
    escape[(y >= 2 * tau) & np.isinf(escape)] = 0
    while t < max_steps:
        g = model.grad(x)
        gn = np.linalg.norm(g, axis=1)
        kick = (gn <= g_thres) & (t - t_noise > t_thres)
        if kick.any():
            x[kick] += uniform_ball(rng, int(kick.sum()), d, r)
            t_noise[kick] = t
            for i in np.flatnonzero(kick):
                noise[i].append(t)
            inside = model.in_domain(x)
            left |= ~inside
            g = model.grad(x)
        x = x - eta * g
        t += 1
        inside = model.in_domain(x)
        left |= ~inside
        if not inside.all():
            raise RuntimeError("PGD left the domain D (report: the construction's claim fails)")
        obj.append(model.f(x))
        hit = (np.abs(x) >= 2 * tau) & np.isinf(escape)
        escape[hit] = t
        if done_at is None and np.isfinite(escape).all():
            done_at = t
        if done_at is not None and t >= done_at + extra:
            break
    return PGDRun(escape, np.array(obj), noise, int(left.sum()), t)
