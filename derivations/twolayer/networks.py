"""Public models of the two-layer engine (issue 20): fully connected and convolutional
(patches, possibly overlapping, several filters).  NumPy only at run time.

    net = fully_connected(d=7, k=7, m=7, activation="relu")
    net.loss(W, a, V, b); net.grad(W, a, V, b); net.hessian(W, a, V, b); net.hvp(...)

Every function broadcasts over leading batch axes of its arguments.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..runtime import backend as _backend
from .model import Core, Kernel

_F64 = np.dtype(np.float64)
_ND = np.ndarray
#: the compiled engine's module (:mod:`.compiled`), imported on first use
_compiled = []


def _array(x, name: str, ndim: int) -> np.ndarray:
    """``x`` as a float64 array with at least ``ndim`` axes, finite; errors name ``name``."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a real array, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"{name} must be a real array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim < ndim:
        raise ValueError(f"{name} must have at least {ndim} axes, got shape {arr.shape}")
    # the sum is finite when every entry is (fast path); if not, look entry by entry (the sum
    # of finite entries may overflow)
    if not math.isfinite(arr.sum()) and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (got NaN or inf)")
    return arr


def _dim(x, name: str, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__} {x!r}")
    if x < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {x}")
    return int(x)


class _Base:
    """Shared machinery: ``self._units(theta) -> U`` (effective vectors), its transpose for the
    chain rule, and the argument shapes."""

    train_output: bool
    core: Core

    def _setup(self, activation, train_output, params, module):
        """The activation's kernel and its assembly core; whether the output layer is trained."""
        if not isinstance(train_output, (bool, np.bool_)):
            raise TypeError(f"train_output must be True or False, got {train_output!r}")
        self.train_output = bool(train_output)
        self.kernel = Kernel(activation, tuple(params), module)
        self.activation = self.kernel.name
        self.core = Core(self.kernel)
        self._compiled_core = None
        self._runner_key, self._runner = None, None

    def _ccore(self, batch):
        """The compiled core when the backend in use is Numba (:mod:`.compiled`), the JAX core
        when it is JAX (:mod:`.jax`), else None."""
        if _backend.get_backend() == "jax":  # set_backend("jax"): the arithmetic in JAX
            return self._jax_core()
        if not _compiled:
            from . import compiled

            _compiled.append(compiled)
        compiled = _compiled[0]
        if not compiled.use_compiled(self.kernel, batch):
            return None
        if self._compiled_core is None:
            self._compiled_core = compiled.CompiledCore(self.kernel)
        return self._compiled_core

    def _jax_core(self):
        jc = self.__dict__.get("_jaxcore")
        if jc is None:
            from . import jax as _tljax

            jc = self._jaxcore = _tljax.JaxCore(self.kernel)
        return jc

    def jax(self):
        """The model's ``loss``, ``grad``, ``hessian``, ``hvp`` as jit-compiled JAX functions
        (same arguments as the methods; broadcasting; composable with ``jax.vmap`` /
        ``jax.grad``; no argument checks): :class:`derivations.twolayer.jax.Functions`."""
        fns = self.__dict__.get("_jaxfns")
        if fns is None:
            from . import jax as _tljax

            fns = self._jaxfns = _tljax.Functions(self)
        return fns

    # the single-point path (:mod:`._single`) ---------------------------------------------------
    def _one(self, theta, a, theta_t, b):
        """The single-point runner when the four arguments are exactly one point as the general
        path would make them (``numpy.ndarray``, float64, C-contiguous, the exact shapes, all
        finite) and the compiled engine is in use; else None (then the general path runs,
        with its conversions, broadcasting and errors)."""
        if not (type(theta) is _ND and type(a) is _ND and type(theta_t) is _ND
                and type(b) is _ND
                and (theta.shape, a.shape, theta_t.shape, b.shape) == self._one_shapes
                and theta.dtype is _F64 and a.dtype is _F64 and theta_t.dtype is _F64
                and b.dtype is _F64 and theta.flags.c_contiguous and a.flags.c_contiguous
                and theta_t.flags.c_contiguous and b.flags.c_contiguous):
            return None
        key = _backend.get_backend()
        if key != self._runner_key:  # the backend setting changed (or first call)
            self._runner = None
            if key != "jax" and self._ccore(()) is not None:
                from . import _single

                self._runner = _single.Runner(self._compiled_core, self.n_student,
                                              self.n_teacher, self.d)
            self._runner_key = key
        run = self._runner
        if run is None or run.first_nonfinite(theta, a, theta_t, b) >= 0:
            return None
        return run

    @functools.cached_property
    def _one_shapes(self):
        return (self.theta_shape, (self.n_student,), self.teacher_shape, (self.n_teacher,))

    def _check_shape(self, arr, name, tail):
        if arr.shape[arr.ndim - len(tail):] != tuple(tail):
            raise ValueError(f"{name} must have shape (..., {', '.join(map(str, tail))}), "
                             f"got {arr.shape}")

    def _prepare(self, theta, a, theta_t, b):
        names = self.arg_names
        th = _array(theta, names[0], len(self.theta_shape))
        aa = _array(a, names[1], 1)
        tt = _array(theta_t, names[2], len(self.teacher_shape))
        bb = _array(b, names[3], 1)
        self._check_shape(th, names[0], self.theta_shape)
        self._check_shape(aa, names[1], (self.n_student,))
        self._check_shape(tt, names[2], self.teacher_shape)
        self._check_shape(bb, names[3], (self.n_teacher,))
        shapes = (th.shape[: th.ndim - len(self.theta_shape)], aa.shape[:-1],
                  tt.shape[: tt.ndim - len(self.teacher_shape)], bb.shape[:-1])
        if shapes[0] == shapes[1] and not shapes[2] and not shapes[3]:
            return th, aa, tt, bb, shapes[0]   # the common case: one student batch
        batch = np.broadcast_shapes(*shapes)
        # the teacher keeps its own (maybe smaller) batch shape: it broadcasts in the core
        th = np.broadcast_to(th, batch + self.theta_shape)
        aa = np.broadcast_to(aa, batch + (self.n_student,))
        return th, aa, tt, bb, batch

    #: entries of one pair array per block of batch points (cache-sized blocks are ~2.5x
    #: faster than one pass over a large batch: no fresh pages, the arrays stay in cache)
    BLOCK_ENTRIES = 32768

    def _blocked(self, fn, th, aa, tt, bb, batch):
        """``fn(th, aa, tt, bb)`` over blocks of the (flattened) batch, results re-assembled."""
        N = int(np.prod(batch)) if batch else 1
        per = self.n_student * max(self.n_student, self.n_teacher)
        B = max(1, self.BLOCK_ENTRIES // per)
        if N <= B:
            return fn(th, aa, tt, bb)
        nt = len(self.teacher_shape)
        th = th.reshape((N,) + self.theta_shape)
        aa = aa.reshape(N, -1)
        t_batched = tt.ndim > nt or bb.ndim > 1
        if t_batched:
            tt = np.broadcast_to(tt, batch + self.teacher_shape).reshape((N,) + self.teacher_shape)
            bb = np.broadcast_to(bb, batch + (self.n_teacher,)).reshape(N, -1)
        parts = [fn(th[i:i + B], aa[i:i + B], tt[i:i + B] if t_batched else tt,
                    bb[i:i + B] if t_batched else bb) for i in range(0, N, B)]
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate(p).reshape(batch + p[0].shape[1:]) for p in zip(*parts))
        return np.concatenate(parts).reshape(batch + parts[0].shape[1:])

    # public API ------------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """``P``: first-layer parameters, plus the output weights when trained."""
        return int(np.prod(self.theta_shape)) + (self.n_student if self.train_output else 0)

    def loss(self, theta, a, theta_t, b):
        """``l = 1/2 E[(f(x) - f*(x))^2]``, shape ``batch``.  Accurate to ~1e-16 of the scale of
        its terms, not relative to itself near the teacher (docs/twolayer.md, "Numerical
        honesty"); where that rounding would make it negative (within ~1e-14 of the scale of a
        zero loss) it is 0, the nearest value a mean square can take."""
        return np.maximum(self._loss(theta, a, theta_t, b), 0.0)

    def _loss(self, theta, a, theta_t, b):
        run = self._one(theta, a, theta_t, b)
        if run is not None:
            out = run.loss(self._units(theta), a, self._teacher(theta_t), b)
            if out is not None:
                return out
        th, aa, tt, bb, batch = self._prepare(theta, a, theta_t, b)
        cc = self._ccore(batch)
        if cc is not None:
            return cc.loss(self._units(th), aa, self._teacher(tt), bb, self.arg_names)
        return self._blocked(lambda t, x, u, y: self.core.loss(
            self._units(t), x, self._teacher(u), y, self.arg_names), th, aa, tt, bb, batch)

    def grad(self, theta, a, theta_t, b):
        """``dl/dtheta`` (shaped like the first-layer weights), or ``(dl/dtheta, dl/da)`` when
        the output weights are trained."""
        run = self._one(theta, a, theta_t, b)
        if run is not None:
            out = run.grad(self._units(theta), a, self._teacher(theta_t), b, self.train_output)
            if out is not None:
                gU, ga = out
                return (self._pullback(gU), ga) if self.train_output else self._pullback(gU)
        th, aa, tt, bb, batch = self._prepare(theta, a, theta_t, b)
        cc = self._ccore(batch)
        if cc is not None:
            gU, ga = cc.grad(self._units(th), aa, self._teacher(tt), bb, self.arg_names,
                             output=self.train_output)
            return (self._pullback(gU), ga) if self.train_output else self._pullback(gU)

        if not self.train_output:
            return self._blocked(lambda t, x, u, y: self._pullback(self.core.grad(
                self._units(t), x, self._teacher(u), y, self.arg_names, output=False)[0]),
                th, aa, tt, bb, batch)

        def one(t, x, u, y):
            gU, ga = self.core.grad(self._units(t), x, self._teacher(u), y, self.arg_names)
            return self._pullback(gU), ga

        return self._blocked(one, th, aa, tt, bb, batch)

    def hessian(self, theta, a, theta_t, b):
        """Dense ``(..., P, P)``, parameters ordered ``theta.ravel()`` then ``a``."""
        run = self._one(theta, a, theta_t, b)
        if run is not None:
            H = run.hessian(self._units(theta), a, self._teacher(theta_t), b, self.train_output)
            if H is not None:
                return self._pullback_hessian(H, ())
        th, aa, tt, bb, batch = self._prepare(theta, a, theta_t, b)
        core = self._ccore(batch) or self.core
        H = core.hessian(self._units(th), aa, self._teacher(tt), bb, self.train_output,
                              self.arg_names)
        return self._pullback_hessian(H, batch)

    def hvp(self, theta, a, theta_t, b, dtheta, da=None):
        """Hessian-vector product ``H @ [dtheta.ravel(), da]`` without forming ``H``; returns
        ``(H v)_theta`` shaped like ``theta`` (and ``(H v)_a`` when the output is trained;
        ``da`` defaults to zero)."""
        th, aa, tt, bb, batch = self._prepare(theta, a, theta_t, b)
        dth = np.broadcast_to(_array(dtheta, "dtheta", len(self.theta_shape)),
                              batch + self.theta_shape)
        if da is None:
            dA = np.zeros(batch + (self.n_student,))
        else:
            dA = np.broadcast_to(_array(da, "da", 1), batch + (self.n_student,))
        core = self._ccore(batch) or self.core
        hU, ha = core.hvp(self._units(th), aa, self._teacher(tt), bb, self._units(dth),
                               dA, self.train_output, self.arg_names)
        h = self._pullback(hU)
        return (h, ha) if self.train_output else h


