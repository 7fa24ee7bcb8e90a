"""The error raised for data that cannot be calibrated from.

Every message names the file, where in it (1-based data row, the workflow/step/attempt, or the
Temporal event id) and the problem, so a user can fix the input without reading code.
"""

from __future__ import annotations

from sim.errors import SimError


class DataError(SimError):
    """Input data (attempts table, Temporal history, deployment list) that cannot be used."""

    def __init__(self, problem: str, *, file: str | None = None, where: str | None = None):
        self.file = file
        self.where = where
        self.problem = problem
        parts = [p for p in (str(file) if file else None, where) if p]
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {problem}" if prefix else problem)
