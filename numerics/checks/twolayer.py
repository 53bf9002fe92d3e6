"""Checks of the two-layer engine (issue 20), run by ``nnderive check twolayer``.

Every row compares the engine (emitted pair kernels + assembly) with numerics of the MODEL
(:mod:`numerics.simulators.twolayer`), never with a derived expression.  The engine is evaluated
on each installed backend (the NumPy assembly, and the compiled one of
``derivations/generated/twolayer_kernels_numba.py`` when Numba is installed; a module compiled in
memory with a planted error brings its compiled counterpart with the same error) and a row
judges the worst of them:

* ``reference`` -- each activation's kernel vs polar quadrature of ``sigma(u.x) sigma(v.x)`` in
  the plane of ``u, v`` (tol 1e-10 of the kernel's scale ``(|u||v|)^n``), at random norms and at
  the angles 0, 1e-7, near pi/2, pi - 1e-7, pi and random ones;
* ``monte_carlo`` -- the loss vs the average of ``1/2 (f - f*)^2`` over Gaussian inputs (z-test);
* ``finite_difference`` -- the gradient (first layer and output weights) vs Richardson central
  differences of the quadrature-simulated loss (tol 1e-8), and the dense Hessian vs Richardson
  second differences of it (tol 1e-7); fully connected per activation, overlapping
  convolutional, and two filters on arbitrary patches;
* ``overlap`` -- agreement to 1e-13 with the families that overlap: ``cnn.population_loss_w``
  (non-overlapping patches), ``filter.population_loss`` / ``filter.population_grad`` (one
  neuron; Tian's ICML 2017 setting), ``kernels.arccos1`` and ``kernels.h_inf``;
* ``paper`` -- Tian's printed ICML 2017 population gradient of the ReLU network (transcribed in
  :mod:`derivations.twolayer.paper`) vs the engine, to 1e-13: a comparison with a printed
  form, not an independent check (it does not count when mutants are scored);
* ``spurious minimum`` -- the k = m = d = 7 point of Safran, Yehudai & Shamir: the loss vs
  quadrature, the gradient ~1e-10 and the smallest Hessian eigenvalue 0.01406.

:func:`run` takes ``module=`` (a kernel module compiled in memory, e.g. with a planted error,
see ``tests/test_twolayer_checks.py``) so that the teeth of every row can be shown.
"""
from __future__ import annotations

import math

import numpy as np

from ..rows import CheckResult, Context, mc_result
from ..simulators import twolayer as S

ACTIVATIONS = ("relu", "leaky_relu", "abs", "identity", "quadratic", "step", "erf")
DEGREE = {"quadratic": 2, "step": 0}
REF_TOL, GRAD_TOL, HESS_TOL, OVERLAP_TOL = 1e-10, 1e-8, 1e-7, 1e-13
#: ``check twolayer --quick``: the Hessian-vs-second-differences rows kept (the cheapest, ReLU
#: fully connected, ~1 s): a Hessian-only error must fail --quick too
QUICK_HESSIAN = ("relu",)
#: Hessian tolerance of the report for a user's model at a random point (edges may be near)
MODEL_HESS_TOL = 1e-6
ANGLES = (0.0, 1e-7, 0.05, 1.3, math.pi / 2, 2.2, math.pi - 0.05, math.pi - 1e-7, math.pi)


def _row(name, kind, label, value, ref, err, tol, detail, stat="rel"):
    return CheckResult(name, kind, label, float(value), float(ref), float(err), stat,
                       bool(np.isfinite(err) and err <= tol), detail=detail, resolution=tol)


def _params(act):
    return (0.2,) if act == "leaky_relu" else ()


def _backends() -> list[str]:
    """The installed backends of the engine: NumPy, and the compiled (Numba) engine when Numba
    is installed, and the JAX engine (:mod:`derivations.twolayer.jax`) when it is the backend
    asked for, ``check twolayer --backend jax`` (as :func:`numerics.checks.common.backends`)."""
    from derivations.runtime import backend as _backend

    out = ["numpy"] + (["numba"] if _backend.numba_available() else [])
    if _backend.get_backend() == "jax":  # never by default: XLA compiles each model's functions
        out.append("jax")
    return out


