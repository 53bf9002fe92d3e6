"""Stage 5b, invariants: the names a printed body uses in, the lines computing them out.

In: the set of names the printed coefficients use, the plan's angles, rejections and
differences.  Out: :class:`_Invariants`, whose :meth:`~_Invariants.lines` are the runtime calls
computing norms (or squared norms), inner products (three sums in one pass where possible:
:func:`_one_pass`), sums, dimensions, differences (``_rt.difference``), angle terms
(``_rt.angle_terms``, ``_rt.sine``...) and rejections, each argument tested for NaN/inf once.
"""
from __future__ import annotations

import re

import sympy as sp

from .. import vectors
from .differences import _SQNORM_DIFFS, Difference
from .printer import _dim_code, print_expr


class _Invariants:
    """Which invariants an emitted body computes, and how (decided from the names its printed
    coefficients use):

    * ``norm_x`` (``_rt.norm``) where the coefficients use ``|x|``; ``sqnorm_x`` (``_rt.sqnorm``,
      no square root) where they use ``|x|^2`` only, or where ``x`` enters an angle only through
      the product ``nn_x_y = |x||y|`` (then ``nn_x_y = sqrt(|x|^2 |y|^2)``: one square root);
    * every vector argument is tested for NaN/inf once: by its norm, by an inner product or a
      sum over it (names passed), by ``_rt.check_nonzero``, or else by ``_rt.vector``;
    * nonzero arguments whose norm is not needed: ``_rt.check_nonzero`` (no norm computed).
    """

    def __init__(self, formula, used: set, angles: list, rejections: list, symbols: set,
                 differences: list | None = None):
        self.formula = formula
        self.differences = [d for d in differences or ()
                            if {str(d.sq), str(d.tot), str(d.vec)} & used]
        by_name = {str(s): s for s in symbols}
        vec = [a for a in formula.args if a.kind == "vector"]
        self.norm = {a.name for a in vec if f"norm_{a.name}" in used}
        self.sq = {a.name for a in vec if f"sqnorm_{a.name}" in used}
        self.angles = [a for a in angles if a.vectors]
        grown = True
        while grown:  # an angle takes the norms of both operands when it needs one of them
            grown = False
            for a in self.angles:
                pair = set(a.vectors)
                if pair & self.norm and not pair <= self.norm:
                    self.norm |= pair
                    grown = True
        for a in self.angles:
            x, y = a.vectors
            if x not in self.norm:
                self.sq |= {x, y}
        for r in rejections:  # |x|^2 of the rejection's base
            if r.x not in self.norm:
                self.sq.add(r.x)
        self.check = {a.name for a in vec if a.nonzero and a.name not in self.norm | self.sq}
        self.dims, self.dots, self.totals = {}, {}, {}
        for name in sorted(used & set(by_name)):
            m = vectors.meaning(by_name[name])
            if m is None:
                continue
            if m.kind == "dim":
                self.dims[name] = m
            elif m.kind == "dot":
                self.dots[name] = m
            elif m.kind == "total":
                self.totals[name] = m
        for a in self.angles:
            d = vectors.dot(sp.Symbol(a.vectors[0]), sp.Symbol(a.vectors[1]))
            self.dots[str(d)] = vectors.meaning(d)
        self.tested = self.norm | self.sq | self.check
        for m in list(self.dots.values()) + list(self.totals.values()):
            self.tested |= set(m.operands)
        for d in self.differences:
            self.tested |= {d.x, d.y}

    def size(self, x: str) -> str:
        """The name of the computed norm (or squared norm) of ``x``, or ``None``."""
        return f"norm_{x}" if x in self.norm else (f"sqnorm_{x}" if x in self.sq else "None")

    def sq_code(self, x: str) -> str:
        return f"sqnorm_{x}" if x in self.sq else f"norm_{x}*norm_{x}"

    def lines(self, angles: list, rejections: list, used: set) -> list[str]:
        formula = self.formula
        lines = []
        nonzero = {a.name for a in formula.args if a.nonzero}
        for a in sorted((a for a in formula.args if a.kind == "vector"), key=lambda a: a.name):
            nz = ", nonzero=True" if a.name in nonzero else ""
            if a.name in self.sq:
                lines.append(f'sqnorm_{a.name} = _rt.sqnorm({a.name}, "{a.name}"{nz})')
            if a.name in self.norm and a.name in self.sq:
                lines.append(f"norm_{a.name} = numpy.sqrt(sqnorm_{a.name})")
            elif a.name in self.norm:
                lines.append(f'norm_{a.name} = _rt.norm({a.name}, "{a.name}"{nz})')
            if a.name in self.check:
                lines.append(f'_rt.check_nonzero({a.name}, "{a.name}")')
        for name, m in sorted(self.dims.items()):
            lines.append(f"{name} = {_dim_code(formula, m.operands[0])}")
        for name in sorted(used & set(_SQNORM_DIFFS)):
            x, y = _SQNORM_DIFFS[name]
            lines.append(f"# |{x}|^2 - |{y}|^2 from the sums of squares in double-double (no cancellation)")
            lines.append(f'{name} = _rt.sqnorm_difference({x}, {y}, ("{x}", "{y}"))')
        paired = {frozenset((d.x, d.y)): d for d in self.differences}
        for name, m in sorted(self.dots.items()):
            x, y = m.operands
            if frozenset((x, y)) in paired and self.size(x) == self.size(y) == "None":
                continue  # formed by the difference of x and y, in the same pass
            nx, ny = self.size(x), self.size(y)
            names = f', names=("{x}", "{y}")' if "None" in (nx, ny) else ""
            lines.append(f"{name} = _rt.dot({x}, {y}, {nx}, {ny}{names})")
        _one_pass(lines)
        for name, m in sorted(self.totals.items()):
            x = m.operands[0]
            nx = self.size(x)
            lines.append(f"{name} = _rt.total({x}, {nx}" + (f', name="{x}")' if nx == "None" else ")"))
        for d in self.differences:
            want = (d.sq, d.tot, d.vec) if str(d.vec) in used else (d.sq, d.tot)
            extra = ", vector=True" if str(d.vec) in used else ""
            xy = str(vectors.dot(sp.Symbol(d.x), sp.Symbol(d.y)))
            if xy in self.dots and self.size(d.x) == self.size(d.y) == "None":
                want += (sp.Symbol(xy),)
                extra += ", with_dot=True"
            refine = _refine_scales(d)
            if refine:
                extra += f", scales={refine}"
            bound = used | ({str(d.sq)} if str(d.vec) in used else set())  # sq: the vec's bound
            outs = ", ".join(str(t) if str(t) in bound else "_" for t in want)
            lines.append(f"# {d.x} - s {d.y}, its squared norm and sum, from the difference itself: "
                         f"no cancellation when the two nearly agree")
            lines.append(f'{outs} = _rt.difference({d.x}, {d.y}, {_scale_code(d.A)}, '
                         f'{_scale_code(d.B)}, ("{d.x}", "{d.y}"){extra})')
        for a in angles:
            base = str(a.cos)[4:]
            if a.vectors:
                x, y = a.vectors
                if x in self.norm:
                    lines.append(f"nn_{base} = norm_{x}*norm_{y}")
                else:
                    lines.append(f"nn_{base} = numpy.sqrt(sqnorm_{x}*sqnorm_{y})")
            want = [n for n, sym in (("cos", a.cos), ("sin", a.sin), ("phi", a.phi), ("psi", a.psi))
                    if str(sym) in used]
            if not want:
                continue
            nonzero = {arg.name for arg in formula.args if arg.nonzero}
            if a.vectors and want == ["cos"] and not set(a.vectors) <= nonzero:
                # only the cosine (to find the near-parallel rows of a rejection), and an operand
                # may be zero (a gradient): cos = 0 there, the rejection is then 0
                lines.append(f"{a.cos} = _rt.cosine_or_zero(dot_{x}_{y}, nn_{base})")
            elif a.vectors:
                names = ", ".join(str(sym) if n in want else "_"
                                  for n, sym in zip(("cos", "sin", "phi", "psi"),
                                                    (a.cos, a.sin, a.phi, a.psi)))
                zero_ok = ", zero_ok=True" if not set(a.vectors) <= nonzero else ""
                lines.append(f"{names} = _rt.angle_terms({x}, {y}, None, None, dot_{x}_{y}, "
                             f"\"{' '.join(want)}\", norm_xy=nn_{base}{zero_ok})")
            else:
                if "cos" in want:
                    lines.append(f"{a.cos} = numpy.cos({a.phi})")
                if "sin" in want and "cos" in want:  # the sine from the cosine (angle_rules)
                    lines.append(f"{a.sin} = _rt.sine({a.phi}, {a.cos})")
                elif "sin" in want:
                    lines.append(f"{a.sin} = numpy.sin({a.phi})")
                if "psi" in want:
                    lines.append(f"{a.psi} = _rt.pi_minus({a.phi})")
        for r in rejections:
            if not r.pair:
                lines.append(f"{r.symbol} = _rt.rejection({r.y}, {r.x}, {self.sq_code(r.x)}, "
                             f"{r.dot}, {r.angle.cos})")
        return lines


