"""The ``nnderive`` command line.

    nnderive list                         formulas with source and signature
    nnderive latex NAME [--document]      amsmath LaTeX (or a complete .tex file)
    nnderive code NAME                    stand-alone NumPy source of the emitted function
    nnderive check [NAME ...]             derive, emit, and prove formulas against independent
                   [--samples N] [--seed S] [--mutants] [--json]      numerics; exit 1 on failure
    nnderive build [FAMILY ...]           write the emitted code into derivations/generated
    nnderive docs [--out DIR]             write the catalogue (Markdown + LaTeX) with check results
    nnderive bench [FAMILY ...] [--quick] speed ratios, measured side by side
    nnderive reproduce NAME [--quick]     reproduce a figure or table of the papers

Exit status: 0 success, 1 a check failed, 2 usage error (one line on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class UsageError(Exception):
    """Bad input from the user: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message by default)
        raise UsageError(message)


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

    rows = [derivations.get(n) for n in derivations.names()]
    if args.json:
        print(json.dumps([{"name": f.name, "source": f.source, "signature": f.signature(),
                           "args": [a.describe() for a in f.args],
                           "assumptions": f.assumptions} for f in rows], indent=2))
        return 0
    width = max(len(f.name) for f in rows)
    for f in rows:
        print(f"{f.name:<{width}}  {f.signature():<38}  {f.source}")
    return 0


def cmd_latex(args) -> int:
    from derivations import latex

    f = _formula(args.name)
    if args.paper and f.paper is None:
        raise UsageError(f"{f.name} has no transcribed paper statement")
    if args.document:
        print(latex.formula_document(f), end="")
    else:
        print(f.latex("paper" if args.paper else "expr"))
    return 0


def cmd_code(args) -> int:
    print(_formula(args.name).code(), end="")
    return 0


def cmd_build(args) -> int:
    import derivations
    from derivations import codegen

    known = derivations.families()
    for fam in args.families:
        if fam not in known:
            raise UsageError(f"unknown family {fam!r}; known: {', '.join(known)}")
    for path in codegen.build(write=True, families=args.families or None):
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


def _freshness_rows(families):
    """One row per family: the committed emitted module equals a fresh in-memory build."""
    from derivations import codegen

    from .harness import CheckResult

    rows = []
    for path, src in codegen.build(write=False, families=families).items():
        ok = path.exists() and path.read_text() == src
        rows.append(CheckResult(
            f"{path.stem}.*", "emission", "generated code up to date", "fresh" if ok else "stale",
            "rebuild", 0.0 if ok else 1.0, "diff", ok,
            detail="" if ok else "run `nnderive build` and commit derivations/generated"))
    return rows


def _print_rows(rows) -> None:
    head = ("formula", "kind", "check", "value", "reference", "stat", "result")
    table = []
    for r in rows:
        value = f"{r.value:.6g}" if isinstance(r.value, float) else str(r.value)
        ref = f"{r.reference:.6g}" if isinstance(r.reference, float) else str(r.reference)
        stat = f"{r.stat_name}={r.stat:.2g}" if r.stat_name not in ("proof", "diff") else r.stat_name
        result = "ERRATUM" if r.erratum else ("pass" if r.passed else "FAIL")
        table.append((r.formula, r.kind, r.label[:34], value[:14], ref[:14], stat, result))
    widths = [max(len(str(row[i])) for row in table + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*head))
    for row in table:
        print(fmt.format(*row))


