"""Which backend the emitted functions run on: NumPy, or the compiled (Numba) kernels.

Hand-written (not generated).  Every public function of ``derivations.generated.<family>``
converts and checks its arguments with the NumPy runtime; a function that has a compiled
version (``derivations/generated/<family>_numba.py``, emitted by
:mod:`derivations.codegen.numba`) then asks :func:`compiled` for it and calls it, else goes on
in NumPy.  The choice:

* ``"auto"`` (default): the compiled kernels when Numba is installed, else NumPy (Numba is
  imported by the first call on a batch of at least ``AUTO_ROWS`` rows: until then smaller
  calls stay on NumPy, so a script evaluating a few points does not pay the import);
* ``"numba"``: the compiled kernels (an ``ImportError`` on the first call if Numba is missing);
* ``"numpy"``: the NumPy code only;
* ``"jax"``: the emitted JAX functions (``derivations/generated/<family>_jax.py``, from
  :mod:`derivations.codegen.jax`), jit-compiled, results as NumPy arrays (``auto`` never picks it).

Set it with the environment variable ``NNDERIVE_BACKEND`` (read at import), with
:func:`set_backend` (``derivations.set_backend``), or for a block of code with
``with using("numpy"): ...``.  Importing the emitted code never imports Numba: the kernels'
module is imported on the first call that uses it.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import sys

BACKENDS = ("auto", "numpy", "numba", "jax")

_state = {"backend": None}
_cache: dict = {}  # (family, name) -> the compiled function, or None (no compiled version)


def _validate(name):
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {name!r}")
    return name


def get_backend() -> str:
    """The backend setting in use (``auto``, ``numpy`` or ``numba``)."""
    if _state["backend"] is None:
        _state["backend"] = _validate(os.environ.get("NNDERIVE_BACKEND", "auto").strip().lower() or "auto")
    return _state["backend"]


def set_backend(name: str) -> str:
    """Use backend ``name`` from now on; returns the previous setting."""
    old = get_backend()
    _state["backend"] = _validate(name)
    _active.clear()
    return old


@contextlib.contextmanager
def using(name: str):
    """``with using("numpy"): ...``: the backend inside the block (restored after it)."""
    old = set_backend(name)
    try:
        yield
    finally:
        set_backend(old)


def numba_available() -> bool:
    if "numba" not in _cache:
        _cache["numba"] = importlib.util.find_spec("numba") is not None
    return _cache["numba"]


def active() -> str:
    """The backend the calls actually use now: ``numba`` or ``numpy``."""
    b = get_backend()
    if b == "auto":
        return "numba" if numba_available() else "numpy"
    return b


_active: dict = {}


#: ``auto`` imports Numba (0.3-1 s, once) for the first batch of at least this many rows;
#: smaller calls stay on NumPy until then (a single point costs ~20-50 us there)
AUTO_ROWS = 256


#: functions ``auto`` leaves on NumPy although they compile: halfspace_second_moment is one
#: multiply (compiled 2.5x the NumPy time).  ``numba`` still runs it compiled.  (The pair
#: kernels h_inf, arccos1 and resnet.gram_H_inf, one arccos per row, were here while Numba's
#: scalar libm acos made them 1.4-1.5x slower than NumPy's SIMD arccos; the compiled backend's
#: hybrid pass now takes the arccos with NumPy per chunk of rows: 0.45-0.85x the NumPy time at
#: N = 1e5, p = 10, ``nnderive bench backend``, 2026-12-06.)
AUTO_NUMPY = frozenset({("gaussian", "halfspace_second_moment")})


def compiled(family: str, name: str, shape=()):
    """The compiled version of ``derivations.generated.<family>.<name>``, or None when the
    backend in use is NumPy or the function has none (``shape``: the call's batch shape)."""
    fn = _active.get((family, name), False)
    if fn is not False:
        return fn
    fn = None
    if get_backend() == "auto" and (family, name) in AUTO_NUMPY:
        _active[(family, name)] = None
        return None
    if (get_backend() == "auto" and "numba" not in sys.modules
            and math.prod(shape) < AUTO_ROWS):
        return None  # (not remembered: a later large batch imports Numba)
    if active() == "jax":
        fn = _jax(family, name)
    elif active() == "numba":
        key = (family, name)
        if key not in _cache:
            try:
                mod = importlib.import_module(f"derivations.generated.{family}_numba")
            except ModuleNotFoundError as exc:
                if exc.name == "numba":
                    raise ImportError("NNDERIVE_BACKEND/set_backend asks for 'numba', which is not "
                                      "installed (pip install 'nnderive[compiled]')") from None
                mod = None
            _cache[key] = getattr(mod, name, None)
        fn = _cache[key]
    _active[(family, name)] = fn
    return fn


def _jax(family, name):
    """The JAX runner of ``family.name`` (``<family>_jax.BACKEND``), or None."""
    key = ("jax", family, name)
    if key not in _cache:
        try:
            mod = importlib.import_module(f"derivations.generated.{family}_jax")
        except ModuleNotFoundError as exc:
            if exc.name in ("jax", "jaxlib"):
                raise ImportError("NNDERIVE_BACKEND/set_backend asks for 'jax', which is not "
                                  "installed (pip install 'nnderive[jax]')") from None
            mod = None
        _cache[key] = getattr(mod, "BACKEND", {}).get(name)
    return _cache[key]
