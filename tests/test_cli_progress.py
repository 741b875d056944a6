"""The live progress display: one redrawn line on a terminal, plain lines otherwise."""

from __future__ import annotations

import io
import time

from jupyter_mlops.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_one_redrawn_line_that_keeps_ticking() -> None:
    out = Terminal()
    progress = Progress(["load", "train"], out)
    progress("step", "load", {"status": "running"})
    time.sleep(1.6)  # the clock ticks while a step runs
    ticks = out.getvalue().count("\r\x1b[2K")
    assert ticks >= 2  # the first draw plus at least one tick (lenient under load)
    progress("step", "load", {"status": "succeeded", "duration_s": 1.2})
    progress("step", "train", {"status": "cached"})
    progress.close()
    text = out.getvalue()
    assert text.endswith("✔ load  ↺ train\n")
    assert text.count("\n") == 1
    time.sleep(0.6)
    assert out.getvalue() == text  # no redraw after the end


def test_pipes_get_plain_lines() -> None:
    out = io.StringIO()
    progress = Progress(["load"], out)
    progress("step", "load", {"status": "running"})
    progress("step", "load", {"status": "failed", "duration_s": 0.5})
    progress.close()
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == ["load: running", "load: failed (0.50 s)"]
