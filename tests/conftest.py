import os
import shutil

import pytest


def pdflatex_or_skip():
    """pdflatex, or skip; with NNDERIVE_REQUIRE_PDFLATEX=1 (CI) a missing pdflatex fails."""
    exe = shutil.which("pdflatex")
    missing = [t for t, found in (("pdflatex", exe), ("pdftotext", shutil.which("pdftotext")))
               if found is None]  # pdftotext (poppler-utils) reads the built pages back
    if missing:
        if os.environ.get("NNDERIVE_REQUIRE_PDFLATEX") == "1":
            pytest.fail(f"{' and '.join(missing)} required (NNDERIVE_REQUIRE_PDFLATEX=1) but not installed")
        pytest.skip(f"{' and '.join(missing)} not installed")
    return exe
