"""Stage 3, differences, completed squares and constant folding: a coefficient in, the same
value written without cancellation (and with its constants named) out.

In: a formula's SymPy coefficients (after :mod:`.angles` found its angles).  Out:

* :class:`Difference` (:func:`_differences`, :func:`_angle_difference`,
  :func:`_vector_differences`): ``A x - B y`` of two vector arguments standing for
  ``|x|^2`` and ``1.x`` where the student sits at its teacher (``_rt.difference``);
* :func:`_sqnorm_differences`: ``|x|^2 - |y|^2`` as one symbol (``_rt.sqnorm_difference``);
* :func:`_fold_constants`: terms collected by monomial, squares completed
  (:func:`_complete_squares`), irrational constants named ``_c<i>``, a Horner form.
"""
from __future__ import annotations

import sympy as sp

from .. import registry, vectors
from .printer import _is_const

class Difference:
    """``A x - B y`` of two vector arguments (``A``, ``B``: monomials in the norms, ``B`` with
    its rational factor and sign): its squared norm ``sq`` and its sum ``tot`` stand in a
    rewritten formula for ``|x|^2`` and ``1.x`` (``_rt.difference`` computes both)."""

    def __init__(self, x: str, y: str, A: sp.Expr, B: sp.Expr):
        self.x, self.y, self.A, self.B = x, y, A, B
        self.sq = sp.Symbol(f"sqdiff_{x}_{y}", nonnegative=True)
        self.tot = sp.Symbol(f"sumdiff_{x}_{y}", real=True)
        self.vec = sp.Symbol(f"diff_{x}_{y}")  # the vector A x - B y, as a basis of a result

    def rules(self) -> dict:
        """``|x|^2 = (|A x - B y|^2 + 2AB x.y - B^2|y|^2) / A^2`` and
        ``1.x = (1.(A x - B y) + B 1.y) / A``: exact identities."""
        X, Y = sp.Symbol(self.x), sp.Symbol(self.y)
        A, B = self.A, self.B
        return {vectors.norm(X) ** 2: (self.sq + 2 * A * B * vectors.dot(X, Y)
                                       - B**2 * vectors.norm(Y) ** 2) / A**2,
                vectors.total(X): (self.tot + B * vectors.total(Y)) / A}

    def identities(self) -> tuple[sp.Expr, sp.Expr]:
        """The two rules with ``sq``, ``tot`` and the invariants written out componentwise for
        vectors of length 3 (``tests/test_vectors.py`` proves them by expansion)."""
        xs, ys = sp.symbols("x0:3"), sp.symbols("y0:3")
        A, B = sp.Symbol("A", positive=True), sp.Symbol("B", real=True)
        d = [A * u - B * v for u, v in zip(xs, ys)]
        sq, tot = sum(t * t for t in d), sum(d)
        lhs_sq = sum(u * u for u in xs)
        rhs_sq = (sq + 2 * A * B * sum(u * v for u, v in zip(xs, ys)) - B**2 * sum(v * v for v in ys)) / A**2
        return sp.expand(lhs_sq - rhs_sq), sp.expand(sum(xs) - (tot + B * sum(ys)) / A)


def _monomial_ratio(ratio: sp.Expr):
    """``(A, B)`` with ``ratio = B/A``: ``A`` a product of norms, ``B`` a rational times a product
    of norms (integer exponents), or ``None`` (also for half-integer exponents or an irrational
    factor, as ``sqrt`` of a ratio that is not a square gives)."""
    coef, mono = sp.sympify(ratio).as_coeff_Mul()
    if not coef.is_Rational or coef == 0:
        return None
    A, B = sp.Integer(1), coef
    for base, k in mono.as_powers_dict().items():
        if base == 1:  # a ratio of 1 (no norms): |x - y|^2
            continue
        m = vectors.meaning(base) if isinstance(base, sp.Symbol) else None
        if m is None or m.kind != "norm" or not k.is_Integer:
            return None
        if k > 0:
            B *= base**k
        else:
            A *= base ** (-k)
    return A, B


