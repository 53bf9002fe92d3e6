"""The two-layer engine on JAX (issue 25 item 3, issue 20): the emitted JAX pair kernels
(derivations/generated/twolayer_kernels_jax.py) assembled by derivations/twolayer/jax.py equal
the NumPy engine to 1e-13 relative for every activation, fully connected (trained and fixed
output) and convolutional with overlapping patches, at points with student units at angle 0
and pi to a teacher unit (exactly and 1e-9 away) and in a batch; ``jax.grad`` of the JAX loss
agrees with the emitted JAX gradient; the Safran-Yehudai-Shamir minimum holds on JAX; a planted
error in a copy of the kernel source fails.

JAX compiles are slow (~0.2-0.6 s per function and shape): one net per model (module-level
cache, so its ``net.jax()`` functions compile once) and every point of a model is one batch of
one shape.
"""
import functools

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from derivations.runtime.backend import using  # noqa: E402
from derivations.twolayer import convolutional, fully_connected  # noqa: E402
from numerics.checks.twolayer import ACTIVATIONS, _params  # noqa: E402
from numerics.simulators.twolayer import safran_shamir_minimum  # noqa: E402

TOL = 1e-13
D, K, M = 4, 3, 2


def _rel(got, ref, what=""):
    """Max |got - ref| / max |ref| over the finite entries; nonfinite entries must match."""
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    fin = np.isfinite(ref)
    assert np.array_equal(np.isfinite(got), fin), f"{what}: nonfinite entries differ"
    assert np.array_equal(got[~fin], ref[~fin]) or np.all(np.isnan(ref[~fin])), what
    if not fin.any():
        return 0.0
    scale = np.max(np.abs(ref[fin]))
    return float(np.max(np.abs(got[fin] - ref[fin])) / max(scale, 1e-300))


def _unit(v):
    return v / np.linalg.norm(v)


