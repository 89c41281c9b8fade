"""One key=value log line per event, quoted so grep and log shippers read it the same way."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.protocol.logs import KeyValueFormatter, configure

ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ "]*)(?: |$)')


def line(message: str = "chunk stored", kv: dict[str, Any] | None = None, **extra: Any) -> str:
    record = logging.LogRecord("fileserver.chunks", logging.INFO, __file__, 1, message, None, None)
    if kv is not None:
        record.kv = kv
    record.__dict__.update(extra)
    return KeyValueFormatter().format(record)


def fields(text: str) -> dict[str, str]:
    """Read a line back the way a logfmt reader would: unquote and unescape quoted values."""
    found: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = FIELD.match(text, position)
        assert match, f"unreadable at {position}: {text[position:]!r}"
        key, value = match.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(1)), value[1:-1])
        found[key] = value
        position = match.end()
    return found


def test_line_starts_with_time_level_logger_and_event() -> None:
    text = line(created=0.0, msecs=7.0)
    assert text == 'ts=1970-01-01T00:00:00.007Z level=info logger=fileserver.chunks event="chunk stored"'


def test_level_is_written_in_lower_case() -> None:
    record = logging.LogRecord("server", logging.WARNING, __file__, 1, "slow", None, None)
    assert " level=warning " in KeyValueFormatter().format(record)


def test_kv_extras_follow_the_event_in_order() -> None:
    text = line("stored", {"shard": "europe-1", "size": 42, "created": True, "took": 0.5})
    assert text.endswith(" event=stored shard=europe-1 size=42 created=True took=0.5")


def test_record_without_kv_has_only_the_standard_fields() -> None:
    assert list(fields(line("stored"))) == ["ts", "level", "logger", "event"]


def test_kv_that_is_not_a_dict_is_ignored() -> None:
    assert list(fields(line("stored", kv="shard=x"))) == ["ts", "level", "logger", "event"]  # type: ignore[arg-type]


def test_message_arguments_are_interpolated() -> None:
    record = logging.LogRecord("server", logging.INFO, __file__, 1, "got %d chunks", (3,), None)
    assert fields(KeyValueFormatter().format(record))["event"] == "got 3 chunks"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("europe-1", "europe-1"),
        ("two words", '"two words"'),
        ('say "hi"', r'"say \"hi\""'),
        ("a=b", '"a=b"'),
        ("line\nbreak", r'"line\nbreak"'),
        ("", '""'),
        ("back\\slash", "back\\slash"),
        ("back\\ slash", r'"back\\ slash"'),
        (None, "None"),
    ],
)
def test_values_are_quoted_only_when_they_need_it(value: object, written: str) -> None:
    assert line("e", {"k": value}).endswith(f" k={written}")


def test_tab_forces_quoting_and_reads_back() -> None:
    text = line("e", {"k": "tab\there"})
    assert '"' in text.partition(" k=")[2]
    assert fields(text)["k"] == "tab\there"


def test_every_record_is_one_line_even_with_newlines_in_message_and_values() -> None:
    text = line("first\nsecond", {"path": "a\nb", "reason": "x\n\ny"})
    assert "\n" not in text
    assert fields(text)["event"] == "first\nsecond"
    assert fields(text)["reason"] == "x\n\ny"


def test_exception_is_named_and_its_trace_kept_on_the_same_line() -> None:
    try:
        raise ValueError("bad chunk\nsecond line")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("server", logging.ERROR, __file__, 1, "failed", None, exc_info)
    text = KeyValueFormatter().format(record)
    assert "\n" not in text
    parsed = fields(text)
    assert parsed["exc"] == "ValueError"
    assert parsed["trace"].startswith("Traceback (most recent call last):\n")
    assert parsed["trace"].endswith("ValueError: bad chunk\nsecond line")


# Printable ASCII plus the whitespace the formatter promises to handle (space, tab, newline).
log_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\t\n"), max_size=40)


@settings(deadline=None)
@given(message=log_text, kv=st.dictionaries(st.from_regex(r"\A[a-z_]{1,10}\Z"), log_text, max_size=5))
def test_any_message_and_values_read_back_from_one_line(message: str, kv: dict[str, str]) -> None:
    text = line(message, kv)
    assert "\n" not in text
    parsed = fields(text)
    assert parsed["event"] == message
    for key, value in kv.items():
        assert parsed[key] == value


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_sends_key_value_lines_to_stderr(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("warning")
    assert root_logger.level == logging.WARNING
    assert len(root_logger.handlers) == 1
    assert isinstance(root_logger.handlers[0].formatter, KeyValueFormatter)
    logging.getLogger("coffer.test").info("hidden")
    logging.getLogger("coffer.test").warning("shown", extra={"kv": {"shard": "europe-1"}})
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "logger=coffer.test event=shown shard=europe-1" in err


def test_sdk_loggers_stay_at_warning_even_when_we_debug() -> None:
    """botocore, urllib3 and the Azure/Google SDKs print signed headers and URLs at DEBUG."""
    import logging

    from coffer.protocol.logs import QUIET_LOGGERS, configure

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure("debug")
        assert root.level == logging.DEBUG
        assert all(logging.getLogger(name).getEffectiveLevel() == logging.WARNING for name in QUIET_LOGGERS)
        assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
