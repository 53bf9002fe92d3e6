"""Saddle-point construction of thesis ch. 7 (seed 004, Du et al., "Gradient descent can take
exponential time to escape saddle points").

Modules, in the order of the derivation:

* :mod:`.connectors` -- Theorem 7.4 (cubic Hermite interpolant) and Lemma 7.4: the spline
  connectors ``p = g1'``, ``g1``, ``g2``, ``g`` and the constant ``nu``, each *solved* by SymPy
  from its boundary conditions (the conditions themselves are read off the quadratic pieces they
  join);
* :mod:`.octopus` -- the tube function (7.6)-(7.10) and its mirrored "octopus" (7.12)-(7.18) in
  any dimension, with gradient and Hessian obtained by differentiating the tube template;
* :mod:`.warmup` -- the warm-up examples of sec. 7.3 (thin band, far away): GD escape times
  solved from the GD map on their pieces;
* :mod:`.rates` -- the per-saddle growth factor of GD escape times, solved from the linearized
  escape condition (Section 7.5 and the key observation (7.3)).
"""
from . import connectors, corollaries, octopus, rates, warmup  # noqa: F401  (registration side effects)
