"""Call the server's API by name: one method per call the client makes, typed where the protocol has models.

Every path comes from :mod:`coffer.protocol.routes` and every file and ticket answer is
parsed by the same model the server's messages are defined with, so a malformed answer
stops here instead of deep in a transfer. :class:`~client.api.ServerClient` inherits
these methods; they go through its ``request``.

Only the models of files and tickets are imported with this module; each other method
imports its own. A ``coffer`` command is a new process, and building the models of
administration, sharing, keys and lifecycle cost an upload of 25 MB a tenth of its
start-up (docs/performance.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlencode

import httpx

from coffer.protocol import routes
from coffer.protocol.api.files import (
    CreateFile,
    FileFilter,
    FilePage,
    FileRecord,
    Finalize,
    ShardSummary,
    parse_shard_summaries,
)
from coffer.protocol.api.pages import MAX_PAGE_SIZE
from coffer.protocol.api.tickets import LiveFileserver, TicketRequest, Tickets, parse_live_fileservers
from coffer.protocol.errors import ProtocolError

from . import errors

if TYPE_CHECKING:
    from coffer.protocol.api.admin import (
        Applied,
        ClusterConfig,
        ListedCluster,
        ListedShard,
        RegisteredFileserver,
    )
    from coffer.protocol.api.auth import (
        Account,
        ChangePassword,
        KdfAnswer,
        Login,
        Me,
        ServerInfo,
        Session,
        SessionEntry,
        WrappedKeys,
    )
    from coffer.protocol.api.deletions import DeleteFiles, Deletions
    from coffer.protocol.api.invitations import Invitation, Invite, Join, OpenInvitation
    from coffer.protocol.api.keys import Reseal, Resealed, RotateKeys, RotationDone
    from coffer.protocol.api.lifecycle import (
        AuditEvent,
        Holds,
        PurgeBacklog,
        RemovedUser,
        SweepResult,
    )
    from coffer.protocol.api.quotas import Quota, SetQuota
    from coffer.protocol.api.sharing import (
        AdminShare,
        CreateLink,
        Link,
        LinkPage,
        LinkView,
        PublicKey,
        Share,
        ShareEntry,
    )
    from coffer.protocol.api.sync import SiteSync, Verification

log = logging.getLogger(__name__)

NO_FILTER = FileFilter()
WITH_TICKETS = "?tickets=true"
"""Ask a file's create or record for its tickets too: one round trip instead of two before the first chunk moves."""
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
CREATE_RESENDS = 4
"""Times a create that carries a create id is sent again when its answer is lost: the server answers the file
that id made, so a resend is safe; behind a load balancer it reaches another instance."""
CREATE_RESEND_PAUSE = 0.25
"""Seconds before the first resend, doubled before each next (0.25 s to 2 s): a proxy that just lost an
instance may send a resend or two to it (its kept-alive connections, each of its workers) before it learns."""
pause: Callable[[float], None] = time.sleep
"""How a resend waits (the tests record it instead)."""
T = TypeVar("T")


TICKET_ANSWER_KEYS = ("tickets", "fileservers", "copies")
"""The fields of a ticket answer that a record answered ``?tickets=true`` carries beside its own."""


def tickets_beside(record: FileRecord) -> Tickets | None:
    """Return the tickets a record was answered with (``?tickets=true``), or None if the server sent none.

    A server of an earlier version ignores the flag: the caller then asks ``POST .../tickets`` as before.
    """
    if "tickets" not in record.extra:
        return None
    answer = {key: record.extra[key] for key in TICKET_ANSWER_KEYS if key in record.extra}
    return _parsed(Tickets.parse, answer)


class _Page(Protocol):
    @property
    def next(self) -> str | None: ...


P = TypeVar("P", bound=_Page)


def _parsed(parse: Callable[[Any], T], answer: Any) -> T:
    try:
        return parse(answer)
    except ProtocolError as exc:
        raise errors.ApiError(
            f"the server sent a malformed answer ({exc.message}): is it a Coffer server of a compatible version?",
            code="invalid_answer",
        ) from exc


