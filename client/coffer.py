"""The Python API of a Coffer user: log in, upload, download, list, inspect and remove files.

The ``coffer`` command line is a thin layer over this class::

    with Coffer.login("http://127.0.0.1:8000", "alice", password) as coffer:
        result = coffer.upload(Path("big.iso"), on_progress=lambda done, total: ...)
        coffer.download(result.file_id, Path("copy.iso"))
        coffer.share(result.file_id, "bob")          # bob's key checked against the pins
        print(coffer.link(result.file_id, expires_in=86400).url)

Everything is encrypted and decrypted here (see :mod:`coffer.format`); the server
sees sizes, hashes and sealed blobs only. Transfers resume: an interrupted upload or
download run again moves only what is missing (:mod:`client.resume`). Sharing is in
:mod:`client.sharing`, the pins of other users' keys in :mod:`client.pins`, and a download
by link, which needs no account, in :mod:`client.link_download`.

What only accounts, sharing and deletion use is imported by the method that uses it, as
in :mod:`client.server_api`: a ``coffer upload`` process never loads those modules.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from coffer.format import kdf
from coffer.format.errors import IntegrityError, UnknownFormatVersion
from coffer.format.keys import UserKeys, unwrap_private_key, wrap_private_key
from coffer.format.metadata import Metadata
from coffer.format.records import OwnerCheck, open_record
from coffer.format.shares import fingerprint
from coffer.format.sizes import DEFAULT_CHUNK_SIZE, file_plain_size
from coffer.protocol.api.files import FileFilter
from coffer.protocol.encoding import b64decode, b64encode
from coffer.transfer.http import ChunkClient

from . import errors, resume, session
from .api import ServerClient, checked_kdf_params
from .download import DEFAULT_IN_FLIGHT as DOWNLOAD_IN_FLIGHT
from .download import Downloader, DownloadResult, Source, file_source
from .pins import KnownKeys
from .server_api import NO_FILTER
from .sites import site_choice
from .upload import DEFAULT_IN_FLIGHT as UPLOAD_IN_FLIGHT
from .upload import Uploader, UploadOptions, UploadResult

if TYPE_CHECKING:
    from .sharing import LinkInfo, PublicKeyInfo, ShareInfo, ShareResult

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class FileInfo:
    """One of the user's files, or one shared with them, its metadata decrypted.

    ``size`` is the plaintext size (from the record's layout, so it is known even for a
    file whose upload is still pending); ``name``, ``type``, ``mtime`` and ``sha256`` are
    empty when the metadata cannot be opened (a pending upload carries a placeholder), and
    ``problem`` then says why. ``access`` is ``owner`` or ``shared`` (by ``owner``).
    """

    id: str
    name: str
    size: int
    type: str
    mtime: float
    sha256: str
    shard: str
    state: str
    chunk_count: int
    stored_size: int
    created_at: float
    expires_at: float
    completed_at: float | None
    owner: str = ""
    access: str = "owner"
    problem: str = ""

    @classmethod
    def from_record(cls, record: dict[str, Any], keys: UserKeys, check_owner: OwnerCheck | None = None) -> FileInfo:
        from . import sharing

        count = int(record["chunk_count"])
        problem = ""
        try:
            meta: Metadata | None = open_record(record, keys, check_owner).metadata
        except IntegrityError as exc:
            meta, problem = None, sharing.stale_share_problem(record, exc).message
        except (UnknownFormatVersion, errors.KeyChanged) as exc:
            meta, problem = None, exc.message
        return cls(
            id=record["id"],
            name=meta.name if meta else "",
            size=file_plain_size(int(record["size"]), count),
            type=meta.type if meta else "",
            mtime=meta.mtime if meta else 0.0,
            sha256=meta.sha256 if meta else "",
            shard=record["shard"],
            state=record["state"],
            chunk_count=count,
            stored_size=int(record["size"]),
            created_at=record["created_at"],
            expires_at=record["expires_at"],
            completed_at=record.get("completed_at"),
            owner=str(record.get("owner", "")),
            access=str(record.get("access", "owner")),
            problem=problem,
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


UNANSWERED = errors.ApiError(
    "the server neither deleted nor refused this file: list your files to see whether it is still there",
    code="invalid_answer",
)


class Coffer:
    """A logged-in user of one Coffer server.

    Build one with :meth:`login` (password → keys, Argon2id) or :meth:`from_session`
    (a session the CLI stored), or directly from a token and the user's key pair.
    Close it (or use it as a context manager) to release its connections.
    """

    def __init__(
        self,
        server_url: str,
        token: str,
        keys: UserKeys,
        *,
        username: str = "",
        expires_at: float = 0.0,
        config_dir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        chunk_transport: httpx.BaseTransport | None = None,
        on_wait: Callable[[float], None] | None = None,
    ):
        self.api = ServerClient(server_url, token, transport=transport, on_wait=on_wait)
        self.chunks = ChunkClient(transport=chunk_transport, site=site_choice(None))
        self.keys = keys  # SECURITY: holds the private key
        self.username = username
        self.expires_at = expires_at
        self.config_dir = config_dir if config_dir is not None else session.config_dir()
        self._user_id: str | None = None

    @classmethod
    def login(
        cls,
        server: str,
        username: str,
        password: str,
        *,
        config_dir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        chunk_transport: httpx.BaseTransport | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> Coffer:
        """Log in: derive the keys from the password, open a session, unwrap (or first create) the key pair."""
        from coffer.protocol.api.auth import Login

        api = ServerClient(server, transport=transport, on_wait=on_wait)
        try:
            params = checked_kdf_params(api.prelogin(username))
            derived = kdf.derive(password, params)  # SECURITY: the master key stays in this process
            answer = api.open_session(Login(username, derived.auth_key))
            api.token = answer.token
            keys = _user_keys(api, derived.master_key)
        finally:
            api.close()
        coffer = cls(
            server,
            answer.token,
            keys,
            username=username,
            expires_at=float(answer.expires_at),
            config_dir=config_dir,
            transport=transport,
            chunk_transport=chunk_transport,
            on_wait=on_wait,
        )
        coffer._user_id = answer.user.id
        return coffer

    @classmethod
    def join(
        cls,
        server: str,
        code: str,
        password: str,
        *,
        config_dir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        chunk_transport: httpx.BaseTransport | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> Coffer:
        """Spend invitation *code*: make the password's keys and a key pair here, create the account, log in.

        SECURITY: the key pair is born in this process; the server gets the private key only
        wrapped under a master key derived from *password*, which never leaves it.
        """
        from coffer.protocol.api.auth import Login

        from . import invitations

        joining = invitations.prepare(code, password)
        api = ServerClient(server, transport=transport, on_wait=on_wait)
        try:
            account = api.join(joining.request)
            answer = api.open_session(Login(account.name, joining.derived.auth_key))
        finally:
            api.close()
        coffer = cls(
            server,
            answer.token,
            joining.keys,
            username=account.name,
            expires_at=float(answer.expires_at),
            config_dir=config_dir,
            transport=transport,
            chunk_transport=chunk_transport,
            on_wait=on_wait,
        )
        coffer._user_id = account.id
        return coffer

    @classmethod
    def from_session(cls, stored: session.StoredSession, **kwargs: Any) -> Coffer:
        """Resume a session the CLI stored at login (token and key pair; no password needed)."""
        if not stored.private_key or not stored.public_key:
            raise errors.NotLoggedIn("the stored session has no keys (an older version made it): run `coffer login`")
        keys = UserKeys(b64decode(stored.private_key), b64decode(stored.public_key))
        coffer = cls(
            stored.server, stored.token, keys, username=stored.username, expires_at=stored.expires_at, **kwargs
        )
        coffer._user_id = stored.user_id or None  # a command needs no round trip to learn whose session it is
        return coffer

    def stored_session(self) -> session.StoredSession:
        """Return what to store so a later command can resume this session. SECURITY: holds the private key."""
        assert self.api.token is not None
        return session.StoredSession(
            server=self.api.url,
            username=self.username,
            token=self.api.token,
            expires_at=self.expires_at,
            public_key=b64encode(self.keys.public),
            private_key=b64encode(self.keys.private),
            user_id=self._user_id or "",
        )

    def close(self) -> None:
        self.api.close()
        self.chunks.close()

    def __enter__(self) -> Coffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def user_id(self) -> str:
        """The user's id (asked of the server once): resume states are kept per server and user."""
        if self._user_id is None:
            self._user_id = self.api.me().account.id
        return self._user_id

    def uploader(self, options: UploadOptions | None = None) -> Uploader:
        return Uploader(
            self.api, self.chunks, self.keys, user_id=self.user_id, state_dir=self.config_dir, options=options
        )

    def downloader(self, in_flight: int = DOWNLOAD_IN_FLIGHT) -> Downloader:
        return Downloader(self.chunks, state_dir=self.config_dir, in_flight=in_flight)

    def use_site(self, site: str | None) -> None:
        """Read from (and write to) the fileservers of cluster *site* first; None: learn the site (:mod:`.sites`)."""
        self.chunks.site = site_choice(site)

    @property
    def known_keys(self) -> KnownKeys:
        """The fingerprints this account pinned for other users on this server (:mod:`client.pins`)."""
        return KnownKeys(self.config_dir, self.api.url, self.username or self.user_id)

    def _check_owner(self, name: str, public_key: bytes) -> None:
        """Accept a file owner's public key if it is the one pinned or seen; remember it as seen at first sight."""
        self.known_keys.see(name, public_key)

    def upload(
        self,
        path: Path,
        shard: str = "default",
        expires_in: float | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        in_flight: int = UPLOAD_IN_FLIGHT,
        copies: int = 1,
        name: str | None = None,
    ) -> UploadResult:
        """Encrypt and upload the file at *path*; resume if the same upload of the same file was interrupted.

        ``on_progress(done, total)`` is called with plaintext bytes from this thread. At
        most *in_flight* chunks of *chunk_size* bytes are out at once (memory ≈ twice
        that); each is stored on *copies* fileservers. *name* is the name sealed in its metadata
        (default: the file's own); a relative path with ``/`` is restored as such by downloads.
        """
        options = UploadOptions(shard, chunk_size, in_flight, copies, expires_in)
        return self.uploader(options).upload(Path(path), on_progress, name=name)

    def download(
        self,
        file_id: str,
        dest: Path | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        overwrite: bool = False,
        in_flight: int = DOWNLOAD_IN_FLIGHT,
    ) -> Path:
        """Download, verify and decrypt file *file_id*; return where it was written.

        *dest* may be a file path or a directory; by default the file's own name in the
        current directory. An existing file is never replaced unless *overwrite*.
        """
        return self.download_result(file_id, dest, on_progress, overwrite=overwrite, in_flight=in_flight).path

    def download_result(
        self,
        file_id: str,
        dest: Path | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        overwrite: bool = False,
        in_flight: int = DOWNLOAD_IN_FLIGHT,
    ) -> DownloadResult:
        """Like :meth:`download`, returning the transfer's statistics too."""
        target = Path(dest) if dest is not None else None
        return self.downloader(in_flight).download(
            self.source(file_id), target, overwrite=overwrite, on_progress=on_progress
        )

    def source(self, file_id: str) -> Source:
        """Fetch file *file_id*'s record and tickets and open it, checked, ready for :meth:`downloader`."""
        return file_source(self.api, self.keys, self.user_id, file_id, self._check_owner)

    def change_password(self, old_password: str, new_password: str) -> None:
        """Change the password: new salt and auth key, the same key pair re-wrapped; files are untouched.

        The server ends this user's other sessions; this one stays valid.
        """
        from coffer.protocol.api.auth import ChangePassword

        pre = self.api.prelogin(self.username, again=True)
        old = kdf.derive(old_password, checked_kdf_params(pre))
        params = kdf.KdfParams(salt=os.urandom(kdf.SALT_BYTES))
        new = kdf.derive(new_password, params)  # SECURITY: the new master key stays in this process
        wrapped = wrap_private_key(new.master_key, self.keys)
        self.api.change_password(ChangePassword(old.auth_key, params, new.auth_key, wrapped))

    def pages(self, shared: bool = False, only: FileFilter = NO_FILTER) -> Iterator[builtins.list[FileInfo]]:
        """Yield the user's files a page at a time, oldest first, names decrypted; or, if *shared*, those shared.

        A page is fetched only once the one before was consumed, so an account of
        100,000 files is shown as it arrives and never held whole. *only* keeps the
        files in one state and/or shard, as the server filters them.
        """
        for page in self.api.file_pages(shared=shared, only=only):
            yield [FileInfo.from_record(r.to_json(), self.keys, self._check_owner) for r in page.files]

    def list(self, shared: bool = False, only: FileFilter = NO_FILTER) -> builtins.list[FileInfo]:
        """Return the user's files, oldest first, with names decrypted; or, if *shared*, the files shared with them."""
        return [f for page in self.pages(shared, only) for f in page]

    def info(self, file_id: str) -> FileInfo:
        return FileInfo.from_record(self.api.get_file(file_id).to_json(), self.keys, self._check_owner)

    def remove(self, file_id: str) -> None:
        """Delete a file (its chunks are removed from the fileservers later); forget any upload state for it."""
        try:
            self.api.delete_file(file_id)
        except errors.PermissionDenied as exc:
            if exc.code != "not_owner":
                raise
            raise errors.PermissionDenied(
                f"file {file_id} was shared with you: only its owner can delete it "
                f"(`coffer unshare {file_id} {self.username or 'YOUR-NAME'}` drops it from your list)",
                code=exc.code,
                status=exc.status,
            ) from exc
        self._forget_upload(file_id)

    def remove_many(self, file_ids: Sequence[str]) -> Iterator[tuple[str, errors.ApiError | None]]:
        """Delete files a page at a time, one request each; yield every id with the error that refused it, or None.

        A file refused (not found, shared with the user, under hold) leaves the others
        deleted. A server that predates batches gets one ``DELETE`` per file.
        """
        from coffer.protocol.api.deletions import MAX_DELETIONS, DeleteFiles

        for start in range(0, len(file_ids), MAX_DELETIONS):
            batch = tuple(file_ids[start : start + MAX_DELETIONS])
            try:
                result = self.api.delete_files(DeleteFiles(batch))
            except errors.ApiError as exc:
                if exc.status != 405:
                    raise
                yield from self._remove_each(batch)
                continue
            refused = {r.id: errors.from_response(r.status, r.error, r.message) for r in result.refused}
            deleted = set(result.deleted)
            for file_id in batch:
                if file_id in deleted:
                    self._forget_upload(file_id)
                yield file_id, None if file_id in deleted else refused.get(file_id, UNANSWERED)

    def _remove_each(self, file_ids: Sequence[str]) -> Iterator[tuple[str, errors.ApiError | None]]:
        for file_id in file_ids:
            try:
                self.remove(file_id)
            except errors.ApiError as exc:
                yield file_id, exc
            else:
                yield file_id, None

    def _forget_upload(self, file_id: str) -> None:
        for path in resume.states_of_file(self.config_dir, file_id):
            resume.discard(path)

    # -- sharing -------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """The fingerprint of this user's own public key, for others to compare out of band."""
        return fingerprint(self.keys.public)

    def public_key_of(self, name: str) -> PublicKeyInfo:
        """Return *name*'s public key as the server hands it out (not checked against the pins)."""
        from . import sharing

        return sharing.public_key_of(self.api, name)

    def trust(self, name: str, expect_fingerprint: str) -> PublicKeyInfo:
        """Pin *name*'s current key if it has *expect_fingerprint*, compared out of band; else KeyChanged."""
        info = self.public_key_of(name)
        self.known_keys.trust(name, info.public_key, expect_fingerprint=expect_fingerprint)
        return info

    def share(self, file_id: str, name: str, *, expect_fingerprint: str | None = None) -> ShareResult:
        """Share file *file_id* with user *name*: the file key boxed to their key, once the pins accept it.

        The first share with someone pins their key (``first_time``: show the fingerprint
        to compare); a key that differs from the pin raises :class:`~client.errors.KeyChanged`
        unless it is *expect_fingerprint*, which then replaces the pin.
        """
        from . import sharing

        if name == self.username:
            raise errors.UsageError("that is you: a file is shared with other users")
        return sharing.share(self.api, self.keys, self.known_keys, file_id, name, expect_fingerprint=expect_fingerprint)

    def unshare(self, file_id: str, name: str) -> None:
        """End *name*'s access to file *file_id* (as its owner), or drop a file shared with you (your own name)."""
        from . import sharing

        self.api.delete_share(sharing.file_id_of(file_id), sharing.user_name(name))

    def shares(self, file_id: str) -> builtins.list[ShareInfo]:
        """Return who file *file_id* is shared with, by name."""
        from . import sharing

        rows = self.api.file_shares(sharing.file_id_of(file_id))
        return [sharing.ShareInfo(r.user, float(r.created_at), r.stale) for r in rows]

    def link(
        self,
        file_id: str,
        *,
        expires_in: float | None = None,
        max_downloads: int | None = None,
        password: str | None = None,
    ) -> LinkInfo:
        """Make a share link of file *file_id*; its ``url`` carries the key (locked with *password*, if given).

        The server's default expiry applies without *expires_in*, no download limit without
        *max_downloads*. SECURITY: the URL is shown once and kept nowhere.
        """
        from . import sharing

        return sharing.create_link(
            self.api, self.keys, file_id, expires_in=expires_in, max_downloads=max_downloads, password=password
        )

    def links(self, file_id: str | None = None) -> builtins.list[LinkInfo]:
        """Return this user's links, newest first (of file *file_id* only, if given); without their keys."""
        from . import sharing

        rows = self.api.links(sharing.file_id_of(file_id) if file_id else None)
        return [sharing.LinkInfo.from_json(r.to_json()) for r in rows]

    def unlink(self, link_or_url: str) -> str:
        """Revoke a link, given by id or by URL, at once (downloads in progress stop too); return its id."""
        from . import sharing

        link_id = sharing.link_id_of(link_or_url, self.api.url)
        self.api.delete_link(link_id)
        return link_id


def _user_keys(api: ServerClient, master_key: bytes) -> UserKeys:
    """Unwrap the user's key pair, or make and store one if the account has none yet."""
    from coffer.protocol.api.auth import WrappedKeys

    me = api.me()
    if not (me.public_key and me.wrapped_private_key):
        fresh = UserKeys.generate()
        try:
            api.set_my_keys(WrappedKeys(fresh.public, wrap_private_key(master_key, fresh)))
            return fresh
        except errors.ApiError as exc:
            if exc.code != "keys_exist":
                raise
            me = api.me()  # another client set them first: use theirs
    if not (me.public_key and me.wrapped_private_key):
        raise errors.ApiError(
            "the server refused to store a key pair but has none for this account: is it a Coffer server?",
            code="invalid_answer",
        )
    return unwrap_private_key(master_key, b64decode(me.wrapped_private_key), b64decode(me.public_key))
