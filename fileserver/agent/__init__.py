"""The agent: the one process that speaks for the fileserver to the server.

It registers, heartbeats, passes purge orders on, asks which files the server
still knows (orphan reconciliation), and runs the maintenance threads.
"""
