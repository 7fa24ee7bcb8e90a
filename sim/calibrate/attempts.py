"""The tidy attempts table: one row per attempt of one step of one workflow.

Columns of a file (CSV or Parquet):

========================  ========  ==========================================================
column                    required  meaning
========================  ========  ==========================================================
``workflow_id``           yes       the workflow (pipeline run) the attempt belongs to
``step``                  yes       step name (Temporal: activity type)
``attempt``               yes       1, 2, 3, ... within (workflow_id, step, instance), increasing
                                    with start
``start``, ``end``        yes       ISO-8601 timestamps (``2026-04-01T12:00:00Z``) or seconds
``outcome``               yes       ``completed | crashed | killed_by_deploy | rate_limited |
                                    timed_out | error``
``tokens_in/out``         no        tokens of the call (LLM steps)
``model``                 no        model name (LLM steps)
``retry_after_s``         no        the Retry-After of a 429, in seconds
``worker_id``             no        the worker process that ran the attempt (one process life)
``instance``              no        which of a fan-out step's parallel instances the attempt
                                    belongs to (Temporal: the scheduled event id); without it
                                    every step runs once per workflow
========================  ========  ==========================================================

:func:`load_attempts` reads and validates a file; :func:`validate_attempts` does the same for
an in-memory frame. Both return the *normalised* table: the columns above with ``start_s``,
``end_s`` (float seconds; epoch seconds when the input had timestamps) and ``duration_s``
instead of ``start``/``end``, plus ``inferred`` (bool): True for attempts whose existence is
known but whose start and end are not (Temporal server-side retries, see
:mod:`sim.calibrate.temporal`); their times are NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibrate.errors import DataError

OUTCOMES: tuple[str, ...] = (
    "completed",
    "crashed",
    "killed_by_deploy",
    "rate_limited",
    "timed_out",
    "error",
)
#: the ``kind`` column of Temporal tables: attempts that ran on a worker, and waits (a table
#: without the column holds worker attempts only)
WORKER_KINDS: tuple[str, ...] = ("activity", "local_activity")
WAIT_KINDS: tuple[str, ...] = ("timer", "signal")
REQUIRED_COLUMNS: tuple[str, ...] = ("workflow_id", "step", "attempt", "start", "end", "outcome")
OPTIONAL_NUMERIC: tuple[str, ...] = ("tokens_in", "tokens_out", "retry_after_s")
OPTIONAL_TEXT: tuple[str, ...] = ("model", "worker_id", "instance")
EVENT_LOG_COLUMNS: tuple[str, ...] = (
    "run",
    "strategy",
    "step",
    "step_index",
    "attempt",
    "start_s",
    "end_s",
    "outcome",
    "useful",
)
NORMALISED_COLUMNS: tuple[str, ...] = (
    "workflow_id",
    "step",
    "attempt",
    "start_s",
    "end_s",
    "duration_s",
    "outcome",
    "inferred",
)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, or raise DataError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise DataError("no such file", file=str(p))
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        return pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read the table: {exc}", file=str(p)) from exc


def is_event_log(df: pd.DataFrame) -> bool:
    """True when the frame has the simulator's event-log columns (docs/model.md section 3)."""
    return all(c in df.columns for c in EVENT_LOG_COLUMNS)


def load_attempts(path: str | Path, *, strategy: str | None = None) -> pd.DataFrame:
    """Read and validate an attempts table (CSV or Parquet).

    A file with the simulator's event-log columns is converted with
    :func:`attempts_from_event_log` (``strategy`` picks one strategy's attempts).
    """
    raw = read_table(path)
    if is_event_log(raw):
        return attempts_from_event_log(raw, strategy=strategy, source=str(path))
    return validate_attempts(raw, source=str(path))


_ROW_NUMBERS: list[np.ndarray | None] = [None]


def _row(i: int) -> str:
    rows = _ROW_NUMBERS[-1]
    return f"row {int(rows[i]) if rows is not None else i + 1}"


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    if value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, str) and value.strip() == ""


