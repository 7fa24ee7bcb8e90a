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

Parallel activities, child workflows, local activities, waits
--------------------------------------------------------------
An attempt belongs to its scheduled activity (``instance`` = the ActivityTaskScheduled event
id), not to its type; the activities one workflow task schedules form a batch, and the
activities of one type in a batch are the instances of one fan-out step (see
:func:`parse_history` and :mod:`sim.calibrate.graph`). Besides activities (``kind`` column):

* ``child_workflow``: one attempt from ChildWorkflowExecutionStarted to its close (the child's
  own activities are in its own history, which can be fitted as a scenario of its own);
* ``local_activity``: one attempt per ``MarkerRecorded`` event of a local activity (marker
  ``core_local_activity``, ``LocalActivity`` or ``localActivity``): type, attempt and failure
  from the marker; it ran inside the workflow task that recorded it, so it starts when that
  workflow task (or the first of the run of workflow tasks before the marker) started and ends
  at the completion time the marker data give, when that lies inside the span, otherwise at
  the marker;
* ``timer``: a wait from TimerStarted to TimerFired (a cancelled timer is counted, not a wait);
* ``signal``: a wait for a signal or an update (WorkflowExecutionSignaled,
  WorkflowExecutionUpdateAccepted) that arrived while the workflow had nothing in flight
  (no activity, child or timer) after a completed workflow task, or only timers of which one
  is then cancelled before it fires or still runs at the close (a wait with a timeout): from
  that workflow task's completion to the signal. Other signals and updates are counted, not
  waits.

Activities that never started (cancelled while scheduled, timed out before a worker took
them, or still scheduled when the history ends), cancelled timers, signals that were not
waited for, and how each workflow ended (completed, failed, cancelled, terminated, timed out,
continued as new) are counted per history (:class:`HistoryInfo`). A folder's history with an
attempt of zero duration is skipped with a warning.

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

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calibrate.attempts import (
    NORMALISED_COLUMNS,
    WAIT_KINDS,
    WORKER_KINDS,
    _check_order,
)
from sim.calibrate.errors import DataError
from sim.calibrate.temporal_events import (  # noqa: F401  (classify_failure, EVENT_TYPES: API)
    EVENT_TYPES,
    LOCAL_ACTIVITY_MARKERS,
    classify_failure,
)
from sim.calibrate.temporal_events import attr_key as _attr_key
from sim.calibrate.temporal_events import attributes as _attributes
from sim.calibrate.temporal_events import event_type as _event_type
from sim.calibrate.temporal_events import int_value as _int
from sim.calibrate.temporal_events import local_activity_marker as _local_activity
from sim.calibrate.temporal_events import retry_after_s as _retry_after_s
from sim.calibrate.temporal_events import time_s as _time_s


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


_CHILD_CLOSED = {
    "CHILD_WORKFLOW_EXECUTION_COMPLETED": "completed",
    "CHILD_WORKFLOW_EXECUTION_FAILED": None,  # from the failure
    "CHILD_WORKFLOW_EXECUTION_TIMED_OUT": "timed_out",
    "CHILD_WORKFLOW_EXECUTION_CANCELED": "error",
    "CHILD_WORKFLOW_EXECUTION_TERMINATED": "error",
}
#: kinds of rows: attempts that ran on a worker, a child workflow, waits
KINDS = (*WORKER_KINDS, "child_workflow", *WAIT_KINDS)
_WORKFLOW_CLOSED = {
    "WORKFLOW_EXECUTION_COMPLETED": "completed",
    "WORKFLOW_EXECUTION_FAILED": "failed",
    "WORKFLOW_EXECUTION_CANCELED": "cancelled",
    "WORKFLOW_EXECUTION_TERMINATED": "terminated",
    "WORKFLOW_EXECUTION_TIMED_OUT": "timed_out",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW": "continued_as_new",
}
# events a workflow task's completion writes: a task scheduled right after them was woken by
# something without an event of its own (an update's request)
_AFTER_A_TASK = frozenset({"WORKFLOW_TASK_COMPLETED", "MARKER_RECORDED",
                           "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", "WORKFLOW_PROPERTIES_MODIFIED",
                           "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
                           "WORKFLOW_EXECUTION_UPDATE_COMPLETED"})
NEVER_STARTED_REASONS = ("cancelled while scheduled", "timed out before a worker took it",
                         "still scheduled when the history ends")


