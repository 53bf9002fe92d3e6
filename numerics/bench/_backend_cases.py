"""The fused/batched functions of filter, wn and kernels in the backend bench (issue 25, item 4):
each compiled (Numba) function against

* the JAX autodiff anchor: ``jax.jit(jax.vmap(...))`` of the same closed form typed in
  ``jax.numpy`` (``value_and_grad`` where the emitted function returns a value and a gradient;
  ``vjp`` of the reparametrization for weight normalization; the plain function for the
  kernels, which have no gradients), float64;
* a bare Numba loop of the same formula without checks or careful paths (the floor);
* the NumPy backend.

The closed forms typed here are the derived ones printed in derivations/generated/*.py (the
bench checks every side agrees to 1e-10 of the largest entry before timing).  Each case: name,
the public function(s) to call, a batch maker, the JAX side, the bare side.

Hook for the emitted-JAX backend (issue 25, item 3, the (jax) engineer's module
``numerics/bench/_backend_jax.py``, or ``backend_jax.py``): when that module exists and defines
``sides(case: str) -> dict[str, callable]``, its callables (taking the case's arguments and
returning the same tuple, blocking until ready) join each case's interleaved run, and a ratio
row vs the JAX autodiff anchor is printed for each (target none: recorded).  The cases: the
keys of :data:`CASES` and ``"cnn fused"`` (``cnn.population_loss_and_grads(v, a, w_star,
a_star)`` in :mod:`.backend`).
"""
from __future__ import annotations

import importlib
import math

import numpy as np

PI = math.pi


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jax, jnp


def _blocked(fn):
    def call(*x):
        out = fn(*x)
        for o in (out if isinstance(out, tuple) else (out,)):
            o.block_until_ready()
        return out

    return call


# -- filter: population_loss_and_grads (004 thesis ch. 6: one ReLU filter) ------------------------


def filter_batch(rng, n, p):
    return rng.standard_normal((n, p)), rng.standard_normal((n, p))


def filter_compiled(w, ws):
    """The fused emitted function (loss and gradient in one pass over the rows)."""
    from derivations.generated import filter as f

    return f.population_loss_and_grads(w, ws)


def filter_jax():
    jax, jnp = _jax()

    def loss(w, ws):
        nw, ns = jnp.sqrt(w @ w), jnp.sqrt(ws @ ws)
        c = jnp.clip(w @ ws / (nw * ns), -1.0, 1.0)
        d = w - ws
        return nw * ns * (c * jnp.arccos(c) - jnp.sqrt(1 - c * c)) / (2 * PI) + d @ d / 4

    return _blocked(jax.jit(jax.vmap(jax.value_and_grad(loss))))


def filter_bare():
    """One plain fused loop (loss and gradient), as the emitted fused function: no checks, no
    careful paths, the scalar libm acos (twice: phi for the loss, pi - phi for the gradient, as
    the emitted code takes each to full relative accuracy)."""
    import numba

    @numba.njit(cache=True, error_model="numpy")
    def kern(w, ws, lo, g):
        n, p = w.shape
        for i in range(n):
            sw = ss = sx = dd = 0.0
            for j in range(p):
                sw += w[i, j] * w[i, j]
                ss += ws[i, j] * ws[i, j]
                sx += w[i, j] * ws[i, j]
                d = w[i, j] - ws[i, j]
                dd += d * d
            nw, ns = math.sqrt(sw), math.sqrt(ss)
            c = min(1.0, max(-1.0, sx / (nw * ns)))
            s = math.sqrt(1.0 - c * c)
            lo[i] = nw * ns * (c * math.acos(c) - s) / (2 * PI) + dd / 4
            k0 = 0.5 - ns * s / (2 * PI * nw)
            k1 = -math.acos(-c) / (2 * PI)
            for j in range(p):
                g[i, j] = k0 * w[i, j] + k1 * ws[i, j]

    def call(w, ws):
        lo, g = np.empty(w.shape[0]), np.empty(w.shape)
        kern(w, ws, lo, g)
        return lo, g

    return call


