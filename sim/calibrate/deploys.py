"""Deployment timestamps: a CSV file, one timestamp per line, optional header.

Each line is an ISO-8601 timestamp (``2026-03-02T14:00:00Z``) or a number of seconds. Extra
columns are ignored (the first column is read). Timestamps need not be sorted; duplicates are
errors (two deployments at the same instant are one deployment).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.calibrate.attempts import timestamp_s
from sim.calibrate.errors import DataError


def _to_seconds(text: str) -> float | None:
    """A number of seconds, or an ISO-8601 timestamp in seconds; None for anything else."""
    try:
        return float(text)
    except ValueError:
        return timestamp_s(text)


def parse_deploy_lines(lines: list[str], *, source: str = "<deploys>") -> np.ndarray:
    """Sorted deployment instants (seconds) from the lines of a deploys file.

    The first non-empty line may be a header (any text that is not a timestamp); every other
    line must hold a timestamp in its first comma-separated field.
    """
    values: list[float] = []
    kinds: set[str] = set()
    seen_data = False
    for lineno, line in enumerate(lines, start=1):
        field = line.split(",")[0].strip().strip('"')
        if not field or field.startswith("#"):
            continue
        t = _to_seconds(field)
        if t is None:
            if not seen_data and not values and not kinds:
                kinds.add("header")
                continue
            raise DataError(f"not an ISO-8601 timestamp or a number of seconds: {field!r}",
                            file=source, where=f"line {lineno}")
        if not np.isfinite(t):
            raise DataError(f"not a finite time: {field!r}", file=source, where=f"line {lineno}")
        kinds.add("number" if _is_number(field) else "timestamp")
        if {"number", "timestamp"} <= kinds:
            raise DataError("mixes numbers of seconds with ISO-8601 timestamps", file=source,
                            where=f"line {lineno}")
        seen_data = True
        values.append(t)
    if len(values) < 2:
        raise DataError(f"need at least 2 deployment timestamps, found {len(values)}",
                        file=source)
    out = np.sort(np.asarray(values, dtype=float))
    dup = np.flatnonzero(np.diff(out) == 0)
    if dup.size:
        raise DataError(f"deployment time {out[dup[0]]:g}s appears twice", file=source)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_deploys(path: str | Path) -> np.ndarray:
    """Read a deploys CSV (see module docstring) -> sorted instants in seconds."""
    p = Path(path)
    if not p.is_file():
        raise DataError("no such file", file=str(p))
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(p)) from exc
    return parse_deploy_lines(lines, source=str(p))
