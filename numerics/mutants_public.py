"""Mutants of the public callables outside the formula registry (issue 19, items 4 and 8).

The expression and knob mutants of :mod:`numerics.harness` perturb a formula's SymPy
expression; the bugs these kinds model live in code around the expressions, where no formula
sees them:

* ``fft`` -- the fused circulant ``loss_and_grads`` (an FFT template around the printed
  spectra): one spectrum conjugated (``rfft`` of ``x`` or ``y``, the ``irfft`` input), a
  ``numpy.conjugate`` dropped (the filter spectra, the product ``P``), or the real and
  imaginary parts of the residual spectrum swapped.  Built by rewriting the emitted source line
  by line, so they follow whatever the emitter prints;
* ``layer constant`` -- ``derivations.kernels.deep_kernel``: a constant wrong in some layers
  only (``c_sigma = 2`` or ``x (1 + 1e-3)`` for layers ``h >= 2``, in layer 1 only, ``c_res/H``
  in layer 2 only, the last layer's factor), by rewriting the function's syntax tree.  ReLU
  has ``c_sigma = 2``, so ``c_sigma = 2`` is invisible for it: the check must also use
  softplus;
* ``relative`` -- every output of every public callable scaled by ``1 + 1e-6``, one output at a
  time (the check must resolve 1e-6).

Each maker returns :class:`numerics.harness.Mutant` objects whose ``fn`` is the mutated
callable (same signature as the original); :func:`run` judges them with the callable's
independent checks (:func:`numerics.checks.register_public`).  A mutant whose source pattern is
not found is returned as not caught (its label says why), so a change of the emitted code
cannot silently retire a mutant.
"""
from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Callable, Iterable

from .rows import NOT_INDEPENDENT, Context, Mutant, Subject, run_check

#: Relative size of the output and layer-constant perturbations.
REL = 1e-6
LAYER_REL = 1e-3


# --------------------------------------------------------------------------------------------
# Building mutated callables from source
# --------------------------------------------------------------------------------------------


def _compile(func: Callable, src: str, tag: str) -> Callable:
    """``src`` (a rewritten ``def`` of ``func``) compiled in a copy of ``func``'s globals."""
    ns = dict(func.__globals__)
    exec(compile(src, f"<mutant {tag} of {func.__qualname__}>", "exec"), ns)  # noqa: S102
    return ns[func.__name__]


def _broken(name: str, label: str, kind: str, why: str) -> Mutant:
    m = Mutant(name, f"{label} [not built: {why}]", None, kind=kind)
    m.caught = False
    return m


def _line_mutants(name: str, func: Callable, kind: str,
                  rules: list[tuple[str, Callable[[list[str]], "list[str] | None"]]]):
    """One mutant per rule: ``rule(lines) -> new lines`` (None if the pattern is absent)."""
    src = textwrap.dedent(inspect.getsource(func))
    lines = src.splitlines()
    out = []
    for label, rule in rules:
        new = rule(list(lines))
        if new is None or new == lines:
            out.append(_broken(name, label, kind, "pattern not found in the emitted source"))
            continue
        m = Mutant(name, label, None, kind=kind)
        m.fn = _compile(func, "\n".join(new) + "\n", label)
        out.append(m)
    return out


def _wrap_rhs(pattern: str, wrap: Callable[[str], str]):
    """Rule: the first line ``<target> = <rhs>`` whose rhs matches ``pattern`` gets
    ``wrap(rhs)``."""
    rx = re.compile(r"^(\s*[\w.]+\s*=\s*)(.+)$")

    def rule(lines):
        for i, ln in enumerate(lines):
            m = rx.match(ln)
            if m and re.search(pattern, m.group(2)):
                lines[i] = m.group(1) + wrap(m.group(2))
                return lines
        return None

    return rule


def _drop_line(pattern: str):
    def rule(lines):
        for i, ln in enumerate(lines):
            if re.search(pattern, ln):
                lines[i] = re.match(r"^\s*", ln).group(0) + "pass"
                return lines
        return None

    return rule


