"""Checks of the circulant family (placeholder): registers its checks at import time."""
