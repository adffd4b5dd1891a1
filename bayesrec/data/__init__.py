"""Data layer: the :class:`Ratings` container, MovieLens loaders, splits and synthetic data."""

from .movielens import embedded_path, load_movielens, movielens_small, read_movies
from .ratings import Ratings
from .splits import kfold, leave_last_k_out, per_user_split, random_split, time_split
from .synthetic import MOVIELENS_20M_SHAPE, SyntheticTruth, synthetic_ratings

__all__ = ["Ratings", "load_movielens", "movielens_small", "read_movies", "embedded_path",
           "random_split", "per_user_split", "time_split", "leave_last_k_out", "kfold",
           "synthetic_ratings", "SyntheticTruth", "MOVIELENS_20M_SHAPE"]
