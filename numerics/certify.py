"""Computer-assisted proof that a strict local minimum of the two-layer ReLU population loss lies
within radius r of a float point (spurious-minima study, issue 21; python-flint's arb).

Setting: ``L(W) = 1/2 E[(sum_i a_i relu(w_i.x) - sum_j b_j relu(v_j.x))^2]``, x ~ N(0, I_d),
with a, V, b fixed; the gradient and Hessian are assembled from the SymPy-derived coefficients
of the pair kernel (:mod:`numerics.relu_pairs`), here evaluated in ball arithmetic, so every
number below is a rigorous enclosure (python-flint ``arb``, 106 bits).

The proof, for the box ``X = {W : |W - W~|_inf <= r}`` (r is reported; the Euclidean radius is
at most r sqrt(P)):

1. Smoothness.  kappa(u, w) is C^infinity where u, w != 0 and the angle is in (0, pi).  For
   every pair of units (student-student i != j, student-teacher) the enclosure of
   ``|cos angle|`` over X must be strictly below 1 and every norm strictly positive; the
   margin ``1 - max |cos|`` is reported.  (The self pairs kappa(w_i, w_i) = |w_i|^2/2 are smooth.)
2. Existence and uniqueness of a critical point (Krawczyk).  With ``g = grad L(W~)`` (a point
   enclosure), ``H(X)`` an enclosure of the Hessian over X and C a float approximate inverse of
   H(W~), ``K = W~ - C g + (I - C H(X)) (X - W~)``.  If K lies in the interior of X, grad L has
   exactly one zero W* in X (Krawczyk 1969; Neumaier, Interval Methods, Thm 5.1.8).
3. Strict minimum.  Every symmetric matrix in H(X) minus sigma I is positive definite: with Q
   the float eigenvectors of H(W~), ``M = Q^T (H(X) - sigma I) Q`` is enclosed in arb and is
   strictly diagonally dominant with a positive diagonal (Gershgorin), so Q^T (H - sigma I) Q is
   positive definite for every H in the enclosure; hence Q is nonsingular and, by Sylvester's
   law of inertia, H - sigma I is positive definite: lambda_min(H) > sigma >= 0 on X.  So W*
   is a strict local minimum, and ``min_eig_lower = sigma`` is a proven lower bound for the
   smallest Hessian eigenvalue on the whole box.

``certified`` is true only when 1-3 hold; any failure returns false with the reason.  The radius
is capped (``max_radius``, default 1e-6): a point 1e-3 away from a minimum does not certify.
"""
from __future__ import annotations

import functools

import numpy as np

from .relu_pairs import derived

PREC = 106  # bits of the ball arithmetic (float64 has 53)


@functools.lru_cache(maxsize=None)
def _compiled():
    """The derived coefficients as closures over arb arguments ``(norm_u, norm_w, phi)``."""
    import sympy as sp

    D = derived()
    syms = D["symbols"]

    def comp(expr, args=syms):
        from .relu_pairs import arb_eval

        expr = sp.sympify(expr)

        def f(*vals):
            return arb_eval(expr, dict(zip(args, vals)))

        return f

    return {"grad": {b: comp(c) for b, c in D["grad"].items()},
            "hess": {key: comp(c) for key, c in D["hess"].items()},
            "self_grad": comp(D["self_grad"], syms[:1]),
            "self_hess": comp(D["self_hess"], syms[:1])}


def _pair_invariants(u, w):
    """Norms and angle (arb balls) of two arb vectors, and ``|cos|`` upper bound; raises
    ``_NotSmooth`` when the pair may be parallel or antiparallel (or a norm may vanish)."""
    import flint

    nu2 = sum((x * x for x in u), flint.arb(0))
    nw2 = sum((x * x for x in w), flint.arb(0))
    if not (nu2 > 0 and nw2 > 0):
        raise _NotSmooth("a unit's norm may vanish on the box")
    nu, nw = nu2.sqrt(), nw2.sqrt()
    c = sum((x * y for x, y in zip(u, w)), flint.arb(0)) / (nu * nw)
    bound = abs(c).upper()
    if not abs(c) < 1:
        raise _NotSmooth("two units may be parallel or antiparallel on the box (angle 0 or pi)")
    return nu, nw, c.acos(), float(bound.mid()) + float(bound.rad())


class _NotSmooth(Exception):
    pass


