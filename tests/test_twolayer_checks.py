"""Teeth of the two-layer checks (issue 20): every row passes on the committed kernels, and
planted errors in the kernel derivation make an independent row fail."""
import numpy as np
import pytest
import sympy as sp

from derivations.knobs import perturbed
from derivations.codegen.templates import twolayer as emit
from numerics.checks import twolayer as T
from numerics.harness import Context


def _failed(rows):
    return [r for r in rows if not r.passed]


def test_committed_generated_module_is_fresh():
    """The committed derivations/generated/twolayer_kernels.py is what the derivation emits."""
    for path, src in emit.build(write=False).items():   # NumPy kernels and compiled engine
        assert path.read_text() == src, \
            f"stale {path.name}: run `nnderive build twolayer` and commit derivations/generated"


def test_every_row_passes():
    rows = T.run(Context(samples=100_000), quick=False)
    assert len(rows) >= 38
    assert not _failed(rows), [(r.formula, r.label, r.stat, r.detail) for r in _failed(rows)]


def test_planted_constant_in_the_density_fails():
    """The Gaussian density's normalization x (1 + 1e-6), re-derived: the kernel row fails."""
    with perturbed("twolayer.density_norm", sp.Rational(1, 10**6)):
        mod = emit.compile_module(only=("relu",))
    rows = T.kernel_rows(mod, activations=("relu",))
    assert _failed(rows) and rows[0].stat > 1e-7
    assert not _failed(T.kernel_rows(activations=("relu",)))


def test_planted_branch_of_one_activation_fails():
    """Leaky ReLU's negative branch (slope alpha) x (1 + 1e-6), re-derived."""
    with perturbed("twolayer.leaky_relu.neg", sp.Rational(1, 10**6)):
        mod = emit.compile_module(only=("leaky_relu",))
    assert _failed(T.kernel_rows(mod, activations=("leaky_relu",)))


def test_planted_sector_edge_fails():
    """The half-plane edge pi/2 of the sectors off by 1e-3 (a wrong branch of sigma's sign).
    The integrand vanishes on the true edges, so a shift delta changes kappa by O(delta^2):
    1e-6 would be a 1e-12 (equivalent) mutant; 1e-3 changes kappa by ~1e-6."""
    with perturbed("twolayer.halfplane_edge", sp.Rational(1, 10**3)):
        mod = emit.compile_module(only=("abs",))
    assert _failed(T.kernel_rows(mod, activations=("abs",)))


@pytest.mark.parametrize("term,factor", [("huv12", 1 + 1e-4), ("huu22", 1 + 1e-4),
                                         ("dh0", 1 + 1e-4), ("huv0", 1 + 1e-5)])
def test_planted_second_derivative_term_fails(term, factor):
    """One Hessian term of the derived kernel scaled: the Hessian-vs-FD row fails, the
    gradient rows still pass (the planted term is second order only)."""
    mod = emit.compile_module(plant={"relu": {term: factor}}, only=("relu",))
    rows = T.fd_rows(mod, activations=("relu",))
    hess = [r for r in rows if "Hessian" in r.label]
    grad = [r for r in rows if "gradient" in r.label]
    assert any(not r.passed for r in hess), [(r.label, r.stat) for r in hess]
    assert all(r.passed for r in grad)


def test_planted_gradient_term_fails():
    mod = emit.compile_module(plant={"relu": {"ga": 1 + 1e-6}}, only=("relu",))
    rows = T.fd_rows(mod, activations=("relu",), hessian=False)
    assert _failed(rows)


def test_monte_carlo_row_has_teeth():
    """Monte Carlo resolves ~1% (a sanity check): the diagonal kappa(u, u) x 1.1 must fail."""
    mod = emit.compile_module(plant={"erf": {"d": 1.1}}, only=("erf",))
    rows = T.mc_rows(Context(samples=400_000), mod, activations=("erf",))
    assert not rows[0].passed
    assert np.isfinite(rows[0].stat)


