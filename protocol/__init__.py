"""The wire protocol Coffer's server, fileservers and clients share.

Pure functions and small value classes only: no sockets, no database, no clock
that the caller did not pass in. Every message that is signed or written to
disk carries a version, so a later format can be told apart from this one.
"""

__version__ = "0.1.0"

PROTOCOL_VERSION = 1
