"""The switch points of the careful paths: ``NEAR`` (near-parallel rows), ``SAFE_LO`` /
``SAFE_HI`` (extended range), ``PI_HI + PI_LO``, ``SINE_NEAR``.  Constants only.

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import math


_KAHAN_THRESHOLD = 0.9  # |cos phi| above which arccos loses digits (old helper `angle`)
NEAR = 0.9999  # |cos phi| above which angle terms and rejections use double-double arithmetic
SAFE_LO, SAFE_HI = 1e-60, 1e60  # norms outside this range switch to extended-range arithmetic
_SAFE_LO, _SAFE_HI = 1e-280, 1e280  # squared norms: recomputed scaled (old helper `angle`)
PI_HI, PI_LO = math.pi, 1.2246467991473532e-16  # pi = PI_HI + PI_LO to ~1e-32
SINE_NEAR = 0.9  # |cos phi| above which sine() calls numpy.sin (see there)
