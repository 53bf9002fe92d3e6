"""The kernels family's templates: Gram matrices over all pairs of rows, ``erf`` vectorized.

In: the registered ``kernels.*`` formulas (closed forms derived in :mod:`derivations.kernels`).
Out: :func:`gram_emitter`, the source of ``<name>(X)`` evaluating the formula over all pairs of
rows of ``X`` (one matrix product; Kahan's angle and the default emitter's pair function on the
near-parallel pairs), and :func:`erf_emitter`, the default emitter with ``math.erf``
vectorized (NumPy has no erf)."""
from __future__ import annotations

import copy

import sympy as sp

from ...registry import Arg, Formula
from ..functions import emit_function, function_source
from ..printer import print_block
from ...kernels import PHI_XY


def erf_emitter(formula: Formula) -> str:
    """The default invariant emitter, with ``math.erf`` (which NumPy lacks) vectorized."""
    plain = copy.copy(formula)
    plain.emitter = None
    src = emit_function(plain).replace("math.erf(", "_erf(")
    head, doc, body = src.split('"""', 2)
    return (head + '"""' + doc + '"""\n'
            "    _erf = numpy.vectorize(math.erf, otypes=[numpy.float64])" + body)


def _pair_source(formula: Formula) -> tuple[str, str]:
    """The default emitter's pair function ``f(x, y)`` of a Gram formula's own expression (so a
    mutant of the expression reaches it too), as nested source for the Gram function, and its
    name."""
    quantity = f"_{formula.quantity}_pair"
    clone = Formula(f"{formula.family}.{quantity}", formula.source,
                    (Arg("x", "vector", "a data point", "d", nonzero=True),
                     Arg("y", "vector", "a data point", "d", nonzero=True)),
                    formula.assumptions, lambda: formula.expr, formula.lhs)
    return emit_function(clone), quantity


def gram_pieces(formula: Formula) -> tuple[list[str], str, bool]:
    """``(CSE lines, result expression, uses sin)`` of ``formula.expr`` printed on the pair's
    invariants ``norm_x``, ``norm_y``, ``dot_x_y``, ``phi_x_y``, ``dim_d`` and the angle's cosine
    ``_c`` and sine ``_s`` (shared by this NumPy template and the compiled one,
    :mod:`.kernels_numba`)."""
    # cos and sin of the angle from the vectors (no cos(arccos(c)); sin exactly 0 at 0 and pi)
    expr = formula.expr.subs({sp.cos(PHI_XY): sp.Symbol("_c"), sp.sin(PHI_XY): sp.Symbol("_s")})
    lines, (printed,) = print_block([expr])
    names = {str(s) for s in expr.free_symbols} - {"_c", "_s"}
    known = {"norm_x", "norm_y", "dot_x_y", "phi_x_y", "dim_d"}
    if not names <= known:
        raise ValueError(f"{formula.name}: gram emitter cannot print {names - known}")
    return lines, printed, "_s" in {str(t) for t in expr.free_symbols}


def homogeneity(formula: Formula) -> tuple[int, int] | None:
    """The degrees ``(a, b)`` with ``K(s x, t y) = s^a t^b K(x, y)`` for all ``s, t > 0``, derived
    from ``formula.expr`` (``norm_x -> s norm_x``, ``norm_y -> t norm_y``, ``dot_x_y -> s t
    dot_x_y``, the angle unchanged; the ratio simplified), or None when the kernel is not
    bi-homogeneous of integer degrees (then extreme rows go to the pair form, pair by pair)."""
    s, t = sp.symbols("_s_scale _t_scale", positive=True)
    syms = {str(v): v for v in formula.expr.free_symbols}
    scale = {"norm_x": s, "norm_y": t, "dot_x_y": s * t}
    sub = {syms[k]: v * syms[k] for k, v in scale.items() if k in syms}
    ratio = sp.simplify(formula.expr.subs(sub, simultaneous=True) / formula.expr)
    if ratio.free_symbols - {s, t}:
        return None
    degrees = []
    for v in (s, t):
        a = sp.simplify(v * sp.diff(ratio, v) / ratio)  # s d/ds log(s^a t^b) = a
        if not a.is_Integer:
            return None
        degrees.append(int(a))
    if sp.simplify(ratio - s**degrees[0] * t**degrees[1]) != 0:
        return None
    return degrees[0], degrees[1]


def _extreme_lines(formula: Formula, pair_name: str) -> list[str]:
    """Rows whose norms leave ``[1e-150, 1e150]`` (where ``|x| |y|`` and ``x.y`` could leave the
    normal range, and ``|x|^2`` underflow or overflow): the zero-row test on ``max|x_i|`` (which
    does not underflow) and, for a bi-homogeneous kernel of degrees ``(a, b)``
    (:func:`homogeneity`), the Gram of the rows scaled exactly by powers of two (norms in
    ``[0.5, sqrt(d)]``, the ordinary path) scaled back by ``2^(a k_i + b k_j)`` (``ldexp``: one
    rounding; +-inf beyond float64, 0 or subnormal below).  Otherwise the pair form on every pair
    (extended range)."""
    degrees = homogeneity(formula)
    lines = [
        "if not (_n.min(initial=1.0) >= 1e-150 and _n.max(initial=1.0) <= 1e150):",
        "    # extreme rows: |x|^2 and x.y may leave float64 (max|x_i| does not underflow)",
        "    _m = numpy.max(numpy.abs(X), axis=-1)",
        '    _rt.require(_m > 0, "X", "must have nonzero rows (the angle of a zero data point is '
        'undefined)")',
    ]
    if degrees is None:
        lines += ["    # the kernel is not bi-homogeneous: the pair form (extended range) on every pair",
                  f"    return {pair_name}(X[..., :, None, :], X[..., None, :, :])"]
        return lines
    a, b = degrees
    lines += [
        f"    # K(s x, t y) = s^{a} t^{b} K(x, y) (SymPy, from the expression): rows scaled by 2^-k",
        "    _k = _rt._pow2_scale(X)",
        f"    _g = {formula.quantity}(_rt._scaled(X, _k))",
        "    with numpy.errstate(over='ignore', under='ignore'):",
        f"        return numpy.ldexp(_g, {a} * _k[..., :, None] + {b} * _k[..., None, :])",
    ]
    return lines


