"""The data plane: the WSGI app that takes and serves chunks, each transfer checked against a server-signed ticket."""
