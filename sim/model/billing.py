"""Temporal Cloud billable actions, counted per kind: from a real workflow history, or from the
counts a simulated run records. One rule for both (docs/costs.md, "Billable actions").

Source: Temporal's "Temporal Cloud Actions" page, https://docs.temporal.io/cloud/actions
(temporalio/documentation ``docs/evaluate/cloud/actions.mdx`` at commit
``24afc58a45403e4942a36ac4e4805c05c4298fb9``; see ``ACTIONS_SOURCE``). Date: the page maps each
kind of action to its metric name and history event since 2026-04-17 (temporalio/documentation
pull request #4450, "Cloud actions"); the copy read is of that version or a later one. The kinds
that show in a history, and what each one counts here:

=================================  ==========================================================  =======
kind (the page's metric name)      history event                                               actions
=================================  ==========================================================  =======
``start_workflow``                 ``WORKFLOW_EXECUTION_STARTED`` (client start, signal- or     1
                                   update-with-start, continue-as-new's new run, a schedule's
                                   start); 0 for a child's own start (counted in its parent)
``start_child_workflow``           ``START_CHILD_WORKFLOW_EXECUTION_INITIATED`` (the intent     2
                                   and the attempt to start it)
``upsert_workflow_search_attributes``  ``UPSERT_WORKFLOW_SEARCH_ATTRIBUTES``; 0 when it sets    1
                                   only ``TemporalChangeVersion``
``update_workflow_options``        ``WORKFLOW_EXECUTION_OPTIONS_UPDATED``                       1
``reset_workflow``                 ``WORKFLOW_TASK_FAILED`` with cause ``RESET_WORKFLOW``       1
``schedule_activity``              ``ACTIVITY_TASK_SCHEDULED`` (the first attempt)              1
``retry_activity``                 ``ACTIVITY_TASK_STARTED``: its ``attempt`` − 1               n − 1
``record_activity_markers``        ``MARKER_RECORDED``: all the markers of one workflow task    1
                                   (local activities) count as one action
``retry_activity_local``           ``WORKFLOW_TASK_COMPLETED``: its ``meteringMetadata.``       n
                                   ``nonfirstLocalActivityExecutionAttempts``
``start_timer``                    ``TIMER_STARTED``                                            1
``signal_workflow``                ``WORKFLOW_EXECUTION_SIGNALED`` (from a client or another    1
                                   workflow: the action shows in the signalled history, not
                                   in the sender's ``SIGNAL_EXTERNAL_..._INITIATED``); 0 for
                                   the signal of a signal-with-start that started the workflow
                                   (one action in all: its start)
``accept_workflow_update``         ``WORKFLOW_EXECUTION_UPDATE_ACCEPTED``                       1
``schedule_nexus_operation``       ``NEXUS_OPERATION_SCHEDULED``                                1
``request_nexus_operation_cancellation``  ``NEXUS_OPERATION_CANCEL_REQUESTED``                  1
=================================  ==========================================================  =======

``CONTINUED_AS_NEW`` counts nothing in the history that ends with it: the page bills the
continuation as the new run's ``WORKFLOW_EXECUTION_STARTED``.

What a history cannot show (``NOT_IN_HISTORY``): activity heartbeats that reached the server
(SDKs throttle them to 80% of the heartbeat timeout), queries (the UI's call-stack view
included), rejected updates (never written), a schedule's own two actions per run, workflow
exports, the Fairness surcharge, provisioned capacity, workflow-task heartbeats of long local
activities, and the retries of an activity that was still retrying when the history ended
(its ``ACTIVITY_TASK_STARTED`` is written only when the last attempt ends). A count from a
history is therefore a lower bound of the bill; the page says the same of its own estimate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ACTIONS_SOURCE = ("Temporal Cloud Actions, https://docs.temporal.io/cloud/actions "
                  "(temporalio/documentation docs/evaluate/cloud/actions.mdx @24afc58a; the version with the "
                  "event-type mapping, 2026-04-17 or later)")
ACTIONS_SOURCE_DATE = "2026-04-17"  # the mapping's first version (temporalio/documentation PR #4450)

# The kinds of action a history can show, in the order of the page; value: actions per unit.
ACTIONS_PER_UNIT: dict[str, int] = {
    "start_workflow": 1,
    "start_child_workflow": 2,
    "upsert_workflow_search_attributes": 1,
    "update_workflow_options": 1,
    "reset_workflow": 1,
    "schedule_activity": 1,
    "retry_activity": 1,
    "record_activity_markers": 1,
    "retry_activity_local": 1,
    "start_timer": 1,
    "signal_workflow": 1,
    "accept_workflow_update": 1,
    "schedule_nexus_operation": 1,
    "request_nexus_operation_cancellation": 1,
}

# Billable, but never in a history (see the module docstring).
NOT_IN_HISTORY: tuple[str, ...] = (
    "record_activity_heartbeat", "query_workflow", "reject_workflow_update", "schedule (2 per run)",
    "export_workflow_history", "fairness", "provisioned_capacity", "record_workflow_heartbeat",
    "retries of an activity still retrying when the history ends",
)

# temporal/api/enums/v1/event_type.proto, numbers 1-40 (temporalio/api @132496c9); newer kinds
# are accepted by name only.
NUMBERED_EVENT_TYPES: tuple[str, ...] = (
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
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
)

_CHANGE_VERSION = "TemporalChangeVersion"


def event_type(event: Mapping[str, Any]) -> str:
    """The event's type as UPPER_SNAKE without the ``EVENT_TYPE_`` prefix, from any JSON spelling:
    ``"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"``, ``"ActivityTaskScheduled"`` or the enum number
    (1-40; a string of digits too). Raises ``ValueError`` naming the event otherwise."""
    raw = event.get("eventType", event.get("event_type"))
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        if 1 <= raw <= len(NUMBERED_EVENT_TYPES):
            return NUMBERED_EVENT_TYPES[raw - 1]
        raise ValueError(f"event {event.get('eventId', '?')}: event type number {raw} is not one this "
                         f"reader knows (1-{len(NUMBERED_EVENT_TYPES)}); write event types by name")
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"event {event.get('eventId', '?')}: no 'eventType'")
    if raw.startswith("EVENT_TYPE_"):
        return raw[len("EVENT_TYPE_"):]
    if raw.isupper():
        return raw
    out = []  # PascalCase -> UPPER_SNAKE
    for i, ch in enumerate(raw):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.upper())
    return "".join(out)


def _attributes(event: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The ``<kind>EventAttributes`` object (lowerCamelCase key), or {} if absent."""
    words = kind.lower().split("_")
    key = words[0] + "".join(w.capitalize() for w in words[1:]) + "EventAttributes"
    value = event.get(key)
    if value is None:  # a snake_case export (Python SDK's MessageToDict with preserving names)
        value = event.get(kind.lower() + "_event_attributes")
    return value if isinstance(value, Mapping) else {}


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():  # int64 fields are strings in proto3 JSON
        return int(value)
    return default


