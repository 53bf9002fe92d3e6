"""Gamma functions of integer-valued arguments (dimensions).  In: the arguments.  Out:
``gamma_ratio`` (direct below 170, mpmath above) and ``mp_constant`` (an mpmath constant
rounded once).

Part of the hand-written NumPy runtime of the emitted code (:mod:`derivations.runtime`)."""
from __future__ import annotations

import math

import numpy


_GAMMA_DIRECT = 170.0  # math.gamma overflows float64 above 171.62; ratios of values below this are direct


def _gamma_ratio_scalar(a, b):
    if a < _GAMMA_DIRECT and b < _GAMMA_DIRECT:
        return math.gamma(a) / math.gamma(b)
    import mpmath  # a main dependency; imported only for large arguments

    with mpmath.workdps(30):
        return float(mpmath.gammaprod([mpmath.mpf(a)], [mpmath.mpf(b)]))


def gamma_ratio(a, b):
    """``Gamma(a) / Gamma(b)`` for real ``a, b > 0`` (issue 23 item 2).

    ``math.gamma`` overflows from 171.62 on, so ``math.gamma(a) / math.gamma(b)`` raised
    OverflowError for p >= 343 in ``Gamma((p+1)/2)/Gamma(p/2)``, and ``exp(lgamma(a) -
    lgamma(b))`` loses ``log10(lgamma(a))`` digits to cancellation (1.2e-12 relative at
    p = 10^4).  Below 170 both Gammas are computed directly (a few ulp); above, mpmath's
    ``gammaprod`` at 30 digits, rounded once.  Arrays are evaluated element by element.
    """
    if numpy.ndim(a) == 0 and numpy.ndim(b) == 0:
        return _gamma_ratio_scalar(float(a), float(b))
    f = numpy.frompyfunc(lambda u, v: _gamma_ratio_scalar(float(u), float(v)), 2, 1)
    return f(a, b).astype(numpy.float64)


def mp_constant(fn, *integers):
    """``float(fn(mpmath, *integers))`` evaluated at ``30 + digits`` decimal digits, ``digits``
    the length of the largest integer argument: for closed forms in Gamma functions of
    dimensions whose float64 evaluation cancels (``c_2 = 1 - sqrt(2/p) Gamma((p+1)/2)/Gamma(p/2)
    ~ 1/(4p)`` loses ``log10(4p)`` digits; ``rate_c = -log(1 - c_2)/4`` likewise).  The
    working precision covers the cancellation (at most ``log10(4p)`` digits), so the float64
    result is the correctly rounded value up to one rounding."""
    import mpmath

    digits = max([len(str(abs(int(k)))) for k in integers] + [1])
    with mpmath.workdps(30 + 2 * digits):
        return float(fn(mpmath, *[mpmath.mpf(int(k)) for k in integers]))
