"""Shares and links: boxing a file key to a user, making a link, and fetching tickets through one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProtocolError
from ..ids import check_id
from .fields import MIN_LIFETIME, answer_field, key_bytes, list_of, object_of, opaque, seconds
from .files import MAX_CHUNK_COUNT, MAX_SEALED_KEY_BYTES, ChunkEntry
from .pages import MAX_PAGE_SIZE
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
        expires_in = seconds(body, "expires_in", MIN_LIFETIME, max_retention)
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
        return cls(expires_in, limit, protected)


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
    owner: str | None = None
    """The owner's name, in an administrator's listing (``GET /api/admin/links``) only."""

    def to_json(self) -> dict[str, Any]:
        body = {
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
        if self.owner is not None:
            body["owner"] = self.owner
        return body

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
            owner=answer_field(body, "owner", str, optional=True),
        )


def parse_links(value: object) -> list[Link]:
    """Read the bare list ``GET /api/links`` answers a request that asks for no page: links, newest first."""
    return [Link.parse(item) for item in list_of(value, "the link listing", MAX_LISTED_LINKS)]


@dataclass(frozen=True)
class LinkPage:
    """``GET /api/links?limit=&after=``: a page of the caller's links, newest first, and the next cursor or None."""

    links: tuple[Link, ...]
    next: str | None

    def to_json(self) -> dict[str, Any]:
        return {"links": [link.to_json() for link in self.links], "next": self.next}

    @classmethod
    def parse(cls, value: object) -> LinkPage:
        """Read a page; a bare list is the whole listing from a server that predates pages."""
        if isinstance(value, list):
            return cls(links=tuple(parse_links(value)), next=None)
        body = object_of(value, "a page of links")
        listed = list_of(body.get("links"), "the page's 'links'", MAX_PAGE_SIZE)
        return cls(
            links=tuple(Link.parse(item) for item in listed),
            next=answer_field(body, "next", str, optional=True),
        )


MAX_LISTED_SHARES = 100_000
"""Recipients of one file the client accepts in a listing: the server keeps one share per user and
caps neither, so this is the same bound as a listing of links."""


@dataclass(frozen=True)
class ShareEntry:
    """One recipient in ``GET /api/files/{id}/shares``: who, since when, and whether the box must be made again.

    ``stale``: the box was made with or for a key pair that was rotated away since (never the box itself).
    """

    user: str
    created_at: float
    stale: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "created_at": self.created_at, "stale": self.stale}

    @classmethod
    def parse(cls, value: object) -> ShareEntry:
        body = object_of(value, "a share")
        stale = answer_field(body, "stale", bool, optional=True)
        return cls(answer_field(body, "user", str), answer_field(body, "created_at", (int, float)), bool(stale))


def parse_shares(value: object) -> list[ShareEntry]:
    """Read ``GET /api/files/{id}/shares``: the file's recipients, by name."""
    return [ShareEntry.parse(item) for item in list_of(value, "the share listing", MAX_LISTED_SHARES)]


@dataclass(frozen=True)
class PublicLink:
    """A link as anyone holding its URL sees it: no file owner, no creation time."""

    id: str
    expires_at: float
    max_downloads: int | None
    downloads: int
    protected: bool
    state: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "expires_at": self.expires_at,
            "max_downloads": self.max_downloads,
            "downloads": self.downloads,
            "protected": self.protected,
            "state": self.state,
        }

    @classmethod
    def parse(cls, value: object) -> PublicLink:
        body = object_of(value, "a link")
        return cls(
            id=answer_field(body, "id", str),
            expires_at=answer_field(body, "expires_at", (int, float)),
            max_downloads=answer_field(body, "max_downloads", int, optional=True),
            downloads=answer_field(body, "downloads", int),
            protected=answer_field(body, "protected", bool),
            state=answer_field(body, "state", str),
        )


