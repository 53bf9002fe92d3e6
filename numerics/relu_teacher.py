"""Float loss, gradient and Hessian of the fully connected ReLU teacher-student network with fixed
output weights, assembled from the SymPy-derived pair-kernel coefficients of
:mod:`numerics.relu_pairs` (spurious-minima study, issue 21).

This is the study's stand-in for issue 20's engine (``derivations.twolayer.fully_connected``):
the same call contract (``loss(W, a, V, b)``, ``grad(W, a, V, b) -> dL/dW``,
``hessian(W, a, V, b) -> (..., P, P)`` with P = k d in the order ``W.ravel()``), batched over
leading axes, all unit pairs at once (no Python loop over units).  :func:`network` returns the
engine when it is importable and this module otherwise.

Angles: ``cos``, ``sin``, ``phi`` of every pair come from the emitted runtime's hardened
``angle_terms`` (double-double rejection for near-parallel pairs), so the gradient keeps full
accuracy where a student unit approaches its teacher (phi -> 0 at the global minimum).  The
kernel is C^1 but not C^2 at phi = 0, pi: the Hessian is only evaluated away from those angles.
"""
from __future__ import annotations

import numpy as np

from .relu_pairs import numpy_functions


def _pairs(X, Y, same: bool):
    """Norms and angle of every pair (x_i, y_j): ``(|x_i| (...,n,1), |y_j| (...,1,m), phi,
    mask)``.  ``same``: X is Y and the diagonal (angle 0) is masked out (phi set to pi/2 there;
    the self terms are added separately)."""
    from derivations import runtime as _rt

    nx = np.sqrt(np.einsum("...i,...i->...", X, X))
    ny = nx if same else np.sqrt(np.einsum("...i,...i->...", Y, Y))
    dot = X @ np.swapaxes(Y, -1, -2)
    mask = None
    if same:
        n = X.shape[-2]
        mask = ~np.eye(n, dtype=bool)
        dot = np.where(mask, dot, 0.0)
    nn = nx[..., :, None] * ny[..., None, :]
    _, _, phi, _ = _rt.angle_terms(X[..., :, None, :], Y[..., None, :, :], None, None, dot,
                                   "phi", norm_xy=nn)
    return nx[..., :, None], ny[..., None, :], phi, mask


def _check(W, a, V, b):
    W = np.asarray(W, dtype=float)
    V = np.asarray(V, dtype=float)
    if W.ndim < 2 or V.ndim < 2 or W.shape[-1] != V.shape[-1]:
        raise ValueError(f"W (..., k, d) and V (..., m, d) must share d; got {W.shape}, {V.shape}")
    a = np.broadcast_to(np.asarray(a, dtype=float), W.shape[:-1])
    b = np.broadcast_to(np.asarray(b, dtype=float), V.shape[:-1])
    if not (np.isfinite(W).all() and np.isfinite(V).all()):
        raise ValueError("W and V must be finite")
    return W, a, V, b


def loss(W, a, V, b):
    """``1/2 E[(sum_i a_i relu(w_i.x) - sum_j b_j relu(v_j.x))^2]``, shape ``W.shape[:-2]``."""
    W, a, V, b = _check(W, a, V, b)
    f = numpy_functions()

    def pair_sum(X, cx, Y, cy, same):
        nx, ny, phi, mask = _pairs(X, Y, same)
        K = f["kappa"](nx, ny, phi) * cx[..., :, None] * cy[..., None, :]
        if same:
            K = np.where(mask, K, 0.0)
            K = K.sum((-1, -2)) + (f["self"](nx[..., 0]) * cx * cx).sum(-1)
            return K
        return K.sum((-1, -2))

    return 0.5 * pair_sum(W, a, W, a, True) - pair_sum(W, a, V, b, False) \
        + 0.5 * pair_sum(V, b, V, b, True)


def grad(W, a, V, b):
    """``dL/dW``, shape of ``W`` (broadcast).  Student and teacher units are one array of
    partners ``Y = [W; V]`` with signs ``[a, -b]``, so one pass evaluates all pairs."""
    W, a, V, b = _check(W, a, V, b)
    f = numpy_functions()
    k = W.shape[-2]
    shape = np.broadcast_shapes(W.shape[:-2], V.shape[:-2])
    Y = np.concatenate([np.broadcast_to(W, shape + W.shape[-2:]),
                        np.broadcast_to(V, shape + V.shape[-2:])], axis=-2)
    nx = np.sqrt(np.einsum("...i,...i->...", W, W))
    ny = np.sqrt(np.einsum("...i,...i->...", Y, Y))
    dot = W @ np.swapaxes(Y, -1, -2)
    idx = np.arange(k)
    dot[..., idx, idx] = 0.0  # the self pairs (angle 0) are added below from the self term
    sin, phi = _angle(W, Y, dot, nx[..., :, None] * ny[..., None, :])
    s = np.concatenate([np.broadcast_to(a, shape + (k,)),
                        -np.broadcast_to(b, shape + b.shape[-1:])], axis=-1)
    A = np.broadcast_to(a[..., :, None], phi.shape) * s[..., None, :]  # a fresh array
    A[..., idx, idx] = 0.0
    Cu = f["grad_s"]["u"](nx[..., :, None], ny[..., None, :], phi, sin)
    Cu *= A
    Cw = f["grad_s"]["w"](nx[..., :, None], ny[..., None, :], phi, sin)
    Cw *= A
    coef = Cu.sum(-1) + 0.5 * a * a * f["self_grad"](nx)
    return coef[..., None] * W + Cw @ Y


