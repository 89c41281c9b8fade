"""Share a file with another user, or with anyone by link: the key handed over, never to the server.

- **A share** boxes the file key from the owner to the recipient
  (``shares.seal_share_key``) after the recipient's public key passed the pins
  (:mod:`client.pins`): ``PUT /api/files/{id}/shares/{name}`` with the box and the public
  key it was made for, so the server refuses a box made for a key it no longer holds.
- **A link** is ``{server}/s/{link id}#{fragment}`` (:mod:`coffer.format.links`): the
  server creates the link (expiry, download limit); the fragment, made here, carries
  the file key, plain or locked with a password, and never reaches the server.

Both start from the owner's own record, opened and held to its key commitment, so a
key that is shared is one that opens the file. Used through :class:`client.coffer.Coffer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coffer.format import links
from coffer.format.errors import IntegrityError
from coffer.format.keys import UserKeys
from coffer.format.records import OpenedFile, open_record
from coffer.format.shares import fingerprint, seal_share_key
from coffer.protocol.api.sharing import CreateLink, Share
from coffer.protocol.encoding import b64decode, b64encode
from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import check_id, check_username

from . import errors
from .api import ServerClient
from .pins import KnownKeys


@dataclass(frozen=True)
class PublicKeyInfo:
    """A user's public key as the server hands it out, and its fingerprint for people to compare."""

    name: str
    public_key: bytes = field(repr=False)
    fingerprint: str


@dataclass(frozen=True)
class ShareResult:
    """A share made: with whom, the fingerprint of the key it was boxed to, and whether it is the first with them."""

    file: str
    user: str
    fingerprint: str
    first_time: bool

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ShareInfo:
    """Someone a file is shared with; ``stale`` when a key rotation means the box must be made again."""

    user: str
    created_at: float
    stale: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LinkInfo:
    """A share link and its state; ``url`` (with the key) is known only when it was just made."""

    id: str
    file: str
    created_at: float
    expires_at: float
    max_downloads: int | None
    downloads: int
    protected: bool
    state: str
    revoked_at: float | None = None
    url: str = field(default="", repr=False)  # SECURITY: carries the file key

    @classmethod
    def from_json(cls, data: dict[str, Any], url: str = "") -> LinkInfo:
        return cls(
            id=str(data["id"]),
            file=str(data["file"]),
            created_at=float(data["created_at"]),
            expires_at=float(data["expires_at"]),
            max_downloads=data.get("max_downloads"),
            downloads=int(data.get("downloads", 0)),
            protected=bool(data.get("protected")),
            state=str(data.get("state", "active")),
            revoked_at=data.get("revoked_at"),
            url=url,
        )

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        if not self.url:
            del data["url"]
        return data


def user_name(name: str) -> str:
    """Return *name* if it can be a user name, else a usage error (it goes into URL paths)."""
    try:
        return check_username(name)
    except ProtocolError as exc:
        raise errors.UsageError(f"{name!r} is not a user name: lowercase letters, digits, '.', '_' or '-'") from exc


def file_id_of(text: str) -> str:
    try:
        return check_id(text, "file_id")
    except ProtocolError as exc:
        raise errors.UsageError(f"{text!r} is not a file id (a UUID, as `coffer ls` shows)") from exc


def link_id_of(text: str, server: str) -> str:
    """Return the link id in *text*, a link id or a whole link URL of *server*."""
    if links.is_link(text):
        ref = links.parse_link(text)
        if ref.server.rstrip("/") != server.rstrip("/"):
            raise errors.UsageError(f"that link is of {ref.server}, and you are logged in to {server}")
        return ref.link_id
    try:
        return check_id(text, "link_id")
    except ProtocolError as exc:
        raise errors.UsageError(f"{text!r} is neither a link id nor a link URL (…/s/ID#…)") from exc


