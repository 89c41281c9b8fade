"""Move chunks between a process and fileservers, spreading the load and stepping around failures.

Written once for every program that moves chunks: the client uploading and
downloading a user's files, and fileservers copying chunks to each other. It
imports :mod:`coffer.protocol` and httpx only, never the client, the server, a
fileserver or the format package, so each of them can build on it.

- :mod:`.http`: PUT, GET (into the caller's buffer) and HEAD of one chunk on one
  fileserver, each answer turned into a result or an error of :mod:`.errors`;
- :mod:`.balancer`: which fileserver takes the next chunk, learnt from how each did;
- :mod:`.failover`: the retry policy, one chunk at a time, over the two above;
- :mod:`.tickets`: what the engine needs from whoever grants its tickets.
"""
