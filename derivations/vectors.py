"""Vectors in invariant coordinates: the symbolic vocabulary every formula is written in.

Closed forms for Gaussian-input networks depend on their vector arguments only through a few
*invariants*: norms, inner products, coordinate sums (inner products with the all-ones vector)
and angles.  A formula is therefore a SymPy expression in invariant symbols (scalars), and a
vector- or matrix-valued formula is a linear combination of *basis symbols* (the argument vectors
themselves, the all-ones vector, outer products, the identity) with invariant coefficients.

This module

* creates those symbols and remembers what each one means (:func:`vector`, :func:`norm`,
  :func:`dot`, :func:`total`, :func:`angle`, :func:`dim`, :func:`outer`, :func:`eye`);
* differentiates scalar formulas with respect to vectors by the chain rule through the
  invariants (:func:`grad`).  Every partial derivative, including those of the angle
  ``phi = acos(x.y / (|x| |y|))``, is computed by SymPy; the only facts used about vectors are
  ``grad_x (x.y) = y`` and ``grad_x (x.x) = 2 x`` (checked component-wise by SymPy in the tests);
* splits a vector-valued expression into ``{basis: coefficient}`` (:func:`components`), which is
  what the code emitter and the high-precision evaluator consume.

Angles live in ``[0, pi]``, so ``|sin phi| = sin phi``; this is the one simplification applied by
hand after SymPy's ``trigsimp`` and it is stated where it is used.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

# --------------------------------------------------------------------------------------------
# The symbol table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meaning:
    """What an invariant or basis symbol stands for.

    ``kind`` is one of ``vector``, ``ones``, ``norm``, ``dot``, ``total``, ``angle``, ``dim``,
    ``outer``, ``eye``; ``operands`` are the names of the vectors (or the space) involved.
    """

    kind: str
    operands: tuple[str, ...]
    latex: str


_TABLE: dict[sp.Symbol, Meaning] = {}
_SPACE: dict[str, str] = {}  # vector name -> space name
_VLATEX: dict[str, str] = {}  # vector name -> LaTeX


def _remember(sym: sp.Symbol, meaning: Meaning) -> sp.Symbol:
    old = _TABLE.get(sym)
    if old is not None and (old.kind, old.operands) != (meaning.kind, meaning.operands):
        raise ValueError(f"symbol {sym} already means {old}, not {meaning}")
    _TABLE[sym] = meaning
    return sym


def meaning(sym: sp.Symbol) -> Meaning | None:
    """The :class:`Meaning` of an invariant or basis symbol, or ``None`` for a plain symbol."""
    return _TABLE.get(sym)


def vector(name: str, space: str, latex: str | None = None) -> sp.Symbol:
    """A vector argument living in ``space`` (vectors of one space have the same length)."""
    if name in _SPACE and _SPACE[name] != space:
        raise ValueError(f"vector {name} already lives in space {_SPACE[name]}")
    _SPACE[name] = space
    _VLATEX[name] = latex or rf"\mathbf{{{name}}}"
    return _remember(sp.Symbol(name), Meaning("vector", (name,), _VLATEX[name]))


def ones(space: str) -> sp.Symbol:
    """The all-ones vector of ``space``."""
    name = f"one_{space}"
    _SPACE[name] = space
    _VLATEX[name] = r"\mathbf{1}"
    return _remember(sp.Symbol(name), Meaning("ones", (space,), r"\mathbf{1}"))


def space_of(x: sp.Symbol) -> str:
    return _SPACE[str(x)]


def _vname(x: sp.Symbol) -> str:
    m = _TABLE.get(x)
    if m is None or m.kind not in ("vector", "ones"):
        raise TypeError(f"{x} is not a vector symbol")
    return str(x)


def _check_same_space(x: sp.Symbol, y: sp.Symbol) -> None:
    if space_of(x) != space_of(y):
        raise ValueError(f"{x} and {y} live in different spaces")


def dim(space: str) -> sp.Symbol:
    """The dimension of ``space`` (the length of its vectors)."""
    return _remember(
        sp.Symbol(f"dim_{space}", positive=True, integer=True), Meaning("dim", (space,), space)
    )


def norm(x: sp.Symbol) -> sp.Symbol:
    """``|x|_2`` as a positive symbol."""
    n = _vname(x)
    if _TABLE[x].kind == "ones":
        return sp.sqrt(dim(space_of(x)))
    return _remember(
        sp.Symbol(f"norm_{n}", positive=True), Meaning("norm", (n,), rf"\|{_VLATEX[n]}\|")
    )


def total(x: sp.Symbol) -> sp.Symbol:
    """``1^T x``, the sum of the coordinates of ``x``."""
    n = _vname(x)
    if _TABLE[x].kind == "ones":
        return dim(space_of(x))
    return _remember(
        sp.Symbol(f"sum_{n}", real=True),
        Meaning("total", (n,), rf"(\mathbf{{1}}^\top {_VLATEX[n]})"),
    )


def dot(x: sp.Symbol, y: sp.Symbol) -> sp.Expr:
    """``x^T y``; ``dot(x, x)`` is ``norm(x)**2`` and ``dot(1, x)`` is ``total(x)``."""
    a, b = _vname(x), _vname(y)
    _check_same_space(x, y)
    if _TABLE[x].kind == "ones":
        return total(y)
    if _TABLE[y].kind == "ones":
        return total(x)
    if a == b:
        return norm(x) ** 2
    a, b = sorted((a, b))
    return _remember(
        sp.Symbol(f"dot_{a}_{b}", real=True),
        Meaning("dot", (a, b), rf"({_VLATEX[a]}^\top {_VLATEX[b]})"),
    )


def angle(x: sp.Symbol, y: sp.Symbol, latex: str = r"\phi") -> sp.Symbol:
    """The angle ``theta(x, y)`` in ``[0, pi]`` (undefined when either vector is zero)."""
    a, b = _vname(x), _vname(y)
    _check_same_space(x, y)
    if a == b:
        return sp.Integer(0)
    a, b = sorted((a, b))
    return _remember(
        sp.Symbol(f"phi_{a}_{b}", nonnegative=True), Meaning("angle", (a, b), latex)
    )


def outer(x: sp.Symbol, y: sp.Symbol) -> sp.Symbol:
    """The rank-one matrix ``x y^T`` as a basis symbol for matrix-valued formulas."""
    a, b = _vname(x), _vname(y)
    _check_same_space(x, y)
    return _remember(
        sp.Symbol(f"outer_{a}_{b}"),
        Meaning("outer", (a, b), rf"{_VLATEX[a]}{_VLATEX[b]}^\top"),
    )


def eye(space: str) -> sp.Symbol:
    """The identity matrix of ``space`` as a basis symbol."""
    return _remember(sp.Symbol(f"eye_{space}"), Meaning("eye", (space,), r"I"))


# --------------------------------------------------------------------------------------------
# Structure of expressions
# --------------------------------------------------------------------------------------------

_BASIS_KINDS = ("vector", "ones", "outer", "eye")


def basis_symbols(expr: sp.Expr) -> list[sp.Symbol]:
    """The basis symbols (vectors, outer products, identities) appearing in ``expr``."""
    found = [s for s in expr.free_symbols if s in _TABLE and _TABLE[s].kind in _BASIS_KINDS]
    return sorted(found, key=str)


def components(expr: sp.Expr, rank: int) -> list[tuple[sp.Expr, sp.Symbol | None]]:
    """Split ``expr`` into ``[(coefficient, basis)]``.

    ``rank`` 0 returns ``[(expr, None)]``.  For rank 1 and 2 the expression must be linear in
    its basis symbols with no basis-free remainder; the coefficient of a basis symbol ``b`` is
    obtained exactly as ``d expr / d b``.
    """
    if rank == 0:
        if basis_symbols(expr):
            raise ValueError(f"scalar formula contains vector symbols: {basis_symbols(expr)}")
        return [(expr, None)]
    basis = basis_symbols(expr)
    out = []
    for b in basis:
        c = sp.diff(expr, b)
        if any(s in c.free_symbols for s in basis):
            raise ValueError(f"expression is not linear in the basis symbol {b}")
        out.append((c, b))
    rest = sp.simplify(expr.subs({b: 0 for b in basis}))
    if rest != 0:
        raise ValueError(f"rank-{rank} expression has a scalar remainder {rest}")
    return out


def combine(parts: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    """``sum coefficient * basis`` (the inverse of :func:`components`)."""
    return sp.Add(*[c * b for b, c in parts.items()])


# --------------------------------------------------------------------------------------------
# Differentiation through the invariants
# --------------------------------------------------------------------------------------------


def _abs_sin_to_sin(expr: sp.Expr) -> sp.Expr:
    """Replace ``|sin(phi)|`` by ``sin(phi)`` for angle symbols (valid since phi in [0, pi])."""
    angles = [s for s in expr.free_symbols if meaning(s) is not None and meaning(s).kind == "angle"]
    for phi in angles:
        expr = expr.replace(sp.Abs(sp.sin(phi)), sp.sin(phi))
    return expr


def _algebraic(sym: sp.Symbol, sq: dict[str, sp.Symbol], dots: dict) -> sp.Expr:
    """Express an invariant through the algebraic invariants ``x.x`` and ``x.y``."""
    m = _TABLE[sym]
    if m.kind == "norm":
        return sp.sqrt(sq[m.operands[0]])
    if m.kind == "dot":
        return dots[m.operands]
    if m.kind == "angle":
        a, b = m.operands
        return sp.acos(dots[(a, b)] / (sp.sqrt(sq[a]) * sp.sqrt(sq[b])))
    raise AssertionError(m)


def grad(F: sp.Expr, x: sp.Symbol, simplify=sp.simplify) -> sp.Expr:
    """The gradient of the scalar invariant expression ``F`` with respect to the vector ``x``.

    Chain rule: ``grad_x F = sum_I (dF/dI) grad_x I`` over the invariants ``I`` that involve
    ``x``.  Each ``grad_x I`` is obtained by writing ``I`` in terms of the algebraic invariants
    ``S = x.x`` and ``D = x.y`` (``|x| = sqrt(S)``, ``phi = acos(D / sqrt(S S_y))``), letting
    SymPy differentiate, and substituting back ``S = |x|^2``, ``D = |x||y| cos(phi)``; then
    ``grad_x S = 2 x`` and ``grad_x D = y``.  The coefficient of every basis vector is simplified
    with ``simplify`` (after ``|sin phi| -> sin phi``).  Returns ``sum coefficient * vector``.
    """
    xn = _vname(x)
    invariants = [s for s in F.free_symbols if s in _TABLE]
    involved = [
        s for s in invariants if _TABLE[s].kind != "dim" and xn in _TABLE[s].operands
    ]
    sq: dict[str, sp.Symbol] = {}
    dots: dict[tuple[str, str], sp.Symbol] = {}
    back: dict[sp.Symbol, sp.Expr] = {}
    vecs_of: dict[sp.Symbol, sp.Symbol] = {}  # algebraic symbol -> its gradient direction

    def S(name):
        if name not in sq:
            sq[name] = sp.Symbol(f"_S_{name}", positive=True)
            back[sq[name]] = norm(sp.Symbol(name)) ** 2
        return sq[name]

    for inv in involved:
        m = _TABLE[inv]
        if m.kind == "norm":
            S(xn)
        elif m.kind in ("dot", "angle"):
            a, b = m.operands
            key = (a, b)
            if key not in dots:
                dots[key] = sp.Symbol(f"_D_{a}_{b}", real=True)
                other = b if a == xn else a
                vecs_of[dots[key]] = sp.Symbol(other)
                phi = angle(sp.Symbol(a), sp.Symbol(b))
                back[dots[key]] = norm(sp.Symbol(a)) * norm(sp.Symbol(b)) * sp.cos(phi)
            if m.kind == "angle":
                S(a), S(b)
        elif m.kind == "total":
            pass
        else:  # pragma: no cover - vectors never sit inside a scalar invariant expression
            raise ValueError(f"cannot differentiate through {inv}")
    parts: dict[sp.Symbol, sp.Expr] = {}

    def add(direction, coeff):
        parts[direction] = parts.get(direction, 0) + coeff

    for inv in involved:
        m = _TABLE[inv]
        dF = sp.diff(F, inv)
        if m.kind == "total":
            add(ones(space_of(x)), dF)
            continue
        alg = _algebraic(inv, sq, dots)
        for var in alg.free_symbols:
            if var == sq.get(xn):  # ==, not is: SymPy's LRU cache may hold an equal copy
                direction, factor = x, 2
            elif var in vecs_of:
                direction, factor = vecs_of[var], 1
            else:
                continue
            d_inv = sp.diff(alg, var).subs(back)
            d_inv = _abs_sin_to_sin(sp.trigsimp(d_inv))
            add(direction, factor * dF * d_inv)
    return combine({b: _abs_sin_to_sin(simplify(_abs_sin_to_sin(c))) for b, c in parts.items()})


def cos_form(expr: sp.Expr) -> sp.Expr:
    """Rewrite each inner product ``x.y`` whose angle symbol also occurs in ``expr`` as
    ``|x||y| cos(phi)``, so that two forms of one formula (derived and printed) can cancel."""
    subs = {}
    for s in expr.free_symbols:
        m = meaning(s)
        if m is not None and m.kind == "dot":
            a, b = (sp.Symbol(t) for t in m.operands)
            # the angle's symbol, without re-registering it (angle() would reset its LaTeX
            # name to the default \phi: kernels print theta)
            phi = sp.Symbol("phi_{}_{}".format(*sorted(m.operands)), nonnegative=True)
            if any(str(t) == str(phi) for t in expr.free_symbols):
                subs[s] = norm(a) * norm(b) * sp.cos(phi)
    return expr.subs(subs)


def latex_names() -> dict[sp.Symbol, str]:
    """LaTeX for every known symbol, for ``sympy.latex(..., symbol_names=...)``."""
    return {s: m.latex for s, m in _TABLE.items()}
