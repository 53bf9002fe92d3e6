"""Family templates: the emitters of formulas whose structure is not an invariant expression.

A family module holds derivations only; a formula that needs its own emitter names it at
registration as ``emitter="<module>.<function>"``, a function of a module of this package
(``"circulant.emit"`` is :func:`derivations.codegen.templates.circulant.emit`).  A template
takes the :class:`~derivations.registry.Formula` and returns the emitted function's source,
printing the formula's SymPy pieces with :func:`derivations.codegen.print_block` (so a mutant of
``formula.expr`` reaches the code).  A template module may also define
``fused_functions(family) -> [(name, source)]``: extra functions of the family's module.

=============  =================================================================================
``balance``    matrix-factorization products (``emit_mf_step``, ``emit_mf_hessian``,
               ``emit_at_target``)
``circulant``  FFT templates around the printed per-frequency expressions; ``loss_and_grads``;
               Theorem-1 constants (``emit_constant``)
``filter``     the plane matrices ``A(w, w*)`` in the basis ``e_w, e_perp`` (``emit_plane_matrix``)
``kernels``    Gram matrices over all pairs of rows (``gram_emitter``), ``erf_emitter``
``resnet``     the ResNet backpropagation template (``emit``)
``saddle``     the octopus regions and interfaces (``emit``)
=============  =================================================================================

Three modules are compiled templates, printers of the Numba backend registered in
:mod:`derivations.codegen.backends` (``module_source(family)`` -> a generated module):
``saddle_numba`` (the octopus as one loop over points, ``generated/saddle_numba.py``),
``circulant_numba`` (the per-frequency spectra between the FFTs,
``generated/circulant_fft_numba.py``) and ``kernels_numba`` (the Gram matrices in tiles of rows
around BLAS's product and NumPy's arccos, ``generated/kernels_gram_numba.py``).  Each prints the
same SymPy pieces as its NumPy template.

The lookup is by name (:func:`resolve`), so neither a family module nor the registry imports
the emitter: the templates import the families' derivations, not the other way round.
"""
from __future__ import annotations

import importlib
from typing import Callable


def resolve(emitter) -> Callable:
    """The template function an ``emitter`` names (``"circulant.emit"``); a callable is its own
    template (a family's emitter passed directly)."""
    if callable(emitter):
        return emitter
    module, _, name = emitter.rpartition(".")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def module_of(emitter):
    """The module defining the template ``emitter`` names (for its ``fused_functions`` hook)."""
    import sys

    if callable(emitter):
        return sys.modules.get(emitter.__module__)
    return importlib.import_module(f"{__name__}.{emitter.rpartition('.')[0]}")
