"""The stderr progress bar: drawn only on a terminal, off when disabled."""

import io
import re
import time

from lazyflow.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_draws_on_a_terminal_and_ends_the_line():
    stream = Terminal()
    bar = Progress("backtest", stream=stream, width=10, interval=0.0)
    for done in range(0, 11):
        bar(done, 10)
    bar.close()
    text = stream.getvalue()
    assert text.endswith("\n")
    frames = [f for f in text.rstrip("\n").split("\r") if f]
    assert len(frames) == 11
    assert "backtest [#####.....]  50%  5/10" in frames[5]
    assert "backtest [##########] 100%  10/10" in frames[-1]
    percents = [int(re.search(r"(\d+)%", f).group(1)) for f in frames]
    assert percents == sorted(percents)


def test_bar_is_throttled_but_always_draws_the_end():
    stream = Terminal()
    bar = Progress("scan", stream=stream, interval=3600.0)
    for done in range(1, 1001):
        bar(done, 1000)
    frames = [f for f in stream.getvalue().split("\r") if f]
    assert len(frames) == 2  # the first update, then the final one
    assert "1000/1000" in frames[-1]


def test_bar_is_off_when_not_a_terminal_or_disabled():
    plain = io.StringIO()
    bar = Progress("x", stream=plain)
    assert not bar.enabled
    bar(1, 2)
    with bar.working():
        pass
    bar.close()
    assert plain.getvalue() == ""
    quiet = Terminal()
    bar = Progress("x", stream=quiet, enabled=False)
    bar(1, 2)
    bar.close()
    assert quiet.getvalue() == ""


def test_working_shows_elapsed_time_until_the_block_ends():
    stream = Terminal()
    with Progress("reading", stream=stream, interval=0.01).working():
        time.sleep(0.05)
    text = stream.getvalue()
    assert text.startswith("\rreading | 0.0s")
    assert re.search(r"reading done in \d+\.\ds\x1b\[K\n$", text)


def test_zero_total_is_complete():
    stream = Terminal()
    bar = Progress("empty", stream=stream)
    bar(0, 0)
    assert "100%" in stream.getvalue()
