"""Web origins (``scheme://host[:port]``): the page's, which fileservers answer CORS for, and the
fileservers', which the page's Content-Security-Policy lets it connect to.

Pure: parsing and checking only. Both programs read lists of origins from their settings,
so a typo is refused at start with a message that shows the form, not met at the first download.
"""

from __future__ import annotations

from urllib.parse import urlsplit

FORM = "an origin is scheme://host[:port], e.g. https://coffer.example.com, with no path"


def origin_of(url: str) -> str:
    """Return the origin of an http(s) *url*, lower-cased as browsers send it; ValueError if it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} has a malformed host or port: {FORM}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// address: {FORM}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r} has a user name: {FORM}")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    shown = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{shown}" if port in (None, default) else f"{scheme}://{shown}:{port}"


def parse_origins(text: str) -> tuple[str, ...]:
    """Read a comma-separated list of origins (empty: none); ValueError naming the first that is not one."""
    found: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        origin = origin_of(item)
        parts = urlsplit(item)
        if parts.path.strip("/") or parts.query or parts.fragment or "#" in item or "?" in item:
            raise ValueError(f"{item!r} is not an origin: {FORM}")
        if origin not in found:
            found.append(origin)
    return tuple(found)
