"""``python -m numerics.bench [FAMILY ...] [--quick] [--json FILE] [--plot FILE]``."""
import sys

from . import main

sys.exit(main())