def cmd_check(args) -> int:
    import derivations

    from . import harness

    names = []
    for n in args.names or derivations.names():
        if n in derivations.families():  # a family name selects all of its formulas
            names.extend(derivations.names(n))
        else:
            names.append(_formula(n).name)
    ctx = harness.Context(samples=args.samples, seed=args.seed, quick=args.quick)
    progress = _progress(not args.quiet)
    if args.mutants:
        mutants = harness.run_mutants(names, ctx, progress)
        caught = sum(bool(m.caught) for m in mutants)
        if args.json:
            print(json.dumps({"mutants": len(mutants), "caught": caught, "details": [
                {"formula": m.formula, "mutant": m.label, "caught": m.caught,
                 "caught_by": m.caught_by} for m in mutants]}, indent=2))
        else:
            for m in mutants:
                status = "caught" if m.caught else "MISSED"
                by = ", ".join(m.caught_by[:2])
                print(f"{m.formula:<32} {m.label[:48]:<48} {status:<7} {by}")
            print(f"\nmutants caught: {caught}/{len(mutants)}")
        return 0 if caught == len(mutants) else 1
    families = sorted({n.split(".")[0] for n in names})
    rows = _freshness_rows(families) + harness.run(names, ctx, progress)
    failed = [r for r in rows if not r.passed]
    errata = [r for r in rows if r.erratum]
    if args.json:
        print(json.dumps({"passed": not failed, "rows": [r.as_dict() for r in rows]}, indent=2))
    else:
        _print_rows(rows)
        print(f"\n{len(rows)} checks on {len(names)} formulas: {len(rows) - len(failed)} passed, "
              f"{len(failed)} failed; {len(errata)} errata in the printed statements")
    return 1 if failed else 0


def cmd_docs(args) -> int:
    from . import docs, harness

    ctx = harness.Context(samples=args.samples, seed=args.seed)
    paths = docs.write(Path(args.out), ctx, _progress(not args.quiet))
    for p in paths:
        print(f"wrote {p}")
    return 0


def cmd_bench(args) -> int:
    from . import bench

    try:
        rows = bench.run(quick=args.quick, progress=_progress(not args.quiet),
                         only=args.families or None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        width = max(len(r.name) for r in rows)
        for r in rows:
            print(f"{r.name:<{width}}  {r.value:>12.4g} {r.unit:<4} target {r.target:<10} "
                  f"{'ok' if r.ok else 'MISSED'}  {r.detail}")
    return 0 if all(r.ok for r in rows) else 1


def cmd_reproduce(args) -> int:
    from . import experiments

    try:
        module = experiments.get(args.name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = module.run(out, quick=args.quick, seed=args.seed, progress=_progress(not args.quiet))
    print(module.report(result))
    return 0


# --------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nnderive", description="Derive, emit and prove closed forms of the "
                "optimization theory of neural networks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("list", help="list the registered formulas")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("latex", help="LaTeX of a formula")
    s.add_argument("name")
    s.add_argument("--document", action="store_true", help="a complete .tex document")
    s.add_argument("--paper", action="store_true", help="the printed statement instead")
    s.set_defaults(func=cmd_latex)

    s = sub.add_parser("code", help="stand-alone NumPy source of the emitted function")
    s.add_argument("name")
    s.set_defaults(func=cmd_code)

    s = sub.add_parser("check", help="prove formulas against independent numerics")
    s.add_argument("names", nargs="*", metavar="NAME", help="formulas or families (default: all)")
    s.add_argument("--samples", type=_positive_int, default=400_000,
                   help="Monte Carlo samples per check point (default 400000)")
    s.add_argument("--seed", type=_nonneg_int, default=0)
    s.add_argument("--quick", action="store_true", help="smaller problem sizes where supported")
    s.add_argument("--mutants", action="store_true",
                   help="perturb each formula and report how many mutants the checks catch")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("build", help="write emitted NumPy code to derivations/generated")
    s.add_argument("families", nargs="*", metavar="FAMILY",
                   help="families to rebuild (default: all)")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("docs", help="write docs/catalogue.md and docs/catalogue.tex")
    s.add_argument("--out", default="docs")
    s.add_argument("--samples", type=_positive_int, default=400_000)
    s.add_argument("--seed", type=_nonneg_int, default=0)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_docs)

    s = sub.add_parser("bench", help="benchmarks (speed ratios)")
    s.add_argument("families", nargs="*", metavar="FAMILY",
                   help="benchmark families to run (default: all)")
    s.add_argument("--quick", action="store_true")
    s.add_argument("--json", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("reproduce", help="reproduce a figure or table")
    s.add_argument("name")
    s.add_argument("--quick", action="store_true", help="small sizes (CI)")
    s.add_argument("--out", default="results")
    s.add_argument("--seed", type=_nonneg_int, default=0)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_reproduce)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(f"nnderive: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnderive: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