def _swap_re_im(obj: str):
    """Rule: ``obj.real = A`` and ``obj.imag = B`` become ``obj.real = B``, ``obj.imag = A``."""
    def rule(lines):
        ire = [i for i, ln in enumerate(lines) if re.match(rf"^\s*{re.escape(obj)}\.real\s*=", ln)]
        iim = [i for i, ln in enumerate(lines) if re.match(rf"^\s*{re.escape(obj)}\.imag\s*=", ln)]
        if not ire or not iim:
            return None
        a, b = lines[ire[0]].split("=", 1)[1], lines[iim[0]].split("=", 1)[1]
        lines[ire[0]] = lines[ire[0]].split("=", 1)[0] + "=" + b
        lines[iim[0]] = lines[iim[0]].split("=", 1)[0] + "=" + a
        return lines

    return rule


def _conj_first_arg(call: str):
    """Rule: the first argument of the first ``call(`` is conjugated."""
    def rule(lines):
        for i, ln in enumerate(lines):
            j = ln.find(call + "(")
            if j >= 0 and not ln.lstrip().startswith("#"):
                k = j + len(call) + 1
                depth, e = 0, k
                while e < len(ln) and not (depth == 0 and ln[e] in ",)"):
                    depth += ln[e] in "([{"
                    depth -= ln[e] in ")]}"
                    e += 1
                lines[i] = ln[:k] + f"numpy.conjugate({ln[k:e]})" + ln[e:]
                return lines
        return None

    return rule


# --------------------------------------------------------------------------------------------
# (a) FFT coefficients of the fused circulant code
# --------------------------------------------------------------------------------------------


def fft_mutants(name: str = "circulant.loss_and_grads") -> list[Mutant]:
    """Conjugated / Re-Im-swapped spectra in ``derivations.generated.circulant.loss_and_grads``."""
    from derivations.generated import circulant as gen

    conj = lambda rhs: f"numpy.conjugate({rhs})"  # noqa: E731
    rules = [
        ("residual spectrum R: Re <-> Im swapped", _swap_re_im("_R")),
        ("x spectrum conjugated", _wrap_rhs(r"numpy\.fft\.rfft\(x\b", conj)),
        ("y spectrum conjugated", _wrap_rhs(r"numpy\.fft\.rfft\(y\b", conj)),
        ("filter spectra not conjugated", _drop_line(r"numpy\.conjugate\(_Ac, out=_Ac\)")),
        ("product spectrum P not conjugated",
         _wrap_rhs(r"^numpy\.conjugate\(_acc\)$", lambda rhs: "_acc")),
        ("gradient spectra conjugated before irfft", _conj_first_arg("numpy.fft.irfft")),
    ]
    return _line_mutants(name, gen.loss_and_grads, "fft", rules)


# --------------------------------------------------------------------------------------------
# (b) a constant in one deep-kernel layer only
# --------------------------------------------------------------------------------------------


class _LayerConstant(ast.NodeTransformer):
    """Inside the ``for h in ...`` loop, every load of ``const`` becomes
    ``(<new> if <cond> else const)``; ``outside=True`` rewrites the loads after the loop
    instead (the last layer)."""

    def __init__(self, const: str, new: str, cond: str, outside: bool = False):
        self.const, self.new, self.cond, self.outside = const, new, cond, outside
        self.hits = 0
        self._in_loop = False
        self._after_loop = False

    def visit_For(self, node):
        if isinstance(node.target, ast.Name) and node.target.id == "h":
            self._in_loop = True
            self.generic_visit(node)
            self._in_loop = False
            self._after_loop = True
            return node
        return self.generic_visit(node)

    def visit_Name(self, node):
        active = self._after_loop if self.outside else self._in_loop
        if active and node.id == self.const and isinstance(node.ctx, ast.Load):
            self.hits += 1
            expr = (f"({self.new} if {self.cond} else {self.const})" if self.cond
                    else f"({self.new})")
            return ast.parse(expr, mode="eval").body
        return node


def _ast_mutant(name: str, func: Callable, label: str, kind: str, tr: _LayerConstant) -> Mutant:
    src = textwrap.dedent(inspect.getsource(func))
    tree = tr.visit(ast.parse(src))
    if not tr.hits:
        return _broken(name, label, kind, f"no load of {tr.const} found")
    ast.fix_missing_locations(tree)
    m = Mutant(name, label, None, kind=kind)
    m.fn = _compile(func, ast.unparse(tree), label)
    return m