def _enum(value: object) -> str:
    return str(value or "").upper().replace("-", "_")


def billable_actions_by_kind(events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Temporal Cloud billable actions of one history, by kind (the keys of ``ACTIONS_PER_UNIT``;
    every key is present, 0 where none).

    ``events``: the ``events`` list of a history in its JSON form (``temporal workflow show
    --output json``, or a UI / SDK export), event types in any spelling ``event_type`` accepts.
    Only what the history records is counted: see ``NOT_IN_HISTORY``."""
    units = dict.fromkeys(ACTIONS_PER_UNIT, 0)
    marker_tasks: set[object] = set()
    previous = None
    for event in events:
        kind = event_type(event)
        attrs = _attributes(event, kind)
        if kind == "WORKFLOW_EXECUTION_STARTED":
            if not attrs.get("parentWorkflowExecution"):
                units["start_workflow"] += 1
        elif kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
            units["start_child_workflow"] += 1
        elif kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            fields = (attrs.get("searchAttributes") or {}).get("indexedFields") or {}
            if not fields or set(fields) != {_CHANGE_VERSION}:
                units["upsert_workflow_search_attributes"] += 1
        elif kind == "WORKFLOW_EXECUTION_OPTIONS_UPDATED":
            units["update_workflow_options"] += 1
        elif kind == "WORKFLOW_TASK_FAILED":
            if _enum(attrs.get("cause")).endswith("RESET_WORKFLOW"):
                units["reset_workflow"] += 1
        elif kind == "ACTIVITY_TASK_SCHEDULED":
            units["schedule_activity"] += 1
        elif kind == "ACTIVITY_TASK_STARTED":
            units["retry_activity"] += max(_int(attrs.get("attempt"), 1) - 1, 0)
        elif kind == "MARKER_RECORDED":
            task = attrs.get("workflowTaskCompletedEventId", event.get("eventId"))
            marker_tasks.add(str(task))
        elif kind == "WORKFLOW_TASK_COMPLETED":
            metering = attrs.get("meteringMetadata") or {}
            units["retry_activity_local"] += _int(metering.get("nonfirstLocalActivityExecutionAttempts"))
        elif kind == "TIMER_STARTED":
            units["start_timer"] += 1
        elif kind == "WORKFLOW_EXECUTION_SIGNALED":
            if previous != "WORKFLOW_EXECUTION_STARTED":  # not the signal of a signal-with-start
                units["signal_workflow"] += 1
        elif kind == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            units["accept_workflow_update"] += 1
        elif kind == "NEXUS_OPERATION_SCHEDULED":
            units["schedule_nexus_operation"] += 1
        elif kind == "NEXUS_OPERATION_CANCEL_REQUESTED":
            units["request_nexus_operation_cancellation"] += 1
        previous = kind
    units["record_activity_markers"] = len(marker_tasks)
    return {k: n * ACTIONS_PER_UNIT[k] for k, n in units.items()}


def billable_actions(events: Iterable[Mapping[str, Any]]) -> int:
    """Temporal Cloud billable actions of one history: the sum of ``billable_actions_by_kind``."""
    return sum(billable_actions_by_kind(events).values())


def simulated_actions_by_kind(workflow_starts: float = 1.0, activity_attempts: float = 0.0,
                              activities_scheduled: float | None = None, heartbeats: float = 0.0,
                              timers: float = 0.0, signals: float = 0.0) -> dict[str, float]:
    """The same kinds for a simulated run, from its counts: ``activity_attempts`` split into the
    scheduled first attempts (``activities_scheduled``; all of them if not given) and retries,
    plus heartbeats (billable, never in a history), timers and signals."""
    first = activity_attempts if activities_scheduled is None else activities_scheduled
    out: dict[str, float] = dict.fromkeys(ACTIONS_PER_UNIT, 0.0)
    out["start_workflow"] = workflow_starts * ACTIONS_PER_UNIT["start_workflow"]
    out["schedule_activity"] = first * ACTIONS_PER_UNIT["schedule_activity"]
    out["retry_activity"] = (activity_attempts - first) * ACTIONS_PER_UNIT["retry_activity"]
    out["start_timer"] = timers * ACTIONS_PER_UNIT["start_timer"]
    out["signal_workflow"] = signals * ACTIONS_PER_UNIT["signal_workflow"]
    out["record_activity_heartbeat"] = heartbeats * HEARTBEAT_ACTIONS
    return out


HEARTBEAT_ACTIONS = 1  # an activity heartbeat that reaches the server: one action (not in a history)
