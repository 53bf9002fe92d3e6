"""nnderive's symbolic side: model definitions -> SymPy derivations -> closed forms.

Public API (SymPy is imported only when these are first used, so that the emitted code in
``derivations.generated`` can be imported with NumPy alone)::

    import derivations as D
    D.names()                       # every registered formula
    f = D.get("cnn.population_loss")
    f.expr, f.paper, f.latex()      # derived closed form, printed statement, LaTeX
    f.numpy(v, a, w_star, a_star)   # the emitted NumPy function
    D.set_backend("numpy")          # or "numba" / "jax" / "auto" (default; env NNDERIVE_BACKEND)
    D.jax_functions("cnn")          # the emitted JAX functions (jittable, for jax.vmap / jax.grad)
"""

__all__ = ["names", "get", "families", "Formula", "Arg", "register", "set_backend",
           "get_backend", "using_backend", "jax_functions"]


def jax_functions(family: str):
    """The module of ``family``'s emitted JAX functions (``derivations.generated.<family>_jax``):
    one-point, jittable functions to compose with ``jax.vmap`` / ``jax.grad`` / ``jax.jit``
    (see docs/guide.md, "The JAX backend").  Imports JAX and turns ``jax_enable_x64`` on."""
    import importlib

    if not isinstance(family, str):
        raise TypeError(f"family must be a str, got {type(family).__name__}")
    try:
        return importlib.import_module(f"derivations.generated.{family}_jax")
    except ModuleNotFoundError as exc:
        if exc.name in ("jax", "jaxlib"):
            raise ImportError("jax_functions needs JAX (pip install 'nnderive[jax]')") from None
        raise ValueError(f"family has no JAX functions: {family!r} (the families with them: "
                         "cnn, filter, kernels, wn, gaussian, resnet, circulant, saddle)") from None


def __getattr__(name):
    if name in ("set_backend", "get_backend", "using_backend"):  # (no SymPy, no Numba imported)
        from .runtime import backend as _backend

        return getattr(_backend, "using" if name == "using_backend" else name)
    if name in __all__:
        from . import codegen, registry  # noqa: F401  (codegen installs Formula.code's printer)

        return getattr(registry, name)
    raise AttributeError(f"module 'derivations' has no attribute {name!r}")
