"""Coffer: an end-to-end encrypted, sharded file network.

Every installed module lives under this one namespace. The repository keeps one
top-level folder a program (``protocol/``, ``client/``, ``server/``,
``fileserver/``, ...); ``src/coffer/`` maps each into the namespace with a link,
so editable installs, the type checker and the layering contract all see the
installed names.
"""
