"""Give every request an id: the client's ``X-Request-Id`` when it is sane, else a new one, echoed in the answer.

The first middleware of both programs, so every later log line of the request,
and its error answer, carries the id (see :mod:`coffer.protocol.requestids`).
"""

from __future__ import annotations

import falcon

from coffer.protocol import requestids


class RequestIds:
    """Falcon middleware: adopt or make the request's id, send it back in ``X-Request-Id``, forget it at the end.

    Put it first, so its ``process_response`` runs last, after every other middleware
    has logged. A streamed body is logged when it closes, later: whatever logs then
    keeps the id itself (the fileserver's transfer record does).
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        request_id = requestids.adopt(req.get_header(requestids.HEADER))
        req.context.request_id = request_id
        resp.set_header(requestids.HEADER, request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object, ok: bool) -> None:
        requestids.current.set(None)
