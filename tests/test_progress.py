"""The command line's progress line: drawn on a terminal, silent on anything else."""

from __future__ import annotations

import io

from staticwrap.progress import Progress


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, as a real tty does."""

    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_on_a_terminal() -> None:
    stream = Terminal()
    progress = Progress(label="build", stream=stream)
    progress.advance("css/app.css", total=4)
    progress.advance("js/main.js", total=4)
    lines = stream.getvalue().split("\r")[1:]
    assert lines[0].startswith("build [######..................] 1/4 css/app.css")
    assert lines[1].startswith("build [############............] 2/4 js/main.js")
    progress.close()
    assert stream.getvalue().endswith("\r")


def test_progress_counts_without_a_total() -> None:
    stream = Terminal()
    progress = Progress(label="compress", stream=stream)
    progress.advance("a.css")
    assert stream.getvalue().split("\r")[1].startswith("compress 1 a.css")


def test_progress_is_silent_off_a_terminal_and_when_disabled() -> None:
    for stream, enabled in ((io.StringIO(), True), (Terminal(), False)):
        progress = Progress(label="build", stream=stream, enabled=enabled)
        progress.advance("a.css", total=1)
        progress.close()
        assert stream.getvalue() == ""


def test_progress_as_a_context_takes_build_callbacks_and_clears_its_line_on_an_error() -> None:
    # step() has the progress(done, total, name) signature of build() and
    # publish(); leaving the block, even by an exception, clears the line so
    # that the error message starts on a clean one.
    stream = Terminal()
    try:
        with Progress(label="publish", stream=stream) as progress:
            progress.step(1, 2, "app.js")
            raise RuntimeError("store refused")
    except RuntimeError:
        pass
    drawn = stream.getvalue().split("\r")
    assert drawn[1].startswith("publish [############............] 1/2 app.js")
    assert drawn[-2].strip() == ""
    assert drawn[-1] == ""
