"""Emitted code: fresh, SymPy-free at run time, deterministic, broadcasting, hardened."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import derivations as D
from derivations import codegen

ROOT = Path(__file__).resolve().parents[1]


def test_committed_code_is_fresh():
    stale = [path.name for path, src in codegen.build(write=False).items()
             if not path.exists() or path.read_text() != src]
    assert not stale, f"stale or missing generated modules {stale}: run `nnderive build FAMILY`"


def test_build_is_deterministic_across_hash_seeds():
    code = ("from derivations import codegen; import hashlib; "
            "print(hashlib.sha256(''.join(codegen.build(write=False, families=['cnn','gaussian'])"
            ".values()).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": seed},
                              cwd=ROOT).stdout for seed in ("1", "2")}
    assert len(digests) == 1


def test_unused_intermediates_are_dropped():
    """A family's own emitter may write an intermediate only some variants read; the module
    assembly drops it (repeatedly: one drop can orphan another), but keeps runtime calls, which
    may check an argument, and names read later (also through a subscript store or ``del``)."""
    src = ("def f(x, H):\n"
           "    a = numpy.sum(x)\n"
           "    b = a * 2\n"
           "    c = _rt.vector('x', x)\n"
           "    g = numpy.zeros(3)\n"
           "    for h in range(H):\n"
           "        g[h] = h\n"
           "    t = x + 1\n"
           "    del t\n"
           "    return g\n")
    out = codegen._drop_unused(src)
    assert "a = " not in out and "b = " not in out
    assert "c = _rt.vector" in out and "g = numpy.zeros" in out and "t = x + 1" in out
    for path in sorted((ROOT / "derivations" / "generated").glob("[!_]*.py")):  # the whole build
        assert codegen._drop_unused(path.read_text()) == path.read_text(), path.name


def test_emitted_code_does_not_import_sympy():
    code = ("import sys, numpy as np\n"
            "from derivations.generated.cnn import population_loss, grad_v, grad_a\n"
            "from derivations.generated import gaussian\n"
            "x = population_loss(np.ones(3), np.ones(2), np.arange(1., 4.), np.ones(2))\n"
            "grad_v(np.ones(3), np.ones(2), np.arange(1., 4.), np.ones(2))\n"
            "gaussian.wedge_second_moment(np.ones(3), np.arange(3.))\n"
            "print('sympy' in sys.modules, 'mpmath' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd="/").stdout.split()
    assert out == ["False", "False"]


def test_registry_numpy_is_the_generated_function():
    from derivations.generated import cnn

    assert D.get("cnn.population_loss").numpy is cnn.population_loss


def _pt(rng, p=5, k=4):
    return rng.standard_normal(p), rng.standard_normal(k), rng.standard_normal(p), rng.standard_normal(k)


@pytest.mark.parametrize("name", ["cnn.population_loss", "cnn.grad_v", "cnn.grad_a"])
def test_batch_of_5000_matches_loop(name):
    rng = np.random.default_rng(3)
    v, a, ws, as_ = _pt(rng)
    V = rng.standard_normal((5000, 5))
    f = D.get(name).numpy
    batched = f(V, a, ws, as_)
    assert batched.shape == (5000,) if name.endswith("loss") else batched.shape[0] == 5000
    loop = np.stack([f(V[i], a, ws, as_) for i in range(0, 5000, 250)])
    np.testing.assert_allclose(batched[::250], loop, rtol=1e-13, atol=1e-15)


def test_broadcasting_over_several_batch_axes():
    rng = np.random.default_rng(4)
    v = rng.standard_normal((3, 1, 5))
    a = rng.standard_normal((1, 4, 4))
    out = D.get("cnn.grad_a").numpy(v, a, rng.standard_normal(5), rng.standard_normal(4))
    assert out.shape == (3, 4, 4)


@pytest.mark.parametrize("n", [3, 5])  # n = 5 = p: a wrong matmul orientation would not even fail
def test_single_vector_against_a_batch_of_the_other(n):
    """One v against a batch of w_star (and the reverse): the inner product of a single vector
    with a batch must not be taken as a matrix product of the wrong orientation."""
    rng = np.random.default_rng(8)
    v, a, ws, as_ = _pt(rng)
    WS, V = rng.standard_normal((n, 5)), rng.standard_normal((n, 5))
    for name in ("cnn.population_loss", "cnn.grad_v", "cnn.grad_a"):
        f = D.get(name).numpy
        np.testing.assert_allclose(f(v, a, WS, as_), np.stack([f(v, a, w, as_) for w in WS]),
                                   rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(f(V, a, ws, as_), np.stack([f(x, a, ws, as_) for x in V]),
                                   rtol=1e-13, atol=1e-15)


def test_scalar_returns_numpy_float():
    rng = np.random.default_rng(5)
    out = D.get("cnn.population_loss").numpy(*_pt(rng))
    assert np.ndim(out) == 0 and isinstance(out, np.floating)


@pytest.mark.parametrize("phi", [0.0, np.pi])
def test_exact_limits_at_phi_0_and_pi(phi):
    rng = np.random.default_rng(6)
    ws = rng.standard_normal(5)
    v = 0.7 * ws if phi == 0 else -2.0 * ws
    a, as_ = rng.standard_normal(4), rng.standard_normal(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outs = [D.get(n).numpy(v, a, ws, as_) for n in ("cnn.population_loss", "cnn.grad_v", "cnn.grad_a")]
    for o in outs:
        assert np.all(np.isfinite(o))
    # grad_v vanishes at both stationary angles (the projector kills w* parallel to v)
    np.testing.assert_allclose(outs[1], 0.0, atol=1e-15)
    if phi == 0:  # at phi = 0 the loss is the quadratic in a - |w*| a*, with g(0) = pi
        d = a - np.linalg.norm(ws) * as_
        np.testing.assert_allclose(outs[0], (d.sum() ** 2 + (np.pi - 1) * d @ d) / (4 * np.pi),
                                   rtol=1e-14)


def test_angle_is_accurate_near_0_and_pi():
    from derivations import runtime as rt

    x = np.array([1.0, 0.0, 0.0])
    for eps in (1e-12, 1e-9, 1e-6):
        y = np.array([np.cos(eps), np.sin(eps), 0.0])
        got = rt.angle(x, y, rt.norm(x), rt.norm(y), rt.dot(x, y))
        assert abs(got - eps) <= 1e-15 * eps + 1e-300
        got = rt.angle(x, -y, rt.norm(x), rt.norm(y), rt.dot(x, -y))
        assert abs(got - (np.pi - eps)) <= 1e-15  # pi - eps itself is rounded


def test_tiny_and_huge_vectors_do_not_underflow():
    f = D.get("gaussian.relu_mean").numpy
    np.testing.assert_allclose(f(np.array([1e-300, 0.0])), 1e-300 / np.sqrt(2 * np.pi), rtol=1e-14)
    np.testing.assert_allclose(f(np.array([1e200, 1e200])), np.sqrt(2) * 1e200 / np.sqrt(2 * np.pi), rtol=1e-14)
    g = D.get("gaussian.relu_cross_moment").numpy
    np.testing.assert_allclose(g(np.array([1e-300, 0.0]), np.array([2e-300, 0.0])), 0.0, atol=1e-310)


BAD = [
    (dict(v=np.zeros(5)), "v"),
    (dict(w_star=np.zeros(5)), "w_star"),
    (dict(a_star=np.ones(3)), "a_star"),
    (dict(w_star=np.ones(4)), "w_star"),
    (dict(v=np.array([1.0, np.nan, 0, 0, 0])), "v"),
    (dict(a=np.array([1.0, np.inf, 0, 0])), "a"),
    (dict(a=np.float64(1.0)), "a"),
    (dict(v="abc"), "v"),
    (dict(v=np.ones((3, 5)), a=np.ones((2, 4))), "a"),
]


@pytest.mark.parametrize("name", ["cnn.population_loss", "cnn.grad_v", "cnn.grad_a"])
@pytest.mark.parametrize("override,arg", BAD)
def test_bad_input_names_the_argument(name, override, arg):
    args = dict(v=np.ones(5), a=np.ones(4), w_star=np.arange(1.0, 6.0), a_star=np.ones(4))
    args.update(override)
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        D.get(name).numpy(**args)


def test_g_rejects_angles_outside_0_pi():
    with pytest.raises(ValueError, match="phi"):
        D.get("gaussian.g").numpy(np.array([0.5, 4.0]))


def test_standalone_code_runs_without_the_package(tmp_path):
    src = D.get("cnn.grad_v").code()
    path = tmp_path / "grad_v.py"
    path.write_text(src + "\nimport numpy as np\nprint(grad_v(np.ones(3), np.ones(2), np.arange(1., 4.), np.ones(2)))\n")
    out = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ref = D.get("cnn.grad_v").numpy(np.ones(3), np.ones(2), np.arange(1.0, 4.0), np.ones(2))
    np.testing.assert_allclose(np.array(out.stdout.strip(" []\n").split(), float), ref, rtol=1e-7)


# ---- run-time helpers behind the folded validation and the memory-lean assembly -------------

def test_rowdot_is_numpy_sum_of_products_for_short_rows():
    from derivations import runtime as rt

    rng = np.random.default_rng(11)
    for shape in [(70001, 4), (3, 5, 7), (9, 2)]:
        x, y = rng.standard_normal(shape), rng.standard_normal(shape)
        np.testing.assert_array_equal(rt.rowdot(x, y), np.sum(x * y, axis=-1))
    x = rng.standard_normal((50, 12))  # long rows: einsum
    np.testing.assert_allclose(rt.rowdot(x, x), np.einsum("ij,ij->i", x, x), rtol=1e-15)


def test_norms_and_dot_in_one_pass_equal_the_separate_calls():
    """``_rt.norms_and_dot`` gives what ``norm``, ``norm`` and ``dot`` give, bit for bit, with
    their errors and their extended range; the emitter uses it where all three are needed."""
    from derivations import runtime as rt

    def separate(x, y, nz=(True, True)):
        nx, ny = rt.norm(x, "x", nz[0]), rt.norm(y, "y", nz[1])
        return nx, ny, rt.dot(x, y, nx, ny)

    rng = np.random.default_rng(13)
    for shape in [(70001, 5), (3, 5, 4), (50, 12), (4,)]:  # blocks, batch axes, long rows, one pair
        x, y = rng.standard_normal(shape), rng.standard_normal(shape)
        for got, ref in zip(rt.norms_and_dot(x, y, ("x", "y"), (True, True)), separate(x, y)):
            np.testing.assert_array_equal(got, ref)
    x, y = rng.standard_normal((2, 100, 5))
    x[7, 2] = 1e200  # beyond the float range of a square: the extended-range path of norm()
    nx, ny, d = rt.norms_and_dot(x, y, ("x", "y"), (True, True))
    assert isinstance(nx, rt.XF) and abs(float(nx.value()[7]) / 1e200 - 1) < 1e-15
    x[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"^x must be finite"):
        rt.norms_and_dot(x, y, ("x", "y"), (True, True))
    x[7] = 0.0
    with pytest.raises(ValueError, match=r"^x must be nonzero"):
        rt.norms_and_dot(x, y, ("x", "y"), (True, True))
    nx = rt.norms_and_dot(x, y, ("x", "y"), (False, True))[0]  # a zero row allowed: as norm()
    ref = separate(x, y, (False, True))[0]
    assert type(nx) is type(ref) and nx.value()[7] == 0.0
    np.testing.assert_array_equal(nx.value(), ref.value())
    src = (ROOT / "derivations" / "generated" / "cnn.py").read_text()
    assert 'norm_v, norm_w_star, dot_v_w_star = _rt.norms_and_dot(v, w_star, ("v", "w_star")' in src


def test_nan_in_an_argument_reduced_only_by_an_inner_product_is_named():
    """grad_v reads a and a_star only through a.a_star: the inner product stands for their
    NaN/inf test (no separate pass), and its failed range check names the argument."""
    rng = np.random.default_rng(12)
    V, A = rng.standard_normal((1000, 5)), rng.standard_normal((1000, 4))
    AS = rng.standard_normal((1000, 4))
    for arr, name in ((A, "a"), (AS, "a_star")):
        bad = arr.copy()
        bad[617, 2] = np.inf
        other = np.zeros_like(AS)  # inf * 0 is NaN: still caught
        args = dict(v=V, a=bad if name == "a" else other, w_star=V[::-1].copy(),
                    a_star=bad if name == "a_star" else other)
        with pytest.raises(ValueError, match=rf"\b{name} must be finite"):
            D.get("cnn.grad_v").numpy(**args)


def test_check_nonzero_rows_and_halfspace():
    from derivations import runtime as rt

    f = D.get("gaussian.halfspace_second_moment").numpy
    W = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    # the moment is w/2, defined at w = 0 too (no nonzero contract)
    np.testing.assert_array_equal(f(W), W / 2)
    np.testing.assert_array_equal(f(np.zeros(3)), np.zeros(3))
    rt.check_nonzero(W[[0, 2]], "w")  # row sum 0, row nonzero: fine
    with pytest.raises(ValueError, match=r"\bw must be nonzero"):
        rt.check_nonzero(W, "w")
    with pytest.raises(ValueError, match=r"\bw must be finite"):
        f(np.array([[1.0, np.nan, 0.0]] * 3))
    np.testing.assert_array_equal(f(np.full((2, 3), 1e308)), np.full((2, 3), 5e307))


def test_finiteness_pass_of_large_arguments():
    """The BLAS sum-of-squares pass (large contiguous arrays, in chunks of 2^20 entries): NaN
    and inf anywhere (here in the second chunk) are caught, and finite entries whose squares
    overflow (1e200) only take the full scan and pass, without a warning."""
    import warnings

    f = D.get("gaussian.halfspace_second_moment").numpy
    W = np.ones((110000, 10))
    for bad in (np.nan, np.inf, -np.inf):
        X = W.copy()
        X[109999, 9] = bad
        with pytest.raises(ValueError, match=r"\bw must be finite"):
            f(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(f(np.full((110000, 10), 1e200)), np.full((110000, 10), 5e199))
    np.testing.assert_array_equal(f(W[:, ::2]), W[:, ::2] / 2)  # non-contiguous: the plain sum


def test_within_names_nan_as_not_finite():
    g = D.get("gaussian.g").numpy
    with pytest.raises(ValueError, match=r"phi must be finite"):
        g(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match=r"phi must lie in \[0, pi\]"):
        g(np.array([0.5, 3.5]))


def test_combine_and_matrix_assembly_broadcast():
    from derivations import runtime as rt

    rng = np.random.default_rng(13)
    X, y, c = rng.standard_normal((40000, 5)), rng.standard_normal(5), rng.standard_normal(40000)
    np.testing.assert_allclose(rt.combine((c, X), (2.0, y), (c, None)),
                               c[:, None] * X + 2.0 * y + c[:, None], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(rt.combine((0.5, y), (c, X)), 0.5 * y + c[:, None] * X, rtol=1e-15)
    m = rt.add_diagonal(rt.filled(2.0, 3), c[:4])  # scalar fill, batch diagonal
    np.testing.assert_array_equal(m, 2.0 + c[:4, None, None] * np.eye(3))
    A = D.get("cnn.A").numpy(X[:7], 4)
    s = np.sum(X[:7] ** 2, axis=1)
    np.testing.assert_allclose(A, (s / (2 * np.pi))[:, None, None] * np.ones((4, 4))
                               + (s * (np.pi - 1) / (2 * np.pi))[:, None, None] * np.eye(4), rtol=1e-15)


def test_wedge_near_parallel_rows_take_the_rejection_form():
    """Rows with |cos| > NEAR use the double-double rejection; the others the direct sum; a
    batch mixing both agrees with one call per row."""
    f = D.get("gaussian.wedge_second_moment").numpy
    rng = np.random.default_rng(14)
    w = rng.standard_normal(6)
    U = np.stack([-w * 0.5 + 1e-9 * rng.standard_normal(6), rng.standard_normal(6), 0.3 * w])
    W = np.stack([w, w, w])
    batched = f(W, U)
    for i in range(3):
        np.testing.assert_allclose(batched[i], f(w, U[i]), rtol=1e-15, atol=0)
