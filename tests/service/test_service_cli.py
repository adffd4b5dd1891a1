"""The ``bayesrec`` command: ``migrate`` creates the schema; bad URLs are refused clearly."""

import sqlite3
import subprocess
import sys

from conftest import ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "bayesrec.service.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_migrate_then_serve_arguments(tmp_path):
    db = tmp_path / "b.db"
    out = run("migrate", "--db", f"sqlite:///{db}")
    assert out.returncode == 0 and "schema version 1" in out.stdout
    tables = {r[0] for r in sqlite3.connect(db).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"experiments", "arms", "events", "schema_version"} <= tables
    bad = run("serve", "--db", "mysql://x/y")
    assert bad.returncode == 2 and "sqlite:/// or postgresql://" in bad.stderr
    bad = run("serve", "--db", f"sqlite:///{db}", "--workers", "0")
    assert bad.returncode == 2 and "--workers" in bad.stderr

