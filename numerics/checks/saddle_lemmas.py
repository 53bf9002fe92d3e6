"""Checks of thesis ch. 7's corollaries and lemmas 7.1, 7.3 (seed 004; issue 24)."""
