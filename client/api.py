"""Talk to the central server over HTTP: the JSON API, with errors raised as client exceptions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from coffer.format import kdf
from coffer.protocol.encoding import b64decode
from coffer.protocol.errors import parse_error_body
from coffer.transfer.connections import ClientTransport
from coffer.transfer.http import retry_after, stamp_request_id

from . import errors
from .server_address import server_url
from .server_api import IDEMPOTENT, ServerApi

if TYPE_CHECKING:
    from coffer.protocol.api.auth import KdfAnswer, Session

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Below gunicorn's 2 s keep-alive, so we never send on a connection the server is closing.
LIMITS = httpx.Limits(max_keepalive_connections=16, keepalive_expiry=1.5)
RATE_LIMIT_RETRIES = 5
"""Times one request is sent again after a 429, each after the wait the server asked for."""
MAX_RATE_LIMIT_WAIT = 65.0
"""A 429 asking for a longer wait than this is raised at once (request limits count per minute, so a
request refused by them never needs more): the user decides, not a long sleep."""
MAX_TOTAL_RATE_LIMIT_WAIT = 180.0
"""The most one request waits in all, over its retries, before the 429 is raised."""
GATEWAY_FAILURES = frozenset({502, 504})
"""Statuses a reverse proxy answers itself when the instance behind it fails; a Coffer server never sends them."""
REFUSED_BEFORE_ACTING = frozenset({"rate_limited"})
"""429 codes the server answers before any handler runs (request limits): nothing was done, so any method,
a POST included, is safe to send again. A refused login (``login_throttled``, ``login_locked``) is not."""


class ServerClient(ServerApi):
    """A thin, typed wrapper around the server's JSON API; one per server URL and session."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float], None] | None = None,
    ):
        self.url = server_url(url)
        self.token = token
        self._http = httpx.Client(
            base_url=self.url,
            timeout=TIMEOUT,
            transport=transport or ClientTransport(LIMITS),
            event_hooks={"request": [stamp_request_id]},
        )
        self._sleep = sleep
        self._on_wait = on_wait

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        *,
        retry: bool | None = None,
    ) -> Any:
        """Send one API request and return its JSON answer, or raise the error it carries.

        A 429 is waited out and the request sent again when that is safe: the server refused
        it before acting (a request limit, :data:`REFUSED_BEFORE_ACTING`), or *retry* says so
        (by default, whether *method* is idempotent). Each wait is announced through
        ``on_wait(seconds)`` first, so it is never silent, and bounded: at most
        :data:`RATE_LIMIT_RETRIES` waits, each at most :data:`MAX_RATE_LIMIT_WAIT` and all
        together at most :data:`MAX_TOTAL_RATE_LIMIT_WAIT`. Past that the 429 is raised as
        :class:`~client.errors.RateLimited`, saying when to try again.
        """
        again = method in IDEMPOTENT if retry is None else retry
        waited = 0.0
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            response = self._send(method, path, body, params)
            if response.status_code != 429 or attempt == RATE_LIMIT_RETRIES:
                break
            wait = _wait_asked(response, again)
            if wait is None or wait > MAX_RATE_LIMIT_WAIT or waited + wait > MAX_TOTAL_RATE_LIMIT_WAIT:
                break
            if self._on_wait is not None:
                self._on_wait(wait)
            self._sleep(wait)
            waited += wait
        return self._answer(response, path)

    def _send(self, method: str, path: str, body: Any, params: dict[str, str] | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        content = json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._http.request(method, path, content=content, headers=headers, params=params)
        except httpx.TransportError as exc:
            raise errors.ConnectionFailed(
                f"cannot reach the server at {self.url} ({type(exc).__name__}): is it running, and is the URL right?"
            ) from exc

    def _answer(self, response: httpx.Response, path: str) -> Any:
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_error:
            parsed = parse_error_body(data)
            if parsed is None and response.status_code in GATEWAY_FAILURES:
                raise errors.GatewayFailed(
                    f"the proxy in front of {self.url} answered {response.status_code} for {path}: a server "
                    "instance stopped or cannot be reached; try again, and if it lasts, check the server instances"
                )
            code, message = parsed or ("http_error", f"HTTP {response.status_code} from {self.url}{path}")
            wait = retry_after(response.headers, data) if response.status_code == 429 else None
            raise errors.from_response(response.status_code, code, message, wait)
        return data

    def login(self, username: str, password: str) -> Session:
        """Derive the auth key from the password (Argon2id, the server's salt) and open a session."""
        from coffer.protocol.api.auth import Login

        params = checked_kdf_params(self.prelogin(username))
        keys = kdf.derive(password, params)
        result = self.open_session(Login(username, keys.auth_key))
        self.token = result.token
        return result


def _wait_asked(response: httpx.Response, again: bool) -> float | None:
    """Return how long to wait before sending a request refused with 429 again, or None if it must not be."""
    try:
        data = response.json()
    except ValueError:
        data = None
    parsed = parse_error_body(data)
    if not (again or (parsed is not None and parsed[0] in REFUSED_BEFORE_ACTING)):
        return None
    return retry_after(response.headers, data)


def checked_kdf_params(prelogin: KdfAnswer) -> kdf.KdfParams:
    """Take the server's Argon2id parameters only if they are at least our defaults.

    SECURITY: a malicious server could otherwise hand out cheap parameters and then
    guess the password offline from the auth key it receives at login.
    """
    opslimit, memlimit = prelogin.opslimit, prelogin.memlimit
    if not (kdf.OPSLIMIT <= opslimit <= 20 and kdf.MEMLIMIT <= memlimit <= 1 << 30):
        raise errors.ApiError(
            f"the server asks for Argon2id parameters (ops {opslimit}, mem {memlimit}) outside the safe range: "
            "refusing to send a key derived with them",
            code="weak_kdf",
        )
    return kdf.KdfParams(salt=b64decode(prelogin.salt), opslimit=opslimit, memlimit=memlimit)
