"""numerics.quadrature: the deterministic Gaussian reference, against mpmath integration of the
model integrand (not against any derived closed form)."""
import math

import mpmath
import numpy as np
import pytest

from numerics import quadrature as Q


def relu(x):
    return np.maximum(x, 0.0)


def test_radial_rule_moments():
    r, w = Q.radial_rule()
    # exact for degree <= 2n - 1 in exact arithmetic; in float64 the weights of the outermost
    # nodes carry ~1e-15 relative error, which the huge r^k of high degrees amplifies: the rule
    # is used for the low degrees of ReLU networks (<= 8 or so), checked here up to 20
    for k in range(0, 21):
        exact = 2 ** (k / 2) * math.gamma(k / 2 + 1)
        assert abs((w * r**k).sum() - exact) <= 1e-14 * exact * max(1, k)


@pytest.mark.parametrize("phi", [1e-6, 0.3, 1.2, 2.0, 3.0])
def test_relu_product_vs_mpmath(phi):
    """E relu(z1) relu(cos phi z1 + sin phi z2), against mpmath's 2-D integral of the integrand."""
    u = np.array([math.cos(phi), math.sin(phi)])
    got = Q.plane_expectation(lambda a, b: relu(a) * relu(u[0] * a + u[1] * b),
                              Q.relu_kinks([1.0, 0.0], u))
    with mpmath.workdps(30):
        c, s = mpmath.cos(phi), mpmath.sin(phi)

        def inner(th):  # integrate r in closed sense numerically too
            a, b = mpmath.cos(th), mpmath.sin(th)
            f = max(a, 0) * max(c * a + s * b, 0)
            return f * mpmath.quad(lambda r: r**3 * mpmath.exp(-r * r / 2), [0, mpmath.inf])
        lo = float(phi) - math.pi / 2
        ref = mpmath.quad(inner, [lo, math.pi / 2]) / (2 * mpmath.pi)
    assert abs(got - float(ref)) <= 1e-12 * float(ref)


def test_vector_valued_and_line():
    m = Q.plane_expectation(lambda a, b: np.stack([a * (a > 0), b * (a > 0)], -1),
                            Q.relu_kinks([1.0, 0.0]))
    assert np.allclose(m, [1 / math.sqrt(2 * math.pi), 0.0], atol=1e-15)
    assert abs(Q.line_expectation(lambda z: relu(z) ** 2, [0.0]) - 0.5) < 1e-15
    ref = mpmath.quad(lambda z: mpmath.log1p(mpmath.exp(z)) * mpmath.npdf(z),
                      [-mpmath.inf, 0, mpmath.inf])
    assert abs(Q.line_expectation(lambda z: np.logaddexp(0.0, z)) - float(ref)) < 1e-14


def test_plane_basis_nearly_parallel():
    e1, e2 = Q.plane_basis(np.array([1.0, 2, 3]), np.array([1.0, 2, 3 + 1e-7]))
    assert abs(e1 @ e2) < 1e-15 and abs(np.linalg.norm(e2) - 1) < 1e-15
    assert np.allclose(e1, np.array([1.0, 2, 3]) / math.sqrt(14))
    # R^1 (issue 19: vector length 1 is sampled): the line itself, e2 = 0
    e1, e2 = Q.plane_basis(np.array([-2.0]))
    assert e1.tolist() == [-1.0] and e2.tolist() == [0.0]


def test_plane_basis_parallel_in_two_dimensions():
    e1, e2 = Q.plane_basis(np.array([3.0, 4.0]), np.array([-6.0, -8.0]))
    assert np.allclose(e1, [0.6, 0.8]) and abs(e1 @ e2) < 1e-15


def test_line_breakpoints_kept_exactly():
    k = 1e-9  # a kink a hair from 0: the piece [0, k] must not be lost to rounding
    got = Q.line_expectation(lambda z: (z > 0) & (z < k), [0.0, k])
    assert abs(got - k / math.sqrt(2 * math.pi)) <= 1e-15 * k
