"""Checks of the wn family (placeholder): registers its checks at import time."""
