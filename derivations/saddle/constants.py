"""Definitions 7.1-7.4's constants of the construction (seed 004 thesis, sec. 7.2 and Theorem
7.3), as rigorous enclosures: ``B`` (sup |f| on D), ``ell`` (sup ||Hess f||_op, Def. 7.2),
``rho`` (sup of the third-derivative norm, the local Hessian-Lipschitz constant of Def. 7.3) and
the strict-saddle ``alpha`` (Def. 7.4).

The pieces are SymPy's: the Hessian and third derivatives of the spline piece ``g(u, v)`` (the
tube template of :mod:`.octopus` on its spline region, differentiated by SymPy); outside it the
pieces are quadratic (Hessian eigenvalues ``2L`` and ``-2 gamma``, third derivatives 0).  The
suprema over the spline block ``[tau, 2 tau] x [0, tau]`` (and over unit directions for rho) are
enclosed by branch and bound with ball arithmetic (python-flint's ``arb``, outward rounding): the
result is ``numpy.array([lo, hi])`` with the true supremum in ``[lo, hi]`` and ``hi - lo <= rtol hi``.

* ``ell``: ``max(2L, 2 gamma, sup |lambda|(Hess g))``; the 2x2 block's spectral radius is
  ``|a + c|/2 + sqrt((a - c)^2/4 + b^2)``.
* ``rho``: the norm of the symmetric 3-tensor ``T`` of third derivatives is ``max_{|x| = 1}
  |T(x, x, x)|`` (Banach), ``x = (cos t, sin t)``, ``t in [0, pi]``; ``rho`` is the Lipschitz
  constant of the Hessian along segments inside one region (D is not convex; the thesis's
  constant is for the Whitney extension, not derivable).
* ``B``: ``f`` on region ``i`` of D is a sum over independent coordinates (converged ``L(x_j -
  4 tau)^2 in [0, 4 L tau^2]``, tail ``L x_j^2 in [0, L tau^2]``) plus the piece in ``(u, v)``
  minus ``(i - 1) nu``, so ``sup |f|`` is the largest of the regions' exact sums.
* ``alpha`` (Def. 7.4): ``-lambda_min`` of the Hessian at the saddles, solved by SymPy
  (``2 gamma``), and Def. 7.5's threshold: a saddle is an eps-SOSP iff ``-2 gamma >= -sqrt(rho
  eps)``, i.e. ``eps >= 4 gamma^2 / rho`` (solved).
"""
from __future__ import annotations

import heapq
import math
from functools import lru_cache

import numpy as np
import sympy as sp

from . import connectors as C
from . import octopus as O


@lru_cache(maxsize=None)
def spline_piece() -> sp.Expr:
    """The tube template on the spline region (without the role sums and -k nu): g(u, v)."""
    F = O.tube_template()
    return sp.expand(F.subs({O.R_quad: 0, O.R_spline: 1, O.S_conv: 0, O.S_tail: 0, O.k: 0}))


@lru_cache(maxsize=None)
def quad_piece() -> sp.Expr:
    F = O.tube_template()
    return sp.expand(F.subs({O.R_quad: 1, O.R_spline: 0, O.S_conv: 0, O.S_tail: 0, O.k: 0}))


@lru_cache(maxsize=None)
def block_entries():
    """``(a, b, c)`` = ``(g_uu, g_uv, g_vv)`` and the third derivatives ``(g_uuu, g_uuv, g_uvv,
    g_vvv)`` of the spline piece, by SymPy."""
    g = spline_piece()
    u, v = O.u, O.v
    hess = tuple(sp.expand(sp.diff(g, *w)) for w in ((u, u), (u, v), (v, v)))
    third = tuple(sp.expand(sp.diff(g, *w)) for w in ((u, u, u), (u, u, v), (u, v, v), (v, v, v)))
    return hess, third


def strict_saddle_alpha() -> sp.Expr:
    """Def. 7.4's alpha at every saddle: ``-lambda_min`` of the quadratic piece's Hessian at the
    origin of the active/next coordinates (SymPy)."""
    q = quad_piece()
    H = sp.hessian(q, (O.u, O.v)).subs({O.u: 0, O.v: 0})
    lam = min(H.eigenvals(), key=lambda e: float(e.subs({C.L: 2, C.gamma: 1})))
    return sp.simplify(-lam)


