"""HTTP serving the server and the fileserver share under gunicorn: bounded heads and bodies, JSON errors.

Both programs serve HTTP through gunicorn's threaded worker and must answer the same way
at its edges, so that behaviour is written once, here, below both and beside the format
and the transfer engine. It needs the programs' ``gunicorn`` extra; clients never import
it (a contract in ``pyproject.toml`` holds that).

- :mod:`.bodies`: an idle limit on request bodies, and how to tell a request has one.
- :mod:`.answers`: gunicorn's own refusals, and the edge limits', answered as JSON like every other error.
- :mod:`.limits`: the header timeout, the per-address connection cap and thread share (pure).
- :mod:`.edges`: the gthread worker both programs run, enforcing them.
- :mod:`.metrics`: Prometheus metrics summed over the workers, and their listener.
- :mod:`.binds`: the check of a listener's ``host:port`` setting, with no dependency.
- :mod:`.sidecar`: a helper process the master forks once (the agent, the metrics listener).
"""