def _hybrid(plant):
    """The committed kernel module with one emitted pair term of one activation scaled (its
    functions wrapped; no re-derivation, so this is fast), the rest as committed."""
    import types

    from derivations.generated import twolayer_kernels as gen

    (act, terms), = plant.items()
    mod = types.ModuleType("twolayer_kernels_hybrid")
    mod.__dict__.update(vars(gen))
    outputs = {"grad": ("kappa", "ga", "gb"), "dgrad": ("ga", "gb"), "hess": gen.PAIR_TERMS}
    for fn, names in outputs.items():
        orig = getattr(gen, f"{act}_{fn}")

        def wrapped(*args, _orig=orig, _names=names):
            return tuple(o * terms.get(n, 1.0) for o, n in zip(_orig(*args), _names))

        setattr(mod, f"{act}_{fn}", wrapped)
    return mod


def test_quick_run_keeps_a_hessian_row_with_teeth(monkeypatch):
    """`check twolayer --quick` keeps the ReLU Hessian-vs-second-differences row: a planted
    Hessian-only error (huv12 x (1 + 1e-4), gradient untouched) fails --quick.  The other row
    makers are stubbed out (they are tested above) to keep this fast."""
    for name in ("kernel_rows", "overlap_rows", "tian_rows", "spurious_rows", "public_rows"):
        monkeypatch.setattr(T, name, lambda *a, **k: [])
    monkeypatch.setattr(T, "mc_rows", lambda *a, **k: [])
    real = T.fd_rows
    seen = {}

    def fd(module=None, activations=T.ACTIVATIONS, seed=0, hessian=True):
        seen["hessian"] = hessian
        return real(module, activations=("relu",), seed=seed, hessian=hessian)

    monkeypatch.setattr(T, "fd_rows", fd)
    ok = T.run(Context(quick=True), quick=True)
    assert seen["hessian"] == T.QUICK_HESSIAN and "relu" in T.QUICK_HESSIAN
    assert any("Hessian" in r.label for r in ok) and not _failed(ok)
    bad = T.run(Context(quick=True), module=_hybrid({"relu": {"huv12": 1 + 1e-4}}), quick=True)
    failed = _failed(bad)
    assert failed and all("Hessian" in r.label for r in failed), [(r.label, r.stat) for r in bad]


def test_tian_row_compares_and_fails_on_a_planted_gradient_term():
    rows = T.tian_rows()
    assert rows[0].kind == "paper" and rows[0].passed and rows[0].stat < 1e-13
    bad = T.tian_rows(_hybrid({"relu": {"gb": 1 + 1e-6}}))
    assert not bad[0].passed


def test_engine_mutants_are_planted_and_caught():
    """`check --mutants` plants the engine's kernel-derivation errors (numerics.mutants_twolayer);
    the re-emitted ones (no re-derivation) for ReLU are caught by independent rows (the whole
    set runs in `nnderive check twolayer --mutants`)."""
    from numerics import mutants_twolayer as MT
    from numerics.harness import mutant_table

    every = MT.planted()
    assert {m.kind for m, *_ in every} == {"constant", "branch", "second derivative", "gradient"}
    for kind in ("constant", "branch", "second derivative", "gradient"):
        assert len({a for m, a, *_ in every if m.kind == kind}) >= 2, kind
    from derivations.runtime import backend as _backend

    ms = []
    for m, act, what, rel in MT.planted(kinds=("second derivative", "gradient")):
        if act == "relu":  # re-emitted from the (cached) ReLU derivation of the tests above
            # judged on the NumPy engine here (compiling each mutant in memory takes ~20 s;
            # `check --mutants` judges both backends, tests/test_twolayer_compiled.py shows
            # that a plant reaches the compiled kernels)
            with _backend.using("numpy"):
                ms.append(MT.judge(m, act, MT.module_for(act, what, rel),
                                   Context(samples=20_000)))
    assert len(ms) == 2 and all(m.caught for m in ms), [(m.label, m.caught_by) for m in ms]
    assert all(not by.startswith(("paper", "overlap")) for m in ms for by in m.caught_by)
    table = mutant_table(ms)
    assert table["twolayer"]["planted"] == 2 and table["twolayer"]["caught"] == 2
