"""Chunks moving through real fileservers under tickets, many at once, and the bad-input list over HTTP."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from coffer.devnet.procs import wait_until
from coffer.devnet.raw_chunks import chunk_url, finalize, get_tickets, new_file, put_chunk, put_ticket

from .network import Network


def _read_responses(sock: socket.socket, count: int) -> list[int]:
    """Read *count* HTTP/1.1 responses framed by Content-Length from *sock*; return their status codes."""
    data, statuses = b"", list[int]()
    while len(statuses) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1").split("\r\n")
            length = next(int(line.split(":", 1)[1]) for line in head if line.lower().startswith("content-length:"))
            if len(data) >= end + 4 + length:
                statuses.append(int(head[0].split()[1]))
                data = data[end + 4 + length :]
                continue
        more = sock.recv(65536)
        assert more, f"the connection closed after {len(statuses)} of {count} answers"
        data += more
    return statuses


def _stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name != "identity.json" and not p.name.endswith(".json")]


def test_many_chunks_upload_in_parallel_across_fileservers_and_download_intact(network: Network) -> None:
    assert network.admin is not None
    chunks = [os.urandom(256 * 1024) for _ in range(48)]
    record = new_file(network.admin, chunks)
    ticket, servers = put_ticket(network.admin, record["id"])
    assert len(servers) >= 2

    def upload(i: int) -> list[str]:
        answer = put_chunk(servers[i % len(servers)]["url"], record["id"], chunks[i], ticket)
        assert answer.status_code == 201, answer.text
        return [answer.json()["receipt"]]

    with ThreadPoolExecutor(16) as pool:
        receipts = list(pool.map(upload, range(len(chunks))))
    done = finalize(network.admin, record["id"], chunks, receipts)
    assert done["state"] == "complete"
    tickets = get_tickets(network.admin, record["id"])
    urls = {s["id"]: s["url"] for s in network.listing()}

    def download(i: int) -> bytes:
        info = done["chunks"][i]
        response = httpx.get(
            chunk_url(urls[info["fileservers"][0]], "default", record["id"], chunks[i]),
            headers={"Authorization": f"Ticket {tickets[info['hash']]}"},
        )
        assert response.status_code == 200, response.text
        return response.content

    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(download, range(len(chunks)))) == chunks


def test_repeated_put_is_idempotent_and_range_reads_work(network: Network) -> None:
    assert network.admin is not None
    data = os.urandom(100_000)
    record = new_file(network.admin, [data])
    ticket, servers = put_ticket(network.admin, record["id"])
    first = put_chunk(servers[0]["url"], record["id"], data, ticket)
    again = put_chunk(servers[0]["url"], record["id"], data, ticket)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False
    finalize(network.admin, record["id"], [data], [[first.json()["receipt"]]])
    get = get_tickets(network.admin, record["id"])[hashlib.sha256(data).hexdigest()]
    part = httpx.get(
        chunk_url(servers[0]["url"], "default", record["id"], data),
        headers={"Authorization": f"Ticket {get}", "Range": "bytes=1000-1999"},
    )
    assert part.status_code == 206
    assert part.content == data[1000:2000]


def test_put_ticket_is_revoked_once_the_file_is_final(network: Network) -> None:
    assert network.admin is not None
    data = os.urandom(1000)
    record = new_file(network.admin, [data])
    ticket, servers = put_ticket(network.admin, record["id"])
    receipt = put_chunk(servers[0]["url"], record["id"], data, ticket).json()["receipt"]
    finalize(network.admin, record["id"], [data], [[receipt]])
    extra = os.urandom(1000)

    def refused() -> bool:
        return put_chunk(servers[0]["url"], record["id"], extra, ticket).status_code == 401

    wait_until(refused, 5, "the fileserver to learn the revocation from its heartbeat")
    answer = put_chunk(servers[0]["url"], record["id"], extra, ticket)
    assert answer.json()["error"] == "ticket_revoked"


def test_tickets_are_enforced_over_http(network: Network) -> None:
    assert network.admin is not None
    data = os.urandom(1000)
    record = new_file(network.admin, [data])
    other = new_file(network.admin, [data])
    ticket, servers = put_ticket(network.admin, record["id"])
    base = servers[0]["url"]
    no_ticket = httpx.put(chunk_url(base, "default", record["id"], data), content=data)
    assert no_ticket.status_code == 401
    another_file = put_chunk(base, other["id"], data, ticket)
    assert another_file.status_code == 403
    another_shard = put_chunk(base, record["id"], data, ticket, shard="archive")
    assert another_shard.status_code in (403, 404)
    wrong_op = httpx.get(chunk_url(base, "default", record["id"], data), headers={"Authorization": f"Ticket {ticket}"})
    assert wrong_op.status_code == 403
    payload, _ = ticket.split(".")
    forged = put_chunk(base, record["id"], data, payload + "." + "A" * 86)
    assert forged.status_code == 401
    for response in (no_ticket, another_file, wrong_op, forged):
        assert set(response.json()) == {"error", "message"}


def test_bad_chunks_leave_nothing_behind(network: Network) -> None:
    assert network.admin is not None
    data = os.urandom(50_000)
    record = new_file(network.admin, [data])
    ticket, servers = put_ticket(network.admin, record["id"])
    fs = next(f for f in network.fileservers if f.url == servers[0]["url"])
    before = set(_stored_files(fs.data_dir))
    url = chunk_url(fs.url, "default", record["id"], data)
    auth = {"Authorization": f"Ticket {ticket}"}
    wrong_hash = httpx.put(url, content=os.urandom(50_000), headers=auth)
    assert wrong_hash.status_code == 422
    too_big = httpx.put(url, content=data + b"x" * 60_000, headers=auth)
    assert too_big.status_code == 413
    traversal = httpx.put(f"{fs.url}/api/chunks/default/{record['id']}/..%2F..%2Fetc", content=data, headers=auth)
    assert traversal.status_code in (400, 404)
    big_header = httpx.put(url, content=data, headers=auth | {"X-Padding": "p" * 10_000})
    assert big_header.status_code == 431
    assert big_header.json()["error"] == "headers_too_large"

    host, port = urlsplit(fs.url).hostname, urlsplit(fs.url).port
    assert host is not None and port is not None
    with socket.create_connection((host, port)) as sock:
        head = (
            f"PUT {urlsplit(url).path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Ticket {ticket}\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[: len(data) // 2])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)
    assert set(_stored_files(fs.data_dir)) == before, "no partial chunk may remain"
    head_answer = httpx.head(url, headers=auth)
    assert head_answer.status_code == 404


def test_pipelined_puts_on_one_connection_are_each_answered_in_turn(network: Network) -> None:
    """The fileserver reads bodies past gunicorn: a refused body, then small and large ones, share one connection."""
    assert network.admin is not None
    small, large = os.urandom(100), os.urandom(3 << 20)
    record = new_file(network.admin, [small, large])
    ticket, servers = put_ticket(network.admin, record["id"])
    url = urlsplit(servers[0]["url"])
    assert url.hostname is not None and url.port is not None

    def request(data: bytes, named_for: bytes) -> bytes:
        path = urlsplit(chunk_url(servers[0]["url"], "default", record["id"], named_for)).path
        head = f"PUT {path} HTTP/1.1\r\nHost: {url.hostname}\r\nAuthorization: Ticket {ticket}\r\n"
        return f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data

    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(request(os.urandom(100), small) + request(small, small) + request(large, large))
        statuses = _read_responses(sock, 3)
    assert statuses == [422, 201, 201]


def test_downloads_continue_while_the_server_is_down(network: Network) -> None:
    assert network.admin is not None and network.server is not None
    data = os.urandom(10_000)
    record = new_file(network.admin, [data])
    ticket, servers = put_ticket(network.admin, record["id"])
    receipt = put_chunk(servers[0]["url"], record["id"], data, ticket).json()["receipt"]
    finalize(network.admin, record["id"], [data], [[receipt]])
    get = get_tickets(network.admin, record["id"])[hashlib.sha256(data).hexdigest()]
    network.server.kill(signal.SIGTERM)
    try:
        answer = httpx.get(
            chunk_url(servers[0]["url"], "default", record["id"], data), headers={"Authorization": f"Ticket {get}"}
        )
        assert answer.status_code == 200
        assert answer.content == data
    finally:
        network.start_server()
    wait_until(lambda: all(network.live(fs) for fs in network.fileservers), 15, "fileservers to be live again")
