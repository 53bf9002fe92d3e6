"""The two-layer engine on JAX (issue 25 item 3): the chain rule of
:class:`derivations.twolayer.model.Core` in ``jax.numpy``, on the derived pair kernels emitted as
JAX functions (``derivations/generated/twolayer_kernels_jax.py``, from
:mod:`derivations.codegen.templates.twolayer_jax`; ``nnderive build twolayer``).  Not autodiff of
a typed formula: the gradient, Hessian and Hessian-vector product are the SymPy-derived pair
terms assembled by the chain rule, as in NumPy; ``jax.grad`` of the JAX loss is an independent
consistency check of them (``tests/test_twolayer_jax.py``).

Two ways in:

* ``net.jax()`` (:func:`functions`): ``loss``, ``grad``, ``hessian``, ``hvp`` of the model as
  jit-compiled JAX functions with the arguments of ``net.loss`` etc. (``hvp(theta, a, theta_t, b,
  dtheta, da=None)``), broadcasting over leading batch axes (``jnp.vectorize``), composable with
  ``jax.vmap`` / ``jax.grad`` / ``jax.jit``, runnable on a GPU.  No argument checks (a raw JAX
  function returns whatever float64 gives for a zero unit).
* ``derivations.set_backend("jax")``: the public methods ``net.loss`` etc. check and broadcast
  their arguments as on NumPy (same errors), then run the arithmetic here (:class:`JaxCore`) and
  return NumPy arrays.

Edges, as in :mod:`.model`: the angle from the Gram matrix, and for ``|cos phi| > 0.9`` Kahan's
``2 atan2(|x^ - y^|, |x^ + y^|)`` (computed only when some pair needs it: per point, or
under ``jax.vmap`` per batch, :func:`_geometry_function`); the Hessian's frame from the unit rejection
``e`` (zero for exactly parallel pairs); no division by ``sin(phi)``.  Safe-where throughout
(:func:`derivations.runtime.jax.sqrt0`; the diagonal pairs, replaced by the self terms, are
evaluated at ``phi = pi/2``), so ``jax.grad`` of the loss is finite at parallel units.
"""
from __future__ import annotations

import math

import numpy as np

from ..runtime import jax as _jr  # float64 on

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

#: pairs with |cos(phi)| above this get the stable (Kahan) angle (as :data:`.model.EDGE_COS`)
EDGE_COS = 0.9

_generated = {}


def kernel_module(kernel):
    """The JAX kernel module of ``kernel`` (the generated one, or the JAX counterpart of a module
    compiled in memory, e.g. with a planted error); a module with ``relu_kappa`` etc. may be
    passed as ``kernel.jax_module`` directly."""
    mod = kernel.module
    if mod is None:
        if "mod" not in _generated:
            from ..generated import twolayer_kernels_jax

            _generated["mod"] = twolayer_kernels_jax
        return _generated["mod"]
    if hasattr(mod, f"{kernel.name}_kappa") and hasattr(mod, "jnp"):
        return mod  # already a JAX kernel module
    make = getattr(mod, "jax_module", None)
    if make is None:
        raise ValueError(f"kernel module {getattr(mod, '__name__', mod)!r} has no JAX counterpart")
    return make()


# --------------------------------------------------------------------------------------------
# Pair geometry (one point: X (n, d), Y (m, d))
# --------------------------------------------------------------------------------------------


def _norms(X):
    return jnp.sqrt(jnp.sum(X * X, axis=-1))


def _kahan(Xh, Yh):
    """``2 atan2(|x^ - y^|, |x^ + y^|)`` of every pair (safe at 0 and pi)."""
    D = Xh[:, None, :] - Yh[None, :, :]
    S = Xh[:, None, :] + Yh[None, :, :]
    return 2.0 * jnp.arctan2(_jr.sqrt0(jnp.sum(D * D, -1)), _jr.sqrt0(jnp.sum(S * S, -1)))


