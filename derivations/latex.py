"""LaTeX for formulas: amsmath equations, line breaking, "where" lists, complete documents.

* :func:`equation` -- ``lhs = rhs`` on one line (``Formula.latex()``, notebooks, the CLI);
* :func:`display` -- the same equation as a display that fits the text width: long formulas are
  broken at top-level sums (``split``), then inside the widest parenthesized factor (a fraction
  with a long numerator is shown as ``1/den (num)`` first), then between factors;
* :func:`where_list` -- every symbol of a formula defined in words, from the symbol table of
  :mod:`derivations.vectors` (norms, inner products, sums, angles, dimensions), the formula's
  arguments and its ``where`` dictionary;
* :func:`escape` -- running text: LaTeX specials escaped, ``>=``, ``|v|``, ``z^T``, Greek names
  and the like set in math mode;
* :func:`formula_document` -- ``nnderive latex NAME --document``: derived and printed forms,
  their difference, the "where" list.

Documents use T1 font encoding with scalable fonts (Latin Modern when installed, otherwise the
``ae`` virtual fonts of texlive-latex-base) and only packages of texlive-latex-base.  Widths are
estimated from the LaTeX source (units of about one math letter); the tests compile every
document with pdflatex and require zero overfull boxes.
"""
from __future__ import annotations

import re

import sympy as sp

