"""The experiment runner: discovery, --only, --data, report with tables and linked figures."""

import re

import pytest

from experiments.__main__ import discover, main, markdown_table


def test_discovery_excludes_benchmarks():
    suite = discover()
    assert "overview" in suite and list(suite)[0] == "overview"
    assert not any(name.startswith("bench_") for name in suite)


def test_overview_report_on_a_movielens_folder(tmp_path):
    data = tmp_path / "ml"
    data.mkdir()
    (data / "u.data").write_text("1\t1\t5\t1\n1\t2\t3\t2\n2\t1\t4\t3\n3\t3\t1\t4\n")
    out = tmp_path / "report"
    assert main(["--only", "overview", "--data", str(data), "--out", str(out)]) == 0
    index = (out / "index.md").read_text()
    assert "| ratings | 4 |" in index and "| users | 3 |" in index
    for link in re.findall(r"\]\((figures/[^)]+\.png)\)", index):
        assert (out / link).stat().st_size > 1000


def test_unknown_experiment_is_an_error(tmp_path):
    with pytest.raises(SystemExit):
        main(["--only", "no_such_experiment", "--out", str(tmp_path)])


def test_markdown_table_escapes_pipes():
    import pandas as pd
    text = markdown_table(pd.DataFrame({"a|b": [1.23456, 2.0]}, index=["x|y", "z"]))
    assert text.splitlines()[0] == "|  | a\\|b |" and "x\\|y" in text and "1.235" in text


def test_markdown_table_has_flat_labels_and_no_nan():
    import numpy as np
    import pandas as pd
    df = pd.DataFrame({"rmse": [0.9, np.nan], ("a", "b"): [None, 1.0]},
                      index=pd.MultiIndex.from_tuples([("BPMF", "alpha"), ("ALS", "x")],
                                                      names=["model", "var"]))
    lines = markdown_table(df).splitlines()
    assert lines[0] == "| model | var | rmse | a, b |"
    assert lines[2] == "| BPMF | alpha | 0.9 | – |"
    assert lines[3] == "| ALS | x | – | 1 |"
    assert "nan" not in markdown_table(df) and "('" not in markdown_table(df)