def _refine_scales(d: Difference) -> str:
    """``"(u, v)"`` for ``_rt.difference(..., scales=...)``: the vectors whose norms the scales
    ``A``, ``B`` of a difference are (``None`` for an exact number), so the runtime re-forms the
    near-cancelling rows with the norms in double-double; ``""`` when both scales are exact
    numbers (nothing is rounded: ``w - w*``) or a scale is not one plain norm."""
    out = []
    for e in (d.A, d.B):
        m = vectors.meaning(e) if isinstance(e, sp.Symbol) else None
        if m is not None and m.kind == "norm":
            out.append(str(m.operands[0]))
        elif e.is_Rational and (e.q & (e.q - 1)) == 0:  # exact in binary floating point
            out.append("None")
        else:
            return ""
    return "" if out == ["None", "None"] else f"({out[0]}, {out[1]})"


def _scale_code(e: sp.Expr) -> str:
    """A per-row scale (a monomial in the norms) as code; ``1`` as ``1.0``."""
    return "1.0" if e == 1 else print_expr(e)


def _one_pass(lines: list[str]) -> None:
    """Where the norms of two vector arguments and their inner product are all computed, the
    three lines become one ``_rt.norms_and_dot`` call (one pass over the rows for the three
    sums, same values), at the place of the first norm."""
    for k, line in enumerate(lines):
        m = re.fullmatch(r"dot_(\w+) = _rt\.dot\((\w+), (\w+), norm_\2, norm_\3\)", line)
        if not m:
            continue
        x, y = m[2], m[3]
        found = {}
        for v in (x, y):
            pat = rf'norm_{v} = _rt\.norm\({v}, "{v}"(, nonzero=True)?\)'
            found[v] = next(((i, bool(n[1])) for i, ln in enumerate(lines) if (n := re.fullmatch(pat, ln))),
                            None)
        if None in found.values():
            continue
        (i, nzx), (j, nzy) = found[x], found[y]
        first = min(i, j)
        lines[first] = (f'norm_{x}, norm_{y}, dot_{m[1]} = _rt.norms_and_dot({x}, {y}, ("{x}", "{y}"), '
                        f"nonzero=({nzx}, {nzy}))")
        for idx in sorted({i, j, k} - {first}, reverse=True):
            del lines[idx]
        return _one_pass(lines)
