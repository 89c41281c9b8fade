"""The HTTP connections of a client process: plain HTTP at once, TLS only once an ``https`` URL is asked for.

Loading the CA bundle into a TLS context costs 15-60 ms of a command's start; a
``coffer`` command that talks to a server and fileservers over plain HTTP (one
machine, a private network behind a TLS front) never needs it. Every client of the
process shares one TLS context, made the first time a request needs it.
"""

from __future__ import annotations

import functools
import ssl
import threading

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context every HTTP client of this process shares, made as httpx makes its default.

    Loading the CA bundle costs some 15 ms, and each httpx client would load its own:
    a command that talks to the server and to fileservers paid it twice at start-up.
    """
    return httpx.create_ssl_context()


@functools.cache
def plain_context() -> ssl.SSLContext:
    """A context that trusts no certificate at all, for the transports that only ever carry ``http`` URLs.

    httpx wants a context for every transport, even one that never opens TLS. The first
    context a process makes costs 3 ms (OpenSSL reads its configuration), each one
    after it 0.3: one context serves every plain transport of the process, and ``coffer
    agent`` makes it before it forks, so a command it runs makes none.

    SECURITY: it still requires a certificate and checks the host name, as any client context does, and it
    trusts no authority: were an ``https`` URL ever sent through it, the connection would fail, never go
    unverified.
    """
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class ClientTransport(httpx.BaseTransport):
    """Send ``http`` requests over plain connections and ``https`` ones over TLS with :func:`tls_context`.

    The TLS pool is made at the first ``https`` request; both pools keep their connections alive
    within *limits*.
    """

    def __init__(self, limits: httpx.Limits):
        self._limits = limits
        self._plain = httpx.HTTPTransport(limits=limits, verify=plain_context())
        self._tls: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def _secure(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._tls is None:
                self._tls = httpx.HTTPTransport(limits=self._limits, verify=tls_context())
            return self._tls

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._secure() if request.url.scheme == "https" else self._plain
        return transport.handle_request(request)

    def close(self) -> None:
        self._plain.close()
        with self._lock:
            if self._tls is not None:
                self._tls.close()
