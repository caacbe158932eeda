"""Progress of long steps, for people at a terminal.

The library reports `progress(step, done, total)`: total None while a step has nothing to count
(an analysis; it reports `(step, 0, 0)` when it ends). `StepProgress` shows the step under way as
one live bar on stderr and, when a step ends, leaves one line saying what it did and how long it
took, so a long run reads as a list of finished steps, not a pile of bars. A step ends when it
reaches its total, when another begins, or when the display closes. On a pipe, or when the
command prints JSON, the display is off and prints nothing.

Units: `reading` counts bytes of the file (shown in MB; its line also gives the rows read, which
is the total of the step after it, `checking`); every other step counts rows, or nothing when
its total is None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

ProgressFn = Callable[[str, int, int | None], None]
BYTES_STEPS = ("reading",)
"""Steps whose counts are bytes of a file."""


def _is_bytes(step: str) -> bool:
    return step.rsplit(": ", 1)[-1] in BYTES_STEPS


def _megabytes(n: int | float | None) -> str:
    return "?" if n is None else f"{n / 1e6:,.1f}"


class StepProgress:
    """One live bar for the step under way, one line per finished step (see the module)."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled and console.is_terminal
        self._bar: Any = None
        self._task: Any = None
        self._step: str | None = None
        self._done = 0
        self._total: int | None = None
        self._started = 0.0
        self._bytes_line: tuple[str, int | None, float] | None = None

    def __enter__(self) -> ProgressFn | None:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[amount]}"),
                             TimeElapsedColumn(), console=self.console, transient=True)
        self._bar.start()
        return self.update

    def __exit__(self, *exc: Any) -> None:
        if self._bar is None:
            return
        if exc[0] is None:
            self._finish()
        else:
            self._drop()
        self._flush_bytes_line(None)
        self._bar.stop()
        self._bar = None

    def update(self, step: str, done: int, total: int | None) -> None:
        """The library's progress callback: `done` of `total` for `step`."""
        if step != self._step:
            self._finish()
            self._flush_bytes_line(total)
            self._begin(step, total)
        self._done, self._total = done, total
        self._bar.update(self._task, completed=done, total=total, amount=self._amount(step, done, total))
        if total is not None and done >= total and not _is_bytes(step):
            self._finish()

    # -- the steps ------------------------------------------------------------------------------
    def _begin(self, step: str, total: int | None) -> None:
        self._step, self._started, self._done = step, time.perf_counter(), 0
        self._task = self._bar.add_task(step, total=total, amount=self._amount(step, 0, total))

    def _finish(self) -> None:
        """Leave the finished step's line and take its bar away."""
        if self._step is None:
            return
        seconds = time.perf_counter() - self._started
        if _is_bytes(self._step):
            # its line waits for the next step's total: the rows read
            self._bytes_line = (self._step, self._total if self._total is not None else self._done, seconds)
        else:
            self._bar.console.print(self._line(self._step, self._amount(self._step, self._done, self._total, finished=True), seconds))
        self._drop()

    def _drop(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._step, self._task = None, None

    def _flush_bytes_line(self, rows: int | None) -> None:
        if self._bytes_line is None:
            return
        step, size, seconds = self._bytes_line
        amount = f"{_megabytes(size)} MB" + (f", {rows:,} rows" if rows is not None else "")
        self._bar.console.print(self._line(step, amount, seconds))
        self._bytes_line = None

    @staticmethod
    def _line(step: str, amount: str, seconds: float) -> str:
        return f"[green]done[/] {step}{': ' + amount if amount else ''} in {seconds:.1f} s"

    @staticmethod
    def _amount(step: str, done: int, total: int | None, finished: bool = False) -> str:
        if _is_bytes(step):
            return f"{_megabytes(done)}/{_megabytes(total)} MB"
        if not total:
            return ""
        return f"{done:,} row{'' if done == 1 else 's'}" if finished else f"{done:,}/{total:,} rows"


__all__ = ["ProgressFn", "StepProgress"]
