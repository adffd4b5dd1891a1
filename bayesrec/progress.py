"""Progress bars for long work (rich, which PyMC already brings)."""

from __future__ import annotations

import contextlib
import sys

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Silent:
    def update(self, advance: int = 1, **fields) -> None:
        pass


class _Bar:
    def __init__(self, progress: Progress, task) -> None:
        self._progress = progress
        self._task = task

    def update(self, advance: int = 1, **fields) -> None:
        """Advance the bar; keyword fields (e.g. ``rmse=0.87``) are shown next to it."""
        info = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in fields.items())
        self._progress.update(self._task, advance=advance, info=info)


@contextlib.contextmanager
def progress_bar(total: int, description: str, enabled: bool = True):
    """Context manager yielding an object with ``update(advance=1, **fields)``.

    Disabled (a no-op) when ``enabled`` is false; writes to stderr so that piped stdout stays
    clean.
    """
    if not enabled:
        yield _Silent()
        return
    from rich.console import Console
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                        TextColumn("{task.fields[info]}"),
                        console=Console(file=sys.stderr), transient=False)
    with progress:
        task = progress.add_task(description, total=total, info="")
        yield _Bar(progress, task)
