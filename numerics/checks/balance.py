"""Checks of the balance family (placeholder): registers its checks at import time."""
