"""Auto-balancing of gradient descent for homogeneous models (thesis ch. 4, seed 004).

Derived here (never transcribed):

* :func:`euler_identity_proof` -- Theorem 4.1's pointwise identity
  ``<W^(h)[i,:], dL/dW^(h)[i,:]> = <W^(h+1)[:,i], dL/dW^(h+1)[:,i]>`` proved by ``sp.diff`` of a
  componentwise bias-free network whose activation is homogeneous, ``sigma(z) = s z`` on the
  active side of each unit with an arbitrary slope symbol per unit (ReLU: s in {0, 1}; leaky
  ReLU: s in {c, 1}; linear: s = 1), for any differentiable loss (a generic function).
  Summing over i gives Corollary 4.1; Theorems 4.2 (linear layers, a matrix identity) and 4.3
  (shared weights) are proved the same way (:func:`linear_matrix_proof`,
  :func:`shared_weight_proof`).
* ``balance.gd_neuron_drift`` -- one GD step changes ``|W^(h)[i,:]|^2 - |W^(h+1)[:,i]|^2`` by
  exactly ``eta^2 (|g_in|^2 - |g_out|^2)``: expand ``|w - eta g|^2`` and use the Euler identity
  (the O(eta) terms cancel); the O(eta^2) drift constant of gradient descent.
* ``balance.mf_balance_step`` -- Claim 4.1: for ``f = 1/2 |U V^T - M*|_F^2`` one GD step changes
  ``U^T U - V^T V`` by ``eta^2 (V^T R^T R V - U^T R R^T U)``, R = U V^T - M*: the GD step is
  expanded componentwise (``sp.diff`` of f) for small sizes and the coefficients of candidate
  matrix products identified by solving the coefficient equations (the first-order ones vanish).
* ``balance.mf_hessian`` -- (4.12): d^2/dt^2 f(U + t dU, V + t dV) identified the same way.
* ``balance.mf_alpha_next`` .. ``mf_xi_next`` -- (4.23)-(4.24): one GD step of rank-1
  factorization written in the signal/complement coordinates, derived from the explicit
  update of u = alpha u* + alpha_perp e, v = beta v* + beta_perp f.
"""
from __future__ import annotations

import sympy as sp

from . import vectors as V
from .knobs import cached, knob
from .registry import Arg, Formula, register

SOURCE = "004 thesis, ch. 4"

eta = sp.Symbol("eta", positive=True)
sigma1 = sp.Symbol("sigma1", positive=True)
al, alp, be, bep = sp.symbols("alpha alpha_perp beta beta_perp", real=True)


def mf_half():
    return knob("balance.mf_half", sp.Rational(1, 2))


# --------------------------------------------------------------------------------------------
# Theorem 4.1 / Cor 4.1 / Thm 4.2 / Thm 4.3: symbolic proofs on componentwise networks
# --------------------------------------------------------------------------------------------


class ell(sp.Function):
    """A generic differentiable loss of the network output."""


def _mlp(widths, slopes_on=True, linear_layers=()):
    """Bias-free MLP with homogeneous activation sigma(z) = s z per unit (slope symbols)."""
    x = sp.Matrix(widths[0], 1, lambda i, j: sp.Symbol(f"x{i}"))
    Ws, slopes = [], []
    h = x
    for L_, (a, b) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        W = sp.Matrix(b, a, lambda i, j, L_=L_: sp.Symbol(f"W{L_}_{i}{j}"))
        Ws.append(W)
        h = W * h
        if L_ < len(widths) - 1:
            if L_ in linear_layers:
                s = [sp.Integer(1)] * b
            else:
                s = [sp.Symbol(f"s{L_}_{i}") for i in range(b)]
            slopes.append(s)
            h = sp.Matrix(b, 1, lambda i, j: s[i] * h[i])
    return x, Ws, h


def _loss(out):
    return ell(*list(out))