def gram_emitter(formula: Formula) -> str:
    """Emit ``<name>(X)``: the kernel of ``formula.expr`` over all pairs of rows of ``X``.

    ``X`` has shape ``(..., n, d)``; the result ``(..., n, n)``.  Invariants by one matrix
    product; angles by ``arccos`` where ``|cos| <= 0.9`` and Kahan's ``2 atan2(|x^ - y^|,
    |x^ + y^|)`` on the (few) remaining pairs, so the diagonal is exactly 0 and antiparallel
    pairs exactly pi; ``cos`` is the clipped cosine and ``sin`` is ``sqrt(1 - c^2)`` or
    ``|x^ - y^||x^ + y^|/2`` on those pairs (exactly 0 at 0 and pi).  Prints from ``formula.expr`` (mutants change the code).
    After the checks the function hands ``X`` and its row norms to the compiled Gram
    (:mod:`.kernels_numba`, ``_rt.compiled("kernels_gram", ...)``, the same printed pieces) when
    the backend in use has it, and evaluates the near pairs it returns by the same pair form.
    Rows with norms outside ``[1e-150, 1e150]`` are handled first (:func:`_extreme_lines`: exactly
    scaled rows and the kernel's homogeneity derived by SymPy), so no backend sees them.
    """
    lines, printed, uses_sin = gram_pieces(formula)
    pair, pair_name = _pair_source(formula)
    body = [
        'X = _rt.vector("X", X)',
        '_rt.require(X.ndim >= 2, "X", "must have shape (..., n, d) (one data point per row)")',
        '_rt.require(X.shape[-2] >= 1, "X", "must contain at least one data point (row)")',
        "dim_d = X.shape[-1]",
        "_n = numpy.sqrt(numpy.einsum('...i,...i->...', X, X))",
        *_extreme_lines(formula, pair_name),
        '_rt.require(_n > 0, "X", "must have nonzero rows (the angle of a zero data point is '
        'undefined)")',
        f"_fast = _rt.compiled('kernels_gram', '{formula.quantity}', X.shape[:-1] + X.shape[-2:-1])",
        "_g = None if _fast is None else _fast(X, _n)  # (None: this call stays NumPy's)",
        "if _g is not None:  # the compiled backend (derivations.runtime.backend): tiles of rows",
        "    _r, _pr = _g",
        "    if _pr[0].size:  # the near-parallel pairs off the diagonal, by the pair form as below",
        f"        _r[_pr] = {pair_name}(X[_pr[0]], X[_pr[1]])",
        "    return _r",
        "norm_x = _n[..., :, None]",
        "norm_y = _n[..., None, :]",
        "dot_x_y = numpy.matmul(X, numpy.swapaxes(X, -1, -2))",
        "_c = dot_x_y / (norm_x * norm_y)",
        "numpy.clip(_c, -1.0, 1.0, out=_c)",
        "phi_x_y = numpy.arccos(_c)",
    ]
    if uses_sin:
        body.append("_s = numpy.sqrt(1.0 - _c * _c)")
    body += [
        "_near = numpy.nonzero(numpy.abs(_c) > 0.9)",
        "if _near[0].size:",
        "    _xh = X / _n[..., None]",
        "    _a = _xh[_near[:-1]]",
        "    _b = _xh[_near[:-2] + (_near[-1],)]",
        "    _dm = numpy.linalg.norm(_a - _b, axis=-1)",
        "    _dp = numpy.linalg.norm(_a + _b, axis=-1)",
        "    phi_x_y[_near] = 2.0 * numpy.arctan2(_dm, _dp)",
    ]
    if uses_sin:
        body.append("    _s[_near] = 0.5 * _dm * _dp")
    body += lines
    body.append(f"_r = numpy.asarray({printed}, dtype=numpy.float64)")
    body.append("if _r.shape != dot_x_y.shape or _r.base is not None:")
    body.append("    _r = numpy.broadcast_to(_r, dot_x_y.shape).copy()")
    body += ["# near-parallel and antiparallel pairs off the diagonal (where phi = 0 exactly) again by",
             "# the pair form of the same expression: double-double angle and the SymPy edge series,",
             "# where the closed form cancels (arccos1 ~ (pi - phi)^3 near pi: 7e8 relative error at 1e-8)",
             "if _near[0].size:",
             "    _off = _near[-2] != _near[-1]",
             "    if _off.any():",
             "        _pr = tuple(_t[_off] for _t in _near)",
             f"        _r[_pr] = {pair_name}(X[_pr[:-1]], X[_pr[:-2] + (_pr[-1],)])",
             "return _r"]
    body = pair.splitlines() + body
    doc = (f'"""{formula.name}: {formula.source}.\n\nAssumptions: {formula.assumptions}\n\n'
           "Arguments:\n    X: (..., n, d) - data points, one per row (nonzero rows)\n\n"
           "Returns the (..., n, n) Gram matrix.  Emitted by `nnderive build`; do not edit.\n"
           '"""')
    return function_source(formula.quantity, "X", doc, body)