def _parse_times(values: pd.Series, column: str, source: str) -> np.ndarray:
    """Seconds as float: all numbers, or all ISO-8601 timestamps (converted to epoch seconds)."""
    out = np.empty(len(values), dtype=float)
    numeric = pd.to_numeric(values, errors="coerce")
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = pd.to_datetime(values, utc=True)
        for i, v in enumerate(ts):
            if pd.isna(v):
                raise DataError(f"missing value in column '{column}'", file=source, where=_row(i))
        return np.asarray((ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), dtype=float)
    if numeric.notna().all():
        out[:] = numeric.to_numpy(dtype=float)
        bad = ~np.isfinite(out)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"column '{column}' is not a finite number: {values.iloc[i]!r}",
                            file=source, where=_row(i))
        return out
    for i, v in enumerate(values):
        if _is_missing(v):
            raise DataError(f"missing value in column '{column}'", file=source, where=_row(i))
        if not pd.isna(numeric.iloc[i]):
            raise DataError(
                f"column '{column}' mixes numbers of seconds ({v!r}) with ISO-8601 timestamps",
                file=source, where=_row(i))
        seconds = timestamp_s(str(v).strip())
        if seconds is None:
            raise DataError(f"column '{column}' is not an ISO-8601 timestamp or a number of "
                            f"seconds: {v!r}", file=source, where=_row(i))
        out[i] = seconds
    return out


def timestamp_s(text: str) -> float | None:
    """Seconds since 1970-01-01 UTC of an ISO-8601 timestamp (UTC when it names no zone), or None."""
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if pd.isna(ts):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return (ts - pd.Timestamp(0, tz="UTC")).total_seconds()


def validate_attempts(df: pd.DataFrame, *, source: str = "<attempts table>",
                      row_numbers: np.ndarray | None = None) -> pd.DataFrame:
    """Validate a raw attempts frame (columns of the module docstring) and normalise it.

    Raises DataError naming ``source``, the 1-based data row (or workflow/step/attempt) and the
    problem: missing columns or values, bad timestamps, end before start, unknown outcomes,
    non-positive or out-of-order attempt numbers. ``row_numbers`` gives the 1-based row of each
    frame row in the file (when the frame is a selection of it).
    """
    _ROW_NUMBERS.append(None if row_numbers is None else np.asarray(row_numbers))
    try:
        return _validate(df, source)
    finally:
        _ROW_NUMBERS.pop()


def _validate(df: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}", file=source)
    if len(df) == 0:
        raise DataError("the table has no rows", file=source)
    df = df.reset_index(drop=True)
    for col in ("workflow_id", "step", "outcome"):
        for i, v in enumerate(df[col]):
            if _is_missing(v):
                raise DataError(f"missing value in column '{col}'", file=source, where=_row(i))
    outcome = df["outcome"].astype(str).str.strip()
    bad = ~outcome.isin(OUTCOMES)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"unknown outcome {df['outcome'].iloc[i]!r} (expected one of "
                        f"{', '.join(OUTCOMES)})", file=source, where=_row(i))
    attempt = pd.to_numeric(df["attempt"], errors="coerce")
    for i, v in enumerate(attempt):
        if pd.isna(v) or v < 1 or v != int(v):
            raise DataError(f"attempt must be a whole number >= 1, got {df['attempt'].iloc[i]!r}",
                            file=source, where=_row(i))
    start = _parse_times(df["start"], "start", source)
    end = _parse_times(df["end"], "end", source)
    neg = end < start
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise DataError(f"end ({df['end'].iloc[i]}) is before start ({df['start'].iloc[i]})",
                        file=source, where=_row(i))
    out = pd.DataFrame({
        "workflow_id": df["workflow_id"].astype(str).str.strip(),
        "step": df["step"].astype(str).str.strip(),
        "attempt": attempt.astype(np.int64).to_numpy(),
        "start_s": start,
        "end_s": end,
        "duration_s": end - start,
        "outcome": outcome.to_numpy(),
        "inferred": np.zeros(len(df), dtype=bool),
    })
    for col in OPTIONAL_NUMERIC:
        if col in df.columns:
            vals = pd.to_numeric(df[col], errors="coerce")
            given = ~df[col].map(_is_missing)
            badnum = given & (vals.isna() | (vals < 0))
            if badnum.any():
                i = int(np.flatnonzero(badnum.to_numpy())[0])
                raise DataError(f"column '{col}' must be a number >= 0, got {df[col].iloc[i]!r}",
                                file=source, where=_row(i))
            out[col] = vals.to_numpy(dtype=float)
    for col in OPTIONAL_TEXT:
        if col in df.columns:
            out[col] = [None if _is_missing(v) else str(v).strip() for v in df[col]]
    _check_order(out, source)
    out.attrs["source"] = source
    return out


