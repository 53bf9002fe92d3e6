"""Thesis ch. 2 (seed 004, sec. 2.2-2.3; issue 24): the gradient-flow bounds of the
over-parameterized two-layer ReLU network ``u_i = m^{-1/2} sum_r a_r relu(w_r . x_i)``,
``L = 1/2 |y - u|^2``, ``a_r in {-1, 1}`` fixed, ``w_r`` trained (family ``kernels``).

1. ``kernels.flow_residual_bound`` (Theorem 2.2, l.451; Lemma 2.3, l.562): SymPy first proves
   eq. (2.6), ``du/dt = H(t)(y - u)`` with ``H_ij = x_i.x_j/m sum_r 1{w_r.x_i > 0, w_r.x_j > 0}``,
   on a symbolic network (2 inputs, 2 neurons, R^2, the activation patterns as 0/1 symbols:
   ``d/dt w_r = -dL/dw_r``, chain rule); then ``d/dt |y - u|^2 = -2 (y - u)^T H (y - u) <=
   -lambda_0 |y - u|^2`` when ``lambda_min(H(s)) >= lambda_0/2`` (the lemma's hypothesis), and
   :func:`sympy.dsolve` solves the comparison equation: ``|y - u(t)|^2 <= exp(-lambda_0 t)
   |y - u(0)|^2``.
2. ``kernels.flow_movement`` (Lemma 2.3): ``|d w_r/dt| = |m^{-1/2} sum_i (y_i - u_i) a_r x_i
   1{w_r.x_i > 0}| <= sqrt(n/m) |y - u|`` (Cauchy-Schwarz, |x_i| = 1), and
   :func:`sympy.integrate` of ``sqrt(n/m) |y - u(0)| exp(-lambda_0 s/2)`` over ``[0, oo)``:
   ``R' = 2 sqrt(n) |y - u(0)| / (sqrt(m) lambda_0)``.  The OCR prints ``sqrt(n)`` without
   the 2 (its proof, l.583, integrates ``exp(-lambda_0 s)``: the decay of the squared norm, not
   of the norm); with one input and a quarter of the neurons active (``H = lambda_0/2``) the
   flow moves the active neurons by exactly ``R'`` (numerics/checks/ch2_flow.py), so the
   printed form fails there.
3. ``kernels.i2_bound`` (proof of Theorem 2.3, l.700-720): the part ``I_2^i`` of ``u_i(k+1) -
   u_i(k)`` carried by the neurons ``S_i^perp`` whose pattern at ``x_i`` may change obeys
   ``|I_2^i| <= eta sqrt(n) |S_i^perp| |y - u(k)| / m``: ReLU's Lipschitz constant (SymPy:
   the supremum of ``|relu'|``) times the step of ``w_r``, ``eta |dL/dw_r| <= eta sqrt(n/m) |y
   - u|``, summed over ``S_i^perp`` with the prefactor ``m^{-1/2}``.
"""
from __future__ import annotations

import sympy as sp

from .knobs import cached
from .registry import Arg, Formula, register

SOURCE = "004 thesis, ch. 2"
LAM0 = sp.Symbol("lambda_0", positive=True)
TT = sp.Symbol("t", nonnegative=True)
LOSS0 = sp.Symbol("loss0", nonnegative=True)
NN = sp.Symbol("n", positive=True, integer=True)
MM = sp.Symbol("m", positive=True, integer=True)
RES0 = sp.Symbol("resid0", nonnegative=True)
ETA = sp.Symbol("eta", positive=True)
SPERP = sp.Symbol("s_perp", nonnegative=True)
RES = sp.Symbol("resid", nonnegative=True)


def eq26_residual(n: int = 2, m: int = 2, d: int = 2) -> sp.Expr:
    """``du/dt - H(t)(y - u)`` on a symbolic network with fixed activation patterns ``s_ir``
    (eq. (2.5)-(2.6)); simplifies to the zero vector when eq. (2.6) holds."""
    x = sp.Matrix(n, d, lambda i, k: sp.Symbol(f"x_{i}{k}", real=True))
    w = sp.Matrix(m, d, lambda r, k: sp.Symbol(f"w_{r}{k}", real=True))
    y = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"y_{i}", real=True))
    a = [sp.Symbol(f"a_{r}", real=True) for r in range(m)]
    s = [[sp.Symbol(f"s_{i}{r}", nonnegative=True) for r in range(m)] for i in range(n)]
    # relu(w.x) = s (w.x) with s = 1{w.x > 0} (fixed on the open set where no pattern changes)
    u = sp.Matrix(n, 1, lambda i, _: sum(a[r] * s[i][r] * (w.row(r) * x.row(i).T)[0]
                                        for r in range(m)) / sp.sqrt(m))
    L = sum((y[i] - u[i]) ** 2 for i in range(n)) / 2
    wdot = {w[r, k]: -sp.diff(L, w[r, k]) for r in range(m) for k in range(d)}
    du = sp.Matrix(n, 1, lambda i, _: sum(sp.diff(u[i], wv) * wd for wv, wd in wdot.items()))
    H = sp.Matrix(n, n, lambda i, j: (x.row(i) * x.row(j).T)[0]
                  * sum(s[i][r] * s[j][r] for r in range(m)) / m)
    diff = sp.expand(du - H * (y - u))
    # a_r in {-1, 1}: a_r^e = a_r^(e mod 2); s in {0, 1}: s^e = s
    sset = {v for row in s for v in row}
    aset = set(a)

    def reduce(z):
        if z.base in sset:
            return z.base
        return z.base ** (int(z.exp) % 2)

    out = sp.expand(diff.applyfunc(lambda e: e.replace(
        lambda z: z.is_Pow and (z.base in sset or z.base in aset) and z.exp.is_Integer
        and z.exp > 1, reduce)))
    return sp.simplify(out)


