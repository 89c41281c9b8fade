"""Take the server's nudge: check its signature and that it names this fileserver's cluster, then ring the agent.

The agent beats at once on a ring (at most once per ``NUDGE_GAP``), so copy orders the
server just made reach this fileserver within a fraction of a second instead of at its
next regular beat. SECURITY: a nudge is checked like a ticket (the server's key, this
fileserver's cluster, its lifetime) before anything happens; a forged or stray one is
refused and rings nothing, and even a genuine one only brings a beat forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import falcon

from coffer.protocol import nudges
from coffer.protocol.encoding import DecodeError, parse_json_object
from coffer.protocol.errors import ProtocolError

from ..doorbell import Doorbell

log = logging.getLogger(__name__)

MAX_BODY = nudges.MAX_TOKEN_LENGTH + 64


class NudgeResource:
    def __init__(self, keys: dict[str, bytes], cluster_id: str, doorbell: Doorbell | None, clock: Callable[[], float]):
        self._keys = keys  # SECURITY: kid -> the server's ticket public key
        self._cluster_id = cluster_id
        self._doorbell = doorbell
        self._clock = clock

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        if not length or length > MAX_BODY:
            raise ProtocolError(f"a nudge is a JSON body of 1 to {MAX_BODY} bytes", code="invalid_json")
        try:
            body = parse_json_object(req.bounded_stream.read(length))
        except DecodeError as exc:
            raise ProtocolError(f"the nudge is not a JSON object: {exc}", code="invalid_json") from exc
        nudges.verify(nudges.parse_request(body), self._keys, self._cluster_id, self._clock())  # SECURITY
        if self._doorbell is not None:
            self._doorbell.ring()
        resp.status = falcon.HTTP_202
        resp.media = {"status": "accepted"}
