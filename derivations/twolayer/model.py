"""The two-layer engine, layer 2: assembly of loss, gradient, Hessian and Hessian-vector product
from the derived pair kernels (issue 20; DESIGN "two-layer engine").  NumPy only at run time.

Model: ``x ~ N(0, I_d)``, student ``f(x) = sum_i a_i sigma(u_i.x)``, teacher ``f*(x) = sum_j
b_j sigma(t_j.x)``; the effective vectors ``u_i`` are linear in the trainable first-layer
weights (fully connected ``u_i = w_i``, or a filter on a patch).  The loss

    l = 1/2 E[(f - f*)^2] = 1/2 [a^T K(U, U) a - 2 a^T K(U, T) b + b^T K(T, T) b]

is a double sum of the pair kernel ``kappa`` (``K(X, Y)_ij = kappa(x_i, y_j)``, diagonal terms
``kappa(u, u) = D(u)``).  All pairs are evaluated at once as arrays, batched over any leading
axes; the derivatives use the pair coefficients of :mod:`derivations.twolayer.kernels`
(``d kappa/du = ga u + gb v``; the Hessian blocks in the orthonormal frame ``(u^, e)`` of each
pair's plane), so nothing divides by ``sin(phi)`` and parallel or antiparallel units are exact.

Angles: ``cos(phi)`` from the Gram matrix; for pairs with ``|cos(phi)| > 0.9`` the angle is
recomputed as ``2 atan2(|x^ - y^|, |x^ + y^|)`` (Kahan), accurate to a few ulps at ``phi -> 0``
and ``pi`` where ``arccos`` of the Gram entry loses half the digits.

Accuracy of the loss: its terms are O(sum |a_i||a_j| |u_i||u_j|) and cancel near the teacher,
so the loss has an absolute error of ~1e-16 x that scale (float64 cannot do better from the
kernel sum); its relative accuracy is lost when the loss falls below ~1e-13 of the scale (e.g.
at ``|W - V| ~ 1e-6`` for unit-scale weights).  The gradient and Hessian do not cancel that way.
"""
from __future__ import annotations

import numpy as np

from ..generated import twolayer_kernels as _GENERATED
from ._names import NO_CLOSED_FORM

#: pairs with |cos(phi)| above this get the stable (Kahan) angle
EDGE_COS = 0.9


# --------------------------------------------------------------------------------------------
# Pair geometry
# --------------------------------------------------------------------------------------------


def _geometry(X, Y, nx, ny, same=False):
    """``(c, s, phi)`` of every pair ``(x_i, y_j)``: arrays of shape ``(..., n, m)`` (``same``:
    X is Y, and the diagonal, replaced by the caller, needs no stable angle)."""
    # normalize the (n + m) vectors, not the n m pairs
    c = (X / nx[..., :, None]) @ np.swapaxes(Y / ny[..., :, None], -1, -2)
    np.minimum(c, 1.0, out=c)
    np.maximum(c, -1.0, out=c)
    phi = np.arccos(c)
    s = np.multiply(c, c)                      # 1 - c^2 is accurate for |c| <= EDGE_COS
    edge = s > EDGE_COS * EDGE_COS
    np.subtract(1.0, s, out=s)
    np.sqrt(s, out=s)
    if same:
        ii = np.arange(c.shape[-1])
        edge[..., ii, ii] = False
    if edge.any():
        shape = c.shape[:-2]
        X = np.broadcast_to(X, shape + X.shape[-2:])
        Y = np.broadcast_to(Y, shape + Y.shape[-2:])
        nx = np.broadcast_to(nx, shape + nx.shape[-1:])
        ny = np.broadcast_to(ny, shape + ny.shape[-1:])
        idx = np.nonzero(edge)
        xi = X[idx[:-1]] / nx[idx[:-1]][..., None]
        yj = Y[idx[:-2] + idx[-1:]] / ny[idx[:-2] + idx[-1:]][..., None]
        ph = 2.0 * np.arctan2(np.linalg.norm(xi - yj, axis=-1), np.linalg.norm(xi + yj, axis=-1))
        phi[idx], c[idx], s[idx] = ph, np.cos(ph), np.sin(ph)
    return c, s, phi


