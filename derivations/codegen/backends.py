"""The compiled backends' hooks into the NumPy emitter (one printer per backend).

In: nothing at import.  A backend's printer module (:mod:`.numba`) calls :func:`register` with an
object that has ``dispatch_lines(formula, name, fused, core) -> list[str]`` (the lines the public
NumPy function runs after its argument checks to hand the rows to the compiled kernel; ``[]`` if
that backend does not compile ``core``), ``reset(family)`` and ``module_source(family) -> str``
(the backend's kernels module for ``family``, ``""`` if none).
Out: :func:`registered`, read by :mod:`.functions` (dispatch lines) and :mod:`.module` (build).

The emitter stages never import a backend's printer: the printer imports them and registers
itself here, so the dependency points one way (``derivations/codegen/__init__.py`` imports the
printers after the stages).
"""
from __future__ import annotations

_BACKENDS: list = []


def register(backend) -> None:
    """Add ``backend`` (once) to the printers the NumPy emitter consults."""
    if backend not in _BACKENDS:
        _BACKENDS.append(backend)


def registered() -> list:
    return list(_BACKENDS)

