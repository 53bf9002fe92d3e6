"""Exact edges: every angle-valued emitted formula of gaussian and cnn (and the fused functions)
agrees with the derived expression evaluated at 60 digits to 1e-10 relative at the edge angles
phi in {0, 1e-15, 1e-12, 1e-8, 1e-4, pi/2, pi - 1e-8, pi - 1e-12, pi}, in generic directions.

Relative error is ``max|got - ref| / max|ref|`` (norm-wise for vectors and matrices); where the
exact value is 0 (at phi = 0 or pi exactly; the 60-digit value is then a rounding residue below
1e-55 of the terms) the emitted value must be exactly 0 too.
``python tests/test_edges.py`` prints the table of errors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import derivations as D
from derivations import codegen, precision

PHIS = [("0", 0.0), ("1e-15", 1e-15), ("1e-12", 1e-12), ("1e-8", 1e-8), ("1e-4", 1e-4),
        ("pi/2", math.pi / 2), ("pi-1e-8", math.pi - 1e-8), ("pi-1e-12", math.pi - 1e-12),
        ("pi", math.pi)]
TOL = 1e-10


def pair(phi, p=5, seed=0, r1=1.3, r2=0.8):
    """Two float64 vectors in generic directions at angle ``phi`` (exactly parallel/antiparallel
    at 0 and pi: the second is a power-of-two multiple of the first)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(p)
    x *= r1 / np.linalg.norm(x)
    if phi == 0.0:
        return x, 0.5 * x
    if phi == math.pi:
        return x, -0.5 * x
    e = rng.standard_normal(p)
    e -= (e @ x) / (x @ x) * x
    e /= np.linalg.norm(e)
    # pi - small: build from the antiparallel direction so the small angle is represented
    if phi > 3.0:
        t = math.pi - phi
        return x, r2 * (-math.cos(t) * x / r1 + math.sin(t) * e)
    return x, r2 * (math.cos(phi) * x / r1 + math.sin(phi) * e)


def _points(name, phi):
    rng = np.random.default_rng(1)
    if name.startswith("gaussian.g"):
        return {"phi": np.float64(phi)}
    x, y = pair(phi)
    if name.startswith("gaussian."):
        return {"w": x, "u": y}
    a, a_star = rng.standard_normal(4), rng.standard_normal(4)
    if name == "cnn.B":
        return {"w": x, "w_star": y, "k": 4}
    first = "w" if name.endswith("_w") else "v"
    return {first: y, "a": a, "w_star": x, "a_star": a_star}


ANGLE_FORMULAS = ["gaussian.relu_cross_moment", "gaussian.wedge_second_moment", "gaussian.g",
                  "cnn.B", "cnn.population_loss", "cnn.grad_v", "cnn.grad_a",
                  "cnn.population_loss_w", "cnn.grad_w"]


def rel_error(name, phi, dps=60):
    f = D.get(name)
    pt = _points(name, phi)
    got = np.asarray(f.numpy(**pt), dtype=float)
    ref, scale = precision.evaluate(f, pt, dps=dps)
    ref = np.asarray(ref, dtype=float)
    big = float(np.max(np.abs(ref)))
    if big <= 1e-55 * float(np.max(scale)):  # exactly 0 (60-digit rounding residue only)
        return float(np.max(np.abs(got)))  # must be exactly 0 as well
    return float(np.max(np.abs(got - ref)) / big)


@pytest.mark.parametrize("name", ANGLE_FORMULAS)
@pytest.mark.parametrize("label,phi", PHIS)
def test_edge_relative_error(name, label, phi):
    assert rel_error(name, phi) < TOL


@pytest.mark.parametrize("label,phi", PHIS)
def test_fused_matches_separate_functions_at_edges(label, phi):
    from derivations.generated import cnn

    pt = _points("cnn.population_loss", phi)
    loss, gv, ga = codegen.fused("cnn.population_loss")(**pt)
    np.testing.assert_allclose(loss, cnn.population_loss(**pt), rtol=4e-16)
    for got, ref in ((gv, cnn.grad_v(**pt)), (ga, cnn.grad_a(**pt))):
        assert np.max(np.abs(got - ref)) <= 4e-16 * np.max(np.abs(ref))


def test_edges_in_one_batch_match_single_rows():
    """The careful path is switched on per row: a batch mixing edge and generic rows gives the
    same values as one call per row."""
    f = D.get("cnn.grad_v").numpy
    rows = [_points("cnn.grad_v", phi) for _, phi in PHIS]
    V = np.stack([r["v"] for r in rows])
    batched = f(V, rows[0]["a"], rows[0]["w_star"], rows[0]["a_star"])
    for i, r in enumerate(rows):
        np.testing.assert_allclose(batched[i], f(**r), rtol=1e-15, atol=0)
    g = D.get("gaussian.relu_cross_moment").numpy
    W = np.stack([_points("gaussian.relu_cross_moment", phi)["w"] for _, phi in PHIS])
    U = np.stack([_points("gaussian.relu_cross_moment", phi)["u"] for _, phi in PHIS])
    single = [g(W[i], U[i]) for i in range(len(PHIS))]
    np.testing.assert_allclose(g(W, U), single, rtol=1e-15, atol=0)