class FullyConnected(_Base):
    """``f(x) = sum_{i<k} a_i sigma(w_i.x)`` against ``f*(x) = sum_{j<m} b_j sigma(v_j.x)``,
    ``x ~ N(0, I_d)``: e.g. the teacher-student ReLU network of Safran & Shamir (ICML 2018)."""

    arg_names = ("W", "a", "V", "b")

    def __init__(self, d, k, m, activation="relu", train_output=False, params=(), module=None):
        self.d, self.k, self.m = _dim(d, "d"), _dim(k, "k"), _dim(m, "m")
        self._setup(activation, train_output, params, module)
        self.theta_shape, self.teacher_shape = (self.k, self.d), (self.m, self.d)
        self.n_student, self.n_teacher = self.k, self.m

    def __repr__(self):
        return (f"fully_connected(d={self.d}, k={self.k}, m={self.m}, "
                f"activation={self.activation!r}, train_output={self.train_output})")

    def _units(self, W):
        return W

    _teacher = _units

    def _pullback(self, gU):
        return gU

    def _pullback_hessian(self, H, batch):
        return H


class Patches(_Base):
    """Filters on patches: student unit ``i`` is ``u_i = P_i w_{f(i)}`` (filter ``f(i)`` placed on
    the coordinates ``patches[i]``), likewise the teacher.  Patches may overlap, have any
    stride, and there may be several filters (all of one size ``s``).

    Arguments of the model's functions: ``w (..., F, s)`` (or ``(..., s)`` for one filter),
    ``a (..., n)``, ``w_star (..., F*, s*)`` (or ``(..., s*)``), ``a_star (..., n*)``.
    """

    arg_names = ("w", "a", "w_star", "a_star")

    def __init__(self, d, patches, filters=None, teacher_patches=None, teacher_filters=None,
                 activation="relu", train_output=True, params=(), module=None):
        self.d = _dim(d, "d")
        self._setup(activation, train_output, params, module)
        self._M, self.theta_shape, self.n_student, self.patches, self.filters = self._map(
            patches, filters, "patches", "filters")
        if teacher_patches is None:
            teacher_patches, teacher_filters = patches, filters
        self._Mt, self.teacher_shape, self.n_teacher, self.teacher_patches, _ = self._map(
            teacher_patches, teacher_filters, "teacher_patches", "teacher_filters")
        self._filter_shape = self.theta_shape

    def _map(self, patches, filters, pname, fname):
        try:
            sets = [np.asarray(p) for p in patches]
        except TypeError:
            raise TypeError(f"{pname} must be a sequence of index sequences") from None
        if not sets:
            raise ValueError(f"{pname} must not be empty")
        size = len(sets[0])
        for i, p in enumerate(sets):
            if p.ndim != 1 or len(p) != size or len(p) == 0 or p.dtype.kind not in "iu":
                raise ValueError(f"{pname}[{i}] must be a nonempty sequence of {size} integer "
                                 "indices (all patches of one size)")
            if np.any(p < 0) or np.any(p >= self.d) or len(set(p.tolist())) != len(p):
                raise ValueError(f"{pname}[{i}] must hold distinct indices in [0, d={self.d})")
        n = len(sets)
        filt = np.zeros(n, dtype=int) if filters is None else np.asarray(filters)
        if filt.shape != (n,) or filt.dtype.kind not in "iu" or np.any(filt < 0):
            raise ValueError(f"{fname} must be {n} nonnegative integers (one filter per patch)")
        F = int(filt.max()) + 1
        if set(filt.tolist()) != set(range(F)):
            raise ValueError(f"{fname} must use every filter 0..{F - 1}")
        M = np.zeros((n * self.d, F * size))
        for i, p in enumerate(sets):  # construction only (not on the evaluation path)
            M[i * self.d + p, filt[i] * size + np.arange(size)] = 1.0
        return M, (F, size), n, [p.tolist() for p in sets], filt.tolist()

    def _units(self, w):
        flat = w.reshape(w.shape[:-2] + (-1,))
        return (flat @ self._M.T).reshape(w.shape[:-2] + (self.n_student, self.d))

    def _teacher(self, w):
        flat = w.reshape(w.shape[:-2] + (-1,))
        return (flat @ self._Mt.T).reshape(w.shape[:-2] + (self.n_teacher, self.d))

    def _pullback(self, gU):
        flat = gU.reshape(gU.shape[:-2] + (-1,))
        return (flat @ self._M).reshape(gU.shape[:-2] + self._filter_shape)

    def _pullback_hessian(self, H, batch):
        nd = self.n_student * self.d
        J = self._M
        HWW = np.swapaxes(J.T @ H[..., :nd, :nd] @ J, -1, -2)
        HWW = 0.5 * (HWW + np.swapaxes(HWW, -1, -2))
        if not self.train_output:
            return HWW
        Hwa = J.T @ H[..., :nd, nd:]
        top = np.concatenate([HWW, Hwa], axis=-1)
        bottom = np.concatenate([np.swapaxes(Hwa, -1, -2), H[..., nd:, nd:]], axis=-1)
        return np.concatenate([top, bottom], axis=-2)


