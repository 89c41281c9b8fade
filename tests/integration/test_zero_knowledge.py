"""Zero knowledge: after real uploads, shares and link downloads, no plaintext, file key, link fragment or
master key is anywhere on the servers' side.

The files hold a unique marker (in their content and their names); then the
database (the SQLite file with its WAL, or a PostgreSQL dump), every file under
every fileserver's data directory, and every log are searched for the marker
and for each secret in the encodings a careless program would write it in.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from coffer.client.coffer import Coffer
from coffer.client.link_download import download_link
from coffer.devnet import network as devnet
from coffer.format import kdf
from coffer.format.keys import open_file_key
from coffer.protocol.encoding import b64decode, b64encode

from .network import Network

PASSWORD = "zero-knowledge-pw-1"
LINK_PASSWORD = "zero-knowledge-link-pw"


def _forms(secret: bytes) -> list[bytes]:
    """The ways a secret could be written down: raw, hex, base64 and base64url."""
    return [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret).rstrip(b"="),
        b64encode(secret).encode(),
    ]


def _server_side_bytes(network: devnet.Network) -> Iterator[tuple[str, bytes]]:
    """Yield every file of the servers' side of *network* (any launcher's: offices too), with its bytes."""
    if network.database_url.startswith("sqlite:///"):
        db = Path(network.database_url.removeprefix("sqlite:///"))
        for path in db.parent.glob(db.name + "*"):
            yield str(path), path.read_bytes()
    else:
        dump = subprocess.run(["pg_dump", network.database_url], capture_output=True, check=True, timeout=60)
        yield "pg_dump", dump.stdout
    for fs in network.fileservers:
        for path in fs.data_dir.rglob("*"):
            if path.is_file():
                yield str(path), path.read_bytes()
    for path in network.root.glob("*.log"):
        yield str(path), path.read_bytes()


def test_no_marker_file_key_link_fragment_or_master_key_reaches_the_servers(network: Network, tmp_path: Path) -> None:
    """Uploads, a share to a second user and both kinds of link, each downloaded: then search everything."""
    marker = f"COFFER-MARKER-{os.urandom(8).hex()}"
    network.create_user("zk", PASSWORD)
    network.create_user("zk-friend", PASSWORD)
    secrets: dict[str, bytes] = {}
    texts: list[str] = []
    with Coffer.login(network.url, "zk", PASSWORD, config_dir=tmp_path / "config") as coffer:
        ids = []
        for n, size in enumerate((0, 1000, 3 * 1024 * 1024 + 17)):
            source = tmp_path / f"{marker}-{n}.txt"
            text = (marker + "\n").encode() * (size // (len(marker) + 1) + 1)
            source.write_bytes(text[:size] if size else b"")
            ids.append(coffer.upload(source, chunk_size=1024 * 1024).file_id)
        for file_id in ids:
            record = coffer.api.request("GET", f"/api/files/{file_id}")
            secrets[f"file key {file_id}"] = open_file_key(coffer.keys, b64decode(record["sealed_key"]))
        secrets["private key"] = coffer.keys.private
        coffer.share(ids[2], "zk-friend")
        links = [coffer.link(ids[2]).url, coffer.link(ids[1], password=LINK_PASSWORD).url]
        pre = coffer.api.request("POST", "/api/auth/prelogin", {"username": "zk"})
    with Coffer.login(network.url, "zk-friend", PASSWORD, config_dir=tmp_path / "friend") as friend:
        friend.download(ids[2], tmp_path / "shared-copy")
        secrets["friend's private key"] = friend.keys.private
    for n, url in enumerate(links):
        download_link(url, tmp_path / f"link-copy-{n}", password=LINK_PASSWORD if n else None)
        texts.append(url.split("#", 1)[1])
    derived = kdf.derive(PASSWORD, kdf.KdfParams(b64decode(pre["salt"]), pre["opslimit"], pre["memlimit"]))
    secrets["master key"] = derived.master_key
    secrets["auth key"] = derived.auth_key
    needles = {"marker": [marker.encode()], "password": [PASSWORD.encode()], "link password": [LINK_PASSWORD.encode()]}
    needles |= {f"link fragment {n}": [text.encode()] for n, text in enumerate(texts)}
    needles |= {name: _forms(value) for name, value in secrets.items()}

    searched = 0
    for where, data in _server_side_bytes(network):
        searched += 1
        for name, forms in needles.items():
            assert not any(form in data for form in forms), f"the {name} appears in {where}"
    assert searched > 10, "the search must have covered the database, the chunks and the logs"