from . import vectors

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[T1]{fontenc}
\IfFileExists{lmodern.sty}{\usepackage{lmodern}}{\usepackage{ae,aecompl}}
\usepackage{amsmath,amssymb}
\usepackage[a4paper,margin=2cm]{geometry}
\allowdisplaybreaks
\emergencystretch=4em
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5ex}
"""

#: Width budget of one display line, in estimated math-letter units (text width 17 cm at 11 pt
#: holds about 85; the margin absorbs the estimate's error).
LINE_WIDTH = 66.0


# --------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------


def to_latex(expr: sp.Expr, names: dict | None = None) -> str:
    """LaTeX of an invariant-coordinate expression (bold vectors, norms, inner products)."""
    symbol_names = vectors.latex_names()
    if names:
        symbol_names.update(names)
    # powers of names that carry a superscript (w^*) get braces, not \left( \right)
    return sp.latex(expr, symbol_names=symbol_names, parenthesize_super=False)


#: Glyph fixes: ``\mathbb 1`` is not in amssymb's blackboard font (it prints as another
#: symbol); the indicator is set as a bold one, as in the thesis.
_GLYPHS = ((r"\mathbb{1}", r"\mathbf{1}"), (r"\mathbb 1", r"\mathbf 1"),
           (r"\mathbb{I}\{", r"\mathbf{1}\{"), (r"\mathbb{I}", r"\mathbf{1}"))


def glyphs(tex: str) -> str:
    """``tex`` with glyphs that texlive-latex-base lacks replaced (the indicator's bold 1)."""
    for a, b in _GLYPHS:
        tex = tex.replace(a, b)
    return tex


def rhs(formula, which: str = "display") -> str:
    """LaTeX of the right-hand side: ``"display"`` (the display form, proved equal to the
    derivation), ``"expr"`` (the raw derived expression), ``"paper"`` (the printed statement
    set by the same display machinery) or ``"paper_expr"`` (the raw transcription)."""
    if which not in ("display", "expr", "paper", "paper_expr"):
        raise ValueError(f"which must be 'display', 'expr', 'paper' or 'paper_expr', got {which!r}")
    if which in ("display", "paper"):
        from .display import display_of

        if which == "paper" and formula.paper is None:
            raise ValueError(f"{formula.name} has no transcribed paper statement")
        return glyphs(display_of(formula, "expr" if which == "display" else "paper").rhs_tex())
    expr = formula.expr if which == "expr" else formula.paper
    if expr is None:
        raise ValueError(f"{formula.name} has no transcribed paper statement")
    custom = getattr(formula, "latex_rhs", None)
    return glyphs(custom(expr) if custom is not None else to_latex(expr))


def lhs(formula, which: str = "display") -> str:
    if which in ("display", "paper"):
        from .display import display_of

        d = display_of(formula, "expr" if which == "display" else "paper")
        if d.lhs:
            return glyphs(d.lhs)
    return glyphs(formula.lhs)


#: relations a bound's left-hand side may end with (``|I_2| \\le``): the equation uses it in place
#: of ``=``, so a bound reads ``|I_2| <= rhs`` (not ``|I_2| <= = rhs``)
_RELATIONS = (r"\leq", r"\geq", r"\le", r"\ge", r"\lesssim", r"\gtrsim", "<", ">")


def split_relation(left: str) -> tuple[str, str]:
    """``(lhs, relation)``: the relation a left-hand side ends with, else ``=``."""
    s = left.rstrip()
    for r in _RELATIONS:
        if s.endswith(r) and (not r[0] == "\\" or not s[:-len(r)].endswith("\\")):
            return s[:-len(r)].rstrip(), r
    return left, "="


def equation(formula, which: str = "display") -> str:
    """``lhs = rhs`` for ``formula``, one line (``which`` as in :func:`rhs`; ``"expr"`` is the
    raw derived expression, ``nnderive latex NAME --expanded``); a bound's ``lhs \\le`` gives
    ``lhs \\le rhs``."""
    left, rel = split_relation(lhs(formula, which))
    return f"{left} {rel} {rhs(formula, which)}"


def snippet(formula) -> str:
    """A fragment for pasting into a paper: the macros it needs (amsmath, amssymb), the display
    equation, and the definitions of its named functions."""
    from .display import display_of

    d = display_of(formula)
    lines = [f"% {formula.name}: {formula.source}",
             "% generated by nnderive (display form, proved equal to the derivation by SymPy)",
             "% needs: \\usepackage{amsmath,amssymb}",
             "\\begin{equation}", equation(formula), "\\end{equation}"]
    defs = d.definition_lines()
    if defs:
        lines += ["where", "\\begin{gather*}", " \\\\\n".join(
            f"{glyphs(a)} = {glyphs(b)}" for a, b in defs), "\\end{gather*}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# A small reader of math-mode LaTeX: atoms, widths, line breaks
# --------------------------------------------------------------------------------------------

_OPEN = {"(": ")", "[": "]", r"\{": r"\}", r"\langle": r"\rangle", r"\lbrack": r"\rbrack",
         r"\lceil": r"\rceil", r"\lfloor": r"\rfloor"}
_SIZES = re.compile(r"\\(?:big|Big|bigg|Bigg)[lrm]?(?![a-zA-Z])")
_WIDE_CMDS = {"quad": 1.8, "qquad": 3.6, ",": 0.3, ";": 0.5, ":": 0.4, "!": -0.3, " ": 0.5,
              "cdot": 1.3, "times": 1.6, "dots": 2.0, "ldots": 2.0, "cdots": 2.0, "|": 0.6,
              "top": 0.8, "ge": 1.8, "le": 1.8, "geq": 1.8, "leq": 1.8, "neq": 1.8, "to": 1.8,
              "approx": 1.8, "in": 1.6, "mid": 1.2, "sum": 1.6, "prod": 1.6, "int": 1.0,
              "infty": 1.3, "partial": 0.9, "nabla": 1.1, "langle": 0.6, "rangle": 0.6,
              "perp": 1.1, "ell": 0.7, "left": 0.0, "right": 0.0, "displaystyle": 0.0,
              "mathbf": 0.0, "min": 2.0, "max": 2.2, "arg": 1.6, "log": 1.8, "ln": 1.3,
              "exp": 2.0, "cos": 2.0, "sin": 1.7, "tan": 1.8, "acos": 3.4, "arccos": 4.0,
              "operatorname": 0.0}
_SCRIPT = 0.7


class Atom:
    """An unbreakable piece of math at one nesting level (with its sub/superscripts).

    ``kind``: ``"op"`` (binary + or -), ``"rel"`` (=, \\ge, ...), ``"group"`` (a \\left..\\right
    or \\big..\\big pair: ``open``, ``inner``, ``close``), ``"frac"`` (``num``, ``den``),
    ``"plain"``."""

    def __init__(self, text, kind="plain", **parts):
        self.text, self.kind, self.scripts = text, kind, ""
        self.__dict__.update(parts)

    def full(self) -> str:
        return self.text + self.scripts

    def __repr__(self):  # pragma: no cover - debugging aid
        return f"Atom({self.kind}: {self.full()[:40]})"


def _brace(tex: str, i: int) -> int:
    """Index just past the brace group starting at ``tex[i] == '{'``."""
    depth = 0
    for j in range(i, len(tex)):
        c = tex[j]
        if c == "\\":
            continue
        if c == "{" and (j == 0 or tex[j - 1] != "\\"):
            depth += 1
        elif c == "}" and (j == 0 or tex[j - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return j + 1
    return len(tex)


def _command(tex: str, i: int) -> int:
    """Index past the control sequence at ``tex[i] == '\\'``."""
    j = i + 1
    if j < len(tex) and tex[j].isalpha():
        while j < len(tex) and tex[j].isalpha():
            j += 1
        return j
    return min(j + 1, len(tex))


def _delim(tex: str, i: int) -> tuple[str, int]:
    """The delimiter after \\left/\\right/\\big: ``(``, ``\\{``, ``\\langle``, ``.``, ..."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if tex[i] == "\\":
        j = _command(tex, i)
        return tex[i:j], j
    return tex[i], i + 1


def _skip_spaces(tex, i):
    while i < len(tex) and tex[i].isspace():
        i += 1
    return i


def atoms(tex: str) -> list[Atom]:
    """Split math-mode LaTeX into top-level :class:`Atom` s."""
    out: list[Atom] = []
    i, n = 0, len(tex)
    while i < n:
        c = tex[i]
        if c.isspace():
            i += 1
            continue
        if c in "^_":  # a script belongs to the atom before it
            j = _skip_spaces(tex, i + 1)
            if j < n and tex[j] == "{":
                k = _brace(tex, j)
            elif j < n and tex[j] == "\\":
                k = _command(tex, j)
            else:
                k = j + 1
            if out:
                out[-1].scripts += c + tex[j:k]
            else:
                out.append(Atom(c + tex[j:k]))
            i = k
            continue
        if tex.startswith(r"\left", i) and not tex[i + 5:i + 6].isalpha():
            opened, j = _delim(tex, i + 5)
            depth, k = 1, j
            while k < n:
                if tex.startswith(r"\left", k) and not tex[k + 5:k + 6].isalpha():
                    depth += 1
                    k += 5
                elif tex.startswith(r"\right", k) and not tex[k + 6:k + 7].isalpha():
                    depth -= 1
                    if depth == 0:
                        break
                    k += 6
                else:
                    k += 1
            closed, end = _delim(tex, k + 6)
            out.append(Atom(tex[i:end], "group", open=opened, inner=tex[j:k], close=closed))
            i = end
            continue
        m = _SIZES.match(tex, i)
        if m:
            opened, j = _delim(tex, m.end())
            if opened in _OPEN:  # \big( ... \big): find the matching sized closer
                want, depth, k = _OPEN[opened], 1, j
                close_at = None
                while k < n:
                    mm = _SIZES.match(tex, k)
                    if mm:
                        d, kk = _delim(tex, mm.end())
                        if d == opened:
                            depth += 1
                        elif d == want:
                            depth -= 1
                            if depth == 0:
                                close_at = (k, kk)
                                break
                        k = kk
                    else:
                        k += 1
                if close_at is not None:
                    out.append(Atom(tex[i:close_at[1]], "group", open=opened,
                                    inner=tex[j:close_at[0]], close=want))
                    i = close_at[1]
                    continue
            out.append(Atom(tex[i:j]))
            i = j
            continue
        if tex.startswith(r"\begin{", i):
            env = tex[i + 7:_brace(tex, i + 6) - 1]
            end_tag = r"\end{" + env + "}"
            depth, k = 1, _brace(tex, i + 6)
            while k < n and depth:
                if tex.startswith(r"\begin{" + env + "}", k):
                    depth += 1
                    k += 1
                elif tex.startswith(end_tag, k):
                    depth -= 1
                    if depth == 0:
                        break
                    k += 1
                else:
                    k += 1
            out.append(Atom(tex[i:k + len(end_tag)], "env", env=env,
                            inner=tex[_brace(tex, i + 6):k]))
            i = k + len(end_tag)
            continue
        if c == "\\":
            j = _command(tex, i)
            name = tex[i + 1:j]
            if name in ("frac", "dfrac", "tfrac"):
                a0 = _skip_spaces(tex, j)
                a1 = _brace(tex, a0)
                b0 = _skip_spaces(tex, a1)
                b1 = _brace(tex, b0)
                out.append(Atom(tex[i:b1], "frac", num=tex[a0 + 1:a1 - 1],
                                den=tex[b0 + 1:b1 - 1]))
                i = b1
                continue
            if name in ("ge", "le", "geq", "leq", "neq", "approx", "to", "equiv"):
                out.append(Atom(tex[i:j], "rel"))
                i = j
                continue
            k = j
            while True:  # the command's brace (and bracket) arguments
                kk = _skip_spaces(tex, k)
                if kk < n and tex[kk] == "{" and name not in _WIDE_CMDS or (
                        kk < n and tex[kk] == "{" and name in ("operatorname", "mathbf")):
                    k = _brace(tex, kk)
                elif kk < n and tex[kk] == "[" and name == "sqrt":
                    k = tex.index("]", kk) + 1
                else:
                    break
            out.append(Atom(tex[i:k]))
            i = k
            continue
        if c == "{":
            k = _brace(tex, i)
            out.append(Atom(tex[i:k], "brace", inner=tex[i + 1:k - 1]))
            i = k
            continue
        if c in "+-":
            out.append(Atom(c, "op"))
        elif c in "=<>":
            out.append(Atom(c, "rel"))
        else:
            out.append(Atom(c))
        i += 1
    # a sign directly after an operator, a relation or at the start is unary
    for a, prev in zip(out, [None] + out[:-1]):
        if a.kind == "op" and (prev is None or prev.kind in ("op", "rel")):
            a.kind = "plain"
    return out


def width(tex: str) -> float:
    """Estimated width of math-mode LaTeX in units of about one math letter."""
    return sum(_atom_width(a) for a in atoms(tex))


def _text_width(text: str) -> float:
    return 0.8 * len(re.sub(r"\\[a-zA-Z]+|[{}]", "", text))


def _atom_width(a: Atom) -> float:
    w = _base_width(a)
    for m in re.finditer(r"[\^_](\{(?:[^{}]|\{[^{}]*\})*\}|\\[a-zA-Z]+|.)", a.scripts):
        s = m.group(1)
        w += _SCRIPT * (width(s[1:-1]) if s.startswith("{") else 1.0)
    return w


def _base_width(a: Atom) -> float:
    t = a.text
    if a.kind == "op":
        return 2.2
    if a.kind == "rel":
        return 2.6
    if a.kind == "group":
        return width(a.inner) + (0.0 if a.open == "." else 0.8) + (0.0 if a.close == "." else 0.8)
    if a.kind == "frac":
        return max(width(a.num), width(a.den)) + 0.6
    if a.kind == "brace":
        return width(a.inner)
    if a.kind == "env":
        rows = re.split(r"\\\\", a.inner)
        cells = [sum(width(c) for c in row.split("&")) + 1.5 * row.count("&") for row in rows]
        return max(cells, default=0.0) + 2.0
    if t.startswith("\\"):
        name = re.match(r"\\([a-zA-Z]+|.)", t).group(1)
        arg = t[len(name) + 1:].strip()
        if name in ("mathbf", "boldsymbol", "mathbb", "mathcal", "mathit", "bm"):
            return 1.1 * width(arg[1:-1]) if arg.startswith("{") else 1.1
        if name in ("mathrm", "text", "textrm", "operatorname", "mathsf", "texttt"):
            return _text_width(arg) + (0.4 if name == "operatorname" else 0.0)
        if name == "sqrt":
            return width(arg[arg.index("{") + 1:-1]) + 1.4 if "{" in arg else 1.4
        if _SIZES.fullmatch(t.split("(")[0].split("[")[0]) or name in ("big", "Big", "bigg", "Bigg"):
            return 0.8
        base = _WIDE_CMDS.get(name, 1.0)
        if arg.startswith("{"):  # e.g. \cos{\left(x\right)}: the argument follows
            base += width(arg[1:-1])
        return base
    if t in ",;":
        return 0.6
    if t in "()[]|":
        return 0.6
    if t == ".":
        return 0.4
    if t == "!":
        return 0.5
    return 1.0


def _terms(items: list[Atom]) -> list[list[Atom]]:
    """Split at top-level binary + / - and relations (each new term keeps its operator), and
    after ``,`` followed by ``\\quad`` or ``\\ `` (lists of definitions)."""
    out: list[list[Atom]] = [[]]
    for k, a in enumerate(items):
        prev = items[k - 1] if k else None
        in_definition = bool(out[-1]) and out[-1][0].text in (r"\quad", r"\qquad", r"\ ")
        if out[-1] and (a.kind == "op" or (a.kind == "rel" and not in_definition) or (
                prev is not None and prev.text == "," and a.text in (r"\quad", r"\qquad", r"\ "))):
            out.append([])
        out[-1].append(a)
    return [t for t in out if t]


def _join(items: list[Atom]) -> str:
    return " ".join(a.full() for a in items)


def _w(items: list[Atom]) -> float:
    return sum(_atom_width(a) for a in items)


def break_math(tex: str, limit: float = LINE_WIDTH) -> list[tuple[int, str]]:
    """Break math-mode LaTeX into ``[(depth, line)]`` of estimated width ``<= limit``.

    Lines after the first start with their operator; ``depth`` counts the parenthesized
    groups a line sits in (for indentation: each level costs 2 units of the limit)."""
    return _layout(atoms(tex), limit, 0)


def _layout(items: list[Atom], limit: float, depth: int,
            used: float = 0.0) -> list[tuple[int, str]]:
    """Greedy lines of ``items``; the first line already holds ``used`` units."""
    lines: list[tuple[int, str]] = []
    cur, cur_w = [], used  # pieces of the line being filled and its width
    for term in _terms(items):
        room = limit - 2.0 * depth
        tw = _w(term)
        if cur_w + tw <= room:
            cur.append(_join(term))
            cur_w += tw
            continue
        if cur or (not lines and used and tw <= room):
            lines.append((depth, " ".join(cur)))
            cur, cur_w = [], 0.0
        if tw <= room:
            cur, cur_w = [_join(term)], tw
            continue
        broken = _break_term(term, limit, depth, cur_w)
        lines += broken[:-1]
        d_last, last = broken[-1]
        if d_last == depth:
            cur, cur_w = [last], width(last)
        else:
            lines.append((d_last, last))
    if cur:
        lines.append((depth, " ".join(cur)))
    return lines


def _break_term(term: list[Atom], limit: float, depth: int,
                used: float = 0.0) -> list[tuple[int, str]]:
    """Break one over-wide product: inside its widest group or fraction, else between factors."""
    candidates = [(k, a) for k, a in enumerate(term)
                  if a.kind == "group" or (a.kind == "frac" and width(a.num) > width(a.den))
                  or (a.kind == "brace" and len(_terms(atoms(a.inner))) > 1)]
    if candidates:
        k, a = max(candidates, key=lambda ka: _atom_width(ka[1]))
        if _atom_width(a) > 0.3 * limit:
            before, after = term[:k], term[k + 1:]
            if a.kind == "frac":  # num/den -> 1/den (num)
                one = Atom(rf"\frac{{1}}{{{a.den}}}", "frac", num="1", den=a.den)
                grp = Atom(rf"\left({a.num}\right)", "group", open="(", inner=a.num, close=")")
                grp.scripts = a.scripts
                return _break_term(before + [one, grp] + after, limit, depth, used)
            if a.kind == "brace":
                opened, close, inner = "", "", a.inner
            else:
                opened, close, inner = a.open, a.close, a.inner
            size = "bigg" if r"\frac" in inner or r"\sum" in inner else "big"
            lo = "" if opened in ("", ".") else rf"\{size}l{opened}"
            rc = "" if close in ("", ".") else rf"\{size}r{close}"
            prefix: list[tuple[int, str]] = []
            head_w = used + _w(before) + 0.8
            if before and head_w > 0.6 * (limit - 2.0 * depth):  # open the group on a new line
                prefix = [(depth, _join(before))]
                before, head_w = [], 0.8
            head = (_join(before) + " " + lo).strip()
            inner_lines = _layout(atoms(inner), limit, depth + 1, head_w)
            out = prefix + [(depth, head + " " + inner_lines[0][1])] + inner_lines[1:]
            d_last, last = out[-1]
            tail = (rc + a.scripts).strip()
            room = limit - 2.0 * d_last
            if width(last) + width(tail) + _w(after) <= room:
                out[-1] = (d_last, f"{last} {tail} {_join(after)}")
            else:  # the rest does not fit: close the group, continue below
                out[-1] = (d_last, f"{last} {tail}")
                if after:
                    out += _layout(after, limit, depth)
            return [(d, t.strip()) for d, t in out]
    # no group to open: break between factors, continuing with a centred dot
    lines, cur = [], []
    for a in term:
        if cur and _w(cur) + _atom_width(a) + (used if not lines else 0.0) > limit - 2.0 * depth:
            lines.append(cur)
            cur = [Atom(r"\cdot")]
        cur.append(a)
    lines.append(cur)
    return [(depth, _join(t)) for t in lines]


def display(tex: str, limit: float = LINE_WIDTH) -> str:
    """A displayed equation (``equation*``) of ``tex``, broken across lines (``split``) when it
    is wider than ``limit``: at the first top-level relation (aligned), then at top-level sums,
    then inside the widest parenthesized factor."""
    items = atoms(tex)
    if _w(items) <= limit:
        return "\\begin{equation*}\n" + tex + "\n\\end{equation*}"
    rel = next((k for k, a in enumerate(items) if a.kind == "rel"), None)
    lhs, rhs = (items[:rel], items[rel:]) if rel is not None else ([], items)
    lhs_w = _w(lhs)
    rows: list[str] = []
    if lhs_w <= 0.35 * limit:
        lines = _layout(rhs[1:] if rel is not None else rhs, limit - lhs_w - 3.0, 0)
        first = (_join(lhs) + " &" + rhs[0].full() + " ") if rel is not None else "& "
        rows.append(first + lines[0][1])
    else:
        lines = _layout(rhs, limit - 4.0, 0)
        rows.append("& " + _join(lhs))
        rows.append(r"&\quad " + lines[0][1])
    for d, text in lines[1:]:
        rows.append("&" + r"\quad" * (d + (1 if rows[0].startswith("& ") and len(rows) > 1
                                           else 0)) + r"\quad " + text)
    return ("\\begin{equation*}\n\\begin{split}\n" + " \\\\\n".join(rows)
            + "\n\\end{split}\n\\end{equation*}")


def formula_display(formula, which: str = "display", limit: float = LINE_WIDTH) -> str:
    """:func:`display` of ``formula``'s equation (``which`` as in :func:`rhs`)."""
    return display(equation(formula, which), limit)


# --------------------------------------------------------------------------------------------
# Running text
# --------------------------------------------------------------------------------------------

_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma "
          "tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega").split()
_TEXT_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                 "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                 "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                 "|": r"\textbar{}"}
def _exp(g):
    e = g[1][1:-1] if g[1][:1] in "({" else g[1]
    if "sqrt(" in e:  # e^{sqrt(d) r/delta}: the root in math too
        e = re.sub(r"\bsqrt\(([^()$]*)\)", lambda m: "\x00" + m.group(1) + "\x01", e)
        return rf"{g[0]}^{{{'^'.join(_escape_math(p) for p in e.split('^'))}}}".replace(
            "\x00", r"\sqrt{").replace("\x01", "}")
    # a superscript inside the exponent (e^{-a - a^2/H}) stays a superscript
    return rf"{g[0]}^{{{'^'.join(_escape_math(part) for part in e.split('^'))}}}"


def _inner_math(text: str) -> str:
    """A function argument in running text set in math mode: ``w.z`` as ``w^\\top z``, then
    :func:`escape` (its math pieces joined, plain words upright)."""
    text = re.sub(r"(\w\*?)\.(?=[A-Za-z$])", r"\1^T ", text)
    out = escape(text)
    parts = re.split(r"(\$[^$]*\$)", out)
    math = "".join(p[1:-1] if p.startswith("$") else
                   re.sub(r"([A-Za-z]{2,})", r"\\mathrm{\1}", p) for p in parts)
    for a, b in ((r"\mathrm{textasciicircum}{}", "^"), (r"\mathrm{textbar}{}", "|"),
                 (r"\mathrm{textless}{}", "<"), (r"\mathrm{textgreater}{}", ">"),
                 (r"\mathrm{textasciitilde}{}", r"\sim ")):
        math = math.replace("\\" + a[1:] if False else a, b)
    math = re.sub(r"\\(?=\^)", "", math)
    return math + ("{}" if math.endswith(("^", "_")) else "")


_PAREN = r"\(((?:[^()$]|\((?:[^()$]|\([^()$]*\))*\))*)\)"
_MATH_TOKENS = [  # (pattern, groups -> math) applied to plain text before escaping the rest
    (r"\b(?:relu|sigma)" + _PAREN, lambda g: rf"\sigma({_inner_math(g[0])})"),     # relu(w.z)
    (r"\bsqrt" + _PAREN, lambda g: rf"\sqrt{{{_inner_math(g[0])}}}"),              # sqrt(2 pi)
    (r"\bprod_\{([^{}]*)\}", lambda g: rf"\prod_{{{_inner_math(g[0].replace('!=', ' ne '))}}}"
     .replace(r"\mathrm{ne}", r"\ne")),                                                # prod_{i != k}
    (r"\b1/2 E\b", lambda g: r"\tfrac{1}{2}\mathbb{E}"),                             # 1/2 E (...)
    (r"\|([A-Za-z]\w* [A-Za-z]\w*)\|(?![|^_])",                                       # |grad L|
     lambda g: r"\|" + _inner_math(g[0]).replace(" ", r"\,") + r"\|"),
    (r"\bE\[((?:[^\[\]]|\[[^\[\]]*\])*)\]", lambda g: rf"\mathbb{{E}}[{_inner_math(g[0])}]"),
    (r">=|≥", lambda g: r"\ge"), (r"<=|≤", lambda g: r"\le"), (r"!=|≠", lambda g: r"\ne"),
    (r"->|→", lambda g: r"\to"), (r"\+-|±", lambda g: r"\pm"),
    (r"(?<![\w)])-?\binf\b|∞", lambda g: r"\infty"),
    (r"(?<=\s)~(?=\s)", lambda g: r"\sim"),
    (r"\|([A-Za-z][\w*]{0,5})\|(?:\^([0-9]))?",                                # |v|, |w*|^2
     lambda g: rf"\|{_sym(g[0])}\|" + (f"^{g[1]}" if g[1] else "")),
    (r"\|(?![\s^])([^|$\n]{1,60}?)\|(_F)?\^([0-9])",                                     # |y - u(0)|^2, |M|_F^2
     lambda g: rf"\lvert$ {escape(g[0])} $\rvert{g[1] or ''}^{g[2]}"),           # (inside: running text)
    (r"\b([A-Za-z])\*\^T\b", lambda g: rf"{g[0]}^{{*\top}}"),                       # v*^T
    (r"\b([A-Za-z])\^_(\w{1,3})\b", lambda g: rf"\hat{{{g[0]}}}_{{{g[1]}}}"),      # x^_j (DFT)
    (r"\b([A-Za-z]\w*|\d+)\^T\b", lambda g: rf"{_base(g[0])}^\top"),          # z^T, 11^T
    (r"(?:\b([A-Za-z]\w*|\d+)|([\])]))\^(-?[0-9*A-Za-z](?![A-Za-z])|\{(?:[^{}]|\{[^{}]*\})*\}|\([^()]{1,12}\))",
     lambda g: _exp((_base(g[0]) if g[0] else g[1], g[2]))),                # x^2, eps^3, [..]^d
    (r"\bsum_([a-z])\b", lambda g: rf"\sum_{{{g[0]}}}"),                        # sum_i
    (r"\b([A-Za-z])_([A-Za-z0-9]{1,3}|\{[^{}]*\})(?![\w])",                    # x_i, w_{t+1}
     lambda g: rf"{g[0]}_{{{_escape_math(g[1].strip('{}'))}}}"),
    (r"\b([A-Za-z])\*(?!\*)", lambda g: rf"{g[0]}^*"),                        # w*
    (r"\b(" + "|".join(_GREEK) + r")\b", lambda g: "\\" + g[0]),             # gamma
    (r"(?<=[\s(\[,=])([<>=])(?=[\s\d(-])", lambda g: g[0]),                   # a lone relation
]


def _base(word: str) -> str:
    """The base of a power in math mode: ``y_i`` as ``y_{i}``, a Greek name as its symbol."""
    head, sep, rest = word.partition("_")
    if sep and len(head) == 1 and rest:
        return rf"{head}_{{{_escape_math(rest)}}}"
    return _escape_math(word).strip()


def _sym(name: str) -> str:
    """A norm's argument in math mode: ``x_i`` as ``x_{i}``, escaped first, then ``w*`` as
    ``w^*`` (escaping after would turn the superscript into a literal hat)."""
    if "*" in name[:-1]:
        return _escape_math(name).replace("*", "^*")
    return _base(name.rstrip("*")) + ("^*" if name.endswith("*") else "")


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


def _escape_math(text: str) -> str:
    """Plain text set inside math mode: Greek names as symbols, ``_`` as a literal underscore,
    braces kept only when balanced; other math specials (``^ $ & # % ~ \\``) escaped."""
    text = "".join({"\\": r"\backslash ", "$": r"\$", "&": r"\&", "#": r"\#", "%": r"\%",
                    "~": r"\sim ", "^": r"\hat{}", "_": r"\_"}.get(c, c) for c in text)
    if not _balanced(text):
        text = text.replace("{", r"\{").replace("}", r"\}")
    return re.sub(r"\b(" + "|".join(_GREEK) + r")\b", r"\\\1 ", text)


def escape(text: str) -> str:
    """Running text as LaTeX: specials escaped, math-like tokens (``>=``, ``|v|``, ``z^T``,
    ``x_i``, ``w*``, Greek names) set in math mode.  Never emits a bare ``^``, ``_``, ``<``,
    ``>`` or ``|`` outside math mode, so nothing prints as an inverted question mark."""
    text = str(text)
    out, i = [], 0
    pattern = re.compile("|".join(f"(?P<t{k}>{p})" for k, (p, _) in enumerate(_MATH_TOKENS)))
    for m in pattern.finditer(text):
        out.append(_escape_plain(text[i:m.start()]))
        k = int(m.lastgroup[1:]) if m.lastgroup else 0
        # the groups of the alternative that matched
        sub = re.compile(_MATH_TOKENS[k][0]).match(text, m.start())
        math = _MATH_TOKENS[k][1](sub.groups())
        out.append(f"${math}$")
        i = m.end()
    out.append(_escape_plain(text[i:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return "".join(_TEXT_SPECIAL.get(ch, ch) for ch in text)


def tt(text: str) -> str:
    """``text`` in typewriter type with LaTeX specials escaped and break points after ``.``
    and ``_`` (long identifiers never run into the margin)."""
    body = _escape_plain(str(text))
    body = body.replace(r"\_", r"\_\allowbreak{}").replace(".", r".\allowbreak{}")
    return r"\texttt{" + body + "}"


# --------------------------------------------------------------------------------------------
# "where" lists
# --------------------------------------------------------------------------------------------


#: Internal basis vectors a reader meets in a display (not arguments), defined in words.
INTERNAL = {
    "e_w": r"$\hat{\mathbf w} = \mathbf w/\|\mathbf w\|$, the unit vector along $\mathbf w$",
    "e_perp": (r"the unit vector in the plane of $\mathbf w$ and $\mathbf w^*$ orthogonal to "
               r"$\mathbf w$: $\mathbf e_\perp = (\mathbf w^*/\|\mathbf w^*\| - \cos\phi\,"
               r"\hat{\mathbf w})/\sin\phi$"),
    "z": (r"the circulant network's output before normalization, $\mathbf z = \prod_i "
          r"\mathbf W_i (\mathbf x - \bar x \mathbf 1)$, a vector of length $n$"),
    "P_VRRV": r"the matrix $V^\top R^\top R V$, with the residual $R = UV^\top - M$",
    "P_URRU": r"the matrix $U^\top R R^\top U$, with the residual $R = UV^\top - M$",
    "P_URV": r"the symmetric matrix $U^\top R V + V^\top R^\top U$ ($R = UV^\top - M$)",
}


def _vec(name: str) -> str:
    return vectors._VLATEX.get(name, rf"\mathbf{{{name}}}")


def describe_symbol(sym: sp.Symbol, formula=None) -> tuple[str, str] | None:
    """``(LaTeX, meaning)`` of a symbol of ``formula``, or ``None`` if nothing defines it.

    Order: the formula's ``where`` entry, the vectors symbol table (norm, inner product, sum,
    angle, dimension, outer product, identity, argument vector), a scalar argument of the same
    name."""
    names = vectors.latex_names()
    if formula is not None:
        from .display import display_of

        names.update(display_of(formula).names)  # the display's names for plain symbols
    where = dict(getattr(formula, "where", {}) or {}) if formula is not None else {}
    args = {a.name: a for a in getattr(formula, "args", ())}
    tex = names.get(sym) or sp.latex(sym)
    for key in (sym, str(sym), tex):
        if key in where:
            value = where[key]
            if isinstance(value, tuple):
                return value[0], escape(value[1])
            return (tex if not isinstance(key, str) or key == str(sym) else key), escape(value)
    m = vectors.meaning(sym)
    if m is not None:
        ops = [_vec(o) for o in m.operands]
        if m.kind == "vector":
            arg = args.get(m.operands[0])
            if arg is None:  # an internal basis symbol: in words if a reader meets it
                return (m.latex, INTERNAL[m.operands[0]]) if m.operands[0] in INTERNAL else None
            return m.latex, escape(arg.meaning) + _shape(arg)
        if m.kind == "ones":
            return m.latex, rf"the all-ones vector of dimension ${m.operands[0]}$"
        if m.kind == "norm":
            return m.latex, rf"the Euclidean norm of ${ops[0]}$"
        if m.kind == "dot":
            return m.latex, rf"the inner product of ${ops[0]}$ and ${ops[1]}$"
        if m.kind == "total":
            return m.latex, rf"the sum of the coordinates of ${ops[0]}$"
        if m.kind == "angle":
            return m.latex, (rf"the angle between ${ops[0]}$ and ${ops[1]}$, in $[0, \pi]$, "
                             rf"$\cos {m.latex} = {ops[0]}^\top {ops[1]} / "
                             rf"(\|{ops[0]}\|\,\|{ops[1]}\|)$")
        if m.kind == "dim":
            return m.latex, rf"the dimension (length of the vectors) of the space ${m.latex}$"
        if m.kind == "outer":
            return m.latex, rf"the outer product of ${ops[0]}$ and ${ops[1]}$"
        if m.kind == "eye":
            return m.latex, rf"the identity matrix of dimension ${m.operands[0]}$"
    arg = args.get(str(sym))
    if arg is not None:
        return tex, escape(arg.meaning) + _shape(arg)
    return None


def _shape(arg) -> str:
    """The shape of an argument in words: ``, a vector of length $p$``, ``(a scalar)``."""
    if arg.kind == "vector":
        space = str(arg.space or "")
        if re.fullmatch(r"[A-Za-z]", space):
            return rf", a vector of length ${space}$"
        return ", an array"
    if arg.kind == "int":
        return " (a positive integer)"
    return " (a scalar)"


def symbols_of(formula) -> list[sp.Symbol]:
    """Every symbol of the derived (and printed) form, with the vectors each invariant uses."""
    syms = set(formula.expr.free_symbols)
    if formula.paper is not None:
        syms |= set(formula.paper.free_symbols)
    for s in list(syms):  # the vectors an invariant is built from are defined too
        m = vectors.meaning(s)
        if m is not None and m.kind in ("norm", "dot", "total", "angle", "outer"):
            for o in m.operands:
                syms.add(sp.Symbol(o))
        if m is not None and m.kind == "total":
            syms.add(sp.Symbol(f"one_{vectors.space_of(sp.Symbol(m.operands[0]))}"))
    order = {"vector": 0, "ones": 1, "dim": 2, "norm": 3, "dot": 4, "total": 5, "angle": 6}
    return sorted(syms, key=lambda s: (order.get(getattr(vectors.meaning(s), "kind", ""), 9),
                                       str(s)))


def where_entries(formula) -> tuple[list[tuple[str, str]], list[sp.Symbol]]:
    """``([(LaTeX, meaning)], undefined symbols)`` for every symbol of ``formula``, plus the
    formula's extra ``where`` entries keyed by LaTeX strings (symbols of the custom LaTeX).

    A display form with its own "where" list (circulant, resnet: a structure printed from the
    derivation's coefficients) replaces the entries of the expanded form's internal symbols
    (per-frequency real and imaginary parts, role-basis symbols); its named functions are
    defined by the definitions under the formula and listed here by meaning."""
    from .display import display_of

    disp = display_of(formula)
    entries, missing, seen = [], [], set()
    for tex, what in disp.where:
        seen.add(tex)
        entries.append((tex, what))
    keep = ("norm", "dot", "total", "angle", "dim", "ones", "outer", "eye", "vector")
    for s in symbols_of(formula):
        m = vectors.meaning(s)
        if disp.where and disp.tex is not None and (m is None or m.kind not in keep):
            continue  # a symbol of the expanded form only
        if m is not None and m.kind == "vector" and s not in formula.where and \
                str(s) not in {a.name for a in formula.args} and str(s) not in INTERNAL:
            continue  # internal basis symbol of a program (roles), not printed
        d = describe_symbol(s, formula)
        if d is None:
            missing.append(s)
        elif d[0] not in seen:
            seen.add(d[0])
            entries.append(d)
    if disp.where and disp.tex is not None:
        return entries, missing
    for key, value in (getattr(formula, "where", {}) or {}).items():
        tex, what = value if isinstance(value, tuple) else (key, value)
        if isinstance(tex, str) and tex not in seen and not isinstance(key, sp.Basic):
            if key in [str(s) for s in symbols_of(formula)]:
                continue
            if not _shown(tex, formula):
                continue  # a family-wide entry this formula's display does not use
            seen.add(tex)
            entries.append((tex, escape(what)))
    return entries, missing


def _shown(tex: str, formula) -> bool:
    """``tex`` (or one of its comma-separated parts) occurs in the formula as displayed."""
    shown = equation(formula)
    if formula.paper is not None:
        shown += equation(formula, "paper")
    parts = [p.strip() for p in re.split(r",\\?\s*\\?\ ?", tex) if p.strip()]
    squash = lambda t: re.sub(r"\s|\{|\}", "", t)  # noqa: E731
    return any(squash(p) in squash(shown) for p in parts + [tex])


def where_list(formula) -> str:
    """LaTeX "where" list: each symbol of the formula defined in words."""
    entries, missing = where_entries(formula)
    entries = entries + [(to_latex(s), "(not described)") for s in missing]
    if not entries:
        return ""
    items = "\n".join(rf"\item[${tex}$] {what}" for tex, what in entries)
    return ("where\n\\begin{description}\\setlength{\\itemsep}{0pt}\\raggedright\n" + items
            + "\n\\end{description}\n")


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------


def difference(formula) -> sp.Expr | None:
    """``derived - printed`` simplified (``None`` without a printed form)."""
    if formula.paper is None:
        return None
    return sp.simplify(sp.expand(vectors.cos_form(formula.expr - formula.paper)))


def _definitions(formula, which: str) -> str:
    """The display form's definitions (named functions, intermediate quantities), one display."""
    from .display import display_of

    defs = display_of(formula, "expr" if which == "display" else "paper").definition_lines()
    if not defs:
        return ""
    return "with\n" + "\n".join(display(f"{glyphs(a)} = {glyphs(b)}") for a, b in defs)


def formula_body(formula, level: str = "section*") -> str:
    """The LaTeX of one formula: name, source, assumptions, the display form (proved equal to the
    derivation by SymPy) with its definitions, the printed form in the same notation and the
    difference, the "where" list."""
    from .display import to_tex, tidy

    parts = [f"\\{level}{{{tt(formula.name)}}}",
             f"{escape(formula.source)}.\\\\\n\\emph{{Assumptions:}} {escape(formula.assumptions)}."
             f"\\\\\n\\emph{{Call:}} {tt(formula.signature())}",
             "\\emph{Derived} (SymPy; display form, proved equal to the derived expression):",
             formula_display(formula), _definitions(formula, "display")]
    if formula.paper is not None:
        reading = getattr(formula, "paper_reading", "")
        parts += ["\\emph{As printed} (transcribed" + (f"; {escape(reading)}" if reading else "")
                  + "):", formula_display(formula, "paper")]
        diff = difference(formula)
        from .display import display_of
        compare = display_of(formula).compare
        said = compare(display_of(formula, "paper")) if diff != 0 and compare else ""
        if said:
            parts += ["\\emph{Difference} (derived vs printed, term by term):", said]
        elif diff == 0:
            parts.append("\\emph{Difference:} derived $-$ printed $= 0$ (SymPy "
                         "\\texttt{simplify}): the two forms agree.")
        else:
            from .display import build, proved, where_names
            try:
                ddisp = build(formula, diff)
                ok = proved(ddisp)
            except Exception:  # a builder that does not apply to the difference's shape
                ok = False
            if ok:
                rhs_tex = ddisp.rhs_tex()
            else:
                custom = getattr(formula, "latex_rhs", None)
                rhs_tex = (custom(diff) if custom is not None and formula.rank > 0
                           else to_tex(tidy(diff), where_names(formula)))
            parts += ["\\emph{Difference} $\\Delta$ = derived $-$ printed (simplified by SymPy):",
                      display(rf"\Delta = {glyphs(rhs_tex)}")]
    parts.append(where_list(formula))
    return "\n\n".join(p.strip("\n") for p in parts if p) + "\n"


def document(body: str, title: str = "nnderive") -> str:
    """A complete LaTeX document around ``body``."""
    return (PREAMBLE + f"\\title{{{escape(title)}}}\n\\date{{}}\n\\begin{{document}}\n"
            "\\maketitle\n" + body + "\n\\end{document}\n")


def formula_document(formula) -> str:
    """A compilable document showing one formula (``nnderive latex NAME --document``)."""
    return document(formula_body(formula), title=formula.name)
