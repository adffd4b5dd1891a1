"""MovieLens loaders: every standard layout, detected from the file or folder; no network.

Supported rating files (plain or ``.gz``):

==================  ====================================  ==============================
file                release                               format
==================  ====================================  ==============================
``u.data``          100K                                  tab-separated, no header
``ratings.dat``     1M, 10M                               ``::``-separated, no header
``ratings.csv``     20M, 25M, 32M, latest, latest-small   csv with header, epoch seconds
``rating.csv``      the widely shared 20M variant         csv with header, date-time strings
==================  ====================================  ==============================

and the matching movie files ``u.item`` (pipe-separated, genre flags), ``movies.dat`` and
``movies.csv`` (``|``-separated genres).  The embedded "ml-latest-small" data
(:func:`movielens_small`) ships inside the package under the GroupLens license
(``bayesrec/data/movielens_small/README.txt``).
"""

from __future__ import annotations

import gzip
import io
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import check_bool, check_path
from .ratings import Ratings

RATING_FILES = ("ratings.csv", "rating.csv", "ratings.dat", "u.data")
MOVIE_FILES = ("movies.csv", "movie.csv", "movies.dat", "u.item")
ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western"]
_COLS = ["userId", "movieId", "rating", "timestamp"]
_DTYPES = {"userId": np.int64, "movieId": np.int64, "rating": np.float64}


def _find(folder: Path, names) -> Path | None:
    for name in names:
        for candidate in (folder / name, folder / (name + ".gz")):
            if candidate.is_file():
                return candidate
    return None


def _base_name(path: Path) -> str:
    return path.name[:-3] if path.name.endswith(".gz") else path.name


def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read()


def _read_double_colon(path: Path, names, encoding="utf-8") -> pd.DataFrame:
    return _read_double_colon_bytes(_read_bytes(path), names, encoding)


def _read_double_colon_bytes(raw: bytes, names, encoding="utf-8") -> pd.DataFrame:
    # pandas' multi-character separator needs the slow python engine; rewriting '::' to a
    # control character keeps the fast C parser (titles may contain ':' but never '\x1f').
    raw = raw.replace(b"::", b"\x1f")
    return pd.read_csv(io.BytesIO(raw), sep="\x1f", header=None, names=names,
                       encoding=encoding, quoting=3)


#: errors of gzip / the csv parser / dtype conversion, reported with the path by the loaders
_READ_ERRORS = (EOFError, UnicodeDecodeError, zlib.error, gzip.BadGzipFile,
                pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, TypeError,
                OverflowError)


def _ends_with_newline(path: Path) -> bool:
    """Whether a plain (not compressed) file's last byte is a newline (or the file is empty)."""
    with open(path, "rb") as f:
        f.seek(0, io.SEEK_END)
        if f.tell() == 0:
            return True
        f.seek(-1, io.SEEK_END)
        return f.read(1) in (b"\n", b"\r")


def _first_bad_line(path: Path, layout: str) -> str:
    """Slow path after a failed read: the first row with a missing or non-numeric field."""
    if layout == "dat":
        raw = _read_bytes(path).replace(b"::", b"\x1f")
        df = pd.read_csv(io.BytesIO(raw), sep="\x1f", header=None, dtype=str, quoting=3,
                         keep_default_na=False, names=_COLS)
        first_line = 1
    elif layout == "data":
        df = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False,
                         names=_COLS)
        first_line = 1
    else:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        first_line = 2
    cols = [c for c in _COLS if c in df.columns and not (c == "timestamp" and layout == "csv")]
    for c in cols:
        bad = pd.to_numeric(df[c], errors="coerce").isna().to_numpy()
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            hint = " (a truncated last line?)" if r == len(df) - 1 else ""
            return (f"row {r} (line {r + first_line}): {c} {df[c].iloc[r]!r} is missing or not "
                    f"a number{hint}")
    return ""