def _angle(X, Y, dot, nn):
    from derivations import runtime as _rt

    _, sin, phi, _ = _rt.angle_terms(X[..., :, None, :], Y[..., None, :, :], None, None, dot,
                                     "sin phi", norm_xy=nn)
    return sin, phi


def _block_terms(f, z, nx, ny, phi):
    """Coefficients of ``d^2 kappa(u, w)/du dz^T = c I + p1 u u^T + p2 u w^T + p3 w u^T +
    p4 w w^T`` (``z`` = "u": the diagonal block, "w": the cross block)."""
    h = f["hess"]
    c = f["grad"][z](nx, ny, phi)
    p1 = h[(z, "u", "u")](nx, ny, phi)
    p2 = h[(z, "u", "w")](nx, ny, phi)
    p3 = h[(z, "w", "u")](nx, ny, phi)
    p4 = h[(z, "w", "w")](nx, ny, phi)
    return [np.broadcast_to(t, phi.shape) for t in (c, p1, p2, p3, p4)]


def hessian(W, a, V, b):
    """``d^2 L / dW^2`` as ``(..., P, P)``, P = k d, parameters in the order ``W.ravel()``."""
    W, a, V, b = _check(W, a, V, b)
    f = numpy_functions()
    batch, (k, d) = W.shape[:-2], W.shape[-2:]
    eye = np.eye(d)
    H = np.zeros(np.broadcast_shapes(batch, V.shape[:-2], a.shape[:-1]) + (k, d, k, d))
    # cross blocks (i != j): a_i a_j [c_w I + p1 w_i w_i^T + p2 w_i w_j^T + p3 w_j w_i^T + p4 w_j w_j^T]
    nx, ny, phi, mask = _pairs(W, W, True)
    phi = np.where(mask, phi, np.pi / 2)  # diagonal pairs unused below (masked)
    A = a[..., :, None] * a[..., None, :] * mask
    c, p1, p2, p3, p4 = (t * A for t in _block_terms(f, "w", nx, ny, phi))
    H += np.einsum("...ij,lm->...iljm", c, eye)
    H += np.einsum("...ij,...il,...im->...iljm", p1, W, W)
    H += np.einsum("...ij,...il,...jm->...iljm", p2, W, W)
    H += np.einsum("...ij,...jl,...im->...iljm", p3, W, W)
    H += np.einsum("...ij,...jl,...jm->...iljm", p4, W, W)
    diag = _diag_blocks(f, W, W, A, nx, ny, phi)
    # self terms: 1/2 a_i^2 (s I + t w_i w_i^T)
    s = 0.5 * a * a * f["self_grad"](nx[..., 0])
    t = 0.5 * a * a * np.broadcast_to(f["self_hess"](nx[..., 0]), s.shape)
    diag += np.einsum("...i,lm->...ilm", s, eye) + np.einsum("...i,...il,...im->...ilm", t, W, W)
    nx, ny, phi, _ = _pairs(W, V, False)
    B = a[..., :, None] * b[..., None, :]
    diag -= _diag_blocks(f, W, V, B, nx, ny, phi)
    idx = np.arange(k)
    H[..., idx, :, idx, :] += np.moveaxis(diag, -3, 0)  # advanced indices go first
    return H.reshape(H.shape[:-4] + (k * d, k * d))


def _diag_blocks(f, W, Y, A, nx, ny, phi):
    """``sum_j A_ij d^2 kappa(w_i, y_j)/du^2`` for every i: (..., k, d, d)."""
    c, p1, p2, p3, p4 = (t * A for t in _block_terms(f, "u", nx, ny, phi))
    d = W.shape[-1]
    out = np.einsum("...i,lm->...ilm", c.sum(-1), np.eye(d))
    out = out + np.einsum("...i,...il,...im->...ilm", p1.sum(-1), W, W)
    out = out + np.einsum("...il,...im->...ilm", W, p2 @ Y)
    out = out + np.einsum("...il,...im->...ilm", p3 @ Y, W)
    out = out + np.einsum("...ij,...jl,...jm->...ilm", p4, Y, Y)
    return out


class Network:
    """The call contract of issue 20's ``fully_connected(d, k, m, train_output=False)``."""

    def __init__(self, d: int, k: int, m: int):
        self.d, self.k, self.m = d, k, m

    loss = staticmethod(loss)
    grad = staticmethod(grad)
    hessian = staticmethod(hessian)


def network(d: int, k: int, m: int, engine: str = "auto"):
    """The fully connected ReLU network with fixed output weights: issue 20's engine when it is
    installed (``engine="auto"`` or ``"twolayer"``), else (or with ``"standin"``) this module's
    stand-in.  Returns ``(net, name)``."""
    if engine not in ("auto", "twolayer", "standin"):
        raise ValueError(f"engine must be 'auto', 'twolayer' or 'standin', got {engine!r}")
    if engine != "standin":
        try:
            from derivations import twolayer
        except ImportError as exc:
            if engine == "twolayer":
                raise ValueError(f"engine 'twolayer' is not available ({exc})") from None
        else:
            return twolayer.fully_connected(d, k, m, activation="relu",
                                            train_output=False), "twolayer"
    return Network(d, k, m), "standin"
