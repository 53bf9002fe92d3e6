"""Checks of thesis ch. 3's Condition 3.1 constants and the linear rate of Theorems 3.1-3.3 (seed
004 sec. 3.2-3.6; derivations/deep_rates.py; issue 24).

* ``kernels.softplus_smoothness``, ``kernels.cond31_c``: references from the activation alone
  (``numpy.logaddexp``): ``sup |sigma''|`` by SciPy's bounded scalar maximization of a 5-point
  second difference of sigma; ``sigma(0)``; the Lipschitz constant as sigma's difference quotient
  far out (1 - O(exp(-40))).  ReLU: its derivative's difference quotients grow without bound
  (no smoothness constant: outside the condition), a row.
* ``kernels.deep_loss_bound``: GD of wide deep networks (numerics.simulators.deep_gd; softplus,
  fc H = 3 and ResNet H = 3, n = 4 unit points in R^5, m = 128, all layers trained): ``L(k) <=
  bound(eta, lambda_min(K^(H)), k, L(0))`` with ``K^(H)`` from ``derivations.kernels.deep_kernel``
  (checked against quadrature and wide random networks elsewhere) and our step ``eta =
  1/lambda_max(G(0))`` (``G(0)`` the network's full Gram at initialization: the theorems' step
  constant is unstated); the measured log-rate / the stated one is reported.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from ..rows import Check, CheckResult
from ..simulators import deep_gd as S
from . import register
from .bounds import SLACK, violations_row
from .common import mc_check, mpmath_check, paper_check, reference_check


def _sp(beta):
    return lambda z: np.logaddexp(0.0, beta * z) / beta


def _d2(f, z, h):
    return (-f(z + 2 * h) + 16 * f(z + h) - 30 * f(z) + 16 * f(z - h) - f(z - 2 * h)) / (12 * h * h)


def smooth_ref(pt):
    beta = float(pt["beta"])
    f = _sp(beta)
    h = 1e-2 / beta
    res = minimize_scalar(lambda z: -abs(_d2(f, z, h)), bounds=(-5 / beta, 5 / beta),
                          method="bounded", options={"xatol": 1e-10 / beta})
    grid = np.linspace(-30 / beta, 30 / beta, 6001)
    return max(-float(res.fun), float(np.max(np.abs(_d2(f, grid, h)))))


def cond_ref(pt):
    beta = float(pt["beta"])
    f = _sp(beta)
    z = 40.0 / beta
    lip = (f(z + 1.0) - f(z)) / 1.0           # sigma' -> 1: the slope far out
    return max(abs(f(0.0)), lip, smooth_ref(pt))


def _beta_points():
    # both sides of the switches of max(log 2/beta, 1, beta/4): beta = log 2 and beta = 4
    return [{"beta": np.float64(b)} for b in (0.1, 0.5, 0.69, 0.7, 1.0, 2.0, 3.99, 4.01, 10.0)]


register(reference_check("kernels.softplus_smoothness", _beta_points, smooth_ref, tol=1e-8,
                         label="sup |sigma''| of log(1 + exp(beta z))/beta (SciPy, 5-point)"))
register(mpmath_check("kernels.softplus_smoothness", _beta_points))
register(reference_check("kernels.cond31_c", _beta_points, cond_ref, tol=1e-8,
                         label="max(|sigma(0)|, slope at +oo, sup |sigma''|) of the activation"))
register(mpmath_check("kernels.cond31_c", _beta_points))
register(paper_check("kernels.cond31_c", lambda: [{"beta": np.float64(1.0)}]))


def _relu_not_smooth(subject, ctx):
    """ReLU is outside Condition 3.1: sup |relu'(z) - relu'(z')|/|z - z'| over |z - z'| = h grows
    like 1/h (10 to 1e8 for h = 0.1 ... 1e-8), while the softplus quotient stays <= beta/4."""
    hs = 10.0 ** -np.arange(1, 9)
    relu_d = lambda z: (z > 0).astype(float)
    q_relu = [float(np.max(np.abs(relu_d(np.array([h / 2])) - relu_d(np.array([-h / 2]))) / h))
              for h in hs]
    sig_d = lambda z: 0.5 * (1 + np.tanh(0.5 * z))
    grid = np.linspace(-5, 5, 2001)
    q_sp = max(float(np.max(np.abs(sig_d(grid + h) - sig_d(grid)) / h)) for h in hs[:5])
    bound = float(subject.fn(np.float64(1.0)))
    ok = q_relu[-1] > 1e7 and q_sp <= bound * (1 + 1e-6)
    return CheckResult("kernels.softplus_smoothness", "simulation",
                       "ReLU has no smoothness constant; softplus quotients <= the formula", q_sp,
                       bound, q_relu[-1], "max quotient", ok, resolution=0.0,
                       detail=f"ReLU: sup |sigma'(z) - sigma'(z')|/|z - z'| = {q_relu[0]:.0f} ... "
                              f"{q_relu[-1]:.0e} for |z - z'| = 0.1 ... 1e-8 (unbounded); softplus "
                              f"(beta = 1): largest quotient {q_sp:.6f} <= {bound:.6f}")


register(Check("kernels.softplus_smoothness", "simulation",
               "ReLU has no smoothness constant; softplus quotients <= the formula",
               _relu_not_smooth, independent=False))

def _rate_points():
    return [{"eta": np.float64(e), "lambda_H": np.float64(l), "k": np.float64(k),
             "loss0": np.float64(L)}
            for e, l, k, L in ((0.5, 0.1, 10, 2.0), (2.0, 0.01, 300, 0.3), (1.0, 1.9, 5, 1.0),
                               (0.3, 0.5, 0, 4.0))]


def _rate_ref(pt):
    """The bound is attained by GD on the least-squares model ``u = sqrt(mu) theta`` (one data
    point, Gram mu) whose per-step loss factor (1 - eta mu)^2 equals 1 - eta lambda/2: mu is
    solved numerically (SciPy brentq on the model's own one-step loss ratio), then k GD steps of
    the model are run."""
    from scipy.optimize import brentq

    eta, lam, L0 = float(pt["eta"]), float(pt["lambda_H"]), float(pt["loss0"])
    y = np.sqrt(2 * L0)

    def step_ratio(mu):
        th = 0.0 - eta * np.sqrt(mu) * (np.sqrt(mu) * 0.0 - 1.0)   # one step from theta = 0, y = 1
        return 0.5 * (np.sqrt(mu) * th - 1.0) ** 2 / 0.5

    mu = brentq(lambda mu: step_ratio(mu) - (1 - eta * lam / 2), 0.0, 1.0 / eta, xtol=1e-300,
                rtol=1e-15)
    th = 0.0
    for _ in range(int(pt["k"])):
        th -= eta * np.sqrt(mu) * (np.sqrt(mu) * th - y)
    return 0.5 * (np.sqrt(mu) * th - y) ** 2


register(reference_check("kernels.deep_loss_bound", _rate_points, _rate_ref, tol=1e-10,
                         label="GD of a least-squares model with the stated per-step factor"))
register(mpmath_check("kernels.deep_loss_bound", lambda: [
    {"eta": np.float64(e), "lambda_H": np.float64(l), "k": np.float64(k), "loss0": np.float64(L)}
    for e, l, k, L in ((0.5, 0.1, 10, 2.0), (2.0, 0.01, 300, 0.3), (1.0, 1.9, 5, 1.0))]))

#: Theorems 3.1-3.3 setting (ours): data, width, depth, steps, step-size rule
DEEP = dict(n=4, d=5, m=128, H=3, steps=150, seed=5)
_RUNS: dict = {}


def deep_runs(cfg=None):
    """(arch, losses, eta, lambda_min(K^(H)), lambda_min(G^(H)(0))) per architecture."""
    c = dict(DEEP, **(cfg or {}))
    key = tuple(sorted(c.items()))
    if key in _RUNS:
        return _RUNS[key]
    from derivations.kernels import deep_kernel

    rng = np.random.default_rng(c["seed"])
    X = rng.standard_normal((c["n"], c["d"]))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.standard_normal(c["n"])
    out = []
    for arch in ("fc", "resnet"):
        kw = dict(arch=arch, activation="softplus", c_res=1.0)
        lam = float(np.linalg.eigvalsh(deep_kernel(X, c["H"], **kw)["K_H"])[0])
        Ws, a = S.init(np.random.default_rng(c["seed"] + 1), c["d"], c["m"], c["H"])
        # the network's full Gram G(0) = J J^T (J by reverse mode, one output at a time)
        J = []
        for i in range(c["n"]):
            e = np.zeros(c["n"])
            e[i] = 1.0
            u, _ = S.forward(Ws, a, X, **kw)
            g = S.grads(Ws, a, X, u - e, **kw)    # d(1/2|u - (u - e)|^2) = d u_i
            J.append(np.concatenate([x.ravel() for x in g]))
        J = np.array(J)
        G = J @ J.T
        eta = 1.0 / float(np.linalg.eigvalsh(G)[-1])
        losses = S.gd(Ws, a, X, y, eta, c["steps"], **kw)
        out.append((arch, losses, eta, lam, G))
    _RUNS[key] = out
    return out


def _thm31(subject, ctx):
    bad, n, worst, parts = 0, 0, np.inf, []
    for arch, L, eta, lam, G in deep_runs():
        k = np.arange(len(L), dtype=float)
        b = np.asarray(subject.fn(np.float64(eta), np.float64(lam), k, np.float64(L[0])), float)
        bad += int(np.sum(L > b * (1 + 1e-12)))
        n += len(L)
        ls = float(np.min(np.log(b[1:]) - np.log(L[1:])))
        worst = min(worst, ls)
        ratio = np.log(L[-1] / L[0]) / np.log(b[-1] / b[0])
        parts.append(f"{arch}: eta = {eta:.3g}, lambda_min(K^(H)) = {lam:.4g}, measured / stated "
                     f"log-rate {ratio:.1f}, min log(bound/L) {ls:.3f}")
    return violations_row("kernels.deep_loss_bound", "Theorems 3.1-3.2 on simulated GD (fc, ResNet)",
                          bad, n, worst,
                          f"softplus, n = {DEEP['n']}, m = {DEEP['m']}, H = {DEEP['H']}, "
                          f"{DEEP['steps']} steps, eta = 1/lambda_max(G(0)) (ours): " + "; ".join(parts))


register(Check("kernels.deep_loss_bound", SLACK, "Theorems 3.1-3.2 on simulated GD (fc, ResNet)",
               _thm31, independent=False))


# --- eq. (3.4): the fc output norm (kernels.fc_norm_growth, kernels.fc_norm_second_moment) ---
# Simulation: random ReLU fc nets x^(h) = sqrt(c/m) relu(W^(h) x^(h-1)) with explicit Gaussian
# matrices (a fixed input in R^5); reference: the layer ratio's law from the model alone,
# R = (c/m) chi^2_K with K ~ Binomial(m, 1/2) active units (SciPy's pmf, chi^2 moments
# E chi^2_K = K, E (chi^2_K)^2 = K (K + 2)), iid over the layers, so E prod R_h^j = (E R^j)^H.

def _fc_ratio_moment(pt, power):
    from scipy.stats import binom

    c, m = float(pt["c"]), int(pt.get("m", 7))   # the mean does not depend on m
    k = np.arange(m + 1, dtype=float)
    chi = k if power == 1 else k * (k + 2)
    per_layer = (c / m) ** power * float(np.sum(binom.pmf(k, m, 0.5) * chi))
    return np.float64(per_layer ** int(pt["H"]))


def _fc_points(second):
    out = []
    for c in (0.5, 2.0, 3.0):
        for H in (1, 2, 8, 20):
            for m in ((1, 2, 8, 64) if second else (None,)):
                pt = {"c": np.float64(c), "H": H}
                if second:
                    pt["m"] = m
                out.append(pt)
    return out


def _fc_net_sampler(power, d0=5):
    def sample(rng, n, pt):
        c, H, m = float(pt["c"]), int(pt["H"]), int(pt["m_sim"] if "m_sim" in pt else pt["m"])
        x0 = np.linspace(-1.0, 1.5, d0)
        x = np.broadcast_to(x0, (n, d0))
        for _ in range(H):
            W = rng.standard_normal((n, m, x.shape[1]))
            x = np.sqrt(c / m) * np.maximum(np.matmul(W, x[:, :, None])[:, :, 0], 0.0)
        return (np.sum(x * x, axis=1) / float(x0 @ x0)) ** power
    return sample


def _fc_mc_points(second):
    # c = c_sigma = 2 (stable), c = 2.5 and 1.5 (exponential growth / decay); H = 1 and 8
    # (the squared ratio's tail is heavy: its relative variance (E R^4/(E R^2)^2)^H - 1 is kept
    # moderate by the widths of the second moment's points, so that the SE is resolved)
    rows = ([(2.0, 1, 1), (2.0, 8, 32), (2.5, 4, 16), (1.5, 3, 8), (2.0, 2, 4)] if second else
            [(2.0, 1, 1), (2.0, 8, 16), (2.5, 8, 8), (1.5, 4, 4), (2.0, 3, 32)])
    return [dict({"c": np.float64(c), "H": H}, **({"m": m} if second else {"m_sim": m}))
            for c, H, m in rows]


for _nm, _pw in (("kernels.fc_norm_growth", 1), ("kernels.fc_norm_second_moment", 2)):
    register(reference_check(
        _nm, (lambda s=(_pw == 2): _fc_points(s)), (lambda pt, p=_pw: _fc_ratio_moment(pt, p)),
        tol=1e-12, label="(E R^j)^H, R = (c/m) chi^2_K, K ~ Binomial(m, 1/2) (SciPy)"))
    register(mpmath_check(_nm, (lambda s=(_pw == 2), k=(3 if _pw == 1 else 5): _fc_points(s)[::k])))
    register(mc_check(_nm, "random deep ReLU fc nets (explicit Gaussian layers)",
                      (lambda s=(_pw == 2): _fc_mc_points(s)), _fc_net_sampler(_pw),
                      samples_scale=0.01))


# --- Definition 3.4 (general (rho, D) architecture): derivations.deep_rates.general_kernel ----

from . import register_public  # noqa: E402
from ..rows import mc_result  # noqa: E402
from .common import error_row, public_reference_check  # noqa: E402

_GEN = "derivations.deep_rates:general_kernel"
_GEN_RELATED = ("kernels.fc_layer", "kernels.resnet_layer", "kernels.relu_layer_map",
                "kernels.fc_norm_growth")


def _reduction(subject, ctx):
    """Definitions 3.1-3.3 are instances (Remark 3.5): ``general_kernel(X,
    instance_layers(arch, H))`` equals ``deep_kernel(X, H, arch)`` (K_H, every K^(h), and b^(h)
    for the ResNets), fc / resnet / convresnet x ReLU x H = 1, 2, 4, and softplus."""
    from derivations.deep_rates import instance_layers
    from derivations.kernels import deep_kernel

    rng = np.random.default_rng(81)
    X = rng.standard_normal((4, 5))
    Xc = rng.standard_normal((3, 4, 2))
    worst, n = 0.0, 0
    cases = [(a, "relu", H) for a in ("fc", "resnet", "convresnet") for H in (1, 2, 4)]
    cases += [("fc", "softplus", 3), ("resnet", "softplus", 3)]
    for arch, act, H in cases:
                XX = Xc if arch == "convresnet" else X
                a = deep_kernel(XX, H, arch, act, 0.7)
                g = subject.fn(XX, instance_layers(arch, H, act, 0.7), act,
                               patch=arch == "convresnet")
                pairs = [(a["K_H"], g["K_H"])] + list(zip(a["K"], g["K"]))
                if arch != "fc":
                    pairs += list(zip(a["b"], g["b"]))
                for x, y in pairs:
                    worst = max(worst, float(np.max(np.abs(x - y)) / np.max(np.abs(x))))
                n += 1
    return error_row("kernels.general_kernel", "consistency", "Defs. 3.1-3.3 are instances of "
                     "Def. 3.4", worst, 1e-12, f"{n} cases (3 architectures x ReLU x H = 1, 2, 4; "
                     "softplus fc, resnet H = 3), largest relative difference over K_H, K^(h), b^(h)")


register_public(Check("kernels.general_kernel", "consistency",
                      "Defs. 3.1-3.3 are instances of Def. 3.4", _reduction, independent=False),
                _GEN, _GEN_RELATED)

#: non-instance architectures (ours): (activation, layers (s_h, d_h), width m, networks N)
GEN_CONFIGS = (("relu", ((1.4, 0.0), (0.6, 0.5), (0.5, 0.8), (0.9, 0.3)), 2048, 30),
               ("softplus", ((1.0, 0.0), (0.7, 1.2), (0.8, 0.6)), 2048, 30))


def _gen_flat(d):
    return np.concatenate([np.ravel(d["K_H"])] + [np.ravel(k) for k in d["K"][1:]]
                          + [np.ravel(b) for b in d["b"]])


def general_network_check(act, layers, m, N):
    label = f"MC of wide random general nets ({act}, D = d I, d = {[l[1] for l in layers][1:]})"

    def run(subject, ctx):
        from ..simulators.deep_general import general_network

        rng0 = np.random.default_rng(83)
        X = rng0.standard_normal((4, 5))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        closed = _gen_flat(subject.fn(X, layers, act))
        n = max(N, int(N * ctx.samples / 400_000))
        rng = ctx.rng(f"kernels.general_kernel/{label}")
        draws = np.array([_gen_flat(general_network(np.random.default_rng(rng.integers(2**63)),
                                                    X, layers, m, act)) for _ in range(n)])
        r = mc_result("kernels.general_kernel", label, closed, draws)
        r.detail += f"; m = {m}, one sample = one network; K_H, K^(h), b^(h); bias O(1/m)"
        return [r]

    return Check("kernels.general_kernel", "monte_carlo", label, run)


for _cfg in GEN_CONFIGS:
    register_public(general_network_check(*_cfg), _GEN, _GEN_RELATED)


def _gen_points():
    rng = np.random.default_rng(83)
    X = rng.standard_normal((4, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return [{"X": X, "layers": lay, "activation": act} for act, lay, _, _ in GEN_CONFIGS]


def _gen_invoke(fn, pt):
    d = fn(pt["X"], pt["layers"], pt["activation"])
    return d["K_H"], np.stack(d["K"]), np.stack(d["b"])


def _gen_ref(pt):
    from ..simulators.deep_general import general_reference

    d = general_reference(pt["X"], pt["layers"], pt["activation"])
    return d["K_H"], np.stack(d["K"]), np.stack(d["b"])


register_public(public_reference_check(
    "kernels.general_kernel", _gen_points, _gen_invoke, _gen_ref, tol=1e-10,
    label="K_H, K^(h), b^(h) of non-instance (rho, D) nets vs plane quadrature",
    method="width -> oo limit of the simulated general network, expectations by polar "
           "quadrature", outputs=("K_H", "K^(h)", "b^(h)")), _GEN, _GEN_RELATED)


# --- Theorem 3.3 (ConvResNet, l.1414) on simulated GD -----------------------------------------

#: Theorem 3.3 setting (ours): n images of p pixels with d0 channels, m channels, depth H
CONV = dict(n=4, p=4, d0=2, m=64, H=3, steps=100, seed=7)


def conv_run(cfg=None):
    """(losses, eta, lambda_min(K^(H)), G(0)) of GD on a softplus conv ResNet."""
    c = dict(CONV, **(cfg or {}))
    key = ("conv",) + tuple(sorted(c.items()))
    if key in _RUNS:
        return _RUNS[key]
    from derivations.kernels import deep_kernel

    from ..simulators import conv_gd as C

    rng = np.random.default_rng(c["seed"])
    X = rng.standard_normal((c["n"], c["p"], c["d0"]))
    X /= np.linalg.norm(X.reshape(c["n"], -1), axis=1)[:, None, None]
    y = rng.standard_normal(c["n"])
    kw = dict(activation="softplus", c_res=1.0)
    lam = float(np.linalg.eigvalsh(deep_kernel(X, c["H"], "convresnet", **kw)["K_H"])[0])
    Ws, a = C.init(np.random.default_rng(c["seed"] + 1), c["d0"], c["m"], c["H"], c["p"])
    u, _ = C.forward(Ws, a, X, **kw)
    J = np.array([np.concatenate([g.ravel() for g in C.grads(Ws, a, X, u - e, **kw)])
                  for e in np.eye(c["n"])])           # row i: d u_i / d theta
    G = J @ J.T
    eta = 1.0 / float(np.linalg.eigvalsh(G)[-1])
    out = (C.gd(Ws, a, X, y, eta, c["steps"], **kw), eta, lam, G)
    _RUNS[key] = out
    return out


def _thm33(subject, ctx):
    L, eta, lam, G = conv_run()
    k = np.arange(len(L), dtype=float)
    b = np.asarray(subject.fn(np.float64(eta), np.float64(lam), k, np.float64(L[0])), float)
    bad = int(np.sum(L > b * (1 + 1e-12)))
    ls = float(np.min(np.log(b[1:]) - np.log(L[1:])))
    ratio = np.log(L[-1] / L[0]) / np.log(b[-1] / b[0])
    return violations_row(
        "kernels.deep_loss_bound", "Theorem 3.3 on simulated GD (ConvResNet)", bad, len(L), ls,
        f"softplus conv ResNet, n = {CONV['n']} images of p = {CONV['p']} pixels x d0 = "
        f"{CONV['d0']} channels, m = {CONV['m']}, H = {CONV['H']}, {CONV['steps']} steps, every "
        f"layer trained, eta = 1/lambda_max(G(0)) = {eta:.3g} (ours); lambda_min(K^(H)) = "
        f"{lam:.4g} (Def. 3.3), lambda_min(G(0)) = {float(np.linalg.eigvalsh(G)[0]):.4g}; "
        f"measured / stated log-rate {ratio:.1f}, min log(bound/L) {ls:.3f}")


register(Check("kernels.deep_loss_bound", SLACK, "Theorem 3.3 on simulated GD (ConvResNet)",
               _thm33, independent=False))
