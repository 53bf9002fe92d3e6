"""The circulant family's compiled template: the per-frequency spectra of ``grad``, ``grad_p``
and ``cn_grad_w`` as one Numba loop between NumPy's FFTs (issue 25 item 2).

In: the printed per-frequency expression of each function (the same ``print_block`` lines the
NumPy template prints, :func:`.circulant.spectrum_pieces`).  Out: :func:`module_source`, the
source of ``derivations/generated/circulant_fft_numba.py`` (``nnderive build``; this module
registers itself as a compiled backend's printer in :mod:`derivations.codegen.backends`).

Measured before writing it (docs/guide.md, "Backends"): the FFTs are 7-11% of these functions;
the rest is the printed expression evaluated by NumPy over ~40 batch-sized temporaries.  Here
the lines that depend on the spectra run in one loop over (batch, layer, frequency), each entry
read once and the complex spectrum written once; the lines on the sizes ``n``, ``d`` alone run
in Python in the wrapper exactly as in the NumPy function, so both backends do the same
operations in the same order.  The FFTs, the exclusive products and the argument checks stay
NumPy's (the public function calls this after them).
"""
from __future__ import annotations

import ast
import hashlib
import sys
import textwrap

from ... import registry
from .. import backends
from ..module import RUNTIME

#: the generated module is ``circulant_fft_numba.py`` (``circulant_numba.py`` is the per-row
#: printer's); the NumPy functions ask ``_rt.compiled("circulant_fft", "<name>_spectrum")``
NAME = "fft_numba"
FAMILY = "circulant"
FUNCTIONS = ("grad", "grad_p", "cn_grad_w")
#: the arrays of the spectrum lines (everything else in them is a size or a CSE name)
ARRAYS = ("A_re", "A_im", "Q_re", "Q_im", "X_re", "X_im", "Y_re", "Y_im", "G_re", "G_im")


