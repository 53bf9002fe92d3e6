"""LaTeX for formulas: amsmath equations and a complete, pdflatex-compilable document."""
from __future__ import annotations

import sympy as sp

from . import vectors

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage{amsmath,amssymb}
\usepackage[margin=2cm]{geometry}
\allowdisplaybreaks
"""


def to_latex(expr: sp.Expr, names: dict | None = None) -> str:
    """LaTeX of an invariant-coordinate expression (bold vectors, norms, inner products)."""
    symbol_names = vectors.latex_names()
    if names:
        symbol_names.update(names)
    return sp.latex(expr, symbol_names=symbol_names)


def equation(formula, which: str = "expr") -> str:
    """``lhs = rhs`` for ``formula`` (``which`` is ``"expr"`` or ``"paper"``)."""
    if which not in ("expr", "paper"):
        raise ValueError(f"which must be 'expr' or 'paper', got {which!r}")
    expr = formula.expr if which == "expr" else formula.paper
    if expr is None:
        raise ValueError(f"{formula.name} has no transcribed paper statement")
    custom = getattr(formula, "latex_rhs", None)
    rhs = custom(expr) if custom is not None else to_latex(expr)
    return f"{formula.lhs} = {rhs}"


def escape(text: str) -> str:
    """Escape LaTeX specials in running text."""
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
             "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
    return "".join(table.get(ch, ch) for ch in text)


def document(body: str, title: str = "nnderive") -> str:
    """A complete LaTeX document around ``body``."""
    return (PREAMBLE + f"\\title{{{escape(title)}}}\n\\date{{}}\n\\begin{{document}}\n"
            "\\maketitle\n" + body + "\n\\end{document}\n")


def formula_document(formula) -> str:
    """A compilable document showing one formula (``nnderive latex NAME --document``)."""
    body = (f"\\section*{{{escape(formula.name)}}}\n{escape(formula.source)}.\n"
            f"\\begin{{equation*}}\n{formula.latex()}\n\\end{{equation*}}\n")
    if formula.paper is not None:
        body += ("As printed (transcribed):\n"
                 f"\\begin{{equation*}}\n{formula.latex('paper')}\n\\end{{equation*}}\n")
    return document(body, title=formula.name)