def _geometry_parts(same: bool):
    """``(fast, careful)`` for one point: ``fast(Xh, Yh) -> ((c, s, phi), need)`` from the Gram
    matrix (``need``: some pair has ``|cos| > EDGE_COS``), ``careful(Xh, Yh) -> (c, s, phi)``
    with Kahan's angle on those pairs (safe where: finite derivatives at parallel units).
    ``same``: the diagonal (replaced by the caller) is set to the harmless ``phi = pi/2``."""
    def plain(Xh, Yh):
        c = jnp.clip(Xh @ Yh.T, -1.0, 1.0)
        edge = c * c > EDGE_COS * EDGE_COS
        if same:
            eye = jnp.eye(c.shape[0], dtype=bool)
            edge = edge & ~eye
            c = jnp.where(eye, 0.0, c)
        cs = jnp.where(edge, 0.0, c)
        return c, jnp.sqrt(1.0 - cs * cs), jnp.arccos(cs), edge

    def fast(Xh, Yh):
        c, s, phi, edge = plain(Xh, Yh)
        return (c, s, phi), jnp.any(edge)

    def careful(Xh, Yh):
        c, s, phi, edge = plain(Xh, Yh)
        ph = jnp.where(edge, _kahan(Xh, Yh), phi)
        return jnp.where(edge, jnp.cos(ph), c), jnp.where(edge, jnp.sin(ph), s), ph

    return fast, careful


def _geometry_function(same: bool):
    """The geometry with the Kahan branch only where needed: at one point a ``lax.cond``; under
    ``jax.vmap`` (also ``jnp.vectorize`` and the routed batches) a ``custom_vmap`` rule: the
    Gram-matrix angles on every row, and the Kahan branch on the whole batch only when some row
    has an edge pair (a ``lax.cond`` per batch; a ``lax.cond`` per point would become a select
    and run both branches on every row: 2x the batched gradient at k = 20).  Derivatives
    (``jax.grad``, ``jax.jvp``; JAX cannot differentiate through a batching rule): a
    ``custom_jvp`` whose rule is ``jax.jvp`` of the careful branch."""
    from jax.custom_batching import custom_vmap

    fast, careful = _geometry_parts(same)

    def one(Xh, Yh):
        res, need = fast(Xh, Yh)
        return jax.lax.cond(need, lambda: careful(Xh, Yh), lambda: res)

    @custom_vmap
    def batched(Xh, Yh):
        return one(Xh, Yh)

    @batched.def_vmap
    def _rule(axis_size, in_batched, Xh, Yh):
        axes = tuple(0 if b else None for b in in_batched)
        res, need = jax.vmap(fast, in_axes=axes, axis_size=axis_size)(Xh, Yh)
        out = jax.lax.cond(jnp.any(need), lambda: jax.vmap(
            careful, in_axes=axes, axis_size=axis_size)(Xh, Yh), lambda: res)
        return out, (True,) * 3

    @jax.custom_jvp
    def f(Xh, Yh):
        return batched(Xh, Yh)

    @f.defjvp
    def _jvp(primals, tangents):
        return jax.jvp(careful, primals, tangents)

    return f


_GEOMETRY = {same: _geometry_function(same) for same in (True, False)}


def geometry(Xh, Yh, same: bool):
    """``(c, s, phi)`` of every pair of unit vectors ``Xh (n, d)``, ``Yh (m, d)`` (``same``: Xh
    is Yh, the diagonal gets ``phi = pi/2``); Kahan's angle where ``|cos phi| > EDGE_COS``."""
    return tuple(_GEOMETRY[bool(same)](Xh, Yh))


def frame(Xh, Yh, c):
    """Unit rejections ``e_ij`` of ``y^_j`` from ``x^_i`` (zero for exactly parallel pairs)."""
    R = Yh[None, :, :] - c[..., None] * Xh[:, None, :]
    R = R - jnp.sum(R * Xh[:, None, :], -1, keepdims=True) * Xh[:, None, :]
    nr2 = jnp.sum(R * R, -1, keepdims=True)
    pos = nr2 > 0
    return jnp.where(pos, R / jnp.sqrt(jnp.where(pos, nr2, 1.0)), 0.0)


# --------------------------------------------------------------------------------------------
# The core on effective vectors of one point: U (n, d), a (n,), T (m, d), b (m,)
# --------------------------------------------------------------------------------------------


