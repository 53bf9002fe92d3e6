"""The filter family's template: the plane matrices ``A(w, w*)`` in the basis ``e_w, e_perp``.

In: ``filter.A_plus`` / ``filter.A_minus`` (coefficients of ``e_w e_w^T``, ``e_w e_perp^T``,
``e_perp e_w^T``, ``e_perp e_perp^T``, ``I`` derived in :mod:`derivations.filter`).  Out: the
source of a function computing ``e_w`` and the unit rejection ``e_perp`` (any unit vector
orthogonal to ``w`` when ``w, w*`` are parallel: its coefficients vanish there) and the printed
coefficients (:func:`emit_plane_matrix`)."""
from __future__ import annotations

import sympy as sp

from ... import vectors as V
from ..arguments import docstring
from ..functions import function_source
from ..printer import print_block
from ...filter import EP, EW, I_P


def emit_plane_matrix(formula) -> str:
    """Emit ``A(w, w*)`` as ``c1 e_w e_w^T + c2 (e_w e_perp^T + e_perp e_w^T) + c3 e_perp
    e_perp^T + c4 I`` with ``e_perp`` the unit rejection of ``w*`` from ``w`` (any unit vector
    orthogonal to ``w`` when they are parallel: its coefficients vanish there)."""
    parts = dict((b, c) for c, b in V.components(formula.expr, 2))
    bases = (V.outer(EW, EW), V.outer(EW, EP), V.outer(EP, EW), V.outer(EP, EP), I_P)
    coeffs = [parts.get(b, sp.Integer(0)) for b in bases]
    lines, printed = print_block(coeffs)
    body = [
        'w = _rt.vector("w", w)',
        'w_star = _rt.vector("w_star", w_star)',
        '_rt.same_length(("w", w), ("w_star", w_star))',
        '_shape = _rt.batch_shape(("w", w, 1), ("w_star", w_star, 1))',
        'w, w_star = numpy.broadcast_arrays(w, w_star)',
        '_rt.require(w.shape[-1] >= 2, "w", "must have length >= 2")',
        'norm_w = numpy.sqrt(numpy.einsum("...i,...i->...", w, w))',
        '_rt.require(norm_w > 0, "w", "must be nonzero (its direction is undefined)")',
        'norm_s = numpy.sqrt(numpy.einsum("...i,...i->...", w_star, w_star))',
        '_rt.require(norm_s > 0, "w_star", "must be nonzero (its direction is undefined)")',
        'e_w = w / norm_w[..., None]',
        's_hat = w_star / norm_s[..., None]',
        'dif = numpy.sqrt(numpy.einsum("...i,...i->...", e_w - s_hat, e_w - s_hat))',
        'sm = numpy.sqrt(numpy.einsum("...i,...i->...", e_w + s_hat, e_w + s_hat))',
        'phi = 2.0 * numpy.arctan2(dif, sm)',
        'u = s_hat - numpy.einsum("...i,...i->...", s_hat, e_w)[..., None] * e_w',
        'nu = numpy.sqrt(numpy.einsum("...i,...i->...", u, u))',
        '# parallel or antiparallel: any unit vector orthogonal to e_w (coefficients vanish)',
        'j = numpy.argmin(numpy.abs(e_w), axis=-1)',
        'fb = numpy.zeros_like(e_w)',
        'numpy.put_along_axis(fb, j[..., None], 1.0, axis=-1)',
        'fb = fb - numpy.einsum("...i,...i->...", fb, e_w)[..., None] * e_w',
        'fb = fb / numpy.sqrt(numpy.einsum("...i,...i->...", fb, fb))[..., None]',
        'small = (nu <= 1e-300)[..., None]',
        'e_perp = numpy.where(small, fb, u / numpy.where(small[..., 0], 1.0, nu)[..., None])',
        'p = w.shape[-1]',
    ] + lines + [
        "_m = (_rt.col2(" + printed[0] + ") * _rt.outer(e_w, e_w) + _rt.col2(" + printed[1]
        + ") * _rt.outer(e_w, e_perp) + _rt.col2(" + printed[2] + ") * _rt.outer(e_perp, e_w)"
        " + _rt.col2(" + printed[3] + ") * _rt.outer(e_perp, e_perp) + _rt.col2(" + printed[4]
        + ") * numpy.eye(p))",
        "return _rt.finish(_m, _shape, 2)",
    ]
    sig = ", ".join(a.name for a in formula.args)
    return function_source(formula.quantity, sig, docstring(formula), body)