def read_rating_frame(path: str | Path) -> pd.DataFrame:
    """Read a MovieLens rating file into a frame with columns userId, movieId, rating, timestamp.

    Raises ``ValueError`` naming the path (and the row, when one is at fault) for a file that
    cannot be parsed: a corrupt or truncated gzip stream, a missing or non-numeric field, a
    plain file whose last line is cut (no final newline).
    """
    path = Path(path)
    name = _base_name(path)
    layout = ("data" if name == "u.data" or name.endswith(".data") else
              "dat" if name.endswith(".dat") else "csv" if name.endswith(".csv") else None)
    if layout is None:
        raise ValueError(f"{path}: unknown MovieLens rating file; expected one of "
                         f"{RATING_FILES}")
    if not path.name.endswith(".gz") and path.is_file() and not _ends_with_newline(path):
        raise ValueError(f"{path}: the last line does not end with a newline, so it may be "
                         "truncated (an interrupted download?); every MovieLens file ends "
                         "with one: re-download it, or append a newline if it is complete")
    try:
        df = _read_rating_layout(path, layout)
    except _READ_ERRORS as exc:
        if str(exc).startswith(str(path)):
            raise
        try:
            where = _first_bad_line(path, layout)
        except _READ_ERRORS:
            where = ""
        raise ValueError(f"{path}: cannot read the rating file: "
                         f"{where or f'{type(exc).__name__}: {exc}'}") from None
    bad = df.isna().to_numpy().any(axis=1)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        line = r + (2 if layout == "csv" else 1)
        raise ValueError(f"{path}: row {r} (line {line}) has missing fields (a truncated last "
                         "line?)")
    return df


def _read_rating_layout(path: Path, layout: str) -> pd.DataFrame:
    if layout == "data":
        return pd.read_csv(path, sep="\t", header=None, names=_COLS, dtype=_DTYPES)
    if layout == "dat":
        raw = _read_bytes(path)
        if not raw.endswith(b"\n"):
            raise ValueError(f"{path}: the last line does not end with a newline, so it may "
                             "be truncated; re-download the file")
        return _read_double_colon_bytes(raw, _COLS).astype(_DTYPES)
    if layout == "csv":
        head = pd.read_csv(path, nrows=5)
        missing = [c for c in _COLS[:3] if c not in head.columns]
        if missing:
            raise ValueError(f"{path}: not a MovieLens rating file, missing column(s) {missing}; "
                             f"found {list(head.columns)}")
        dtypes = dict(_DTYPES)
        if "timestamp" in head.columns and pd.api.types.is_numeric_dtype(head["timestamp"]):
            dtypes["timestamp"] = np.int64
        df = pd.read_csv(path, dtype=dtypes, usecols=[c for c in _COLS if c in head.columns])
        if "timestamp" in df.columns and not pd.api.types.is_numeric_dtype(df["timestamp"]):
            # the 20M variant 'rating.csv' stores "YYYY-mm-dd HH:MM:SS"
            df["timestamp"] = _parse_datetimes(df["timestamp"])
        return df
    raise AssertionError(layout)  # pragma: no cover - layouts are checked by the caller


def _parse_datetimes(s: pd.Series) -> np.ndarray:
    try:
        dt = pd.to_datetime(s, format="%Y-%m-%d %H:%M:%S")
    except (ValueError, TypeError):
        dt = pd.to_datetime(s, format="mixed")
    return dt.to_numpy().astype("datetime64[s]").astype(np.int64)


