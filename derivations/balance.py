"""Family module (placeholder): registers its formulas at import time."""
