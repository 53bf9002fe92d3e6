"""Display forms (see derivations.display)."""
from __future__ import annotations
