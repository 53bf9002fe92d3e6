"""Stage 2, angles, edge series and rejections: a formula's coefficients in, rewritten
coefficients and the lines that evaluate their edge groups out.

In: SymPy coefficients in invariant coordinates (:mod:`derivations.vectors`) holding ``cos``,
``sin`` of angle invariants or scalar angle arguments.  Out:

* :class:`Angle`: the symbols ``cos_*``, ``sin_*``, ``psi_*`` (``= pi - phi``) a coefficient is
  rewritten in (:func:`_rewrite_angle`; the rules :func:`angle_rules` are derived by SymPy);
* :func:`_edge_groups`: every pure-angle sum that cancels at ``phi = 0`` or ``pi`` replaced by a
  symbol ``_h<i>`` and three lines: the direct sum, a comment, and ``_rt.taylor*`` patching the
  near-edge rows with the SymPy series of :func:`_edge_series` (change near-edge emission here);
* :class:`Rejection` / :func:`_rejections`: ``alpha x + beta y`` of nearly parallel ``x, y``
  rewritten with ``rej(y, x)``, which the runtime forms without cancellation.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .. import registry, vectors
from .printer import print_expr

_t = sp.Symbol("t", nonnegative=True)  # distance to an edge (phi or pi - phi)


class Angle:
    """The symbols standing for the terms of one angle in the rewritten expressions.

    ``phi`` is an angle invariant (``vectors.angle``) or a scalar argument that appears inside
    ``cos``/``sin``; ``cos``, ``sin``, ``psi`` (``= pi - phi``) are plain symbols whose values
    the runtime computes without trigonometric calls (vector angles) or directly (scalar ones).
    """

    def __init__(self, phi: sp.Symbol, vectors_: tuple[str, str] | None):
        self.phi = phi
        base = str(phi)[4:] if vectors_ else str(phi)
        self.vectors = vectors_
        self.cos = sp.Symbol(f"cos_{base}", real=True)
        self.sin = sp.Symbol(f"sin_{base}", nonnegative=True)
        self.psi = sp.Symbol(f"psi_{base}", nonnegative=True)
        self.psi_name = str(self.psi)

    @property
    def symbols(self):
        return (self.phi, self.cos, self.sin, self.psi)

    def edge(self, at_pi: bool) -> dict:
        """Substitution putting the angle at distance ``_t`` from pi (or from 0)."""
        if at_pi:
            return {self.psi: _t, self.phi: sp.pi - _t, self.cos: -sp.cos(_t), self.sin: sp.sin(_t)}
        return {self.phi: _t, self.psi: sp.pi - _t, self.cos: sp.cos(_t), self.sin: sp.sin(_t)}

    def back(self) -> dict:
        """Substitution undoing the rewrite (used by the tests that prove it)."""
        return {self.cos: sp.cos(self.phi), self.sin: sp.sin(self.phi), self.psi: sp.pi - self.phi}


def angle_rules():
    """The rewrite rules, derived by SymPy: with ``c = x.y / (|x||y|)`` and ``phi = acos(c)``,
    ``cos(phi) = c`` and ``sin(phi) = sqrt(1 - c^2) = sqrt((1 - c)(1 + c))`` (no cancellation
    for ``|c| <= NEAR``); ``pi - phi = acos(-c)``.  Returned as ``{name: (lhs, rhs)}``."""
    c = sp.Symbol("c", real=True)
    phi = sp.acos(c)
    return {
        "cos": (sp.cos(phi), sp.factor(sp.cos(phi))),
        "sin": (sp.sin(phi), sp.factor(sp.sin(phi))),
        "psi": (sp.pi - phi, sp.acos(-c)),
    }


def _find_angles(formula: registry.Formula, exprs) -> list[Angle]:
    out = {}
    for e in exprs:
        for s in e.free_symbols:
            m = vectors.meaning(s)
            if m is not None and m.kind == "angle":
                out[s] = Angle(s, tuple(m.operands))
        scalars = {a.name for a in formula.args if a.kind == "scalar"}
        for f in e.atoms(sp.cos, sp.sin):
            arg = f.args[0]
            if isinstance(arg, sp.Symbol) and arg.name in scalars and vectors.meaning(arg) is None:
                out.setdefault(arg, Angle(arg, None))
    return [out[k] for k in sorted(out, key=str)]


def _rewrite_angle(e: sp.Expr, ang: Angle) -> sp.Expr:
    """cos(phi) -> cos symbol, sin(phi) -> sin symbol, and phi -> pi - psi when that is shorter."""
    e = e.subs({sp.cos(ang.phi): ang.cos, sp.sin(ang.phi): ang.sin})
    if ang.phi not in e.free_symbols:
        return e
    alt = e.subs(ang.phi, sp.pi - ang.psi)
    # expand the sums that contain the angle, so that (pi - psi) cos - pi cos becomes -psi cos
    alt = alt.replace(lambda n: n.is_Add and n.has(ang.psi), sp.expand)
    e2 = e.replace(lambda n: n.is_Add and n.has(ang.phi), sp.expand)
    return alt if sp.count_ops(alt) <= sp.count_ops(e2) else e2


def _generic(e: sp.Expr) -> sp.Expr:
    """``e`` with every symbol but ``_t`` set to a fixed generic rational (distinct primes over
    97), so that the leading order in ``_t`` is the generic one and the series is univariate."""
    others = sorted(e.free_symbols - {_t}, key=str)
    primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73]
    return e.subs({s: sp.Rational(primes[i % len(primes)] + i // len(primes), 97)
                   for i, s in enumerate(others)})


@lru_cache(maxsize=None)
def _order(e: sp.Expr, n: int = 8):
    """Leading power of ``_t`` in the Taylor series of ``e`` at ``_t = 0`` (oo for zero), at a
    generic value of the other symbols."""
    e = _generic(sp.sympify(e))
    if e == 0:
        return sp.oo
    s = sp.expand(sp.series(e, _t, 0, n).removeO())
    if s == 0:
        return n
    return min(m[0] for m in sp.Poly(s, _t).monoms())


@lru_cache(maxsize=None)
def _edge_series(h: sp.Expr, edge: tuple, near_tol: float = 1e-13):
    """If ``h`` (a sum of terms in one angle) cancels at the edge, its Taylor series there:
    ``(threshold, start, step, coefficients)``; else ``None``.  The direct sum loses
    ``gap = order(h) - min order(term)`` powers of ``t``, i.e. relative error ~ 4 eps t^-gap;
    the series is used below ``t = (near_tol / 4 eps)^(1/gap)`` with enough terms for 1e-17."""
    sub = dict(edge)
    ht = h.subs(sub)
    order = _order(ht)
    terms = min(_order(a.subs(sub)) for a in sp.Add.make_args(h))
    if order == sp.oo or order <= terms:
        return None
    gap = order - terms
    below = min(0.5, (4 * 2.2e-16 / near_tol) ** (1.0 / gap))
    series = sp.expand(sp.series(ht, _t, 0, order + 16).removeO())
    coeffs = dict((m[0], c) for m, c in zip(sp.Poly(series, _t).monoms(), sp.Poly(series, _t).coeffs()))
    powers = sorted(coeffs)
    start = powers[0]
    steps = {b - a for a, b in zip(powers, powers[1:])}
    step = 2 if steps and all(s % 2 == 0 for s in steps) else 1
    lead = abs(float(coeffs[start])) * below**start
    kept = []
    for j in range(0, 17):
        p = start + step * j
        c = float(coeffs.get(p, 0))
        if p > start and abs(c) * below**p < 1e-18 * lead and c != 0:
            break
        kept.append(c)
    while kept and kept[-1] == 0:
        kept.pop()
    return below, int(start), step, tuple(kept)


def _edge_groups(e: sp.Expr, angles: list[Angle], counter: list) -> tuple[sp.Expr, list[str]]:
    """Replace every pure-angle sum of ``e`` that cancels at phi = 0 or pi by a symbol whose
    line evaluates it directly and patches the rows near the edge with its SymPy series."""
    lines: list[str] = []
    if not angles:
        return e, lines
    angle_syms = [s for a in angles for s in a.symbols]
    groups: dict = {}
    for term in sp.Add.make_args(sp.expand(e)):
        indep, dep = term.as_independent(*angle_syms, as_Add=False)
        # the numeric factor, pi included (1/(2 pi) and 1/2 belong to one group)
        num, rest = indep.as_independent(*indep.free_symbols, as_Add=False)
        groups[rest] = groups.get(rest, 0) + num * dep
    changed = False
    out = []
    for rest in sorted(groups, key=sp.default_sort_key):
        h = sp.sympify(groups[rest])
        own = [a for a in angles if h.free_symbols & set(a.symbols)]
        if isinstance(h, sp.Add) and len(own) == 1 and h.free_symbols <= set(own[0].symbols):
            a = own[0]
            num, den = sp.fraction(sp.together(h))  # (pi - c psi - s)/(2 pi): numerator alone
            if den.free_symbols:
                num, den = h, sp.Integer(1)
            content, prim = sp.expand(num).as_content_primitive()
            content = content / den
            for at_pi in (True, False):
                ser = _edge_series(prim, tuple(a.edge(at_pi).items()))
                if ser is None:
                    continue
                name = f"_h{counter[0]}"
                counter[0] += 1
                edge_var = a.psi_name if at_pi else str(a.phi)
                below, start, step, coeffs = ser
                where = "pi" if at_pi else "0"
                fn, t_text = "taylor", edge_var
                if at_pi and not a.vectors:  # scalar angle: t = pi - phi formed on near rows only
                    fn, edge_var, t_text = "taylor_pi", str(a.phi), f"pi - {a.phi}"
                if not at_pi and a.vectors:  # vector angle: phi formed on near rows only
                    fn, edge_var, t_text = "taylor_zero", f"{a.cos}, {a.sin}", "the angle"
                lines.append(f"{name} = {print_expr(prim)}")
                lines.append(f"# near phi = {where} the sum above cancels like t^{_order(prim.subs(a.edge(at_pi)))}"
                             f" (t = {t_text}): Taylor series derived by SymPy")
                lines.append(f"{name} = _rt.{fn}({name}, {edge_var}, {below!r}, {start}, {step}, "
                             f"({', '.join(repr(c) for c in coeffs)},))")
                h = sp.Symbol(name) * content
                changed = True
                break
        out.append(rest * h)
    return (sp.Add(*out) if changed else e), lines


# Rejections: x-coefficient * x + y-coefficient * y with x, y nearly parallel
# --------------------------------------------------------------------------------------------


class Rejection:
    """``rej(y, x) = y - (x.y/|x|^2) x``.  ``alpha``: the coefficient of ``x`` before the rewrite
    when the rewrite keeps a term along ``x`` (``pair``); such a sum is emitted as
    ``_rt.rejection_pair``: the direct ``alpha x + beta y`` on rows away from parallel, the
    rejection form only on the near-parallel rows."""

    def __init__(self, y: str, x: str, ang: Angle, alpha=None):
        self.y, self.x, self.angle = y, x, ang
        self.symbol = sp.Symbol(f"rej_{y}_{x}")
        self.alpha = alpha
        self.pair = alpha is not None
        a, b = sorted((x, y))
        self.dot = f"dot_{a}_{b}"
        self.code = (f"_rt.rejection({y}, {x}, norm_{x}, {self.dot}, {ang.cos})")


def _projection_angles(parts: list, angles: list[Angle]) -> list[Angle]:
    """Angles for the vector pairs of a result ``c (x - (x.y/|y|^2) y)`` whose formula has no
    angle of its own (``wn.grad_v = (g/|v|) rej(grad_w, v)``): with the angle known, the
    rejection rewrite (:func:`_rejections`) takes the pair, and the runtime forms it without
    cancellation where ``x`` is nearly parallel to ``y`` (the gradient vanishing there)."""
    coeff = {b: c for c, b in parts}
    if any(c.has(sp.Piecewise) for c in coeff.values()):  # (ReLU branches: edge series undefined)
        return []
    have = {frozenset(a.vectors) for a in angles if a.vectors}
    out = []
    bases = [b for b in coeff if isinstance(b, sp.Symbol) and vectors.meaning(b) is not None
             and vectors.meaning(b).kind == "vector"]
    for x in bases:
        for y in bases:
            if x == y or frozenset((str(x), str(y))) in have:
                continue
            try:
                xy = vectors.dot(x, y)
            except Exception:  # noqa: BLE001 - vectors of different spaces
                continue
            if sp.simplify(coeff[y] + coeff[x] * xy / vectors.norm(y) ** 2) == 0:
                phi = vectors.angle(x, y)
                out.append(Angle(phi, tuple(vectors.meaning(phi).operands)))
                have.add(frozenset((str(x), str(y))))
    return out


def _dot_to_cos(e: sp.Expr, angles: list[Angle]) -> sp.Expr:
    sub = {}
    for a in angles:
        if a.vectors:
            x, y = (sp.Symbol(n) for n in a.vectors)
            sub[vectors.dot(x, y)] = vectors.norm(x) * vectors.norm(y) * a.cos
    return e.subs(sub)


def _rejections(parts: list, angles: list[Angle]) -> tuple[list, list[Rejection]]:
    """Rewrite ``alpha x + beta y`` as ``alpha' x + beta rej(y, x)`` where that removes a term
    (``alpha' = 0``) or raises the order of the coefficients at an edge (the direct sum would
    cancel there).  ``y = (x.y/|x|^2) x + rej(y, x)`` is exact; the runtime computes the
    rejection without cancellation."""
    rej = []
    coeff = {b: c for c, b in parts}
    for a in angles:
        if not a.vectors:
            continue
        X, Y = (sp.Symbol(n) for n in a.vectors)
        if X not in coeff or Y not in coeff:
            continue
        best = None
        for x, y in ((X, Y), (Y, X)):
            alpha, beta = _dot_to_cos(coeff[x], angles), _dot_to_cos(coeff[y], angles)
            new = sp.factor_terms(sp.expand(alpha + beta * vectors.norm(y) * a.cos / vectors.norm(x)))
            if new == 0:
                best = (x, y, new, 10**6)
                break
            gain = 0
            for at_pi in (True, False):
                sub = a.edge(at_pi)
                before = min(_order(alpha.subs(sub)), _order(beta.subs(sub)))
                after = _order(new.subs(sub))
                if after > before:
                    gain = max(gain, after - before)
            if gain and (best is None or gain > best[3]):
                best = (x, y, new, gain)
        if best is None:
            continue
        x, y, new, _ = best
        r = Rejection(str(y), str(x), a, None if new == 0 else coeff[x])
        rej.append(r)
        beta = coeff.pop(y)
        coeff[r.symbol] = beta
        if new == 0:
            coeff.pop(x)
        else:
            coeff[x] = new
    order = [b for _, b in parts if b in coeff] + [r.symbol for r in rej]
    return [(coeff[b], b) for b in order], rej
