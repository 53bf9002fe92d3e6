"""The command line: output, exit codes, one-line errors, LaTeX that pdflatex compiles."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from numerics import cli, experiments
from numerics.cli import main

from .conftest import pdflatex_or_skip


def run(*args):
    return subprocess.run([sys.executable, "-m", "numerics.cli", *args], capture_output=True,
                          text=True)


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cnn.population_loss" in out and "Theorem 5.1" in out
    assert main(["list", "--json"]) == 0
    assert any(d["name"] == "cnn.grad_v" for d in json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("argv,fragment", [
    (["latex", "cnn.populaton_loss"], "did you mean cnn.population_loss"),
    (["check", "--samples", "-5"], "--samples"),
    (["check", "--samples", "many"], "--samples"),
    (["check", "--bogus"], "--bogus"),
    (["check", "no.such"], "unknown formula"),
    (["reproduce", "fig9_9"], "unknown experiment"),
    ([], "required"),
])
def test_usage_errors_one_line_exit_2(argv, fragment):
    res = run(*argv)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in res.stderr


def test_bench_json_is_json_alone():
    """``bench --json`` prints JSON only: notices (an optional extra not installed) go to stderr."""
    res = run("bench", "--quick", "--json", "--quiet", "gaussian")
    assert res.returncode in (0, 1), res.stderr  # 1: a row missed its target (timings vary)
    rows = json.loads(res.stdout)
    assert {"name", "value", "target", "ok"} <= set(rows[0])
    assert any(r["name"].startswith("gaussian.relu_cross_moment") for r in rows)


def test_check_subset_table_and_json(capsys):
    assert main(["check", "--quiet", "--samples", "50000", "gaussian.g", "cnn.grad_a"]) == 0
    out = capsys.readouterr().out
    assert "monte_carlo" in out and "finite_difference" in out and "0 failed" in out
    assert main(["check", "--quiet", "--json", "--samples", "50000", "cnn.grad_v"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] and any(r["erratum"] for r in data["rows"])


def test_check_mutants(capsys):
    assert main(["check", "--quiet", "--mutants", "--samples", "50000", "gaussian.g"]) == 0
    assert "mutants caught:" in capsys.readouterr().out


def test_code_is_python(capsys):
    assert main(["code", "cnn.grad_v"]) == 0
    compile(capsys.readouterr().out, "grad_v.py", "exec")


def test_latex_equation(capsys):
    assert main(["latex", "cnn.population_loss"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(r"\ell(\mathbf{v},\mathbf{a}) =") and r"\phi" in out


def test_latex_document_compiles(tmp_path, capsys):
    exe = pdflatex_or_skip()
    assert main(["latex", "cnn.grad_v", "--document"]) == 0
    tex = tmp_path / "grad_v.tex"
    tex.write_text(capsys.readouterr().out)
    res = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", tex.name],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-2000:]
    assert (tmp_path / "grad_v.pdf").stat().st_size > 1000


def test_docs_catalogue_compiles(tmp_path):
    exe = pdflatex_or_skip()
    assert main(["docs", "--quiet", "--out", str(tmp_path), "--samples", "20000"]) == 0
    md = (tmp_path / "catalogue.md").read_text()
    assert "cnn.grad_v" in md and "Errata" in md and "-1 x derived" in md
    res = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "catalogue.tex"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:]
    log = (tmp_path / "catalogue.log").read_text(errors="replace")
    assert "Overfull" not in log, re.findall(r"Overfull[^\n]*", log)


# --------------------------------------------------------------------------------------------
# Help, tables
# --------------------------------------------------------------------------------------------


def test_reproduce_help_lists_the_experiments(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in experiments.names():
        assert re.search(rf"^  {name} ", out, re.M), name
    assert "(default: results)" in out


def _subparsers():
    p = cli.parser()
    action = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


@pytest.mark.parametrize("command", list(_subparsers()))
def test_every_option_has_help_and_its_default(command):
    sub = _subparsers()[command]
    text = sub.format_help()
    for action in sub._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"
        if action.option_strings and action.default not in (None, False):
            flag = action.option_strings[-1]
            block = text[text.index(flag):]
            assert "default" in block[:400], f"{command} {flag} does not state its default"


def test_list_columns_are_aligned(capsys):
    assert main(["list"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    # the source column starts at one offset on every formula's first line
    starts = {re.search(r"\)\s{2,}\S", row).end() - 1 for row in rows if re.search(r"\)\s{2,}\S", row)}
    assert len(starts) == 1, starts


@pytest.mark.parametrize("text,width", [
    ("finite differences of the simulated loss vs derived gradient", 30),
    ("a b c d e f g", 8), ("averylongsinglewordwithoutspaces", 10), ("short", 48)])
def test_clip_never_cuts_mid_word(text, width):
    out = cli._clip(text, width)
    if out != text:
        assert len(out) <= width and out.endswith(" ...")
        assert text.startswith(out[:-4] + " ")


# --------------------------------------------------------------------------------------------
# Installed copy vs working tree
# --------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def _copy_tree(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("derivations", "numerics"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=ignore)
    return dst


def test_commands_act_on_the_working_tree_not_the_installed_copy(tmp_path):
    """After a non-editable `pip install .`, `nnderive check` inside the checkout must check the
    checkout: a stale edit of a generated module there is reported (exit 1), and `build` writes
    into the checkout, not into site-packages."""
    site = _copy_tree(tmp_path / "site")           # the installed copy
    checkout = _copy_tree(tmp_path / "checkout")   # the user's working tree
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    runner = tmp_path / "bin" / "nnderive_entry.py"  # like the console script: cwd not on path
    runner.parent.mkdir()
    runner.write_text("import sys\nfrom numerics.cli import main\nsys.exit(main())\n")
    env = {k: v for k, v in os.environ.items() if k != "NNDERIVE_USE_INSTALLED"}
    env["PYTHONPATH"] = str(site)
    site_module = site / "derivations" / "generated" / "gaussian.py"
    generated = checkout / "derivations" / "generated" / "gaussian.py"

    def run(*argv, **extra):
        return subprocess.run([sys.executable, str(runner), *argv], cwd=checkout / "numerics",
                              capture_output=True, text=True, timeout=300, env={**env, **extra})

    # build acts on the copy in use: the installed one on request, else the checkout
    generated.write_text(generated.read_text() + "\n# checkout marker\n")
    res = run("build", "gaussian", NNDERIVE_USE_INSTALLED="1")
    assert res.returncode == 0, res.stderr
    assert "using the working tree" not in res.stderr
    assert generated.read_text().endswith("# checkout marker\n")
    installed = site_module.read_text()
    res = run("build", "gaussian")
    assert res.returncode == 0, res.stderr
    assert "using the working tree" in res.stderr and str(checkout) in res.stderr
    assert not generated.read_text().endswith("# checkout marker\n")
    assert site_module.read_text() == installed
    # a stale hand edit of the checkout's generated code is caught although the installed
    # copy is fresh
    generated.write_text(generated.read_text() + "\n# a stale hand edit\n")
    res = run("check", "--quiet", "--samples", "2000", "gaussian.g")
    assert res.returncode == 1 and "stale" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    res = run("check", "--quiet", "--samples", "2000", "gaussian.g", NNDERIVE_USE_INSTALLED="1")
    assert "using the working tree" not in res.stderr
    assert "stale" not in res.stdout, res.stdout[-2000:]


def test_checkout_root_detection(tmp_path):
    assert cli.checkout_root(ROOT / "tests") == ROOT
    assert cli.checkout_root(tmp_path) is None
