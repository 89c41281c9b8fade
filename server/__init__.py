"""The central server: users, shards, clusters, fileservers, file records and tickets.

Its rooms: ``api`` (the HTTP resources), ``jobs`` (scheduled work), ``domain``
(the logic) and ``ratelimit`` beside it, ``store`` (the database and its
migrations); ``run`` starts them under gunicorn. A layering contract keeps each
room to the ones below it.
"""
