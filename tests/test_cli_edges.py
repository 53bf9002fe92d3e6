"""CLI rough edges of issue 23 (item 6): --version, list FAMILY, the families in --help, build
progress as it goes, and (Python side) a float32 pi shown when an angle is refused."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import derivations
from numerics import bench, cli
from numerics.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"], _switched=True)
    assert exc.value.code == 0
    out = capsys.readouterr().out.strip()
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert out.startswith(f"nnderive {version} ("), out


def test_list_family(capsys):
    assert main(["list", "wn", "gaussian"], _switched=True) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line[:1].strip()]
    assert names == derivations.names("wn") + derivations.names("gaussian")
    assert main(["list", "--json", "saddle"], _switched=True) == 0
    import json

    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == derivations.names("saddle")


@pytest.mark.parametrize("command,known", [("check", derivations.families),
                                           ("build", derivations.families),
                                           ("list", derivations.families),
                                           ("bench", bench.families)])
def test_help_lists_the_families(command, known, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"], _switched=True)
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    listed = re.search(r"families: (.*)$", out).group(1)
    assert [f.strip() for f in listed.split(",")] == list(known())


def test_scaling_families_are_those_with_curves():
    """``bench --plot`` refuses families without time-vs-N curves up front: the list it uses
    must be the bench modules that emit ``data["curve"]``."""
    with_curves = [f for f in bench.families()
                   if '"curve"' in (ROOT / "numerics" / "bench" / f"{f}.py").read_text()]
    assert list(bench.SCALING_FAMILIES) == with_curves


def test_build_reports_progress_as_it_goes(tmp_path):
    """``build`` prints a progress line on stderr before each family and a "wrote" line after
    it (flushed), so a slow family shows where it is."""
    fams = ["gaussian", "balance"]
    proc = subprocess.Popen([sys.executable, "-m", "numerics.cli", "build", *fams], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [line.rstrip() for line in proc.stdout]
    assert proc.wait() == 0, lines
    lines = [ln for ln in lines if not ln.startswith("nnderive: using")]
    # per family: the progress line, then its NumPy module and any backend's modules
    starts = [i for i, ln in enumerate(lines) if ln.startswith("  .. build ")]
    assert [lines[i] for i in starts] == [f"  .. build {f}" for f in fams], lines
    for f, a, b in zip(fams, starts, starts[1:] + [len(lines)]):
        wrote = lines[a + 1:b]
        assert wrote and re.match(rf"^wrote derivations/generated/{f}\.py \(\d+\.\d s\)$", wrote[0]), lines
        for line in wrote[1:]:
            assert re.match(rf"^wrote derivations/generated/{f}_(numba|jax)\.py \(\d+\.\d s\)$", line), lines


def test_build_quiet(capsys, monkeypatch):
    from derivations import codegen

    monkeypatch.setattr(codegen, "build", lambda write=True, families=None: {
        ROOT / "derivations" / "generated" / f"{f}.py": "" for f in families})
    assert main(["build", "--quiet", "wn"], _switched=True) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert captured.err == "" and lines[0].endswith("wn.py")  # then the JAX module, from it
    assert all(ln.startswith("wrote ") and "(" not in ln for ln in lines), lines


def test_float32_pi_is_refused_with_its_value():
    from derivations.generated import gaussian

    with pytest.raises(ValueError, match=r"^phi must lie in \[0, pi\], got 3\.1415927410125732 "
                                         r"\(8\.74e-08 above 3\.141592653589793\): float32\(pi\)"):
        gaussian.g(np.float32(np.pi))
    with pytest.raises(ValueError, match=r"^phi must lie in \[0, pi\], got 3\.2 \(0\.0584 above"):
        gaussian.g(np.array([0.5, 3.2]))
    with pytest.raises(ValueError, match=r"^phi must lie in \[0, pi\], got -0\.5 \(0\.5 below 0\)"):
        gaussian.g(np.array([-0.5, 3.0]))
    assert gaussian.g(np.float32(3.0)) == gaussian.g(float(np.float32(3.0)))
