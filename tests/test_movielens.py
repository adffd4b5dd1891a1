"""Loaders: every MovieLens layout (tiny files written here) and the embedded data."""

import gzip

import numpy as np
import pandas as pd
import pytest

from bayesrec.data import embedded_path, load_movielens, movielens_small

ROWS = [(1, 10, 4.0, 881250949), (1, 20, 3.0, 881250950), (2, 10, 5.0, 881250951),
        (3, 30, 1.0, 881250952)]


def _check(r, half=False):
    f = r.to_frame().sort_values(["userId", "movieId"], ignore_index=True)
    assert list(f["userId"]) == [1, 1, 2, 3] and list(f["movieId"]) == [10, 20, 10, 30]
    np.testing.assert_array_equal(f["rating"], [4.0, 3.0, 5.0, 1.0])
    np.testing.assert_array_equal(f["timestamp"], [881250949, 881250950, 881250951, 881250952])
    assert r.rating_scale == ((0.5, 5.0) if half else (1.0, 5.0))


def test_ml100k_folder(tmp_path):
    (tmp_path / "u.data").write_text("".join(f"{u}\t{i}\t{int(r)}\t{t}\n" for u, i, r, t in ROWS))
    flags = ["0"] * 19
    flags[1] = flags[5] = "1"  # Action, Comedy
    (tmp_path / "u.item").write_bytes(
        ("10|Caf\xe9 (1995)|01-Jan-1995||http://x|" + "|".join(flags) + "\n").encode("latin-1"))
    r, movies = load_movielens(tmp_path, return_movies=True)
    _check(r)
    assert movies.loc[0, "title"] == "Caf\xe9 (1995)" and movies.loc[0, "genres"] == "Action|Comedy"


def test_ml1m_dat(tmp_path):
    (tmp_path / "ratings.dat").write_text(
        "".join(f"{u}::{i}::{int(r)}::{t}\n" for u, i, r, t in ROWS))
    (tmp_path / "movies.dat").write_bytes("10::Alien: Resurrection (1997)::Action|Horror\n"
                                          .encode("latin-1"))
    r, movies = load_movielens(tmp_path, return_movies=True)
    _check(r)
    assert movies.loc[0, "title"] == "Alien: Resurrection (1997)"
    _check(load_movielens(tmp_path / "ratings.dat"))


def test_latest_csv_gz_and_half_stars(tmp_path):
    text = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{r - 0.5 if u == 3 else r},{t}\n" for u, i, r, t in ROWS)
    with gzip.open(tmp_path / "ratings.csv.gz", "wt") as f:
        f.write(text)
    r = load_movielens(tmp_path)
    assert r.rating_scale == (0.5, 5.0) and 0.5 in r.ratings
    assert load_movielens(tmp_path, return_movies=True)[1] is None


def test_20m_variant_datetime_strings(tmp_path):
    stamps = pd.to_datetime([t for *_, t in ROWS], unit="s").strftime("%Y-%m-%d %H:%M:%S")
    df = pd.DataFrame(ROWS, columns=["userId", "movieId", "rating", "timestamp"])
    df["timestamp"] = stamps
    df.to_csv(tmp_path / "rating.csv", index=False)
    pd.DataFrame({"movieId": [10], "title": ["X"], "genres": ["Drama"]}).to_csv(
        tmp_path / "movie.csv", index=False)
    r, movies = load_movielens(tmp_path, return_movies=True)
    _check(r)
    assert list(movies.columns) == ["movieId", "title", "genres"]


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_movielens(tmp_path / "nope")
    with pytest.raises(ValueError, match="no MovieLens rating file"):
        load_movielens(tmp_path)
    (tmp_path / "ratings.csv").write_text("user,item,stars\n1,2,3\n")
    with pytest.raises(ValueError, match=r"missing column\(s\)"):
        load_movielens(tmp_path)


def test_embedded_data_is_the_real_small_set():
    r, movies = movielens_small(return_movies=True)
    assert len(r) == 100_836 and r.n_users == 610 and r.n_items == 9_724
    assert r.rating_scale == (0.5, 5.0) and r.has_timestamps
    assert r.global_mean == pytest.approx(3.501557, abs=1e-6)
    assert len(movies) == 9_742
    assert "Usage License" in (embedded_path() / "README.txt").read_text()
