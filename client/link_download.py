"""Download a file by share link: no account, no session, the key in the link's fragment.

::

    result = download_link("https://coffer.example.com/s/0d7e…#v1.k.Zm9v…", Path("plans.pdf"))

1. ``GET /api/links/{id}`` answers the link's state and the file's record (chunks,
   sizes, sealed metadata, key commitment); it counts nothing.
2. The fragment is opened (with the password for a locked link), the key held to the
   record's commitment, the metadata opened and the record checked against it, and the
   destination checked, all here, so that a cut or changed link or a wrong password
   fails before the server is asked for anything that counts.
3. Only then does the transfer start, on the same engine as any download
   (:class:`~client.download.Downloader`), with a :class:`~client.channels.LinkChannel`:
   ``POST /api/links/{id}/downloads`` counts one download and hands out tickets; later
   tickets and live lists come from ``POST /api/links/{id}/tickets``.

An interrupted link download run again resumes like any other (its state is kept per
server and link id), and reuses its download id while the server still knows it, so it
is not counted twice. SECURITY: the fragment is a key; nothing here logs it or stores it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from coffer.format import links
from coffer.format.errors import KeyMismatch
from coffer.format.records import check_layout, open_with_key
from coffer.transfer.http import ChunkClient

from . import errors, private_files, session
from .api import ServerClient
from .channels import LinkChannel
from .download import DEFAULT_IN_FLIGHT, Downloader, DownloadResult, ProgressCallback, Source
from .sites import site_choice

LINKS = "links"
"""Directory under the config dir that keeps the download id of an interrupted link download."""

GONE = {
    # A cut link id never gets this far (parse_link refuses it): a whole id the server lacks is a link gone with its
    # file, deleted by its owner (or the owner's account removed).
    "link_not_found": (
        "there is no such link on {server}: the file it shared was probably deleted, and its links went with it; "
        "ask the person who shared it for a new link"
    ),
    "link_revoked": "this link was revoked by the person who shared it: ask them for a new one",
    "link_expired": "this link has expired: ask the person who shared it for a new one",
    "link_exhausted": "this link was used for as many downloads as its owner allowed: ask them for a new one",
    "file_expired": "the file behind this link has expired and was deleted",
    "download_expired": "this download took longer than the link allows: run it again (it resumes, as a new download)",
    "download_not_found": "the server no longer knows this download: run it again (it resumes, as a new download)",
    "download_used_up": (
        "this download was given all the tickets one download may have: run it again (it resumes, as a new download)"
    ),
}


def download_link(
    url: str,
    dest: Path | None = None,
    *,
    password: str | None = None,
    on_progress: ProgressCallback | None = None,
    overwrite: bool = False,
    state_dir: Path | None = None,
    in_flight: int = DEFAULT_IN_FLIGHT,
    transport: httpx.BaseTransport | None = None,
    chunk_transport: httpx.BaseTransport | None = None,
    site: str | None = None,
) -> DownloadResult:
    """Download, verify and decrypt the file a share link points at; return what was done.

    *dest* may be a file path or a directory; by default the file's own name here. An
    existing file is never replaced unless *overwrite*. *password* opens a locked link
    (``LinkPasswordNeeded`` without one, ``LinkPasswordWrong`` if it does not open).
    Resume state goes under *state_dir* (default: the Coffer config directory); no
    session is read. *site* is the cluster to read from first (None: learned, :mod:`.sites`). *transport* and
    *chunk_transport* are for tests.
    """
    ref = links.parse_link(url)
    if not ref.fragment:
        links.open_fragment("", ref.link_id, None)  # raises LinkKeyMissing, before any request
    base = state_dir if state_dir is not None else session.config_dir()
    with (
        ServerClient(ref.server, transport=transport) as api,
        ChunkClient(transport=chunk_transport, site=site_choice(site)) as chunks,
    ):
        try:
            source, saved = _open(api, ref, password, base)
            target = Path(dest) if dest is not None else None
            result = Downloader(chunks, state_dir=base, in_flight=in_flight).download(
                source, target, overwrite=overwrite, on_progress=on_progress
            )
        except errors.NotFoundError as exc:
            text = GONE.get(exc.code)
            if text is None:
                raise
            raise errors.NotFoundError(text.format(server=ref.server), code=exc.code, status=exc.status) from exc
    saved.forget()
    return result


def _open(api: ServerClient, ref: links.LinkRef, password: str | None, base: Path) -> tuple[Source, _Saved]:
    """Fetch the link's record and open it with the fragment's key; check it all before anything counts."""
    saved = _Saved(base / LINKS / f"{_key(api.url, ref.link_id)}.json")
    try:
        record = api.link(ref.link_id).file.to_json()
    except errors.NotFoundError as exc:
        # A download already counted may finish on a link used up since (by this very download).
        kept = saved.record() if exc.code == "link_exhausted" else None
        if kept is None:
            raise
        record = kept
    if record.get("state") != "complete":
        raise errors.NotFoundError("the file behind this link is not available any more", code="file_gone")
    key = links.open_fragment(ref.fragment, ref.link_id, password)
    try:
        opened = open_with_key(record, key, "the link's key")
    except KeyMismatch as exc:
        raise KeyMismatch(
            "the link's key does not match this file: the part after '#' was changed or cut on the way; "
            "ask the sender for the whole link again"
        ) from exc
    layout = check_layout(record, opened.metadata)
    channel = partial(
        LinkChannel, api, ref.link_id, layout.shard, download=saved.download(), on_started=saved.keeper(record)
    )
    return Source(opened, layout, api.url, f"link:{ref.link_id}", channel), saved


class _Saved:
    """A link download in progress: its download id and the record it started with, so a rerun resumes.

    The record is kept because a link used up by this very download no longer answers
    ``GET /api/links/{id}``, while its download id still gets tickets. SECURITY: a download
    id lets its holder fetch the file's ciphertext until it expires (the server's
    ``link_download_window``); it is kept 0600 and removed once the download is done.
    """

    def __init__(self, path: Path):
        self.path = path

    def _load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("download"), str):
            return None
        expires = data.get("expires_at")
        if not isinstance(expires, int | float) or expires <= time.time():
            return None
        return data

    def download(self) -> str | None:
        data = self._load()
        return str(data["download"]) if data else None

    def record(self) -> dict[str, Any] | None:
        data = self._load()
        record = data.get("file") if data else None
        return record if isinstance(record, dict) else None

    def keeper(self, record: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        """Return what keeps a started download's id (from the server's *answer*) with *record*."""

        def keep(answer: dict[str, Any]) -> None:
            body = {"download": answer["download"], "expires_at": answer.get("expires_at"), "file": record}
            private_files.write_json(self.path, body)

        return keep

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)


def _key(server: str, link_id: str) -> str:
    return hashlib.sha256(f"link\0{server}\0{link_id}".encode()).hexdigest()[:32]