def sosp_eps_threshold() -> sp.Expr:
    """The smallest eps for which a saddle is an eps-SOSP (Def. 7.5): solve ``-alpha =
    -sqrt(rho eps)``."""
    rho, eps = sp.symbols("rho epsilon", positive=True)
    (sol,) = sp.solve(sp.Eq(strict_saddle_alpha(), sp.sqrt(rho * eps)), eps)
    return sp.simplify(sol)


def _flint():
    """python-flint (ball arithmetic), or an ImportError that says how to install it."""
    try:
        import flint
    except ImportError as e:  # the enclosures are rigorous only in ball arithmetic
        raise ImportError("the enclosures of Definitions 7.1-7.3 need python-flint: "
                          "pip install 'nnderive[rigorous]'") from e
    return flint


def _arb_fun(expr, names):
    """A function of flint.arb arguments evaluating the polynomial ``expr`` in ball arithmetic,
    in mean-value form on a box of balls: ``p(centre) + sum_i dp/dx_i(box) (x_i - centre_i)``
    (enclosure width O(h^2) instead of the naive form's O(h)).  Exact arguments (radius 0)
    evaluate ``p`` directly."""
    flint = _flint()

    names = tuple(names)
    p = sp.lambdify(names, expr, modules=[{}])
    grads = [sp.lambdify(names, sp.diff(expr, x), modules=[{}]) for x in names]

    def f(*X):
        if all(x.rad() == 0 for x in X):
            return p(*X)
        mids = [flint.arb(x.mid()) for x in X]
        out = p(*mids)
        for g, x, m in zip(grads, X, mids):
            out = out + g(*X) * (x - m)
        return out

    return f


def _bb_max(upper, lower, box, rtol, max_boxes=40_000, atol=0.0):
    """Branch and bound: ``sup`` of a function over ``box`` (list of (lo, hi)) given ``upper(box)``
    (a rigorous upper bound on the box) and ``lower(point)`` (a rigorous lower bound of the value
    at the box's centre); stops when ``hi - lo <= max(rtol |lo|, atol)``.  Returns (lo, hi)."""
    def centre(b):
        return [(a + c) / 2 for a, c in b]

    best = lower(centre(box))
    heap = [(-upper(box), box)]
    n = 0
    while heap:
        neg, b = heapq.heappop(heap)
        hi = -neg
        if hi <= best + max(rtol * abs(best), atol) or n >= max_boxes:
            return best, max(hi, best) if n < max_boxes else max(hi, best)
        n += 1
        j = max(range(len(b)), key=lambda i: b[i][1] - b[i][0])
        m = (b[j][0] + b[j][1]) / 2
        for half in ((b[j][0], m), (m, b[j][1])):
            nb = list(b)
            nb[j] = half
            best = max(best, lower(centre(nb)))
            heapq.heappush(heap, (-upper(nb), nb))
    return best, best  # pragma: no cover


def _ball(lo, hi):
    flint = _flint()

    return flint.arb((lo + hi) / 2, (hi - lo) / 2)


def _params(L, gamma, tau):
    for name, x in (("L", L), ("gamma", gamma), ("tau", tau)):
        if not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    if L < gamma:
        raise ValueError("L must be >= gamma (the proofs need L >= gamma > 0)")
    return {C.L: sp.Float(L, 30), C.gamma: sp.Float(gamma, 30), C.tau: sp.Float(tau, 30)}


def ell_interval(L=math.e, gamma=1.0, tau=math.e, rtol=1e-7):
    """Def. 7.2's ``ell`` of the construction: ``(lo, hi)`` enclosing ``sup_D ||Hess f||_op``."""
    flint = _flint()

    sub = _params(L, gamma, tau)
    (a, b, c), _ = block_entries()
    fa, fb, fc = (_arb_fun(e.subs(sub), (O.u, O.v)) for e in (a, b, c))

    def radius(x, y):
        A, Bv, Cc = fa(x, y), fb(x, y), fc(x, y)
        s = ((A + Cc) / 2).abs_upper()
        r = (((A - Cc) / 2).abs_upper() ** 2 + Bv.abs_upper() ** 2).sqrt()
        return s + r

    def upper(box):
        return float((radius(_ball(*box[0]), _ball(*box[1]))).upper())

    def lower(pt):
        return float(radius(flint.arb(pt[0]), flint.arb(pt[1])).lower())

    lo, hi = _bb_max(upper, lower, [(tau, 2 * tau), (0.0, tau)], rtol)
    floor = max(2 * L, 2 * gamma)
    return np.array([max(lo, floor), max(hi, floor)])


