"""Shared figure/JSON output of the experiments: parameters stated, axes in math text.

Every experiment writes ``NAME.json`` (numbers) and, when matplotlib is installed, ``NAME.png``
whose title states the parameters (gamma, tau, eta, seed, ...) and whose axes are labelled with
math text and units.  Use :func:`save`::

    from ._plotting import save, axis

    def _draw(axes, out):                      # axes: one Axes, or a flat list of them
        axes.plot(t, f)
        axis(axes, x=r"iteration $t$", y=r"objective $f(\\mathbf{x}_t)$", log_x=True)

    return save(out_dir, NAME, out, _draw, title="Fig. 7.3: GD vs PGD on the octopus",
                params={"gamma": 1.0, "tau": math.e, "eta": "1/(4L)", "d": 5, "seed": seed})

:func:`save` adds ``params``, ``json``, ``png`` (or ``png_note``) and a ``figure`` record
(title, caption, every axis label) to the result, writes the JSON (NumPy values converted), and
returns the result.  :func:`param_text` gives the caption alone (for a report line).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable

import numpy as np

#: Parameter names printed as math symbols (others are printed as given, in italics).
SYMBOLS = {"gamma": r"\gamma", "tau": r"\tau", "eta": r"\eta", "phi": r"\phi", "theta": r"\theta",
           "sigma": r"\sigma", "lambda": r"\lambda", "alpha": r"\alpha", "beta": r"\beta",
           "mu": r"\mu", "nu": r"\nu", "rho": r"\rho", "epsilon": r"\epsilon", "delta": r"\delta",
           "kappa": r"\kappa", "omega": r"\omega", "dt": r"\Delta t", "alphas": r"\alpha",
           "norm_a_star": r"\|\mathbf{a}^*\|", "norm_w_star": r"\|\mathbf{w}^*\|"}
#: Parameters printed as words, not symbols.
WORDS = {"seed", "starts", "samples", "quick", "runs", "trials", "steps", "epochs", "iterations",
         "widths", "rounds", "draws"}

_NAMED_VALUES = {math.e: "e", math.pi: r"\pi"}
#: Most panels in a row: a longer strip is wrapped into rows (a journal page is ~7 in wide).
MAX_COLS = 3


def _value_text(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        for known, name in _NAMED_VALUES.items():
            if math.isclose(float(v), known, rel_tol=1e-12):
                return name
        return f"{float(v):.4g}"
    if isinstance(v, (list, tuple)):
        return r"\{" + ", ".join(_value_text(x) for x in v) + r"\}"
    return str(v).replace("gamma", r"\gamma").replace("tau", r"\tau").replace("eta", r"\eta")


def _symbol(key: str) -> str | None:
    """The math symbol of a parameter name (``gamma`` -> ``\\gamma``, ``d1`` -> ``d_{1}``, ``n``,
    ``T``), or None for a word (``criterion``, ``kernel``): a multi-letter name set in math
    italics would read as a product of letters."""
    if key in SYMBOLS:
        return SYMBOLS[key]
    m = re.fullmatch(r"([A-Za-z])(\d+)", key) or re.fullmatch(r"([A-Za-z])_([A-Za-z0-9]+)", key)
    if m and key not in WORDS:
        return f"{m.group(1)}_{{{m.group(2)}}}"
    if len(key) == 1:
        return key
    return None


def _wrap(text: str, chars: int) -> list[str]:
    """``text`` in lines of about ``chars`` visible characters, broken only at spaces outside
    math (``$...$`` stays whole); the width counts a TeX command as one character."""
    words, cur, inside = [], "", False
    for ch in text:
        if ch == "$":
            inside = not inside
        if ch == " " and not inside:
            words.append(cur)
            cur = ""
        else:
            cur += ch
    words.append(cur)

    def width(w):
        return len(re.sub(r"\\[A-Za-z]+|[${}^_]", "x", w).replace("x", "", 0))

    lines, line = [], ""
    for w in words:
        if line and width(line) + 1 + width(w) > chars:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    return lines + ([line] if line else [])


def param_text(params: dict) -> str:
    """Caption stating the parameters in matplotlib math text, e.g.
    ``$\\gamma = 1$, $\\tau = e$, $\\eta = 1/(4L)$, seed 0``; names that are words are printed
    as words (``criterion angle``), and ``quick`` (a run setting, not a parameter of the
    figure) as the phrase "quick run (reduced sizes)" at the end."""
    parts = []
    for k, v in params.items():
        if k == "quick":
            continue
        sym = _symbol(k)
        if k in WORDS or sym is None:
            parts.append(f"{k.replace('_', ' ')} {_value_text(v).replace(chr(92), '')}")
        else:
            parts.append(f"${sym} = {_value_text(v)}$")
    if params.get("quick"):
        parts.append("quick run (reduced sizes)")
    return ", ".join(parts)


def axis(ax, x: str, y: str, log_x: bool = False, log_y: bool = False, legend: bool = False):
    """Label an axis pair (math text and units, e.g. ``r"iteration $t$ (steps)"``)."""
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    if legend:
        ax.legend(fontsize="small")
    return ax


def per_layer_panels(axes, t, series: dict, depth: int, y: str, titles: dict | None = None):
    """One log-scale panel per entry of ``series`` (name -> array (steps, depth)), one line per
    layer (e.g. per-layer gradient norms of several normalization variants); the first panel
    carries the layer legend."""
    for ax, (key, G) in zip(axes, series.items()):
        G = np.asarray(G)
        for layer in range(depth):
            ax.semilogy(t, G[:, layer], lw=0.8, label=f"layer {layer + 1}")
        ax.set_title((titles or {}).get(key, key), fontsize=9)
        axis(ax, r"GD step $t$", y, log_y=True)
    axes[0].legend(fontsize=6, ncol=2)


def jsonable(x):
    """``x`` with NumPy scalars/arrays and non-finite floats made JSON-safe."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else str(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def save(out_dir, name: str, result: dict, draw: Callable | None, *, title: str, params: dict,
         ncols: int = 1, nrows: int = 1, figsize: tuple[float, float] | None = None,
         dpi: int = 110) -> dict:
    """Write ``NAME.json`` and (with matplotlib and a ``draw``) ``NAME.png``; return the result.

    ``draw(axes, result)`` gets one Axes (or a flat list for ``ncols * nrows > 1``) and must label
    every axis (:func:`axis`).  The figure title is ``title`` plus a caption line from
    :func:`param_text`; title, caption and axis labels are recorded under ``result["figure"]``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = dict(result)
    result["params"] = jsonable(params)
    caption = param_text(params)
    result["figure"] = {"title": title, "caption": caption, "axes": []}
    result["json"] = f"{name}.json"
    try:
        if draw is None:
            raise ImportError("no figure for this experiment")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        result["png"] = None
        if draw is not None:
            result["png_note"] = ("matplotlib not installed (pip install nnderive[plots]); "
                                  "PNG skipped")
    else:
        panels = ncols * nrows
        size = figsize or (4.4 * ncols, 3.6 * nrows + 0.5)
        if nrows == 1 and ncols > MAX_COLS:  # a long strip of panels: wrapped into rows
            per_w, per_h = size[0] / ncols, size[1]
            nrows = -(-ncols // MAX_COLS)
            ncols = -(-ncols // nrows)  # balanced rows: 4 panels 2 x 2, 5 or 6 panels 2 x 3
            size = (per_w * ncols, per_h * nrows + 0.4)
        # constrained layout keeps room for the two-line title (tight_layout clipped it)
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, layout="constrained")
        flat = list(axes.ravel())
        for extra in flat[panels:]:
            extra.set_visible(False)
        flat = flat[:panels]
        draw(flat[0] if len(flat) == 1 else flat, result)
        chars = max(40, int(size[0] * 13))  # the title wrapped to the figure's width
        head = "\n".join(_wrap(title, chars) + _wrap(caption, chars))
        fig.suptitle(head, fontsize="medium")
        fig.savefig(out_dir / f"{name}.png", dpi=dpi)
        result["figure"]["axes"] = [{"title": a.get_title(), "xlabel": a.get_xlabel(),
                                     "ylabel": a.get_ylabel()} for a in flat]
        plt.close(fig)
        result["png"] = f"{name}.png"
    (out_dir / f"{name}.json").write_text(json.dumps(jsonable(result), indent=1))
    return result
