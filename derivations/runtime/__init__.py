"""Run-time helpers for the emitted code: input validation and hardened invariants (NumPy only).

Hand-written (not generated).  Every emitted function in ``derivations.generated`` converts and validates
its inputs here, computes the invariants (norms, inner products, sums, angle terms) here, and
broadcasts its result here, so that all emitted functions share one set of error messages and
one numerically careful angle.

Fast path and careful path.  The common case (moderate magnitudes, angles away from 0 and pi)
runs plain vectorized NumPy.  Two things switch on a careful path, for the rows that need it:

* **near-parallel rows** (``|cos phi| > NEAR``): the angle terms and the rejection of one vector
  from the other are recomputed in double-double arithmetic (:func:`angle_terms`,
  :func:`rejection`), so ``phi``, ``pi - phi``, ``sin phi`` and the rejection keep full relative
  accuracy down to ``phi = 0`` and up to ``phi = pi``;
* **extreme magnitudes** (a row whose norm leaves ``[SAFE_LO, SAFE_HI]``): :func:`norm` returns
  an :class:`XF` (an array with its own exponent), and the emitted expression, unchanged, is then
  evaluated in extended range; :func:`finish` rounds it back to float64 (raising a ``ValueError``
  naming the argument when the true result is beyond float64).

One module per concern (each says what goes in and what comes out):

================  ===========================================================================
``limits``        the switch points of the careful paths (``NEAR``, ``SAFE_LO``/``SAFE_HI``)
``xf``            extended-range arrays (:class:`XF`)
``checks``        argument conversion and validation (``vector``, ``batch_shape``, ``require``)
``rows``          row products: ``dot``, ``rowdot``, ``norm``, ``norms_and_dot``, ``total``
``assembly``      a result from coefficients and bases (``combine``, ``outer``, ``filled``)
``doubledouble``  double-double arithmetic for near-parallel rows
``differences``   ``a x - b y`` without cancellation (``difference``, ``sqnorm_difference``)
``circulant``     the circulant loss near its target, refined in double-double
``angles``        angle terms, rejections, ``sine``, the near-edge Taylor patches
``blocking``      large batches block by block (``blocks``, ``by_blocks``) and ``finish``
``special``       Gamma ratios of dimensions (``gamma_ratio``, ``mp_constant``)
================  ===========================================================================

The emitted modules import this package as ``_rt`` and see one namespace: every name of every
part is re-exported here, and setting a name here (a test's ``monkeypatch.setattr(_rt,
"BLOCK_ROWS", ...)``) sets it in every part that binds it, as when the runtime was one module.
"""
from __future__ import annotations

import math  # noqa: F401  (emitted code calls _rt.math.*)
import sys
import types

import numpy  # noqa: F401

from . import angles, assembly, blocking, checks, circulant, differences, doubledouble, limits, rows, special, xf
from .limits import (_KAHAN_THRESHOLD, NEAR, PI_HI, PI_LO, SAFE_HI, _SAFE_HI, SAFE_LO, _SAFE_LO, SINE_NEAR)
from .xf import _EXTREME, _note_extreme, _open_extreme, _pow2_scale, _scaled, XF, _XF_COMPARISONS, _ZERO_E
from .checks import (_array, array, batch_shape, _check_finite, finite, InputError, integer, _is_plain, _looks_finite,
                     nonzero, _nonzero_error, _outside, _PI32, positive, _reject_kind, require,
                     same_length, scalar, Shape, _shape, _subclass_error, vector, within)
from .rows import (_BLAS_CHUNK, check_nonzero, _column_sums, dot, _DOT_CHUNK, _in_range, _matvec, norm,
                   norms_and_dot, _release, _row_products, rowdot, _SCRATCH, _scratch, _SHORT,
                   _short_rows, sqnorm, total, _vecdot)
from .assembly import (add_diagonal, _add_scaled, _BLOCK, _bounded, buffers, COEFF_BOUND, col, col2, combine, _failure,
                       filled, gamma, _gamma1, _gamma_array, outer, _overflow, set_diagonal)
from .doubledouble import (_dd_div, _dd_dot, _near_terms, _rejection_dd, _SPLIT, _split, _two_prod, _two_sum)
from .differences import (cosine_or_zero, _dd_norm, _difference, difference, _difference_rows, _difference_scaled,
                          NEAR_DIFF, _plain, product_minus, _refine_difference,
                          sqnorm_difference)
from .circulant import (_dd_circulant, _dd_norm_from_square, _dd_output, _dd_tree_sum, DENSE_BUDGET, NEAR_FIT,
                        refine_circulant_loss)
from .angles import (angle, angle_terms, _beyond, ldexp, _near_rejection, _patch_rows, pi_minus, _poly, _ratio,
                     _rejection, rejection, rejection_pair, sine, taylor, taylor_pi, taylor_zero)
from .blocking import _apart, _BLOCK_ENTRIES, BLOCK_ROWS, blocks, by_blocks, by_rows, _check_out, finish, _ranks
from .special import _GAMMA_DIRECT, gamma_ratio, _gamma_ratio_scalar, mp_constant

from .backend import compiled  # noqa: F401  (the emitted functions' dispatch)

_PARTS = (limits, xf, checks, rows, assembly, doubledouble, differences, circulant, angles, blocking,
          special)  # in the order they import each other (standalone code concatenates them so)


class _Runtime(types.ModuleType):
    """The runtime package as one namespace: an attribute set on it is set in every part that
    binds the name (the parts import what they use from each other)."""

    def __setattr__(self, name, value):
        for part in _PARTS:
            if name in vars(part):
                setattr(part, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Runtime
