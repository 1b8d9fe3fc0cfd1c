"""Progress for long steps, drawn on a terminal only.

Training epochs, the steps of a local pipeline run and the pages of a price refresh take long
enough that a person at a terminal wants to see them move. The bar goes to stderr and only when
stderr is a terminal: logs, CI and Katib's stdout metrics collector see nothing of it, and
stdout stays exactly what scripts parse.
"""

from __future__ import annotations

import sys
from typing import TextIO


class StepProgress:
    """A bar of `total` steps (or a counter when the total is unknown) on a terminal's stderr.

    Use as a context manager; `advance` moves it one step and shows `detail` beside it. On a
    stream that is not a terminal every call does nothing.
    """

    def __init__(self, description: str, total: int | None = None, *, done: int = 0,
                 stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._progress = None
        self._task = None
        self._description = description
        self._total = total
        self._done = done

    @property
    def active(self) -> bool:
        """Whether anything is drawn (the stream is a terminal)."""
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty and isatty())

    def __enter__(self) -> StepProgress:
        if self.active:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            console = Console(file=self._stream, force_terminal=True)
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(),
                                      TextColumn("{task.fields[detail]}"), console=console,
                                      transient=True,
                                      # stdout must stay the program's own (Katib parses it).
                                      redirect_stdout=False, redirect_stderr=False)
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=self._total,
                                                 completed=self._done, detail="")
        return self

    def advance(self, detail: str = "", *, to: int | None = None) -> None:
        """One step more, or up to step `to` (a resumed run starts past zero)."""
        if self._progress is not None and self._task is not None:
            if to is None:
                self._progress.update(self._task, advance=1, detail=detail)
            else:
                self._progress.update(self._task, completed=to, detail=detail)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
