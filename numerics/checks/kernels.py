"""Checks of the kernels family (placeholder): registers its checks at import time."""
