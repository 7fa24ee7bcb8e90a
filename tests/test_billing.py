"""Billable actions per kind (sim.model.billing): the bundled real histories against counts made by
hand from their events, each rule of Temporal's Actions page on a small hand-built history, and
the model's count of a simulated run against the same rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.model.billing import (
    ACTIONS_PER_UNIT,
    billable_actions,
    billable_actions_by_kind,
    event_type,
    simulated_actions_by_kind,
)
from sim.model.costs import billable_actions as cost_billable_actions
from sim.model.costs import durable_actions
from sim.model.scenario import OrchestrationPrice

DATA = Path(__file__).resolve().parents[1] / "sim" / "data"


def _events(relative: str) -> list[dict]:
    return json.loads((DATA / relative).read_text())["events"]


# Counted by hand from the files (event ids in brackets):
# research: 1 start [1] + 12 ActivityTaskScheduled, every ActivityTaskStarted at attempt 1.
# guardrail: 1 start + 4 scheduled (one never started: still billed when scheduled).
# smorgasbord: 1 start [1] + 2 activities [5, 6] + 1 timer [7] + 2 for the child [8] + 1 for the
#   local-activity marker of workflow task 4 [9] + 1 signal received [15]; the signal it sends
#   [14] and the receipt of it [19] are billed in the other history.
# paper-01001: 1 + 4 scheduled. paper-01002: 1 + 4 + 2 retries (attempt 3 at event 24).
# paper-01003: 1 + 4 + 1 + 1 (attempt 2 at events 12 and 18).
# paper-01004 (PascalCase types): 1 + 4 + 1 + 2 (attempt 2 at 6, attempt 3 at 24).
# loan_processing: 1 start [1] + 11 scheduled [5, 11, 22, 33, 44, 55, 66, 77, 88, 99, 110], each
#   started at attempt 1 + 10 timers [17, 28, 39, 50, 61, 72, 83, 94, 105, 116].
# random-replay (child workflows): 1 start [1] + 2 x 4 child initiations [5, 19, 33, 47] + 1 reset
#   (WorkflowTaskFailed, cause RESET_WORKFLOW [9]) + 4 timers [14, 24, 38, 52] + 1 signal received
#   after the first task [57]; no activity.
# otel_1_13_1 (TypeScript local activities): 1 start [1]; its signal [2] comes right after the start
#   (signal-with-start: not billed again) + 1 for the three markers [6, 7, 8] of workflow task 5;
#   meteringMetadata {} at [5] (every marker at attempt 1): no local retry.
# cancel_fake_progress (camelCase types): 1 start [1] + 1 scheduled [5] + 1 signal [6]; started at
#   attempt 1 [11]; the activity's cancel request [10] is not an action.
# laSuccessfulCompletion (Java, camelCase types): 1 start [1] + 1 for the LocalActivity marker [5]
#   (its workflowTaskCompletedEventId is "3"); no meteringMetadata.
# laRetriesAndFails (Java): 1 start [1] + 1 for the failed LocalActivity marker [8]; its retries
#   (4.1 s) are not recorded (no meteringMetadata at [4] or [7]), nor is the workflow-task
#   heartbeat [4]-[5] (NOT_IN_HISTORY).
# cancellationScopeDeterminism (Java): 1 start [1] + 1 scheduled [5] (never started) + 1 timer [6];
#   the workflow's cancel request [7] and the cancellations [11, 12] are not actions.
# awaitTimerCondition (Java): 1 start [1] + 1 timer [5] + 1 signal [6] (after the first task).
# customer-service: 1 start [1] + 4 updates accepted [8, 19, 36, 47] + 6 scheduled [9, 20, 26, 37,
#   48, 54], all started at attempt 1; the update completions and the cancel request [61] are not.
HAND_COUNTS = {
    "temporal_histories/openai_agents_research/research-workflow-history.json":
        {"start_workflow": 1, "schedule_activity": 12},
    "temporal_histories/openai_agents_input_guardrail/input-guardrail-workflow-history.json":
        {"start_workflow": 1, "schedule_activity": 4},
    "temporal_histories/typescript_smorgasbord/otel_v2_smorgasbord_1_18_1.json":
        {"start_workflow": 1, "schedule_activity": 2, "start_timer": 1, "start_child_workflow": 2,
         "record_activity_markers": 1, "signal_workflow": 1},
    "temporal_histories/loan_processing_timers/history_for_original_execution.json":
        {"start_workflow": 1, "schedule_activity": 11, "start_timer": 10},
    "temporal_histories/typescript_child_workflows_timers/random-replay-1.17.2.json":
        {"start_workflow": 1, "start_child_workflow": 8, "reset_workflow": 1, "start_timer": 4,
         "signal_workflow": 1},
    "temporal_histories/typescript_local_activities/otel_1_13_1.json":
        {"start_workflow": 1, "record_activity_markers": 1},
    "temporal_histories/typescript_cancelled_activity/cancel_fake_progress_history.json":
        {"start_workflow": 1, "schedule_activity": 1, "signal_workflow": 1},
    "temporal_histories/java_local_activity/laSuccessfulCompletion_1_17.json":
        {"start_workflow": 1, "record_activity_markers": 1},
    "temporal_histories/java_local_activity_failed/laRetriesAndFails_1_17.json":
        {"start_workflow": 1, "record_activity_markers": 1},
    "temporal_histories/java_cancellation_scope/cancellationScopeDeterminism.json":
        {"start_workflow": 1, "schedule_activity": 1, "start_timer": 1},
    "temporal_histories/java_signal_with_timeout/awaitTimerConditionOldBehavior.json":
        {"start_workflow": 1, "start_timer": 1, "signal_workflow": 1},
    "temporal_histories/openai_agents_customer_service/customer-service-workflow-history.json":
        {"start_workflow": 1, "accept_workflow_update": 4, "schedule_activity": 6},
    "temporal_samples/paper-2403-01001.json": {"start_workflow": 1, "schedule_activity": 4},
    "temporal_samples/paper-2403-01002.json": {"start_workflow": 1, "schedule_activity": 4, "retry_activity": 2},
    "temporal_samples/paper-2403-01003.json": {"start_workflow": 1, "schedule_activity": 4, "retry_activity": 2},
    "temporal_samples/paper-2403-01004.json": {"start_workflow": 1, "schedule_activity": 4, "retry_activity": 3},
}
HAND_TOTALS = {"research": 13, "guardrail": 5, "smorgasbord": 8, "01001": 5, "01002": 7, "01003": 7, "01004": 8,
               "loan_processing": 22, "random-replay": 15, "otel_1_13_1": 2, "cancel_fake_progress": 3,
               "laSuccessfulCompletion": 2, "laRetriesAndFails": 2, "cancellationScopeDeterminism": 3,
               "awaitTimerCondition": 3, "customer-service": 11}


@pytest.mark.parametrize("relative", sorted(HAND_COUNTS))
def test_bundled_histories_counted_as_by_hand(relative: str) -> None:
    by_kind = billable_actions_by_kind(_events(relative))
    expected = dict.fromkeys(ACTIONS_PER_UNIT, 0) | HAND_COUNTS[relative]
    assert by_kind == expected
    total = next(v for k, v in HAND_TOTALS.items() if k in relative)
    assert billable_actions(_events(relative)) == total


def test_the_bundled_files_are_the_ones_counted() -> None:
    found = {str(p.relative_to(DATA)) for folder in ("temporal_histories", "temporal_samples")
             for p in (DATA / folder).rglob("*.json")}
    assert found == set(HAND_COUNTS)


def _ev(i: int, kind: str, **attrs: object) -> dict:
    words = kind.lower().split("_")
    key = words[0] + "".join(w.capitalize() for w in words[1:]) + "EventAttributes"
    return {"eventId": str(i), "eventType": f"EVENT_TYPE_{kind}", key: dict(attrs)}


def test_each_rule_of_the_actions_page() -> None:
    events = [
        _ev(1, "WORKFLOW_EXECUTION_STARTED"),
        _ev(2, "WORKFLOW_EXECUTION_SIGNALED"),  # signal-with-start: one action in all (the start)
        _ev(3, "WORKFLOW_TASK_SCHEDULED"), _ev(4, "WORKFLOW_TASK_STARTED"),
        _ev(5, "WORKFLOW_TASK_COMPLETED", meteringMetadata={"nonfirstLocalActivityExecutionAttempts": 3}),
        _ev(6, "MARKER_RECORDED", workflowTaskCompletedEventId="5", markerName="core_local_activity"),
        _ev(7, "MARKER_RECORDED", workflowTaskCompletedEventId="5", markerName="core_local_activity"),
        _ev(8, "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", workflowTaskCompletedEventId="5",
            searchAttributes={"indexedFields": {"TemporalChangeVersion": {}}}),  # exempt
        _ev(9, "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", workflowTaskCompletedEventId="5",
            searchAttributes={"indexedFields": {"CustomerId": {}, "Region": {}}}),  # one action for both
        _ev(10, "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED"),  # billed in the signalled history
        _ev(11, "WORKFLOW_EXECUTION_SIGNALED"),
        _ev(12, "WORKFLOW_TASK_SCHEDULED"), _ev(13, "WORKFLOW_TASK_STARTED"),
        _ev(14, "WORKFLOW_TASK_FAILED", cause="WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW"),
        _ev(15, "WORKFLOW_TASK_FAILED", cause="WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND"),  # not billed
        _ev(16, "WORKFLOW_TASK_COMPLETED"),
        _ev(17, "MARKER_RECORDED", workflowTaskCompletedEventId="16"),  # another task: one more action
        _ev(18, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"),
        _ev(19, "WORKFLOW_EXECUTION_OPTIONS_UPDATED"),
        _ev(20, "NEXUS_OPERATION_SCHEDULED"), _ev(21, "NEXUS_OPERATION_CANCEL_REQUESTED"),
        _ev(22, "ACTIVITY_TASK_SCHEDULED"), _ev(23, "ACTIVITY_TASK_STARTED", attempt=4),
        _ev(24, "ACTIVITY_TASK_FAILED"),
        _ev(25, "TIMER_STARTED"), _ev(26, "TIMER_FIRED"),
        _ev(27, "START_CHILD_WORKFLOW_EXECUTION_INITIATED"), _ev(28, "CHILD_WORKFLOW_EXECUTION_STARTED"),
        _ev(29, "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"),  # billed as the new run's start
    ]
    assert billable_actions_by_kind(events) == {
        "start_workflow": 1, "start_child_workflow": 2, "upsert_workflow_search_attributes": 1,
        "update_workflow_options": 1, "reset_workflow": 1, "schedule_activity": 1, "retry_activity": 3,
        "record_activity_markers": 2, "retry_activity_local": 3, "start_timer": 1, "signal_workflow": 1,
        "accept_workflow_update": 1, "schedule_nexus_operation": 1, "request_nexus_operation_cancellation": 1,
    }
    assert billable_actions(events) == 20


def test_a_childs_own_start_is_counted_in_its_parent() -> None:
    child = [_ev(1, "WORKFLOW_EXECUTION_STARTED", parentWorkflowExecution={"workflowId": "p"}),
             _ev(2, "WORKFLOW_TASK_SCHEDULED")]
    assert billable_actions(child) == 0


def test_a_signal_after_the_first_task_is_billed() -> None:
    events = [_ev(1, "WORKFLOW_EXECUTION_STARTED"), _ev(2, "WORKFLOW_TASK_SCHEDULED"),
              _ev(3, "WORKFLOW_EXECUTION_SIGNALED")]
    assert billable_actions_by_kind(events)["signal_workflow"] == 1
    assert billable_actions(events) == 2


def test_every_spelling_of_an_event_type() -> None:
    for raw in ("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "ActivityTaskScheduled", 10, "10", "ACTIVITY_TASK_SCHEDULED"):
        assert event_type({"eventType": raw}) == "ACTIVITY_TASK_SCHEDULED"
    assert event_type({"eventType": "WorkflowExecutionContinuedAsNew"}) == "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    assert event_type({"eventType": 40}) == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"
    numeric = [{"eventId": "1", "eventType": 1}, {"eventId": "2", "eventType": 10},
               {"eventId": "3", "eventType": 11, "activityTaskStartedEventAttributes": {"attempt": "2"}}]
    assert billable_actions(numeric) == 3  # start, schedule, one retry (int64 as a string)
    with pytest.raises(ValueError, match="event 7: event type number 77"):
        event_type({"eventId": "7", "eventType": 77})
    with pytest.raises(ValueError, match="no 'eventType'"):
        event_type({"eventId": "8"})


def test_the_model_counts_a_simulated_run_by_the_same_rule() -> None:
    # paper-2403-01002: 4 activities, 6 attempts in all (the last one three times): 7 actions.
    history = billable_actions_by_kind(_events("temporal_samples/paper-2403-01002.json"))
    simulated = simulated_actions_by_kind(workflow_starts=1, activity_attempts=6, activities_scheduled=4)
    assert {k: v for k, v in simulated.items() if v} == {k: v for k, v in history.items() if v}
    assert float(durable_actions(np.array([6]))[0]) == sum(history.values())
    price = OrchestrationPrice(heartbeats_per_activity_attempt=2.0, timers_per_run=1.0, signals_per_run=3.0)
    engine = durable_actions(np.array([6.0]))
    extras = simulated_actions_by_kind(workflow_starts=1, activity_attempts=6, heartbeats=2.0 * 6, timers=1, signals=3)
    assert float(cost_billable_actions(engine, np.array([6.0]), price)[0]) == sum(extras.values()) == 1 + 6 + 12 + 1 + 3
