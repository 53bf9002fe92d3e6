"""The JAX versions of circulant's FFT functions (``grad``, ``grad_p``, ``cn_grad_w``; printed by
``derivations/codegen/templates/circulant_jax.py`` into ``generated/circulant_jax.py``) against
the NumPy backend, on the cases of tests/test_backend_circulant.py (odd and even n, d = 1..40
with ``n**d`` beyond int64, filters of 1e-100..1e30, every broadcasting layout, the batch sizes
around ``auto``'s switch, the errors); ``jax.grad`` of the JAX losses against the emitted
gradients; a planted error that the comparison catches.

Tolerance.  The printed per-frequency lines are the NumPy ones, but the FFTs are XLA's (ducc)
instead of NumPy's pocketfft, and XLA sums ``mean(x)``, ``|z|``, ``y.z`` in another order, so the
backends are not bit-equal.  An FFT of length n is backward stable (error <= c log2(n) eps of the
transform's norm), so an entry of ``g = n irfft(S)`` moves by up to ``log2(n) eps C`` where
``C = sum_k wt_k |S_k|_abs`` bounds every entry (``|S_k|_abs``: the printed spectrum with each
term by its absolute value, i.e. the entry's condition number times its size).  The test asserts
``|g_jax - g_numpy| <= 1e-14 |g_numpy| + K log2(2n) eps C`` per (row, layer); measured worst
``K`` on these cases: see ``K_MEASURED`` (the assert uses ``K = 4``).  Relative to the largest entry of each
row the two backends agree to <= 1e-14 (worst 9e-15, ``grad_p`` at d = 40).
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.circulant_cases import circulant_data

from derivations import runtime as _rt
from derivations.generated import circulant as G
from derivations.runtime import backend as _backend

jax = pytest.importorskip("jax")

import derivations  # noqa: E402

CJ = derivations.jax_functions("circulant")
EPS = np.finfo(float).eps
K = 4.0
RATIOS: list = []  # K measured (printed with -s)


def _spectra(v, n):
    return np.fft.rfft(v, axis=-1) / np.sqrt(n)


def _weights(n):
    wt = np.full(n // 2 + 1, 2.0)
    wt[0] = 1.0
    if n % 2 == 0:
        wt[-1] = 1.0
    return wt


def _qabs(A):
    a = np.abs(A)
    d = a.shape[-2]
    return np.stack([np.prod(np.delete(a, k, axis=-2), axis=-2) for k in range(d)], axis=-2)


def condition(name, w, x, y, w_out=1.7):
    """``C`` per (row, layer): ``sum_k wt_k |S_k|_abs``, the bound of every entry of the gradient
    with each term of the printed spectrum taken by its absolute value (module docstring)."""
    n, d = w.shape[-1], w.shape[-2]
    A = _spectra(w, n)
    Q = _qabs(A)
    if name == "cn_grad_w":
        xc = x - x.mean(-1, keepdims=True)
        X = np.abs(_spectra(xc, n))[..., None, :]
        z = np.fft.irfft(np.prod(A, axis=-2) * _spectra(xc, n) * n ** (d / 2), n, axis=-1) * np.sqrt(n)
        nz = np.linalg.norm(z, axis=-1, keepdims=True)
        gz = abs(w_out) / nz * (np.abs(y) + np.linalg.norm(y, axis=-1, keepdims=True) * np.abs(z) / nz)
        Gabs = (np.sum(gz, axis=-1, keepdims=True) / np.sqrt(n))[..., None, :]  # |G_k| <= |gz|_1/sqrt(n)
        S = n ** ((d - 1) / 2) * Q * X * Gabs
    else:
        X = np.abs(_spectra(x, n))[..., None, :]
        Y = np.abs(_spectra(y, n))[..., None, :]
        S = (n ** (d / 2) * Q * X * Y + float(n ** d) * np.abs(A) * Q ** 2 * X ** 2) / np.sqrt(n)
    return np.sum(S * _weights(n), axis=-1)


def assert_close(name, r0, r1, w, x, y, record=True):
    assert type(r0) is type(r1) and np.shape(r0) == np.shape(r1)
    n = w.shape[-1]
    C = np.broadcast_to(condition(name, w, x, y), np.shape(r0)[:-1])[..., None]
    bound = 1e-14 * np.abs(r0) + K * np.log2(2 * n) * EPS * C
    err = np.abs(r1 - r0)
    if record:
        with np.errstate(invalid="ignore", divide="ignore"):
            RATIOS.append((name, float(np.nanmax(np.where(C > 0, err / (np.log2(2 * n) * EPS * C), 0)))))
    assert np.all(err <= bound), (name, float(np.max(err / bound)))


def both(call):
    with _backend.using("numpy"):
        r0 = call()
    with _backend.using("jax"):
        r1 = call()
    return r0, r1


def calls(w, x, y, p):
    return (("grad", lambda: G.grad(w, x, y)), ("grad_p", lambda: G.grad_p(w, x, y, p)),
            ("cn_grad_w", lambda: G.cn_grad_w(w, 1.7, x, y)))


def check_all(w, x, y, p, which=None):
    for name, call in calls(w, x, y, p)[:which]:
        r0, r1 = both(call)
        if name == "grad_p":  # the first p columns of the full gradient's rows
            with _backend.using("numpy"):
                full = G.grad(w, x, y)
            assert_close("grad", full[..., :p], r1, w, x, y)
            np.testing.assert_array_equal(r0, full[..., :p])
        else:
            assert_close(name, r0, r1, w, x, y)


_data = circulant_data


@pytest.mark.parametrize("batch, d, n", [((), 1, 2), ((), 2, 7), ((), 3, 8), ((5,), 6, 100),
                                         ((2, 3), 4, 9), ((3,), 20, 64), ((1,), 40, 33)])
def test_equal_to_numpy(batch, d, n):
    rng = np.random.default_rng(d * n)
    check_all(*_data(rng, batch, d, n), min(3, n))


@pytest.mark.parametrize("B", [1, 2, 255, 256, 257])
def test_batch_sizes(B):
    rng = np.random.default_rng(B)
    check_all(*_data(rng, (B,), 3, 16), 5)


def test_broadcasting_layouts():
    rng = np.random.default_rng(3)
    n, d = 12, 3
    w = rng.standard_normal((4, 1, d, n)) / n
    xs = rng.standard_normal((4, 5, n))
    ys = rng.standard_normal((5, n))
    for x, y in ((xs, ys), (xs[0, 0], ys), (xs[:, :1], ys[0])):
        check_all(w, x, y, 4)
    w_out = np.linspace(-2.0, 3.0, 5)  # a batch of output scales (rank 0) against the filters'
    r0, r1 = both(lambda: G.cn_grad_w(w, w_out, xs[:, :1], ys))
    assert r0.shape == r1.shape == (4, 5, d, n)
    for j, s in enumerate(w_out):  # the bound scales with |w_out|
        C = condition("cn_grad_w", w, xs[:, :1], ys, w_out=s)[:, j]
        err = np.abs(r1[:, j] - r0[:, j])
        assert np.all(err <= 1e-14 * np.abs(r0[:, j]) + K * np.log2(2 * n) * EPS * C[..., None])


def test_extreme_scales():
    """Filters of 1e-100 .. 1e30: the JAX result, or (non-finite there) NumPy's path: the same
    result or the same error."""
    rng = np.random.default_rng(5)
    for s in (1e-100, 1e-5, 1e5, 1e30):
        w, x, y = _data(rng, (3,), 4, 10)
        for name, call in calls(w * s, x, y, 4)[:2]:
            try:
                with _backend.using("numpy"):
                    r0 = call()
            except ValueError as exc:
                with _backend.using("jax"), pytest.raises(ValueError) as got:
                    call()
                assert str(got.value) == str(exc)
                continue
            with _backend.using("jax"):
                r1 = call()
            if name == "grad":
                assert_close(name, r0, r1, w * s, x, y)
            else:
                np.testing.assert_allclose(r1, r0, rtol=1e-13, atol=0)


def test_same_errors():
    rng = np.random.default_rng(9)
    w, x, y = _data(rng, (300,), 3, 8)
    bad = [(lambda: G.grad(w, x[:7], y), "x has length 7"),
           (lambda: G.grad_p(w, x, y, 9), r"p \(kernel size\) must be <= n = 8"),
           (lambda: G.cn_grad_w(w, 1.0, np.ones(8), y), "x is constant"),
           (lambda: G.cn_grad_w(np.zeros_like(w), 1.0, x, y), "w gives a zero product output"),
           (lambda: G.grad(w, x, np.full(8, np.nan)), "y must be finite")]
    for call, msg in bad:
        for b in ("numpy", "jax"):
            with _backend.using(b), pytest.raises(ValueError, match=msg):
                call()


def test_raw_functions_vmap_and_grad():
    """The raw one-point functions under ``jax.vmap`` equal the public ones on JAX, and
    ``jax.grad`` of the JAX losses equals the emitted (SymPy-derived) gradients to 1e-13 of the
    gradient's scale (``grad_p``: its first p columns)."""
    rng = np.random.default_rng(11)
    n, d, B = 16, 4, 6
    w, x, y = _data(rng, (B,), d, n, scale=n)
    X, Y = np.broadcast_to(x, (B, n)), np.broadcast_to(y, (B, n))
    with _backend.using("jax"):
        pub = G.grad(w, x, y), G.grad_p(w, x, y, 5), G.cn_grad_w(w, 1.7, x, y)
    raw = (jax.vmap(CJ.grad)(w, X, Y), jax.vmap(CJ.grad_p, in_axes=(0, 0, 0, None))(w, X, Y, 5),
           jax.vmap(CJ.cn_grad_w, in_axes=(0, None, 0, 0))(w, 1.7, X, Y))
    for a, b in zip(pub, raw):
        np.testing.assert_allclose(np.asarray(b), a, rtol=0, atol=1e-15 * np.max(np.abs(a)))
    ad = jax.vmap(jax.grad(CJ.loss))(w, X, Y)
    adn = jax.vmap(jax.grad(CJ.cn_loss), in_axes=(0, None, 0, 0))(w, 1.7, X, Y)
    for g_ad, g in ((ad, pub[0]), (ad[..., :5], pub[1]), (adn, pub[2])):
        g_ad = np.asarray(g_ad)
        scale = np.max(np.abs(g), axis=(-2, -1), keepdims=True)
        assert np.all(np.abs(g_ad - g) <= 1e-13 * scale), np.max(np.abs(g_ad - g) / scale)
    # the JAX losses are the public losses (away from a fit, where NumPy refines in double-double)
    with _backend.using("numpy"):
        L0, LN0 = G.loss(w, x, y), G.cn_loss(w, 1.7, x, y)
    np.testing.assert_allclose(np.asarray(jax.vmap(CJ.loss)(w, X, Y)), L0, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(jax.vmap(CJ.cn_loss, in_axes=(0, None, 0, 0))(w, 1.7, X, Y)),
                               LN0, rtol=1e-13)