def _each(evaluate) -> list:
    """``evaluate()`` once on each installed backend (as ``common._each_backend``): every row
    of the engine judges the worst of them."""
    from derivations.runtime import backend as _backend

    out = []
    for b in _backends():
        with _backend.using(b):
            out.append(evaluate())
    return out


def _worst(evaluate, error):
    """``(error, value)`` of the backend whose value has the largest ``error(value)``."""
    worst = None
    for v in _each(evaluate):
        e = error(v)
        if worst is None or not e <= worst[0]:
            worst = (e, v)
    return worst


def _compiled_kappa(K, u, v):
    """kappa(u, v) by the compiled scalar kernel (the engine's angle), or None without Numba."""
    from derivations.twolayer import compiled
    from derivations.twolayer.model import _geometry

    if "numba" not in _backends():
        return None
    mod = compiled.module_for(K)
    if mod is None:
        return None
    nx, ny = np.linalg.norm(u)[None], np.linalg.norm(v)[None]
    c, s, phi = (float(t[0, 0]) for t in _geometry(u[None], v[None], nx, ny))
    return getattr(mod, f"{K.name}_kappa")(float(nx[0]), float(ny[0]), c, s, phi,
                                           np.array(K.params, dtype=np.float64))


def _jax_kappa(K, u, v):
    """kappa(u, v) by the JAX kernel and angle (:mod:`derivations.twolayer.jax`), or None unless
    the backend asked for is JAX."""
    if "jax" not in _backends():
        return None
    from derivations.twolayer import jax as TJ

    nx, ny = np.linalg.norm(u)[None], np.linalg.norm(v)[None]
    (k,), _, _ = TJ.core_for(K).pairs(u[None], v[None], nx, ny, 0, False)
    return float(k[0, 0])


# --------------------------------------------------------------------------------------------


def kernel_rows(module=None, activations=ACTIVATIONS, seed: int = 0):
    from derivations.twolayer.model import Kernel

    rows = []
    for act in activations:
        K = Kernel(act, _params(act), module)
        rng = np.random.default_rng([seed, 11, len(act)])
        worst = (-1.0, None, 0.0, 0.0)
        for phi in list(ANGLES) + [float(x) for x in rng.uniform(0, math.pi, 6)]:
            a, b = (float(math.exp(x)) for x in rng.uniform(math.log(0.2), math.log(5.0), 2))
            u, v = S.angle_pair(rng, 5, a, b, phi)
            ref = S.pair_quadrature(act, u, v, K.params)
            nx, ny = np.linalg.norm(u)[None], np.linalg.norm(v)[None]
            (k,), _, _ = K.pairs(u[None], v[None], nx, ny, 0, False)
            for val in (float(k[0, 0]), _compiled_kappa(K, u, v), _jax_kappa(K, u, v)):
                if val is None:
                    continue
                err = abs(val - ref) / (a * b) ** DEGREE.get(act, 1)
                if not err <= worst[0]:
                    worst = (err, phi, val, ref)
        err, phi, val, ref = worst
        rows.append(_row(f"twolayer.kappa_{act}", "reference", "kernel vs plane quadrature",
                         val, ref, err, REF_TOL,
                         f"15 points incl. phi = 0, 1e-7, pi-1e-7, pi; worst at phi={phi:.3g}; "
                         f"relative to (|u||v|)^n; kernels of {'/'.join(_backends())}"))
    return rows


def _fc_point(rng, d, k, m):
    return (rng.standard_normal((k, d)), rng.standard_normal(k), rng.standard_normal((m, d)),
            rng.standard_normal(m))