@cached
def flow_residual_bound() -> sp.Expr:
    """Theorem 2.2 / Lemma 2.3: ``exp(-lambda_0 t) |y - u(0)|^2`` from (2.6) and Gronwall."""
    if eq26_residual() != sp.zeros(2, 1):  # pragma: no cover - a derivation regression
        raise AssertionError("eq. (2.6) does not follow from the chain rule")
    f = sp.Function("ell")
    # d/dt |y-u|^2 = -2 (y-u)^T H (y-u) <= -2 (lambda_0/2) |y-u|^2: the comparison equation
    sol = sp.dsolve(sp.Eq(f(TT).diff(TT), -2 * (LAM0 / 2) * f(TT)), f(TT), ics={f(0): LOSS0})
    return sp.simplify(sol.rhs)


@cached
def flow_movement() -> sp.Expr:
    """Lemma 2.3: ``int_0^oo sqrt(n/m) |y - u(s)| ds`` under Theorem 2.2's decay."""
    s = sp.Symbol("s", nonnegative=True)
    resid_s = sp.sqrt(flow_residual_bound().subs({TT: s, LOSS0: RES0 ** 2}))
    speed = sp.sqrt(NN) / sp.sqrt(MM) * sp.powsimp(sp.simplify(resid_s), force=True)
    return sp.simplify(sp.integrate(speed, (s, 0, sp.oo)))


@cached
def i2_bound() -> sp.Expr:
    """Proof of Theorem 2.3 (l.700-720): ``|I_2^i| <= m^{-1/2} sum_{r in S_i^perp} Lip(relu)
    eta |dL/dw_r|`` with ``|dL/dw_r| <= sqrt(n/m) |y - u(k)|``."""
    z = sp.Symbol("z", real=True)
    relu = sp.Max(z, 0)
    lip = sp.Max(*[sp.Abs(sp.diff(relu.rewrite(sp.Piecewise), z).subs(z, v)) for v in (-1, 1)])
    grad_norm = sp.sqrt(NN) * RES / sp.sqrt(MM)
    return sp.simplify(SPERP * lip * ETA * grad_norm / sp.sqrt(MM))


def paper_flow_movement() -> sp.Expr:
    """Lemma 2.3 as the OCR prints it (l.562): ``sqrt(n) |y - u(0)| / (sqrt(m) lambda_0)``."""
    return sp.sqrt(NN) * RES0 / (sp.sqrt(MM) * LAM0)


_MODEL = ("u_i = m^{-1/2} sum_r a_r relu(w_r.x_i), |x_i| = 1, a_r in {-1, 1} fixed; "
          "L = 1/2 |y - u|^2; gradient flow dw_r/dt = -dL/dw_r")
_L0 = Arg("lambda_0", "scalar", "lambda_min(H_inf) (Assumption 2.1)", positive=True)

register(Formula(
    "kernels.flow_residual_bound", f"{SOURCE}, Theorem 2.2 (l.451), Lemma 2.3 (l.562), eq. (2.6)",
    (_L0, Arg("t", "scalar", "time of the gradient flow", domain=(">= 0",)),
     Arg("loss0", "scalar", "|y - u(0)|^2", domain=(">= 0",))),
    _MODEL + "; lambda_min(H(s)) >= lambda_0/2 for s <= t (Lemma 2.3's hypothesis)",
    flow_residual_bound, lhs=r"\|\mathbf{y}-\mathbf{u}(t)\|^2 \le",
    where={LOSS0: (r"\|\mathbf{y}-\mathbf{u}(0)\|^2", "the squared residual at t = 0")},
    paper=lambda: sp.exp(-LAM0 * TT) * LOSS0,
    paper_reading="l.451: |u(t) - y|^2 <= exp(-lambda_0 t) |u(0) - y|^2",
))
register(Formula(
    "kernels.flow_movement", f"{SOURCE}, Lemma 2.3 (l.562), R'",
    (Arg("n", "scalar", "number of data points", positive=True),
     Arg("m", "scalar", "number of hidden neurons", positive=True), _L0,
     Arg("resid0", "scalar", "|y - u(0)|", domain=(">= 0",))),
    _MODEL + "; lambda_min(H(s)) >= lambda_0/2 for all s", flow_movement,
    lhs=r"\max_r\|\mathbf{w}_r(t)-\mathbf{w}_r(0)\| \le R'",
    where={RES0: (r"\|\mathbf{y}-\mathbf{u}(0)\|", "the residual at t = 0")},
    paper=paper_flow_movement,
    paper_reading="l.562 (OCR): R' = sqrt(n)|y - u(0)|/(sqrt(m) lambda_0); the proof (l.583) "
                  "integrates exp(-lambda_0 s) |y - u(0)|",
))
register(Formula(
    "kernels.i2_bound", f"{SOURCE}, proof of Theorem 2.3, I_1/I_2 split (l.700-720)",
    (Arg("eta", "scalar", "step size", positive=True),
     Arg("n", "scalar", "number of data points", positive=True),
     Arg("m", "scalar", "number of hidden neurons", positive=True),
     Arg("s_perp", "scalar", "|S_i^perp|, neurons whose pattern at x_i may change",
         domain=(">= 0",)),
     Arg("resid", "scalar", "|y - u(k)|", domain=(">= 0",))),
    _MODEL.replace("gradient flow dw_r/dt = -dL/dw_r", "GD w_r <- w_r - eta dL/dw_r"),
    i2_bound, lhs=r"|I_2^i| \le",
    where={SPERP: (r"|S_i^\perp|", "the number of neurons whose pattern at x_i may change"),
           RES: (r"\|\mathbf{y}-\mathbf{u}(k)\|", "the residual at step k")},
))
