"""The fileserver: stores and serves chunks it cannot read.

Its rooms: ``data`` (the WSGI app, one per gunicorn worker), ``agent`` (the
process that talks to the server), ``maintenance`` (purging, scrubbing,
flushing) and ``storage`` (the backends, which depend on nothing else here);
``run`` puts them together under gunicorn. Shared between them: settings,
shards, identity, revocations, counters, reports and errors.
"""
