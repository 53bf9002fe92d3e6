"""The ``nnderive`` command line.

    nnderive --version                    version and the copy that runs
    nnderive list [FAMILY ...]            formulas with source and signature
    nnderive latex NAME [--document|--snippet] [--expanded]  LaTeX (display form by default)
    nnderive code NAME                    stand-alone NumPy source of the emitted function
    nnderive check [NAME ...]             derive, emit, and prove formulas against independent
                   [--samples N] [--seed S] [--mutants] [--json]      numerics; exit 1 on failure
    nnderive build [FAMILY ...]           write the emitted code into derivations/generated
    nnderive docs [--out DIR] [--pdf]     write the catalogue (Markdown + LaTeX [+ PDF]) with checks
    nnderive bench [FAMILY ...] [--quick] speed ratios, measured side by side
    nnderive reproduce NAME [--quick]     reproduce a figure or table of the papers

Exit status: 0 success, 1 a check failed, 2 usage error (one line on stderr, no traceback).

Which copy runs: inside a checkout of nnderive (a directory whose ``pyproject.toml`` names the
``nnderive`` project, or any folder below it), every command uses that working tree, even when
a different copy is installed (``pip install .``), and says so on stderr; set
``NNDERIVE_USE_INSTALLED=1`` to use the installed copy instead.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import textwrap
from pathlib import Path

from .usage import UsageError  # noqa: F401 - raised here, shared with the bench
from .usage import plot_target as _plot_target


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message by default)
        raise UsageError(message)


class _Formatter(argparse.HelpFormatter):
    """Help that states every option's default (unless the help text already does) and keeps
    the line structure of descriptions and epilogs (each line is wrapped on its own)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.default is not None and action.default is not False
                and action.default is not argparse.SUPPRESS and "default" not in text
                and action.option_strings):
            text += " (default: %(default)s)"
        return text

    def _fill_text(self, text, width, indent):
        return "\n".join(
            textwrap.fill(line, width, initial_indent=indent,
                          subsequent_indent=indent + " " * (len(line) - len(line.lstrip()) + 19
                                                            if line.startswith("  ") else 0))
            if line.strip() else "" for line in text.splitlines())


class _ExperimentsHelp(argparse.Action):
    """``reproduce --help``: the usual help plus the experiments found in numerics.experiments."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.epilog = _experiment_listing() + _experiment_options(getattr(namespace, "name",
                                                                            None))
        parser.print_help()
        parser.exit()


class _ListingHelp(argparse.Action):
    """``--help`` that appends a listing built only when asked (the families of ``check`` and
    ``build`` need the registry, which imports SymPy: not on every start)."""

    def __init__(self, option_strings, listing=None, dest=argparse.SUPPRESS,
                 default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)
        self.listing = listing

    def __call__(self, parser, namespace, values, option_string=None):
        parser.epilog = self.listing()
        parser.print_help()
        parser.exit()


def _family_listing() -> str:
    import derivations

    return "families: " + ", ".join(derivations.families())


def _bench_listing() -> str:
    from . import bench

    return "benchmark families: " + ", ".join(bench.families())


def _version() -> str:
    """``nnderive X.Y.Z``: the version of the copy that runs (a checkout's pyproject.toml, else
    the installed distribution's metadata), and where it is."""
    root = running_copy()
    project = root / "pyproject.toml"
    version = None
    if project.is_file():
        import re

        m = re.search(r'^version\s*=\s*"([^"]+)"', project.read_text(errors="replace"), re.M)
        version = m.group(1) if m else None
    if version is None:
        from importlib import metadata

        try:
            version = metadata.version("nnderive")
        except metadata.PackageNotFoundError:
            version = "unknown"
    return f"nnderive {version} ({root})"


def _experiment_listing() -> str:
    from . import experiments

    lines = ["experiments:"]
    for name in experiments.names():
        try:
            desc = getattr(experiments.get(name), "DESCRIPTION", "")
        except Exception as exc:  # a broken experiment must not break --help
            desc = f"(cannot import: {type(exc).__name__})"
        lines.append(f"  {name:<18} {desc}")
    return "\n".join(lines)


def _experiment_options(name) -> str:
    """The options of experiment ``name`` (``reproduce NAME --help``), or ''."""
    from . import experiments

    try:
        hook = getattr(experiments.get(name), "add_arguments", None) if name else None
    except Exception:
        return ""
    if hook is None:
        return ""
    sub = _Parser(prog=f"nnderive reproduce {name}", formatter_class=_Formatter, add_help=False)
    hook(sub)
    body = sub.format_help().split("\n\n", 1)[-1]  # without the usage paragraph
    return f"\n\noptions of {name} (after the name):\n" + body.split("\n", 1)[-1]


def _writable_dir(text: str, option: str) -> Path:
    """Validate an output directory before any work: it exists as a directory or can be made."""
    if not text.strip():
        raise UsageError(f"{option}: empty path")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option}: {text} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option}: cannot create directory {text} ({exc.strerror or exc})") \
            from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: directory {text} is not writable")
    return path


