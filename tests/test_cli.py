"""The command line: output, exit codes, one-line errors, LaTeX that pdflatex compiles."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

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
