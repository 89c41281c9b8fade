"""The messages clients and the server exchange, one module per area, each defined once.

Every request model has ``parse(body)``, which the server runs on what it receives,
and ``to_json()``, which a client sends; every answer model has the same pair, the
other way round. ``parse`` checks types and size limits and raises
:class:`~coffer.protocol.errors.ProtocolError` (a 400) with the code and message
the server has always answered, so a bad body changes nothing on either side.
"""
