"""Checks of the resnet family (placeholder): registers its checks at import time."""