def table() -> str:
    head = f"{'formula':<30}" + "".join(f"{lab:>10}" for lab, _ in PHIS)
    lines = [head]
    for name in ANGLE_FORMULAS:
        lines.append(f"{name:<30}" + "".join(f"{rel_error(name, phi):>10.1e}" for _, phi in PHIS))
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())


# ---- the sine of a scalar angle from its cosine (runtime.sine) ---------------------------

SCALAR_ANGLE_FORMULAS = ["gaussian.g", "kernels.relu_layer_map", "cnn.a_opt", "cnn.profile_loss",
                         "cnn.gd_next_sin2", "cnn.gd_next_dot", "cnn.gd_next_sum"]


def _angle_grid():
    """Angles over [0, pi]: the edge angles, both sides of SINE_NEAR's switch, and a uniform draw."""
    from derivations import runtime as rt

    a = math.acos(rt.SINE_NEAR)
    near = [a - 1e-9, a, a + 1e-9, math.pi - a - 1e-9, math.pi - a, math.pi - a + 1e-9]
    rng = np.random.default_rng(7)
    return np.concatenate([[p for _, p in PHIS], near, rng.uniform(0, math.pi, 150)])


def test_sine_from_cosine_is_within_a_few_ulp_of_60_digits():
    """sqrt((1 - c)(1 + c)) on the rows with |c| <= SINE_NEAR, numpy.sin on the others: within
    1e-15 relative of the 60-digit sine everywhere (measured worst 4.3e-16, numpy.sin 2.2e-16)."""
    import mpmath

    from derivations import runtime as rt

    phi = np.concatenate([_angle_grid(), np.arccos(np.linspace(-0.9, 0.9, 401))])
    s = rt.sine(phi, np.cos(phi))
    with mpmath.workdps(60):
        ref = np.array([float(mpmath.sin(mpmath.mpf(float(x)))) for x in phi])
    assert s[phi == 0.0].tolist() == [0.0] * int(np.sum(phi == 0.0))
    nz = ref > 0
    assert np.max(np.abs(s[nz] - ref[nz]) / ref[nz]) < 1e-15
    # one point or a few: numpy.sin itself
    assert rt.sine(np.float64(0.3), np.cos(np.float64(0.3))) == np.sin(0.3)


def test_sine_of_a_block_of_rows_and_of_a_broadcast_angle():
    from derivations import runtime as rt

    phi = _angle_grid().reshape(-1, 1) * np.ones((1, 3))  # two batch axes
    np.testing.assert_allclose(rt.sine(phi, np.cos(phi)), np.sin(phi), rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", SCALAR_ANGLE_FORMULAS)
def test_scalar_angle_batch_matches_single_points(name):
    """A batch of angles (the sine from the cosine) gives the values of one call per angle
    (numpy.sin): every emitted function with a scalar angle."""
    f = D.get(name)
    phis = _angle_grid()
    rng = np.random.default_rng(11)
    fixed = {}
    for a in f.args:
        if a.name == "phi":
            continue
        if a.kind == "vector":
            fixed[a.name] = rng.standard_normal(4)
        elif a.kind == "int":
            fixed[a.name] = 4
        else:
            fixed[a.name] = {"eta": 0.05}.get(a.name, float(rng.uniform(0.5, 1.5)))
    if "as_sum" in fixed:  # invariants of one vector a*: |1.a*| <= sqrt(k) |a*| (its domain)
        fixed["as_sum"] = min(fixed["as_sum"], 0.9 * math.sqrt(fixed["k"]) * fixed["as_norm"])
    batch = np.asarray(f.numpy(phi=phis, **fixed))
    single = np.stack([np.asarray(f.numpy(phi=np.float64(p), **fixed)) for p in phis])
    scale = np.max(np.abs(single))
    assert np.max(np.abs(batch - single)) <= 1e-14 * scale


def test_every_emitted_sine_is_guarded_by_the_angle_check():
    """``_rt.sine`` is right only on [0, pi] (it returns |sin|): every function that calls it
    checks its angle with ``within(phi, 0, pi)`` first (in the function or its public wrapper)."""
    import ast
    import pathlib

    from derivations.generated import __file__ as gen

    calls = 0
    for path in pathlib.Path(gen).parent.glob("*.py"):
        src = path.read_text()
        funcs = {n.name: ast.get_source_segment(src, n) for n in ast.parse(src).body
                 if isinstance(n, ast.FunctionDef)}
        for fname, body in funcs.items():
            for m in __import__("re").finditer(r"_rt\.sine\((\w+),", body):
                calls += 1
                public = fname[1:-5] if fname.startswith("_") and fname.endswith("_core") else fname
                guard = f"_rt.within({m[1]}, 0, numpy.pi,"
                # or the argument's declared domain inside [0, pi] (Arg.domain: phi >= 0 and
                # phi < pi or a smaller bound, e.g. pi/2), enforced by _rt.require
                low = f"_rt.require({m[1]} >= 0,"
                high = f"_rt.require({m[1]} < numpy.pi"
                src_f = body + funcs.get(public, "")
                assert guard in src_f or (low in src_f and high in src_f), (path.name, fname)
    assert calls >= 7
