"""Bad input from the user, shared by the command line (:mod:`numerics.cli`) and the bench's own
entry point (:mod:`numerics.bench`): the error that the CLI reports on one line with exit
status 2, and the check of ``bench --plot``'s path made before any work.  Imports neither, so
the two do not import each other."""
from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """Bad input from the user: reported on one line, exit status 2."""


def plot_target(text: str) -> Path:
    """Validate ``bench --plot``'s path before any work: a file name with an image format
    matplotlib writes, in an existing writable directory, not itself read-only; matplotlib
    importable."""
    if not text.strip():
        raise UsageError("--plot: empty path")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'nnderive[plots]'") from None
    target = Path(text).expanduser()
    formats = FigureCanvasBase.get_supported_filetypes()
    ext = target.suffix.lower().lstrip(".")
    if ext not in formats:
        raise UsageError(f"--plot {text}: the file name must end in an image format matplotlib "
                         f"writes ({', '.join('.' + f for f in sorted(formats))}), got "
                         f"{'.' + ext if ext else 'no extension'}")
    if target.is_dir():
        raise UsageError(f"--plot {text}: is a directory")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--plot {text}: directory {parent} does not exist")
    existed = target.exists()
    try:  # the only sure test (root passes os.access, /proc refuses): open it for appending
        with open(target, "ab"):
            pass
    except OSError as exc:
        raise UsageError(f"--plot {text}: cannot write ({exc.strerror or exc})") from None
    if not existed:
        target.unlink()
    return target