def _names(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


def split(lines: list[str]) -> tuple[list[str], list[str], list[str], tuple[str, str]]:
    """``(scalar lines, array lines, arrays used, (re, im))`` of the printed spectrum lines
    ``_tN = ...`` and the last ``_S = (re) + 1j * (im)``."""
    *cse, last = lines
    target, rhs = last.split(" = ", 1)
    call = ast.parse(rhs, mode="eval").body  # (re) + 1j * (im)
    if not (isinstance(call, ast.BinOp) and isinstance(call.op, ast.Add)
            and isinstance(call.right, ast.BinOp) and isinstance(call.right.op, ast.Mult)
            and isinstance(call.right.left, ast.Constant) and call.right.left.value == 1j):
        raise NotImplementedError(f"circulant_numba: unexpected spectrum line {last[:60]}")
    re, im = ast.unparse(call.left), ast.unparse(call.right.right)
    scalar, array, dep = [], [], set(ARRAYS)
    for ln in cse:
        name, expr = ln.split(" = ", 1)
        if _names(expr) & dep:
            dep.add(name)
            if any(isinstance(n, (ast.Call, ast.Attribute)) for n in ast.walk(ast.parse(expr))):
                raise NotImplementedError(f"circulant_numba: a call in an array line {ln[:60]}")
            array.append(ln)
        else:
            scalar.append(ln)
    used = sorted(set(ARRAYS) & _names("\n".join(array + [re, im])), key=ARRAYS.index)
    return scalar, array, used, (re, im)


def _function(name: str, lines: list[str]) -> str:
    scalar, array, used, (re, im) = split(lines)
    consts = sorted(_names("\n".join(array + [re, im])) - set(used)
                    - {ln.split(" = ", 1)[0] for ln in array})
    params = ", ".join(used)
    passed = ", ".join(f"float({c})" for c in consts)  # (n**d: a Python int, beyond int64 too)
    loads = [f"{a} = {a}_3[_b if {a}_3.shape[0] > 1 else 0, _j if {a}_3.shape[1] > 1 else 0, _k]"
             for a in used]
    body = loads + array + [f"_o[_b, _j, _k] = complex({re}, {im})"]
    kernel = (f"@_nb.jit\n"
              f"def _{name}_kernel(_o, {', '.join(a + '_3' for a in used)}{', ' if consts else ''}"
              f"{', '.join(consts)}):\n"
              f'    """The spectrum of :func:`derivations.generated.circulant.{name}` per (batch row,\n'
              f'    layer, frequency): the printed lines of its NumPy function, one entry at a time."""\n'
              f"    for _b in range(_o.shape[0]):\n"
              f"        for _j in range(_o.shape[1]):\n"
              f"            for _k in range(_o.shape[2]):\n"
              + textwrap.indent("\n".join(body), "                ") + "\n")
    wrapper = (f"def {name}_spectrum({params}, n, d):\n"
               f'    """The spectrum ``_S`` of :func:`derivations.generated.circulant.{name}` from its\n'
               f"    arrays (broadcasting over the batch, layer and frequency axes) and the sizes\n"
               f'    ``n``, ``d``, compiled (the lines on ``n``, ``d`` alone in Python, as in NumPy)."""\n'
               + textwrap.indent("\n".join(scalar), "    ") + ("\n" if scalar else "")
               + f"    return _run(_{name}_kernel, ({', '.join(used)},), ({passed}{',' if consts else ''}))\n")
    return kernel + "\n\n" + wrapper


_RUN = '''\
def _run(kernel, arrays, consts):
    """``kernel`` over the broadcast shape ``batch + (d or 1, F)`` of ``arrays``: each as a 3-D
    array (its batch axes flattened; a batch it shares whole or not at all stays a view, a
    partly broadcast one is written out); returns the complex spectrum of that shape."""
    full = numpy.broadcast_shapes(*(a.shape for a in arrays))
    batch = full[:-2]
    nb = math.prod(batch)
    three = []
    for a in arrays:
        own = a.shape[:-2]
        if math.prod(own) == 1:
            three.append(a.reshape((1,) + a.shape[-2:]))
        elif tuple(own) == tuple(batch):
            three.append(a.reshape((nb,) + a.shape[-2:]))
        else:
            three.append(numpy.broadcast_to(a, batch + a.shape[-2:]).reshape((nb,) + a.shape[-2:]))
    out = numpy.empty((nb,) + full[-2:], complex)
    kernel(out, *three, *consts)
    return out.reshape(full)
'''


def spectrum_names(q: str) -> str:
    return f"{q}_spectrum"


def _runtime_hash() -> str:
    return hashlib.sha256((RUNTIME / "numba.py").read_bytes()).hexdigest()[:16]


def module_source(family: str) -> str:
    """The generated ``circulant_fft_numba.py`` ("" for any other family)."""
    if family != FAMILY:
        return ""
    from .circulant import spectrum_pieces

    parts = [_function(q, spectrum_pieces(registry.get(f"{FAMILY}.{q}"))) for q in FUNCTIONS]
    header = (
        "# Generated by `nnderive build` (derivations/codegen/templates/circulant_numba.py) from the\n"
        "# SymPy derivations in derivations/circulant.py.  Do not edit: rebuild with `nnderive build`.\n"
        f'"""Compiled (Numba) per-frequency spectra of the ``circulant`` family: {", ".join(FUNCTIONS)}.\n\n'
        "One loop over (batch row, layer, frequency) between NumPy's FFTs\n"
        "(derivations/codegen/templates/circulant_numba.py).  Imported only when the compiled backend is\n"
        "in use.\n"
        '"""\n'
        "import math\n\n"
        "import numpy\n\n"
        "from derivations import runtime as _rt  # noqa: F401  (the printed size-only lines may call it)\n"
        "from derivations.runtime import numba as _nb\n\n"
        "# Numba's on-disk cache is keyed on this file only: the hash below changes it (and so\n"
        "# recompiles the kernels) whenever the compiled runtime (its jit options) changes.\n"
        f"_RUNTIME_SHA256 = {_runtime_hash()!r}\n"
        f"__all__ = {[spectrum_names(q) for q in FUNCTIONS]!r}\n"
    )
    return header + "\n\n" + "\n\n".join(p.rstrip("\n") + "\n" for p in [_RUN] + parts)


def dispatch_lines(formula, name, fused, core) -> list[str]:
    """None: the circulant template prints its own dispatch (:func:`.circulant.emit`)."""
    return []


def reset(family: str) -> None:
    """Nothing to forget: :func:`module_source` prints from the registry each time."""


backends.register(sys.modules[__name__])