def euler_identity_proof(widths=(3, 3, 2, 2)) -> list[str]:
    """For every hidden unit (h, i): <W^h[i,:], dL/dW^h[i,:]> - <W^{h+1}[:,i], dL/dW^{h+1}[:,i]>
    simplifies to 0.  Returns the failing units (empty = proved)."""
    x, Ws, out = _mlp(widths)
    Lf = _loss(out)
    bad = []
    for h in range(len(Ws) - 1):
        for i in range(Ws[h].rows):
            lhs = sum(Ws[h][i, j] * sp.diff(Lf, Ws[h][i, j]) for j in range(Ws[h].cols))
            rhs = sum(Ws[h + 1][k, i] * sp.diff(Lf, Ws[h + 1][k, i]) for k in range(Ws[h + 1].rows))
            if sp.expand(lhs - rhs) != 0:
                bad.append(f"unit ({h + 1}, {i})")
    return bad


def linear_matrix_proof(widths=(2, 3, 2, 2)) -> list[str]:
    """Thm 4.2: with sigma = id after layer h, W^h G^hT + G^h W^hT = W^{h+1 T} G^{h+1} +
    G^{h+1 T} W^{h+1} (the gradient-flow derivative of W^h W^hT - W^{h+1 T} W^{h+1})."""
    bad = []
    for h in range(len(widths) - 2):
        x, Ws, out = _mlp(widths, linear_layers=(h + 1,))
        Lf = _loss(out)
        G = [W.applyfunc(lambda w: sp.diff(Lf, w)) for W in Ws]
        D = (Ws[h] * G[h].T + G[h] * Ws[h].T) - (Ws[h + 1].T * G[h + 1] + G[h + 1].T * Ws[h + 1])
        if any(sp.expand(e) != 0 for e in D):
            bad.append(f"layers {h + 1}, {h + 2}")
    return bad


def shared_weight_proof(n=4, k=2) -> list[str]:
    """Thm 4.3 for a 1-D convolution (circular, shared taps v^h) between homogeneous units:
    <v^h, dL/dv^h> is the same for every layer."""
    x = [sp.Symbol(f"x{i}") for i in range(n)]
    vs = [[sp.Symbol(f"v{L_}_{j}") for j in range(k)] for L_ in range(3)]
    h = x
    for L_, v in enumerate(vs):
        z = [sum(v[j] * h[(i + j) % n] for j in range(k)) for i in range(n)]
        h = [sp.Symbol(f"s{L_}_{i}") * z[i] for i in range(n)] if L_ < 2 else z
    Lf = ell(*h)
    vals = [sp.expand(sum(t * sp.diff(Lf, t) for t in v)) for v in vs]
    return [f"layers {a + 1}, {a + 2}" for a in range(2) if sp.expand(vals[a] - vals[a + 1]) != 0]


# --------------------------------------------------------------------------------------------
# GD drift of the neuron balance (the O(eta^2) constant)
# --------------------------------------------------------------------------------------------

w_in = V.vector("w_in", "fan_in", r"\mathbf{w}_{\mathrm{in}}")
g_in = V.vector("g_in", "fan_in", r"\mathbf{g}_{\mathrm{in}}")
w_out = V.vector("w_out", "fan_out", r"\mathbf{w}_{\mathrm{out}}")
g_out = V.vector("g_out", "fan_out", r"\mathbf{g}_{\mathrm{out}}")


@cached
def gd_neuron_drift():
    """Change of |w_in|^2 - |w_out|^2 in one GD step (w <- w - eta g), with the Euler identity
    <w_in, g_in> = <w_out, g_out> (proved by :func:`euler_identity_proof`) substituted; the
    squared norms after the step are expanded by bilinearity of the inner product (not typed)."""
    step = knob("balance.gd_step", 1) * eta

    def sq_after(w, g):
        """``|w - step g|^2`` by bilinearity: ``sum_{a,b} c_a c_b <a, b>`` over the components
        of the updated vector (SymPy's ``V.components`` and ``V.dot``)."""
        parts = V.components(w - step * g, 1)
        return sp.expand(sum(ca * cb * V.dot(a, b) for ca, a in parts for cb, b in parts))

    change = (sq_after(w_in, g_in) - sq_after(w_out, g_out)) - (V.norm(w_in) ** 2 - V.norm(w_out) ** 2)
    if euler_identity_proof((2, 2, 2)):
        raise ArithmeticError("Euler identity not proved")
    return sp.factor(sp.expand(change.subs(V.dot(w_out, g_out), V.dot(w_in, g_in))))


