"""The Formula registry: every closed form nnderive knows, by name.

A :class:`Formula` couples a *derivation* (a function that runs SymPy on a model definition and
returns the closed form) with everything a user needs around it: where it comes from, what its
arguments mean, the paper's printed statement for comparison, LaTeX, and the emitted NumPy
function.  Derivations run lazily, on first access of :attr:`Formula.expr`, and are cached; the
emitted function is loaded from ``derivations/generated`` without running SymPy at all.

Families register their formulas at import time of their module (``derivations.cnn`` and so
on); :data:`FAMILY_MODULES` lists them in the order the catalogue prints them.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
from dataclasses import dataclass
from typing import Callable

import sympy as sp

#: Modules that register formulas, in catalogue order (a family per paper section).
FAMILY_MODULES = (
    "derivations.gaussian",       # thesis ch. 5, Lemma 5.6
    "derivations.cnn",            # thesis ch. 5, Theorems 5.1-5.2
    "derivations.cnn_dynamics",   # thesis ch. 5, stationary points, GD dynamics (family cnn)
    "derivations.cnn_rates",      # thesis ch. 5, Theorem 5.3 rates, Cor. 5.2, Lemmas 5.9-5.10
    "derivations.filter",         # thesis ch. 6, learning a convolutional filter
    "derivations.ch6_sgd",        # thesis ch. 6, SGD (Lemmas 6.2-6.3, Thm 6.4; family filter)
    "derivations.kernels",        # thesis ch. 2-3, infinite-width kernels
    "derivations.ntk_flow",       # thesis ch. 2, flow / GD bounds (family kernels)
    "derivations.deep_rates",     # thesis ch. 3, Condition 3.1, Theorems 3.1-3.3 (family kernels)
    "derivations.wn",             # Dukler, Gu & Montufar, weight normalization
    "derivations.wn_sec4",        # Dukler, Gu & Montufar, eq. (2.2) BN/WN analogy (family wn)
    "derivations.circulant",      # Dai & Heckel, circulant CNNs and channel normalization
    "derivations.dh_bounds",      # Dai & Heckel, Theorem 1's ball bounds, CN identities (circulant)
    "derivations.resnet",         # Zhang et al., normalization-free ResNet
    "derivations.balance",        # thesis ch. 4, auto-balancing
    "derivations.balance_saddles",  # thesis ch. 4, strict saddles (family balance)
    "derivations.saddle",         # thesis ch. 7, saddle construction
)


_OPS = (">=", "<=", ">", "<")
_BOUND = re.compile(r"^\s*(>=|<=|>|<)\s*([^:]+?)\s*(?::\s*(.*))?$")


@dataclass(frozen=True)
class Bound:
    """One condition of an argument's domain: ``arg op rhs``.

    ``rhs`` is Python code over the (converted) arguments of the formula, e.g. ``"0"``,
    ``"pi"`` (``numpy.pi``), ``"n"``, ``"H"``, ``"gamma"``, ``"1/(2*L)"``, ``"x.shape[-1]"``;
    ``why`` says where the condition comes from (the derivation's assumption).  The emitted
    code raises ``ValueError("<arg> must be <op> <rhs> (<why>)")`` outside it."""

    op: str
    rhs: str
    why: str = ""
    text: str = ""  # the whole message after the name, when it is not the default

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"Bound.op must be one of {_OPS}, got {self.op!r}")

    @classmethod
    def parse(cls, spec: "str | Bound") -> "Bound":
        """``">= 1"``, ``"<= n: p taps of a length-n filter"`` or a :class:`Bound`."""
        if isinstance(spec, Bound):
            return spec
        m = _BOUND.match(spec)
        if m is None:
            raise ValueError(f"domain entry must read '<op> <value>[: reason]', got {spec!r}")
        return cls(m[1], m[2], m[3] or "")

    def code(self, name: str) -> str:
        """The condition as emitted Python (NumPy) code."""
        return f"{name} {self.op} {rhs_code(self.rhs)}"

    def message(self) -> str:
        if self.text:
            return self.text
        return f"must be {self.op} {self.rhs}" + (f" ({self.why})" if self.why else "")

    def __str__(self) -> str:
        return f"{self.op} {self.rhs}"


def rhs_code(rhs: str) -> str:
    """``pi`` as ``numpy.pi`` and ``sqrt(``, ``cos(``, ``sin(`` as ``numpy.sqrt(`` ... in the
    code of a bound's right-hand side."""
    rhs = re.sub(r"(?<![\w.])pi(?![\w])", "numpy.pi", rhs)
    return re.sub(r"(?<![\w.])(sqrt|cos|sin)\(", r"numpy.\1(", rhs)


@dataclass(frozen=True)
class Arg:
    """One argument of an emitted function.

    ``kind`` is ``"vector"`` (NumPy array, the vector on the last axis, any leading batch axes),
    ``"scalar"`` (float array broadcasting over the batch axes) or ``"int"`` (a Python integer,
    e.g. a dimension).  ``space`` names the vector space: vectors of one space must have equal
    length.  ``nonzero`` (vectors) and ``positive`` (scalars) are domain requirements that the
    emitted code enforces with a ``ValueError`` naming the argument.  ``domain``: further
    conditions (:class:`Bound`, or strings ``"<op> <value>[: reason]"`` such as ``">= 0"``,
    ``"<= pi"``, ``"<= n: p taps of a length-n filter"``) on a scalar or integer argument;
    an integer without a lower bound must be ``>= 1``.  :meth:`bounds` lists them all.
    """

    name: str
    kind: str
    meaning: str
    space: str | None = None
    nonzero: bool = False
    positive: bool = False
    domain: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "domain", tuple(Bound.parse(b) for b in self.domain))
        if self.domain and self.kind == "vector":
            raise ValueError(f"{self.name}: a vector's domain is its nonzero flag and its space")

    def bounds(self) -> tuple[Bound, ...]:
        """Every condition of the domain, the implied ones included (``positive``: ``> 0``;
        an integer: ``>= 1`` unless a lower bound is given)."""
        out = list(self.domain)
        if self.positive:
            out.insert(0, Bound(">", "0", text="must be > 0"))
        if self.kind == "int" and not any(b.op in (">=", ">") for b in out):
            out.insert(0, Bound(">=", "1"))
        return tuple(out)

    def int_minimum(self) -> int | None:
        """The numeric lower bound of an integer argument (``_rt.integer``'s ``minimum``)."""
        for b in self.bounds():
            if b.op in (">=", ">") and re.fullmatch(r"-?\d+", b.rhs):
                return int(b.rhs) + (1 if b.op == ">" else 0)
        return None

    def describe(self) -> str:
        shape = {"vector": f"(..., {self.space})", "scalar": "(...)", "int": "int"}[self.kind]
        req = " (nonzero)" if self.nonzero else " (> 0)" if self.positive else ""
        extra = [str(b) for b in self.domain]
        if extra:
            req += " (" + ", ".join(extra) + ")"
        return f"{self.name}: {shape}{req} - {self.meaning}"


class Formula:
    """A derived closed form.

    Parameters
    ----------
    name : ``family.quantity``; the emitted function is ``quantity`` in
        ``derivations/generated/<family>.py``.
    source : seed file and place, e.g. ``"004 thesis, Theorem 5.1, eq. (5.3)"``.
    args : the emitted function's arguments, in order.
    assumptions : the model assumptions the result rests on.
    derive : ``() -> sympy.Expr``; runs the derivation.  For vector (matrix) formulas the result
        is a linear combination of basis symbols (see :mod:`derivations.vectors`).
    lhs : LaTeX of the left-hand side.
    rank : 0 scalar, 1 vector, 2 matrix.
    paper : optional ``() -> sympy.Expr``, the paper's printed statement transcribed as SymPy.
    paper_reading : how the (OCR) printed statement was read, for the errata.
    emitter : optional ``(formula) -> str`` producing the emitted function's source; the default
        is the invariant-coordinate emitter of :mod:`derivations.codegen`.
    validate : extra lines of emitted code enforcing domain requirements (use ``_rt.require``).
    where : symbols of the LaTeX that the symbol table of :mod:`derivations.vectors` does not
        define, ``{symbol or LaTeX string: "meaning in plain text"}`` (e.g. ``{R_quad: "1 on
        the quadratic region, else 0"}``), or ``{symbol: (latex, meaning)}`` for a symbol the
        formula prints under a custom name; the "where" list under every printed formula is
        built from both (:func:`derivations.latex.where_list`).
    """

    def __init__(
        self,
        name: str,
        source: str,
        args: tuple[Arg, ...],
        assumptions: str,
        derive: Callable[[], sp.Expr],
        lhs: str,
        rank: int = 0,
        paper: Callable[[], sp.Expr] | None = None,
        paper_reading: str = "",
        emitter: Callable[["Formula"], str] | None = None,
        validate: tuple[str, ...] = (),
        notes: str = "",
        where: dict | None = None,
    ):
        if name.count(".") != 1:
            raise ValueError(f"formula name must be 'family.quantity', got {name!r}")
        self.name = name
        self.family, self.quantity = name.split(".")
        self.source = source
        self.args = tuple(args)
        self.assumptions = assumptions
        self._derive = derive
        self._paper = paper
        self.paper_reading = paper_reading
        self.lhs = lhs
        self.rank = rank
        self.emitter = emitter
        self.args, self.validate = _domain_from_validate(self.args, tuple(validate))
        self.notes = notes
        self.where = dict(where or {})
        self._expr = None
        self._paper_expr = None

    def __repr__(self) -> str:
        return f"<Formula {self.name}: {self.source}>"

    # -- symbolic side ---------------------------------------------------------------------
    @property
    def expr(self) -> sp.Expr:
        """The derived closed form (runs the derivation on first access)."""
        if self._expr is None:
            self._expr = self._derive()
        return self._expr

    @property
    def paper(self) -> sp.Expr | None:
        """The paper's printed statement as SymPy, or ``None`` if not transcribed."""
        if self._paper is None:
            return None
        if self._paper_expr is None:
            self._paper_expr = self._paper()
        return self._paper_expr

    def latex(self, which: str = "display") -> str:
        """amsmath LaTeX of ``lhs = rhs``: the display form in the paper's notation (proved
        equal to :attr:`expr` by SymPy, :mod:`derivations.display`); ``which="expr"`` for the
        raw derived expression, ``"paper"`` for the printed statement."""
        from .latex import equation

        return equation(self, which)

    def display(self):
        """The display form (:class:`derivations.display.Display`) of the derived expression."""
        from .display import display_of

        return display_of(self)

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    # -- numeric side ----------------------------------------------------------------------
    @property
    def numpy(self) -> Callable:
        """The emitted NumPy function (imports only NumPy; no SymPy at run time)."""
        module = importlib.import_module(f"derivations.generated.{self.family}")
        try:
            return getattr(module, self.quantity)
        except AttributeError:
            raise LookupError(
                f"{self.name} has no emitted code yet; run `nnderive build`"
            ) from None

    @property
    def fused(self) -> Callable:
        """The emitted fused function returning this scalar formula and all its gradients in one
        call, sharing subexpressions (``cnn.population_loss`` ->
        ``derivations.generated.cnn.population_loss_and_grads``; accepts ``out=`` buffers)."""
        module = importlib.import_module(f"derivations.generated.{self.family}")
        try:
            return getattr(module, f"{self.quantity}_and_grads")
        except AttributeError:
            raise LookupError(f"{self.name} has no fused value-and-gradients function") from None

    def code(self) -> str:
        """Stand-alone NumPy source of the emitted function (with its runtime helpers), printed
        by the emitter's :func:`derivations.codegen.standalone_source` (installed when the
        emitter is imported: the registry does not import it)."""
        if _standalone_printer is None:
            raise LookupError(f"{self.name}: stand-alone code needs the emitter; import "
                              "derivations.codegen first (or run `nnderive code NAME`)")
        return _standalone_printer(self)

    def domain(self) -> list[str]:
        """The domain as readable conditions, one per bound (``"p <= n (the first p of the n taps
        are nonzero)"``, ``"w != 0"``); shape conditions of custom emitters are in ``validate``."""
        out = []
        for a in self.args:
            if a.nonzero:
                out.append(f"{a.name} != 0")
            if a.kind == "int":
                out.append(f"{a.name} integer")
            for b in a.bounds():
                why = f" ({b.why})" if b.why else ""
                out.append(f"{a.name} {b.op} {b.rhs}{why}")
        return out

    def signature(self) -> str:
        return f"{self.quantity}({', '.join(a.name for a in self.args)})"



#: the printer of :meth:`Formula.code`, set by :mod:`derivations.codegen` when it is imported
#: (the emitter depends on the registry, never the other way round)
_standalone_printer: Callable[[Formula], str] | None = None


def set_standalone_printer(printer: Callable[[Formula], str]) -> None:
    """Install the printer of :meth:`Formula.code` (done by :mod:`derivations.codegen`)."""
    global _standalone_printer
    _standalone_printer = printer

_RANGE = re.compile(r"""^_rt\.require\(\((\w+) >= ([^()&]+)\) & \(\1 <= ([^()&]+)\), (["'])\1\4, (["'])(.*)\5\)$""")
_SIMPLE = re.compile(r"""^_rt\.require\((\w+) (>=|<=|>|<) ([\w.]+), (["'])\1\4, (["'])(.*)\5\)$""")


def _domain_from_validate(args: tuple, validate: tuple) -> tuple[tuple, tuple]:
    """Move the ``validate`` lines that state a bound of one argument (``x >= lo``, ``x op y``,
    ``(x >= lo) & (x <= hi)``) into that argument's :attr:`Arg.domain` (same message), so
    that every domain condition is declared in one place and listed by :meth:`Arg.bounds`;
    the other lines (shapes, lengths) stay."""
    byname = {a.name: a for a in args}
    add: dict = {}
    keep = []
    for line in validate:
        m = _RANGE.match(line)
        if m and m[1] in byname:
            add.setdefault(m[1], []).extend([
                Bound(">=", m[2].replace("numpy.pi", "pi"), text=m[6]),
                Bound("<=", m[3].replace("numpy.pi", "pi"), text=m[6])])
            continue
        m = _SIMPLE.match(line)
        if m and m[1] in byname:
            why = re.search(r"\((.*)\)$", m[6])
            add.setdefault(m[1], []).append(Bound(m[2], m[3].replace("numpy.pi", "pi"),
                                                  why[1] if why else "", text=m[6]))
            continue
        keep.append(line)
    new_args = tuple(dataclasses.replace(a, domain=a.domain + tuple(add[a.name])) if a.name in add
                     else a for a in args)
    return new_args, tuple(keep)


class UnknownFormula(KeyError, ValueError):
    """Raised by :func:`get` for a name that is not registered (message lists close matches)."""

    def __str__(self) -> str:
        return str(self.args[0])


_REGISTRY: dict[str, Formula] = {}
_LOADED = False


def register(formula: Formula) -> Formula:
    """Add a formula to the registry (a name may be registered once)."""
    if formula.name in _REGISTRY:
        raise ValueError(f"formula {formula.name} is already registered")
    _REGISTRY[formula.name] = formula
    return formula


#: fused value-and-gradients groups a family declares (:func:`fuse`): value -> gradient names
_FUSED: dict[str, tuple[str, ...]] = {}


def fuse(value: str, *grads: str) -> None:
    """Declare that the emitted module has one function ``<value quantity>_and_grads`` returning
    the scalar formula ``value`` and the gradient formulas ``grads`` (same arguments, rank 1),
    sharing invariants and angle terms (:func:`derivations.codegen.fused_groups`).  Gradients
    named ``grad_<argument>`` are grouped without a declaration; this is for the others (e.g.
    ``filter.population_grad``)."""
    for n in (value,) + grads:
        if n not in _REGISTRY:
            raise ValueError(f"fuse: {n} is not registered")
    _FUSED[value] = tuple(grads)


def fused_declared(value: str) -> tuple[str, ...]:
    """The gradient formulas declared with :func:`fuse` for ``value`` (none by default)."""
    _load()
    return _FUSED.get(value, ())


def _load() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for mod in FAMILY_MODULES:
            importlib.import_module(mod)


def names(family: str | None = None) -> list[str]:
    """All registered formula names (of one family if given), in catalogue order.

    An unknown ``family`` raises ``ValueError`` listing the known families (a ``TypeError`` if
    it is not a string)."""
    _load()
    if family is None:
        return sorted(_REGISTRY, key=lambda n: _family_rank(n.split(".")[0]))  # stable
    if not isinstance(family, str):
        raise TypeError(f"family must be a string such as 'cnn', got {type(family).__name__} "
                        f"{family!r}")
    out = [n for n in _REGISTRY if n.split(".")[0] == family]
    if not out and family not in _declared_families():
        raise ValueError(f"unknown family {family!r}; known: {', '.join(families())}")
    return out


def _declared_families() -> set[str]:
    """Families with a module in :data:`FAMILY_MODULES` (possibly without formulas yet)."""
    return {m.rsplit(".", 1)[1] for m in FAMILY_MODULES} | set(families())


def _family_rank(family: str) -> int:
    """Catalogue position of ``family``: the first of :data:`FAMILY_MODULES` named after it
    (``derivations.cnn`` and ``derivations.cnn_dynamics`` both rank as ``cnn``), whatever order
    the modules happened to be imported in."""
    for i, mod in enumerate(FAMILY_MODULES):
        base = mod.rsplit(".", 1)[-1]
        if base == family or base.startswith(family + "_"):
            return i
    return len(FAMILY_MODULES)


def families() -> list[str]:
    """The families with registered formulas, in catalogue order (:data:`FAMILY_MODULES`)."""
    return list(dict.fromkeys(n.split(".")[0] for n in names()))


def get(name: str) -> Formula:
    """The formula called ``name``; an unknown name raises :class:`UnknownFormula` (a
    ``KeyError`` and a ``ValueError``) whose message suggests close matches; a ``name`` that is
    not a string raises ``TypeError`` naming the argument."""
    _load()
    if not isinstance(name, str):
        raise TypeError(f"name must be a formula name string 'family.quantity' (see "
                        f"`nnderive list`), got {type(name).__name__} {name!r}")
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `nnderive list`"
        raise UnknownFormula(f"unknown formula {name!r}{hint}") from None
