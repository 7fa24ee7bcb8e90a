"""Temporal workflow histories -> the attempts table.

Input: the JSON written by ``temporal workflow show --workflow-id ID --output json`` (the
``temporal.api.history.v1.History`` message in the proto3 JSON mapping): ``{"events": [...]}``,
each event with ``eventId`` (int64, a string in proto3 JSON), ``eventTime`` (RFC 3339),
``eventType`` (``"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"`` from newer CLIs or
``"ActivityTaskScheduled"`` from older ones) and one ``<eventType>EventAttributes`` object in
lowerCamelCase (``activityTaskScheduledEventAttributes`` ...). One file per workflow; the
workflow id is the file name without ``.json``. A folder is read file by file, in name order.

What a history tells and what it does not
-----------------------------------------
* With server-side retries (the default retry policy) Temporal does **not** write an event per
  attempt. It writes ``ActivityTaskScheduled`` once and ``ActivityTaskStarted`` only for the
  *last* attempt, whose ``attempt`` field says how many attempts there were and whose
  ``lastFailure`` holds the failure of the attempt before it. The start and end times and the
  causes of the earlier attempts are lost.
* What we do: the last attempt gets its real start (the Started event's time), end (the
  Completed/Failed/TimedOut event's time) and outcome. The ``attempt - 1`` earlier attempts are
  kept as rows with ``inferred = True``, unknown (NaN) start and end, and the outcome of
  ``lastFailure`` (the only cause recorded; earlier attempts may have failed differently). The
  Retry-After of ``lastFailure`` (``applicationFailureInfo.nextRetryDelay``) goes on the
  attempt just before the last one. The fits use inferred attempts for probabilities (429s per
  call) and leave them out of durations and times to failure, which need times.
* An activity still running when the history ends contributes its inferred earlier attempts
  only. An activity that never started (schedule-to-start timeout) contributes nothing, unless
  its timeout carries a ``cause`` (then one inferred attempt of that cause).
* A worker crash is only seen as a heartbeat or start-to-close timeout; the recorded end of a
  crashed attempt is when the timeout fired, up to one heartbeat timeout after the crash.

Parallel activities, child workflows, local activities
------------------------------------------------------
An attempt belongs to its scheduled activity (``instance`` = the ActivityTaskScheduled event
id), not to its type; the activities one workflow task schedules form a batch, and the
activities of one type in a batch are the instances of one fan-out step (see
:func:`parse_history` and :mod:`sim.calibrate.graph`). Child workflows are read as one attempt
from their start to their close. Local activities (``MarkerRecorded``) are left out with a
warning. A folder's history with an attempt of zero duration is skipped with a warning.

Failure -> outcome (first rule that matches, looking through the ``cause`` chain):

1. application failure whose type or message contains ``429``, ``RateLimit``, ``rate limit``,
   ``ResourceExhausted``, ``TooManyRequests`` -> ``rate_limited``;
2. a cancellation that the workflow did not request (``canceledFailureInfo`` on a *failed*
   attempt) or a type/message mentioning a worker shutdown, drain, rollout or SIGTERM ->
   ``killed_by_deploy``;
3. timeout ``TIMEOUT_TYPE_HEARTBEAT`` or ``TIMEOUT_TYPE_START_TO_CLOSE`` -> ``crashed`` (a dead
   worker stops heartbeating), ``TIMEOUT_TYPE_SCHEDULE_TO_CLOSE`` / ``SCHEDULE_TO_START`` ->
   ``timed_out``;
4. anything else -> ``error``. ``ActivityTaskCanceled`` (cancelled by the workflow) -> ``error``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calibrate.attempts import NORMALISED_COLUMNS, _check_order, timestamp_s
from sim.calibrate.errors import DataError

# temporal/api/enums/v1/event_type.proto (EVENT_TYPE_UNSPECIFIED excluded)
EVENT_TYPES: tuple[str, ...] = (
    "WORKFLOW_EXECUTION_STARTED", "WORKFLOW_EXECUTION_COMPLETED", "WORKFLOW_EXECUTION_FAILED",
    "WORKFLOW_EXECUTION_TIMED_OUT", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED", "WORKFLOW_TASK_TIMED_OUT", "WORKFLOW_TASK_FAILED",
    "ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED",
    "ACTIVITY_TASK_FAILED", "ACTIVITY_TASK_TIMED_OUT", "ACTIVITY_TASK_CANCEL_REQUESTED",
    "ACTIVITY_TASK_CANCELED", "TIMER_STARTED", "TIMER_FIRED", "TIMER_CANCELED",
    "WORKFLOW_EXECUTION_CANCEL_REQUESTED", "WORKFLOW_EXECUTION_CANCELED",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
    "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED", "MARKER_RECORDED",
    "WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_TERMINATED",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW", "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "START_CHILD_WORKFLOW_EXECUTION_FAILED", "CHILD_WORKFLOW_EXECUTION_STARTED",
    "CHILD_WORKFLOW_EXECUTION_COMPLETED", "CHILD_WORKFLOW_EXECUTION_FAILED",
    "CHILD_WORKFLOW_EXECUTION_CANCELED", "CHILD_WORKFLOW_EXECUTION_TIMED_OUT",
    "CHILD_WORKFLOW_EXECUTION_TERMINATED", "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED", "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED",
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", "WORKFLOW_EXECUTION_UPDATE_ADMITTED",
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "WORKFLOW_EXECUTION_UPDATE_REJECTED",
    "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_PROPERTIES_MODIFIED_EXTERNALLY",
    "ACTIVITY_PROPERTIES_MODIFIED_EXTERNALLY", "WORKFLOW_PROPERTIES_MODIFIED",
    "NEXUS_OPERATION_SCHEDULED", "NEXUS_OPERATION_STARTED", "NEXUS_OPERATION_COMPLETED",
    "NEXUS_OPERATION_FAILED", "NEXUS_OPERATION_CANCELED", "NEXUS_OPERATION_TIMED_OUT",
    "NEXUS_OPERATION_CANCEL_REQUESTED", "WORKFLOW_EXECUTION_OPTIONS_UPDATED",
    "NEXUS_OPERATION_CANCEL_REQUEST_COMPLETED", "NEXUS_OPERATION_CANCEL_REQUEST_FAILED",
    "WORKFLOW_EXECUTION_PAUSED", "WORKFLOW_EXECUTION_UNPAUSED",
)
_CAMEL = {"".join(w.capitalize() for w in t.split("_")): t for t in EVENT_TYPES}

_RATE_LIMIT_RE = re.compile(r"429|rate[ _-]?limit|resource[ _-]?exhausted|too[ _-]?many[ _-]?"
                            r"requests", re.IGNORECASE)
_SHUTDOWN_RE = re.compile(r"shut[ _-]?down|shutting[ _-]?down|worker[ _-]?(?:stop|exit)|drain|"
                          r"rollout|sigterm", re.IGNORECASE)
_DURATION_RE = re.compile(r"^(-?\d+(?:\.\d+)?)s$")


def _event_type(raw: object) -> str | None:
    """Canonical UPPER_SNAKE event type (without prefix) from either JSON spelling."""
    if not isinstance(raw, str):
        return None
    if raw.startswith("EVENT_TYPE_"):
        name = raw[len("EVENT_TYPE_"):]
        return name if name in EVENT_TYPES else None
    return _CAMEL.get(raw)


def _attr_key(event_type: str) -> str:
    words = event_type.lower().split("_")
    return words[0] + "".join(w.capitalize() for w in words[1:]) + "EventAttributes"


def _pb_duration_s(value: object) -> float | None:
    """google.protobuf.Duration in proto3 JSON ("2.5s") -> seconds."""
    if isinstance(value, str):
        m = _DURATION_RE.match(value.strip())
        if m:
            return float(m.group(1))
    return None


_TIMEOUT_TYPES = {1: "START_TO_CLOSE", 2: "SCHEDULE_TO_START", 3: "SCHEDULE_TO_CLOSE",
                  4: "HEARTBEAT"}


def _timeout_type(raw: object) -> str:
    """TimeoutType as UPPER_SNAKE without prefix, from "TIMEOUT_TYPE_HEARTBEAT", "Heartbeat"
    or the enum number."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return _TIMEOUT_TYPES.get(raw, "UNSPECIFIED")
    text = str(raw or "")
    if text.startswith("TIMEOUT_TYPE_"):
        return text[len("TIMEOUT_TYPE_"):]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", text).upper()


