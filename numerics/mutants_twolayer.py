"""Mutants of the two-layer engine's kernel derivation (issue 20 items 5 and 3 of the session
brief), scored by ``nnderive check twolayer --mutants`` (and ``check --mutants``).

The engine is a family of models, not registry formulas, so the planters of
:data:`numerics.harness.MUTANT_KINDS` (which perturb a formula's expression) do not reach it.
Its planted errors live in the derivation of the pair kernels
(:mod:`derivations.twolayer.kernels`); each mutant re-derives or re-emits the kernels of one
activation in memory (:func:`derivations.codegen.templates.twolayer.compile_module`), and the engine built on
that module is judged by the family's independent rows for that activation: the kernel vs plane
quadrature, the gradient and the dense Hessian vs Richardson differences of the quadrature-
simulated loss, and -- only if nothing cheaper caught it -- the loss vs Monte Carlo.  The
``paper`` (Tian) and ``overlap`` rows do not judge.

Kinds (``Mutant.kind``), each planted for several activations:

* ``constant`` -- a constant of the derivation x (1 + 1e-6), re-derived: the Gaussian density's
  normalization 1/(2 pi), erf's slope 2/sqrt(pi);
* ``branch`` -- one activation's branch x (1 + 1e-6), re-derived (leaky ReLU's and |t|'s
  negative branch, ReLU's and the step's positive one);
* ``second derivative`` -- one derived Hessian term of the pair kernel x (1 + 1e-4) (the
  Hessian-vs-second-differences row resolves ~1e-7 of the largest entry; a 1e-6 change of a
  single term is below that for most terms);
* ``gradient`` -- one derived gradient term (``ga`` or ``gb``) x (1 + 1e-6).
"""
from __future__ import annotations

from .harness import Context, Mutant

REL = 1e-6
HESS_REL = 1e-4

#: (kind, what, activations): ``what`` is a knob name (re-derived; ``{act}`` is filled in) or a
#: derived pair / self term (re-emitted)
SPECS = (
    ("constant", "knob twolayer.density_norm", ("relu", "quadratic", "erf")),
    ("constant", "knob twolayer.erf.slope", ("erf",)),
    ("branch", "knob twolayer.{act}.neg", ("leaky_relu", "abs")),
    ("branch", "knob twolayer.{act}.pos", ("relu", "step")),
    ("second derivative", "term huv12", ("relu", "abs")),
    ("second derivative", "term huu22", ("erf", "leaky_relu")),
    ("second derivative", "term huv0", ("quadratic",)),
    ("gradient", "term ga", ("relu", "erf")),
    ("gradient", "term gb", ("leaky_relu", "quadratic")),
)


def planted(kinds=None) -> list[tuple[Mutant, str, str, float]]:
    """``[(mutant, activation, what, rel)]`` for every spec (of the given ``kinds``)."""
    out = []
    for kind, what, acts in SPECS:
        if kinds is not None and kind not in kinds:
            continue
        rel = HESS_REL if kind == "second derivative" else REL
        for act in acts:
            w = what.format(act=act)
            out.append((Mutant(f"twolayer.{act}", f"{w} x (1 + {rel:g})", None, kind=kind),
                        act, w, rel))
    return out


def module_for(act: str, what: str, rel: float):
    """The kernel module of ``act`` with the planted error, compiled in memory."""
    import sympy as sp

    from derivations.knobs import perturbed
    from derivations.codegen.templates import twolayer as emit

    tag, name = what.split(" ", 1)
    if tag == "knob":
        with perturbed(name, sp.Rational(str(rel))):
            return emit.compile_module(only=(act,))
    return emit.compile_module(plant={act: {name: 1 + rel}}, only=(act,))


def judge(m: Mutant, act: str, mod, ctx: Context) -> Mutant:
    """Run the independent rows of ``act`` on the engine built on ``mod``; fill ``caught_by``."""
    from .checks import twolayer as T

    for rows in (lambda: T.kernel_rows(mod, activations=(act,), seed=ctx.seed),
                 lambda: T.fd_rows(mod, activations=(act,), seed=ctx.seed, hessian=True)):
        for r in rows():
            if not r.passed:
                m.caught_by.append(f"{r.kind}: {r.formula} {r.label} ({r.stat:.2g} > "
                                   f"{r.resolution:g})")
    if not m.caught_by:
        for r in T.mc_rows(ctx, mod, activations=(act,)):
            if not r.passed:
                m.caught_by.append(f"{r.kind}: {r.formula} {r.label}")
    m.caught = bool(m.caught_by)
    return m


def run(ctx: Context | None = None, progress=None, kinds=None) -> list[Mutant]:
    """Every mutant of :data:`SPECS`, judged."""
    ctx = ctx or Context()
    out = []
    for m, act, what, rel in planted(kinds):
        if progress:
            progress(f"twolayer: mutant {m.label} ({act})")
        out.append(judge(m, act, module_for(act, what, rel), ctx))
    return out
