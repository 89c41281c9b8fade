"""Share links against the fake network: made by the owner, downloaded with no account, counted only when sound."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from coffer.client import errors, resume
from coffer.client.coffer import Coffer
from coffer.client.link_download import LINKS, download_link
from coffer.format.errors import IntegrityError, KeyMismatch, LinkKeyMissing, LinkPasswordNeeded, LinkPasswordWrong
from coffer.format.links import parse_link
from coffer.protocol.encoding import b64decode, b64encode

from .fakenet import SERVER, FakeNet

CHUNK = 1000
PASSWORD = "correct horse battery staple"


class Interrupt(Exception):
    pass


def uploaded(owner: Coffer, tmp_path: Path, size: int = 6 * CHUNK + 5) -> tuple[str, bytes]:
    path = tmp_path / "plans.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    return owner.upload(path, chunk_size=CHUNK).file_id, data


@pytest.fixture
def stranger(net: FakeNet, tmp_path: Path) -> Any:
    """Download a link as someone with no account: no token, a config directory of their own."""

    def fetch(url: str, dest: Path, **kwargs: Any) -> Any:
        transport = net.transport()
        kwargs.setdefault("state_dir", tmp_path / "stranger")
        return download_link(url, dest, transport=transport, chunk_transport=transport, **kwargs)

    return fetch


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


def counted(net: FakeNet, url: str) -> int:
    return int(net.links[parse_link(url).link_id]["downloads"])


def test_a_link_downloads_byte_identical_with_no_session_and_counts_once(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, data = uploaded(coffer, tmp_path)
    link = coffer.link(file_id, expires_in=3600, max_downloads=3)
    assert link.url.startswith(f"{SERVER}/s/{link.id}#v1.k.") and link.max_downloads == 3
    net.seen.clear()
    result = stranger(link.url, out)
    assert result.path == out / "plans.bin" and result.path.read_bytes() == data
    assert not any(with_token for _, _, with_token in net.seen), "a link download sends no session token"
    assert not any(path.startswith("/api/shards") or path.startswith("/api/files") for _, path, _ in net.seen)
    assert counted(net, link.url) == 1
    assert list((tmp_path / "stranger" / LINKS).glob("*.json")) == [], "the download id is forgotten once done"


def test_a_link_without_its_fragment_fails_before_any_request(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    url = coffer.link(file_id).url
    net.seen.clear()
    with pytest.raises(LinkKeyMissing, match="'#'") as caught:
        stranger(url.split("#")[0], out)
    assert errors.exit_code(caught.value) == 2 and net.seen == [] and counted(net, url) == 0


def test_a_changed_fragment_is_a_key_mismatch_and_costs_no_download(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    url = coffer.link(file_id, max_downloads=1).url
    base, fragment = url.split("#")
    key = bytearray(b64decode(fragment.removeprefix("v1.k.")))
    key[0] ^= 1
    with pytest.raises(KeyMismatch, match="changed or cut") as caught:
        stranger(f"{base}#v1.k.{b64encode(bytes(key))}", out)
    assert errors.exit_code(caught.value) == 7
    assert counted(net, url) == 0 and list(out.iterdir()) == []
    assert stranger(url, out).chunks_fetched == 7, "the one download allowed is still there"


def test_a_locked_link_needs_its_password_and_a_wrong_one_costs_nothing(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, data = uploaded(coffer, tmp_path)
    link = coffer.link(file_id, password=PASSWORD)
    assert "#v1.p." in link.url and link.protected
    with pytest.raises(LinkPasswordNeeded):
        stranger(link.url, out)
    with pytest.raises(LinkPasswordWrong, match="password is wrong") as caught:
        stranger(link.url, out, password="not it")
    assert errors.exit_code(caught.value) == 7 and counted(net, link.url) == 0 and list(out.iterdir()) == []
    assert stranger(link.url, out, password=PASSWORD).path.read_bytes() == data
    assert counted(net, link.url) == 1


def test_a_link_whose_metadata_was_altered_fails_before_it_is_counted(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    url = coffer.link(file_id).url
    raw = bytearray(b64decode(net.files[file_id]["metadata"]))
    raw[-1] ^= 1
    net.files[file_id]["metadata"] = b64encode(bytes(raw))
    with pytest.raises(IntegrityError, match="metadata"):
        stranger(url, out)
    assert counted(net, url) == 0 and list(out.iterdir()) == []


def test_an_existing_destination_is_refused_before_the_download_is_counted(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    url = coffer.link(file_id).url
    (out / "plans.bin").write_bytes(b"precious")
    with pytest.raises(errors.UsageError, match="exists"):
        stranger(url, out)
    assert counted(net, url) == 0 and (out / "plans.bin").read_bytes() == b"precious"


def test_a_used_up_link_says_so(net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    url = coffer.link(file_id, max_downloads=1).url
    stranger(url, out / "first.bin")
    with pytest.raises(errors.NotFoundError, match="as many downloads as its owner allowed") as caught:
        stranger(url, out / "second.bin")
    assert caught.value.code == "link_exhausted" and not (out / "second.bin").exists()


def test_unlink_by_url_revokes_the_link_and_its_tickets(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    link = coffer.link(file_id)
    stranger(link.url, out / "first.bin")
    assert link.id in net.valid_tickets.values()
    assert coffer.unlink(link.url) == link.id
    assert link.id not in net.valid_tickets.values()
    [listed] = coffer.links(file_id)
    assert (listed.id, listed.state, listed.downloads, listed.url) == (link.id, "revoked", 1, "")
    with pytest.raises(errors.NotFoundError, match="revoked"):
        stranger(link.url, out / "second.bin")


def test_an_expired_link_says_so(net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    link = coffer.link(file_id)
    net.links[link.id]["expires_at"] = 0.0
    with pytest.raises(errors.NotFoundError, match="expired"):
        stranger(link.url, out)


def test_a_link_whose_file_was_deleted_says_the_file_is_gone_not_to_check_the_link(
    coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    link = coffer.link(file_id)
    coffer.remove(file_id)
    with pytest.raises(errors.NotFoundError) as raised:
        stranger(link.url, out)
    assert raised.value.message == (
        f"there is no such link on {SERVER}: the file it shared was probably deleted, and its links went with it; "
        "ask the person who shared it for a new link"
    )


def test_a_link_revoked_during_the_download_stops_it(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, _ = uploaded(coffer, tmp_path, size=20 * CHUNK)
    link = coffer.link(file_id)
    net.get_delay = 0.01  # chunks arrive one by one, as over a real network

    def revoke_midway(done: int, total: int) -> None:
        if done and net.links[link.id]["revoked_at"] is None:
            coffer.unlink(link.id)

    with pytest.raises(errors.NotFoundError, match="revoked"):
        stranger(link.url, out, on_progress=revoke_midway, in_flight=1)
    assert not (out / "plans.bin").exists()


def test_expired_tickets_are_renewed_with_the_download_id_without_counting_again(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, data = uploaded(coffer, tmp_path)
    link = coffer.link(file_id)
    net.expire_tickets_at_first_chunk_request()
    net.seen.clear()
    assert stranger(link.url, out).path.read_bytes() == data
    assert counted(net, link.url) == 1
    assert [p for m, p, _ in net.seen if p.endswith("/tickets")] == [f"/api/links/{link.id}/tickets"]


def test_an_interrupted_link_download_resumes_without_counting_twice(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, data = uploaded(coffer, tmp_path, size=20 * CHUNK)
    link = coffer.link(file_id, max_downloads=1)
    net.get_delay = 0.01

    def stop_half_way(done: int, total: int) -> None:
        if done >= total // 2:
            raise Interrupt()

    with pytest.raises(Interrupt):
        stranger(link.url, out, on_progress=stop_half_way, in_flight=2)
    [state_path] = (tmp_path / "stranger" / resume.DOWNLOADS).glob("*.json")
    state = resume.load_download(state_path)
    assert state is not None and state.user == f"link:{link.id}" and state.done
    net.link_renewals.clear()
    result = stranger(link.url, out, in_flight=2)
    assert result.chunks_skipped == len(state.done) and result.path.read_bytes() == data
    assert counted(net, link.url) == 1, "the rerun reused its download id"
    lacking = [c["hash"] for c in net.chunk_rows[file_id] if c["index"] not in state.done]
    assert net.link_renewals[0] == lacking, "it asked for tickets for the chunks it lacked, not the whole file"


def test_a_forgotten_download_id_starts_a_new_counted_download(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path, stranger: Any
) -> None:
    file_id, data = uploaded(coffer, tmp_path, size=20 * CHUNK)
    link = coffer.link(file_id)
    net.get_delay = 0.05  # the interruption must come before every chunk is in, even on a busy machine

    def stop(done: int, total: int) -> None:
        if done:
            raise Interrupt()

    with pytest.raises(Interrupt):
        stranger(link.url, out, on_progress=stop, in_flight=1)
    net.link_downloads.clear()
    assert stranger(link.url, out).path.read_bytes() == data
    assert counted(net, link.url) == 2


def test_links_are_listed_newest_first_without_keys(coffer: Coffer, tmp_path: Path) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    older = coffer.link(file_id)
    newer = coffer.link(file_id, password=PASSWORD)
    listed = coffer.links()
    assert [link.id for link in listed] == [newer.id, older.id]
    assert [link.protected for link in listed] == [True, False]
    assert all("url" not in link.to_json() for link in listed)
    assert [link.id for link in coffer.links(file_id)] == [newer.id, older.id]


def test_unlink_refuses_a_link_of_another_server_or_something_else(coffer: Coffer) -> None:
    with pytest.raises(errors.UsageError, match="logged in to"):
        coffer.unlink("https://elsewhere.test/s/0b6c43f2-4b0e-4c36-9d55-3b0c8a9e2f10#v1.k.x")
    with pytest.raises(errors.UsageError, match="neither a link id nor a link URL"):
        coffer.unlink("../../etc")


def test_a_link_password_cannot_be_empty(coffer: Coffer, tmp_path: Path, net: FakeNet) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    with pytest.raises(errors.UsageError, match="empty"):
        coffer.link(file_id, password="")
    assert net.links == {}


def test_a_link_used_up_by_someone_else_at_the_last_moment_leaves_nothing_behind(
    net: FakeNet, coffer: Coffer, tmp_path: Path, out: Path
) -> None:
    file_id, _ = uploaded(coffer, tmp_path)
    url = coffer.link(file_id).url

    def raced(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/downloads"):
            return httpx.Response(410, json={"error": "link_exhausted", "message": "used up"})
        return net.handle(request)

    transport = httpx.MockTransport(raced)
    with pytest.raises(errors.NotFoundError, match="as many downloads"):
        download_link(url, out, state_dir=tmp_path / "s", transport=transport, chunk_transport=transport)
    assert list(out.iterdir()) == []
    assert list((tmp_path / "s" / resume.DOWNLOADS).glob("*.json")) == []
