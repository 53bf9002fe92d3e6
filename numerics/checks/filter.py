"""Checks of the filter family (placeholder): registers its checks at import time."""
