"""The error body every Coffer HTTP answer carries, and the base of every error tree.

Each program (server, fileserver, client) keeps its own hierarchy in its own
``errors.py``; they all derive from :class:`CofferError` so that one function
turns any of them into the wire body ``{"error": code, "message": text}``, and
the client can turn a body back into the matching exception by its code.

    CofferError
    ├── ProtocolError      a message that breaks this protocol (bad base64, JSON, field)
    └── (each program's own tree)
"""

from __future__ import annotations

from typing import Any


class CofferError(Exception):
    """An error that is meant to be shown: it has a stable code and an HTTP status."""

    code = "error"
    status = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}
        """Machine-readable facts added to the body beside ``error`` and ``message`` (a quota's figures)."""
        self.headers = headers or {}
        """Response headers the answer must carry (``Retry-After`` on a 429)."""

    def body(self) -> dict[str, Any]:
        """Return the JSON body that carries this error on the wire."""
        return {**self.details, "error": self.code, "message": self.message}


class ProtocolError(CofferError):
    """A message does not follow the protocol: the sender must fix its request."""

    code = "bad_request"
    status = 400


def parse_error_body(body: Any) -> tuple[str, str] | None:
    """Return ``(code, message)`` from an error body, or None if it is not one."""
    if isinstance(body, dict):
        code, message = body.get("error"), body.get("message")
        if isinstance(code, str) and isinstance(message, str):
            return code, message
    return None
