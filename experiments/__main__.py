"""Run the experiment suite and write a report: ``python -m experiments [--only NAME] [--full]``.

Options
-------
--data PATH   any MovieLens file or folder instead of the embedded ml-latest-small data
--only NAME   run only these experiments (repeat or comma-separate)
--full        the course's longer settings (slower)
--out DIR     report folder (default ``report``)
--list        list the experiments and exit
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import experiments
from experiments.framework import Context, Section


def discover() -> dict[str, object]:
    """Experiment modules in run order: those with TITLE and run(), benchmarks excluded."""
    found = {}
    for info in pkgutil.iter_modules(experiments.__path__):
        name = info.name
        if name.startswith(("_", "bench_")) or name == "framework":
            continue
        module = importlib.import_module(f"experiments.{name}")
        if hasattr(module, "run") and hasattr(module, "TITLE"):
            found[name] = module
    return dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "ORDER", 100), kv[0])))


def _markdown(name: str, section: Section, seconds: float) -> str:
    lines = [f"## {section.title}", "", f"*experiment `{name}`, {seconds:.1f} s*", ""]
    for note in section.notes:
        lines += [note, ""]
    for caption, df in section.tables:
        lines += [f"**{caption}**", "", markdown_table(df), ""]
    for caption, path in section.figures:
        lines += [f"![{caption}]({path})", "", f"*{caption}* ([{path}]({path}))", ""]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"  # not applicable (never a bare "nan")
    if isinstance(value, tuple):  # a label of a MultiIndex level pair
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(df) -> str:
    """A DataFrame as a GitHub markdown table, numbers to 4 significant digits.

    Row labels are flat: each level of a (multi-)index is its own leading column; tuple column
    labels are joined with ", "; missing values show as "–".
    """
    levels = df.index.nlevels
    names = [n or "" for n in df.index.names]
    header = [_cell(n) for n in names] + [_cell(c) for c in df.columns]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in zip(df.index, df.itertuples(index=False)):
        labels = idx if levels > 1 else (idx,)
        rows.append("| " + " | ".join(_cell(v) for v in (*labels, *row)) + " |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="MovieLens file or folder (default: embedded data)")
    parser.add_argument("--only", action="append", default=[], help="experiment name(s)")
    parser.add_argument("--full", action="store_true", help="the course's longer settings")
    parser.add_argument("--out", default="report", help="report folder")
    parser.add_argument("--list", action="store_true", help="list experiments and exit")
    args = parser.parse_args(argv)

    suite = discover()
    if args.list:
        for name, module in suite.items():
            print(f"{name:20s} {module.TITLE}")
        return 0
    wanted = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    if args.only and not wanted:  # "--only ," must not silently run the whole suite
        parser.error(f"--only names no experiment; choose from {list(suite)}")
    if args.data is not None and not Path(args.data).exists():
        parser.error(f"--data {args.data}: no such file or folder")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    unknown = [n for n in wanted if n not in suite]
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; choose from {list(suite)}")
    if wanted:
        suite = {n: m for n, m in suite.items() if n in wanted}

    ctx = Context(args.data, Path(args.out), full=args.full)
    if args.data is not None:
        try:  # once, here: a file that is no MovieLens data would fail every experiment
            _ = ctx.data
        except (ValueError, OSError) as err:
            parser.error(f"--data {args.data}: {err}")
    index = ["# bayesrec experiment report", "",
             f"Data: {ctx.data_name}. Settings: {'full' if args.full else 'quick'}.", ""]
    failed = []
    t_all = time.perf_counter()
    for name, module in suite.items():
        print(f"[experiments] {name}: {module.TITLE}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            section = module.run(ctx)
        except Exception:  # report the failure, run the rest, exit non-zero
            failed.append(name)
            section = Section(f"{module.TITLE} (FAILED)")
            section.note("```\n" + traceback.format_exc() + "```")
            traceback.print_exc()
        seconds = time.perf_counter() - t0
        text = _markdown(name, section, seconds)
        (ctx.outdir / f"{name}.md").write_text(text + "\n")
        index += [text, ""]
        print(f"[experiments] {name} done in {seconds:.1f} s", file=sys.stderr, flush=True)
    index += [f"Total time: {time.perf_counter() - t_all:.1f} s."]
    (ctx.outdir / "index.md").write_text("\n".join(index) + "\n")
    print(f"[experiments] report written to {ctx.outdir / 'index.md'}", file=sys.stderr)
    if failed:
        print(f"[experiments] FAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
