import os
import shutil

import pytest


def pdflatex_or_skip():
    """pdflatex, or skip; with NNDERIVE_REQUIRE_PDFLATEX=1 (CI) a missing pdflatex fails."""
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("NNDERIVE_REQUIRE_PDFLATEX") == "1":
            pytest.fail("pdflatex is required (NNDERIVE_REQUIRE_PDFLATEX=1) but not installed")
        pytest.skip("pdflatex not installed")
    return exe