def _failure_chain(failure: object) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = []
    while isinstance(failure, dict) and len(chain) < 20:
        chain.append(failure)
        failure = failure.get("cause")
    return chain


def classify_failure(failure: object) -> str:
    """The outcome of one failed attempt from its Temporal ``Failure`` (see module docstring)."""
    chain = _failure_chain(failure)
    for f in chain:
        app = f.get("applicationFailureInfo")
        text = f"{(app or {}).get('type', '')} {f.get('message', '')}"
        if _RATE_LIMIT_RE.search(text):
            return "rate_limited"
    for f in chain:
        app = f.get("applicationFailureInfo") or {}
        if "canceledFailureInfo" in f or _SHUTDOWN_RE.search(
                f"{app.get('type', '')} {f.get('message', '')}"):
            return "killed_by_deploy"
    for f in chain:
        tinfo = f.get("timeoutFailureInfo")
        if isinstance(tinfo, dict):
            kind = _timeout_type(tinfo.get("timeoutType"))
            return "crashed" if kind in ("HEARTBEAT", "START_TO_CLOSE") else "timed_out"
    return "error"


def _retry_after_s(failure: object) -> float | None:
    for f in _failure_chain(failure):
        app = f.get("applicationFailureInfo")
        if isinstance(app, dict) and "nextRetryDelay" in app:
            return _pb_duration_s(app["nextRetryDelay"])
    return None