class Core:
    """Loss, gradient, Hessian and HVP in the effective vectors of one point (JAX arrays in and
    out; jittable; ``jax.vmap`` for batches)."""

    def __init__(self, kmod, activation: str, params: tuple = ()):
        self.name = activation
        self.params = tuple(float(p) for p in params)
        f = {k: getattr(kmod, f"{activation}_{k}") for k in ("kappa", "grad", "dgrad", "hess",
                                                              "self")}
        self._f = f

    def pairs(self, X, Y, nx, ny, order: int, same: bool, kappa: bool = True):
        Xh, Yh = X / nx[:, None], Y / ny[:, None]
        c, s, phi = geometry(Xh, Yh, same)
        a, b = nx[:, None], ny[None, :]
        fn = (self._f["kappa"], self._f["grad"] if kappa else self._f["dgrad"],
              self._f["hess"])[order]
        out = fn(a, b, c, s, phi, *self.params)
        out = list(out) if order else [out]
        selfs = None
        if same:
            eye = jnp.eye(c.shape[0], dtype=bool)
            out = [jnp.where(eye, 0.0, o) for o in out]
            selfs = list(self._f["self"](nx, *self.params))
        return out, selfs, (c, s, phi, Xh, Yh)

    def loss(self, U, a, T, b):
        nu, nt = _norms(U), _norms(T)
        (Kuu,), (D, *_), _ = self.pairs(U, U, nu, nu, 0, True)
        (Kut,), _, _ = self.pairs(U, T, nu, nt, 0, False)
        (Ktt,), (Dt, *_), _ = self.pairs(T, T, nt, nt, 0, True)
        qa = a @ Kuu @ a + jnp.sum(a * a * D)
        qb = b @ Ktt @ b + jnp.sum(b * b * Dt)
        return 0.5 * (qa + qb) - a @ Kut @ b

    def grad(self, U, a, T, b, output: bool = True):
        """``(dl/dU, dl/da)`` (``dl/da`` None when ``output`` is False)."""
        nu, nt = _norms(U), _norms(T)
        if output:
            (Kuu, ga, gb), (D, d1, _, _), _ = self.pairs(U, U, nu, nu, 1, True)
            (Kut, ta, tb), _, _ = self.pairs(U, T, nu, nt, 1, False)
        else:
            (ga, gb), (D, d1, _, _), _ = self.pairs(U, U, nu, nu, 1, True, kappa=False)
            (ta, tb), _, _ = self.pairs(U, T, nu, nt, 1, False, kappa=False)
        coef = ga @ a + 0.5 * a * d1 - ta @ b
        gU = coef[:, None] * U + gb @ (a[:, None] * U) - tb @ (b[:, None] * T)
        gU = gU * a[:, None]
        if not output:
            return gU, None
        return gU, Kuu @ a + a * D - Kut @ b

    def _pieces(self, U, a, T, b):
        nu, nt = _norms(U), _norms(T)
        uu, (D, d1, dh0, dh11), (cu, _, _, Uh, _) = self.pairs(U, U, nu, nu, 2, True)
        ut, _, (ct, _, _, _, Th) = self.pairs(U, T, nu, nt, 2, False)
        return dict(uu=uu, ut=ut, D=D, d1=d1, dh0=dh0, dh11=dh11, Uh=Uh,
                    Eu=frame(Uh, Uh, cu), Et=frame(Uh, Th, ct))

    @staticmethod
    def _diag_blocks(p, a, b):
        """The (i, i) blocks of d^2 l / dU dU^T: ``(n, d, d)``."""
        (_, _, _, h0, h11, h12, h22, *_), (_, _, _, t0, t11, t12, t22, *_) = p["uu"], p["ut"]
        wl = a[:, None] * a[None, :]
        wt = -a[:, None] * b[None, :]
        Uh = p["Uh"]
        d = Uh.shape[-1]
        c0 = jnp.sum(wl * h0, -1) + jnp.sum(wt * t0, -1) + 0.5 * a * a * p["dh0"]
        cuu = jnp.sum(wl * h11, -1) + jnp.sum(wt * t11, -1) + 0.5 * a * a * p["dh11"]
        out = cuu[:, None, None] * (Uh[:, :, None] * Uh[:, None, :])
        for w, c22, E in ((wl * h12, wl * h22, p["Eu"]), (wt * t12, wt * t22, p["Et"])):
            cross = jnp.einsum("il,ila->ia", w, E)
            out = out + Uh[:, :, None] * cross[:, None, :] + cross[:, :, None] * Uh[:, None, :]
            out = out + jnp.einsum("ila,ilb->iab", E * c22[..., None], E)
        return out + c0[:, None, None] * jnp.eye(d)

    @staticmethod
    def _mixed(p, a, U, T, b):
        """``d^2 l / du_i da_l``: ``(n, d, n)``."""
        (_, ga, gb, *_), (_, ta, tb, *_) = p["uu"], p["ut"]
        M = (a[:, None] * ga)[:, None, :] * U[:, :, None] \
            + (a[:, None] * gb)[:, None, :] * U.T[None, :, :]
        coef = ga @ a + a * p["d1"] - ta @ b
        own = coef[:, None] * U + (gb * a[None, :]) @ U - (tb * b[None, :]) @ T
        ii = jnp.arange(U.shape[0])
        return M.at[ii, :, ii].set(own)

    def hessian(self, U, a, T, b, train_output: bool):
        """Dense ``(P, P)``, ``P = n d (+ n)``, the order U.ravel() then a."""
        p = self._pieces(U, a, T, b)
        n, d = U.shape
        (_, _, _, _, _, _, _, v0, v11, v12, v21, v22) = p["uu"]
        w = a[:, None] * a[None, :]
        Uh, Eu = p["Uh"], p["Eu"]
        # every (i, l) block F C F^T + w v0 I, F = [u^_i, e_il], C = w [[v11, v12], [v21, v22]]:
        # F C F^T = (v11 u^ + v21 e) u^^T + (v12 u^ + v22 e) e^T, written elementwise in the
        # (i, a, l, b) layout of the Hessian (XLA fuses it into one pass over the n^2 d^2
        # entries), the (i, i) blocks by a select
        A0 = (Uh[:, None, :] * (w * v11)[..., None] + Eu * (w * v21)[..., None]).transpose(0, 2, 1)
        A1 = (Uh[:, None, :] * (w * v12)[..., None] + Eu * (w * v22)[..., None]).transpose(0, 2, 1)
        eye_n = jnp.eye(n, dtype=bool)[:, None, :, None]
        H4 = jnp.where(eye_n, self._diag_blocks(p, a, b)[:, :, None, :],
                       A0[..., None] * Uh[:, None, None, :] + A1[..., None] * Eu[:, None, :, :]
                       + (w * v0)[:, None, :, None] * jnp.eye(d)[None, :, None, :])
        ii = jnp.arange(n)
        HWW = H4.reshape(n * d, n * d)
        if not train_output:
            return HWW
        mixed = self._mixed(p, a, U, T, b).reshape(n * d, n)
        Kaa = p["uu"][0].at[ii, ii].set(p["D"])
        return jnp.block([[HWW, mixed], [mixed.T, Kaa]])

    def hvp(self, U, a, T, b, dU, da, train_output: bool):
        """``(hU, ha)``: the Hessian-vector product (``ha`` None unless ``train_output``)."""
        p = self._pieces(U, a, T, b)
        (_, _, _, _, _, _, _, v0, v11, v12, v21, v22) = p["uu"]
        w = a[:, None] * a[None, :]
        Uh, Eu = p["Uh"], p["Eu"]
        pu = dU @ Uh.T                                   # (i, l): u^_i . dU_l  (transposed)
        pu = pu.T
        pe = jnp.einsum("la,ila->il", dU, Eu)
        hU = ((w * v0) @ dU + jnp.sum(w * (v11 * pu + v12 * pe), -1)[:, None] * Uh
              + jnp.einsum("il,ila->ia", w * (v21 * pu + v22 * pe), Eu))
        hU = hU + jnp.einsum("iab,ib->ia", self._diag_blocks(p, a, b), dU)
        if not train_output:
            return hU, None
        mixed = self._mixed(p, a, U, T, b)
        hU = hU + jnp.einsum("ial,l->ia", mixed, da)
        ii = jnp.arange(U.shape[0])
        Kaa = p["uu"][0].at[ii, ii].set(p["D"])
        return hU, jnp.einsum("ial,ia->l", mixed, dU) + Kaa @ da


