"""minicnn.progress: the bar's text, its silence when disabled or not a terminal, callbacks."""
from __future__ import annotations

import io

from minicnn.progress import CallbackProgress, Progress, format_seconds, make_progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_text_has_fraction_count_rate_and_eta():
    stream = FakeTerminal()
    bar = Progress(200, "cache", stream=stream, min_interval=0.0)
    bar.start_time -= 10.0  # as if 10 s had passed
    bar.update(50)
    line = bar.render()
    assert line.startswith("cache:  25%|######")
    assert "50/200" in line and "it/s" in line
    assert "<00:30" in line  # 50 in 10 s: 150 more take 30 s
    bar.update(150)
    bar.close()
    bar.close()
    text = stream.getvalue()
    assert text.count("\n") == 1 and "200/200" in text and text.startswith("\r")


def test_silent_when_disabled_or_not_a_terminal_unless_forced():
    for bar in (Progress(5, stream=FakeTerminal(), enabled=False), Progress(5, stream=io.StringIO())):
        bar.update(5)
        bar.close()
        assert bar.stream.getvalue() == "" and bar.done == 5
    forced = Progress(5, stream=io.StringIO(), force=True)
    forced.update(5)
    forced.close()
    assert "5/5" in forced.stream.getvalue()
    unknown = Progress(None, "bytes", stream=FakeTerminal(), unit="B")
    unknown.update(3)
    assert unknown.render().startswith("bytes: 3 [") and "B/s" in unknown.render()


def test_make_progress_accepts_bool_or_callback():
    seen = []
    reporter = make_progress(lambda done, total: seen.append((done, total)), 10)
    assert isinstance(reporter, CallbackProgress)
    with reporter:
        reporter.update(4)
        reporter.update(6)
    assert seen == [(4, 10), (10, 10)]
    assert isinstance(make_progress(False, 3), Progress) and not make_progress(False, 3).active
    assert format_seconds(75.3) == "01:15" and format_seconds(3725) == "1:02:05"
    assert format_seconds(float("inf")) == "?"


def test_progress_writes_plain_lines_to_a_log_file(monkeypatch):
    """Not a terminal: no bar, but one plain line per log_interval, and a final line after one was written."""
    import io

    from minicnn import progress as progress_module

    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: clock[0])
    stream = io.StringIO()
    bar = Progress(100, "epoch 1/2", stream=stream, unit="step", log_interval=60.0)
    for _ in range(50):
        clock[0] += 1.0
        bar.update()
    assert stream.getvalue() == ""  # 50 s: nothing yet
    for _ in range(30):
        clock[0] += 1.0
        bar.update()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "\r" not in stream.getvalue() and lines[0].startswith("epoch 1/2:  60%")
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "80/100" in lines[1]


def test_progress_short_job_stays_silent_in_a_log_file():
    import io

    stream = io.StringIO()
    with Progress(3, "quick", stream=stream) as bar:
        bar.update(3)
    assert stream.getvalue() == ""