@dataclass
class _Activity:
    scheduled_id: int
    step: str
    scheduled_s: float
    instance: int = 0  # scheduled event id of the instance's first scheduling
    batch: object = None  # the workflow task that scheduled it (or a run of scheduling events)
    kind: str = "activity"  # "activity" | "child_workflow"
    started_s: float | None = None
    started_id: int | None = None
    attempt: int = 1
    last_failure: dict[str, Any] | None = None
    worker_id: str | None = None
    end_s: float | None = None
    outcome: str | None = None
    retry_after_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _time_s(raw: object) -> float | None:
    """An event time (RFC 3339 string in Temporal's JSON) in seconds, or None."""
    return timestamp_s(raw) if isinstance(raw, str) else None


_CHILD_CLOSED = {
    "CHILD_WORKFLOW_EXECUTION_COMPLETED": "completed",
    "CHILD_WORKFLOW_EXECUTION_FAILED": None,  # from the failure
    "CHILD_WORKFLOW_EXECUTION_TIMED_OUT": "timed_out",
    "CHILD_WORKFLOW_EXECUTION_CANCELED": "error",
    "CHILD_WORKFLOW_EXECUTION_TERMINATED": "error",
}
LOCAL_ACTIVITY_MARKERS = ("core_local_activity", "LocalActivity")


class ZeroDurationError(DataError):
    """A history holds an attempt that started and closed at the same instant."""


@dataclass
class _Identity:
    """Turns scheduled activities into (step, instance, batch), see :func:`history_attempts`."""

    stages: dict[tuple[object, str, str], str] = field(default_factory=dict)
    n_stages: dict[tuple[str, str], int] = field(default_factory=dict)
    failed: dict[tuple[str, str], list[_Activity]] = field(default_factory=dict)

    def assign(self, act: _Activity, type_name: str) -> None:
        key = (act.kind, type_name)
        waiting = self.failed.get(key)
        if waiting:  # the workflow schedules again what failed: the next attempt of it
            prev = waiting.pop(0)
            act.step, act.instance, act.batch = prev.step, prev.instance, prev.batch
            return
        stage = (act.batch, act.kind, type_name)
        if stage not in self.stages:
            k = self.n_stages.get(key, 0) + 1
            self.n_stages[key] = k
            self.stages[stage] = type_name if k == 1 else f"{type_name}_{k}"
        act.step, act.instance = self.stages[stage], act.scheduled_id

    def closed(self, act: _Activity, type_name: str) -> None:
        if act.outcome != "completed":
            self.failed.setdefault((act.kind, type_name), []).append(act)


def history_attempts(history: object, *, workflow_id: str, source: str) -> list[dict[str, Any]]:
    """Attempt rows (dicts of the normalised table) of one parsed history JSON document."""
    return parse_history(history, workflow_id=workflow_id, source=source)[0]


