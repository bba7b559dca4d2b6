"""Progress bars on stderr (rich): one bar for generation and one for judging per suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress


class _Bars:
    def __init__(self, bar: RichProgress | None, gen: int, judge: int) -> None:
        self._bar, self._gen, self._judge = bar, gen, judge

    def generated(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._gen, n)

    def judged(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._judge, n)


class Progress:
    """Shows progress on stderr when enabled; stdout stays clean for ``--format json``."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True)

    @contextmanager
    def bars(self, title: str, total: int, done: int) -> Iterator[_Bars]:
        if not self.enabled:
            yield _Bars(None, 0, 0)
            return
        columns = (TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with RichProgress(*columns, console=self.console, transient=False) as bar:
            gen = bar.add_task(f"generate {title}"[:44], total=total, completed=done)
            judge = bar.add_task(f"judge    {title}"[:44], total=total, completed=done)
            yield _Bars(bar, gen, judge)
