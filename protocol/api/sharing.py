"""Shares and links: boxing a file key to a user, making a link, and fetching tickets through one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ..ids import check_id
from .fields import answer_field, key_bytes, list_of, object_of, opaque
from .files import MAX_SEALED_KEY_BYTES
from .tickets import parse_wanted

PUBLIC_KEY_BYTES = 32
MAX_DOWNLOADS = 1_000_000


@dataclass(frozen=True)
class Share:
    """``PUT /api/files/{id}/shares/{name}``: the file key boxed to the recipient, and the key it was boxed to.

    SECURITY: the server stores the box only if ``public_key`` is still the recipient's
    key, so a key swapped under the sender is noticed instead of a box nobody can open.
    """

    share_key: str
    public_key: str

    def to_json(self) -> dict[str, Any]:
        return {"share_key": self.share_key, "public_key": self.public_key}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Share:
        """Check both fields for shape only: the server cannot open a box, and should not try."""
        share_key = opaque(body, "share_key", MAX_SEALED_KEY_BYTES)
        if not share_key:
            raise ProtocolError("'share_key' must not be empty", code="invalid_share_key")
        key_bytes(body.get("public_key"), "public_key", PUBLIC_KEY_BYTES)
        return cls(share_key, str(body["public_key"]))


@dataclass(frozen=True)
class PublicKey:
    """``GET /api/users/{name}/public-key``: a user's key, to be checked against the pins before use."""

    name: str
    public_key: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "public_key": self.public_key}

    @classmethod
    def parse(cls, value: object) -> PublicKey:
        body = object_of(value, "a public key answer")
        return cls(answer_field(body, "name", str), answer_field(body, "public_key", str))


@dataclass(frozen=True)
class CreateLink:
    """``POST /api/files/{id}/links``: how long the link lives, how often it may be used, and whether it is locked."""

    expires_in: float | None = None
    """Seconds to live; None takes the server's default."""
    max_downloads: int | None = None
    protected: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"protected": self.protected}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if self.max_downloads is not None:
            body["max_downloads"] = self.max_downloads
        return body

    @classmethod
    def parse(cls, body: Mapping[str, Any], *, max_retention: float) -> CreateLink:
        """Check the body against the server's maximum retention, in the order the server always has."""
        expires_in = body.get("expires_in")
        if "expires_in" in body and (
            not isinstance(expires_in, int | float)
            or isinstance(expires_in, bool)
            or not 0 < expires_in <= max_retention
        ):
            raise ProtocolError(
                f"'expires_in' must be a number of seconds above 0 and at most {max_retention:.0f}",
                code="invalid_expires_in",
            )
        limit = body.get("max_downloads")
        bad_limit = not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_DOWNLOADS
        if limit is not None and bad_limit:
            raise ProtocolError(
                f"'max_downloads' must be an integer from 1 to {MAX_DOWNLOADS}, or null for no limit",
                code="invalid_max_downloads",
            )
        protected = body.get("protected", False)
        if not isinstance(protected, bool):
            raise ProtocolError("'protected' must be true or false", code="invalid_protected")
        return cls(None if expires_in is None else float(expires_in), limit, protected)


@dataclass(frozen=True)
class LinkTicketsRequest:
    """``POST /api/links/{id}/tickets``: fresh tickets for a started download, for all or some chunks."""

    download: str
    chunks: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"download": self.download}
        if self.chunks is not None:
            body["chunks"] = list(self.chunks)
        return body

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> LinkTicketsRequest:
        return cls(check_id(body.get("download"), "download"), parse_wanted(body.get("chunks")))


MAX_LISTED_LINKS = 100_000
"""Links in one listing the client accepts."""


@dataclass(frozen=True)
class Link:
    """A share link as its owner and administrators see it (never its key, which only the URL carries)."""

    id: str
    file: str
    created_at: float
    expires_at: float
    max_downloads: int | None
    downloads: int
    protected: bool
    state: str
    revoked_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.file,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "max_downloads": self.max_downloads,
            "downloads": self.downloads,
            "protected": self.protected,
            "state": self.state,
            "revoked_at": self.revoked_at,
        }

    @classmethod
    def parse(cls, value: object) -> Link:
        body = object_of(value, "a link")
        return cls(
            id=answer_field(body, "id", str),
            file=answer_field(body, "file", str),
            created_at=answer_field(body, "created_at", (int, float)),
            expires_at=answer_field(body, "expires_at", (int, float)),
            max_downloads=answer_field(body, "max_downloads", int, optional=True),
            downloads=answer_field(body, "downloads", int),
            protected=answer_field(body, "protected", bool),
            state=answer_field(body, "state", str),
            revoked_at=answer_field(body, "revoked_at", (int, float), optional=True),
        )


def parse_links(value: object) -> list[Link]:
    """Read ``GET /api/links``: the caller's links, newest first."""
    return [Link.parse(item) for item in list_of(value, "the link listing", MAX_LISTED_LINKS)]
