"""Progress for long searches, on stderr so that --json output on stdout stays clean.

The wall clock here only paces what the user sees; it never feeds a decision in impl/ or a check.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["ProgressReporter"]

PLAIN_LINE_EVERY_SECONDS = 10.0


class ProgressReporter:
    """A bar on a terminal; a plain line every few seconds elsewhere (logs, CI)."""

    def __init__(self, area: str, budget_seconds: float, enabled: bool = True) -> None:
        self.area = area
        self.budget_seconds = budget_seconds
        self.enabled = enabled
        self._console = Console(stderr=True, highlight=False)
        self._bar: Progress | None = None
        self._task = None
        self._last_plain = 0.0
        self._workers = ""  # with --jobs N > 1: ", B of N workers busy"

    def __enter__(self) -> "ProgressReporter":
        if self.enabled and self._console.is_terminal:
            self._bar = Progress(TextColumn("checking {task.fields[area]}"), BarColumn(),
                                 TextColumn("{task.fields[examples]} examples{task.fields[workers]}"),
                                 TimeElapsedColumn(),
                                 console=self._console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("check", total=self.budget_seconds, area=self.area, examples=0,
                                          workers="")
        return self

    def workers(self, busy: int, jobs: int) -> None:
        """How many of the search's worker processes are running a chunk (`kinv check --jobs`)."""
        self._workers = f", {busy} of {jobs} workers busy"
        if self._bar is not None:
            self._bar.update(self._task, workers=self._workers)

    def update(self, examples: int, seconds: float) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=min(seconds, self.budget_seconds), examples=examples)
        elif seconds - self._last_plain >= PLAIN_LINE_EVERY_SECONDS:
            self._last_plain = seconds
            print(f"kinv: checking {self.area}: {examples} examples, {seconds:.0f}s of {self.budget_seconds:.0f}s"
                  f"{self._workers}", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