def public_key_of(api: ServerClient, name: str) -> PublicKeyInfo:
    """Ask the server for *name*'s public key (not yet checked against the pins)."""
    try:
        answer = api.user_public_key(user_name(name))
    except errors.ApiError as exc:
        if exc.code in ("user_not_found", "user_has_no_keys"):  # older servers told the two apart
            raise errors.NotFoundError(
                f"{name} is not a user with keys: check the name; someone who has never logged in has no keys "
                "yet, so ask them to log in once, then try again",
                code=exc.code,
                status=exc.status,
            ) from exc
        raise
    try:
        public = b64decode(answer.public_key)
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"the server sent a malformed public key for {name}") from exc
    return PublicKeyInfo(name, public, fingerprint(public))


def open_own(api: ServerClient, keys: UserKeys, file_id: str, doing: str) -> OpenedFile:
    """Fetch and open a complete file of the caller's own; only its owner may share or link it."""
    record = api.get_file(file_id_of(file_id)).to_json()
    if record.get("access", "owner") != "owner":
        raise errors.PermissionDenied(
            f"file {file_id} is shared with you by {record.get('owner')}: only its owner can {doing} it",
            code="not_owner",
            status=403,
        )
    if record.get("state") != "complete":
        raise errors.UsageError(f"file {file_id} is not complete: finish its upload (run it again) first")
    return open_record(record, keys)


def share(
    api: ServerClient,
    keys: UserKeys,
    pins: KnownKeys,
    file_id: str,
    name: str,
    *,
    expect_fingerprint: str | None = None,
) -> ShareResult:
    """Box the file key to *name*'s public key once the pins accept it; pin it once the server took the share."""
    opened = open_own(api, keys, file_id, "share")
    recipient = public_key_of(api, name)
    accept = f'coffer share {file_id} {name} --fingerprint "{recipient.fingerprint}"'
    # SECURITY: the key must be the pinned one (or the one compared out of band) before the file key is boxed to it.
    first = pins.check(name, recipient.public_key, expect_fingerprint=expect_fingerprint, accept=accept)
    box = seal_share_key(keys, recipient.public_key, opened.file_id, opened.key)
    try:
        api.put_share(opened.file_id, name, Share(b64encode(box), b64encode(recipient.public_key)))
    except errors.ApiError as exc:
        if exc.code == "public_key_changed":
            raise errors.KeyChanged(
                f"{name}'s public key changed while the share was being made: run the share again, "
                "and compare the fingerprint it shows with them"
            ) from exc
        raise
    if first or expect_fingerprint is not None:
        pins.pin(name, recipient.public_key)
    return ShareResult(opened.file_id, name, recipient.fingerprint, first)


def create_link(
    api: ServerClient,
    keys: UserKeys,
    file_id: str,
    *,
    expires_in: float | None = None,
    max_downloads: int | None = None,
    password: str | None = None,
) -> LinkInfo:
    """Make a link for a file: the server keeps its limits, the URL's fragment its key (locked if *password*)."""
    if password is not None and not password:
        raise errors.UsageError("a link password cannot be empty")
    opened = open_own(api, keys, file_id, "make links of")
    answer = api.create_link(opened.file_id, CreateLink(expires_in, max_downloads, protected=password is not None))
    link_id = answer.id
    try:
        if password is None:
            fragment = links.plain_fragment(opened.key)
        else:
            fragment = links.locked_fragment(opened.key, link_id, password)
    except BaseException:
        _revoke_quietly(api, link_id)  # a link nobody can open is no use to keep
        raise
    return LinkInfo.from_json(answer.to_json(), links.link_url(api.url, link_id, fragment))


def _revoke_quietly(api: ServerClient, link_id: str) -> None:
    try:
        api.delete_link(link_id)
    except errors.ClientError:
        pass


def stale_share_problem(record: dict[str, Any], exc: IntegrityError) -> IntegrityError:
    """Say what a share box that does not open means when a key rotation left it stale, or keep *exc*.

    ``share_stale``: the owner boxed the key for a pair that was rotated away since (theirs or
    this user's), so only the owner can help, by sharing the file again.
    """
    if record.get("access") != "shared" or not record.get("share_stale"):
        return exc
    owner = record.get("owner") or "its owner"
    return IntegrityError(
        f"file {record.get('id')} was shared with you for a key pair that was rotated since (`coffer keys rotate`): "
        f"ask {owner} to share it again"
    )
