"""The formula registry: names, lookup, metadata, and every formula checked independently."""
import pytest

import derivations as D
from numerics import checks


def test_names_and_families():
    names = D.names()
    assert len(names) == len(set(names))
    for required in ("gaussian.relu_mean", "gaussian.relu_cross_moment",
                     "gaussian.halfspace_second_moment", "gaussian.wedge_second_moment",
                     "cnn.population_loss", "cnn.grad_v", "cnn.grad_a"):
        assert required in names
    assert {"gaussian", "cnn"} <= set(D.families())


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError) as exc:
        D.get("cnn.population_los")
    assert "cnn.population_loss" in str(exc.value)
    with pytest.raises(ValueError):  # also a ValueError, for callers that catch bad input
        D.get("nothing.here")


@pytest.mark.parametrize("name", D.names())
def test_metadata(name):
    f = D.get(name)
    assert f.source and f.assumptions and f.args
    assert f.name == name and f.family in D.families()
    # an equation, or a bound whose relation replaces "=" (derivations.latex.split_relation)
    assert any(rel in f.latex() for rel in ("=", r"\le", r"\ge")), f.latex()[:80]
    assert f._repr_latex_().startswith("$")


@pytest.mark.parametrize("name", D.names())
def test_every_formula_has_an_independent_check(name):
    from numerics.harness import NOT_INDEPENDENT

    # consistency rows (derived vs derived), 50-digit and paper rows never count
    kinds = {c.kind for c in checks.for_formula(name)
             if c.independent and c.kind not in NOT_INDEPENDENT}
    assert kinds, f"{name} has no independent check"


def test_signatures_of_the_issue():
    assert D.get("cnn.population_loss").signature() == "population_loss(v, a, w_star, a_star)"
    assert D.get("gaussian.wedge_second_moment").signature() == "wedge_second_moment(w, u)"