def test_planted_error_caught():
    """One printed coefficient of the JAX grad's spectrum changed by 1e-6 relative (the
    ``n**(d/2)`` of the y-term, in a copy of the generated source): the comparison fails."""
    from pathlib import Path

    src = Path(CJ.__file__).read_text()
    old = "    _t1 = n ** (1 / 2 * d)\n    _t1 = float(_t1)\n    _t2 = Q_im * _t1\n"
    assert src.count(old) == 2  # grad and grad_p
    src = src.replace(old, old.replace("float(_t1)", "float(_t1) * (1 + 1e-6)"), 1)
    ns = {"__name__": "derivations.generated._planted_circulant_jax"}
    exec(compile(src, "<planted circulant_jax>", "exec"), ns)
    rng = np.random.default_rng(7)
    w, x, y = _data(rng, (5,), 6, 100)
    shape = _rt.batch_shape(("w", w, 2), ("x", x, 1), ("y", y, 1))
    planted = ns["BACKEND"]["grad"](shape, w, x, y)
    with _backend.using("numpy"):
        r0 = G.grad(w, x, y)
    assert_close("grad", r0, ns["BACKEND"]["grad_p"](shape, w, x, y, 100), w, x, y)  # grad_p untouched
    with pytest.raises(AssertionError):
        assert_close("grad", r0, planted, w, x, y, record=False)