class Convolutional(Patches):
    """One shared filter ``w`` of size ``patch_size`` on the ``n = (d - patch_size)//stride + 1``
    patches ``[s i, s i + patch_size)`` (overlapping when ``stride < patch_size``), teacher on the
    same patches: ``net.loss(w, a, w_star, a_star)`` with ``w, w_star (..., patch_size)``,
    ``a, a_star (..., n)``."""

    def __init__(self, d, patch_size, stride, activation="relu", train_output=True, params=(),
                 module=None):
        d = _dim(d, "d")
        ps = _dim(patch_size, "patch_size")
        st = _dim(stride, "stride")
        if ps > d:
            raise ValueError(f"patch_size must be <= d = {d}, got {ps}")
        n = (d - ps) // st + 1
        self.patch_size, self.stride, self.n = ps, st, n
        super().__init__(d, [list(range(st * i, st * i + ps)) for i in range(n)],
                         activation=activation, train_output=train_output, params=params,
                         module=module)
        self.theta_shape = (ps,)
        self.teacher_shape = (ps,)

    def __repr__(self):
        return (f"convolutional(d={self.d}, patch_size={self.patch_size}, stride={self.stride}, "
                f"activation={self.activation!r}, train_output={self.train_output})")

    def _units(self, w):
        return super()._units(w[..., None, :])

    def _teacher(self, w):
        return super()._teacher(w[..., None, :])

    def _pullback(self, gU):
        return super()._pullback(gU)[..., 0, :]


