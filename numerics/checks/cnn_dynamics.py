"""Checks of the cnn_dynamics family (placeholder): registers its checks at import time."""