class ServerApi:
    """The server's API, one method per call; a subclass supplies :meth:`request`."""

    url: str

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        *,
        retry: bool | None = None,
    ) -> Any:
        raise NotImplementedError

    def _call(self, method: str, path: str, body: Any = None, *, retry: bool | None = None) -> Any:
        """Send a request once more if the connection dropped before the answer, when it is safe to repeat.

        A proxy's 502 or 504 for an instance that died mid-request (:class:`~client.errors.GatewayFailed`)
        counts as a dropped connection: behind a load balancer the repeat reaches another instance.

        *retry* defaults to whether *method* is idempotent; True marks a POST that is safe
        to repeat (asking for tickets).
        """
        again = method in IDEMPOTENT if retry is None else retry
        try:
            return self.request(method, path, body, retry=again)
        except errors.ConnectionFailed as exc:
            dropped = isinstance(exc, errors.GatewayFailed) or isinstance(
                exc.__cause__, httpx.RemoteProtocolError | httpx.ReadError
            )
            if not again or not dropped:
                raise
        return self.request(method, path, body, retry=again)

    # -- accounts ------------------------------------------------------------------------------

    def info(self) -> ServerInfo:
        """Read the server's version, signing key and the limits a client or fileserver works within."""
        from coffer.protocol.api.auth import ServerInfo

        return _parsed(ServerInfo.parse, self._call("GET", routes.INFO))

    def prelogin(self, username: str, *, again: bool = False) -> KdfAnswer:
        """Ask for a user's salt and Argon2id parameters (*again*: resend if the connection dropped)."""
        from coffer.protocol.api.auth import KdfAnswer, Prelogin

        body = Prelogin(username).to_json()
        answer = self._call("POST", routes.PRELOGIN, body) if again else self.request("POST", routes.PRELOGIN, body)
        try:
            return KdfAnswer.parse(answer)
        except ProtocolError as exc:
            raise errors.ApiError(exc.message, code=exc.code) from exc

    def open_session(self, login: Login) -> Session:
        """Open a session with the auth key derived from the password (SECURITY: never the password)."""
        from coffer.protocol.api.auth import Session

        return _parsed(Session.parse, self.request("POST", routes.LOGIN, login.to_json()))

    def join(self, join: Join) -> Account:
        """Spend an invitation code on an account whose password and keys this client made."""
        from coffer.protocol.api.auth import Account

        return _parsed(Account.parse, self.request("POST", routes.JOIN, join.to_json()))

    def logout(self) -> None:
        self.request("POST", routes.LOGOUT)

    def change_password(self, request: ChangePassword) -> None:
        self.request("POST", routes.PASSWORD, request.to_json())

    def me(self) -> Me:
        from coffer.protocol.api.auth import Me

        return _parsed(Me.parse, self._call("GET", routes.ME))

    def sessions(self) -> list[SessionEntry]:
        """List the caller's open sessions, marking the one asking."""
        from coffer.protocol.api.auth import parse_sessions

        return _parsed(parse_sessions, self._call("GET", routes.SESSIONS))

    def set_my_keys(self, keys: WrappedKeys) -> None:
        self.request("PUT", routes.MY_KEYS, keys.to_json())

    def start_key_rotation(self, request: RotateKeys) -> None:
        """Switch to a new password and key pair, the old pair kept wrapped until the rotation finishes."""
        self.request("POST", routes.MY_KEY_ROTATION, request.to_json())

    def reseal_file_keys(self, request: Reseal) -> Resealed:
        from coffer.protocol.api.keys import Resealed

        return _parsed(Resealed.parse, self.request("PUT", routes.MY_FILE_KEYS, request.to_json()))

    def finish_key_rotation(self) -> RotationDone:
        from coffer.protocol.api.keys import RotationDone

        return _parsed(RotationDone.parse, self.request("DELETE", routes.MY_KEY_ROTATION))

    # -- files and tickets ---------------------------------------------------------------------

    def create_file(self, file: CreateFile, *, tickets: bool = False) -> FileRecord:
        """Record a pending file; resent after a lost answer only if it carries a create id.

        A lost answer (a dropped connection, a proxy's 502 or 504) cannot tell whether the file
        was made. With ``file.create_id`` the server makes one file per id, so the create is sent
        again up to :data:`CREATE_RESENDS` times, each resend logged; without one it is sent once.
        With *tickets*, the answer carries the put ticket and the live writers too (:func:`tickets_beside`).
        """
        path = routes.FILES + (WITH_TICKETS if tickets else "")
        resends = CREATE_RESENDS if file.create_id else 0
        sent = 0
        while True:
            try:
                answer = self.request("POST", path, file.to_json(), retry=bool(file.create_id))
            except errors.ConnectionFailed as exc:
                if sent == resends:
                    raise
                sent += 1
                cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else exc.code
                reason = f"its answer was lost ({cause}), sent again with the same create id, {sent} of {resends}"
                log.warning("file create resent", extra={"kv": {"resend": sent, "reason": reason}})
                pause(CREATE_RESEND_PAUSE * 2 ** (sent - 1))
                continue
            return _parsed(FileRecord.parse, answer)

    def get_file(self, file_id: str, *, tickets: bool = False) -> FileRecord:
        """Read a file's record; with *tickets*, a complete file's get tickets and live readers come with it."""
        return _parsed(FileRecord.parse, self._call("GET", routes.file(file_id) + (WITH_TICKETS if tickets else "")))

    def file_pages(
        self, *, shared: bool = False, only: FileFilter = NO_FILTER, limit: int = MAX_PAGE_SIZE
    ) -> Iterator[FilePage]:
        """Walk ``GET /api/files`` a page at a time, oldest first; each page is asked for once the last is consumed.

        *shared* lists the files shared with the caller instead of their own, which
        *only* may narrow by state and shard. A server that predates pages answers
        the whole listing as one page.
        """
        query = {"limit": str(limit), **only.to_params()} | ({"shared": "true"} if shared else {})
        return self._walk(routes.FILES, query, FilePage.parse)

    def _walk(self, path: str, query: dict[str, str], parse: Callable[[Any], P]) -> Iterator[P]:
        """Ask for page after page of a listing, each after the ``next`` of the one before, until it is None."""
        after: str | None = None
        while True:
            params = query if after is None else query | {"after": after}
            page = _parsed(parse, self._call("GET", f"{path}?{urlencode(params)}"))
            yield page
            if page.next is None:
                return
            if page.next == after:
                raise errors.ApiError(
                    "the server answered the same page twice: it is not walking its listing forward; "
                    "report this to its operator",
                    code="invalid_answer",
                )
            after = page.next

    def list_files(self, *, shared: bool = False) -> list[FileRecord]:
        """Return every file of the listing at once: :meth:`file_pages` for an account too large to hold."""
        return [record for page in self.file_pages(shared=shared) for record in page.files]

    def delete_file(self, file_id: str) -> None:
        self._call("DELETE", routes.file(file_id))

    def delete_files(self, request: DeleteFiles) -> Deletions:
        """Delete up to a page of files in one request; each is deleted or refused on its own."""
        from coffer.protocol.api.deletions import Deletions

        return _parsed(Deletions.parse, self._call("POST", routes.FILE_DELETIONS, request.to_json(), retry=True))

    def tickets(self, file_id: str, request: TicketRequest) -> Tickets:
        """Ask for tickets; safe to repeat, as a ticket grants nothing the caller may not already do."""
        return _parsed(Tickets.parse, self._call("POST", routes.file_tickets(file_id), request.to_json(), retry=True))

    def finalize(self, file_id: str, request: Finalize) -> None:
        self._call("POST", routes.file_finalize(file_id), request.to_json(), retry=False)

    def shards(self) -> list[ShardSummary]:
        """List the shards with how many live fileservers read and write each."""
        return _parsed(parse_shard_summaries, self._call("GET", routes.SHARDS))

    def shard_fileservers(self, shard: str, op: str = "read") -> list[LiveFileserver]:
        """List the live fileservers that may *op* ("read" or "write") the shard, with their load."""
        return _parsed(parse_live_fileservers, self._call("GET", f"{routes.shard_fileservers(shard)}?op={op}"))

    # -- shares and links ----------------------------------------------------------------------

    def user_public_key(self, name: str) -> PublicKey:
        """Fetch a user's public key. SECURITY: not yet checked against the pins; the caller must."""
        from coffer.protocol.api.sharing import PublicKey

        return _parsed(PublicKey.parse, self._call("GET", routes.user_public_key(name)))

    def put_share(self, file_id: str, name: str, share: Share) -> None:
        self._call("PUT", routes.file_share(file_id, name), share.to_json())

    def delete_share(self, file_id: str, name: str) -> None:
        self._call("DELETE", routes.file_share(file_id, name))

    def file_shares(self, file_id: str) -> list[ShareEntry]:
        from coffer.protocol.api.sharing import parse_shares

        return _parsed(parse_shares, self._call("GET", routes.file_shares(file_id)))

    def create_link(self, file_id: str, link: CreateLink) -> Link:
        from coffer.protocol.api.sharing import Link

        return _parsed(Link.parse, self._call("POST", routes.file_links(file_id), link.to_json(), retry=False))

    def link_pages(self, file_id: str | None = None, *, limit: int = MAX_PAGE_SIZE) -> Iterator[LinkPage]:
        """Walk ``GET /api/links`` a page at a time, newest first (of one file, if given)."""
        from coffer.protocol.api.sharing import LinkPage

        query = {"limit": str(limit)} | ({"file": file_id} if file_id else {})
        return self._walk(routes.LINKS, query, LinkPage.parse)

    def links(self, file_id: str | None = None) -> list[Link]:
        return [link for page in self.link_pages(file_id) for link in page.links]

    def delete_link(self, link_id: str) -> None:
        self._call("DELETE", routes.link(link_id))

    def link(self, link_id: str) -> LinkView:
        """Read a link's state and its file's record; needs no account."""
        from coffer.protocol.api.sharing import LinkView

        return _parsed(LinkView.parse, self._call("GET", routes.link(link_id)))

    def start_link_download(self, link_id: str) -> Tickets:
        """Count one download of a link and get its first tickets; sent once, as it counts."""
        return _parsed(Tickets.parse, self._call("POST", routes.link_downloads(link_id), {}, retry=False))

    def link_tickets(self, link_id: str, download: str, chunks: tuple[str, ...] | None = None) -> Tickets:
        """Get fresh tickets for a started link download (for *chunks*, else all); counts no download."""
        from coffer.protocol.api.sharing import LinkTicketsRequest

        body = LinkTicketsRequest(download, chunks).to_json()
        return _parsed(Tickets.parse, self._call("POST", routes.link_tickets(link_id), body, retry=True))

    # -- quotas, holds and lifecycle -----------------------------------------------------------

    def my_quota(self) -> Quota:
        from coffer.protocol.api.quotas import Quota

        return _parsed(Quota.parse, self.request("GET", routes.MY_QUOTA))

    def user_quota(self, name: str) -> Quota:
        from coffer.protocol.api.quotas import Quota

        return _parsed(Quota.parse, self.request("GET", routes.admin_user_quota(name)))

    def set_user_quota(self, name: str, change: SetQuota) -> Quota:
        from coffer.protocol.api.quotas import Quota

        return _parsed(Quota.parse, self.request("PUT", routes.admin_user_quota(name), change.to_json()))

    def set_hold(self, path: str, held: bool, body: dict[str, Any] | None) -> None:
        """Put or release a legal hold at *path* (:func:`routes.admin_file_hold` or :func:`routes.admin_user_hold`)."""
        self.request("PUT" if held else "DELETE", path, body)

    def holds(self) -> Holds:
        from coffer.protocol.api.lifecycle import Holds

        return _parsed(Holds.parse, self.request("GET", routes.ADMIN_HOLDS))

    def delete_user(self, name: str) -> RemovedUser:
        from coffer.protocol.api.lifecycle import RemovedUser

        return _parsed(RemovedUser.parse, self.request("DELETE", routes.admin_user(name)))

    def audit(self, params: dict[str, str]) -> list[AuditEvent]:
        from coffer.protocol.api.lifecycle import parse_audit

        return _parsed(parse_audit, self.request("GET", routes.ADMIN_AUDIT, params=params))

    def purges(self) -> list[PurgeBacklog]:
        from coffer.protocol.api.lifecycle import parse_purges

        return _parsed(parse_purges, self.request("GET", routes.ADMIN_PURGES))

    def sweep(self) -> SweepResult:
        from coffer.protocol.api.lifecycle import SweepResult

        return _parsed(SweepResult.parse, self.request("POST", routes.ADMIN_SWEEP))

    # -- administration ------------------------------------------------------------------------

    def admin_shares(self, params: dict[str, str]) -> list[AdminShare]:
        from coffer.protocol.api.sharing import parse_admin_shares

        return _parsed(parse_admin_shares, self.request("GET", routes.ADMIN_SHARES, params=params))

    def admin_unshare(self, file_id: str, name: str) -> None:
        self.request("DELETE", routes.admin_share(file_id, name))

    def admin_links(self, params: dict[str, str]) -> list[Link]:
        """List every link that matches, each with its owner's name."""
        from coffer.protocol.api.sharing import parse_admin_links

        return _parsed(parse_admin_links, self.request("GET", routes.ADMIN_LINKS, params=params))

    def admin_unlink(self, link_id: str) -> None:
        self.request("DELETE", routes.admin_link(link_id))

    def admin_users(self) -> list[Account]:
        from coffer.protocol.api.admin import parse_users

        return _parsed(parse_users, self.request("GET", routes.ADMIN_USERS))

    def admin_shards(self) -> list[ListedShard]:
        """List shards, each with the clusters that serve it."""
        from coffer.protocol.api.admin import parse_shards

        return _parsed(parse_shards, self.request("GET", routes.ADMIN_SHARDS))

    def sync_status(self) -> list[SiteSync]:
        """Per shard and site: what is left to copy, how old it is, failed copies and the copy rate."""
        from coffer.protocol.api.sync import parse_sync

        return _parsed(parse_sync, self.request("GET", routes.ADMIN_SYNC))

    def verify_shard(self, shard: str) -> Verification:
        """Check each chunk of *shard* at each site: MISSING, EXTRA or CORRUPT."""
        from coffer.protocol.api.sync import Verification

        return _parsed(Verification.parse, self.request("GET", routes.admin_verify(shard)))

    def admin_clusters(self) -> list[ListedCluster]:
        """List clusters, each with its credential generation and shard links."""
        from coffer.protocol.api.admin import parse_clusters

        return _parsed(parse_clusters, self.request("GET", routes.ADMIN_CLUSTERS))

    def invite(self, invite: Invite) -> Invitation:
        """Invite a user; the answer holds the one-time code (SECURITY: a secret for that user alone)."""
        from coffer.protocol.api.invitations import Invitation

        return _parsed(Invitation.parse, self.request("POST", routes.ADMIN_INVITATIONS, invite.to_json()))

    def invitations(self) -> list[OpenInvitation]:
        """List the invitations neither spent nor expired (never their codes)."""
        from coffer.protocol.api.invitations import parse_open_invitations

        return _parsed(parse_open_invitations, self.request("GET", routes.ADMIN_INVITATIONS))

    def revoke_invitation(self, name: str) -> None:
        self.request("DELETE", routes.admin_invitation(name))

    def apply(self, config: dict[str, Any], *, prune: bool, dry_run: bool) -> Applied:
        from coffer.protocol.api.admin import Applied, Apply

        body = Apply(config, prune, dry_run).to_json()
        return _parsed(Applied.parse, self.request("POST", routes.ADMIN_APPLY, body))

    def cluster_config(self, cluster: str) -> ClusterConfig:
        """Export a cluster's fileserver config. SECURITY: it holds the cluster's signing key."""
        from coffer.protocol.api.admin import ClusterConfig

        return _parsed(ClusterConfig.parse, self.request("GET", routes.admin_cluster_config(cluster)))

    def rotate_cluster(self, cluster: str, grace_seconds: float) -> ClusterConfig:
        from coffer.protocol.api.admin import ClusterConfig, Rotate

        body = Rotate(grace_seconds).to_json()
        return _parsed(ClusterConfig.parse, self.request("POST", routes.admin_cluster_rotate(cluster), body))

    def forget_fileserver(self, fileserver_id: str) -> None:
        """Unpin a fileserver's identity key, so its next registration pins a new one."""
        self.request("POST", routes.admin_fileserver_forget(fileserver_id))

    def fileservers(self) -> list[RegisteredFileserver]:
        from coffer.protocol.api.admin import parse_fileservers

        return _parsed(parse_fileservers, self.request("GET", routes.ADMIN_FILESERVERS))