_cores: dict = {}


def core_for(kernel) -> Core:
    """The JAX :class:`Core` of a :class:`derivations.twolayer.model.Kernel` (cached)."""
    kmod = kernel_module(kernel)
    key = (id(kmod), kernel.name, kernel.params)
    core = _cores.get(key)
    if core is None or core[0] is not kmod:
        core = _cores[key] = (kmod, Core(kmod, kernel.name, kernel.params))
    return core[1]


# --------------------------------------------------------------------------------------------
# The public models' functions in JAX (net.jax())
# --------------------------------------------------------------------------------------------


class Functions:
    """``loss``, ``grad``, ``hessian``, ``hvp`` of a model as jit-compiled JAX functions with the
    arguments of ``net.loss`` etc.; each broadcasts over leading batch axes.  ``single``: the
    same four for exactly one point (no ``jnp.vectorize``; what ``jax.vmap`` users wrap)."""

    def __init__(self, net):
        self.net = net
        core = core_for(net.kernel)
        tr = net.train_output
        Mj = None if getattr(net, "_M", None) is None else jnp.asarray(net._M)
        Mt = None if getattr(net, "_Mt", None) is None else jnp.asarray(net._Mt)
        n, m, d = net.n_student, net.n_teacher, net.d
        th_shape = tuple(net.theta_shape)

        def units(theta):
            if Mj is None:
                return theta
            return (theta.reshape(-1) @ Mj.T).reshape(n, d)

        def teacher(theta_t):
            if Mt is None:
                return theta_t
            return (theta_t.reshape(-1) @ Mt.T).reshape(m, d)

        def pull(gU):
            if Mj is None:
                return gU
            return (gU.reshape(-1) @ Mj).reshape(th_shape)

        def pull_hessian(H):
            if Mj is None:
                return H
            nd = n * d
            HWW = (Mj.T @ H[:nd, :nd] @ Mj).T
            HWW = 0.5 * (HWW + HWW.T)
            if not tr:
                return HWW
            Hwa = Mj.T @ H[:nd, nd:]
            return jnp.block([[HWW, Hwa], [Hwa.T, H[nd:, nd:]]])

        def loss(theta, a, theta_t, b):
            return core.loss(units(theta), a, teacher(theta_t), b)

        def grad(theta, a, theta_t, b):
            gU, ga = core.grad(units(theta), a, teacher(theta_t), b, output=tr)
            return (pull(gU), ga) if tr else pull(gU)

        def hessian(theta, a, theta_t, b):
            return pull_hessian(core.hessian(units(theta), a, teacher(theta_t), b, tr))

        def hvp(theta, a, theta_t, b, dtheta, da):
            hU, ha = core.hvp(units(theta), a, teacher(theta_t), b, units(dtheta), da, tr)
            return (pull(hU), ha) if tr else pull(hU)

        self.single = dict(loss=loss, grad=grad, hessian=hessian, hvp=hvp)
        ax = lambda k: "(" + ",".join(f"{k}{i}" for i in range(len(th_shape))) + ")"  # noqa: E731
        th, tt = ax("p"), ax("q")
        ins = f"{th},(n),{tt},(m)"
        P = "(P,P)"
        sig = dict(loss=f"{ins}->()", grad=f"{ins}->{th},(n)" if tr else f"{ins}->{th}",
                   hessian=f"{ins}->{P}",
                   hvp=f"{ins},{th},(n)->{th},(n)" if tr else f"{ins},{th},(n)->{th}")
        self._vec = {k: jnp.vectorize(f, signature=sig[k]) for k, f in self.single.items()}
        self.loss = jax.jit(self._vec["loss"])
        self.grad = jax.jit(self._vec["grad"])
        self.hessian = jax.jit(self._vec["hessian"])
        _hvp = jax.jit(self._vec["hvp"])

        def hvp_public(theta, a, theta_t, b, dtheta, da=None):
            if da is None:
                da = jnp.zeros(jnp.shape(a)[-1:])
            return _hvp(theta, a, theta_t, b, dtheta, da)

        hvp_public.__doc__ = "H @ [dtheta.ravel(), da] (da defaults to zero)."
        self.hvp = hvp_public

    def __iter__(self):  # loss, grad, hessian, hvp = net.jax()
        return iter((self.loss, self.grad, self.hessian, self.hvp))

    def __repr__(self):
        return f"<JAX functions of {self.net!r}: loss, grad, hessian, hvp>"