@dataclass(frozen=True)
class LinkedFile:
    """The file behind a link, as anyone holding its URL sees it: no owner, no sealed key, its chunk list.

    SECURITY: the metadata and chunks stay sealed; only the key in the URL's fragment opens them.
    """

    id: str
    size: int
    chunk_count: int
    chunk_size: int
    metadata: str
    key_commitment: str | None
    state: str
    expires_at: float
    format_version: int
    """The encryption format of the file's bytes (``format`` on the wire)."""
    shard: str
    chunks: tuple[ChunkEntry, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields a newer server sent that this version does not know, kept so the record round-trips."""

    def to_json(self) -> dict[str, Any]:
        body = {
            "id": self.id,
            "size": self.size,
            "chunk_count": self.chunk_count,
            "chunk_size": self.chunk_size,
            "metadata": self.metadata,
            "key_commitment": self.key_commitment,
            "state": self.state,
            "expires_at": self.expires_at,
            "format": self.format_version,
            "shard": self.shard,
            "chunks": [c.to_json() for c in self.chunks],
        }
        return {**self.extra, **body}

    @classmethod
    def parse(cls, value: object) -> LinkedFile:
        body = object_of(value, "the linked file")
        count = answer_field(body, "chunk_count", int)
        listed = list_of(body.get("chunks"), "'chunks'", min(count, MAX_CHUNK_COUNT))
        return cls(
            id=answer_field(body, "id", str),
            size=answer_field(body, "size", int),
            chunk_count=count,
            chunk_size=answer_field(body, "chunk_size", int),
            metadata=answer_field(body, "metadata", str),
            key_commitment=answer_field(body, "key_commitment", str, optional=True),
            state=answer_field(body, "state", str),
            expires_at=answer_field(body, "expires_at", (int, float)),
            format_version=answer_field(body, "format", int),
            shard=answer_field(body, "shard", str),
            chunks=tuple(ChunkEntry.parse(c) for c in listed),
            extra={k: v for k, v in body.items() if k not in _LINKED_FILE_FIELDS},
        )


_LINKED_FILE_FIELDS = frozenset(LinkedFile.__dataclass_fields__) - {"extra", "format_version"} | {"format"}


@dataclass(frozen=True)
class LinkView:
    """``GET /api/links/{id}``: the link and its file's record, counting nothing; needs no account."""

    link: PublicLink
    file: LinkedFile

    def to_json(self) -> dict[str, Any]:
        return {"link": self.link.to_json(), "file": self.file.to_json()}

    @classmethod
    def parse(cls, value: object) -> LinkView:
        body = object_of(value, "the link answer")
        return cls(PublicLink.parse(body.get("link")), LinkedFile.parse(body.get("file")))


@dataclass(frozen=True)
class AdminShare:
    """One share in an administrator's listing (``GET /api/admin/shares``): file, owner, recipient, since when."""

    file: str
    owner: str
    user: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "owner": self.owner, "user": self.user, "created_at": self.created_at}

    @classmethod
    def parse(cls, value: object) -> AdminShare:
        body = object_of(value, "a share")
        return cls(
            file=answer_field(body, "file", str),
            owner=answer_field(body, "owner", str),
            user=answer_field(body, "user", str),
            created_at=answer_field(body, "created_at", (int, float)),
        )


MAX_ADMIN_SHARES = 1_000_000
"""Shares in an administrator's listing: the server caps none, so the bound of a file listing."""
MAX_ADMIN_LINKS = 1_000_000
"""Links in an administrator's listing, every owner's: the server caps none, so the bound of a file listing."""


def parse_admin_links(value: object) -> list[Link]:
    """Read ``GET /api/admin/links``: every link that matches, newest first, each with its owner's name."""
    return [Link.parse(item) for item in list_of(value, "the link listing", MAX_ADMIN_LINKS)]


def parse_admin_shares(value: object) -> list[AdminShare]:
    """Read ``GET /api/admin/shares``: every share that matches, oldest first."""
    return [AdminShare.parse(item) for item in list_of(value, "the share listing", MAX_ADMIN_SHARES)]
