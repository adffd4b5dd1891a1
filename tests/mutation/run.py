"""Mutation harness: plant each catalogued bug in a copy of the repository and run its tests.

Every entry of :data:`catalogue.MUTANTS` (the samplers) and :data:`catalogue_core.MUTANTS`
(everything else) is ``(id, file, original snippet, replacement, tests, description)``.  The
harness copies the repository's tracked files once into a temporary
directory (the working tree is never touched), checks that the unmutated tests pass there,
then for each mutant: replaces the snippet (which must occur exactly once), runs ``pytest -x``
on the mutant's test files with a timeout, records which test failed first and how long it
took, and restores the file.  A mutant whose tests all pass *survives* (a timeout counts as a
survivor too); the script exits 1 if any does.

Usage (from the repository root; CPU-heavy, so give it a low priority)::

    nice -n 10 python tests/mutation/run.py                 # the whole catalogue
    python tests/mutation/run.py --only nw_df_off_by_one    # one mutant (ids: --list)
    python tests/mutation/run.py --out mutation.md          # also write the table

Numba's on-disk cache lives next to the copied sources, so a mutant of a compiled kernel is
recompiled in the copy and never pollutes the working tree's cache.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from catalogue import MUTANTS as _SAMPLER_MUTANTS  # noqa: E402
from catalogue_core import MUTANTS as _CORE_MUTANTS  # noqa: E402

MUTANTS = _SAMPLER_MUTANTS + _CORE_MUTANTS


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if p and (root / p).is_file()]


def make_copy(root: Path, dest: Path) -> None:
    for rel in tracked_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


def run_tests(copy: Path, tests: list[str], timeout: float) -> tuple[str, str, float]:
    """``(status, first failing test, seconds)``; status "pass", "fail" or "timeout" (a timeout
    is not a kill: the tests neither failed nor passed)."""
    env = dict(os.environ, PYTHONPATH=str(copy))
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-W", "ignore", *tests]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"timeout after {timeout:.0f} s", time.perf_counter() - t0
    sec = time.perf_counter() - t0
    if proc.returncode == 0:
        return "pass", "", sec
    m = re.search(r"^(FAILED|ERROR) (\S+)", proc.stdout, re.M)
    return "fail", (m.group(2) if m else proc.stdout.strip().splitlines()[-1][:120]), sec


def check_import(copy: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(copy))
    out = subprocess.run([sys.executable, "-c", "import bayesrec; print(bayesrec.__file__)"],
                         cwd=copy, env=env, capture_output=True, text=True, check=True).stdout
    if not Path(out.strip()).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"bayesrec imports from {out.strip()}, not from the copy {copy}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="mutant ids to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the catalogue and exit")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant")
    ap.add_argument("--out", help="also write the markdown table to this file")
    ap.add_argument("--skip-baseline", action="store_true",
                    help="do not run the unmutated tests first")
    args = ap.parse_args(argv)
    ids = [m["id"] for m in MUTANTS]
    if len(set(ids)) != len(ids):
        raise SystemExit("duplicate mutant ids in the catalogue")
    if args.list:
        for m in MUTANTS:
            print(f"{m['id']:32s} {m['file']:48s} {m['why']}")
        return 0
    chosen = [m for m in MUTANTS if not args.only or m["id"] in args.only]
    if not chosen:
        raise SystemExit(f"no mutant matches {args.only}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bayesrec-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        make_copy(ROOT, copy)
        check_import(copy)
        # every snippet must be found exactly once before anything runs
        for m in chosen:
            n = (copy / m["file"]).read_text().count(m["old"])
            if n != 1:
                raise SystemExit(f"{m['id']}: snippet found {n} times in {m['file']}")
            missing = [t for t in m["tests"] if not (copy / t.split("::")[0]).is_file()]
            if missing:
                raise SystemExit(f"{m['id']}: no such test file {missing}")
        if not args.skip_baseline:
            tests = sorted({t for m in chosen for t in m["tests"]})
            status, why, sec = run_tests(copy, tests, args.timeout * 3)
            print(f"baseline ({len(tests)} test files): {status} {why} in {sec:.0f} s",
                  flush=True)
            if status != "pass":
                raise SystemExit("the unmutated tests fail: fix them before mutating")
        for m in chosen:
            path = copy / m["file"]
            original = path.read_text()
            path.write_text(original.replace(m["old"], m["new"], 1))
            try:
                status, why, sec = run_tests(copy, m["tests"], args.timeout)
            finally:
                path.write_text(original)
            verdict = {"pass": "SURVIVED", "timeout": "TIMEOUT", "fail": why}[status]
            rows.append((m["id"], m["why"], verdict, sec))
            print(f"{m['id']:32s} {'killed' if status == 'fail' else verdict:9s} {sec:7.1f} s"
                  f"  {why}", flush=True)
    lines = ["| mutant | planted bug | killed by | seconds |", "|---|---|---|---|"]
    lines += [f"| `{i}` | {w.replace('|', '\\|')} | "
              f"{k if k in ('SURVIVED', 'TIMEOUT') else '`' + k + '`'} | {s:.1f} |"
              for i, w, k, s in rows]
    n_surv = sum(r[2] in ("SURVIVED", "TIMEOUT") for r in rows)
    lines.append(f"\n{len(rows) - n_surv} of {len(rows)} mutants killed, {n_surv} survived "
                 "or timed out.")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 1 if n_surv else 0


if __name__ == "__main__":
    raise SystemExit(main())