def _check_order(out: pd.DataFrame, source: str) -> None:
    """Attempt numbers must be unique and increase with start time within (workflow, step,
    instance); without an ``instance`` column, within (workflow, step)."""
    known = out[~out["inferred"]] if "inferred" in out.columns else out
    keys = ["workflow_id", "step"] + (["instance"] if "instance" in known.columns else [])
    order = known.sort_values([*keys, "start_s", "attempt"], kind="stable")
    same = np.ones(max(len(order) - 1, 0), dtype=bool)
    for key in keys:
        col = order[key].astype(str).to_numpy() if key == "instance" else order[key].to_numpy()
        same &= col[1:] == col[:-1]
    att = order["attempt"].to_numpy()
    bad = same & (att[1:] <= att[:-1])
    if bad.any():
        j = int(np.flatnonzero(bad)[0]) + 1
        r = order.iloc[j]
        prev = order.iloc[j - 1]
        idx = int(order.index[j])
        raise DataError(
            f"attempts out of order: attempt {int(r['attempt'])} starts at {r['start_s']:g}s, "
            f"after attempt {int(prev['attempt'])} (started {prev['start_s']:g}s); attempt "
            "numbers must increase with start time",
            file=source,
            where=f"{_row(idx)} (workflow {r['workflow_id']!r}, step {r['step']!r}, "
                  + (f"instance {r['instance']!r}, " if "instance" in keys else "")
                  + f"attempt {int(r['attempt'])})")


def attempts_from_event_log(log_df: pd.DataFrame, *, strategy: str | None = None,
                            source: str = "<event log>") -> pd.DataFrame:
    """Convert the simulator's event log (docs/model.md section 3) to the attempts table.

    ``workflow_id`` is the replication (``run``); times are the simulated seconds since the run
    started. ``strategy`` selects one strategy's attempts; it may be omitted when the log holds
    a single strategy. The log numbers attempts from 0 (the draw index); when its smallest
    attempt is 0 they are shifted to start at 1. ``cut_by_horizon`` (an attempt cut at
    ``simulation.max_time``) becomes ``timed_out``. The result is validated like any other
    attempts table; errors name the row of the log.
    """
    missing = [c for c in EVENT_LOG_COLUMNS if c not in log_df.columns]
    if missing:
        raise DataError(f"not a simulator event log: missing column(s) {', '.join(missing)}",
                        file=source)
    strategies = sorted(map(str, pd.unique(log_df["strategy"])))
    if strategy is None:
        if len(strategies) != 1:
            raise DataError(f"the event log holds strategies {', '.join(strategies)}; "
                            "choose one (strategy=...)", file=source)
        strategy = strategies[0]
    mask = (log_df["strategy"].astype(str) == str(strategy)).to_numpy()
    sel = log_df[mask]
    if len(sel) == 0:
        raise DataError(f"no attempts of strategy {strategy!r} (found {', '.join(strategies)})",
                        file=source)
    attempt = pd.to_numeric(log_df["attempt"], errors="coerce")
    shift = 1 if attempt.min() == 0 else 0
    outcome = sel["outcome"].astype(str).replace({"cut_by_horizon": "timed_out"})
    raw = pd.DataFrame({
        "workflow_id": sel["run"].astype(str).to_numpy(),
        "step": sel["step"].astype(str).to_numpy(),
        "attempt": attempt[mask].to_numpy() + shift,
        "start": pd.to_numeric(sel["start_s"]).to_numpy(dtype=float),
        "end": pd.to_numeric(sel["end_s"]).to_numpy(dtype=float),
        "outcome": outcome.to_numpy(),
    })
    for col in (*OPTIONAL_NUMERIC, *OPTIONAL_TEXT):
        if col in sel.columns:
            raw[col] = sel[col].to_numpy()
    return validate_attempts(raw, source=f"{source} (strategy {strategy})",
                             row_numbers=np.flatnonzero(mask) + 1)


def observation_window(attempts: pd.DataFrame) -> tuple[float, float]:
    """(first start, last end) over attempts with known times, in the table's seconds."""
    known = attempts[~attempts["inferred"]]
    if len(known) == 0:
        return (float("nan"), float("nan"))
    return (float(known["start_s"].min()), float(known["end_s"].max()))


def to_csv_frame(attempts: pd.DataFrame) -> pd.DataFrame:
    """The normalised table back in the file format (``start``/``end`` in seconds)."""
    out = attempts.rename(columns={"start_s": "start", "end_s": "end"}).drop(
        columns=["duration_s"])
    return out
