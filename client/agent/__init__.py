"""The agent: a warm process that runs ``coffer upload`` and ``coffer download`` without the interpreter's start.

:mod:`.door` is what every ``coffer`` command runs first; :mod:`.serve` is the
agent's loop, :mod:`.child` what each of its forks does, :mod:`.wire` the
frames between them. docs/agent.md is the user's side of it.
"""
