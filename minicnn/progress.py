"""A small, dependency-free progress bar (in the spirit of tqdm).

``Progress(total, desc, enabled)`` draws one line on stderr::

    cache: 42%|########            | 9960/23707 [00:07<00:09, 1423.5 it/s]

It is a no-op when ``enabled`` is False. When the stream is not a terminal (a
log file, ``nohup``, CI) it does not draw a bar but writes the same line as plain
text every ``log_interval`` seconds (60 by default; 0 for silence), so a long run
sent to a file still says how far it got; ``force=True`` draws the bar anyway. Library code never prints on its own:
it accepts ``progress`` as a bool or a callback and turns it into a reporter
with :func:`make_progress`; command-line tools pass ``True``.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO, Union

#: A progress callback receives ``(done, total)`` after every update.
ProgressCallback = Callable[[int, int], None]
#: What library functions accept as their ``progress`` argument.
ProgressArg = Union[bool, ProgressCallback, None]


def format_seconds(seconds: float) -> str:
    """``75.3`` -> ``"01:15"``; ``3725`` -> ``"1:02:05"``; unknown -> ``"?"``."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return "?"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """A progress bar over ``total`` steps (``total=None`` when unknown).

    Args:
        total: number of steps expected, or None (then no bar and no ETA).
        desc: a short label printed before the bar.
        enabled: False turns every method into a no-op.
        force: draw even when ``stream`` is not a terminal.
        stream: where to draw (default ``sys.stderr``).
        unit: the name of one step in the rate (``"it"``, ``"B"``, ...).
        min_interval: seconds between two redraws (the last draw is never skipped).
        width: characters of the bar itself.
        log_interval: on a stream that is not a terminal, seconds between two plain
            lines (0: none); the final line is written only if an earlier one was.
    """

    def __init__(
        self,
        total: int | None,
        desc: str = "",
        enabled: bool = True,
        *,
        force: bool = False,
        stream: TextIO | None = None,
        unit: str = "it",
        min_interval: float = 0.1,
        width: int = 24,
        log_interval: float = 60.0,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.min_interval = min_interval
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.active = bool(enabled) and (force or is_tty)
        self.logging = bool(enabled) and not self.active and log_interval > 0
        self.log_interval = log_interval
        self._logged = False
        self.done = 0
        self.start_time = time.perf_counter()
        self._last_draw = 0.0
        self._closed = False
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps and redraw when ``min_interval`` has passed."""
        self.done += n
        if self.logging:
            now = time.perf_counter()
            if now - self._last_draw >= self.log_interval and now - self.start_time >= self.log_interval:
                self._last_draw, self._logged = now, True
                self.stream.write(self.render(now) + "\n")
                self.stream.flush()
            return
        if not self.active:
            return
        now = time.perf_counter()
        finished = self.total is not None and self.done >= self.total
        if finished or now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._draw(now)

    def set_postfix(self, text: str) -> None:
        """Show ``text`` after the bar (e.g. ``"loss 0.412 acc 0.83"``) from the next redraw on."""
        self.postfix = text

    def set_description(self, desc: str) -> None:
        """Replace the label printed before the bar."""
        self.desc = desc

    def render(self, now: float | None = None) -> str:
        """The current line, without the leading carriage return."""
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self.start_time, 1e-9)
        rate = self.done / elapsed
        rate_text = f"{rate:.1f} {self.unit}/s" if rate < 1e4 else f"{rate:.3g} {self.unit}/s"
        prefix = f"{self.desc}: " if self.desc else ""
        suffix = f" {self.postfix}" if self.postfix else ""
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            filled = int(fraction * self.width)
            bar = "#" * filled + " " * (self.width - filled)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            return (
                f"{prefix}{fraction * 100:3.0f}%|{bar}| {self.done}/{self.total} "
                f"[{format_seconds(elapsed)}<{format_seconds(eta)}, {rate_text}]{suffix}"
            )
        return f"{prefix}{self.done} [{format_seconds(elapsed)}, {rate_text}]{suffix}"

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.render(now))
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line (once)."""
        if self._closed:
            return
        self._closed = True
        if self.logging and self._logged:
            self.stream.write(self.render() + "\n")
            self.stream.flush()
        if self.active:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CallbackProgress:
    """The :class:`Progress` interface forwarding ``(done, total)`` to a callback."""

    def __init__(self, callback: ProgressCallback, total: int | None) -> None:
        self.callback = callback
        self.total = total
        self.done = 0
        self.postfix = ""
        self.desc = ""

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps and call the callback."""
        self.done += n
        self.callback(self.done, self.total if self.total is not None else -1)

    def set_postfix(self, text: str) -> None:
        """Kept for the :class:`Progress` interface; a callback receives counts only."""
        self.postfix = text

    def set_description(self, desc: str) -> None:
        """Kept for the :class:`Progress` interface."""
        self.desc = desc

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> "CallbackProgress":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def make_progress(
    progress: ProgressArg, total: int | None, desc: str = "", unit: str = "it"
) -> Progress | CallbackProgress:
    """Turn a library function's ``progress`` argument into a reporter.

    ``True`` draws a bar on stderr (a plain line a minute when it is not a terminal), ``False``/``None``
    reports nothing, and a callable receives ``(done, total)`` on every update.
    """
    if callable(progress):
        return CallbackProgress(progress, total)
    return Progress(total, desc, enabled=bool(progress), unit=unit)