def deep_kernel_mutants(name: str = "kernels.deep_kernel") -> list[Mutant]:
    """``deep_kernel`` with one layer's constant changed (see the module docstring)."""
    from derivations import kernels as K

    f, r = K.deep_kernel, 1 + LAYER_REL
    specs = [
        ("c_sigma = 2 for layers h >= 2", _LayerConstant("cs", "2.0", "h >= 2")),
        (f"c_sigma x (1 + {LAYER_REL:g}) for layers h >= 2",
         _LayerConstant("cs", f"cs * {r!r}", "h >= 2")),
        (f"c_sigma x (1 + {LAYER_REL:g}) in layer 1 only",
         _LayerConstant("cs", f"cs * {r!r}", "h == 1")),
        (f"c_res x (1 + {LAYER_REL:g}) in layer 2 only",
         _LayerConstant("c_res", f"c_res * {r!r}", "h == 2")),
        (f"last layer's factor x (1 + {LAYER_REL:g})",
         _LayerConstant("factor", f"factor * {r!r}", "", outside=True)),
    ]
    return [_ast_mutant(name, f, label, "layer constant", tr) for label, tr in specs]


# --------------------------------------------------------------------------------------------
# Every public callable: one output x (1 + 1e-6)
# --------------------------------------------------------------------------------------------


def _scaled(fn: Callable, j: int | None, rel: float) -> Callable:
    import numpy as np

    def mutant(*args, **kw):
        out = fn(*args, **kw)
        if isinstance(out, dict):  # deep_kernel: the K_H the GD analysis uses; else every value
            if "K_H" in out:
                return {**out, "K_H": out["K_H"] * (1 + rel)}
            return {k: np.asarray(v) * (1 + rel) for k, v in out.items()}
        if isinstance(out, tuple):
            # j is None: one output, returned as a tuple (scale every entry)
            return tuple(np.asarray(o) * (1 + rel) if j is None or i == j else o
                         for i, o in enumerate(out))
        return np.asarray(out) * (1 + rel) if isinstance(out, np.ndarray) else out * (1 + rel)

    return mutant


def relative_mutants(pub, n_outputs: int) -> list[Mutant]:
    fn = pub.resolve()
    out = []
    for j in range(n_outputs):
        m = Mutant(pub.name, f"output {j} x (1 + {REL:g})" if n_outputs > 1
                   else f"output x (1 + {REL:g})", None, kind="relative")
        m.fn = _scaled(fn, j if n_outputs > 1 else None, REL)
        out.append(m)
    return out


#: Mutant makers per public callable (besides the relative ones), and the number of outputs.
MAKERS: dict[str, Callable[[], list[Mutant]]] = {
    "circulant.loss_and_grads": fft_mutants,
    "kernels.deep_kernel": deep_kernel_mutants,
}
OUTPUTS = {"circulant.loss_and_grads": 2, "cnn.population_loss_and_grads": 3,
           "filter.population_loss_and_grads": 2,
           "cnn.population_loss_w_and_grads": 2, "wn.grad_g_and_grads": 2, "wn.grams": 3}


def mutants(pub) -> list[Mutant]:
    """Every mutant of the public callable ``pub`` (a :class:`numerics.checks.Public`)."""
    out = MAKERS[pub.name]() if pub.name in MAKERS else []
    return out + relative_mutants(pub, OUTPUTS.get(pub.name, 1))


def run(names: Iterable[str], ctx: Context, progress=None, kinds=None) -> list[Mutant]:
    """The mutants of every public callable tied to the formulas ``names``, each judged by
    the callable's independent checks (Monte Carlo only if nothing cheaper caught it)."""
    from . import checks

    results = []
    for pub in checks.public_for(list(names)):
        indep = sorted((c for c in checks.public_checks(pub.name)
                        if c.independent and c.kind not in NOT_INDEPENDENT),
                       key=lambda c: c.kind == "monte_carlo")
        for m in mutants(pub):
            if kinds is not None and m.kind not in kinds:
                continue
            if progress:
                progress(f"{pub.name}: mutant {m.label}")
            if m.fn is not None:
                subject = Subject(pub, m.fn)
                for c in indep:
                    if c.kind == "monte_carlo" and m.caught_by:
                        continue
                    if not all(r.passed for r in run_check(c, subject, ctx)):
                        m.caught_by.append(f"{c.kind}: {c.label}")
            m.caught = bool(m.caught_by)
            results.append(m)
    return results