def _differences(e: sp.Expr, formula: registry.Formula) -> tuple[sp.Expr, list[Difference]]:
    """Complete the square at vector level: where a scalar formula holds ``alpha |x|^2`` and
    ``alpha (B/A)^2 |y|^2`` (and possibly ``1.x`` only inside ``(A 1.x - B 1.y)^2``), rewrite it in
    ``|A x - B y|^2`` and ``1.(A x - B y)`` (:class:`Difference`), keeping ``x.y`` with the rest of
    its coefficient.  Accepted only when ``|x|, |y|^2, 1.x, 1.y`` all leave the formula and the
    remaining coefficient of ``x.y`` vanishes at an edge of an angle (phi = 0 or pi: the student
    at its teacher), so the rewrite removes a cancellation there; of the two signs of ``B`` the
    one that does so is taken.  Returns the rewritten expression and the differences used."""
    out: list[Difference] = []
    vecs = [a.name for a in formula.args if a.kind == "vector"]
    angles = [s for s in e.free_symbols
              if vectors.meaning(s) is not None and vectors.meaning(s).kind == "angle"]
    for x in vecs:
        for y in vecs:
            if x == y or vectors.space_of(sp.Symbol(x)) != vectors.space_of(sp.Symbol(y)):
                continue
            X, Y = sp.Symbol(x), sp.Symbol(y)
            nx, ny, tx, ty = vectors.norm(X), vectors.norm(Y), vectors.total(X), vectors.total(Y)
            ex = sp.expand(e)
            alpha, beta = ex.coeff(nx**2), ex.coeff(ny**2)
            if alpha == 0 or beta == 0 or alpha.has(nx, ny) or beta.has(nx, ny):
                continue
            root = _monomial_ratio(sp.sqrt(sp.simplify(beta / alpha)))  # (B/A)^2 = beta/alpha
            if root is None:
                continue
            A, B = root
            for sign in (1, -1):
                d = Difference(x, y, A, sign * B)
                new = sp.expand(ex.subs(d.rules()))
                if not ex.has(tx) and not ex.has(ty):
                    inner = _angle_difference(ex, d, angles)
                    if inner is not None:
                        e = inner
                        out.append(d)
                        break
                if new.has(nx) or new.has(tx) or new.has(ty) or new.coeff(ny**2) != 0:
                    continue
                rest = new.coeff(vectors.dot(X, Y))
                if rest != 0 and not any(sp.simplify(rest.subs(phi, edge)) == 0
                                         for phi in angles for edge in (0, sp.pi)):
                    continue
                e = new
                out.append(d)
                break
    return e, out


def _angle_difference(ex: sp.Expr, d: Difference, angles) -> sp.Expr | None:
    """The completed square when the norms stay in the formula through the angle of ``x`` and
    ``y`` (the filter loss ``(|w|^2 + |w*|^2)/4 - |w||w*| (sin + (pi - phi) cos)/(2 pi)``):
    ``new`` is the formula with :meth:`Difference.rules` applied; ``x.y`` goes back to
    ``|x||y| cos(phi)``, and the result is kept when everything but the square is
    ``|x||y| h(phi)`` with ``h`` vanishing at an edge (phi = 0: the student at its teacher),
    e.g. ``|w - w*|^2/4 + |w||w*| (phi cos - sin)/(2 pi)``: the square is exact (``w - w*`` has no
    rounding near the teacher) and ``h`` cancels like ``phi^3``, which the edge series of
    :func:`_edge_groups` evaluate; near the teacher ``h`` is ``O(distance)`` relative to the
    square, so the loss keeps full relative accuracy.  ``ex``: the expanded formula; only its
    ``|x|^2`` terms take the rule (``|x|`` alone stays).  ``None`` if the form does not arise."""
    X, Y = sp.Symbol(d.x), sp.Symbol(d.y)
    phi = vectors.angle(X, Y)
    if phi not in angles:
        return None
    nx, ny = vectors.norm(X), vectors.norm(Y)
    rule = d.rules()[nx**2]
    terms = []
    for term in sp.Add.make_args(ex):
        k = term.as_powers_dict().get(nx, 0)
        if k not in (0, 1, 2):
            return None
        terms.append(term / nx**2 * rule if k == 2 else term)
    form = sp.expand(sp.Add(*terms).subs(vectors.dot(X, Y), nx * ny * sp.cos(phi)))
    square = form.coeff(d.sq)
    if square == 0 or square.has(nx) or square.has(ny):
        return None
    h = sp.expand((form - square * d.sq) / (nx * ny))
    if h.has(nx) or h.has(ny) or h.has(d.sq) or not h.has(phi):
        return None
    if not any(sp.simplify(h.subs(phi, edge)) == 0 for edge in (0, sp.pi)):
        return None
    return form


#: ``{sqnormdiff_x_y: (x, y)}``: symbols standing for ``|x|^2 - |y|^2`` (``_rt.sqnorm_difference``)
_SQNORM_DIFFS: dict[str, tuple[str, str]] = {}