def _upper(x) -> float:
    """A float upper bound of ``|x|`` for an arb ``x`` (for reporting; decisions use arb)."""
    u = abs(x).upper()
    return float(np.nextafter(float(u.mid()) + float(u.rad()), np.inf))


def _arb_rows(M, r=0.0):
    import flint

    return [[flint.arb(float(x), r) if r else flint.arb(float(x)) for x in row] for row in M]


def _vec_mat(vec):
    from flint import arb_mat

    m = arb_mat(len(vec), 1)
    for i, x in enumerate(vec):
        m[i, 0] = x
    return m


def enclosures(W, a, V, b, radius: float = 0.0, hessian: bool = True):
    """Rigorous enclosures over the box ``|W' - W|_inf <= radius``: ``(grad (list of P arb),
    H (arb_mat P x P) or None, margin)`` where ``margin = 1 - max |cos angle|`` over all
    pairs.  Raises :class:`_NotSmooth` if a pair may reach angle 0 or pi."""
    import flint
    from flint import arb_mat

    f = _compiled()
    W = np.asarray(W, float)
    V = np.asarray(V, float)
    k, d = W.shape
    m = V.shape[0]
    a = np.broadcast_to(np.asarray(a, float), (k,))
    b = np.broadcast_to(np.asarray(b, float), (m,))
    Wb = _arb_rows(W, radius)
    Vb = _arb_rows(V)
    ab = [flint.arb(float(x)) for x in a]
    bb = [flint.arb(float(x)) for x in b]
    P = k * d
    zero = flint.arb(0)
    grad = [[zero] * d for _ in range(k)]
    H = arb_mat(P, P) if hessian else None
    eye = arb_mat([[1 if i == j else 0 for j in range(d)] for i in range(d)])
    col = [_vec_mat(u) for u in Wb]
    colv = [_vec_mat(v) for v in Vb]
    diag = [arb_mat(d, d) for _ in range(k)]
    worst = 0.0

    def add_block(i, j, B):
        for l in range(d):
            for mm in range(d):
                H[i * d + l, j * d + mm] += B[l, mm]

    partners = [(j, Wb[j], col[j], ab[j], True) for j in range(k)] + \
               [(j, Vb[j], colv[j], -bb[j], False) for j in range(m)]
    for i in range(k):
        u, cu = Wb[i], col[i]
        for j, w, cw, sj, student in partners:
            if student and j == i:
                continue
            nu, nw, phi, bound = _pair_invariants(u, w)
            worst = max(worst, bound)
            A = ab[i] * sj
            gu = f["grad"]["u"](nu, nw, phi) * A
            gw = f["grad"]["w"](nu, nw, phi) * A
            grad[i] = [g + gu * x + gw * y for g, x, y in zip(grad[i], u, w)]
            if not hessian:
                continue
            for z in ("u", "w"):
                if z == "w" and not student:
                    continue  # the teacher is fixed: no cross block
                h = f["hess"]
                c = f["grad"][z](nu, nw, phi) * A
                p1 = h[(z, "u", "u")](nu, nw, phi) * A
                p2 = h[(z, "u", "w")](nu, nw, phi) * A
                p3 = h[(z, "w", "u")](nu, nw, phi) * A
                p4 = h[(z, "w", "w")](nu, nw, phi) * A
                B = (eye * c + (cu * cu.transpose()) * p1 + (cu * cw.transpose()) * p2
                     + (cw * cu.transpose()) * p3 + (cw * cw.transpose()) * p4)
                if z == "u":
                    diag[i] += B
                else:
                    add_block(i, j, B)
        # self term 1/2 a_i^2 kappa(w_i, w_i)
        nu = sum((x * x for x in u), zero).sqrt()
        half = ab[i] * ab[i] / 2
        s = f["self_grad"](nu) * half
        grad[i] = [g + s * x for g, x in zip(grad[i], u)]
        if hessian:
            t = f["self_hess"](nu) * half
            diag[i] += eye * s + (cu * cu.transpose()) * t
            add_block(i, i, diag[i])
    return [g for row in grad for g in row], H, 1.0 - worst


