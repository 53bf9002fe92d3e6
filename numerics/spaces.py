"""The vector spaces of a formula's call: their lengths, and a call with one space resized
(issue 19 item 3).  Used by the harness (smallest allowed dimension) and by the check modules
(rows at several dimensions); imports neither."""
from __future__ import annotations

import numpy as np


def space_lengths(formula, xs) -> dict[str, int]:
    """``{space: length}`` of the vector spaces of ``formula`` in the call ``xs`` (the last axis
    of the first vector argument of each space)."""
    out: dict[str, int] = {}
    for a, x in zip(formula.args, xs):
        if a.kind == "vector" and a.space and a.space not in out and np.ndim(x):
            out[a.space] = int(np.shape(x)[-1])
    return out


def resize_space(formula, xs, space: str, length: int, rng=None):
    """The call ``xs`` with the vector space ``space`` resized to ``length`` (issue 19 item 3):
    every axis of every array argument whose size is the space's current length is cut to its
    first ``length`` entries or extended by normal entries of the array's rms size (so every
    vector and matrix dimension of that space changes, e.g. both axes of an m x m matrix).
    ``None`` when the resize is ambiguous (another space of the call has the same length, or an
    ``int`` argument equals it: it may be that dimension) or ``length < 1``."""
    lens = space_lengths(formula, xs)
    if space not in lens or length < 1:
        return None
    n = lens[space]
    if any(s != space and v == n for s, v in lens.items()):
        return None
    if any(a.kind == "int" and int(x) == n for a, x in zip(formula.args, xs)):
        return None
    rng = rng if rng is not None else np.random.default_rng(19)
    ys = list(xs)
    for i, (a, x) in enumerate(zip(formula.args, xs)):
        if a.kind != "vector" or not np.ndim(x):
            continue
        arr = np.asarray(x, dtype=np.float64)
        rms = float(np.sqrt(np.mean(arr * arr))) if arr.size else 1.0
        for ax in range(arr.ndim):
            if arr.shape[ax] != n:
                continue
            if length <= n:
                arr = np.take(arr, np.arange(length), axis=ax)
            else:
                shape = list(arr.shape)
                shape[ax] = length - n
                arr = np.concatenate([arr, (rms or 1.0) * rng.standard_normal(shape)], axis=ax)
        ys[i] = arr
    return ys