def _sqnorm_differences(e: sp.Expr, formula: registry.Formula) -> sp.Expr:
    """``c (|x|^2 - |y|^2)`` in a scalar formula where ``|x|`` and ``|y|`` appear nowhere else
    (the auto-balancing drift ``eta^2 (|g_in|^2 - |g_out|^2)``) becomes ``c sqnormdiff_x_y``,
    which the runtime forms from the two sums of squares in double-double: the difference keeps
    full relative accuracy where the two norms nearly agree (the balanced state), where the two
    rounded squared norms lose ``|x|^2 / (|x|^2 - |y|^2)`` in relative accuracy."""
    vecs = [a.name for a in formula.args if a.kind == "vector"]
    for x in vecs:
        for y in vecs:
            if x == y:
                continue
            nx, ny = vectors.norm(sp.Symbol(x)), vectors.norm(sp.Symbol(y))
            ex = sp.expand(e)
            alpha, beta = ex.coeff(nx**2), ex.coeff(ny**2)
            if alpha == 0 or alpha.has(nx, ny) or sp.simplify(alpha + beta) != 0:
                continue
            sym = sp.Symbol(f"sqnormdiff_{x}_{y}", real=True)
            new = sp.expand(ex - alpha * nx**2 - beta * ny**2) + alpha * sym
            if new.has(nx) or new.has(ny):
                continue
            _SQNORM_DIFFS[str(sym)] = (x, y)
            e = sp.factor_terms(new)
    return e


def _vector_differences(parts: list, formula: registry.Formula) -> tuple[list, list[Difference]]:
    """The vector form of :func:`_differences`: ``cx x + cy y`` with ``cy = -(B/A) cx`` at an edge
    of an angle (the gradient in ``a`` at the teacher: ``(pi-1)/(2 pi) (a - |w*| a*)``) becomes
    ``(cx/A) (A x - B y) + (cy + cx B/A) y``, the second coefficient vanishing at that edge, so
    the two terms no longer cancel there; ``1.x`` in the coefficients becomes ``1.(A x - B y)``
    where that removes both sums."""
    coeff = {b: c for c, b in parts}
    order = [b for _, b in parts]
    out: list[Difference] = []
    angles = sorted({s for c, _ in parts for s in c.free_symbols
                     if vectors.meaning(s) is not None and vectors.meaning(s).kind == "angle"}, key=str)
    vecs = [a.name for a in formula.args if a.kind == "vector"]
    paired = {frozenset(vectors.meaning(a).operands) for a in angles}  # those are rejections
    for x in vecs:
        for y in vecs:
            X, Y = sp.Symbol(x), sp.Symbol(y)
            if x == y or X not in coeff or Y not in coeff or frozenset((x, y)) in paired:
                continue
            found = None
            for phi in angles:
                for edge in (0, sp.pi):
                    cx = sp.simplify(coeff[X].subs(phi, edge))
                    if cx == 0 or cx.has(phi):
                        continue
                    split = _monomial_ratio(sp.simplify(-coeff[Y].subs(phi, edge) / cx))
                    if split is not None:
                        found = split
                        break
                if found:
                    break
            if found is None:
                continue
            A, B = found
            d = Difference(x, y, A, B)
            cx = coeff.pop(X)
            coeff[d.vec] = sp.simplify(cx / A)
            rest = sp.simplify(coeff[Y] + cx * B / A)
            if rest == 0:
                coeff.pop(Y)
            else:
                coeff[Y] = rest
            rule = {vectors.total(X): d.rules()[vectors.total(X)]}
            new = {b: sp.expand(c.subs(rule)) for b, c in coeff.items()}
            if not any(c.has(vectors.total(X)) or c.has(vectors.total(Y)) for c in new.values()):
                coeff = {b: sp.factor_terms(c) for b, c in new.items()}
            order = [d.vec if b == X else b for b in order]
            out.append(d)
    return [(coeff[b], b) for b in order if b in coeff], out


