"""Progress output on stderr for long commands (quiet when stderr is not a terminal)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


@dataclass
class Bar:
    progress: Progress | None
    task: TaskID | None
    done: int = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None and self.task is not None and self.done % 100 == 0:
            self.progress.update(self.task, completed=self.done)


@contextlib.contextmanager
def progress(label: str, total: float | None = None) -> Iterator[Bar]:
    console = Console(file=sys.stderr)
    if not console.is_terminal:
        yield Bar(None, None)
        return
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"),
                  TextColumn("{task.completed:,.0f} events"), TimeElapsedColumn(),
                  console=console, transient=False) as prog:
        task = prog.add_task(label, total=total)
        bar = Bar(prog, task)
        yield bar
        prog.update(task, completed=bar.done)
