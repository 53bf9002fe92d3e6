"""Every registered formula states its domain (``registry.Arg.domain`` and the implied bounds:
``positive``, integers >= 1, nonzero vectors) and its emitted function enforces it: a value just
outside each bound raises ``ValueError`` naming the argument and the condition; a value on a
closed bound (just inside an open one) is accepted (issue 23, item 3)."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import derivations as D
from derivations.registry import Bound, rhs_code

RNG = np.random.default_rng(23)
#: values inside every domain (the rest: 0.5 for scalars, 2 for integers, normal vectors)
DEFAULTS = {"y1": 1.0, "H": 3, "h": 1, "n": 4, "p": 1, "k": 2, "d": 2, "c_w0": 3.0}
#: arguments whose array shape the generic rule cannot guess: (name, arg) -> value
SHAPES = {("cnn.cor52_iterations", "a_dot"): 0.0,  # below q d* at the defaults (a value)
          ("circulant.grad_p", "w"): RNG.standard_normal((2, 4)) / 2,
          ("circulant.grad_p", "x"): RNG.standard_normal(4),
          ("circulant.grad_p", "y"): RNG.standard_normal(4),
          # the origin lies in the octopus domain D for every tau > 0
          **{(f"saddle.{q}", "x"): np.zeros(4) for q in ("f", "grad", "hessian")},
          ("circulant.output_energy", "x"): RNG.standard_normal(4),
          ("resnet.gram_H_inf", "x_i"): RNG.standard_normal(4),
          ("resnet.gram_H_inf", "x_j"): RNG.standard_normal(4),
          # the ch. 7 warm-up examples: a step below 1/2 (eta = 1/2 is the bound itself)
          **{(f"saddle.{q}", "eta"): 0.25
             for q in ("band_escape_time", "band_halfwidth", "far_escape_time")},
          # Lemma 6.2: the ball's radius exceeds the start's distance r0 (0.5 by default)
          ("filter.sgd_stay_failure", "r1"): 0.9}
#: formulas whose vector arguments need a structure of their own (matrices, data sets):
#: their scalar/int bounds are probed with the values below, their vectors are not.
CUSTOM = {"circulant", "resnet", "balance.mf_balance_step", "balance.mf_hessian", "kernels.h_inf_gram",
          "kernels.arccos1_gram", "kernels.g_inf_gram", "kernels.v_inf_gram"}


def _custom(name):
    return name in CUSTOM or name.split(".")[0] in CUSTOM


def _valid_args(f):
    args = {}
    for a in f.args:
        if (f.name, a.name) in SHAPES:
            args[a.name] = SHAPES[(f.name, a.name)]
        elif a.kind == "vector":
            args[a.name] = RNG.standard_normal(4)
        elif a.kind == "int":
            args[a.name] = DEFAULTS.get(a.name, 2)
        else:
            args[a.name] = DEFAULTS.get(a.name, 0.5)
    return args


def _probe_points(f):
    """``(arg, bound, value, ok)`` for every bound of every scalar/int argument."""
    out = []
    for a in f.args:
        for b in a.bounds():
            out.append((a, b))
    return out


def _callable(name):
    f = D.get(name)
    if _custom(name) and any(a.kind == "vector" and (name, a.name) not in SHAPES for a in f.args):
        return None
    return f


BOUNDED = [(n, a.name, str(b)) for n in D.names() for a in D.get(n).args for b in a.bounds()]
NONZERO = [(n, a.name) for n in D.names() for a in D.get(n).args if a.nonzero]


def test_every_formula_states_its_domain():
    """Every scalar and integer argument has a domain entry or is free on purpose (listed)."""
    free = {(n, a.name) for n in D.names() for a in D.get(n).args
            if a.kind != "vector" and not a.bounds()}
    # real-valued inputs with no restriction in the derivation (coordinates, signed dots/sums,
    # output weights, interpolation data)
    allowed_names = {"x", "y", "y0", "f0", "f1", "df0", "df1", "a_dot", "a_sum", "as_sum", "g",
                     "c", "alpha", "beta", "gamma", "w_out", "eta", "L",
                     "b_x", "b_y"}  # ResNet means b^(h) (thesis Def. 3.2), signed
    assert {a for _, a in free} <= allowed_names, sorted(free)
    assert len(BOUNDED) >= 60


def _eval_rhs(rhs: str, args: dict):
    rhs = rhs_code(rhs)
    env = {"numpy": np}
    env.update({k: (np.asarray(v) if not isinstance(v, int) else v) for k, v in args.items()})
    return eval(rhs, env)


def _outside_and_edge(kind, b: Bound, edge):
    """(just outside, the value that must work)."""
    down = b.op in (">=", ">")  # outside lies below a lower bound
    if kind == "int":
        edge = int(edge)
        if b.op in (">=", "<="):
            return edge - 1 if down else edge + 1, edge
        return edge, edge + 1 if down else edge - 1
    edge = float(edge)
    nxt = np.nextafter(edge, -np.inf if down else np.inf)
    step = 1e-12 * max(abs(edge), 1.0)  # just inside an open bound (not a denormal: 1/x overflows)
    if b.op in (">=", "<="):
        return float(nxt), edge
    return edge, edge + step if down else edge - step


@pytest.mark.parametrize("name,arg,bound", BOUNDED, ids=[f"{n}:{a}{b.replace(' ', '')}" for n, a, b in BOUNDED])
def test_bound_enforced(name, arg, bound):
    f = D.get(name)
    if _callable(name) is None:
        pytest.skip("vector arguments with a structure of their own (probed in the family tests)")
    a = next(x for x in f.args if x.name == arg)
    b = next(x for x in a.bounds() if str(x) == bound)
    args = _valid_args(f)
    f.numpy(**args)  # the defaults lie inside every domain
    edge = _eval_rhs(b.rhs, args)
    outside, good = _outside_and_edge(a.kind, b, edge)
    with pytest.raises(ValueError, match=rf"\b{re.escape(arg)}\b.*must"):
        f.numpy(**{**args, arg: outside})
    moved = {**args, arg: good}
    others = [(x.name, o) for x in f.args for o in x.bounds() if (x.name, o) != (arg, b)
              and x.kind != "vector"]
    if all(_eval_rhs(o.code(n), moved) for n, o in others):  # no other bound binds there
        f.numpy(**moved)


@pytest.mark.parametrize("name,arg", NONZERO)
def test_nonzero_vector_enforced(name, arg):
    f = _callable(name)
    if f is None:
        pytest.skip("vector arguments with a structure of their own")
    args = _valid_args(f)
    f.numpy(**args)
    with pytest.raises(ValueError, match=rf"\b{re.escape(arg)}\b.*nonzero"):
        f.numpy(**{**args, arg: np.zeros(4)})
    tiny = f.numpy(**{**args, arg: args[arg] * 1e-150})  # tiny but nonzero: accepted
    assert np.all(np.isfinite(tiny) | np.isnan(f.numpy(**args)))  # a finite answer, not a crash


def test_issue_examples():
    from derivations.generated import circulant, resnet

    with pytest.raises(ValueError, match=r"^p must be <= n"):
        circulant.init_norm_mean(4, 9)
    with pytest.raises(ValueError, match=r"^h must be <= H"):
        resnet.lemma4_g(1, .5, .5, 3, 7)
    assert circulant.init_norm_mean(9, 9) > 0 and resnet.lemma4_g(1, .5, .5, 3, 3) > 0


def test_bound_parsing():
    b = Bound.parse("<= n: p taps of n")
    assert (b.op, b.rhs, b.why) == ("<=", "n", "p taps of n")
    assert b.message() == "must be <= n (p taps of n)"
    assert Bound.parse(">= 0").code("phi") == "phi >= 0"
    assert Bound.parse("<= pi").code("phi") == "phi <= numpy.pi"
    with pytest.raises(ValueError):
        Bound.parse("= 3")


def test_formula_domain_lists_the_bounds():
    f = D.get("resnet.lemma4_g")
    dom = f.domain()
    assert "h <= H (a layer of the depth-H network)" in dom and "g1 > 0" in dom and "H >= 1" in dom
    assert "w != 0" in D.get("filter.population_loss").domain()


def test_piecewise_on_extended_range_invariants():
    """A Piecewise (numpy.select) over an extended-range inner product (|v| ~ 1e-150) selects
    like float64 does: wn.g_term is homogeneous of degree 0 in v, so the value is unchanged."""
    from derivations.generated import wn

    v, x, y = np.array([1.0, 2.0, 0.5]), np.array([0.3, 0.2, -0.1]), np.array([-0.2, 0.4, 0.1])
    for s in (1e-150, 1e-200, 1e150):
        assert np.isclose(wn.g_term(v * s, 1.0, x, y, 1.0), wn.g_term(v, 1.0, x, y, 1.0), rtol=1e-14)
    x_neg = -x  # the other branch of the indicator
    assert wn.g_term(v * 1e-150, 1.0, x_neg, y, 1.0) == wn.g_term(v, 1.0, x_neg, y, 1.0)
