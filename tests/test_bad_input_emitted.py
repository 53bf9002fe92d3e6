"""Bad input to the emitted functions (issue 8, numerical part): one table of probes.

Every probe either raises ``ValueError``/``TypeError`` whose message names the offending argument,
or returns the exact answer (extreme magnitudes: the formulas are homogeneous in the norms, so
the emitted code evaluates them in a scaled form; the reference is the same call at moderate
scale, rescaled by an exact power of two).  The CLI probes live in tests/test_cli*.py.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from derivations.generated import cnn, gaussian, saddle

P, K = 5, 4
RNG = np.random.default_rng(0)
V0, A0, WS0, AS0 = (RNG.standard_normal(P), RNG.standard_normal(K), RNG.standard_normal(P),
                    RNG.standard_normal(K))
W0, U0 = RNG.standard_normal(P), RNG.standard_normal(P)

CNN = {"population_loss": cnn.population_loss, "grad_v": cnn.grad_v, "grad_a": cnn.grad_a,
       "population_loss_w": cnn.population_loss_w, "grad_w": cnn.grad_w,
       "population_loss_and_grads": cnn.population_loss_and_grads}
GAUSS2 = {"relu_cross_moment": gaussian.relu_cross_moment,
          "wedge_second_moment": gaussian.wedge_second_moment}
GAUSS1 = {"relu_mean": gaussian.relu_mean, "halfspace_second_moment": gaussian.halfspace_second_moment}


def cnn_args(first="v", **over):
    args = {first: V0, "a": A0, "w_star": WS0, "a_star": AS0}
    args.update(over)
    return args


# ---- values that are not real finite numbers: (label, value) for any vector argument ----------
BAD_VECTORS = [
    ("complex entry", [1 + 1j, 0, 0, 0, 0]),
    ("complex dtype, zero imaginary part", np.ones(P, dtype=complex)),
    ("string", "abc"),
    ("list of strings", ["1", "0", "0", "0", "0"]),
    ("None", None),
    ("NaN entry", [1.0, np.nan, 0, 0, 0]),
    ("inf entry", [1.0, np.inf, 0, 0, 0]),
    ("-inf entry", [-np.inf, 1.0, 0, 0, 0]),
    ("booleans", [True, False, True, False, True]),
    ("0-d scalar", 1.0),
    ("dict", {"a": 1}),
    ("ragged list", [[1.0, 2.0], [3.0]]),
    ("object with None", np.array([1.0, None, 0, 0, 0], dtype=object)),
    ("int beyond float64", [10**400, 0, 0, 0, 0]),
]


def _fix_len(value, n):
    """Bad vectors are written for length P; cut or pad lists for a length-n argument."""
    if isinstance(value, list) and len(value) == P and n != P:
        return (value + [0] * n)[:n]
    if isinstance(value, np.ndarray) and value.shape == (P,) and n != P:
        return np.resize(value, n)
    return value


CASES = []
for fname in ("population_loss", "grad_v", "grad_a", "population_loss_and_grads"):
    for arg, n in (("v", P), ("a", K), ("w_star", P), ("a_star", K)):
        for label, value in BAD_VECTORS:
            CASES.append((f"cnn.{fname}", arg, label, lambda f=fname, a=arg, v=value, n=n:
                          CNN[f](**cnn_args(**{a: _fix_len(v, n)}))))
for fname in ("relu_cross_moment", "wedge_second_moment"):
    for arg in ("w", "u"):
        for label, value in BAD_VECTORS:
            CASES.append((f"gaussian.{fname}", arg, label, lambda f=fname, a=arg, v=value:
                          GAUSS2[f](**{"w": W0, "u": U0, a: v})))

STRUCTURAL = [
    ("cnn.grad_v", "v", "zero v (no direction)", lambda: cnn.grad_v(**cnn_args(v=np.zeros(P)))),
    ("cnn.grad_v", "w_star", "zero w_star", lambda: cnn.grad_v(**cnn_args(w_star=np.zeros(P)))),
    ("cnn.grad_v", "v", "zero row in a batch of v",
     lambda: cnn.grad_v(**cnn_args(v=np.stack([V0, np.zeros(P)])))),
    ("cnn.population_loss", "w_star", "w_star of the wrong length",
     lambda: cnn.population_loss(**cnn_args(w_star=np.ones(P + 1)))),
    ("cnn.population_loss", "a_star", "a_star of the wrong length",
     lambda: cnn.population_loss(**cnn_args(a_star=np.ones(K - 1)))),
    ("cnn.population_loss", "a", "empty a", lambda: cnn.population_loss(**cnn_args(a=np.ones(0)))),
    ("cnn.grad_a", "a", "batch axes of a do not broadcast with v",
     lambda: cnn.grad_a(**cnn_args(v=np.ones((3, P)), a=np.ones((2, K))))),
    ("cnn.grad_a", "a_star", "batch axes of a_star do not broadcast",
     lambda: cnn.grad_a(**cnn_args(v=np.ones((3, P)), a_star=np.ones((4, K))))),
    ("gaussian.relu_cross_moment", "u", "batch axes of u do not broadcast with w",
     lambda: gaussian.relu_cross_moment(np.ones((2, 3, P)), np.ones((4, P)))),
    ("gaussian.relu_cross_moment", "w", "zero w", lambda: gaussian.relu_cross_moment(np.zeros(P), U0)),
    ("gaussian.relu_mean", "w", "string w", lambda: gaussian.relu_mean("w")),
    ("gaussian.relu_mean", "w", "complex w", lambda: gaussian.relu_mean([1j, 1.0])),
    ("gaussian.relu_mean", "w", "NaN w", lambda: gaussian.relu_mean([np.nan, 1.0])),
    ("gaussian.halfspace_second_moment", "w", "inf in a large batch (one-pass finiteness test)",
     lambda: gaussian.halfspace_second_moment(np.where(np.arange(50000.0) == 43210, np.inf, 1.0)
                                              .reshape(5000, 10))),
    ("gaussian.g", "phi", "phi as a string", lambda: gaussian.g("1")),
    ("gaussian.g", "phi", "phi complex", lambda: gaussian.g(1 + 0j)),
    ("gaussian.g", "phi", "phi None", lambda: gaussian.g(None)),
    ("gaussian.g", "phi", "phi NaN", lambda: gaussian.g(np.nan)),
    ("gaussian.g", "phi", "phi inf", lambda: gaussian.g(np.inf)),
    ("gaussian.g", "phi", "phi > pi", lambda: gaussian.g(4.0)),
    ("gaussian.g", "phi", "phi < 0", lambda: gaussian.g(-1e-300)),
    ("gaussian.g", "phi", "one phi in a batch > pi", lambda: gaussian.g(np.array([0.5, 3.2]))),
    ("gaussian.g", "phi", "phi boolean", lambda: gaussian.g(True)),
    ("cnn.A", "k", "k = 0", lambda: cnn.A(W0, 0)),
    ("cnn.A", "k", "k negative", lambda: cnn.A(W0, -2)),
    ("cnn.A", "k", "k float", lambda: cnn.A(W0, 2.5)),
    ("cnn.A", "k", "k boolean", lambda: cnn.A(W0, True)),
    ("cnn.A", "k", "k string", lambda: cnn.A(W0, "3")),
    ("cnn.A", "k", "k None", lambda: cnn.A(W0, None)),
    ("cnn.B", "w_star", "w_star complex", lambda: cnn.B(W0, [1j] * P, 3)),
    ("cnn.B", "k", "k = 0", lambda: cnn.B(W0, U0, 0)),
    ("cnn.population_loss_and_grads", "out", "out of the wrong shape",
     lambda: cnn.population_loss_and_grads(**cnn_args(), out=(np.empty(()), np.empty(3), np.empty(K)))),
    ("cnn.population_loss_and_grads", "out", "out not a tuple",
     lambda: cnn.population_loss_and_grads(**cnn_args(), out=np.empty(3))),
    ("cnn.population_loss_and_grads", "out", "out of the wrong dtype",
     lambda: cnn.population_loss_and_grads(**cnn_args(), out=(np.empty((), np.float32), None, None))),
    ("saddle.f", "x", "x of length 1", lambda: saddle.f(np.zeros(1), math.e, 1.0, math.e)),
    ("saddle.f", "tau", "tau = 0", lambda: saddle.f(np.zeros(3), math.e, 1.0, 0.0)),
    ("saddle.f", "gamma", "gamma negative", lambda: saddle.f(np.zeros(3), math.e, -1.0, math.e)),
    ("saddle.f", "L", "L < gamma", lambda: saddle.f(np.zeros(3), 0.5, 1.0, math.e)),
    ("saddle.f", "tau", "tau string", lambda: saddle.f(np.zeros(3), math.e, 1.0, "e")),
    ("saddle.f", "x", "x complex", lambda: saddle.f(np.zeros(3) + 0j, math.e, 1.0, math.e)),
    ("saddle.f", "x", "x outside the domain", lambda: saddle.f(np.array([100.0, 0, 0]), math.e, 1.0, math.e)),
    ("saddle.grad", "tau", "tau NaN", lambda: saddle.grad(np.zeros(3), math.e, 1.0, np.nan)),
    ("saddle.hessian", "x", "x NaN", lambda: saddle.hessian(np.array([np.nan, 0, 0]), math.e, 1.0, math.e)),
]

# results beyond float64 are reported, naming the argument responsible
OVERFLOW = [
    ("cnn.population_loss", "a", "a = 1e200",
     lambda: cnn.population_loss(**cnn_args(a=np.full(K, 1e200)))),
    ("cnn.population_loss", "a", "a = 1e200 in one row of a batch",
     lambda: cnn.population_loss(**cnn_args(a=np.stack([A0, np.full(K, 1e200)])))),
    ("cnn.grad_v", "v", "|v| = 1e-310 (gradient ~ 1/|v| beyond float64)",
     lambda: cnn.grad_v(**cnn_args(v=V0 / np.linalg.norm(V0) * 1e-310))),
    ("gaussian.relu_cross_moment", "w", "|w| |u| = 1e400",
     lambda: gaussian.relu_cross_moment(W0 * 1e200, U0 * 1e200)),
    ("saddle.f", "tau", "tau = 1e200 (f ~ tau^2)",
     lambda: saddle.f(np.array([0.3, -0.2, 0.1]) * 1e200, math.e, 1.0, 1e200 * math.e)),
]


def _table():
    out = []
    for name, arg, label, call in CASES + STRUCTURAL + OVERFLOW:
        out.append(pytest.param(arg, call, id=f"{name}[{arg}: {label}]"))
    return out


@pytest.mark.parametrize("arg,call", _table())
def test_bad_input_raises_naming_the_argument(arg, call):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert re.search(rf"\b{re.escape(arg)}\b", str(info.value)), str(info.value)


# ---- exact answers at extreme scales (homogeneity; powers of two make the scaling exact) ------

def _batch_v(scale_row):
    V = np.stack([V0, V0 * scale_row, -V0 * 0.5])
    return V


EXACT = []
for k in (-1030, -700, -400, -200, 200, 400, 700, 1000):  # |v| from ~1e-310 to ~1e300
    s = 2.0**k
    if abs(k) < 1020:
        EXACT.append((f"population_loss, |v| * 2^{k}", lambda s=s: cnn.population_loss(**cnn_args(v=V0 * s)),
                      lambda s=s: cnn.population_loss(**cnn_args())))
    if k > -1000:
        EXACT.append((f"grad_v, |v| * 2^{k}", lambda s=s: cnn.grad_v(**cnn_args(v=V0 * s)),
                      lambda s=s: cnn.grad_v(**cnn_args()) / s))
        EXACT.append((f"grad_v batch row |v| * 2^{k}", lambda s=s: cnn.grad_v(**cnn_args(v=_batch_v(s)))[1],
                      lambda s=s: cnn.grad_v(**cnn_args()) / s))
    EXACT.append((f"grad_a, |v| * 2^{k}", lambda s=s: cnn.grad_a(**cnn_args(v=V0 * s)),
                  lambda: cnn.grad_a(**cnn_args())))
    if abs(k) > 1000:  # 2^1030 overflows and 2^-1030 w is subnormal (a different input)
        continue
    EXACT.append((f"relu_cross_moment, w * 2^{k}, u * 2^{-k}",
                  lambda s=s: gaussian.relu_cross_moment(W0 * s, U0 / s),
                  lambda: gaussian.relu_cross_moment(W0, U0)))
    EXACT.append((f"wedge_second_moment, w * 2^{k}", lambda s=s: gaussian.wedge_second_moment(W0 * s, U0),
                  lambda: gaussian.wedge_second_moment(W0, U0)))
for k in (-300, -200, 150):  # a and a* scaled together: the loss scales by s^2, grads by s
    s = 2.0**k
    EXACT.append((f"population_loss, a, a* * 2^{k}",
                  lambda s=s: cnn.population_loss(**cnn_args(a=A0 * s, a_star=AS0 * s)),
                  lambda s=s: cnn.population_loss(**cnn_args()) * s * s))
    EXACT.append((f"grad_a, a, a* * 2^{k}",
                  lambda s=s: cnn.grad_a(**cnn_args(a=A0 * s, a_star=AS0 * s)),
                  lambda s=s: cnn.grad_a(**cnn_args()) * s))
    EXACT.append((f"fused, a, a* * 2^{k}",
                  lambda s=s: cnn.population_loss_and_grads(**cnn_args(a=A0 * s, a_star=AS0 * s))[2],
                  lambda s=s: cnn.grad_a(**cnn_args()) * s))
EXACT += [
    ("relu_mean at 1e-300", lambda: gaussian.relu_mean(np.array([1e-300, 0.0])),
     lambda: 1e-300 / math.sqrt(2 * math.pi)),
    ("relu_mean at 1e-310 (subnormal)", lambda: gaussian.relu_mean(np.array([2.0**-1030, 0.0])),
     lambda: 2.0**-1030 / math.sqrt(2 * math.pi)),
    ("relu_mean at 1e300 in a batch", lambda: gaussian.relu_mean(np.array([[1e300, 1e300], [1.0, 0]]))[0],
     lambda: math.sqrt(2) * 1e300 / math.sqrt(2 * math.pi)),
]
for tau in (1e-300, 1e-200, 1e-65, 1e-70, 1e-20, 1e70, 1e150):
    s = tau / math.e
    x0 = np.array([0.3, -0.2, 0.1, 0.05])
    # tau scaled by an exact power of two relative to tau0 = e * 2^m
    m = round(math.log2(s))
    sc = 2.0**m
    if 2 * m > -1070:
        EXACT.append((f"saddle.f, tau = e * 2^{m}", lambda sc=sc: saddle.f(x0 * sc, math.e, 1.0, math.e * sc),
                      lambda sc=sc: saddle.f(x0, math.e, 1.0, math.e) * sc * sc))
    EXACT.append((f"saddle.grad, tau = e * 2^{m}", lambda sc=sc: saddle.grad(x0 * sc, math.e, 1.0, math.e * sc),
                  lambda sc=sc: saddle.grad(x0, math.e, 1.0, math.e) * sc))
    EXACT.append((f"saddle.hessian, tau = e * 2^{m}",
                  lambda sc=sc: saddle.hessian(x0 * sc, math.e, 1.0, math.e * sc),
                  lambda: saddle.hessian(x0, math.e, 1.0, math.e)))


@pytest.mark.parametrize("got,ref", [pytest.param(g, r, id=lab) for lab, g, r in EXACT])
def test_extreme_scales_give_the_exact_answer(got, ref):
    g, r = np.asarray(got(), float), np.asarray(ref(), float)
    assert np.all(np.isfinite(g))
    tiny = np.max(np.abs(r)) < 2.0**-1022  # subnormal results carry fewer digits
    np.testing.assert_allclose(g, r, rtol=1e-6 if tiny else 1e-13, atol=0)


def test_probe_count():
    """The numerical half of the issue-8 probe table (the CLI engineer adds the CLI half)."""
    assert len(CASES) + len(STRUCTURAL) + len(OVERFLOW) + len(EXACT) >= 150