def _fold_constants(e: sp.Expr, consts: dict, products: dict | None = None, post=None) -> sp.Expr:
    """Collect the terms of ``e`` by monomial and name every irrational constant coefficient
    (``(pi - 1)/(4 pi)``...) ``_c<i>``, computed once as a Python float: each monomial is then
    multiplied by one number, not by each factor of it.  ``products``: ``{|x||y|: nn_x_y}``, the
    norm products shared with the angle (substituted in every monomial); ``post``: a rewrite of
    every monomial after squares are completed (``|x|^2 -> x.x``)."""
    products = products or {}
    if not e.free_symbols or not any(vectors.meaning(s) is not None for s in e.free_symbols):
        return e.subs(products)  # scalar-argument formulas keep their derived (e.g. (x - tau)) form
    terms: dict = {}
    for term in sp.Add.make_args(sp.expand(e)):
        const, mono = term.as_independent(*term.free_symbols, as_Add=False)
        terms[mono] = terms.get(mono, 0) + const
    terms = _complete_squares(terms)
    merged: dict = {}
    for mono, const in terms.items():
        mono = (post(mono) if post else mono).subs(products)
        merged[mono] = merged.get(mono, 0) + const
    terms = merged
    e = (post(e) if post else e).subs(products)
    out = []
    for mono in sorted(terms, key=sp.default_sort_key):
        c = sp.nsimplify(terms[mono]) if terms[mono].is_Rational else sp.simplify(terms[mono])
        if c == 0:
            continue
        if not c.is_Rational:
            neg = c.could_extract_minus_sign()
            key = -c if neg else c
            if key not in consts:
                consts[key] = sp.Symbol(f"_c{len(consts)}")
            c = -consts[key] if neg else consts[key]
        out.append(c * mono)
    folded = _horner(out)
    return folded if sp.count_ops(folded) <= sp.count_ops(e) + 2 else e


def _square_root_monomial(m: sp.Expr):
    """``r`` with ``r**2 == m`` for a monomial with even positive exponents, else ``None``."""
    powers = m.as_powers_dict()
    if m == 1 or not all(k.is_Integer and k > 0 and k % 2 == 0 for k in powers.values()):
        return None
    return sp.Mul(*[b ** (k // 2) for b, k in powers.items()])


def _complete_squares(terms: dict) -> dict:
    """``{monomial: constant}`` with every ``a X^2 + g X Y + b Y^2`` (``g^2 = 4 a b``) written
    as ``a (X + (g/2a) Y)^2``: the square of a difference, as in ``|a - |w*| a*|^2`` expanded by
    the derivation, costs three array operations instead of seven and does not cancel."""
    terms = dict(terms)
    changed = True
    while changed:
        changed = False
        squares = [(m, r) for m in sorted(terms, key=sp.default_sort_key)
                   if (r := _square_root_monomial(m)) is not None]
        for i, (m1sq, m1) in enumerate(squares):
            for m2sq, m2 in squares[i + 1:]:
                cross = m1 * m2
                if cross not in terms or m1sq not in terms or m2sq not in terms:
                    continue
                a, b, g = terms[m1sq], terms[m2sq], terms[cross]
                if a == 0 or sp.simplify(g**2 - 4 * a * b) != 0:
                    continue
                ratio = sp.nsimplify(sp.simplify(g / (2 * a)))
                if not ratio.is_Rational:
                    continue
                for m in (m1sq, m2sq, cross):
                    del terms[m]
                sq = (m1 + ratio * m2) ** 2
                terms[sq] = terms.get(sq, 0) + a
                changed = True
                break
            if changed:
                break
    return terms


def _common_constant(terms: list) -> sp.Expr:
    """``c * (sum of terms / c)`` for every group of two or more terms carrying the same named
    constant ``_c<i>`` (one multiplication by ``c`` instead of one per term)."""
    groups: dict = {}
    for t in terms:
        cs = sorted((b for b in t.as_powers_dict() if isinstance(b, sp.Symbol) and _is_const(b)),
                    key=str)
        groups.setdefault(cs[0] if cs else None, []).append(t)
    out = []
    for c, ts in groups.items():
        if c is not None and len(ts) > 1:
            out.append(c * sp.Add(*[t / c for t in ts], evaluate=False))
        else:
            out.extend(ts)
    return sp.Add(*out)


def _horner(terms: list) -> sp.Expr:
    """Greedy multivariate Horner form of a sum of monomials: factor out the symbol that the
    most terms share (``x*(...) + rest``), recursively; fewer array multiplications."""
    if len(terms) <= 1:
        return sp.Add(*terms)
    count: dict = {}
    for t in terms:
        for b, k in t.as_powers_dict().items():
            if isinstance(b, sp.Symbol) and not _is_const(b) and k.is_Integer and k > 0:
                count[b] = count.get(b, 0) + 1
    if not count or max(count.values()) < 2:
        return _common_constant(terms)
    best = max(sorted(count, key=sp.default_sort_key), key=lambda b: count[b])
    inner = [t / best for t in terms if t.as_powers_dict().get(best, 0) > 0]
    rest = [t for t in terms if not t.as_powers_dict().get(best, 0) > 0]
    return best * _horner(inner) + _horner(rest)