# -- wn: grad_g_and_grads (002 WN, sec. 2: the gradient through w = g v/|v|) ------------------


def wn_batch(rng, n, p):
    return rng.standard_normal((n, p)), rng.standard_normal(n), rng.standard_normal((n, p))


def wn_compiled(v, g, gw):
    from derivations.generated import wn

    return wn.grad_g_and_grads(v, g, gw)


def wn_jax():
    jax, jnp = _jax()

    def w_of(v, g):
        return g * v / jnp.sqrt(v @ v)

    def grads(v, g, gw):
        _, vjp = jax.vjp(w_of, v, g)
        gv, gg = vjp(gw)
        return gg, gv

    return _blocked(jax.jit(jax.vmap(grads)))


def wn_bare():
    import numba

    @numba.njit(cache=True, error_model="numpy")
    def kern(v, g, gw, gg, gv):
        n, p = v.shape
        for i in range(n):
            sv = sx = 0.0
            for j in range(p):
                sv += v[i, j] * v[i, j]
                sx += v[i, j] * gw[i, j]
            nv = math.sqrt(sv)
            gg[i] = sx / nv
            k = sx / sv
            s = g[i] / nv
            for j in range(p):
                gv[i, j] = s * (gw[i, j] - k * v[i, j])

    def call(v, g, gw):
        gg, gv = np.empty(v.shape[0]), np.empty(v.shape)
        kern(v, g, gw, gg, gv)
        return gg, gv

    return call


# -- kernels: h_inf and arccos1 on a batch of pairs (004 thesis, Assumption 2.1, Lemma 5.6) --------


def pair_batch(rng, n, p):
    return rng.standard_normal((n, p)), rng.standard_normal((n, p))


def h_inf_compiled(x, y):
    from derivations.generated import kernels

    return kernels.h_inf(x, y)


def arccos1_compiled(x, y):
    from derivations.generated import kernels

    return kernels.arccos1(x, y)


def _pair_jax(which):
    jax, jnp = _jax()

    def k(x, y):
        nx, ny = jnp.sqrt(x @ x), jnp.sqrt(y @ y)
        c = jnp.clip(x @ y / (nx * ny), -1.0, 1.0)
        psi = PI - jnp.arccos(c)
        if which == "h_inf":
            return x @ y * psi / (2 * PI)
        return nx * ny * (c * psi + jnp.sqrt(1 - c * c)) / (2 * PI)

    return _blocked(jax.jit(jax.vmap(k)))


def _pair_bare(which):
    import numba

    arc = which == "arccos1"

    @numba.njit(cache=True, error_model="numpy")
    def kern(x, y, out, arc):
        n, p = x.shape
        for i in range(n):
            sx = sy = sxy = 0.0
            for j in range(p):
                sx += x[i, j] * x[i, j]
                sy += y[i, j] * y[i, j]
                sxy += x[i, j] * y[i, j]
            nn = math.sqrt(sx * sy)
            c = min(1.0, max(-1.0, sxy / nn))
            psi = PI - math.acos(c)
            if arc:
                out[i] = nn * (c * psi + math.sqrt(1.0 - c * c)) / (2 * PI)
            else:
                out[i] = sxy * psi / (2 * PI)

    def call(x, y):
        out = np.empty(x.shape[0])
        kern(x, y, out, arc)
        return out

    return call


#: name -> (sizes ((N, p), ...), batch maker, compiled side, JAX side factory, bare side factory)
CASES = {
    "filter fused": (((100_000, 10),), filter_batch, filter_compiled, filter_jax, filter_bare),
    "wn grad_g_and_grads": (((100_000, 10),), wn_batch, wn_compiled, wn_jax, wn_bare),
    "kernels h_inf": (((100_000, 10),), pair_batch, h_inf_compiled,
                      lambda: _pair_jax("h_inf"), lambda: _pair_bare("h_inf")),
    "kernels arccos1": (((100_000, 10),), pair_batch, arccos1_compiled,
                        lambda: _pair_jax("arccos1"), lambda: _pair_bare("arccos1")),
}