def parse_history(history: object, *, workflow_id: str, source: str
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Attempt rows of one parsed history and its warnings (local activities not read).

    An attempt belongs to a scheduled activity (its ``ActivityTaskScheduled`` event id, the
    ``instance`` column), not to its type. The activities one workflow task schedules form a
    batch (``workflowTaskCompletedEventId``; without it, a run of consecutive scheduling
    events); the activities of one type in one batch are the parallel instances of one step.
    The k-th batch holding a type T is step ``T`` (k = 1) or ``T_k``. An activity scheduled
    again after an activity of its type closed without completing is that activity's next
    attempt (a retry by the workflow code), not a new instance. Child workflows are read the
    same way (step = the child's workflow type, one attempt from its start to its close);
    local activities (``MarkerRecorded``) are left out with a warning.
    """
    if isinstance(history, dict) and isinstance(history.get("events"), list):
        events = history["events"]
    else:
        raise DataError('not a Temporal history: expected a JSON object {"events": [...]} as '
                        "written by `temporal workflow show --output json`", file=source)
    if not events:
        raise DataError("the history has no events", file=source)
    acts: dict[int, _Activity] = {}
    types: dict[int, str] = {}
    order: list[int] = []
    ident = _Identity()
    run = 0  # batch of scheduling events without workflowTaskCompletedEventId
    prev_scheduling = False
    local_activities = 0
    last_id = 0
    for k, ev in enumerate(events):
        if not isinstance(ev, dict):
            raise DataError(f"event #{k + 1} is not a JSON object", file=source)
        eid = _int(ev.get("eventId"))
        where = f"event {ev.get('eventId')!r}" if eid is None else f"event id {eid}"
        if eid is None or eid < 1:
            raise DataError(f"event #{k + 1}: missing or invalid eventId", file=source,
                            where=where)
        if eid <= last_id:
            raise DataError(f"eventId {eid} does not increase (previous {last_id})",
                            file=source, where=where)
        last_id = eid
        etype = _event_type(ev.get("eventType"))
        if etype is None:
            raise DataError(f"unknown eventType {ev.get('eventType')!r}", file=source,
                            where=where)
        t = _time_s(ev.get("eventTime"))
        if t is None:
            raise DataError(f"missing or invalid eventTime {ev.get('eventTime')!r}",
                            file=source, where=where)
        scheduling = etype in ("ACTIVITY_TASK_SCHEDULED", "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
        if scheduling and not prev_scheduling:
            run += 1
        prev_scheduling = scheduling
        if etype == "MARKER_RECORDED":
            attrs = ev.get(_attr_key(etype))
            if isinstance(attrs, dict) and attrs.get("markerName") in LOCAL_ACTIVITY_MARKERS:
                local_activities += 1
            continue
        child = etype.startswith(("CHILD_WORKFLOW_EXECUTION_", "START_CHILD_WORKFLOW_"))
        if not child and (not etype.startswith("ACTIVITY_TASK_") or etype in (
                "ACTIVITY_TASK_CANCEL_REQUESTED",)):
            continue
        key = _attr_key(etype)
        attrs = ev.get(key)
        if not isinstance(attrs, dict):
            raise DataError(f"{etype} event without its '{key}' object", file=source,
                            where=where)
        if scheduling:
            field_name = "workflowType" if child else "activityType"
            name = (attrs.get(field_name) or {}).get("name") if isinstance(
                attrs.get(field_name), dict) else None
            if not isinstance(name, str) or not name:
                raise DataError(f"{etype} without {field_name}.name", file=source, where=where)
            wtc = _int(attrs.get("workflowTaskCompletedEventId"))
            act = _Activity(scheduled_id=eid, step=name, scheduled_s=t,
                            batch=("task", wtc) if wtc else ("run", run),
                            kind="child_workflow" if child else "activity")
            ident.assign(act, name)
            acts[eid], types[eid] = act, name
            order.append(eid)
            continue
        if child:
            _child_event(etype, attrs, eid, t, acts, types, ident, source, where)
            continue
        sid = _int(attrs.get("scheduledEventId"))
        if sid is None or sid not in acts or acts[sid].kind != "activity":
            raise DataError(f"{etype} refers to scheduledEventId {attrs.get('scheduledEventId')!r}"
                            ", which is not an ActivityTaskScheduled event of this history",
                            file=source, where=where)
        act = acts[sid]
        if act.outcome is not None:
            raise DataError(f"{etype} for activity scheduled at event {sid}, which is already "
                            "closed", file=source, where=where)
        if etype == "ACTIVITY_TASK_STARTED":
            attempt = _int(attrs.get("attempt", 1))
            if attempt is None or attempt < 1:
                raise DataError(f"ActivityTaskStarted attempt must be >= 1, got "
                                f"{attrs.get('attempt')!r}", file=source, where=where)
            if t < act.scheduled_s:
                raise DataError("ActivityTaskStarted is earlier than its ActivityTaskScheduled",
                                file=source, where=where)
            act.started_s, act.started_id, act.attempt = t, eid, attempt
            act.last_failure = attrs.get("lastFailure")
            act.worker_id = attrs.get("identity") or None
            continue
        started = _int(attrs.get("startedEventId", 0)) or 0
        if started and started != act.started_id:
            raise DataError(f"{etype} refers to startedEventId {started}, but the activity "
                            f"scheduled at event {sid} was started at event {act.started_id}",
                            file=source, where=where)
        act.end_s = t
        if etype == "ACTIVITY_TASK_COMPLETED":
            act.outcome = "completed"
        elif etype == "ACTIVITY_TASK_CANCELED":
            act.outcome = "error"
        else:
            failure = attrs.get("failure")
            if not isinstance(failure, dict):
                raise DataError(f"{etype} without a failure object", file=source, where=where)
            if etype == "ACTIVITY_TASK_TIMED_OUT" and "timeoutFailureInfo" not in failure:
                raise DataError("ActivityTaskTimedOut failure without timeoutFailureInfo",
                                file=source, where=where)
            act.outcome = classify_failure(failure if etype == "ACTIVITY_TASK_FAILED" else
                                           {k: v for k, v in failure.items() if k != "cause"})
            act.retry_after_s = _retry_after_s(failure)
            if act.started_s is None and isinstance(failure.get("cause"), dict):
                act.last_failure = failure["cause"]
                act.attempt = 2  # one earlier attempt is known to have failed
        if act.started_s is not None and act.end_s < act.started_s:
            raise DataError(f"{etype} is earlier than its ActivityTaskStarted", file=source,
                            where=where)
        ident.closed(act, types[sid])
    warnings = []
    if local_activities:
        warnings.append(
            f"{source}: {local_activities} local activit{'y' if local_activities == 1 else 'ies'}"
            " (MarkerRecorded) not read: a marker records when the workflow task saved the "
            "result, not when the attempt started, so it gives no duration; the rest of the "
            "history is read")
    return _rows(acts, order, workflow_id, source), warnings


def _child_event(etype: str, attrs: dict[str, Any], eid: int, t: float,
                 acts: dict[int, _Activity], types: dict[int, str], ident: _Identity,
                 source: str, where: str) -> None:
    """A child workflow's start, start failure or close: one attempt, start to close."""
    iid = _int(attrs.get("initiatedEventId"))
    if iid is None or iid not in acts or acts[iid].kind != "child_workflow":
        raise DataError(f"{etype} refers to initiatedEventId {attrs.get('initiatedEventId')!r}"
                        ", which is not a StartChildWorkflowExecutionInitiated event of this "
                        "history", file=source, where=where)
    act = acts[iid]
    if act.outcome is not None:
        raise DataError(f"{etype} for the child workflow initiated at event {iid}, which is "
                        "already closed", file=source, where=where)
    if etype == "CHILD_WORKFLOW_EXECUTION_STARTED":
        act.started_s, act.started_id = t, eid
        return
    if etype == "START_CHILD_WORKFLOW_EXECUTION_FAILED":
        act.outcome = "error"  # never started: no attempt with times
    elif etype in _CHILD_CLOSED:
        outcome = _CHILD_CLOSED[etype]
        if outcome is None:
            failure = attrs.get("failure")
            outcome = classify_failure(failure) if isinstance(failure, dict) else "error"
        act.outcome, act.end_s = outcome, t
        if act.started_s is not None and t < act.started_s:
            raise DataError(f"{etype} is earlier than its ChildWorkflowExecutionStarted",
                            file=source, where=where)
    ident.closed(act, types[iid])


def _rows(acts: dict[int, _Activity], order: list[int], workflow_id: str, source: str
          ) -> list[dict[str, Any]]:
    batches: dict[object, int] = {}
    rows: list[dict[str, Any]] = []
    next_attempt: dict[int, int] = {}
    for sid in order:
        act = acts[sid]
        base = next_attempt.get(act.instance, 0)
        n_earlier = act.attempt - 1
        prev_outcome = classify_failure(act.last_failure) if act.last_failure else "error"
        prev_retry = _retry_after_s(act.last_failure)
        has_last = act.started_s is not None and act.end_s is not None
        if n_earlier or has_last:
            batch = batches.setdefault(act.batch, len(batches) + 1)
        common = {"workflow_id": workflow_id, "step": act.step, "instance": act.instance}
        for j in range(n_earlier):
            rows.append({
                **common, "attempt": base + j + 1,
                "start_s": np.nan, "end_s": np.nan, "duration_s": np.nan,
                "outcome": prev_outcome, "inferred": True,
                "retry_after_s": prev_retry if (j == n_earlier - 1 and prev_outcome ==
                                                "rate_limited") else np.nan,
                "worker_id": None, "batch": batch, "kind": act.kind,
            })
        if has_last:
            assert act.started_s is not None and act.end_s is not None
            if act.end_s <= act.started_s:
                what = "child workflow" if act.kind == "child_workflow" else "activity"
                raise ZeroDurationError(
                    f"{what} {act.step!r} scheduled at event {sid} has zero duration (started "
                    "and closed at the same instant)", file=source)
            rows.append({
                **common, "attempt": base + act.attempt,
                "start_s": act.started_s, "end_s": act.end_s,
                "duration_s": act.end_s - act.started_s, "outcome": act.outcome,
                "inferred": False,
                "retry_after_s": act.retry_after_s if act.outcome == "rate_limited" and
                act.retry_after_s is not None else np.nan,
                "worker_id": act.worker_id, "batch": batch, "kind": act.kind,
            })
        next_attempt[act.instance] = base + act.attempt if has_last else base + n_earlier
    return rows


TEMPORAL_COLUMNS: tuple[str, ...] = (*NORMALISED_COLUMNS, "retry_after_s", "worker_id",
                                     "instance", "batch", "kind")


def load_temporal(path: str | Path) -> pd.DataFrame:
    """Read one history JSON file or a folder of them into the normalised attempts table.

    Besides the normalised columns: ``instance`` (the scheduled event id of the activity the
    attempt belongs to), ``batch`` (1, 2, ... the workflow task that scheduled it, in order)
    and ``kind`` (``activity`` or ``child_workflow``). ``attrs["warnings"]`` lists one line per
    history skipped (an attempt of zero duration) or partly read (local activities).
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.json"))
        if not files:
            raise DataError("no *.json Temporal histories in this folder", file=str(p))
    elif p.is_file():
        files = [p]
    else:
        raise DataError("no such file or folder", file=str(p))
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    skipped: list[str] = []
    for f in files:
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"not valid JSON: {exc}", file=str(f)) from exc
        try:
            file_rows, file_warnings = parse_history(doc, workflow_id=f.stem, source=str(f))
        except ZeroDurationError as exc:
            if len(files) == 1:
                raise
            warnings.append(f"{exc}: history skipped")
            skipped.append(str(f))
            continue
        rows.extend(file_rows)
        warnings.extend(file_warnings)
    if not rows:
        raise DataError("the histories hold no activity attempts"
                        + (f" ({len(skipped)} skipped for zero-duration attempts)" if skipped
                           else ""), file=str(p))
    out = pd.DataFrame(rows)
    out = out[list(TEMPORAL_COLUMNS)]
    out["attempt"] = out["attempt"].astype(np.int64)
    out["instance"] = out["instance"].astype(np.int64)
    out["batch"] = out["batch"].astype(np.int64)
    out["inferred"] = out["inferred"].astype(bool)
    _check_order(out, str(p))
    out.attrs["source"] = str(p)
    out.attrs["warnings"] = warnings
    return out


def looks_like_temporal(path: str | Path) -> bool:
    """True for a .json file or a folder holding .json files (the Temporal input)."""
    p = Path(path)
    if p.is_dir():
        return any(p.glob("*.json"))
    return p.suffix.lower() == ".json"
