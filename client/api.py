"""Talk to the central server over HTTP: the JSON API, with errors raised as client exceptions."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from coffer.format import kdf
from coffer.format.keys import UserKeys, wrap_private_key
from coffer.protocol.api.admin import NewUser
from coffer.protocol.api.auth import KdfAnswer, Login, Session, WrappedKeys
from coffer.protocol.encoding import b64decode
from coffer.protocol.errors import parse_error_body
from coffer.transfer.http import retry_after, tls_context

from . import errors
from .server_address import server_url
from .server_api import IDEMPOTENT, ServerApi

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Below gunicorn's 2 s keep-alive, so we never send on a connection the server is closing.
LIMITS = httpx.Limits(max_keepalive_connections=16, keepalive_expiry=1.5)
RATE_LIMIT_RETRIES = 3
"""Times a request safe to repeat is sent again after a 429, each after the wait the server asked for."""
MAX_RATE_LIMIT_WAIT = 30.0
"""A 429 asking for a longer wait than this is raised at once: the user decides, not a silent sleep."""


class ServerClient(ServerApi):
    """A thin, typed wrapper around the server's JSON API; one per server URL and session."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = server_url(url)
        self.token = token
        self._http = httpx.Client(
            base_url=self.url, timeout=TIMEOUT, limits=LIMITS, transport=transport, verify=tls_context()
        )
        self._sleep = sleep

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

        A 429 on a request that is safe to repeat (*retry*, which defaults to whether
        *method* is idempotent) is sent again after the ``Retry-After`` the server
        asked for, up to :data:`RATE_LIMIT_RETRIES` times while each wait is at most
        :data:`MAX_RATE_LIMIT_WAIT`; otherwise it is raised as
        :class:`~client.errors.RateLimited`, saying when to try again.
        """
        again = method in IDEMPOTENT if retry is None else retry
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            response = self._send(method, path, body, params)
            if response.status_code != 429 or not again or attempt == RATE_LIMIT_RETRIES:
                break
            wait = retry_after(response.headers)
            if wait is None or wait > MAX_RATE_LIMIT_WAIT:
                break
            self._sleep(wait)
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
            code, message = parsed or ("http_error", f"HTTP {response.status_code} from {self.url}{path}")
            wait = retry_after(response.headers, data) if response.status_code == 429 else None
            raise errors.from_response(response.status_code, code, message, wait)
        return data

    def login(self, username: str, password: str) -> Session:
        """Derive the auth key from the password (Argon2id, the server's salt) and open a session."""
        params = checked_kdf_params(self.prelogin(username))
        keys = kdf.derive(password, params)
        result = self.open_session(Login(username, keys.auth_key))
        self.token = result.token
        return result


def new_user_body(username: str, password: str, role: str) -> dict[str, Any]:
    """Return :func:`new_user` as the JSON body, for a caller that hands it to another process."""
    return new_user(username, password, role).to_json()


def new_user(username: str, password: str, role: str) -> NewUser:
    """Make what creates a user: salt, auth key and a fresh key pair, all made here.

    The private key is wrapped under the master key of the initial password, so the
    user can read what is shared with them from their first login; the password and
    the master key never leave this machine.
    """
    params = kdf.KdfParams(salt=os.urandom(kdf.SALT_BYTES))
    derived = kdf.derive(password, params)
    pair = UserKeys.generate()
    keys = WrappedKeys(pair.public, wrap_private_key(derived.master_key, pair))
    return NewUser(username, role, params.salt, derived.auth_key, keys)


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