def fc_points(seed=0):
    """A batch of fully connected points ``(W (P, K, D), a (P, K), V (M, D), b (M,))``: a generic
    one; student unit 0 at angle 0 and unit 1 at angle pi to a teacher unit, exactly (scales
    2 and -1/2: exact in float64) and 1e-9 away; student units parallel to each other."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((M, D))
    b = rng.uniform(0.5, 1.5, M) * np.array([1.0, -1.0])
    W0 = rng.standard_normal((K, D))
    perp = [_unit(x - (x @ _unit(v)) * _unit(v)) for x, v in zip(rng.standard_normal((2, D)), V)]
    Ws = [W0]
    for eps in (0.0, 1e-9):
        W = W0.copy()
        W[0] = 2.0 * (V[0] + eps * np.linalg.norm(V[0]) * perp[0])
        W[1] = -0.5 * (V[1] + eps * np.linalg.norm(V[1]) * perp[1])
        Ws.append(W)
    W = W0.copy()
    W[2] = -2.0 * W[0]          # two student units antiparallel
    W[1] = 0.5 * V[1]
    Ws.append(W)
    W = np.stack(Ws)
    a = rng.uniform(0.5, 1.5, (len(Ws), K)) * np.array([1.0, -1.0, 1.0])
    return W, a, V, b


@functools.lru_cache(maxsize=None)
def _fc_net(act, train_output):  # one net per model: its net.jax() functions compile once
    return fully_connected(D, K, M, activation=act, train_output=train_output,
                           params=_params(act))


@functools.lru_cache(maxsize=None)
def _conv_net():
    return convolutional(9, 4, 2, activation="relu", train_output=True)  # 3 overlapping patches


def _numpy_all(net, th, a, tt, b, dth, da):
    with using("numpy"):
        return (net.loss(th, a, tt, b), net.grad(th, a, tt, b), net.hessian(th, a, tt, b),
                net.hvp(th, a, tt, b, dth, da))


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


#: the points of :func:`fc_points` where the step's derivatives are compared to TOL.  Its kernel
#: (pi - phi)/(2 pi) has a kink at phi = 0 and pi: gradient and Hessian do not exist for two
#: distinct parallel units (docs/twolayer.md), and 1e-9 from parallel they are ~1/phi, so the
#: ~1e-16 absolute rounding of the normalized vectors (one ulp of a norm summed in another
#: order) moves them by ~1e-7 relative on either backend: compared there to 1e-6 (point 2).
STEP_SMOOTH = [0]


def _compare(got, ref, label, rows=None):
    """loss, grad, hessian, hvp to TOL; ``rows``: the batch rows whose derivatives are compared."""
    for name, g, r in zip(("loss", "grad", "hessian", "hvp"), got, ref):
        for j, (gg, rr) in enumerate(zip(_as_tuple(g), _as_tuple(r))):
            if rows is not None and name != "loss":
                gg, rr = np.asarray(gg)[rows], np.asarray(rr)[rows]
            err = _rel(gg, rr, f"{label} {name}[{j}]")
            assert err <= TOL, (label, name, j, err)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # step at parallel units: NaN (documented)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_fully_connected_trained_output_equals_numpy(act):
    """net.jax() (vectorized over the batch of edge points) equals the NumPy engine.  The HVP
    (the same pair terms as the Hessian, another assembly) for two activations only: each
    compile costs ~0.5 s."""
    net = _fc_net(act, True)
    W, a, V, b = fc_points()
    rng = np.random.default_rng(1)
    dW, da = rng.standard_normal(W.shape), rng.standard_normal(a.shape)
    f = net.jax()
    got = (f.loss(W, a, V, b), f.grad(W, a, V, b), f.hessian(W, a, V, b))
    ref = _numpy_all(net, W, a, V, b, dW, da)
    if act in ("relu", "erf"):
        got += (f.hvp(W, a, V, b, dW, da),)
    _compare(got, ref, f"{act} trained", STEP_SMOOTH if act == "step" else None)
    if act == "step":  # 1e-9 from parallel: conditioned ~1e-7 (see STEP_SMOOTH)
        for g, r in zip(got[1:], ref[1:3]):
            for gg, rr in zip(_as_tuple(g), _as_tuple(r)):
                assert _rel(np.asarray(gg)[2], np.asarray(rr)[2]) < 1e-6


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # step at parallel units: NaN (documented)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_fully_connected_fixed_output_gradient_equals_numpy(act):
    """The fixed-output gradient (the emitted ``dgrad`` kernels, no kappa) of every activation."""
    net = _fc_net(act, False)
    W, a, V, b = fc_points(2)
    rows = STEP_SMOOTH if act == "step" else slice(None)
    with using("numpy"):
        ref = net.grad(W, a, V, b)
    got = np.asarray(net.jax().grad(W, a, V, b))
    assert _rel(got[rows], ref[rows]) <= TOL
    if act == "step":  # exactly parallel distinct units: no gradient, NaN on both backends
        assert np.isnan(ref[1:2]).any() and np.array_equal(np.isnan(got[1:2]), np.isnan(ref[1:2]))


def test_fully_connected_fixed_output_equals_numpy_on_the_jax_backend():
    """The public methods under set_backend("jax") (the routed path, a batch) equal NumPy."""
    net = _fc_net("relu", False)
    W, a, V, b = fc_points(2)
    dW = np.random.default_rng(3).standard_normal(W.shape)
    with using("jax"):
        got = (net.loss(W, a, V, b), net.grad(W, a, V, b), net.hessian(W, a, V, b),
               net.hvp(W, a, V, b, dW))
    _compare(got, _numpy_all(net, W, a, V, b, dW, None), "relu fixed")


def test_convolutional_overlapping_patches_equals_numpy():
    """Overlapping patches (d = 9, patch 4, stride 2): both JAX paths equal NumPy."""
    net = _conv_net()
    rng = np.random.default_rng(4)
    ws = rng.standard_normal(4)
    w = np.stack([rng.standard_normal(4), 2.0 * ws, -0.5 * ws,
                  ws + 1e-9 * np.linalg.norm(ws) * _unit(rng.standard_normal(4))])
    a, as_ = rng.standard_normal((4, 3)), rng.standard_normal(3)
    dw, da = rng.standard_normal(w.shape), rng.standard_normal(a.shape)
    ref = _numpy_all(net, w, a, ws, as_, dw, da)
    f = net.jax()
    _compare((f.loss(w, a, ws, as_), f.grad(w, a, ws, as_), f.hessian(w, a, ws, as_),
              f.hvp(w, a, ws, as_, dw, da)), ref, "conv jax()")
    with using("jax"):  # one point at a time: the unbatched (lax.cond) function
        for i in (0, 1):
            one = (net.loss(w[i], a[i], ws, as_), net.grad(w[i], a[i], ws, as_))
            _compare(one, tuple(jax.tree_util.tree_map(lambda x: x[i], r) for r in ref[:2]),
                     f"conv routed point {i}")


def test_jax_grad_of_the_jax_loss_is_the_emitted_gradient():
    """``jax.grad`` (autodiff through the emitted kernel and the stable angle) of the JAX loss
    vs the emitted gradient, ReLU (degree 1, a kink at angle 0) and erf (smooth, not
    homogeneous; each compile costs ~1-2 s), at the generic point and 1e-9 from parallel
    (ReLU: only the generic point, away from the kink); finite at the exactly parallel point
    (safe where)."""
    W, a, V, b = fc_points()
    for act in ("relu", "erf"):
        f = _fc_net(act, True).jax()
        auto = jax.jit(jax.grad(f.single["loss"], argnums=(0, 1)))
        eW, ea = f.grad(W, a, V, b)
        for i in ([0] if act == "relu" else [0, 2]):
            gW, ga = auto(W[i], a[i], V, b)
            scale = max(np.max(np.abs(eW[i])), np.max(np.abs(ea[i])))
            err = max(np.max(np.abs(gW - eW[i])), np.max(np.abs(ga - ea[i]))) / scale
            assert err < 1e-12, (act, i, err)
        assert np.all(np.isfinite(np.asarray(auto(W[1], a[1], V, b)[0]))), act


def test_safran_shamir_minimum_on_jax():
    """The k = m = d = 7 spurious minimum of docs/twolayer.md: loss 0.0232, gradient ~1e-10 and
    a positive definite Hessian, on both JAX paths."""
    W, a, V, b = safran_shamir_minimum()
    net = fully_connected(7, 7, 7, activation="relu")
    f = net.jax()
    with using("jax"):
        routed = (net.loss(W, a, V, b), net.grad(W, a, V, b), net.hessian(W, a, V, b))
    for loss, g, H in (routed, (f.loss(W, a, V, b), f.grad(W, a, V, b), f.hessian(W, a, V, b))):
        assert abs(float(loss) - 0.0232027149135) < 1e-12
        assert float(np.max(np.abs(g))) < 1e-9
        assert abs(np.linalg.eigvalsh(np.asarray(H))[0] - 0.01406) < 5e-5


def test_planted_error_in_a_copied_kernel_source_fails():
    """One coefficient of a copy of the generated JAX kernel source x (1 + 1e-6): the JAX engine
    on it differs from the NumPy engine by ~1e-6, far above the 1e-13 the tests require."""
    from derivations.codegen.templates import twolayer_jax as emit
    from derivations.generated import twolayer_kernels_jax as gen
    from derivations.twolayer.networks import FullyConnected

    src = open(gen.__file__).read()
    head = "def relu_grad(a, b, c, s, phi):"
    i = src.index(head)
    body = src[i:src.index("\n\n\n", i)]
    planted = body.replace("_t0 = 1 / 2 / jnp.pi", "_t0 = 1 / 2 / jnp.pi * (1 + 1e-6)", 1)
    assert planted != body
    mod = emit.compile_source(src.replace(body, planted))
    W, a, V, b = fc_points()
    bad = FullyConnected(D, K, M, "relu", True, module=mod).jax()
    ref = _numpy_all(_fc_net("relu", True), W, a, V, b, W, a)
    got = bad.grad(W, a, V, b)
    assert max(_rel(g, r) for g, r in zip(got, ref[1])) > 1e-7
    with pytest.raises(AssertionError):
        _compare((ref[0], got), ref[:2], "planted")


def test_errors_and_broadcasting_are_the_numpy_paths():
    """Under set_backend("jax") the argument checks and errors are NumPy's; a teacher with its
    own batch axis broadcasts."""
    net = _fc_net("relu", True)
    W, a, V, b = fc_points()
    with using("jax"):
        with pytest.raises(ValueError, match="W: every unit"):
            net.loss(np.zeros((K, D)), a[0], V, b)
        with pytest.raises(ValueError, match="V must have shape"):
            net.grad(W, a, V[:1], b)
        with pytest.raises(TypeError, match="a must be a real array"):
            net.loss(W[0], "x", V, b)
        Vb = np.stack([V, 2.0 * V])
        got = net.grad(W[:2], a[:2], Vb, b)
    with using("numpy"):
        ref = net.grad(W[:2], a[:2], Vb, b)
    assert max(_rel(g, r) for g, r in zip(got, ref)) <= TOL


def test_check_rows_on_the_jax_backend_have_teeth():
    """`nnderive check twolayer --backend jax`: the kernel rows also judge the JAX kernels, so a
    planted error in the JAX kernel alone (relu's kappa x (1 + 1e-6); the NumPy kernels intact)
    fails the row on the JAX backend."""
    import types

    from derivations.codegen.templates import twolayer_jax as emit
    from derivations.generated import twolayer_kernels as gen_np
    from derivations.generated import twolayer_kernels_jax as gen
    from numerics.checks import twolayer as C

    src = open(gen.__file__).read()
    i = src.index("def relu_kappa(a, b, c, s, phi):")
    body = src[i:src.index("\n\n\n", i)]
    planted = emit.compile_source(src.replace(
        body, body.replace("(1 / 2 / jnp.pi)", "(1 / 2 / jnp.pi * (1 + 1e-6))", 1)))
    mod = types.ModuleType("hybrid")
    mod.__dict__.update({k: v for k, v in vars(gen_np).items() if not k.startswith("__")})
    mod.jax_module = lambda: planted
    with using("jax"):   # (the NumPy kernels are the generated ones: their row passes)
        rows = C.kernel_rows(mod, activations=("relu",))
    assert not rows[0].passed and rows[0].stat > 1e-7 and "jax" in rows[0].detail
