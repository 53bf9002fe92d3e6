"""Normalization-free ResNet (Zhang et al. supplement, seed 003; spec normalization.md C0-C17).

* :mod:`.backprop` -- gradients dL/dW^(1), dL/dW^(h), dL/dalpha_h, dL/da (derived, emitted);
* :mod:`.lemmas` -- the supplement's constants and bounds: infinite-width Gram entry (C4),
  Lemma 5 moments and C_2 (C9, C10), the layer-norm lower bound (C12), the Lemma 4
  recursion solved by ``rsolve`` (C13).
"""
from . import backprop, lemmas, lemma2  # noqa: F401  (register the formulas)
from .backprop import *  # noqa: F401,F403
from .backprop import (E_dldu, E_fwd1, E_fwdh, E_out, E_skip, E_jw, E_gW1, E_gW,  # noqa: F401
                       E_galpha, E_ga, E_transpose, E_ascending, PROOF_SIZES, coefficients,
                       prove_matrix_form, paper_grad_W, paper_grad_alpha, local_derivatives)