# --------------------------------------------------------------------------------------------
# Matrix factorization: identification of matrix-product coefficients
# --------------------------------------------------------------------------------------------


def _mf_mats(d1, d2, r):
    U = sp.Matrix(d1, r, lambda i, j: sp.Symbol(f"U{i}{j}"))
    Vm = sp.Matrix(d2, r, lambda i, j: sp.Symbol(f"V{i}{j}"))
    M = sp.Matrix(d1, d2, lambda i, j: sp.Symbol(f"M{i}{j}"))
    return U, Vm, M


def _mf_loss(U, Vm, M):
    R = U * Vm.T - M
    return mf_half() * sum(e ** 2 for e in R)


def _identify(target: sp.Matrix, candidates: list[sp.Matrix], entries) -> list[sp.Expr]:
    """Coefficients c with target = sum c_k candidates_k identically in ``entries``."""
    cs = sp.symbols(f"c0:{len(candidates)}")
    eqs = []
    for idx in range(len(target)):
        diff = sp.expand(target[idx] - sum(c * K[idx] for c, K in zip(cs, candidates)))
        eqs += sp.Poly(diff, *entries).coeffs()
    sol = sp.solve(eqs, cs, dict=True)
    if len(sol) != 1 or any(c not in sol[0] for c in cs):
        raise ArithmeticError("matrix form not identified uniquely")
    return [sp.factor(sol[0][c]) for c in cs]


# Role symbols of the matrix-factorization emitters (plain symbols: rank-0 style roles).
_SP = "balance_roles"
P_VRRV = V.vector("P_VRRV", _SP, r"V^\top R^\top R V")
P_URRU = V.vector("P_URRU", _SP, r"U^\top R R^\top U")
P_URV = V.vector("P_URV", _SP, r"(U^\top R V + V^\top R^\top U)")
MF_STEP_ROLES = (P_VRRV, P_URRU, P_URV)


@cached
def mf_balance_step():
    """(U'^T U' - V'^T V') - (U^T U - V^T V) after one GD step, identified as a combination of
    V^T R^T R V, U^T R R^T U and the first-order U^T R V + V^T R^T U (coefficient 0)."""
    d1, d2, r = 2, 2, 2
    U, Vm, M = _mf_mats(d1, d2, r)
    f = _mf_loss(U, Vm, M)
    GU = U.applyfunc(lambda e: sp.diff(f, e))
    GV = Vm.applyfunc(lambda e: sp.diff(f, e))
    step = knob("balance.gd_step", 1) * eta
    U1, V1 = U - step * GU, Vm - step * GV
    target = (U1.T * U1 - V1.T * V1) - (U.T * U - Vm.T * Vm)
    R = U * Vm.T - M
    cands = [Vm.T * R.T * R * Vm, U.T * R * R.T * U, U.T * R * Vm + Vm.T * R.T * U]
    entries = list(U) + list(Vm) + list(M)
    cs = _identify(target, cands, entries)
    return V.combine(dict(zip(MF_STEP_ROLES, cs)))


T1, T2, T3 = sp.symbols("T1 T2 T3", real=True)   # <R, dU dV^T>, |U dV^T + dU V^T|^2, <R, R>


