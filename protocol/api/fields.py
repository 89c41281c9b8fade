"""Check one field of a JSON body, raising the ``invalid_<field>`` error the server answers with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..encoding import DecodeError, b64decode
from ..errors import ProtocolError

MIN_LIFETIME = 60.0
"""The shortest ``expires_in`` a file or link may ask for: one gone before it could be used is a mistake."""
MAX_LIFETIME = 100 * 365 * 86400.0
"""Far past any server's retention: bounds the number before the server checks its own maximum."""


def bounded_int(body: Mapping[str, Any], key: str, low: int, high: int) -> int:
    """Return an integer field from *low* to *high* inclusive."""
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ProtocolError(f"'{key}' must be an integer from {low} to {high}", code=f"invalid_{key}")
    return value


def opaque(body: Mapping[str, Any], key: str, limit: int) -> str:
    """Return an opaque base64url field of at most *limit* bytes, as the sender wrote it."""
    value = body.get(key)
    try:
        if len(b64decode(value, max_length=limit * 2)) > limit:  # type: ignore[arg-type]
            raise DecodeError("too long")
    except DecodeError as exc:
        raise ProtocolError(f"'{key}' must be base64url of at most {limit} bytes", code=f"invalid_{key}") from exc
    return str(value)


def key_bytes(value: object, field: str, size: int, *, at_most: int | None = None) -> bytes:
    """Decode a base64url field of exactly *size* bytes (or *size* to *at_most* bytes)."""
    try:
        raw = b64decode(value, max_length=1024)  # type: ignore[arg-type]
    except DecodeError as exc:
        raise ProtocolError(f"'{field}' must be base64url", code=f"invalid_{field}") from exc
    if not size <= len(raw) <= (at_most or size):
        wanted = f"{size} to {at_most}" if at_most else f"{size}"
        raise ProtocolError(f"'{field}' must be {wanted} bytes", code=f"invalid_{field}")
    return raw


def seconds(body: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    """Return a number of seconds from *low* to *high*, or None when the field is absent.

    The bounds also refuse NaN and infinity (``1e400`` parses as infinity), and the
    message quotes them, never the input: a 300-digit number is the sender's own.
    """
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ProtocolError(f"'{key}' must be a number of seconds from {low:.0f} to {high:.0f}", code=f"invalid_{key}")
    return float(value)


def answer_field(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    """Return a field of an answer if it has the expected JSON type; the client refuses a malformed answer."""
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
        raise ProtocolError(f"the server's answer has a malformed '{key}'", code="invalid_answer")
    return value


def object_of(value: object, what: str) -> Mapping[str, Any]:
    """Return *value* if it is a JSON object."""
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be an object", code="invalid_answer")
    return value


def list_of(value: object, what: str, limit: int) -> list[Any]:
    """Return *value* if it is a JSON list of at most *limit* items."""
    if not isinstance(value, list) or len(value) > limit:
        raise ProtocolError(f"{what} must be a list of at most {limit} items", code="invalid_answer")
    return value
