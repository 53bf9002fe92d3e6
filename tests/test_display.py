"""Display forms (derivations.display): each is proved equal to the derived expression by SymPy.

A display form is a way of printing the derivation in the paper's notation; these tests
substitute every named function's definition back (or compare real and imaginary parts, or the
role coefficients) and require the difference to simplify to 0, for every registered formula.
Planted errors show that the proof can fail.
"""
import pytest
import sympy as sp

import derivations as D
from derivations import display as X
from derivations import latex as L


@pytest.mark.parametrize("name", D.names())
def test_display_form_is_proved_equal_to_the_derivation(name):
    f = D.get(name)
    assert X.prove(f) == [], name
    tex = L.rhs(f)
    assert tex and r"\mathrm{backprop}" not in tex and r"\mathbb 1" not in tex


@pytest.mark.parametrize("name", [n for n in D.names() if D.get(n).paper is not None])
def test_printed_statement_goes_through_the_same_machinery(name):
    f = D.get(name)
    assert X.prove(f, "paper") == [], name
    assert L.rhs(f, "paper")


def test_named_function_g_is_the_derived_g():
    from derivations.display.gaussian_cnn import g

    phi = sp.Symbol("phi")
    derived = D.get("gaussian.g").expr
    (s,) = derived.free_symbols
    assert sp.simplify(g(s).definition() - derived) == 0
    assert X.to_tex(g(phi)) == r"g(\phi)"


@pytest.mark.parametrize("name,needles", [
    ("cnn.population_loss", [r"\left(\pi - 1\right) \|\mathbf{a}\|^{2}", "g(\\phi)",
                             r"\frac{1}{4 \pi} \Big["]),
    ("cnn.grad_v", [r"\left(I - \frac{\mathbf{v} \mathbf{v}^\top}{\|\mathbf{v}\|^{2}}\right)",
                    r"\left(\pi - \phi\right)"]),
    ("cnn.grad_a", [r"\left(\mathbf{1}\mathbf{1}^\top + \left(\pi - 1\right) I\right) \mathbf{a}",
                    r"\left(g(\phi) - 1\right) I"]),
    ("cnn.A", [r"\left(\mathbf{1}\mathbf{1}^\top + \left(\pi - 1\right) I\right)"]),
    ("gaussian.relu_cross_moment", ["g(\\phi)"]),
    ("circulant.grad", [r"\overline{Q_{kj}}", r"\hat r_j", r"n^{\frac{d - 1}{2}}"]),
    ("resnet.grad_W", [r"\prod_{l=h+1}^{H}", r"J_i^{(h)}", r"W^{(l)\top} J_i^{(l)}",
                       r"\mathbf x_i^{(h-1)\top}"]),
])
def test_display_uses_the_papers_notation(name, needles):
    tex = L.rhs(D.get(name))
    for n in needles:
        assert n in tex, (name, n, tex)
    assert r"\mathrm{Re}\," not in tex and r"\mathrm{Im}\," not in tex  # no expanded parts


def test_planted_error_in_a_display_fails_its_proof():
    f = D.get("cnn.population_loss")
    good = X.display_of(f)
    bad = X.Display(expr=good.expr * (1 + sp.Rational(1, 1000)))
    bad.proof = lambda: [X.expand_named(bad.expr) - f.expr]
    key = (f.name, "expr")
    X._CACHE[key], saved = bad, X._CACHE[key]
    try:
        assert X.prove(f) != []
    finally:
        X._CACHE[key] = saved
    assert X.prove(f) == []


def test_planted_error_in_a_named_definition_fails():
    from derivations.display import gaussian_cnn as G

    f = D.get("gaussian.relu_cross_moment")
    wrong = X.named("gwrong", "g({0})", lambda p: (sp.pi - p) * sp.cos(p) - sp.sin(p))
    disp = X.display_of(f)
    expr = disp.expr.replace(lambda e: isinstance(e, G.g), lambda e: wrong(*e.args))
    assert sp.simplify(X.expand_named(expr) - f.expr) != 0


def test_circulant_proof_catches_a_wrong_scale():
    from derivations.display import circulant as C

    f = D.get("circulant.grad")
    disp = X.display_of(f)
    res = C._spectrum_residuals(sp.Mul(2, disp.expr), f.expr)
    assert any(sp.simplify(r) != 0 for r in res)


def test_resnet_display_recursion_is_the_proved_one():
    from derivations.resnet import backprop as B

    f = D.get("resnet.grad_W")
    assert B.prove_matrix_form(f.expr, sizes=((1, 2, 2),)) == []
    assert X.prove(f) == []


def test_printer_orders_coefficients_as_people_write_them():
    a = sp.Symbol("a", positive=True)
    assert X.to_tex((sp.pi - 1) * a ** 2 / (2 * sp.pi)) == r"\frac{\pi - 1}{2 \pi} a^{2}"
    assert X.to_tex(sp.Symbol("k") - 1 + sp.pi, consts=(sp.Symbol("k"),)) == r"\pi + k - 1"


def test_repr_latex_and_cli_default_is_the_display(capsys):
    from numerics.cli import main

    f = D.get("cnn.population_loss")
    assert "g(\\phi)" in f._repr_latex_()
    assert main(["latex", "cnn.population_loss"]) == 0
    assert "g(\\phi)" in capsys.readouterr().out
    assert main(["latex", "cnn.population_loss", "--expanded"]) == 0
    out = capsys.readouterr().out
    assert "g(\\phi)" not in out and r"\cos" in out
    assert main(["latex", "cnn.population_loss", "--snippet"]) == 0
    out = capsys.readouterr().out
    assert "amsmath" in out and "g(\\phi) =" in out