def emitted_jax_sides(case: str) -> dict:
    """The emitted-JAX backend's candidates for ``case`` (hook; empty until that module exists)."""
    for name in ("numerics.bench._backend_jax", "numerics.bench.backend_jax"):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        sides = getattr(mod, "sides", None)
        if sides is not None:
            return dict(sides(case))
    return {}


# -- the fused cnn call (Theorem 5.1): sizes, batches, the JAX anchor and the bare loop --------

SIZES = ((10_000, 10, 8), (100_000, 10, 8), (100_000, 50, 25))


def _have(mod):
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def _batch(rng, n, p, k):
    return (rng.standard_normal((n, p)), rng.standard_normal((n, k)),
            rng.standard_normal((n, p)), rng.standard_normal((n, k)))


def jax_fused():
    """``jit(vmap(value_and_grad(loss, (0, 1))))`` of the closed-form loss of Theorem 5.1 (the
    same formula as ``cnn.population_loss``, written by hand in jax.numpy)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(v, a, ws, as_):
        nv, ns = jnp.sqrt(v @ v), jnp.sqrt(ws @ ws)
        c = jnp.clip(v @ ws / (nv * ns), -1.0, 1.0)
        psi = PI - jnp.arccos(c)
        g = psi * c + jnp.sqrt(1 - c * c)
        d = a - ns * as_
        sd = jnp.sum(d)
        return (sd**2 + (PI - 1) * (d @ d) + 2 * (PI - g) * ns * (a @ as_)) / (4 * PI)

    vg = jax.jit(jax.vmap(jax.value_and_grad(loss, argnums=(0, 1))))

    def call(v, a, ws, as_):
        val, (gv, ga) = vg(v, a, ws, as_)
        val.block_until_ready()
        return val, gv, ga

    return call


def bare_fused():
    """The same formula as one plain Numba loop over rows (no checks, no careful paths)."""
    import numba

    @numba.njit(cache=True, error_model="numpy")
    def kern(v, a, ws, as_, lo, gv, ga):
        n, p = v.shape
        k = a.shape[1]
        for i in range(n):
            svv = sww = svw = 0.0
            for j in range(p):
                svv += v[i, j] * v[i, j]
                sww += ws[i, j] * ws[i, j]
                svw += v[i, j] * ws[i, j]
            nv, ns = math.sqrt(svv), math.sqrt(sww)
            c = min(1.0, max(-1.0, svw / (nv * ns)))
            psi = PI - math.acos(c)
            s = math.sqrt(1.0 - c * c)
            g = psi * c + s
            sd = dd = aa = 0.0
            for j in range(k):
                d = a[i, j] - ns * as_[i, j]
                sd += d
                dd += d * d
                aa += a[i, j] * as_[i, j]
            lo[i] = (sd * sd + (PI - 1) * dd + 2 * (PI - g) * ns * aa) / (4 * PI)
            cv = -aa * psi / (2 * PI * nv)
            r = c * ns / nv
            for j in range(p):
                gv[i, j] = cv * (ws[i, j] - r * v[i, j])
            pg = (PI - g) * ns
            for j in range(k):
                ga[i, j] = (sd + (PI - 1) * (a[i, j] - ns * as_[i, j]) + pg * as_[i, j]) / (2 * PI)

    def call(v, a, ws, as_):
        n = v.shape[0]
        lo, gv, ga = np.empty(n), np.empty(v.shape), np.empty(a.shape)
        kern(v, a, ws, as_, lo, gv, ga)
        return lo, gv, ga

    return call


def _close(x, y, what):
    x = x if isinstance(x, tuple) else (x,)
    y = y if isinstance(y, tuple) else (y,)
    for u, w in zip(x, y):
        u, w = np.asarray(u), np.asarray(w)
        scale = np.max(np.abs(w))
        err = float(np.max(np.abs(u - w))) / scale
        if not err < 1e-10:
            raise AssertionError(f"{what}: results differ by {err:.2g} of the largest entry")