@cached
def mf_hessian():
    """[nabla^2 f](D, D) = d^2/dt^2 f(U + t dU, V + t dV) at t = 0, identified over the
    candidate invariants T1 = <R, dU dV^T>, T2 = |U dV^T + dU V^T|_F^2, T3 = |R|_F^2."""
    d1, d2, r = 2, 2, 1
    U, Vm, M = _mf_mats(d1, d2, r)
    dU = sp.Matrix(d1, r, lambda i, j: sp.Symbol(f"dU{i}{j}"))
    dV = sp.Matrix(d2, r, lambda i, j: sp.Symbol(f"dV{i}{j}"))
    tt = sp.Symbol("tt")
    f = _mf_loss(U + tt * dU, Vm + tt * dV, M)
    target = sp.Matrix([[sp.diff(f, tt, 2).subs(tt, 0)]])
    R = U * Vm.T - M
    A = U * dV.T + dU * Vm.T
    cands = [sp.Matrix([[sum(R[i] * (dU * dV.T)[i] for i in range(len(R)))]]),
             sp.Matrix([[sum(e ** 2 for e in A)]]),
             sp.Matrix([[sum(e ** 2 for e in R)]])]
    entries = list(U) + list(Vm) + list(M) + list(dU) + list(dV)
    c1, c2, c3 = _identify(target, cands, entries)
    return c1 * T1 + c2 * T2 + c3 * T3


# --------------------------------------------------------------------------------------------
# Rank-1 recursions (4.23)-(4.24)
# --------------------------------------------------------------------------------------------


@cached
def _rank1_step():
    """One GD step of f = 1/2 |u v^T - sigma1 u* v*^T|^2 with u = alpha u* + alpha_perp e,
    v = beta v* + beta_perp f (orthonormal u*, e and v*, f: 2-D coordinates suffice)."""
    u = sp.Matrix([al, alp])
    v = sp.Matrix([be, bep])
    us, vs = sp.Matrix([1, 0]), sp.Matrix([1, 0])
    comps = list(u) + list(v)
    R = u * v.T - sigma1 * us * vs.T
    f = mf_half() * sum(e ** 2 for e in R)
    gu = sp.Matrix([sp.diff(f, c) for c in u])
    gv = sp.Matrix([sp.diff(f, c) for c in v])
    step = knob("balance.gd_step", 1) * eta
    u1, v1 = u - step * gu, v - step * gv
    del comps
    return u1, v1


def _alpha_next():
    u1, _ = _rank1_step()
    return sp.expand(u1[0])


def _alpha_perp_next():
    u1, _ = _rank1_step()
    # |component along e| with alpha_perp >= 0: |1 - eta(beta^2 + beta_perp^2)| alpha_perp
    c = sp.factor(u1[1] / alp)
    return sp.Abs(sp.collect(sp.expand(c), eta)) * alp


def _h_next():
    u1, v1 = _rank1_step()
    return sp.expand(u1[0] * v1[0] - sigma1)


def _xi_next():
    u1, v1 = _rank1_step()
    return sp.expand(u1[1] ** 2 + v1[1] ** 2)


def _paper_alpha():
    return (1 - eta * (be ** 2 + bep ** 2)) * al + eta * sigma1 * be


def _paper_alpha_perp():
    return sp.Abs(1 - eta * (be ** 2 + bep ** 2)) * alp


def _paper_h():
    h = al * be - sigma1
    xi = alp ** 2 + bep ** 2
    return ((1 - eta * (al ** 2 + be ** 2) + eta ** 2 * (al * be * h + al ** 2 * bep ** 2
             + be ** 2 * alp ** 2 + alp ** 2 * bep ** 2)) * h - eta * al * be * xi
            + eta ** 2 * sigma1 * alp ** 2 * bep ** 2)


def _paper_xi():
    return ((1 - eta * (be ** 2 + bep ** 2)) ** 2 * alp ** 2
            + (1 - eta * (al ** 2 + alp ** 2)) ** 2 * bep ** 2)


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------

#: ``alpha beta - sigma1`` (the signal error h_t), formed exactly at run time
H_T = sp.Symbol("h_t", real=True)