class ZeroDurationError(DataError):
    """A history holds an attempt that started and closed at the same instant."""


@dataclass
class HistoryInfo:
    """What one history holds besides its attempt rows: how the workflow ended and the items
    that are counted but not fitted (see the module docstring)."""

    source: str
    workflow_id: str
    status: str = "running"  # a key of _WORKFLOW_CLOSED's values, or "running"
    started_s: float = float("nan")  # WorkflowExecutionStarted
    closed_s: float = float("nan")  # the workflow's close event (NaN while running)
    first_run_id: str | None = None
    never_started: dict[str, int] = field(default_factory=dict)  # reason -> activities
    activities_cancelled: int = 0  # cancelled by the workflow after they started
    timers_fired: int = 0
    timers_cancelled: int = 0
    timers_unfired: int = 0  # still running when the workflow closed (or the history ends)
    signals: int = 0
    signal_waits: int = 0
    updates: int = 0
    update_waits: int = 0
    local_activities: int = 0
    child_workflows: int = 0
    runs: int = 1  # continue-as-new runs joined into this execution
    #: seconds of the workflow time during which no step ran (:func:`_outside_steps_s`): in
    #: workflow tasks, task queues, before the first step and after the last (NaN while running)
    orchestration_s: float = float("nan")

    @property
    def workflow_time_s(self) -> float:
        return self.closed_s - self.started_s


@dataclass
class _Identity:
    """Turns scheduled activities into (step, instance, batch), see :func:`history_attempts`."""

    stages: dict[tuple[object, ...], str] = field(default_factory=dict)
    n_stages: dict[str, int] = field(default_factory=dict)
    failed: dict[tuple[str, str], list[_Activity]] = field(default_factory=dict)
    in_batch: dict[tuple[object, ...], int] = field(default_factory=dict)

    def assign(self, act: _Activity, type_name: str) -> None:
        key = (act.kind, type_name)
        waiting = self.failed.get(key)
        if waiting:  # the workflow schedules again what failed: the next attempt of it
            prev = waiting.pop(0)
            act.step, act.instance, act.batch = prev.step, prev.instance, prev.batch
            return
        stage: tuple[object, ...] = (act.batch, act.kind, type_name)
        if act.kind in WAIT_KINDS:  # a wait runs once: each wait of a batch is a step
            j = self.in_batch.get(stage, 0) + 1
            self.in_batch[stage] = j
            stage = (*stage, j)
        if stage not in self.stages:
            k = self.n_stages.get(type_name, 0) + 1
            self.n_stages[type_name] = k
            self.stages[stage] = type_name if k == 1 else f"{type_name}_{k}"
        act.step, act.instance = self.stages[stage], act.scheduled_id

    def closed(self, act: _Activity, type_name: str) -> None:
        if act.outcome != "completed" and act.kind not in WAIT_KINDS:
            self.failed.setdefault((act.kind, type_name), []).append(act)


@dataclass
class _ParseState:
    """Carried from run to run when continue-as-new runs are joined into one execution."""

    ident: _Identity = field(default_factory=_Identity)
    batches: dict[object, int] = field(default_factory=dict)
    next_attempt: dict[int, int] = field(default_factory=dict)
    run: int = 0  # index of the run being read (instance ids are offset by run * 10**9)


def history_attempts(history: object, *, workflow_id: str, source: str) -> list[dict[str, Any]]:
    """Attempt rows (dicts of the normalised table) of one parsed history JSON document."""
    return parse_history(history, workflow_id=workflow_id, source=source)[0]


