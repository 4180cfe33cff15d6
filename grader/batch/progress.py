"""Progress of a batch: a live tqdm bar on a terminal, one plain log line per submission
otherwise (a log file or CI output gets no carriage-return noise)."""
from __future__ import annotations

import sys
from typing import TextIO

from grader.ids import terminal_id
from grader.untrusted import terminal_line


class Progress:
    """`advance()` once per finished submission; `note()` prints a line without breaking the
    bar. "failed" counts submissions that could not be graded (status error). Ids, reasons
    and notes come from outside: every line passes `grader.untrusted.terminal_line`, so a
    name cannot move the cursor or rewrite an earlier line."""

    def __init__(self, total: int, stream: TextIO | None = None, bar: bool | None = None):
        self.stream = stream or sys.stdout
        self.total = total
        self.done = 0
        self.failed = 0
        use_bar = self.stream.isatty() if bar is None else bar
        self._bar = None
        if use_bar and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, file=self.stream, unit="sub", dynamic_ncols=True,
                             desc="grading", smoothing=0.1)
            self._bar.set_postfix(failed=0)

    def advance(self, student: str, status: str, score: float, max_score: float, seconds: float,
                reason: str | None = None) -> None:
        self.done += 1
        if status == "error":
            self.failed += 1
        if self._bar is not None:
            self._bar.update(1)
            if status == "error":
                self._bar.set_postfix(failed=self.failed)
            return
        width = len(str(self.total))
        what = f"{score:g}/{max_score:g}" if status != "error" else f"not graded: {terminal_line(reason)}"
        self.stream.write(f"[{self.done:>{width}}/{self.total}] {terminal_id(student)}: {what} ({seconds:.2f} s)\n")
        self.stream.flush()

    def note(self, line: str) -> None:
        line = terminal_line(line)
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