def _clip(text: str, width: int) -> str:
    """``text`` shortened to about ``width`` at a word boundary; never mid-word (a first word
    longer than ``width`` is kept whole)."""
    text = str(text)
    if len(text) <= width:
        return text
    head = text[: width - 3]
    if " " not in head:
        return text
    return head.rsplit(" ", 1)[0] + " ..."


def _int_at_least(minimum: int):
    """An argparse type: a whole number ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


_nonneg_int, _positive_int = _int_at_least(0), _int_at_least(1)
#: Fewest Monte Carlo samples a check accepts (the standard error needs them).
MIN_SAMPLES = 1000
#: Most Monte Carlo samples per check point (25x the default): a check draws a point's samples
#: at once, in a few float64 arrays of samples x dimension (~1.6 GB each at this bound for the
#: widest checks); beyond it a MemoryError would only show as a failed check.
MAX_SAMPLES = 10_000_000


def _samples_int(text: str) -> int:
    value = _int_at_least(MIN_SAMPLES)(text)
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(
            f"must be <= {MAX_SAMPLES:,} (a check point's samples are drawn at once), got {value:,}")
    return value


def _progress(enabled: bool):
    if not enabled:
        return None

    def show(msg: str) -> None:
        print(f"  .. {msg}", file=sys.stderr, flush=True)

    return show


def _formula(name: str):
    import derivations

    try:
        return derivations.get(name)
    except KeyError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def cmd_list(args) -> int:
    import derivations

    known = derivations.families()
    for fam in args.families:
        if fam not in known:
            raise UsageError(f"unknown family {fam!r}; known: {', '.join(known)}")
    names = [n for fam in args.families for n in derivations.names(fam)] if args.families \
        else derivations.names()
    rows = [derivations.get(n) for n in names]
    if args.json:
        print(json.dumps([{"name": f.name, "source": f.source, "signature": f.signature(),
                           "args": [a.describe() for a in f.args],
                           "assumptions": f.assumptions} for f in rows], indent=2))
        return 0
    # three aligned columns; a long signature wraps after a comma inside its column
    name_w = max(len(f.name) for f in rows)
    sig_w = min(max(len(f.signature()) for f in rows), 44)
    for f in rows:
        sig = textwrap.wrap(f.signature(), sig_w, break_on_hyphens=False,
                            subsequent_indent="  ") or [""]
        print(f"{f.name:<{name_w}}  {sig[0]:<{sig_w}}  {f.source}")
        for more in sig[1:]:
            print(f"{'':<{name_w}}  {more}")
    return 0


def cmd_latex(args) -> int:
    from derivations import latex

    f = _formula(args.name)
    if args.paper and f.paper is None:
        raise UsageError(f"{f.name} has no transcribed paper statement")
    if sum(map(bool, (args.document, args.snippet))) > 1:
        raise UsageError("--document and --snippet exclude each other")
    if args.document:
        print(latex.formula_document(f), end="")
    elif args.snippet:
        print(latex.snippet(f), end="")
    elif args.paper:
        print(f.latex("paper_expr" if args.expanded else "paper"))
    else:
        print(f.latex("expr" if args.expanded else "display"))
    return 0


def cmd_code(args) -> int:
    from derivations import codegen

    print(codegen.standalone_source(_formula(args.name)), end="")
    return 0


def cmd_build(args) -> int:
    import derivations
    from derivations import codegen

    known = derivations.families()
    for fam in args.families:
        if fam == "twolayer":  # the two-layer engine's pair kernels (issue 20)
            continue
        if fam not in known:
            raise UsageError(f"unknown family {fam!r}; known: {', '.join(known)}")
    if checkout_root(running_copy()) is None:  # not a checkout: say where the files go
        print(f"nnderive: note: not inside a checkout; writing into the installed copy at "
              f"{running_copy()}", file=sys.stderr)
    import time

    show = _progress(not args.quiet)
    for fam in args.families or known + ["twolayer"]:  # one family at a time: progress as it goes
        if show:
            show(f"build {fam}")
        t0 = time.perf_counter()
        if fam == "twolayer":  # the two-layer engine's pair kernels (issue 20)
            from derivations.codegen.templates import twolayer as emit

            paths = list(emit.build(write=True))
        else:
            paths = list(codegen.build(write=True, families=[fam]))
            from derivations.codegen import jax as codegen_jax  # the JAX printer reads the module just written

            paths += list(codegen_jax.build(write=True, families=[fam]))
        for path in paths:
            shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
            print(f"wrote {shown}" + (f" ({time.perf_counter() - t0:.1f} s)" if show else ""),
                  flush=True)
    return 0


def _freshness_rows(families):
    """One row per family: the committed emitted module equals a fresh in-memory build."""
    from derivations import codegen

    from .harness import CheckResult

    from derivations.codegen import jax as codegen_jax

    rows = []
    built = codegen.build(write=False, families=families)
    built.update(codegen_jax.build(write=False, families=families))  # (from the committed NumPy modules)
    for path, src in built.items():
        ok = path.exists() and path.read_text() == src
        rows.append(CheckResult(
            f"{path.stem}.*", "emission", "generated code up to date", "fresh" if ok else "stale",
            "rebuild", 0.0 if ok else 1.0, "diff", ok,
            detail="" if ok else "run `nnderive build` and commit derivations/generated"))
    return rows


def _print_rows(rows) -> None:
    head = ("formula", "kind", "check", "value", "reference", "stat", "resolves", "result")
    table = []
    for r in rows:
        from .harness import shown_stat, shown_value

        value, ref = shown_value(r, r.value), shown_value(r, r.reference)
        stat = shown_stat(r, digits=2).replace(" = ", "=")
        res = getattr(r, "resolution", None)
        res = ("exact" if res == 0 else f"{res:.0e}") if isinstance(res, (int, float)) else "-"
        result = "ERRATUM" if r.erratum else ("pass" if r.passed else "FAIL")
        if r.erratum and getattr(r, "erratum_class", None):
            result += f" ({r.erratum_class})"
        table.append((r.formula, r.kind, _clip(r.label, 48), _clip(value, 16), _clip(ref, 16),
                      stat, res, result))
    widths = [max(len(str(row[i])) for row in table + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*head).rstrip())
    for row in table:
        print(fmt.format(*row).rstrip())


def _print_mutant_table(table: dict) -> None:
    """Per family: planted / caught by an independent row (equivalent and second-order mutants
    apart), and per kind."""
    head = ("family", "planted", "caught", "equivalent", "2nd order", "missed", "per kind (caught/planted)")
    rows = []
    for fam in sorted(table):
        t = table[fam]
        kinds = ", ".join(f"{k} {v['caught']}/{v['planted']}" for k, v in sorted(t["kinds"].items()))
        rows.append((fam, t["planted"], t["caught"], t["equivalent"], t["second_order"],
                     t["missed"], kinds))
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(fmt.format(*head).rstrip())
    for r in rows:
        print(fmt.format(*r).rstrip())


def cmd_check(args) -> int:
    import derivations

    from . import harness

    if getattr(args, "backend", None):
        if args.backend == "numba":
            import importlib.util

            if importlib.util.find_spec("numba") is None:
                raise UsageError("--backend numba: numba is not installed (pip install 'nnderive[compiled]')")
        if args.backend == "jax":
            import importlib.util

            if importlib.util.find_spec("jax") is None:
                raise UsageError("--backend jax: jax is not installed (pip install 'nnderive[jax]')")
        derivations.set_backend(args.backend)

    names = []
    # the two-layer engine (issue 20) is a family of models, not registered formulas: its rows
    # come from numerics.checks.twolayer (selected by "twolayer" and run by default)
    twolayer = not args.names or "twolayer" in args.names
    for n in args.names or derivations.names():
        if n == "twolayer":
            continue
        if n in derivations.families():  # a family name selects all of its formulas
            names.extend(derivations.names(n))
        else:
            names.append(_formula(n).name)
    ctx = harness.Context(samples=args.samples, seed=args.seed, quick=args.quick)
    progress = _progress(not args.quiet)
    if args.mutants:
        mutants = harness.run_mutants(names, ctx, progress)
        if twolayer:  # the engine's kernel derivation (issue 20): its own planted errors
            from . import mutants_twolayer

            mutants += mutants_twolayer.run(ctx, progress)
        caught = sum(bool(m.caught) for m in mutants)
        table = harness.mutant_table(mutants)
        if args.json:
            print(json.dumps({"mutants": len(mutants), "caught": caught, "by_family": table,
                              "details": [
                {"formula": m.formula, "mutant": m.label, "kind": m.kind, "caught": m.caught,
                 "equivalent": m.equivalent, "caught_by": m.caught_by} for m in mutants]},
                indent=2))
        else:
            for m in mutants:
                status = "caught" if m.caught else "MISSED"
                by = ", ".join(m.caught_by[:2])
                print(f"{m.formula:<32} {_clip(m.label, 48):<48} {status:<7} {by}")
            _print_mutant_table(table)
            print(f"\nmutants caught: {caught}/{len(mutants)}")
        return 0 if caught == len(mutants) else 1
    families = sorted({n.split(".")[0] for n in names})
    rows = (_freshness_rows(families) if families else []) + harness.run(names, ctx, progress)
    if twolayer:
        from .checks import twolayer as twolayer_checks

        if not args.quick:  # re-derives every kernel (about a minute)
            from derivations.codegen.templates import twolayer as emit

            fresh = all(path.exists() and path.read_text() == src
                        for path, src in emit.build(write=False).items())
            rows.append(harness.CheckResult(
                "twolayer_kernels.*", "emission", "generated code up to date",
                "fresh" if fresh else "stale", "rebuild", 0.0 if fresh else 1.0, "diff", fresh,
                detail="" if fresh else "run `nnderive build twolayer` and commit "
                "derivations/generated"))
        rows += twolayer_checks.run(ctx, progress=progress, quick=args.quick)
    failed = [r for r in rows if not r.passed]
    errata = [r for r in rows if r.erratum]
    if args.json:
        print(json.dumps({"passed": not failed, "rows": [r.as_dict() for r in rows]}, indent=2))
    else:
        _print_rows(rows)
        print(f"\n{len(rows)} checks on {len(names)} formulas{' and the two-layer engine' if twolayer else ''}: {len(rows) - len(failed)} passed, "
              f"{len(failed)} failed; {len(errata)} errata in the printed statements")
    return 1 if failed else 0


def cmd_docs(args) -> int:
    out = _writable_dir(args.out, "--out")  # before the (long) check run
    from . import docs, harness

    ctx = harness.Context(samples=args.samples, seed=args.seed)
    paths = docs.write(out, ctx, _progress(not args.quiet))
    for p in paths:
        print(f"wrote {p}")
    if args.pdf:
        try:
            pdf, report = docs.build_pdf(out / "catalogue.tex")
        except (FileNotFoundError, RuntimeError) as e:
            raise UsageError(f"--pdf: {e}") from None
        print(f"wrote {pdf} ({report})")
    return 0


def cmd_bench(args) -> int:
    from . import bench

    known = bench.families()
    for fam in args.families:
        if fam not in known:
            raise UsageError(f"unknown benchmark family {fam!r}; known: {', '.join(known)}")
    if args.plot is not None:  # validate before the (long) benchmark run
        _plot_target(args.plot)
        plotted = [f for f in args.families or known if f in bench.SCALING_FAMILIES]
        if not plotted:
            raise UsageError(
                f"--plot: the benchmarks of {', '.join(args.families)} have no time-vs-N curves to "
                f"plot (those of: {', '.join(bench.SCALING_FAMILIES)})")
    try:
        rows = bench.run(quick=args.quick, progress=_progress(not args.quiet),
                         only=args.families or None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.plot:
        if not bench.plot(rows, args.plot):
            print("nnderive: no plot written (no row carried a time-vs-N curve)", file=sys.stderr)
        elif not args.quiet:
            print(f"nnderive: wrote {args.plot}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        width = max(len(r.name) for r in rows)
        for r in rows:
            print(f"{r.name:<{width}}  {r.value:>12.4g} {r.unit:<4} target {r.target:<10} "
                  f"{'ok' if r.ok else 'MISSED'}  {r.detail}")
    return 0 if all(r.ok for r in rows) else 1


def cmd_twolayer(args) -> int:
    """A two-layer model given by flags: summary, LaTeX, emitted code or a check report."""
    from derivations.twolayer import convolutional, fully_connected

    params = () if args.alpha is None else (args.alpha,)
    if args.alpha is not None and args.activation != "leaky_relu":
        raise UsageError("--alpha applies to --activation leaky_relu only")
    try:
        if args.fc:
            d, k, m = args.fc
            net = fully_connected(d, k, m, args.activation, bool(args.train_output), params)
        else:
            d, ps, st = args.conv
            train = True if args.train_output is None else args.train_output
            net = convolutional(d, ps, st, args.activation, train, params)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    if args.check:
        from . import harness
        from .checks import twolayer as twolayer_checks

        rows = twolayer_checks.model_rows(net, harness.Context(samples=args.samples,
                                                               seed=args.seed))
        failed = [r for r in rows if not r.passed]
        if args.json:
            print(json.dumps({"model": repr(net), "passed": not failed,
                              "rows": [r.as_dict() for r in rows]}, indent=2))
        else:
            _print_rows(rows)
            print(f"\n{repr(net)}: {len(rows)} checks, {len(rows) - len(failed)} passed, "
                  f"{len(failed)} failed")
        return 1 if failed else 0
    if args.code:
        import inspect

        from derivations.generated import twolayer_kernels as gen

        print(f"# {repr(net)}: emitted pair kernels (derivations/generated/twolayer_kernels.py);"
              "\n# assembled by derivations/twolayer/model.py (NumPy), or compiled: the same "
              "kernels and the\n# assembly loops in derivations/generated/twolayer_kernels_numba.py "
              "(Numba backend)\n")
        for suffix in ("kappa", "grad", "hess", "self"):
            print(inspect.getsource(getattr(gen, f"{net.activation}_{suffix}")))
        return 0
    from derivations.twolayer import latex

    if args.document:
        print(latex.document(net), end="")
        return 0
    if args.latex:
        print(latex.kernel_latex(net.activation))
        print(latex.model_latex(net))
        return 0
    info = {"model": repr(net), "parameters": net.n_params,
            "order": "first-layer weights (ravel), then output weights" if net.train_output
            else "first-layer weights (ravel)",
            "kappa": latex.kernel_latex(net.activation)}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, val in info.items():
            print(f"{key:<10} {val}")
    return 0


def cmd_reproduce(args) -> int:
    from . import experiments

    try:
        module = experiments.get(args.name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    extra, options = getattr(args, "extra", []), {}
    hook = getattr(module, "add_arguments", None)  # an experiment's own options, if it has any
    if hook is not None:
        sub = _Parser(prog=f"nnderive reproduce {args.name}", formatter_class=_Formatter)
        hook(sub)
        options = vars(sub.parse_args(extra))
    elif extra:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
    out = _writable_dir(args.out, "--out")
    try:
        result = module.run(out, quick=args.quick, seed=args.seed,
                            progress=_progress(not args.quiet), **options)
    except ValueError as exc:
        if hook is None:
            raise
        raise UsageError(f"{args.name}: {exc}") from None
    print(module.report(result))
    return 0


# --------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nnderive", formatter_class=_Formatter,
                description="Derive, emit and prove closed forms of the optimization theory of "
                "neural networks.",
                epilog="Inside a checkout every command uses the working tree "
                "(NNDERIVE_USE_INSTALLED=1: the installed copy). Exit status: 0 success, "
                "1 a check failed, 2 usage error.")
    p.add_argument("--version", action="version", version=_version(),
                   help="print the version and the copy that runs, then exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name, help, **kw):
        return sub.add_parser(name, help=help, description=help, formatter_class=_Formatter, **kw)

    def listing_help(s, listing):
        s.add_argument("-h", "--help", action=_ListingHelp, listing=listing,
                       help="show this help and the list of families, then exit")

    s = command("list", "list the registered formulas (name, call signature, source)",
                add_help=False)
    listing_help(s, _family_listing)
    s.add_argument("families", nargs="*", metavar="FAMILY",
                   help="only the formulas of these families (default: all)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_list)

    s = command("latex", "LaTeX of a formula")
    s.add_argument("name", help="formula name, e.g. cnn.population_loss (see `nnderive list`)")
    s.add_argument("--document", action="store_true",
                   help="a complete pdflatex-compilable .tex document (derived and printed "
                   "forms, their difference, a 'where' list of the symbols)")
    s.add_argument("--paper", action="store_true",
                   help="the paper's printed statement instead of the derived form")
    s.add_argument("--expanded", action="store_true",
                   help="the raw derived SymPy expression instead of the display form (the "
                   "paper's notation, proved equal to it by SymPy)")
    s.add_argument("--snippet", action="store_true",
                   help="a fragment for pasting into a paper: the equation, its definitions "
                   "and the packages it needs")
    s.set_defaults(func=cmd_latex)

    s = command("code", "stand-alone NumPy source of the emitted function")
    s.add_argument("name", help="formula name, e.g. cnn.grad_v")
    s.set_defaults(func=cmd_code)

    s = command("check", "prove formulas against independent numerics (exit 1 on failure)",
                add_help=False)
    listing_help(s, _family_listing)
    s.add_argument("names", nargs="*", metavar="NAME",
                   help="formulas or families (default: all; families listed below)")
    s.add_argument("--samples", type=_samples_int, default=400_000,
                   help=f"Monte Carlo samples per check point ({MIN_SAMPLES} to {MAX_SAMPLES:,}; "
                   "default %(default)s)")
    s.add_argument("--seed", type=_nonneg_int, default=0, help="random seed, >= 0")
    s.add_argument("--quick", action="store_true", help="smaller problem sizes where supported")
    s.add_argument("--mutants", action="store_true",
                   help="perturb each formula and report how many mutants the checks catch")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.add_argument("--backend", choices=("auto", "numpy", "numba", "jax"), default=None,
                   help="run the emitted functions on this backend (default: NNDERIVE_BACKEND, "
                   "else auto; see docs/guide.md, Backends)")
    s.set_defaults(func=cmd_check)

    s = command("build", "write emitted NumPy code to derivations/generated", add_help=False)
    listing_help(s, _family_listing)
    s.add_argument("families", nargs="*", metavar="FAMILY",
                   help="families to rebuild (default: all, listed below)")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_build)

    s = command("docs", "write the formula catalogue (catalogue.md, catalogue.tex) with check "
                "results")
    s.add_argument("--out", default="docs", help="output directory")
    s.add_argument("--pdf", action="store_true",
                   help="also build catalogue.pdf (latexmk if installed, else pdflatex rerun "
                   "until the table of contents settles); fails on overfull boxes")
    s.add_argument("--samples", type=_samples_int, default=400_000,
                   help=f"Monte Carlo samples per check point ({MIN_SAMPLES} to {MAX_SAMPLES:,}; "
                   "default %(default)s)")
    s.add_argument("--seed", type=_nonneg_int, default=0, help="random seed, >= 0")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_docs)

    s = command("bench", "benchmarks (speed ratios measured side by side)", add_help=False)
    s.add_argument("-h", "--help", action=_ListingHelp, listing=_bench_listing,
                   help="show this help and the list of benchmark families, then exit")
    s.add_argument("families", nargs="*", metavar="FAMILY",
                   help="benchmark families to run (default: all, listed below)")
    s.add_argument("--quick", action="store_true", help="small sizes (CI)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--plot", metavar="PNG", default=None,
                   help="also write an image (.png, .pdf, .svg, ...) of time per point vs N, for the "
                   "families with scaling curves (needs matplotlib; path checked first; default: none)")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_bench)

    s = command("twolayer", "a two-layer network under Gaussian input (default: a summary)")
    model = s.add_mutually_exclusive_group(required=True)
    model.add_argument("--fc", nargs=3, type=_int_at_least(1), metavar=("D", "K", "M"),
                       help="fully connected: input dimension, student and teacher widths")
    model.add_argument("--conv", nargs=3, type=_int_at_least(1),
                       metavar=("D", "PATCH", "STRIDE"),
                       help="one shared filter on patches [s i, s i + PATCH)")
    s.add_argument("--activation", default="relu", metavar="NAME",
                   help="relu, leaky_relu, abs, identity, quadratic, step, erf (default relu)")
    s.add_argument("--alpha", type=float, default=None, help="leaky ReLU slope (default 0.01)")
    out = s.add_mutually_exclusive_group()
    out.add_argument("--train-output", dest="train_output", action="store_true", default=None,
                     help="train the output weights (default: fixed for --fc, trained for "
                     "--conv)")
    out.add_argument("--fixed-output", dest="train_output", action="store_false", default=None,
                     help="fixed output weights")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--latex", action="store_true", help="LaTeX of the kernel and the loss")
    mode.add_argument("--document", action="store_true", help="a pdflatex-compilable document")
    mode.add_argument("--code", action="store_true", help="the emitted NumPy kernel functions")
    mode.add_argument("--check", action="store_true",
                      help="prove the model at a random point (exit 1 on failure)")
    s.add_argument("--samples", type=_samples_int, default=400_000,
                   help=f"Monte Carlo samples for --check (minimum {MIN_SAMPLES}; "
                   "default %(default)s)")
    s.add_argument("--seed", type=_nonneg_int, default=0, help="random seed, >= 0")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_twolayer)

    s = command("reproduce", "reproduce a figure or table of the papers (writes NAME.json and, "
                "with matplotlib, NAME.png)", add_help=False)
    s.add_argument("-h", "--help", action=_ExperimentsHelp,
                   help="show this help and the list of experiments, then exit")
    s.add_argument("name", help="experiment name (listed by --help)")
    s.add_argument("--quick", action="store_true", help="small sizes (CI, a few seconds)")
    s.add_argument("--out", default="results", help="output directory")
    s.add_argument("--seed", type=_nonneg_int, default=0, help="random seed, >= 0")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_reproduce)
    return p


# --------------------------------------------------------------------------------------------
# Installed copy vs working tree
# --------------------------------------------------------------------------------------------


def checkout_root(start: Path | None = None) -> Path | None:
    """The nnderive checkout containing ``start`` (default: the current directory), or None."""
    here = Path.cwd() if start is None else Path(start)
    for d in (here, *here.parents):
        project = d / "pyproject.toml"
        if (project.is_file() and (d / "derivations" / "registry.py").is_file()
                and (d / "numerics" / "cli.py").is_file()):
            try:
                text = project.read_text(errors="replace")
            except OSError:
                continue
            if 'name = "nnderive"' in text:
                return d.resolve()
    return None


def running_copy() -> Path:
    """The directory holding the ``numerics`` package that is running."""
    return Path(__file__).resolve().parent.parent


def _switch_to_checkout(argv):
    """Re-run ``main`` from the working tree when it is not the copy that is running.

    Returns the exit status, or None when the running copy is the one to use."""
    if os.environ.get("NNDERIVE_USE_INSTALLED") == "1":
        return None
    root = checkout_root()
    if root is None or root == running_copy():
        return None
    print(f"nnderive: using the working tree {root} (not the installed copy in "
          f"{running_copy()}; NNDERIVE_USE_INSTALLED=1 to use that)", file=sys.stderr)
    for mod in [m for m in sys.modules if m.split(".")[0] in ("numerics", "derivations")]:
        del sys.modules[mod]
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    cli = importlib.import_module("numerics.cli")
    return cli.main(argv, _switched=True)


def main(argv: list[str] | None = None, _switched: bool = False) -> int:
    if not _switched:
        status = _switch_to_checkout(argv)
        if status is not None:
            return status
    try:
        args, extra = parser().parse_known_args(argv)
        if extra and args.func is not cmd_reproduce:  # only experiments have options of their own
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        args.extra = extra
        return args.func(args)
    except UsageError as exc:
        print(f"nnderive: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `nnderive list | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:  # e.g. an output file that cannot be written: one line, no traceback
        print(f"nnderive: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("nnderive: error: out of memory (fewer --samples, or fewer formulas at once)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnderive: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