def _frame(Xh, Yh, c, s):
    """Unit rejections ``e_ij`` of ``y^_j`` from ``x^_i`` (zero for exactly parallel pairs):
    ``(..., n, m, d)``."""
    R = Yh[..., None, :, :] - c[..., None] * Xh[..., :, None, :]
    R -= np.sum(R * Xh[..., :, None, :], axis=-1, keepdims=True) * Xh[..., :, None, :]
    nr = np.linalg.norm(R, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        E = np.where(nr > 0, R / np.where(nr > 0, nr, 1.0), 0.0)
    return E


class Kernel:
    """The emitted functions of one activation (from ``derivations.generated`` or a module
    compiled in memory, e.g. with a planted error)."""

    def __init__(self, activation: str = "relu", params: tuple = (), module=None):
        mod = module if module is not None else _GENERATED
        if not isinstance(activation, str):
            raise TypeError(f"activation must be a string such as 'relu', got "
                            f"{type(activation).__name__}")
        if activation not in mod.ACTIVATIONS:
            if activation.lower() in NO_CLOSED_FORM:
                raise ValueError(f"activation {activation!r} has no closed-form Gaussian pair "
                                 f"kernel E[sigma(u.x) sigma(v.x)]; closed forms exist for "
                                 f"{', '.join(mod.ACTIVATIONS)}")
            raise ValueError(f"unknown activation {activation!r}; known: "
                             f"{', '.join(mod.ACTIVATIONS)}")
        names = mod.PARAMS[activation]
        if not params:
            params = mod.DEFAULTS.get(activation, ())
        if len(params) != len(names):
            raise ValueError(f"activation {activation!r} takes parameters {names}, got {params}")
        self.name = activation
        self.module = module  # None: the generated modules (NumPy and compiled)
        self.params = tuple(float(p) for p in params)
        self.smooth_edges = activation != "step"
        self._kappa = getattr(mod, f"{activation}_kappa")
        self._grad = getattr(mod, f"{activation}_grad")
        self._dgrad = getattr(mod, f"{activation}_dgrad")
        self._hess = getattr(mod, f"{activation}_hess")
        self._self = getattr(mod, f"{activation}_self")

    # pair blocks ---------------------------------------------------------------------------
    def pairs(self, X, Y, nx, ny, order: int, same: bool, kappa: bool = True):
        """Coefficients of all pairs ``(x_i, y_j)``: ``order`` 0 -> (kappa,), 1 -> (kappa, ga,
        gb) (or (ga, gb) when ``kappa`` is False), 2 -> all 12 terms.  ``same``: X is Y, the
        diagonal gets the self terms (D and its derivatives as separate outputs)."""
        c, s, phi = _geometry(X, Y, nx, ny, same)
        a, b = nx[..., :, None], ny[..., None, :]
        fn = (self._kappa, self._grad if kappa else self._dgrad, self._hess)[order]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = fn(a, b, c, s, phi, *self.params)
        out = list(out) if order else [out]
        if same:  # the diagonal pairs are the self terms: zero them (copy read-only outputs)
            seen = {}
            ii = np.arange(c.shape[-1])
            for j, o in enumerate(out):
                if id(o) not in seen:
                    seen[id(o)] = o if o.flags.writeable else np.array(o)
                    seen[id(o)][..., ii, ii] = 0.0
                out[j] = seen[id(o)]
            selfs = [np.asarray(t) for t in self._self(nx, *self.params)]  # fresh arrays
            return out, selfs, (c, s, phi)
        return out, None, (c, s, phi)


# --------------------------------------------------------------------------------------------
# Core on effective vectors
# --------------------------------------------------------------------------------------------


#: the norms of effective vectors the engine evaluates: inside, the squared norms, Gram entries
#: and pair products stay normal float64 numbers (tested at both ends to ~1e-15 relative);
#: outside, ``|u|^2`` over- or underflows (at 1e154 the loss was NaN, at 1e-160 the gradient off
#: by 3e-4, at 1e-170 a nonzero unit looked zero), so a call there is refused with a ValueError
NORM_LO, NORM_HI = 1e-150, 1e150


def _norms(X, name):
    n = np.sqrt(np.einsum("...i,...i->...", X, X))
    if not ((n >= NORM_LO) & (n <= NORM_HI)).all():
        _norm_error(X, name)
    return n


def _norm_error(X, name):
    """Raise the error for ``X``'s bad unit: a zero vector, or a norm outside
    ``[NORM_LO, NORM_HI]`` (the norm taken scaled, so it neither over- nor underflows)."""
    big = np.max(np.abs(X), axis=-1)
    if not big.all():
        raise ValueError(f"{name}: every unit's effective vector must be nonzero (a unit with a "
                         "zero vector has no angle; its kernel derivatives are undefined)")
    safe = np.where(big > 0, big, 1.0)[..., None]
    norm = big * np.linalg.norm(X / safe, axis=-1)
    worst = norm.flat[np.argmax(np.abs(np.log2(norm)).ravel())]
    raise ValueError(f"{name}: a unit's effective vector has norm {worst:.3g}, outside "
                     f"[{NORM_LO:g}, {NORM_HI:g}], where the engine evaluates the pair kernels in "
                     "float64 (its squared norm would over- or underflow); rescale the model")


class Core:
    """Loss and derivatives in the effective vectors ``U (..., n, d)``, ``T (..., m, d)``."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel

    def loss(self, U, a, T, b, names=("U", "a", "T", "b")):
        k = self.kernel
        nu, nt = _norms(U, names[0]), _norms(T, names[2])
        (Kuu,), (D, *_), _ = k.pairs(U, U, nu, nu, 0, True)
        (Kut,), _, _ = k.pairs(U, T, nu, nt, 0, False)
        (Ktt,), (Dt, *_), _ = k.pairs(T, T, nt, nt, 0, True)
        qa = np.einsum("...i,...ij,...j->...", a, Kuu, a) + np.sum(a * a * D, axis=-1)
        qb = np.einsum("...i,...ij,...j->...", b, Ktt, b) + np.sum(b * b * Dt, axis=-1)
        cross = np.einsum("...i,...ij,...j->...", a, Kut, b)
        return 0.5 * (qa + qb) - cross

    def grad(self, U, a, T, b, names=("U", "a", "T", "b"), output: bool = True):
        """``(dl/dU, dl/da)`` (``dl/da`` None when ``output`` is False: then the kernel itself
        is not evaluated, only its derivative terms)."""
        k = self.kernel
        nu, nt = _norms(U, names[0]), _norms(T, names[2])
        if output:
            (Kuu, ga, gb), (D, d1, _, _), _ = k.pairs(U, U, nu, nu, 1, True)
            (Kut, ta, tb), _, _ = k.pairs(U, T, nu, nt, 1, False)
        else:
            (ga, gb), (D, d1, _, _), _ = k.pairs(U, U, nu, nu, 1, True, kappa=False)
            (ta, tb), _, _ = k.pairs(U, T, nu, nt, 1, False, kappa=False)
        # sum_l ga_il a_l and the matmuls with a, b folded in: no (n, m)-sized products
        coef = (ga @ a[..., None])[..., 0] + 0.5 * a * d1 - (ta @ b[..., None])[..., 0]
        gU = coef[..., None] * U + gb @ (a[..., None] * U) - tb @ (b[..., None] * T)
        gU *= a[..., None]
        if not output:
            return gU, None
        ga_ = (Kuu @ a[..., None])[..., 0] + a * D - (Kut @ b[..., None])[..., 0]
        return gU, ga_

    def _pieces(self, U, a, T, b, names):
        k = self.kernel
        nu, nt = _norms(U, names[0]), _norms(T, names[2])
        uu, (D, d1, dh0, dh11), (cu, su, _) = k.pairs(U, U, nu, nu, 2, True)
        ut, _, (ct, st, _) = k.pairs(U, T, nu, nt, 2, False)
        Uh, Th = U / nu[..., None], T / nt[..., None]
        Eu = _frame(Uh, Uh, cu, su)
        Et = _frame(Uh, Th, ct, st)
        return dict(nu=nu, nt=nt, uu=uu, ut=ut, D=D, d1=d1, dh0=dh0, dh11=dh11, Uh=Uh,
                    Eu=Eu, Et=Et)

    @staticmethod
    def _diag_blocks(p, a, b, U):
        """The (i, i) blocks of d^2 l / dU dU^T: ``(..., n, d, d)``."""
        (_, _, _, h0, h11, h12, h22, *_), (_, _, _, t0, t11, t12, t22, *_) = p["uu"], p["ut"]
        wl = a[..., :, None] * a[..., None, :]      # student partners (diagonal is zero)
        wt = -a[..., :, None] * b[..., None, :]     # teacher partners
        Uh, Eu, Et = p["Uh"], p["Eu"], p["Et"]
        d = U.shape[-1]
        c0 = np.sum(wl * h0, -1) + np.sum(wt * t0, -1) + 0.5 * a * a * p["dh0"]
        cuu = np.sum(wl * h11, -1) + np.sum(wt * t11, -1) + 0.5 * a * a * p["dh11"]
        out = cuu[..., None, None] * (Uh[..., :, :, None] * Uh[..., :, None, :])
        for w, c12, c22, E in ((wl * h12, None, wl * h22, Eu), (wt * t12, None, wt * t22, Et)):
            cross = np.einsum("...il,...ila->...ia", w, E)          # sum_l c12 e_il
            out += Uh[..., :, :, None] * cross[..., :, None, :]
            out += cross[..., :, :, None] * Uh[..., :, None, :]
            out += np.swapaxes(E * c22[..., None], -1, -2) @ E           # sum_l c22 e e^T
        ii = np.arange(d)
        out[..., ii, ii] += c0[..., None]
        return out

    def hessian(self, U, a, T, b, train_output: bool, names=("U", "a", "T", "b")):
        """Dense ``(..., P, P)`` with ``P = n d (+ n)``, the order U.ravel() then a."""
        p = self._pieces(U, a, T, b, names)
        n, d = U.shape[-2], U.shape[-1]
        batch = U.shape[:-2]
        (_, _, _, _, _, _, _, v0, v11, v12, v21, v22) = p["uu"]
        w = a[..., :, None] * a[..., None, :]
        Uh, Eu = p["Uh"], p["Eu"]
        F = np.stack([np.broadcast_to(Uh[..., :, None, :], Eu.shape), Eu], axis=-1)  # n,n,d,2
        Cm = np.stack([np.stack([v11, v12], -1), np.stack([v21, v22], -1)], -2) * w[..., None, None]
        P = n * d + (n if train_output else 0)
        H = np.empty(batch + (P, P))
        HWW = H[..., : n * d, : n * d]
        rs, cs = HWW.strides[-2:]
        H4 = np.lib.stride_tricks.as_strided(                          # (..., n, d, n, d) view
            HWW, batch + (n, d, n, d), HWW.strides[:-2] + (d * rs, rs, d * cs, cs))
        # every (i, l) block F C F^T written in place (no 10^8-entry temporary, no transpose)
        np.matmul(F @ Cm, np.swapaxes(F, -1, -2), out=np.swapaxes(H4, -3, -2))
        np.einsum("...iala->...ila", H4)[...] += (w * v0)[..., :, :, None]
        np.einsum("...iaib->...iab", H4)[...] = self._diag_blocks(p, a, b, U)
        if not train_output:
            return H
        mixed = self._mixed(p, a, T, b, U).reshape(batch + (n * d, n))
        H[..., : n * d, n * d:] = mixed
        H[..., n * d:, : n * d] = np.swapaxes(mixed, -1, -2)
        Kaa = p["uu"][0].copy()
        np.einsum("...ii->...i", Kaa)[...] = p["D"]
        H[..., n * d:, n * d:] = Kaa
        return H

    @staticmethod
    def _mixed(p, a, T, b, U):
        """``d^2 l / du_i da_l``: ``(..., n, d, n)``."""
        (_, ga, gb, *_), (_, ta, tb, *_) = p["uu"], p["ut"]
        # l != i: a_i (ga_il u_i + gb_il u_l)
        M = (a[..., :, None] * ga)[..., :, None, :] * U[..., :, :, None] \
            + (a[..., :, None] * gb)[..., :, None, :] * np.swapaxes(U, -1, -2)[..., None, :, :]
        # l == i: sum_{j != i} a_j d1kappa(u_i, u_j) + a_i d1_i u_i - sum_j b_j d1kappa(u_i, t_j)
        coef = (np.einsum("...il,...l->...i", ga, a) + a * p["d1"]
                - np.einsum("...ij,...j->...i", ta, b))
        own = coef[..., None] * U + (gb * a[..., None, :]) @ U - (tb * b[..., None, :]) @ T
        np.einsum("...iai->...ia", M)[...] = own
        return M

    def hvp(self, U, a, T, b, dU, da, train_output: bool, names=("U", "a", "T", "b")):
        """Hessian-vector product without the dense Hessian: ``(H dU)`` (and ``(H da)`` parts).

        Returns ``(hU, ha)`` (``ha`` None unless ``train_output``)."""
        p = self._pieces(U, a, T, b, names)
        (_, _, _, _, _, _, _, v0, v11, v12, v21, v22) = p["uu"]
        w = a[..., :, None] * a[..., None, :]
        Uh, Eu = p["Uh"], p["Eu"]
        # cross blocks: sum_l w_il [v0 I + F_il C_il F_il^T] dU_l
        pu = np.einsum("...la,...ia->...il", dU, Uh)                  # u^_i . dU_l
        pe = np.einsum("...la,...ila->...il", dU, Eu)                 # e_il . dU_l
        hU = (np.einsum("...il,...la->...ia", w * v0, dU)
              + np.einsum("...il,...ia->...ia", w * (v11 * pu + v12 * pe), Uh)
              + np.einsum("...il,...ila->...ia", w * (v21 * pu + v22 * pe), Eu))
        hU += np.einsum("...iab,...ib->...ia", self._diag_blocks(p, a, b, U), dU)
        if not train_output:
            return hU, None
        mixed = self._mixed(p, a, T, b, U)                            # (..., n, d, n)
        hU = hU + np.einsum("...ial,...l->...ia", mixed, da)
        Kaa = p["uu"][0].copy()
        np.einsum("...ii->...i", Kaa)[...] = p["D"]
        ha = np.einsum("...ial,...ia->...l", mixed, dU) + np.einsum("...il,...l->...i", Kaa, da)
        return hU, ha