def mc_rows(ctx: Context, module=None, activations=ACTIVATIONS):
    from derivations.twolayer.networks import FullyConnected, Patches

    rows = []
    n = max(20_000, ctx.samples // 4)
    for act in activations:
        net = FullyConnected(5, 3, 2, act, False, _params(act), module)
        rng = ctx.rng(f"twolayer/mc/{act}")
        W, a, V, b = _fc_point(rng, 5, 3, 2)
        closed = _each(lambda: net.loss(W, a, V, b))
        draws = S.loss_mc(act, W, a, V, b, rng, n, net.kernel.params)
        mean = float(np.mean(draws))
        rows.append(mc_result(f"twolayer.loss_{act}", "loss vs Monte Carlo (fc 5/3/2)",
                              max(closed, key=lambda c: abs(c - mean)), draws))
    if "relu" not in activations:
        return rows
    # overlapping convolution with two filters on arbitrary patches (ReLU)
    pats = [[0, 1, 2], [1, 2, 3], [3, 5, 6], [6, 7, 0]]
    net = Patches(8, pats, [0, 0, 1, 1], activation="relu", module=module)
    rng = ctx.rng("twolayer/mc/patches")
    w, a = rng.standard_normal((2, 3)), rng.standard_normal(4)
    ws, as_ = rng.standard_normal((2, 3)), rng.standard_normal(4)
    closed = _each(lambda: net.loss(w, a, ws, as_))
    U = np.stack([S.conv_units(w[f], 8, [p])[0] for f, p in zip([0, 0, 1, 1], pats)])
    T = np.stack([S.conv_units(ws[f], 8, [p])[0] for f, p in zip([0, 0, 1, 1], pats)])
    draws = S.loss_mc("relu", U, a, T, as_, rng, n)
    mean = float(np.mean(draws))
    rows.append(mc_result("twolayer.loss_patches", "loss vs Monte Carlo (2 filters, overlap)",
                          max(closed, key=lambda c: abs(c - mean)), draws))
    return rows


def _fd_rows_for(name, label, grad_engine, hess_engine, sim_loss, x0, hessian,
                 hess_tol=HESS_TOL):
    rows = []
    g_ref = S.richardson_grad(sim_loss, x0)
    scale = max(float(np.max(np.abs(g_ref))), 1e-300)
    err, g = _worst(lambda: grad_engine(x0), lambda g: float(np.max(np.abs(g - g_ref))) / scale)
    i = int(np.argmax(np.abs(g - g_ref)))
    rows.append(_row(name, "finite_difference", f"gradient vs FD of simulated loss ({label})",
                     g[i], g_ref[i], err, GRAD_TOL,
                     f"P = {len(x0)}; Richardson central differences of the quadrature loss; "
                     f"worst of {'/'.join(_backends())}"))
    if hessian:
        H_ref = S.richardson_hessian(sim_loss, x0)
        scale = max(float(np.max(np.abs(H_ref))), 1e-300)
        err, H = _worst(lambda: hess_engine(x0),
                        lambda H: float(np.max(np.abs(H - H_ref))) / scale)
        diff = np.abs(H - H_ref)
        ij = np.unravel_index(np.argmax(diff), diff.shape)
        rows.append(_row(name, "finite_difference",
                         f"Hessian vs 2nd differences of simulated loss ({label})",
                         H[ij], H_ref[ij], err, hess_tol,
                         f"{len(x0)}x{len(x0)}; Richardson four-point second differences; "
                         f"worst of {'/'.join(_backends())}"))
    return rows


def fd_rows(module=None, activations=ACTIVATIONS, seed: int = 0, hessian=True):
    """Gradient (and Hessian) vs differences of the simulated loss.  ``hessian``: True (every
    model), False (none) or a tuple of activations whose fully connected model gets its
    Hessian row (the convolutional ones then get none)."""
    from derivations.twolayer.networks import Convolutional, FullyConnected, Patches

    rows = []
    only = tuple(hessian) if isinstance(hessian, (tuple, list)) else None
    for act in activations:
        d, k, m = 3, 2, 2
        net = FullyConnected(d, k, m, act, True, _params(act), module)
        rng = np.random.default_rng([seed, 21, len(act)])
        W, a, V, b = _fc_point(rng, d, k, m)
        x0 = np.concatenate([W.ravel(), a])

        def split(x, k=k, d=d):
            return x[: k * d].reshape(k, d), x[k * d:]

        def sim(x, act=act, V=V, b=b, p=net.kernel.params):
            Wx, ax = split(x)
            return S.loss_quadrature(act, Wx, ax, V, b, p)

        rows += _fd_rows_for(
            f"twolayer.fc_{act}", f"fc {d}/{k}/{m}, a trained",
            lambda x, net=net, V=V, b=b: np.concatenate(
                [np.ravel(t) for t in net.grad(*split(x), V, b)]),
            lambda x, net=net, V=V, b=b: net.hessian(*split(x), V, b), sim, x0,
            act in only if only is not None else bool(hessian))
    if not {"relu", "erf"} <= set(activations):
        return rows
    hessian = False if only is not None else bool(hessian)
    # overlapping convolution (one filter, stride 1) and two filters on arbitrary patches
    rng = np.random.default_rng([seed, 31])
    conv = Convolutional(6, 3, 1, "relu", True, module=module)
    pats = [list(range(i, i + 3)) for i in range(4)]
    ws, as_ = rng.standard_normal(3), rng.standard_normal(4)
    x0 = np.concatenate([rng.standard_normal(3), rng.standard_normal(4)])

    def sim_conv(x):
        return S.loss_quadrature("relu", S.conv_units(x[:3], 6, pats), x[3:],
                                 S.conv_units(ws, 6, pats), as_)

    rows += _fd_rows_for("twolayer.conv_relu", "conv d=6, patch 3, stride 1",
                         lambda x: np.concatenate([np.ravel(t) for t in conv.grad(
                             x[:3], x[3:], ws, as_)]),
                         lambda x: conv.hessian(x[:3], x[3:], ws, as_), sim_conv, x0, hessian)
    gp = [[0, 1], [1, 2], [2, 3], [0, 3]]
    filt = [0, 1, 0, 1]
    gen = Patches(4, gp, filt, activation="erf", train_output=True, module=module)
    wst, ast = rng.standard_normal((2, 2)), rng.standard_normal(4)
    x1 = np.concatenate([rng.standard_normal(4), rng.standard_normal(4)])

    def units(wf):
        return np.stack([S.conv_units(wf[f], 4, [p])[0] for f, p in zip(filt, gp)])

    def sim_gen(x):
        return S.loss_quadrature("erf", units(x[:4].reshape(2, 2)), x[4:], units(wst), ast)

    rows += _fd_rows_for("twolayer.patches_erf", "2 filters on 4 overlapping patches, erf",
                         lambda x: np.concatenate([np.ravel(t) for t in gen.grad(
                             x[:4].reshape(2, 2), x[4:], wst, ast)]),
                         lambda x: gen.hessian(x[:4].reshape(2, 2), x[4:], wst, ast), sim_gen,
                         x1, hessian)
    return rows


def overlap_rows(module=None, seed: int = 0):
    """Agreement with the cnn, filter and kernels families (their emitted code)."""
    from derivations.generated import cnn as gen_cnn
    from derivations.generated import filter as gen_filter
    from derivations.generated import kernels as gen_kernels
    from derivations.twolayer.model import Kernel
    from derivations.twolayer.networks import Convolutional, FullyConnected

    rows = []
    rng = np.random.default_rng([seed, 41])
    # cnn.population_loss_w: k non-overlapping patches of size p, one filter, a trained
    f = gen_cnn.population_loss_w
    errs = []
    for p, k in ((3, 2), (4, 3), (2, 5)):
        net = Convolutional(p * k, p, p, "relu", True, module=module)
        for _ in range(3):
            w, a, ws, as_ = (rng.standard_normal(p), rng.standard_normal(k),
                             rng.standard_normal(p), rng.standard_normal(k))
            theirs = float(f(w, a, ws, as_))
            for ours in _each(lambda: net.loss(w, a, ws, as_)):
                errs.append((abs(ours - theirs) / max(abs(theirs), 1e-300), ours, theirs))
    e = max(errs)
    rows.append(_row("twolayer.overlap_cnn", "overlap", "conv (stride = patch) vs "
                     "cnn.population_loss_w", e[1], e[2], e[0], OVERLAP_TOL,
                     f"{len(errs)} points, (p, k) in (3,2), (4,3), (2,5)"))
    # filter.population_loss / population_grad: one neuron, a = b = 1
    fl, fg = gen_filter.population_loss, gen_filter.population_grad
    errs = []
    for p in (2, 3, 6):
        net = FullyConnected(p, 1, 1, "relu", False, module=module)
        for phi in (0.0, 1e-7, 1.0, 2.5, math.pi - 1e-7, math.pi):
            w, ws = S.angle_pair(rng, p, 1.3, 0.8, phi)
            one = np.ones(1)
            lt, gt = float(fl(w, ws)), np.asarray(fg(w, ws))
            sc = max(abs(lt), float(np.max(np.abs(gt))), 1e-300)
            for lo, go in _each(lambda: (net.loss(w[None], one, ws[None], one),
                                         net.grad(w[None], one, ws[None], one)[0])):
                errs.append((max(abs(lo - lt), float(np.max(np.abs(go - gt)))) / sc, lo, lt))
    e = max(errs)
    rows.append(_row("twolayer.overlap_filter", "overlap", "fc k=m=1 vs filter.population_"
                     "loss/grad", e[1], e[2], e[0], OVERLAP_TOL,
                     f"{len(errs)} points incl. phi = 0, pi; loss and gradient (Tian ICML17)"))
    # kernels.arccos1 = kappa_relu; kernels.h_inf = x.y * (pi - phi)/(2 pi) = x.y * huv0
    ka, kh = gen_kernels.arccos1, gen_kernels.h_inf
    K = Kernel("relu", (), module)
    errs = []
    for phi in ANGLES:
        x, y = S.angle_pair(rng, 4, 1.1, 2.0, phi)
        nx, ny = np.linalg.norm(x)[None], np.linalg.norm(y)[None]
        out, _, _ = K.pairs(x[None], y[None], nx, ny, 2, False)
        kap, huv0 = float(out[0][0, 0]), float(out[7][0, 0])
        t1, t2 = float(ka(x, y)), float(kh(x, y))
        sc = 1.1 * 2.0
        errs.append((max(abs(kap - t1), abs(huv0 * (x @ y) - t2)) / sc, kap, t1))
        ck = _compiled_kappa(K, x, y)
        if ck is not None:
            errs.append((abs(ck - t1) / sc, ck, t1))
    e = max(errs)
    rows.append(_row("twolayer.overlap_kernels", "overlap", "kappa_relu, huv0 vs kernels."
                     "arccos1, h_inf", e[1], e[2], e[0], OVERLAP_TOL,
                     f"{len(errs)} angles incl. 0 and pi; relative to |x||y|"))
    return rows


def tian_rows(module=None, seed: int = 0):
    """The engine's ReLU gradient (output weights 1) vs Tian's printed population gradient
    (ICML 2017, :func:`derivations.twolayer.paper.tian_gradient`), to 1e-13 of the largest
    component (or of the self term |w|/2, at a critical point): random points, a student unit
    parallel / antiparallel to another and to a teacher unit, and the Safran-Yehudai-Shamir
    minimum.  Kind ``paper`` (a transcribed form)."""
    from derivations.twolayer.networks import FullyConnected
    from derivations.twolayer.paper import tian_gradient

    rng = np.random.default_rng([seed, 53])
    cases = []
    for k, m, d in ((2, 2, 3), (5, 3, 4), (4, 6, 2), (8, 8, 8)):
        W, V = rng.standard_normal((k, d)), rng.standard_normal((m, d))
        cases.append((W, V))
        W = W.copy()
        W[0] = 1.3 * V[0]                       # on a teacher's ray
        W[1] = 2.5 * W[0]                       # parallel students
        if k > 2:
            W[-1] = -0.7 * W[0]                 # antiparallel
        cases.append((W, V))
    Ws, _, Vs, _ = S.safran_shamir_minimum()
    cases.append((Ws, Vs))
    worst = (-1.0, 0.0, 0.0)
    for W, V in cases:
        k, d = W.shape
        net = FullyConnected(d, k, V.shape[0], "relu", False, module=module)
        t = tian_gradient(W, V)
        # relative to the size of the terms (the self term g(w, w) = w/2): at a critical point
        # the gradient itself is ~0
        scale = max(float(np.abs(t).max()), 0.5 * float(np.linalg.norm(W, axis=-1).max()))
        err, g = _worst(lambda: net.grad(W, np.ones(k), V, np.ones(V.shape[0])),
                        lambda g: float(np.abs(g - t).max()) / scale)
        diff = np.abs(g - t)
        if not err <= worst[0]:
            i = np.unravel_index(np.argmax(diff), diff.shape)
            worst = (err, float(g[i]), float(t[i]))
    return [_row("twolayer.tian", "paper", "ReLU gradient vs Tian's printed g(w, w*) (ICML17)",
                 worst[1], worst[2], worst[0], OVERLAP_TOL,
                 f"{len(cases)} points incl. parallel/antiparallel units and the k=7 minimum; "
                 "a transcribed form, not independent")]


def spurious_rows(module=None):
    from derivations.twolayer.networks import FullyConnected

    W, a, V, b = S.safran_shamir_minimum()
    net = FullyConnected(7, 7, 7, "relu", False, module=module)
    ref = S.loss_quadrature("relu", W, a, V, b)
    _, loss = _worst(lambda: net.loss(W, a, V, b), lambda x: abs(x - ref))
    g, _ = _worst(lambda: float(np.max(np.abs(net.grad(W, a, V, b)))), lambda x: x)
    _, lam = _worst(lambda: float(np.linalg.eigvalsh(net.hessian(W, a, V, b))[0]),
                    lambda x: abs(x - 0.01406))
    return [
        _row("twolayer.safran_shamir", "reference", "k=m=d=7 minimum: loss vs quadrature", loss,
             ref, abs(loss - ref) / ref, REF_TOL, "Safran-Yehudai-Shamir README point; "
             "loss 0.0232"),
        _row("twolayer.safran_shamir", "reference", "k=m=d=7 minimum: max |grad| <= 1e-9", g,
             0.0, g, 1e-9, "the published point is given to 10 digits", stat="abs"),
        _row("twolayer.safran_shamir", "reference", "k=m=d=7 minimum: lambda_min = 0.01406",
             lam, 0.01406, abs(lam - 0.01406) / 0.01406, 5e-4,
             "positive definite; the published value to 4 digits"),
    ]


def run(ctx: Context | None = None, module=None, progress=None, quick: bool = False):
    """Every row of the family (``quick``: the Hessian second differences of
    :data:`QUICK_HESSIAN` only)."""
    ctx = ctx or Context()
    rows = []
    for label, fn in (("kernels vs quadrature", lambda: kernel_rows(module, seed=ctx.seed)),
                      ("Monte Carlo", lambda: mc_rows(ctx, module)),
                      ("finite differences", lambda: fd_rows(module, seed=ctx.seed,
                                                             hessian=QUICK_HESSIAN if quick
                                                             else True)),
                      ("overlapping families", lambda: overlap_rows(module, ctx.seed)),
                      ("Tian's printed gradient", lambda: tian_rows(module, ctx.seed)),
                      ("spurious minimum", lambda: spurious_rows(module)),
                      ("public constructors", lambda: [] if module is not None
                       else public_rows(ctx))):
        if progress:
            progress(f"twolayer: {label}")
        rows += fn()
    return rows


# --------------------------------------------------------------------------------------------
# A check report for one model (``nnderive twolayer ... --check``)
# --------------------------------------------------------------------------------------------


def _model_units(net, theta, teacher: bool):
    """Effective vectors of ``net`` built here from its patch lists (not the engine's map)."""
    from derivations.twolayer.networks import Convolutional, FullyConnected

    if isinstance(net, FullyConnected):
        return np.asarray(theta, float)
    pats = net.teacher_patches if teacher else net.patches
    if isinstance(net, Convolutional):
        return S.conv_units(theta, net.d, pats)
    filt = net.filters if not teacher else (net.teacher_filters if hasattr(
        net, "teacher_filters") else net.filters)
    w = np.asarray(theta, float)
    return np.stack([S.conv_units(w[f], net.d, [p])[0] for f, p in zip(filt, pats)])


def model_rows(net, ctx: Context | None = None, max_fd: int = 40, max_hess: int = 12):
    """Rows for one model at a random point: the activation's kernel vs quadrature, the loss vs
    Monte Carlo, and (for ``P <= max_fd`` / ``max_hess``) the gradient and Hessian vs
    differences of the quadrature-simulated loss."""
    ctx = ctx or Context()
    act, params = net.activation, net.kernel.params
    rows = kernel_rows(activations=(act,), seed=ctx.seed)
    rows[0].detail += "" if not params else f"; alpha = {params[0]} in the model, 0.2 here"
    rng = ctx.rng(f"twolayer/model/{net!r}")
    th = rng.standard_normal(net.theta_shape)
    tt = rng.standard_normal(net.teacher_shape)
    a, b = rng.standard_normal(net.n_student), rng.standard_normal(net.n_teacher)
    U, T = _model_units(net, th, False), _model_units(net, tt, True)
    name = f"twolayer.model_{act}"
    rows.append(mc_result(name, "loss vs Monte Carlo of the network", net.loss(th, a, tt, b),
                          S.loss_mc(act, U, a, T, b, rng, max(20_000, ctx.samples), params)))
    n_th = int(np.prod(net.theta_shape))
    P = net.n_params
    if P <= max_fd:
        def split(x):
            return x[:n_th].reshape(net.theta_shape), (x[n_th:] if net.train_output else a)

        def sim(x):
            t, ax = split(x)
            return S.loss_quadrature(act, _model_units(net, t, False), ax, T, b, params)

        def grad(x):
            g = net.grad(*split(x), tt, b)
            return np.concatenate([np.ravel(t) for t in (g if net.train_output else (g,))])

        x0 = np.concatenate([th.ravel(), a]) if net.train_output else th.ravel()
        rows += _fd_rows_for(name, f"P = {P}", grad,
                             lambda x: net.hessian(*split(x), tt, b), sim, x0, P <= max_hess,
                             MODEL_HESS_TOL)
    return rows


# --------------------------------------------------------------------------------------------
# The public constructors and the SymPy access point, as public callables (issue 19, item 4).
# The engine is a family of models, not registry formulas: these checks are tied to no registry
# formula (``related=()``); the same comparisons run in ``nnderive check`` through :func:`run`.
# --------------------------------------------------------------------------------------------

from . import register_public  # noqa: E402
from ..rows import Check  # noqa: E402


def _public_fc(subject, ctx):
    """``fully_connected`` (ReLU with the output fixed, erf with it trained): the gradient vs
    Richardson differences of the quadrature-simulated loss (the Hessians of the same class are
    in :func:`fd_rows`)."""
    from derivations.twolayer import fully_connected

    rows = []
    for act, train in (("relu", False), ("erf", True)):
        if True:
            d, k, m = 3, 2, 2
            net = fully_connected(d, k, m, act, train_output=train)
            rng = np.random.default_rng([ctx.seed, 41, len(act), train])
            W, a, V, b = _fc_point(rng, d, k, m)
            x0 = np.concatenate([W.ravel(), a]) if train else W.ravel()

            def split(x, a=a):
                return x[: k * d].reshape(k, d), (x[k * d:] if train else a)

            def grads(x, net=net, V=V, b=b):
                g = net.grad(*split(x), V, b)
                return np.concatenate([np.ravel(t) for t in (g if train else (g,))])

            def sim(x, act=act, V=V, b=b):
                return S.loss_quadrature(act, *split(x), V, b, ())

            rows += _fd_rows_for("twolayer.fully_connected", f"{act}, output "
                                 f"{'trained' if train else 'fixed'}", grads,
                                 lambda x, net=net, V=V, b=b: net.hessian(*split(x), V, b),
                                 sim, x0, hessian=False)
    return rows


def _public_conv(subject, ctx, which=("convolutional", "patches")):
    """``convolutional`` (overlapping patches) and ``patches`` (two filters on overlapping
    patches): the gradient (the Hessians of the same classes are in :func:`fd_rows`) vs differences of the quadrature-simulated loss, ReLU and
    erf, each built through the public constructor."""
    from derivations.twolayer import convolutional, patches

    rows = []
    for act in ("relu", "erf"):
        rng = np.random.default_rng([ctx.seed, 43, len(act)])
        conv = convolutional(6, 3, 1, act)
        pats = [list(range(i, i + 3)) for i in range(4)]
        ws, as_ = rng.standard_normal(3), rng.standard_normal(4)
        x0 = np.concatenate([rng.standard_normal(3), rng.standard_normal(4)])

        def sim_conv(x, act=act, ws=ws, as_=as_, pats=pats):
            return S.loss_quadrature(act, S.conv_units(x[:3], 6, pats), x[3:],
                                     S.conv_units(ws, 6, pats), as_)

        if act == "relu":
            if "convolutional" not in which:
                continue
            rows += _fd_rows_for("twolayer.convolutional", f"{act}, d=6, patch 3, stride 1",
                                 lambda x, conv=conv, ws=ws, as_=as_: np.concatenate(
                                     [np.ravel(t) for t in conv.grad(x[:3], x[3:], ws, as_)]),
                                 None, sim_conv, x0, hessian=False)
            continue
        if "patches" not in which:
            continue
        gp, filt = [[0, 1], [1, 2], [2, 3], [0, 3]], [0, 1, 0, 1]
        gen = patches(4, gp, filt, activation=act)
        wst, ast = rng.standard_normal((2, 2)), rng.standard_normal(4)
        x1 = np.concatenate([rng.standard_normal(4), rng.standard_normal(4)])

        def units(wf, gp=gp, filt=filt):
            return np.stack([S.conv_units(wf[f], 4, [p])[0] for f, p in zip(filt, gp)])

        def sim_gen(x, act=act, wst=wst, ast=ast, units=units):
            return S.loss_quadrature(act, units(x[:4].reshape(2, 2)), x[4:], units(wst), ast)

        rows += _fd_rows_for("twolayer.patches", f"{act}, 2 filters on 4 overlapping patches",
                             lambda x, gen=gen, wst=wst, ast=ast: np.concatenate(
                                 [np.ravel(t) for t in gen.grad(x[:4].reshape(2, 2), x[4:],
                                                                wst, ast)]),
                             lambda x, gen=gen, wst=wst, ast=ast: gen.hessian(
                                 x[:4].reshape(2, 2), x[4:], wst, ast), sim_gen, x1,
                             hessian=False)
    return rows


def _public_expressions(subject, ctx):
    """``expressions(act)["kappa"]`` (the SymPy kernel in a = |u|, b = |v|, phi), evaluated at
    40 digits, vs plane quadrature of the network's integrand, ReLU and erf."""
    import mpmath
    import sympy as sp

    from derivations.twolayer import expressions

    rows = []
    for act in ("relu", "erf", "abs"):
        ex = expressions(act)
        sym = ex["symbols"]
        fn = sp.lambdify((sym["a"], sym["b"], sym["phi"]), ex["kappa"], "mpmath")
        rng = np.random.default_rng([ctx.seed, 47, len(act)])
        worst = (-1.0, 0.0, 0.0)
        for phi in (0.3, 1.3, 2.9, math.pi - 1e-3):
            a, b = (float(x) for x in rng.uniform(0.3, 3.0, 2))
            u, v = S.angle_pair(rng, 4, a, b, phi)
            ref = S.pair_quadrature(act, u, v, ())
            with mpmath.workdps(40):
                val = float(fn(mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(phi)))
            err = abs(val - ref) / (a * b) ** DEGREE.get(act, 1)
            if not err <= worst[0]:
                worst = (err, val, ref)
        rows.append(_row("twolayer.expressions", "reference",
                         f"SymPy kappa ({act}) at 40 digits vs plane quadrature",
                         worst[1], worst[2], worst[0], REF_TOL, "4 angles incl. pi - 1e-3"))
    return rows


def public_rows(ctx: Context) -> list[CheckResult]:
    """The rows of the public callables below (run by :func:`run`, i.e. ``nnderive check``)."""
    from . import public_callables, public_checks

    rows = []
    for name in public_callables():
        if name.startswith("twolayer."):
            for c in public_checks(name):
                rows += c.run(None, ctx)
    return rows


register_public(Check("twolayer.fully_connected", "finite_difference",
                      "gradient vs differences of the simulated loss", _public_fc),
                "derivations.twolayer:fully_connected", ())
register_public(Check("twolayer.convolutional", "finite_difference",
                      "gradient vs differences of the simulated loss",
                      lambda sub, ctx: _public_conv(sub, ctx, ("convolutional",))),
                "derivations.twolayer:convolutional", ())
register_public(Check("twolayer.patches", "finite_difference",
                      "gradient vs differences of the simulated loss",
                      lambda sub, ctx: _public_conv(sub, ctx, ("patches",))),
                "derivations.twolayer:patches", ())
register_public(Check("twolayer.expressions", "reference",
                      "SymPy kernels vs plane quadrature", _public_expressions),
                "derivations.twolayer:expressions", ())
