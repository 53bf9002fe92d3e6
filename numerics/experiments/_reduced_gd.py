"""Table 5.1's reduced population GD (thesis ch. 5, Algorithm 1 in the state (phi, |v|, a.a*,
1^T a); spec E5-T1) as one compiled loop over the EMITTED one-step formulas.

The NumPy path (:func:`numerics.experiments.table5_1.simulate_k`) calls the four emitted
functions ``cnn.gd_next_angle``, ``gd_next_norm_v_sq``, ``gd_next_dot``, ``gd_next_sum`` on the
whole batch once per step (argument checks and a temporary per operation, every step).  Here
the same formulas, printed by ``nnderive build`` as per-row Numba functions
(``derivations/generated/cnn_numba.py``: ``<name>_row``, the arithmetic of the emitted NumPy
function line for line; derivations/codegen/numba.py), run inside one ``@njit`` loop: each run
iterates in registers.  The public functions' argument checks become one test per step (each
new state finite, phi in [0, pi], |v| > 0); a run that fails it is evaluated again by the NumPy
path, which raises the emitted function's own error.  Imported only when the compiled backend
is in use (it imports Numba).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from derivations.generated import cnn_numba as _c


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _loop(phi, nv, dot, sm, ws_norm, nas, sas, k, eta, iters, retire, done, bad):
    half_pi = math.pi / 2
    for i in range(phi.shape[0]):
        p, n, d, s = phi[i], nv[i], dot[i], sm[i]
        if not (0.0 <= p <= math.pi and 0.0 < n < math.inf and abs(d) < math.inf
                and abs(s) < math.inf and 0.0 <= nas[i] < math.inf and 0.0 < eta < math.inf
                and 0.0 < ws_norm < math.inf
                and abs(sas[i]) <= math.sqrt(k) * nas[i] * (1 + 1e-12)):
            # (the starting state and constants: the NumPy path's checks; it raises)
            bad[i] = True
            continue
        for t in range(iters):
            if retire and t % 50 == 0 and p < half_pi and d > 0:
                done[i] = True
                break
            p2 = _c.gd_next_angle_row(p, n, d, s, ws_norm, nas[i], sas[i], k, eta)
            n2 = math.sqrt(_c.gd_next_norm_v_sq_row(p, n, d, s, ws_norm, nas[i], sas[i], k, eta))
            d2 = _c.gd_next_dot_row(p, n, d, s, ws_norm, nas[i], sas[i], k, eta)
            s2 = _c.gd_next_sum_row(p, n, d, s, ws_norm, nas[i], sas[i], k, eta)
            if not (0.0 <= p2 <= math.pi and 0.0 < n2 < math.inf and abs(d2) < math.inf
                    and abs(s2) < math.inf):
                bad[i] = True
                break
            p, n, d, s = p2, n2, d2, s2
        phi[i], nv[i], dot[i], sm[i] = p, n, d, s


def reduced_gd(phi, nv, dot, sm, ws_norm, nas, sas, k, eta, iters, retire=True):
    """``iters`` steps of the reduced GD from each row's state; returns the final
    ``(phi, nv, dot, sm, done)`` (``done``: retired in the basin of the global minimum, checked
    every 50 steps as the NumPy loop does) and the mask of rows the compiled loop could not
    finish (to be evaluated by the NumPy path)."""
    phi, nv, dot, sm = (np.array(x, dtype=float) for x in (phi, nv, dot, sm))
    nas, sas = np.asarray(nas, dtype=float), np.asarray(sas, dtype=float)
    done = np.zeros(phi.shape, bool)
    bad = np.zeros(phi.shape, bool)
    _loop(phi, nv, dot, sm, float(ws_norm), nas, sas, int(k), float(eta), int(iters),
          bool(retire), done, bad)
    return (phi, nv, dot, sm, done), bad