def target_form(expr: sp.Expr) -> sp.Expr | None:
    """``expr`` with ``sigma1 = alpha beta - h_t``: a polynomial in ``h_t, alpha_perp, beta_perp``
    with no term free of all three, i.e. one that vanishes at the target (``u v^T = M*``) term
    by term; proved equal to ``expr`` by substituting ``h_t = alpha beta - sigma1`` back.
    ``None`` if ``expr`` does not vanish at the target."""
    new = sp.expand(expr.subs(sigma1, al * be - H_T))
    if sp.simplify(new.subs({H_T: 0, alp: 0, bep: 0})) != 0:
        return None
    if sp.expand(new.subs(H_T, al * be - sigma1) - sp.expand(expr)) != 0:
        raise ArithmeticError("target form of a rank-1 recursion not proved equal")
    return sp.collect(new, [H_T], func=sp.factor)


_RANK1_ARGS = (
    Arg("alpha", "scalar", "u_t^T u* (signal strength of u)"),
    Arg("alpha_perp", "scalar", "|(I - u* u*^T) u_t| (>= 0)"),
    Arg("beta", "scalar", "v_t^T v*"),
    Arg("beta_perp", "scalar", "|(I - v* v*^T) v_t| (>= 0)"),
    Arg("sigma1", "scalar", "singular value of M* = sigma1 u* v*^T", positive=True),
    Arg("eta", "scalar", "step size", positive=True),
)
_RANK1_ASSUME = "f = 1/2 |u v^T - sigma1 u* v*^T|_F^2, |u*| = |v*| = 1, GD with constant step eta"
for _q, _fn, _paper, _lhs in (
        ("mf_alpha_next", _alpha_next, _paper_alpha, r"\alpha_{t+1}"),
        ("mf_alpha_perp_next", _alpha_perp_next, _paper_alpha_perp, r"\alpha_{t+1,\perp}"),
        ("mf_h_next", _h_next, _paper_h, r"h_{t+1}"),
        ("mf_xi_next", _xi_next, _paper_xi, r"\xi_{t+1}")):
    register(Formula(
        f"balance.{_q}", f"{SOURCE}, rank-1 GD recursions (4.23)-(4.24)", _RANK1_ARGS,
        _RANK1_ASSUME, _fn, _lhs, paper=_paper,
        paper_reading="(4.23)/(4.24) as printed, in the state at step t (alpha = alpha_t, ...)",
        emitter="balance.emit_at_target" if _q == "mf_h_next" else None,
        validate=('_rt.require(alpha_perp >= 0, "alpha_perp", "must be >= 0 (a norm)")',
                  '_rt.require(beta_perp >= 0, "beta_perp", "must be >= 0 (a norm)")'),
    ))

_MF_ARGS = (Arg("U", "vector", "(d1, r) left factor", space="r"),
            Arg("V", "vector", "(d2, r) right factor", space="r"),
            Arg("M", "vector", "(d1, d2) target M*", space="d2"))
_f = register(Formula(
    "balance.mf_balance_step", f"{SOURCE}, Claim 4.1 proof (l.4370)",
    _MF_ARGS + (Arg("eta", "scalar", "step size"),),
    "f = 1/2 |U V^T - M*|_F^2; one GD step U <- U - eta R V, V <- V - eta R^T U",
    mf_balance_step, r"\Delta(U^\top U - V^\top V)", rank=1, emitter="balance.emit_mf_step",
    paper=lambda: eta ** 2 * P_VRRV - eta ** 2 * P_URRU,
    paper_reading="eta_t^2 (V_t^T R_t^T R_t V_t - U_t^T R_t R_t^T U_t)",
    where={"R": "U V^T - M*"},
))
_f.latex_rhs = lambda e: sp.latex(e, symbol_names={b: V.meaning(b).latex for b in MF_STEP_ROLES})
_h = register(Formula(
    "balance.mf_hessian", f"{SOURCE}, eq. (4.12)",
    _MF_ARGS + (Arg("dU", "vector", "(d1, r) direction for U", space="r"),
                Arg("dV", "vector", "(d2, r) direction for V", space="r")),
    "f = 1/2 |U V^T - M*|_F^2", mf_hessian, r"[\nabla^2 f](\Delta,\Delta)", emitter="balance.emit_mf_hessian",
    paper=lambda: 2 * T1 + T2, paper_reading="2<U V^T - M*, dU dV^T> + |U dV^T + dU V^T|_F^2",
    where={T1: "<R, dU dV^T>", T2: "|U dV^T + dU V^T|_F^2", T3: "|R|_F^2"},
))
register(Formula(
    "balance.gd_neuron_drift", f"{SOURCE}, Thm 4.1 (eq. 4.6) under GD",
    (Arg("w_in", "vector", "W^(h)[i, :], incoming weights of unit i", space="fan_in"),
     Arg("g_in", "vector", "dL/dW^(h)[i, :]", space="fan_in"),
     Arg("w_out", "vector", "W^(h+1)[:, i], outgoing weights of unit i", space="fan_out"),
     Arg("g_out", "vector", "dL/dW^(h+1)[:, i]", space="fan_out"),
     Arg("eta", "scalar", "step size")),
    "homogeneous activation (ReLU, leaky ReLU, linear), no biases, any differentiable loss; "
    "one GD step w <- w - eta g", gd_neuron_drift,
    r"\Delta\left(\|W^{(h)}[i,:]\|^2-\|W^{(h+1)}[:,i]\|^2\right)",
    notes="The O(eta) terms cancel by the Euler identity (Thm 4.1): the drift per step is "
          "exactly eta^2 (|g_in|^2 - |g_out|^2).",
))


