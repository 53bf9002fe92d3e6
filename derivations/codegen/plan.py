"""Stage 4, the plan: a registered formula in, its output as ``[(coefficient, basis)]`` after
the rewrites out.

In: a :class:`derivations.registry.Formula` written in invariant coordinates.  Out: a
:class:`_Plan`: the coefficients of the basis symbols (``None`` for a scalar result, a vector,
an outer product, the identity) after the completed squares and differences of
:mod:`.differences` and the angle rewrites and rejections of :mod:`.angles`, with the angles,
rejections and differences the body must compute.
"""
from __future__ import annotations

import sympy as sp

from .. import registry, vectors
from .angles import Rejection, _find_angles, _projection_angles, _rejections, _rewrite_angle
from .differences import Difference, _differences, _sqnorm_differences, _vector_differences


def _is_ones_outer(b) -> bool:
    m = vectors.meaning(b)
    return (m is not None and m.kind == "outer"
            and all(vectors.meaning(sp.Symbol(o)).kind == "ones" for o in m.operands))


def _diagonal_whole(parts: list) -> tuple[list, bool]:
    """A matrix ``c_J J + c_I I`` (``J`` all ones) whose diagonal ``c_J + c_I`` cancels (the
    Gram matrix B of the CNN: ``c_J = |w||w*|/2pi``, ``c_I = c_J (cos psi + sin - 1)``, so that
    the diagonal ``c_J (cos psi + sin)`` vanishes like ``t^3`` at phi = pi) is emitted with the
    diagonal as one coefficient ``c_J + c_I`` (which the edge series then covers) written over
    the diagonal, not added to it: ``_rt.set_diagonal(filled(c_J), c_J + c_I)``."""
    js = [i for i, (_, b) in enumerate(parts) if b is not None and _is_ones_outer(b)]
    es = [i for i, (_, b) in enumerate(parts)
          if b is not None and (m := vectors.meaning(b)) is not None and m.kind == "eye"]
    if len(js) != 1 or len(es) != 1:
        return parts, False
    (cj, _), (ci, bi) = parts[js[0]], parts[es[0]]
    out = list(parts)
    out[es[0]] = (sp.expand(cj + ci), bi)
    return out, True


class _Plan:
    """One formula's output after the rewrites: ``[(coefficient, basis)]`` (basis None for a
    scalar), the angles and rejections it needs."""

    def __init__(self, formula: registry.Formula, vector_differences: bool = False):
        self.formula = formula
        parts = vectors.components(formula.expr, formula.rank)
        self.differences: list[Difference] = []
        if formula.rank == 0 and parts:
            done, self.differences = _differences(parts[0][0], formula)
            done = _sqnorm_differences(done, formula)
            if self.differences or done != parts[0][0]:
                parts = [(done, parts[0][1])]
        elif formula.rank == 1 and len(parts) > 1 and vector_differences:
            # only beside a value that computes the same difference (a fused function): alone,
            # x and y cost less than the difference, and the direct sum is as accurate (measured
            # on grad_a at the teacher: 1.0e-8 vs 1.1e-8 at 1e-8 from it; both limited by
            # rounding |w*| a*, the conditioning of the difference itself)
            parts, self.differences = _vector_differences(parts, formula)
        self.set_diagonal = False
        if formula.rank == 2:
            parts, self.set_diagonal = _diagonal_whole(parts)
        self.angles = _find_angles(formula, [c for c, _ in parts])
        if formula.rank == 1:
            self.angles += _projection_angles(parts, self.angles)
        new = []
        for c, b in parts:
            for a in self.angles:
                c = _rewrite_angle(c, a)
            new.append((c, b))
        self.rejections: list[Rejection] = []
        if formula.rank == 1:
            new, self.rejections = _rejections(new, self.angles)
        self.parts = new

    def squared_norms(self, others: list["_Plan"]) -> dict:
        """``{norm symbol: squared-norm symbol}`` for the vectors whose norm enters every
        coefficient (of this plan and ``others``) in even powers only, and is not needed for
        an angle or a rejection: then ``x.x`` is used directly (no sqrt, no squaring)."""
        plans = [self] + others
        busy = {n for p in plans for a in p.angles if a.vectors for n in a.vectors}
        busy |= {n for p in plans for r in p.rejections for n in (r.x, r.y)}
        busy |= {str(m.operands[0]) for p in plans for d in p.differences  # norms in A, B
                 for s_ in (d.A * d.B).free_symbols if (m := vectors.meaning(s_)) is not None}
        out = {}
        for a in self.formula.args:
            if a.kind != "vector" or a.name in busy:
                continue
            nx = vectors.norm(sp.Symbol(a.name))
            sq = sp.Symbol(f"sqnorm_{a.name}", positive=True)
            ok, seen = True, False
            for p in plans:
                for c, _ in p.parts:
                    if nx not in c.free_symbols:
                        continue
                    seen = True
                    if nx in c.subs(nx, sp.sqrt(sq)).free_symbols or sp.sqrt(sq) in c.subs(nx, sp.sqrt(sq)).atoms(sp.Pow) \
                            or any(isinstance(t, sp.Pow) and t.base == sq and not t.exp.is_Integer
                                   for t in c.subs(nx, sp.sqrt(sq)).atoms(sp.Pow)):
                        ok = False
            if ok and seen:
                out[nx] = sq
        return out
