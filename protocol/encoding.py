"""Encode bytes and JSON the one way every program signs and checks them."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


class DecodeError(ValueError):
    """Raised when text that should be base64url or JSON is not."""


def b64encode(data: bytes) -> str:
    """Encode *data* as unpadded base64url, safe in URLs, headers and JSON."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str, *, max_length: int = 1 << 20) -> bytes:
    """Decode unpadded base64url, refusing oversized or non-canonical input."""
    if not isinstance(text, str) or len(text) > max_length:
        raise DecodeError("not a base64url string of acceptable length")
    if "=" in text or "+" in text or "/" in text:
        raise DecodeError("base64url must be unpadded and URL-safe")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("invalid base64url") from exc
    if b64encode(data) != text:
        raise DecodeError("non-canonical base64url")
    return data


def canonical_json(value: Any) -> bytes:
    """Serialise *value* deterministically, so that a signature over it is stable."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Parse *data* as a JSON object; anything else is a DecodeError."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise DecodeError("invalid JSON") from exc
    if not isinstance(value, dict):
        raise DecodeError("JSON value must be an object")
    return value
