"""The `taskpack` command line: the runtime's commands plus the platform's (`sources`, later `demo`, `ask`, `serve`).

`runtime/` cannot import the store or the tasks, so its CLI cannot offer commands that need them; this package
composes it with theirs (see main.py).
"""
