"""The JAX side of ``nnderive bench twolayer`` (issue 20 item 7): the same closed-form ReLU
loss written in ``jax.numpy``, jit-compiled, differentiated by ``jax.grad`` / ``jax.hessian``.

Works with the ``bench`` extra's pin (jax 0.4.30, for neural-tangents) and with current jax
(tested with 0.10.2): only ``jax.jit``, ``jax.grad``, ``jax.hessian``, ``jax.numpy`` and the
``jax_enable_x64`` flag are used.  :func:`available` is None when jax imports, else the reason.

The loss is the closed form of the engine's ReLU kernel (Cho & Saul's arc-cosine kernel of
degree 1, the same expression ``derivations.twolayer`` derives),
``kappa(u, v) = |u||v| (sin phi + (pi - phi) cos phi)/(2 pi)``, with the diagonal
``kappa(u, u) = |u|^2/2`` written separately: ``arccos`` has an infinite derivative at
``cos = 1``, so the diagonal's ``cos`` is replaced by 0 inside a ``where`` (the usual double-
``where`` guard) -- without it ``jax.grad`` returns NaN.
"""
from __future__ import annotations

import math


def available() -> str | None:
    try:
        import jax  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure skips the rows
        return f"jax not importable ({type(exc).__name__}: {exc}); install the bench extra"
    return None


def functions(k: int, m: int, d: int):
    """``(grad, hessian, loss)``: jit-compiled functions of the flat first-layer weights
    ``w (k d,)`` and the teacher ``V (m, d)`` (output weights 1, ReLU)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def kernel(X, Y, nx, ny, same):
        c = (X @ Y.T) / (nx[:, None] * ny[None, :])
        c = jnp.clip(c, -1.0, 1.0)
        if same:
            eye = jnp.eye(X.shape[0], dtype=bool)
            c = jnp.where(eye, 0.0, c)
        phi = jnp.arccos(c)
        s = jnp.sqrt(jnp.maximum(1.0 - c * c, 0.0))
        K = nx[:, None] * ny[None, :] * (s + (math.pi - phi) * c) / (2 * math.pi)
        if same:
            K = jnp.where(eye, 0.5 * nx[:, None] ** 2, K)
        return K

    def loss(w, V):
        W = w.reshape(k, d)
        nw = jnp.sqrt(jnp.sum(W * W, axis=1))
        nv = jnp.sqrt(jnp.sum(V * V, axis=1))
        return 0.5 * (jnp.sum(kernel(W, W, nw, nw, True)) + jnp.sum(kernel(V, V, nv, nv, True))) \
            - jnp.sum(kernel(W, V, nw, nv, False))

    return jax.jit(jax.grad(loss)), jax.jit(jax.hessian(loss)), jax.jit(loss)


def block(x):
    """Wait for a JAX result (asynchronous dispatch) and return it as NumPy."""
    import numpy as np

    return np.asarray(x.block_until_ready() if hasattr(x, "block_until_ready") else x)


def hessian_chunked(k: int, m: int, d: int, chunk: int = 100):
    """``jax.hessian``'s forward-over-reverse product, ``chunk`` basis tangents at a time
    (``jax.lax.map`` over chunks of ``jax.vmap(jax.jvp(grad))``), jit-compiled.  For k = d = 100
    ``jax.hessian`` in one call vmaps 10^4 tangents through (100, 100) intermediates (~20 GB
    on this machine: it does not fit); this is the same computation in bounded memory."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    grad, _, _ = functions(k, m, d)
    P = k * d
    if P % chunk:
        raise ValueError(f"chunk must divide k d = {P}, got {chunk}")

    def hess(w, V):
        def rows(start):
            T = (jnp.arange(P)[None, :] == (start + jnp.arange(chunk))[:, None]).astype(w.dtype)
            return jax.vmap(lambda t: jax.jvp(lambda x: grad(x, V), (w,), (t,))[1])(T)

        return jax.lax.map(rows, jnp.arange(0, P, chunk)).reshape(P, P)

    return jax.jit(hess)
