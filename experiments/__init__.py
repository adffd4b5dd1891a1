"""Runnable experiments and benchmarks; ``python -m experiments`` runs the suite.

See :mod:`experiments.framework` for how to add an experiment.
"""
