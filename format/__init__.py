"""Coffer's encryption format, version 1: what the bytes a client writes mean, and nothing else.

No I/O here: no sockets, files or clock. Every client (this one, the web page) implements
these modules name for name and passes ``spec/vectors/format-v1.json``; ``spec/format-v1.md``
is the written specification and docs/crypto.md the reasons behind it.

- ``version``   the format version a file record carries, and the check of it
- ``sizes``     chunk sizes and counts: the one place for that arithmetic
- ``aead``      AES-256-GCM into and out of reused buffers (libsodium)
- ``chunks``    sealing, opening and naming one chunk
- ``metadata``  the sealed description of a file (name, size, type, mtime, sha256)
- ``keys``      a user's key pair, the private-key wrap, the sealed file key, key commitments
- ``shares``    file keys boxed from owner to recipient, and public-key fingerprints
- ``links``     share links and the file key in their fragment (plain or password-locked)
- ``kdf``       a password turned into the auth key and the master key (Argon2id)
- ``records``   a server's file record opened and held to its sealed metadata
- ``errors``    what goes wrong, as this package's own error tree
"""
