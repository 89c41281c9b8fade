"""Share links: anyone holding the URL may download one file, within the limits its owner set.

The key is in the URL's fragment, which browsers never send, so the server
knows a link only by its id and its limits: an expiry (never past the file's),
an optional number of downloads, and whether the fragment is password-protected
(a fact the owner states, for display; the server cannot tell).

An anonymous download is *started* once, which counts it: one ``UPDATE`` whose
``WHERE`` holds every condition (not revoked, not expired, downloads left, file
alive), so two starts racing for the last download cannot both win on either
engine. The start hands out a download id and tickets for one pass over the
file. Later ticket requests with the id count no download, for up to
``link_download_window``, but they are held to what one download needs, so that
``max_downloads`` means whole downloads and not starts: while the download's
tickets still hold, renewed ones expire with them (a refresh grants no time);
once they ran out, the chunks renewed are counted, up to ``link_ticket_passes``
passes over the file in all (the client asks only for the chunks it lacks).
Revocation and expiry are checked on every request, a started download
included; running out of downloads stops only new starts.

Tickets handed out through a link are issued to the link (``holder`` and
``sub`` are its id), so revoking it revokes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coffer.protocol.api.files import ChunkEntry
from coffer.protocol.api.pages import PageRequest
from coffer.protocol.api.sharing import CreateLink, Link, LinkedFile, LinkTicketsRequest, LinkView, PublicLink
from coffer.protocol.ids import check_id, check_username, new_id
from coffer.protocol.signing import SigningKey

from ..errors import BadRequest, Conflict, Gone, NotFound
from ..store.db import Database, Tx
from . import audit, events, files, tickets
from .accounts import Principal
from .paging import Page, cut, keyset
from .registry import live_fileservers

STATES = ("active", "revoked", "expired", "exhausted")
LINK_COLUMNS = "id, file_id, owner_id, created_at, expires_at, max_downloads, downloads, protected, revoked_at"


def state(row: dict[str, Any], now: float) -> str:
    """Return what a link is now: revoked, else expired, else exhausted, else active."""
    if row["revoked_at"] is not None:
        return "revoked"
    if row["expires_at"] <= now:
        return "expired"
    if row["max_downloads"] is not None and row["downloads"] >= row["max_downloads"]:
        return "exhausted"
    return "active"


def link_json(row: dict[str, Any], now: float) -> dict[str, Any]:
    """Return a link as its owner sees it, as JSON."""
    return owner_view(row, now).to_json()


def owner_view(row: dict[str, Any], now: float, owner: str | None = None) -> Link:
    """Return a link as its owner sees it, and with *owner* as an administrator sees it."""
    return Link(
        id=row["id"],
        file=row["file_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        max_downloads=row["max_downloads"],
        downloads=row["downloads"],
        protected=bool(row["protected"]),
        state=state(row, now),
        revoked_at=row["revoked_at"],
        owner=owner,
    )


def public_view(row: dict[str, Any], now: float) -> PublicLink:
    """Return a link as anyone holding its URL sees it: no file owner, no creation time."""
    return PublicLink(
        id=row["id"],
        expires_at=row["expires_at"],
        max_downloads=row["max_downloads"],
        downloads=row["downloads"],
        protected=bool(row["protected"]),
        state=state(row, now),
    )


def create(
    db: Database,
    who: Principal,
    actor: audit.Actor,
    file_id: object,
    request: CreateLink,
    *,
    default_expiry: float,
    max_retention: float,
    now: float,
) -> dict[str, Any]:
    """Make a link to the caller's complete file; it never outlives the file."""
    file_id = check_id(file_id, "file_id")
    expires_in = min(default_expiry, max_retention) if request.expires_in is None else request.expires_in
    with db.transaction() as tx:
        row = files.visible_file(tx, who, file_id)
        files.require_owner(row, who)
        files.refuse_expired(row, now)
        if row["state"] != "complete":
            raise Conflict("the file is not complete yet: finalize it before linking it", code="file_incomplete")
        expires_at = min(now + expires_in, row["expires_at"])
        if expires_at <= now:
            raise Gone(
                "this file is past its expiry and kept only under legal hold: a link to it would never work",
                code="file_expired",
            )
        link = {
            "id": new_id(),
            "file_id": file_id,
            "owner_id": who.user_id,
            "created_at": now,
            "expires_at": expires_at,
            "max_downloads": request.max_downloads,
            "downloads": 0,
            "protected": request.protected,
            "revoked_at": None,
        }
        tx.execute(f"INSERT INTO links ({LINK_COLUMNS}) VALUES ({', '.join('?' * len(link))})", tuple(link.values()))
        audit.record(tx, "link.created", now, actor, object=f"link:{link['id']}", file=file_id)
        events.record(tx, "link.created", now, file=file_id, user=who.name, expires_at=expires_at)
    return link_json(link, now)