# --------------------------------------------------------------------------------------------
# The public methods under set_backend("jax") (NumPy arrays in and out)
# --------------------------------------------------------------------------------------------


class JaxCore:
    """The NumPy-facing core the public models use under ``set_backend("jax")``: the interface
    of :class:`derivations.twolayer.model.Core` (effective vectors with batch axes, checked by
    the caller), zero-vector errors as there, the arithmetic in JAX (one jitted, vmapped function
    per kind; batches padded to a few sizes, as :func:`derivations.runtime.jax.run`)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.core = core_for(kernel)
        self._fns: dict = {}

    def _fn(self, kind, flags, batched_teacher, batched):
        key = (kind, flags, batched_teacher, batched)
        fn = self._fns.get(key)
        if fn is None:
            c = self.core
            body = {"loss": lambda U, a, T, b: c.loss(U, a, T, b),
                    "grad": lambda U, a, T, b: c.grad(U, a, T, b, output=flags),
                    "hessian": lambda U, a, T, b: c.hessian(U, a, T, b, flags),
                    "hvp": lambda U, a, T, b, dU, da: c.hvp(U, a, T, b, dU, da, flags)}[kind]
            if batched:
                t = 0 if batched_teacher else None
                axes = (0, 0, t, t) + ((0, 0) if kind == "hvp" else ())
                body = jax.vmap(body, in_axes=axes)
            fn = self._fns[key] = jax.jit(body)
        return fn

    def _run(self, kind, flags, U, a, T, b, names, extra=()):
        from .model import _norms as _np_norms

        _np_norms(U, names[0])  # the NumPy core's errors, in its order
        _np_norms(T, names[2])
        _jr.require_x64()
        batch = np.broadcast_shapes(U.shape[:-2], a.shape[:-1], T.shape[:-2], b.shape[:-1])
        n, d = U.shape[-2:]
        m = T.shape[-2]
        N = math.prod(batch)
        tb = T.ndim > 2 or b.ndim > 1
        if not batch:
            res = self._fn(kind, flags, False, False)(U, a, T, b, *extra)
            return jax.tree_util.tree_map(lambda r: None if r is None else np.asarray(r), res)
        Uf = np.broadcast_to(U, batch + (n, d)).reshape(N, n, d)
        af = np.broadcast_to(a, batch + (n,)).reshape(N, n)
        ins = [Uf, af]
        if tb:
            ins += [np.broadcast_to(T, batch + (m, d)).reshape(N, m, d),
                    np.broadcast_to(b, batch + (m,)).reshape(N, m)]
        else:
            ins += [T, b]
        for x, tail in zip(extra, ((n, d), (n,))):
            ins.append(np.broadcast_to(x, batch + tail).reshape((N,) + tail))
        B = _jr._bucket(N)
        if B != N:
            ins = [x if (i in (2, 3) and not tb) else
                   np.concatenate([x, np.broadcast_to(x[:1], (B - N,) + x.shape[1:])])
                   for i, x in enumerate(ins)]
        res = self._fn(kind, flags, tb, True)(*ins)

        def back(r):
            if r is None:
                return None
            r = np.asarray(r)[:N]
            return r.reshape(batch + r.shape[1:])

        return jax.tree_util.tree_map(back, res)

    def loss(self, U, a, T, b, names=("U", "a", "T", "b")):
        return self._run("loss", None, U, a, T, b, names)[()]

    def grad(self, U, a, T, b, names=("U", "a", "T", "b"), output: bool = True):
        gU, ga = self._run("grad", bool(output), U, a, T, b, names)
        return gU, ga

    def hessian(self, U, a, T, b, train_output: bool, names=("U", "a", "T", "b")):
        return self._run("hessian", bool(train_output), U, a, T, b, names)

    def hvp(self, U, a, T, b, dU, da, train_output: bool, names=("U", "a", "T", "b")):
        hU, ha = self._run("hvp", bool(train_output), U, a, T, b, names, (dU, da))
        return hU, ha
