"""One launcher for a whole Coffer network on this machine.

``coffer devnet`` (what ``make run`` runs), the integration tests and the
benchmarks all start their networks here: the server under gunicorn,
``coffer server create-admin`` (an invitation, spent here through the client
library, which makes the administrator's keys), a topology applied through the admin API, the
cluster config exported, and ``coffer fileserver --config`` for each fileserver,
the way an administrator does it. It sits above the client, server and
fileserver packages and starts the latter two as processes, never in-process.
"""