def list_links(db: Database, who: Principal, file_id: object, page: PageRequest, now: float) -> Page:
    """Return a page of the caller's links, of one file or all, newest first (:mod:`.paging`)."""
    where, params = "links.owner_id = ?", [who.user_id]
    if file_id is not None:
        where += " AND links.file_id = ?"
        params.append(check_id(file_id, "file_id"))
    tail, more = keyset(page, "links", newest_first=True)
    with db.transaction(readonly=True) as tx:
        rows = tx.all(f"SELECT {LINK_COLUMNS} FROM links WHERE {where}{tail}", (*params, *more))
    rows, cursor = cut(rows, page.limit)
    return Page([link_json(r, now) for r in rows], cursor)


_REVOKED_LINK_SQL = (
    "SELECT l.id, l.file_id, u.name AS owner FROM links l JOIN users u ON u.id = l.owner_id WHERE l.id = ?"
)


def _revoke(tx: Tx, actor: audit.Actor, row: dict[str, Any], now: float, by: str) -> None:
    """Revoke a link and the tickets handed out through it; a link already revoked stays as it was.

    *by* says who revoked it (``owner`` or ``admin``), for the event; the link's id stays out of it.
    """
    if tx.execute("UPDATE links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, row["id"])):
        tickets.revoke(tx, row["id"], row["file_id"], now=now)
        audit.record(tx, "link.revoked", now, actor, object=f"link:{row['id']}", file=row["file_id"])
        events.record(tx, "link.revoked", now, file=row["file_id"], user=row["owner"], reason=by)


def revoke(db: Database, who: Principal, actor: audit.Actor, link_id: object, now: float) -> None:
    """Revoke one of the caller's links; anyone else's is not found."""
    link_id = check_id(link_id, "link_id")
    with db.transaction() as tx:
        row = tx.one(_REVOKED_LINK_SQL + " AND l.owner_id = ?", (link_id, who.user_id))
        if row is None:
            raise NotFound("no such link of yours", code="link_not_found")
        _revoke(tx, actor, row, now, "owner")


def admin_revoke(db: Database, actor: audit.Actor, link_id: object, now: float) -> None:
    """Revoke any link, as an administrator (audited with the administrator as the actor)."""
    link_id = check_id(link_id, "link_id")
    with db.transaction() as tx:
        row = tx.one(_REVOKED_LINK_SQL, (link_id,))
        if row is None:
            raise NotFound("no such link", code="link_not_found")
        _revoke(tx, actor, row, now, "admin")


_STATE_SQL = {
    "revoked": "l.revoked_at IS NOT NULL",
    "expired": "l.revoked_at IS NULL AND l.expires_at <= ?",
    "exhausted": "l.revoked_at IS NULL AND l.expires_at > ? "
    "AND l.max_downloads IS NOT NULL AND l.downloads >= l.max_downloads",
    "active": "l.revoked_at IS NULL AND l.expires_at > ? "
    "AND (l.max_downloads IS NULL OR l.downloads < l.max_downloads)",
}


def admin_list(db: Database, owner: object, file_id: object, wanted_state: object, now: float) -> list[Link]:
    """Return every link with its owner's name, optionally of one owner, one file or in one state, newest first."""
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if owner is not None:
        where.append("u.name = ?")
        params.append(check_username(owner))
    if file_id is not None:
        where.append("l.file_id = ?")
        params.append(check_id(file_id, "file_id"))
    if wanted_state is not None:
        if wanted_state not in STATES:
            raise BadRequest(f"'state' must be one of {', '.join(STATES)}", code="invalid_state")
        where.append(_STATE_SQL[str(wanted_state)])
        params += [now] if wanted_state != "revoked" else []
    with db.transaction(readonly=True) as tx:
        rows = tx.all(
            f"SELECT {', '.join('l.' + c for c in LINK_COLUMNS.split(', '))}, u.name AS owner "
            f"FROM links l JOIN users u ON u.id = l.owner_id WHERE {' AND '.join(where)} "
            "ORDER BY l.created_at DESC, l.id",
            tuple(params),
        )
    return [owner_view(r, now, r["owner"]) for r in rows]


# -- anonymous: anyone holding the URL ------------------------------------------------------------


def _open(tx: Tx, link_id: object, now: float, *, started: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return a usable link and its file, or say why it is not usable.

    The reasons are checked in this order: revoked, file expired (a link expires
    with its file at the latest, and then the file's fate is the news), link
    expired, out of downloads. A download already *started* goes on when the
    link ran out of downloads (it was counted before that); revocation and
    expiry stop it all the same.
    """
    link_id = check_id(link_id, "link_id")
    link = tx.one(f"SELECT {LINK_COLUMNS} FROM links WHERE id = ?", (link_id,))
    file = link and tx.one(
        f"SELECT {', '.join('f.' + c for c in files.FILE_COLUMNS.split(', '))}, s.name AS shard_name "
        "FROM files f JOIN shards s ON s.id = f.shard_id WHERE f.id = ?",
        (link["file_id"],),
    )
    if link is None or file is None:
        raise NotFound(
            "no such link: the file it shared was probably deleted, and its links with it; ask its owner for a new one",
            code="link_not_found",
        )
    now_state = state(link, now)
    if now_state == "revoked":
        raise Gone("this link was revoked by its owner", code="link_revoked")
    if files.is_expired(file, now):
        raise Gone(
            "the linked file has expired: it is being deleted, and no new link can bring it back", code="file_expired"
        )
    if now_state == "expired":
        raise Gone("this link has expired: ask its owner for a new one", code="link_expired")
    if now_state == "exhausted" and not started:
        raise Gone(
            "this link was used as many times as its owner allowed: ask them for a new one", code="link_exhausted"
        )
    return link, file


def inspect(db: Database, link_id: object, now: float) -> LinkView:
    """Return a link and its file record (without owner or sealed key), counting nothing."""
    with db.transaction(readonly=True) as tx:
        link, file = _open(tx, link_id, now, started=False)
        chunks = tuple(
            ChunkEntry(c["index"], c["hash"], c["size"], tuple(c["fileservers"]))
            for c in files.chunk_list(tx, file["id"])
        )
    record = LinkedFile(
        id=file["id"],
        size=file["size"],
        chunk_count=file["chunk_count"],
        chunk_size=file["chunk_size"],
        metadata=file["metadata"],
        key_commitment=file["key_commitment"],
        state=file["state"],
        expires_at=file["expires_at"],
        format_version=file["format_version"],
        shard=file["shard_name"],
        chunks=chunks,
    )
    return LinkView(public_view(link, now), record)


@dataclass(frozen=True)
class Transfer:
    """The server's knobs for handing out link tickets: the signing key, ticket lifetime, lease, window."""

    key: SigningKey
    ticket_ttl: float
    lease: float
    download_window: float
    passes: int = 3
    """Passes over the file one download may be given tickets for (``link_ticket_passes``)."""

    def expiry(self, link: dict[str, Any], download_expires_at: float, now: float) -> int:
        """Return when tickets issued now expire: after their lifetime, never past the link or the download."""
        return int(min(now + self.ticket_ttl, link["expires_at"], download_expires_at))


def _tickets(
    tx: Tx,
    transfer: Transfer,
    link: dict[str, Any],
    file: dict[str, Any],
    groups: list[list[str]],
    exp: int,
    now: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sign get tickets issued to the link, expiring at *exp*, and list the live readers."""
    issued = tickets.sign(tx, transfer.key, file, "get", groups, holder=link["id"], exp=exp, now=now)
    return issued, live_fileservers(tx, file["shard_name"], "read", now, transfer.lease)


def start_download(db: Database, transfer: Transfer, actor: audit.Actor, link_id: object, now: float) -> dict[str, Any]:
    """Count one download of a link, atomically, and hand out its first get tickets."""
    link_id = check_id(link_id, "link_id")
    with db.transaction() as tx:
        counted = tx.execute(
            "UPDATE links SET downloads = downloads + 1 WHERE id = ? AND revoked_at IS NULL AND expires_at > ? "
            "AND (max_downloads IS NULL OR downloads < max_downloads) AND EXISTS (SELECT 1 FROM files f "
            "WHERE f.id = links.file_id AND f.state = 'complete' AND (f.expires_at > ? OR f.hold = ?))",
            (link_id, now, now, True),
        )
        link, file = _open(tx, link_id, now, started=bool(counted))
        if not counted:
            raise Gone("this link has no downloads left: ask its owner for a new one", code="link_exhausted")
        download = {"id": new_id(), "expires_at": min(now + transfer.download_window, link["expires_at"])}
        groups = tickets.groups(tx, file, "get", None)
        exp = transfer.expiry(link, download["expires_at"], now)
        tx.execute(
            "INSERT INTO link_downloads (id, link_id, started_at, expires_at, chunk_tickets, tickets_exp) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (download["id"], link_id, now, download["expires_at"], sum(map(len, groups)), exp),
        )
        issued, servers = _tickets(tx, transfer, link, file, groups, exp, now)
        audit.record(tx, "link.download", now, actor, object=f"link:{link_id}", file=file["id"])
    return {"download": download["id"], "expires_at": download["expires_at"], "tickets": issued, "fileservers": servers}


def download_tickets(
    db: Database, transfer: Transfer, link_id: object, request: LinkTicketsRequest, now: float
) -> dict[str, Any]:
    """Hand fresh get tickets to a download already started (and counted), within what one download needs.

    SECURITY: tickets are bearer capabilities for their whole lifetime, so without
    this bound one counted start would fetch the file as often as it liked for the
    whole download window.
    """
    link_id = check_id(link_id, "link_id")
    download_id = request.download
    with db.transaction() as tx:
        link, file = _open(tx, link_id, now, started=True)
        download = tx.one(
            "SELECT expires_at, tickets_exp FROM link_downloads WHERE id = ? AND link_id = ?", (download_id, link_id)
        )
        if download is None:
            raise NotFound("no such download of this link: start the download again", code="download_not_found")
        if download["expires_at"] <= now:
            raise Gone(
                "this download's time is up: start it again (that counts as a new download)", code="download_expired"
            )
        groups = tickets.groups(tx, file, "get", request.chunks)
        exp = _renewal_expiry(tx, transfer, link, file, download_id, download, sum(map(len, groups)), now)
        issued, servers = _tickets(tx, transfer, link, file, groups, exp, now)
    return {"tickets": issued, "fileservers": servers}


def _renewal_expiry(
    tx: Tx,
    transfer: Transfer,
    link: dict[str, Any],
    file: dict[str, Any],
    download_id: str,
    download: dict[str, Any],
    chunks: int,
    now: float,
) -> int:
    """Return when renewed tickets expire: with the download's current ones while they hold, else counted anew.

    A renewal past the download's budget of ``passes`` × chunk count changes
    nothing and is refused; the check and the count are one ``UPDATE``, so
    renewals racing each other cannot overdraw it.
    """
    if now < download["tickets_exp"]:
        return int(download["tickets_exp"])
    exp = transfer.expiry(link, download["expires_at"], now)
    if not tx.execute(
        "UPDATE link_downloads SET chunk_tickets = chunk_tickets + ?, tickets_exp = ? "
        "WHERE id = ? AND chunk_tickets + ? <= ?",
        (chunks, exp, download_id, chunks, transfer.passes * file["chunk_count"]),
    ):
        raise Gone(
            f"this download was given tickets for {transfer.passes} passes over the file, all it may have: "
            "start it again (it resumes, and counts as a new download)",
            code="download_used_up",
        )
    return exp