def rho_interval(L=math.e, gamma=1.0, tau=math.e, rtol=1e-4):
    """Def. 7.3's ``rho`` (sup of the third-derivative norm on D): ``(lo, hi)``."""
    flint = _flint()

    sub = _params(L, gamma, tau)
    _, (t1, t2, t3, t4) = block_entries()
    fs = [_arb_fun(e.subs(sub), (O.u, O.v)) for e in (t1, t2, t3, t4)]

    def val(x, y, t):
        c, s = t.cos(), t.sin()
        T = [f(x, y) for f in fs]
        return abs(T[0] * c**3 + 3 * T[1] * c**2 * s + 3 * T[2] * c * s**2 + T[3] * s**3)

    def upper(box):
        return float(val(*[_ball(*b) for b in box]).upper())

    def lower(pt):
        return float(val(*[flint.arb(p) for p in pt]).lower())

    return np.array(_bb_max(upper, lower, [(tau, 2 * tau), (0.0, tau), (0.0, math.pi)], rtol))


@lru_cache(maxsize=None)
def _piece_range_cached(which, box, L, gamma, tau, rtol):
    sub = _params(L, gamma, tau)
    expr = (quad_piece() if which == "quad" else spline_piece()).subs(sub)
    # a piece's sup or inf may be 0 (at the origin): an absolute tolerance on the scale L tau^2
    return _piece_range(expr, [list(b) for b in box], rtol, atol=rtol * L * tau**2)


def _piece_range(expr, box, rtol, atol=0.0):
    """(sup, inf) enclosures of a polynomial piece over ``box``: ((lo, hi), (lo, hi))."""
    flint = _flint()

    f = _arb_fun(expr, (O.u, O.v))
    up = _bb_max(lambda b: float(f(_ball(*b[0]), _ball(*b[1])).upper()),
                 lambda p: float(f(flint.arb(p[0]), flint.arb(p[1])).lower()), box, rtol,
                 atol=atol)
    down = _bb_max(lambda b: float((-f(_ball(*b[0]), _ball(*b[1]))).upper()),
                   lambda p: float((-f(flint.arb(p[0]), flint.arb(p[1]))).lower()), box, rtol,
                   atol=atol)
    return up, (-down[1], -down[0])


def B_interval(d, L=math.e, gamma=1.0, tau=math.e, rtol=1e-7):
    """Def. 7.1's ``B = sup_D |f|`` for dimension ``d``: ``(lo, hi)`` (exact sums per region)."""
    if not isinstance(d, int) or d < 2:
        raise ValueError(f"d must be an integer >= 2, got {d!r}")
    sub = _params(L, gamma, tau)
    nu = float(C.nu().subs(sub))
    conv_max, tail_max = 4 * L * tau**2, L * tau**2
    sups, infs = [], []
    for i in range(1, d + 2):
        k = i - 1
        n_tail = max(d - i - 1, 0)
        has_next = i < d
        vbox = (0.0, tau) if has_next else (0.0, 0.0)
        pieces = [] if i == d + 1 else [("quad", ((0.0, tau), vbox)),
                                        ("spline", ((tau, 2 * tau), vbox))]
        base_hi = k * conv_max + n_tail * tail_max - k * nu
        base_lo = -k * nu
        if not pieces:
            sups.append((base_hi, base_hi))
            infs.append((base_lo, base_lo))
            continue
        for which, box in pieces:
            (shi_lo, shi_hi), (inf_lo, inf_hi) = _piece_range_cached(which, box, L, gamma, tau,
                                                                     rtol)
            sups.append((base_hi + shi_lo, base_hi + shi_hi))
            infs.append((base_lo + inf_lo, base_lo + inf_hi))
    sup_lo, sup_hi = max(s[0] for s in sups), max(s[1] for s in sups)
    inf_lo, inf_hi = min(s[0] for s in infs), min(s[1] for s in infs)
    return np.array([max(abs(sup_lo), abs(inf_hi)), max(abs(sup_hi), abs(inf_lo))])
