"""Progress bars for long transfers, and the transfer's warnings printed above them.

Bars appear on a terminal only, never in a pipe or with --quiet. tqdm draws them
(ETA, terminal width, smoothing), which is more than we would write well
ourselves; it writes to stderr, so stdout stays for results a script reads. The
figures are ours (:mod:`coffer.protocol.units`), so the bar and the summary after
it speak the same decimal units.

A fileserver that fails mid-transfer is logged by the transfer engine; here each
such warning becomes one sentence written above the bar (never through it),
naming the chunk, the fileserver and the reason, once per fileserver and cause:
a dead fileserver fails every chunk sent to it, and one line says so.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from coffer.protocol.units import human_bytes, human_rate

if TYPE_CHECKING:
    from tqdm import tqdm

Progress = Callable[[int, int], None]

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {done}/{size} [{elapsed}<{remaining}, {speed}]"
"""tqdm's default layout, with our own byte figures in place of its binary-or-decimal ones."""

ENGINE_LOGGER = "coffer"
"""The logger above the transfer engine's and the client's: their warnings reach the person through it."""


def bar_figures(done: float, total: float | None, rate: float | None) -> dict[str, str]:
    """Return the bar's byte figures: ``done``, ``size`` and ``speed``, in decimal units."""
    return {
        "done": human_bytes(done),
        "size": human_bytes(total) if total is not None else "?",
        "speed": human_rate(rate) if rate else "? MB/s",
    }


def warning_line(event: str, facts: Mapping[str, Any]) -> str:
    """Return a transfer warning as one sentence for the person watching it.

    ``chunk upload failed`` with its chunk, fileserver and reason becomes
    ``coffer: warning: chunk 3 upload failed on http://fs:8001: <reason>; ...``.
    """
    chunk, fileserver, reason = facts.get("chunk"), facts.get("fs"), facts.get("reason")
    what = f"chunk {chunk} {event.removeprefix('chunk ')}" if chunk is not None else event
    where = f" on {fileserver}" if fileserver else ""
    why = f": {reason}" if reason else f" ({facts['error']})" if facts.get("error") else ""
    then = "; trying another fileserver (shown once per fileserver and cause)" if fileserver else ""
    return f"coffer: warning: {what}{where}{why}{then}"


class TransferWarnings(logging.Handler):
    """Write each warning once per fileserver and cause, as a sentence, through *write*."""

    def __init__(self, write: Callable[[str], None]):
        super().__init__(logging.WARNING)
        self._write = write
        self._seen: set[tuple[str, str, str]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        kv = getattr(record, "kv", None)
        facts: Mapping[str, Any] = kv if isinstance(kv, dict) else {}
        event = record.getMessage()
        cause = (event, str(facts.get("fs", "")), str(facts.get("error") or facts.get("reason") or ""))
        if cause in self._seen:  # emit runs under the handler's lock: workers log from their own threads
            return
        self._seen.add(cause)
        self._write(warning_line(event, facts))


class _Bar:
    """One file's bar, drawn from its first figures on, and wiped if the transfer fails."""

    def __init__(self, label: str):
        self.label = label
        self.drawn: tqdm[Any] | None = None

    def update(self, done: int, total: int) -> None:
        if self.drawn is None:
            self.drawn = _decimal_bar(self.label, total)
        if self.drawn.total != total:
            self.drawn.total = total
        self.drawn.update(done - self.drawn.n)

    def write(self, line: str) -> None:
        if self.drawn is None:
            print(line, file=sys.stderr, flush=True)
        else:
            self.drawn.write(line, file=sys.stderr)

    def close(self, *, keep: bool) -> None:
        """Close the bar; unless *keep*, clear it, so a failure's message is not left below a stray bar."""
        if self.drawn is not None:
            self.drawn.leave = keep
            self.drawn.close()


def _decimal_bar(label: str, total: int) -> tqdm[Any]:
    from tqdm import tqdm  # only here: a command in a pipe or with --quiet does not pay for its import

    class DecimalBar(tqdm):  # type: ignore[type-arg]
        @property
        def format_dict(self) -> MutableMapping[str, Any]:
            figures = super().format_dict
            rate = figures.get("rate") or (self.n / figures["elapsed"] if figures.get("elapsed") else None)
            figures.update(bar_figures(self.n, self.total, rate))
            return figures

    return DecimalBar(desc=label, total=total, bar_format=BAR_FORMAT, file=sys.stderr, leave=True)


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def bar(label: str, enabled: bool) -> Iterator[Progress | None]:
    """Yield an ``on_progress(done, total)`` callback that draws a bar, or None when disabled.

    Either way, the transfer's warnings are printed as sentences while it runs
    (above the bar when there is one); a bar is left on screen only when the
    transfer succeeds.
    """
    drawn = _Bar(label) if enabled and sys.stderr.isatty() else None
    handler = TransferWarnings(drawn.write if drawn is not None else _print)
    logger = logging.getLogger(ENGINE_LOGGER)
    logger.addHandler(handler)
    try:
        yield drawn.update if drawn is not None else None
    except BaseException:
        if drawn is not None:
            drawn.close(keep=False)
        raise
    else:
        if drawn is not None:
            drawn.close(keep=True)
    finally:
        logger.removeHandler(handler)
