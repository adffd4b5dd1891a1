"""What every experiment gets (:class:`Context`) and gives back (:class:`Section`).

An experiment is a module ``experiments/<name>.py`` with

* ``TITLE``: a one-line title,
* ``ORDER``: an int that places it in the suite (lower runs first),
* ``run(ctx: Context) -> Section``.

The runner (``python -m experiments``) discovers such modules, runs them and writes the
report.  Benchmarks (``experiments/bench_*.py``) are standalone scripts, not suite members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bayesrec.data import Ratings, load_movielens, movielens_small  # noqa: E402
from bayesrec.data.splits import random_split  # noqa: E402

SEED = 0


@dataclass
class Section:
    """An experiment's results: tables, figures (paths relative to the report) and notes."""

    title: str
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, caption: str, df: pd.DataFrame) -> None:
        self.tables.append((caption, df))

    def figure(self, caption: str, path: str) -> None:
        self.figures.append((caption, path))

    def note(self, text: str) -> None:
        self.notes.append(text)


class Context:
    """Shared inputs of a suite run: the data, its standard split, output folder, settings.

    Parameters
    ----------
    data_path : str or Path, optional
        A MovieLens file or folder; ``None`` uses the embedded ml-latest-small data.
    outdir : Path
        Report folder; figures go to ``outdir / "figures"``.
    full : bool
        Run the course's longer settings instead of the quick defaults.
    """

    def __init__(self, data_path=None, outdir: Path = Path("report"), full: bool = False):
        self.data_path = data_path
        self.outdir = Path(outdir)
        self.full = full
        self.seed = SEED
        (self.outdir / "figures").mkdir(parents=True, exist_ok=True)

    @cached_property
    def _loaded(self) -> tuple[Ratings, pd.DataFrame | None]:
        if self.data_path is None:
            return movielens_small(return_movies=True)
        return load_movielens(self.data_path, return_movies=True)

    @property
    def data(self) -> Ratings:
        """The ratings of the run."""
        return self._loaded[0]

    @property
    def movies(self) -> pd.DataFrame | None:
        """movieId, title, genres (None when the data has no movie file)."""
        return self._loaded[1]

    @property
    def data_name(self) -> str:
        return "embedded ml-latest-small" if self.data_path is None else str(self.data_path)

    @cached_property
    def split(self) -> tuple[Ratings, Ratings]:
        """The standard random 80/20 split with seed 0, shared by all experiments."""
        return random_split(self.data, test_size=0.2, rng=self.seed)

    def savefig(self, fig, name: str) -> str:
        """Save a matplotlib figure as ``figures/<name>.png``; returns the report-relative path."""
        rel = f"figures/{name}.png"
        fig.savefig(self.outdir / rel, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return rel

    def titles(self, item_ids) -> list[str]:
        """Movie titles for original item ids (the id itself when titles are unknown)."""
        if self.movies is None:
            return [str(i) for i in item_ids]
        lookup = self.movies.set_index("movieId")["title"]
        return [str(lookup.get(i, i)) for i in item_ids]
