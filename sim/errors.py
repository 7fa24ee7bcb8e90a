"""Errors that reach users: each names the file, the key path and the problem."""

from __future__ import annotations


class SimError(Exception):
    """Base class of errors that the CLI prints as one clear line (no traceback)."""


class ScenarioError(SimError):
    """A scenario (or pricing profile) that cannot be used."""

    def __init__(self, problem: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        self.problem = problem
        where = []
        if file:
            where.append(str(file))
        if key:
            where.append(f"key '{key}'")
        prefix = ": ".join(where)
        super().__init__(f"{prefix}: {problem}" if prefix else problem)


#: Exit codes of the command line (documented in the README).
EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_TARGET_NOT_MET = 3  # a stopping rule not reached, or runs that did not complete
EXIT_INTERRUPTED = 130