@pytest.mark.parametrize("name", ["cn_grad_w"])
def test_raw_functions_pass_reference_rows(name):
    """The raw JAX function (``jnp.vectorize`` over the rows the checks pass) through its
    formula's registered independent rows: backprop through the dense layerwise-CN model (n up
    to 512, d up to 6) and the expression at 50 digits with exact DFT sums.  (``grad`` and
    ``grad_p`` pass their rows too, 4-8 s CPU more each, mostly XLA compiles of the rows'
    shapes: left out for the test budget; their raw functions equal the public ones on JAX
    above.)"""
    import jax.numpy as jnp

    from numerics import checks, harness

    f = derivations.get(f"circulant.{name}")
    raw = getattr(CJ, name)

    def call(*args):
        if name == "grad_p":
            *arrs, p = args
            fn, sig = (lambda w, x, y: raw(w, x, y, int(p))), "(d,n),(n),(n)->(d,q)"
        else:
            arrs = args
            fn = raw
            sig = "(d,n),(),(n),(n)->(d,n)" if name == "cn_grad_w" else "(d,n),(n),(n)->(d,n)"
        return np.asarray(jnp.vectorize(fn, signature=sig)(*(jnp.asarray(a, float) for a in arrs)))

    rows = [r for c in checks.for_formula(f.name) if c.kind in ("dense", "mpmath")
            for r in harness.run_check(c, harness.Subject(f, call), harness.Context(quick=True))]
    assert len(rows) == 2 and all(r.passed for r in rows), [(r.kind, r.detail) for r in rows]


def test_generated_fresh():
    """``generated/circulant_jax.py`` is what the JAX printer (with this template) prints from
    the committed NumPy module (``nnderive build circulant`` rewrites both)."""
    from derivations.codegen import jax as codegen_jax

    (path, src), = codegen_jax.build(write=False, families=["circulant"]).items()
    assert path.read_text() == src, f"{path.name} is stale: run `nnderive build circulant`"


def test_report_ratios():
    """(Run last, with -s: the measured K of the comparisons above.)"""
    if RATIOS:
        worst = {}
        for name, r in RATIOS:
            worst[name] = max(worst.get(name, 0.0), r)
        print("\nK measured:", {k: f"{v:.3g}" for k, v in worst.items()})