def fully_connected(d, k, m, activation="relu", train_output=False, params=()) -> FullyConnected:
    """Student with ``k`` units, teacher with ``m`` units, input dimension ``d``.

    ``net.loss(W, a, V, b)`` with ``W (..., k, d)``, ``a (..., k)``, ``V (..., m, d)``, ``b (...,
    m)``; ``net.grad`` returns ``dl/dW`` (or ``(dl/dW, dl/da)`` when ``train_output``);
    ``net.hessian`` returns ``(..., P, P)`` with the parameters ordered ``W.ravel()`` then ``a``;
    ``net.hvp(W, a, V, b, dW, da=None)``.  ``params``: the activation's parameters (leaky ReLU's
    slope ``alpha``, default 0.01)."""
    return FullyConnected(d, k, m, activation, train_output, params)


def convolutional(d, patch_size, stride, activation="relu", train_output=True,
                  params=()) -> Convolutional:
    """One shared filter over ``n = (d - patch_size)//stride + 1`` patches ``[s i, s i +
    patch_size)``; ``net.loss(w, a, w_star, a_star)``, ``net.grad`` -> ``(dl/dw, dl/da)``,
    ``net.hessian`` -> ``(..., P, P)`` (``w`` then ``a``)."""
    return Convolutional(d, patch_size, stride, activation, train_output, params)


def patches(d, patch_sets, filters=None, teacher_patches=None, teacher_filters=None,
            activation="relu", train_output=True, params=()) -> Patches:
    """The general constructor: unit ``i`` applies filter ``filters[i]`` (default 0) to the
    coordinates ``patch_sets[i]`` (any index sets of one size; overlapping allowed); the
    teacher likewise (default: the student's patches and filters)."""
    return Patches(d, patch_sets, filters, teacher_patches, teacher_filters, activation,
                   train_output, params)
