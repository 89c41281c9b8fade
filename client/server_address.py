"""Read the server address a person typed (``--server``, ``COFFER_SERVER``) into the URL the client uses.

``127.0.0.1:8000`` is what people type for a server on their own machine; httpx
cannot send to it (no scheme) and says only ``UnsupportedProtocol``. The rule:

- a URL with ``http://`` or ``https://`` is used as written;
- a loopback address with no scheme (``127.0.0.1:8000``, ``localhost:8000``,
  ``[::1]:8000``) gets ``http://``: nothing it sends leaves this machine;
- any other address with no scheme is refused, naming the scheme it lacks. SECURITY:
  login sends a key derived from the password, which opens the session; guessing
  ``http://`` would send it over the network in clear, and guessing ``https://``
  would silently turn what was typed into another address. The person chooses.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from .errors import UsageError

_SCHEME = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*)://")


def server_url(text: str) -> str:
    """Return *text* as the server's base URL (no trailing slash), or raise UsageError saying what is missing."""
    address = text.strip().rstrip("/")
    scheme = _SCHEME.match(address)
    if scheme:
        if scheme.group(1).lower() not in ("http", "https"):
            raise UsageError(
                f"the server address {text!r} starts with {scheme.group(1)}://: "
                "a Coffer server is reached over https:// (or http://)"
            )
        return address
    host = _host(address, text)
    if _is_loopback(host):
        return f"http://{address}"
    raise UsageError(
        f"the server address {text!r} has no scheme: write https://{address} "
        f"(or http://{address} if that server really runs without TLS, which sends your login in clear)"
    )


def _host(address: str, text: str) -> str:
    try:
        parts = urlsplit(f"//{address}")
        _ = parts.port  # reading it checks it
    except ValueError as exc:
        raise UsageError(f"the server address {text!r} is not a host[:port], such as https://coffer.example") from exc
    if not parts.hostname:
        raise UsageError(f"the server address {text!r} names no host: give one such as https://coffer.example")
    return parts.hostname


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