def certify(W, a=1.0, V=None, b=1.0, radius: float | None = None, max_radius: float = 1e-6):
    """Prove that a strict local minimum of L lies within ``radius`` (inf-norm) of ``W``.

    ``V`` defaults to the identity teacher (d = k), ``a``, ``b`` to ones.  ``radius=None``
    picks ``r = 4 |C g|_inf + 1e-14`` (C the float inverse Hessian, g the enclosed gradient)
    and fails when that exceeds ``max_radius``.  Returns a dict: ``certified`` (bool, a proof
    when true), ``radius`` (inf-norm), ``radius_2`` (Euclidean, r sqrt(P)), ``grad_norm_upper``
    (rigorous bound on |grad L(W)|_inf), ``min_eig_lower`` (proven lower bound of the smallest
    Hessian eigenvalue on the box), ``angle_margin`` (1 - max |cos| over pairs on the box),
    ``krawczyk`` (max_i |K_i - W_i| / r, < 1 when contained), ``reason``.
    """
    import flint
    from flint import arb_mat

    from .relu_teacher import hessian as float_hessian

    W = np.asarray(W, float)
    if W.ndim != 2 or not np.isfinite(W).all():
        raise ValueError(f"W must be a finite (k, d) array, got shape {W.shape}")
    k, d = W.shape
    V = np.eye(d) if V is None else np.asarray(V, float)
    P = k * d
    out = {"certified": False, "radius": None, "radius_2": None, "grad_norm_upper": None,
           "min_eig_lower": None, "angle_margin": None, "krawczyk": None, "reason": ""}
    old = flint.ctx.prec
    flint.ctx.prec = PREC
    try:
        try:
            g, _, margin = enclosures(W, a, V, b, 0.0, hessian=False)
        except _NotSmooth as exc:
            out["reason"] = str(exc) + " (at the point)"
            return out
        Hf = float_hessian(W, a, V, b)
        lam, Q = np.linalg.eigh(Hf)
        out["min_eig_float"] = float(lam[0])
        if not lam[0] > 0:
            out["reason"] = f"float Hessian not positive definite (min eig {lam[0]:.3g})"
            return out
        C = np.linalg.inv(Hf)
        out["grad_norm_upper"] = max(_upper(x) for x in g)
        Cb = arb_mat(C.tolist())
        y = Cb * _vec_mat(g)
        step = max(_upper(y[i, 0]) for i in range(P))
        r = 4 * step + 1e-14 if radius is None else float(radius)
        out["radius"], out["radius_2"] = r, r * np.sqrt(P)
        if r > max_radius:
            out["reason"] = (f"the Newton step {step:.3g} needs a radius {r:.3g} > max_radius "
                             f"{max_radius:.3g}: not a minimum to this accuracy")
            return out
        try:
            _, HX, margin = enclosures(W, a, V, b, r, hessian=True)
        except _NotSmooth as exc:
            out["reason"] = str(exc)
            return out
        out["angle_margin"] = margin
        # Krawczyk: K - W~ = -C g + (I - C H(X)) [-r, r]^P, inside (-r, r)^P ?
        Mk = -(Cb * HX)
        for i in range(P):
            Mk[i, i] += 1
        box = _vec_mat([flint.arb(0, r)] * P)
        Kd = Mk * box - y
        worst = max(_upper(Kd[i, 0]) for i in range(P))
        out["krawczyk"] = worst / r
        if not all(abs(Kd[i, 0]) < r for i in range(P)):
            out["reason"] = f"Krawczyk operator not contained (ratio {worst / r:.3g})"
            return out
        # positive definiteness on the box: Q^T (H(X) - sigma I) Q strictly diagonally dominant
        for frac in (0.9, 0.5, 0.1):
            sigma = frac * float(lam[0])
            Qb = arb_mat(Q.tolist())
            HS = arb_mat(HX)
            for i in range(P):
                HS[i, i] -= sigma
            M = Qb.transpose() * HS * Qb
            ok = True
            for i in range(P):
                off = flint.arb(0)
                for j in range(P):
                    if j != i:
                        off += abs(M[i, j])
                if not M[i, i] - off > 0:
                    ok = False
                    break
            if ok:
                out["min_eig_lower"] = sigma
                break
        if out["min_eig_lower"] is None:
            out["reason"] = "positive definiteness of the Hessian on the box not proved"
            return out
        out["certified"] = True
        out["reason"] = ("unique critical point in the box (Krawczyk), Hessian > "
                         f"{out['min_eig_lower']:.4g} I on the box, angles clear of 0 and pi")
        return out
    finally:
        flint.ctx.prec = old
