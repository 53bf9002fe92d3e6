"""Emit NumPy source for registered formulas (``nnderive build``).

One generated module per family, ``derivations/generated/<family>.py``, one function per formula,
named after the quantity.  The default emitter prints a formula written in invariant coordinates
(:mod:`derivations.vectors`):

1. convert and validate every argument (``_rt.vector`` / ``scalar`` / ``integer``; equal
   lengths within a space; nonzero where an angle or a normalization needs it; ``Formula.validate``);
2. compute the invariants the expression uses (norms, inner products, sums, dimensions, angles);
3. print the coefficients of the basis symbols with SymPy's ``cse`` and ``NumPyPrinter``;
4. assemble ``sum coefficient * basis`` and broadcast to the batch shape.

The generated code imports NumPy and the hand-written runtime only.  Formulas whose structure is
not an invariant expression (piecewise constructions in any dimension) supply their own
``emitter`` (a template in :mod:`derivations.codegen.templates`) and may use :func:`print_block`
for their SymPy pieces.

The stages, one module each, in the order the data flows (each module's docstring says what goes
in and what comes out):

=================  ==========================================================================
``printer``        SymPy -> NumPy text (:func:`print_expr`, :func:`print_block`)
``angles``         angle rewrites, near-edge Taylor series (``_edge_groups``), rejections
``differences``    differences ``A x - B y``, completed squares, folded constants
``plan``           one formula's ``[(coefficient, basis)]`` after those rewrites (``_Plan``)
``arguments``      argument conversion and domain checks, docstrings
``invariants``     the norms, inner products, sums, angle terms a body computes
``body``           plans -> a function body (``_body``, in named steps)
``blocks``         the split into checks and a core run block by block on large batches
``cleanup``        dead code and ``del`` of temporaries; unused template lines
``functions``      one emitted (or fused value-and-gradients) function
``module``         a family's module, ``build``, in-memory and standalone compilation
``templates/``     the families' own emitters (circulant, kernels, filter, resnet, saddle, balance)
=================  ==========================================================================

Every name importable from the single module ``derivations/codegen.py`` before it became this
package is re-exported here.
"""
from __future__ import annotations

# (re-exports: every name callers import from derivations.codegen)
# flake8: noqa: F401
from .printer import _Printer, _dim_code, _is_const, _quote, print_block, print_expr
from .angles import (Angle, Rejection, _dot_to_cos, _edge_groups, _edge_series, _find_angles, _generic,
                     _order, _projection_angles, _rejections, _rewrite_angle, _t, angle_rules)
from .differences import (_SQNORM_DIFFS, Difference, _angle_difference, _common_constant,
                          _complete_squares, _differences, _fold_constants, _horner, _monomial_ratio,
                          _sqnorm_differences, _square_root_monomial, _vector_differences)
from .plan import _diagonal_whole, _is_ones_outer, _Plan
from .arguments import (_RANGE_IDIOM, _argument_lines, _integer_line, _validate_lines, docstring,
                        domain_lines)
from .invariants import _Invariants, _one_pass, _refine_scales, _scale_code
from .body import _basis_code, _body, _inline_groups, _is_simple, _log_bound, _vector_code, _wrap
from .blocks import _BUSY_OPS, _CORE, _block_lines, _split, core_name
from .cleanup import _dead_code, _drop_unused
from .functions import (_with_dispatch, emit_function, emit_fused, function_source, fused, fused_groups,
                        fused_name)
from .module import (GENERATED_DIR, RUNTIME, _extra_fused, _NumPyOnly, build, compile_function,
                     module_source, standalone_source)

from .. import registry as _registry

_registry.set_standalone_printer(standalone_source)  # Formula.code(): the registry never imports us

from . import numba as _numba_printer  # noqa: E402,F401  (registers the compiled backend's printer)
from .templates import saddle_numba as _saddle_numba  # noqa: E402,F401  (the octopus's compiled template)
from .templates import circulant_numba as _circulant_numba  # noqa: E402,F401  (circulant's spectra)
from .templates import kernels_numba as _kernels_numba  # noqa: E402,F401  (kernels' Grams)
# (jaxtpl) the JAX templates: the octopus and the kernels Grams (generated *_jax.py; no JAX imported)
from .templates import saddle_jax as _saddle_jax  # noqa: E402,F401
from .templates import kernels_gram_jax as _kernels_gram_jax  # noqa: E402,F401

__all__ = ["print_expr", "print_block", "angle_rules", "Angle", "Rejection", "Difference",
           "domain_lines", "docstring", "core_name", "emit_function", "emit_fused", "fused",
           "fused_groups", "fused_name", "module_source", "build", "compile_function",
           "standalone_source", "GENERATED_DIR", "RUNTIME"]
