"""nnderive's symbolic side: model definitions -> SymPy derivations -> closed forms.

Public API (SymPy is imported only when these are first used, so that the emitted code in
``derivations.generated`` can be imported with NumPy alone)::

    import derivations as D
    D.names()                       # every registered formula
    f = D.get("cnn.population_loss")
    f.expr, f.paper, f.latex()      # derived closed form, printed statement, LaTeX
    f.numpy(v, a, w_star, a_star)   # the emitted NumPy function
    D.set_backend("numpy")          # or "numba" / "auto" (default; env NNDERIVE_BACKEND)
"""

__all__ = ["names", "get", "families", "Formula", "Arg", "register", "set_backend",
           "get_backend", "using_backend"]


def __getattr__(name):
    if name in ("set_backend", "get_backend", "using_backend"):  # (no SymPy, no Numba imported)
        from .generated import _backend

        return getattr(_backend, "using" if name == "using_backend" else name)
    if name in __all__:
        from . import codegen, registry  # noqa: F401  (codegen installs Formula.code's printer)

        return getattr(registry, name)
    raise AttributeError(f"module 'derivations' has no attribute {name!r}")