# --------------------------------------------------------------------------------------------
# Bounds of the matrix-factorization analysis (issue 24, item 4): Lemma 4.3 and Lemma 4.1(iii)
# --------------------------------------------------------------------------------------------

c_set = sp.Symbol("c", positive=True)          # the set S = {|U|_F^2, |V|_F^2 <= c |M*|_F}
M_norm = sp.Symbol("M_norm", positive=True)    # |M*|_F
eps_bal = sp.Symbol("epsilon", positive=True)  # |U^T U - V^T V|_F <= epsilon
r_rank = sp.Symbol("r", positive=True, integer=True)


@cached
def mf_smoothness():
    """Lemma 4.3: sup of lambda_max(nabla^2 f) over S = {|U|_F^2 <= c|M*|_F, |V|_F^2 <= c|M*|_F}.

    From the derived Hessian form (4.12), ``a T1 + b T2`` (coefficients read off
    :func:`mf_hessian`), with the proof's inequalities |T1| <= |R| |dU| |dV|, sqrt(T2) <= |U||dV|
    + |dU||V|, |R| <= |U||V| + |M*| and |U|, |V| <= sqrt(c |M*|), at |dU| = cos th, |dV| = sin th:
    ``a (c+1)|M*| cos th sin th + b c |M*| (cos th + sin th)^2``, maximized over th by SymPy
    (the maximum is interior at th = pi/4).  The bound is attained (U = -sqrt(c|M*|) p,
    V = sqrt(c|M*|) q with M* = |M*| p q^T): the dense row of the checks measures it."""
    e = mf_hessian()
    a, b = e.coeff(T1), e.coeff(T2)
    if sp.simplify(e - a * T1 - b * T2) != 0 or not (a.is_positive and b.is_positive):
        raise ArithmeticError("Hessian form not a T1 + b T2 with a, b > 0")
    th = sp.Symbol("theta", real=True)
    nU = sp.sqrt(c_set * M_norm)
    Rn = nU * nU + M_norm
    g = a * Rn * sp.cos(th) * sp.sin(th) + b * (nU * sp.sin(th) + sp.cos(th) * nU) ** 2
    crit = [s for s in sp.solve(sp.diff(sp.expand_trig(g), th), th) if s.is_real
            and 0 <= s <= sp.pi / 2]
    cands = [sp.simplify(g.subs(th, s)) for s in crit + [sp.Integer(0), sp.pi / 2]]
    best = cands[0]
    for cnd in cands[1:]:
        if sp.simplify(cnd - best).subs({c_set: 1, M_norm: 1}) > 0:
            best = cnd
    return sp.factor(sp.simplify(best))


def _paper_smoothness():
    return (6 * c_set + 2) * M_norm


