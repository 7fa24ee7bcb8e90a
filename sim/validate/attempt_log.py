"""The attempt log of one real run: one JSON object a line, appended by every process.

Activities write ``start`` and ``end`` lines for each attempt of a unit (step ``i``, instance
``j``, attempt ``k`` of that unit); the harness writes ``kill``, ``deploy`` and ``ready`` lines
for the worker processes it kills, stops and starts. Each line carries the writer's ``pid`` and
the Unix time ``t``. Lines are short single ``write`` calls on a file opened for appending, so
processes never interleave within a line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class AttemptLog:
    """The run's attempt log (one file per replication and strategy, appended by every worker)."""

    def __init__(self, path: str):
        self.path = Path(path)

    def attempts_of(self, i: int, j: int) -> int:
        if not self.path.exists():
            return 0
        n = 0
        with self.path.open() as f:
            for line in f:
                e = json.loads(line)
                if e["e"] == "start" and e["i"] == i and e["j"] == j:
                    n += 1
        return n

    def write(self, **entry: Any) -> None:
        entry["t"] = time.time()
        entry["pid"] = os.getpid()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]