def load_movielens(path: str | Path, rating_scale: tuple[float, float] | None = None,
                   return_movies: bool = False, duplicates: str = "error"):
    """Load any MovieLens release from its folder or its rating file.

    Parameters
    ----------
    path : str or Path
        A MovieLens folder (``ml-100k``, ``ml-1m``, ``ml-10M100K``, ``ml-20m``, ``ml-latest-small``,
        ...) or one of its rating files.
    rating_scale : (low, high), optional
        Declared scale; defaults to (0.5, 5) for releases with half stars and (1, 5) otherwise.
    return_movies : bool
        Also return the movies frame (``movieId``, ``title``, ``genres`` as ``|``-joined text),
        or ``None`` when the folder has no movie file.
    duplicates : {"error", "last", "mean"}
        Repeated (user, movie) pairs: raise (default), keep the last row of the file, or
        average them (as :meth:`~bayesrec.data.Ratings.from_frame`).

    Raises
    ------
    ValueError
        A file that cannot be parsed, or bad rows (see :meth:`Ratings.from_frame`); the
        message starts with the path of the rating file and names the row.

    Returns
    -------
    Ratings, or (Ratings, DataFrame or None) with ``return_movies=True``.
    """
    check_path("path", path, "a file or folder path")
    return_movies = check_bool("return_movies", return_movies)  # "no" is a true string
    path = Path(path)
    if path.is_dir():
        rating_file = _find(path, RATING_FILES)
        if rating_file is None:
            raise ValueError(f"{path}: no MovieLens rating file; looked for {RATING_FILES}")
    elif path.is_file():
        rating_file = path
    else:
        raise FileNotFoundError(f"{path}: no such file or folder")
    df = read_rating_frame(rating_file)
    if rating_scale is None:
        half_stars = bool((df["rating"] % 1 != 0).any())
        rating_scale = (0.5, 5.0) if half_stars else (1.0, 5.0)
    try:
        ratings = Ratings.from_frame(df, timestamp_col="timestamp" if "timestamp" in df else None,
                                     rating_scale=rating_scale, duplicates=duplicates)
    except ValueError as exc:
        raise ValueError(f"{rating_file}: {exc}") from None
    if not return_movies:
        return ratings
    movie_file = _find(rating_file.parent, MOVIE_FILES)
    return ratings, None if movie_file is None else read_movies(movie_file)


def read_movies(path: str | Path) -> pd.DataFrame:
    """Read ``movies.csv`` / ``movies.dat`` / ``u.item`` into movieId, title, genres.

    A file that cannot be parsed raises ``ValueError`` naming the path.
    """
    path = Path(path)
    try:
        return _read_movies(path)
    except (*_READ_ERRORS, KeyError, IndexError) as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read the movie file: {type(exc).__name__}: "
                         f"{exc}") from None


def _read_movies(path: Path) -> pd.DataFrame:
    name = _base_name(path)
    if name == "u.item":
        raw = _read_bytes(path).decode("latin-1")
        df = pd.read_csv(io.StringIO(raw), sep="|", header=None)
        genre_file = path.parent / "u.genre"
        genres = ML100K_GENRES
        if genre_file.is_file():
            genres = [g.split("|")[0] for g in genre_file.read_text("latin-1").splitlines() if g]
        flags = df.iloc[:, -len(genres):].to_numpy().astype(bool)
        names = np.array(genres, dtype=object)
        joined = ["|".join(names[row]) or "(no genres listed)" for row in flags]
        return pd.DataFrame({"movieId": df[0].astype(np.int64), "title": df[1], "genres": joined})
    if name.endswith(".dat"):
        return _read_double_colon(path, ["movieId", "title", "genres"], encoding="latin-1")
    if name.endswith(".csv"):
        return pd.read_csv(path, dtype={"movieId": np.int64})[["movieId", "title", "genres"]]
    raise ValueError(f"{path}: unknown MovieLens movie file; expected one of {MOVIE_FILES}")


def embedded_path() -> Path:
    """Folder of the embedded ml-latest-small copy (gzip-compressed csv files + license)."""
    return Path(str(resources.files("bayesrec.data") / "movielens_small"))


def movielens_small(return_movies: bool = False):
    """The real MovieLens "latest-small" data shipped with bayesrec (100,836 ratings).

    610 users, 9,742 movies, half-star ratings 0.5-5, timestamps 1996-2018.  Source: GroupLens
    (https://grouplens.org/datasets/movielens/), generated 2018-09-26; redistributed unchanged
    (gzip-compressed) under its license, see ``README.txt`` next to the data.  Cite
    F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context.
    ACM TiiS 5, 4: 19:1-19:19.
    """
    return load_movielens(embedded_path(), rating_scale=(0.5, 5.0), return_movies=return_movies)
