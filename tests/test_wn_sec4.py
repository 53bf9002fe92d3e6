"""Dukler, Gu & Montufar (seed 002), issue 24: eq. (2.2) derived; sec. 4's eigenvalue bound,
Proposition 2's rate comparison and Lemma 4.1 as rows, each with a planted error
(numerics/checks/wn_sec4.py)."""
import numpy as np
import sympy as sp

import derivations as D
from derivations import vectors as V
from numerics import checks
from numerics.harness import Context, Subject, run_check

CTX = Context(samples=20000, quick=True)


def _passes(name, label, fn=None, public=False):
    cs = checks.public_checks(name) if public else checks.for_formula(name)
    (c,) = [c for c in cs if c.label.startswith(label)]
    f = None if public else D.get(name)
    return all(r.passed for r in run_check(c, Subject(f, fn or f.numpy), CTX))


def test_bn_energy_derived_and_wn_is_s_identity():
    from derivations import wn_sec4 as B

    e = D.get("wn.bn_energy").expr
    assert sp.simplify(e - (B.a * V.norm(B.W) ** 2 + B.b * V.dot(B.W, B.U) ** 2)) == 0
    assert sp.simplify(e.subs({B.a: 1, B.b: 0}) - V.norm(B.W) ** 2) == 0


def test_bn_energy_rows_catch_errors():
    f = D.get("wn.bn_energy").numpy
    assert _passes("wn.bn_energy", "Monte Carlo") and _passes("wn.bn_energy", "vs w^T S w")
    assert not _passes("wn.bn_energy", "Monte Carlo", fn=lambda *a: np.asarray(f(*a)) * 1.2)
    assert not _passes("wn.bn_energy", "vs w^T S w", fn=lambda *a: np.asarray(f(*a)) * (1 + 1e-9))


def test_lambda_min_bound_row_fails_on_a_bound_too_large():
    from derivations import wn as W

    assert _passes("wn.grams", "slack: lambda_min", fn=W.grams, public=True)

    def inflated(Vk, g, X, alpha):   # G inflated 1.5x: max{...} and Weyl's sum exceed lambda_min
        Vm, G, H = W.grams(Vk, g, X, alpha)
        return Vm * 1.5, G * 1.5, H
    assert not _passes("wn.grams", "slack: lambda_min", fn=inflated, public=True)


def test_prop2_and_lemma41_rows():
    assert _passes("wn.alpha_opt", "Prop. 2(2)")
    for name in ("kernels.v_inf", "kernels.g_inf"):
        f = D.get(name).numpy
        assert _passes(name, "Lemma 4.1")
        # a kernel that makes every Gram rank one (x.y) is singular on the experiments' data
        assert not _passes(name, "Lemma 4.1", fn=lambda x, y: np.sum(x * y, axis=-1) * 0 + 1.0)
        assert not _passes(name, "Lemma 4.1", fn=lambda x, y, f=f: -np.asarray(f(x, y)))


def test_init_law_and_flow_bound():
    from derivations import wn_sec4 as B

    assert sp.simplify(D.get("wn.init_output_var").expr - V.norm(B.X_) ** 2 / 2) == 0
    assert sp.simplify(D.get("wn.flow_loss_bound").expr - B.L0 * sp.exp(-B.omega * B.t_)) == 0
    fv = D.get("wn.init_output_var").numpy
    assert _passes("wn.init_output_var", "Monte Carlo")
    assert not _passes("wn.init_output_var", "Monte Carlo", fn=lambda x: np.asarray(fv(x)) * 1.15)
    fb = D.get("wn.flow_loss_bound").numpy
    assert _passes("wn.flow_loss_bound", "slack: RK4") and _passes("wn.flow_loss_bound", "vs the comparison")
    # a bound decaying 1.5x too fast fails along the flow; one off by 1e-6 fails the reference
    assert not _passes("wn.flow_loss_bound", "slack: RK4", fn=lambda L0, om, t: fb(L0, 1.5 * np.asarray(om), t))
    assert not _passes("wn.flow_loss_bound", "vs the comparison",
                       fn=lambda *a: np.asarray(fb(*a)) * (1 + 1e-6))