def parse_history(history: object, *, workflow_id: str, source: str
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Attempt rows of one parsed history and its warnings (see :func:`read_history`)."""
    rows, warnings, _ = read_history(history, workflow_id=workflow_id, source=source)
    return rows, warnings


def read_history(history: object, *, workflow_id: str, source: str,
                 state: _ParseState | None = None
                 ) -> tuple[list[dict[str, Any]], list[str], HistoryInfo]:
    """Attempt rows of one parsed history, its warnings and its :class:`HistoryInfo`.

    An attempt belongs to a scheduled activity (its ``ActivityTaskScheduled`` event id, the
    ``instance`` column), not to its type. The activities one workflow task schedules form a
    batch (``workflowTaskCompletedEventId``; without it, a run of consecutive scheduling
    events); the activities of one type in one batch are the parallel instances of one step.
    The k-th batch holding a type T is step ``T`` (k = 1) or ``T_k``. An activity scheduled
    again after an activity of its type closed without completing is that activity's next
    attempt (a retry by the workflow code), not a new instance. Child workflows, local
    activities, timers and signal waits are read as the module docstring says; a wait is one
    step of its own (``timer``, ``timer_2``, ... or the signal's name).
    """
    if isinstance(history, dict) and isinstance(history.get("events"), list):
        events = history["events"]
    elif isinstance(history, list) and history and all(isinstance(e, dict) for e in history):
        events = history  # the Web UI's JSON view: a list of events
    else:
        raise DataError('not a Temporal history: expected a JSON object {"events": [...]} as '
                        "written by `temporal workflow show --output json` or the SDK's "
                        "WorkflowHistory.to_json() (or the Web UI's list of events)",
                        file=source)
    if not events:
        raise DataError("the history has no events", file=source)
    st = state if state is not None else _ParseState()
    offset = st.run * 10**9
    info = HistoryInfo(source=source, workflow_id=workflow_id)
    acts: dict[int, _Activity] = {}
    types: dict[int, str] = {}
    order: list[int] = []
    ident = st.ident
    timers: dict[int, _Activity] = {}
    open_ids: set[int] = set()  # activities, children and timers in flight
    run = 0  # batch of scheduling events without workflowTaskCompletedEventId
    prev_scheduling = False
    last_id = 0
    prev_type: str | None = None
    wft_open = False
    chain_start_s: float | None = None  # start of the run of workflow tasks now going on
    new_chain = True
    last_completed: tuple[int, float] | None = None  # the last WorkflowTaskCompleted
    idle_at_schedule: tuple[int, float] | None = None  # the workflow was waiting since then
    with_timeout: tuple[Any, float, Any, int, set[int]] | None = None  # a signal, maybe awaited
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
        attrs = _attributes(ev, etype)
        was = prev_type
        prev_type = etype
        scheduling = etype in ("ACTIVITY_TASK_SCHEDULED", "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
        if scheduling and not prev_scheduling:
            run += 1
        prev_scheduling = scheduling
        # ---- the workflow itself and its workflow tasks
        if etype == "WORKFLOW_EXECUTION_STARTED":
            info.started_s = t
            first = attrs.get("firstExecutionRunId") or attrs.get("originalExecutionRunId")
            info.first_run_id = first if isinstance(first, str) and first else None
            continue
        if etype in _WORKFLOW_CLOSED:
            info.status, info.closed_s = _WORKFLOW_CLOSED[etype], t
            if with_timeout is not None and with_timeout[4] <= set(timers):
                # closed with the timeout's timer still running: the signal ended the wait
                w_since, w_end, w_name, w_eid, _ = with_timeout
                with_timeout = None
                if w_end > w_since[1]:
                    _signal_wait(acts, types, order, ident, offset, w_eid, w_name, w_since,
                                 w_end, False)
                    info.signal_waits += 1
            continue
        if etype == "WORKFLOW_TASK_SCHEDULED":
            new_chain = was not in ("WORKFLOW_TASK_COMPLETED", "WORKFLOW_TASK_FAILED",
                                    "WORKFLOW_TASK_TIMED_OUT")
            idle_at_schedule = last_completed if (
                not open_ids and not wft_open and was in _AFTER_A_TASK) else None
            wft_open = True
            continue
        if etype == "WORKFLOW_TASK_STARTED":
            if new_chain or chain_start_s is None:
                chain_start_s = t
            new_chain = False
            continue
        if etype in ("WORKFLOW_TASK_COMPLETED", "WORKFLOW_TASK_FAILED",
                     "WORKFLOW_TASK_TIMED_OUT"):
            wft_open = False
            if etype == "WORKFLOW_TASK_COMPLETED":
                last_completed = (eid, t)
            continue
        # ---- signals and updates
        if etype in ("WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"):
            update = etype == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"
            if update:
                info.updates += 1
                req = attrs.get("acceptedRequest")
                inp = req.get("input") if isinstance(req, dict) else None
                name = inp.get("name") if isinstance(inp, dict) else None
                # the workflow task that accepted the update was woken by its request: the
                # workflow waited from the task before it to that task's scheduling
                since = idle_at_schedule
                wait_end = _wft_scheduled_after(events, since) if since else None
            else:
                info.signals += 1
                name = attrs.get("signalName")
                idle = not wft_open and last_completed is not None
                since = last_completed if (idle and not open_ids) else None
                wait_end = t if since else None
                only_timers = bool(open_ids) and open_ids <= set(timers)
                # waiting for the signal with a timeout: confirmed if one of these timers is
                # cancelled before it fires (see TIMER_CANCELED)
                with_timeout = (last_completed, t, name, eid, set(open_ids)) if (
                    idle and only_timers) else None
            if since is not None and wait_end is not None and wait_end > since[1]:
                _signal_wait(acts, types, order, ident, offset, eid, name, since, wait_end,
                             update)
                if update:
                    info.update_waits += 1
                else:
                    info.signal_waits += 1
                idle_at_schedule = None
            continue
        # ---- timers
        if etype == "TIMER_STARTED":
            wtc = _int(attrs.get("workflowTaskCompletedEventId"))
            act = _Activity(scheduled_id=offset + eid, step="timer", scheduled_s=t,
                            batch=("task", offset + wtc) if wtc else ("run", offset + run),
                            kind="timer", started_s=t)
            timers[eid] = act
            open_ids.add(eid)
            continue
        if etype in ("TIMER_FIRED", "TIMER_CANCELED"):
            sid = _int(attrs.get("startedEventId"))
            if sid is None or sid not in timers:
                raise DataError(f"{etype} refers to startedEventId {attrs.get('startedEventId')!r}"
                                ", which is not a TimerStarted event of this history",
                                file=source, where=where)
            act = timers.pop(sid)
            open_ids.discard(sid)
            if with_timeout is not None and sid in with_timeout[4]:
                w_since, w_end, w_name, w_eid, _ = with_timeout
                with_timeout = None
                if etype == "TIMER_CANCELED" and w_end > w_since[1]:
                    _signal_wait(acts, types, order, ident, offset, w_eid, w_name, w_since,
                                 w_end, False)
                    info.signal_waits += 1
            if etype == "TIMER_CANCELED":
                info.timers_cancelled += 1
                continue
            info.timers_fired += 1
            if t <= act.scheduled_s:
                continue  # fired at once: no wait (counted)
            act.end_s, act.outcome = t, "completed"
            ident.assign(act, "timer")
            acts[sid], types[sid] = act, "timer"
            order.append(sid)
            continue
        # ---- local activities
        if etype == "MARKER_RECORDED":
            if attrs.get("markerName") not in LOCAL_ACTIVITY_MARKERS:
                continue
            info.local_activities += 1
            name, attempt, done_s = _local_activity(attrs)
            if name is None:
                raise DataError("local-activity marker without an activity type in its "
                                "details", file=source, where=where)
            start = chain_start_s if chain_start_s is not None else t
            end = done_s if done_s is not None and start < done_s <= t else t
            wtc = _int(attrs.get("workflowTaskCompletedEventId"))
            batch_id = last_completed[0] if last_completed else wtc
            act = _Activity(scheduled_id=offset + eid, step=name, scheduled_s=start,
                            batch=("task", offset + batch_id) if batch_id else (
                                "run", offset + run),
                            kind="local_activity", started_s=start, started_id=eid,
                            attempt=attempt, end_s=end)
            failure = attrs.get("failure")
            act.outcome = classify_failure(failure) if isinstance(failure, dict) else "completed"
            ident.assign(act, name)
            acts[eid], types[eid] = act, name
            order.append(eid)
            ident.closed(act, name)
            continue
        # ---- activities and child workflows
        child = etype.startswith(("CHILD_WORKFLOW_EXECUTION_", "START_CHILD_WORKFLOW_"))
        if not child and (not etype.startswith("ACTIVITY_TASK_") or etype in (
                "ACTIVITY_TASK_CANCEL_REQUESTED",)):
            continue
        key = _attr_key(etype)
        if not isinstance(ev.get(key, ev.get("details")), dict):
            raise DataError(f"{etype} event without its '{key}' object", file=source,
                            where=where)
        if scheduling:
            field_name = "workflowType" if child else "activityType"
            name = (attrs.get(field_name) or {}).get("name") if isinstance(
                attrs.get(field_name), dict) else None
            if not isinstance(name, str) or not name:
                raise DataError(f"{etype} without {field_name}.name", file=source, where=where)
            wtc = _int(attrs.get("workflowTaskCompletedEventId"))
            act = _Activity(scheduled_id=offset + eid, step=name, scheduled_s=t,
                            batch=("task", offset + wtc) if wtc else ("run", offset + run),
                            kind="child_workflow" if child else "activity")
            ident.assign(act, name)
            acts[eid], types[eid] = act, name
            order.append(eid)
            open_ids.add(eid)
            if child:
                info.child_workflows += 1
            continue
        if child:
            _child_event(etype, attrs, eid, t, acts, types, ident, source, where)
            if acts[_int(attrs.get("initiatedEventId")) or 0].outcome is not None:
                open_ids.discard(_int(attrs.get("initiatedEventId")) or 0)
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
        open_ids.discard(sid)
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
            if act.started_s is None:
                _count(info.never_started, NEVER_STARTED_REASONS[0])
            else:
                info.activities_cancelled += 1
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
            elif act.started_s is None:
                _count(info.never_started, NEVER_STARTED_REASONS[1])
        if act.started_s is not None and act.end_s < act.started_s:
            raise DataError(f"{etype} is earlier than its ActivityTaskStarted", file=source,
                            where=where)
        ident.closed(act, types[sid])
    for sid in order:
        act = acts[sid]
        if act.kind == "activity" and act.started_s is None and act.outcome is None:
            _count(info.never_started, NEVER_STARTED_REASONS[2])
    info.timers_unfired = len(timers)
    info.orchestration_s = _outside_steps_s(info, acts.values())
    warnings: list[str] = []
    rows = _rows(acts, order, workflow_id, source, st)
    return rows, warnings, info


def _signal_wait(acts: dict[int, _Activity], types: dict[int, str], order: list[int],
                 ident: _Identity, offset: int, eid: int, name: object,
                 since: tuple[int, float], end_s: float, update: bool) -> None:
    """A wait step for a signal or update (event ``eid``) from the workflow task completed at
    ``since`` to ``end_s``."""
    label = name if isinstance(name, str) and name else ("update" if update else "signal")
    act = _Activity(scheduled_id=offset + eid, step=label, scheduled_s=since[1],
                    batch=("task", offset + since[0]), kind="signal", started_s=since[1],
                    end_s=end_s, outcome="completed")
    ident.assign(act, label)
    acts[eid], types[eid] = act, label
    order.append(eid)


def _outside_steps_s(info: HistoryInfo, acts: Any) -> float:
    """The workflow time during which no step ran: the workflow time less the length of the
    union of the steps' intervals (an activity from its start to its close, or from its first
    scheduling when the server retried it, so that retries count as the step's; a child from
    its start to its close; timers, signal waits and local activities as read)."""
    if not (np.isfinite(info.started_s) and np.isfinite(info.closed_s)):
        return float("nan")
    spans = []
    for a in acts:
        if a.end_s is None or a.started_s is None:
            continue
        start = a.scheduled_s if (a.kind == "activity" and a.attempt > 1) else a.started_s
        spans.append((max(start, info.started_s), min(a.end_s, info.closed_s)))
    covered = 0.0
    reach = -np.inf
    for lo, hi in sorted(spans):
        if hi <= reach:
            continue
        covered += hi - max(lo, reach)
        reach = hi
    return max(0.0, info.closed_s - info.started_s - covered)


def _count(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def _wft_scheduled_after(events: list[Any], since: tuple[int, float]) -> float | None:
    """The time of the first WorkflowTaskScheduled after event ``since[0]``: when a workflow
    that waited since then was woken (an update's request arrives with no event of its own)."""
    for ev in events:
        eid = _int(ev.get("eventId")) if isinstance(ev, dict) else None
        if eid is not None and eid > since[0] and _event_type(
                ev.get("eventType")) == "WORKFLOW_TASK_SCHEDULED":
            return _time_s(ev.get("eventTime"))
    return None


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


_KIND_WORDS = {"activity": "activity", "child_workflow": "child workflow",
               "local_activity": "local activity", "timer": "timer", "signal": "signal wait"}


def _rows(acts: dict[int, _Activity], order: list[int], workflow_id: str, source: str,
          st: _ParseState) -> list[dict[str, Any]]:
    batches = st.batches
    rows: list[dict[str, Any]] = []
    next_attempt = st.next_attempt
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
                raise ZeroDurationError(
                    f"{_KIND_WORDS[act.kind]} {act.step!r} scheduled at event "
                    f"{sid} has zero duration (started and closed at the same instant)",
                    file=source)
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


def _read_json(f: Path) -> object:
    try:
        raw = gzip.decompress(f.read_bytes()) if f.name.lower().endswith(".gz") else f.read_bytes()
        return json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON: {exc}", file=str(f)) from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read: {exc}", file=str(f)) from exc


def _is_history_file(p: Path) -> bool:
    name = p.name.lower()
    return p.is_file() and (name.endswith(".json") or name.endswith(".json.gz"))


def _stem(p: Path) -> str:
    name = p.name
    for suffix in (".json.gz", ".JSON.GZ", ".json", ".JSON"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return p.stem


def history_files(path: str | Path) -> list[Path]:
    """The history files of a path: the file itself, or a folder's ``*.json`` and
    ``*.json.gz`` files in name order."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if _is_history_file(f))
        if not files:
            raise DataError("no *.json or *.json.gz Temporal histories in this folder",
                            file=str(p))
        return files
    if p.is_file():
        return [p]
    raise DataError("no such file or folder", file=str(p))


def load_temporal(path: str | Path) -> pd.DataFrame:
    """Read one history file or a folder of them into the normalised attempts table.

    Files: ``.json`` or ``.json.gz``, one workflow run each (``temporal workflow show --output
    json``, or the SDK's ``WorkflowHistory.to_json()``). Runs of one execution linked by
    continue-as-new (the same ``firstExecutionRunId``) are joined into one workflow, read in
    the order they started. Besides the normalised columns: ``instance`` (the scheduled event
    id of the activity the attempt belongs to), ``batch`` (1, 2, ... the workflow task that
    scheduled it, in order) and ``kind`` (one of :data:`KINDS`). ``attrs["warnings"]`` lists
    one line per history skipped (an attempt of zero duration); ``attrs["histories"]`` holds
    one :class:`HistoryInfo` per workflow execution.
    """
    p = Path(path)
    files = history_files(p)
    docs = [(f, _read_json(f)) for f in files]
    chains = _chains(docs)
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    infos: list[HistoryInfo] = []
    skipped: list[str] = []
    for chain in chains:
        state = _ParseState()
        wid = _stem(chain[0][0])
        chain_rows: list[dict[str, Any]] = []
        chain_info: HistoryInfo | None = None
        try:
            for k, (f, doc) in enumerate(chain):
                state.run = k
                r, _, info = read_history(doc, workflow_id=wid, source=str(f), state=state)
                chain_rows.extend(r)
                chain_info = info if chain_info is None else _join(chain_info, info)
        except ZeroDurationError as exc:
            if len(files) == 1:
                raise
            warnings.append(f"{exc}: history skipped")
            skipped.append(str(chain[0][0]))
            continue
        assert chain_info is not None
        rows.extend(chain_rows)
        infos.append(chain_info)
    if not rows:
        raise DataError(_nothing_to_fit(infos, skipped), file=str(p))
    out = pd.DataFrame(rows)
    out = out[list(TEMPORAL_COLUMNS)]
    out["attempt"] = out["attempt"].astype(np.int64)
    out["instance"] = out["instance"].astype(np.int64)
    out["batch"] = out["batch"].astype(np.int64)
    out["inferred"] = out["inferred"].astype(bool)
    _check_order(out, str(p))
    out.attrs["source"] = str(p)
    out.attrs["warnings"] = warnings
    out.attrs["histories"] = infos
    return out


def _chains(docs: list[tuple[Path, object]]) -> list[list[tuple[Path, object]]]:
    """Files grouped into executions: runs with one ``firstExecutionRunId`` whose earlier runs
    all continued as new, in start order; every other file is an execution of its own."""
    groups: dict[str, list[tuple[float, Path, object]]] = {}
    singles: list[list[tuple[Path, object]]] = []
    order: list[tuple[int, str | None]] = []
    for i, (f, doc) in enumerate(docs):
        first, start = _first_run(doc)
        if first is None:
            singles.append([(f, doc)])
            order.append((i, None))
            continue
        if first not in groups:
            order.append((i, first))
        groups.setdefault(first, []).append((start, f, doc))
    out: list[list[tuple[Path, object]]] = []
    single_iter = iter(singles)
    for _, first in order:
        if first is None:
            out.append(next(single_iter))
            continue
        runs = sorted(groups[first], key=lambda r: (r[0], str(r[1])))
        if len(runs) > 1 and all(_closed_as_new(doc) for _, _, doc in runs[:-1]):
            out.append([(f, doc) for _, f, doc in runs])
        else:
            out.extend([(f, doc)] for _, f, doc in runs)
    return out


def _doc_events(doc: object) -> list[Any] | None:
    if isinstance(doc, dict) and isinstance(doc.get("events"), list):
        return doc["events"]
    return doc if isinstance(doc, list) else None


def _first_run(doc: object) -> tuple[str | None, float]:
    events = _doc_events(doc)
    if not isinstance(events, list) or not events or not isinstance(events[0], dict):
        return None, 0.0
    ev = events[0]
    if _event_type(ev.get("eventType")) != "WORKFLOW_EXECUTION_STARTED":
        return None, 0.0
    attrs = _attributes(ev, "WORKFLOW_EXECUTION_STARTED")
    first = attrs.get("firstExecutionRunId")
    t = _time_s(ev.get("eventTime"))
    return (first if isinstance(first, str) and first else None), (t if t is not None else 0.0)


def _closed_as_new(doc: object) -> bool:
    events = _doc_events(doc)
    return (isinstance(events, list) and bool(events) and isinstance(events[-1], dict)
            and _event_type(events[-1].get("eventType")) == "WORKFLOW_EXECUTION_CONTINUED_AS_NEW")


def _join(a: HistoryInfo, b: HistoryInfo) -> HistoryInfo:
    """One execution's info from the infos of two consecutive continue-as-new runs."""
    never = dict(a.never_started)
    for k, v in b.never_started.items():
        never[k] = never.get(k, 0) + v
    return HistoryInfo(
        source=a.source, workflow_id=a.workflow_id, status=b.status, started_s=a.started_s,
        closed_s=b.closed_s, first_run_id=a.first_run_id, never_started=never,
        activities_cancelled=a.activities_cancelled + b.activities_cancelled,
        timers_fired=a.timers_fired + b.timers_fired,
        timers_cancelled=a.timers_cancelled + b.timers_cancelled,
        timers_unfired=a.timers_unfired + b.timers_unfired,
        signals=a.signals + b.signals, signal_waits=a.signal_waits + b.signal_waits,
        updates=a.updates + b.updates, update_waits=a.update_waits + b.update_waits,
        local_activities=a.local_activities + b.local_activities,
        child_workflows=a.child_workflows + b.child_workflows, runs=a.runs + b.runs,
        orchestration_s=a.orchestration_s + b.orchestration_s + (b.started_s - a.closed_s))


def _nothing_to_fit(infos: list[HistoryInfo], skipped: list[str]) -> str:
    """The refusal when no history holds a step with times: what was found, what is missing."""
    n = len(infos)
    found = [f"{n} histor{'y' if n == 1 else 'ies'}"]
    statuses: dict[str, int] = {}
    for i in infos:
        statuses[i.status] = statuses.get(i.status, 0) + 1
    if statuses:
        found.append("workflows " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    never = sum(sum(i.never_started.values()) for i in infos)
    for value, one, many in (
            (never, "activity that never started", "activities that never started"),
            (sum(i.timers_cancelled for i in infos), "cancelled timer", "cancelled timers"),
            (sum(i.signals - i.signal_waits for i in infos), "signal not waited for",
             "signals not waited for"),
            (sum(i.updates - i.update_waits for i in infos), "update not waited for",
             "updates not waited for")):
        if value:
            found.append(f"{value} {one if value == 1 else many}")
    if skipped:
        found.append(f"{len(skipped)} skipped for zero-duration attempts")
    return ("nothing to fit: the histories hold no activity, local activity, child workflow, "
            "timer or signal wait with a start and an end (found: " + "; ".join(found) + ")")


def looks_like_temporal(path: str | Path) -> bool:
    """True for a .json / .json.gz file or a folder holding such files (the Temporal input)."""
    p = Path(path)
    if p.is_dir():
        return any(_is_history_file(f) for f in p.iterdir())
    name = p.name.lower()
    return name.endswith(".json") or name.endswith(".json.gz")
