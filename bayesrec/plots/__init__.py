"""Matplotlib figures used by the experiments (one module per model family)."""