@cached
def mf_norm_bound():
    """Lemma 4.1(iii) via Claim 4.3: the largest |U|_F^2 when |U^T U - V^T V|_F <= epsilon and
    f(U, V) <= 2|M*|_F^2 (Lemma 4.1(ii)).  f = 1/2 |R|^2 gives |R|_F <= 2|M*|_F (solved), so
    |U V^T|_F <= 3|M*|_F.  With U = Phi Sigma Psi^T, x = sqrt(sum sigma_i^4) obeys
    x^2 <= epsilon x + |U V^T|_F^2 (Cauchy-Schwarz), so x is at most the positive root (solved);
    |U|_F^2 = sum sigma_i^2 <= sqrt(r) x.  Attained by U = sigma [I_r; 0], V = nu [I_r; 0] with
    sigma^2 - nu^2 = epsilon/sqrt(r) and r sigma^2 nu^2 = 9|M*|_F^2 (the dense row)."""
    Rn = sp.Symbol("R_norm", positive=True)
    (Rmax,) = sp.solve(sp.Eq(mf_half() * Rn ** 2, 2 * M_norm ** 2), Rn)
    uv = Rmax + M_norm
    x = sp.Symbol("x", positive=True)
    roots = [t for t in sp.solve(sp.Eq(x ** 2, eps_bal * x + uv ** 2), x)
             if t.subs({eps_bal: 1, M_norm: 1}) > 0]   # the quadratic's one positive root
    (root,) = roots
    return sp.sqrt(r_rank) * root


def _paper_norm_bound():
    return 5 * sp.sqrt(r_rank) * M_norm


register(Formula(
    "balance.mf_smoothness", f"{SOURCE}, Lemma 4.3 (from eq. (4.12)), l.4266",
    (Arg("c", "scalar", "the set S: |U|_F^2, |V|_F^2 <= c |M*|_F", positive=True),
     Arg("M_norm", "scalar", "|M*|_F", positive=True)),
    "f = 1/2 |U V^T - M*|_F^2 on S = {|U|_F^2 <= c|M*|_F, |V|_F^2 <= c|M*|_F}; the result is "
    "the largest Hessian eigenvalue over S (attained)", mf_smoothness,
    r"\sup_{S}\lambda_{\max}(\nabla^2 f)",
    paper=_paper_smoothness,
    paper_reading="'the function f is ((6c + 2)|M*|_F)-smooth' (a valid bound, 2x the supremum: "
                  "the proof bounds |dU||dV| by |Delta|^2 instead of |Delta|^2/2 and (|dU| + |dV|)^2 "
                  "by 4|Delta|^2 instead of 2|Delta|^2)",
    where={c_set: "the radius of S in units of |M*|_F", M_norm: (r"\|M^*\|_F", "|M*|_F")},
))
register(Formula(
    "balance.mf_norm_bound", f"{SOURCE}, Lemma 4.1(iii) via Claim 4.3 (eq. (4.15)), l.4042, l.4440",
    (Arg("r", "int", "rank r of the factors"),
     Arg("epsilon", "scalar", "balancedness |U^T U - V^T V|_F <= epsilon (Lemma 4.1(i))", positive=True),
     Arg("M_norm", "scalar", "|M*|_F", positive=True)),
    "f(U, V) = 1/2 |U V^T - M*|_F^2 <= 2|M*|_F^2 (Lemma 4.1(ii)) and |U^T U - V^T V|_F <= "
    "epsilon; the result is the largest |U|_F^2 (and |V|_F^2) over that set (attained)",
    mf_norm_bound, r"\sup\|U\|_F^2",
    paper=_paper_norm_bound,
    paper_reading="'|U_t|_F^2 <= 5 sqrt(r) |M*|_F' (valid for epsilon <= |M*|_F as Theorem 4.4 "
                  "assumes: our supremum is (1 + sqrt 37)/2 sqrt(r)|M*|_F = 3.54 sqrt(r)|M*|_F there)",
    where={eps_bal: "the balancedness radius", M_norm: (r"\|M^*\|_F", "|M*|_F")},
))
