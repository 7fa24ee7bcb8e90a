"""Loading and validating calibration inputs: attempts tables, event logs, Temporal, deploys."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibrate.attempts import (
    attempts_from_event_log,
    load_attempts,
    to_csv_frame,
    validate_attempts,
)
from sim.calibrate.deploys import load_deploys, parse_deploy_lines
from sim.calibrate.errors import DataError
from sim.calibrate.temporal import classify_failure, load_temporal

SAMPLES = Path(str(resources.files("sim").joinpath("data", "temporal_samples")))

GOOD = """workflow_id,step,attempt,start,end,outcome,tokens_in,retry_after_s,worker_id
wf-1,parse,1,2026-03-02T09:00:00Z,2026-03-02T09:01:00Z,completed,,,w1
wf-1,summarize,1,2026-03-02T09:01:00Z,2026-03-02T09:01:00.300Z,rate_limited,1200,2,w1
wf-1,summarize,2,2026-03-02T09:01:02.300Z,2026-03-02T09:01:30Z,completed,1200,,w1
wf-2,parse,1,2026-03-02T10:00:00+01:00,2026-03-02T09:00:20Z,crashed,,,w2
"""


def _write(tmp_path: Path, text: str, name: str = "attempts.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_table_is_normalised(tmp_path: Path) -> None:
    a = load_attempts(_write(tmp_path, GOOD))
    assert list(a["outcome"]) == ["completed", "rate_limited", "completed", "crashed"]
    assert a["duration_s"].tolist() == pytest.approx([60.0, 0.3, 27.7, 20.0])
    # 10:00+01:00 is 09:00Z: time zones are honoured
    assert a.loc[3, "start_s"] == pytest.approx(a.loc[0, "start_s"])
    assert a.loc[1, "retry_after_s"] == 2.0
    assert a["worker_id"].tolist() == ["w1", "w1", "w1", "w2"]
    assert not a["inferred"].any()


def test_numeric_seconds_and_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"workflow_id": ["a", "a"], "step": ["s", "s"], "attempt": [1, 2],
                       "start": [0.0, 12.5], "end": [10.0, 20.0],
                       "outcome": ["crashed", "completed"]})
    p = tmp_path / "a.parquet"
    df.to_parquet(p)
    a = load_attempts(p)
    assert a["duration_s"].tolist() == [10.0, 7.5]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("outcome,tokens_in", "result,tokens_in"), "missing column(s) outcome"),
    (lambda t: t.replace("2026-03-02T09:00:20Z,crashed", "2026-03-02T08:00:20Z,crashed"),
     "row 4: end (2026-03-02T08:00:20Z) is before start"),
    (lambda t: t.replace(",crashed,", ",exploded,"), "row 4: unknown outcome 'exploded'"),
    (lambda t: t.replace("2026-03-02T09:01:00Z,completed", "yesterday,completed"),
     "row 1: column 'end' is not an ISO-8601 timestamp"),
    (lambda t: t.replace("wf-1,summarize,2,", "wf-1,summarize,0,"), "row 3: attempt must be"),
    (lambda t: t.replace("wf-1,summarize,1,", "wf-1,summarize,3,"),
     "row 3 (workflow 'wf-1', step 'summarize', attempt 2): attempts out of order"),
])
def test_bad_tables_name_file_row_and_problem(tmp_path: Path, edit, message: str) -> None:
    p = _write(tmp_path, edit(GOOD))
    with pytest.raises(DataError) as exc:
        load_attempts(p)
    assert str(p) in str(exc.value)
    assert message in str(exc.value)


def test_event_log_round_trips_through_the_table() -> None:
    log = pd.DataFrame({
        "run": [0, 0, 0, 0, 1], "strategy": ["durable"] * 4 + ["restart"],
        "step": ["a", "a", "b", "b", "a"], "step_index": [0, 0, 1, 1, 0],
        "attempt": [0, 1, 0, 1, 0], "start_s": [0.0, 15.0, 40.0, 40.2, 0.0],
        "end_s": [10.0, 40.0, 40.2, 60.0, 5.0],
        "outcome": ["crashed", "completed", "rate_limited", "completed", "completed"],
        "useful": [False, True, False, True, True]})
    a = attempts_from_event_log(log, strategy="durable")
    assert a["workflow_id"].tolist() == ["0"] * 4
    assert a["attempt"].tolist() == [1, 2, 1, 2]  # the log counts from 0
    again = validate_attempts(to_csv_frame(a))
    pd.testing.assert_frame_equal(again.drop(columns="inferred"), a.drop(columns="inferred"),
                                  check_dtype=False)
    with pytest.raises(DataError, match="choose one"):
        attempts_from_event_log(log)
    bad = log.copy()
    bad.loc[3, "end_s"] = 1.0
    with pytest.raises(DataError, match="row 4: end"):
        attempts_from_event_log(bad, strategy="durable")


def test_temporal_samples_recover_last_attempts_and_infer_earlier_ones() -> None:
    a = load_temporal(SAMPLES)
    assert a["workflow_id"].nunique() == 4
    assert set(a["step"]) == {"parsing", "classification", "citation_extraction", "summary"}
    # paper 2: summarize started as attempt 3 after two 429s (lastFailure RateLimitError)
    s = a[(a["workflow_id"] == "paper-2403-01002") & (a["step"] == "summary")]
    assert s["attempt"].tolist() == [1, 2, 3]
    assert s["outcome"].tolist() == ["rate_limited", "rate_limited", "completed"]
    assert s["inferred"].tolist() == [True, True, False]
    assert s["start_s"].isna().tolist() == [True, True, False]
    assert s["retry_after_s"].iloc[1] == 4.0  # nextRetryDelay "4s"
    assert s["duration_s"].iloc[2] == pytest.approx(27.31, abs=1e-6)
    # paper 3: a heartbeat timeout before the completed attempt = a crash
    e = a[(a["workflow_id"] == "paper-2403-01003") & (a["step"] == "citation_extraction")]
    assert e["outcome"].tolist() == ["crashed", "completed"]
    # paper 4 (older CLI spelling): worker shutdown -> killed_by_deploy; final heartbeat
    # timeout of the last attempt -> crashed, with real times
    p4 = a[a["workflow_id"] == "paper-2403-01004"].set_index(["step", "attempt"])
    assert p4.loc[("parsing", 1), "outcome"] == "killed_by_deploy"
    assert p4.loc[("summary", 3), "outcome"] == "crashed"
    assert p4.loc[("summary", 3), "duration_s"] == pytest.approx(47.9, abs=1e-6)
    assert a["inferred"].sum() == 7


def test_failure_mapping() -> None:
    assert classify_failure({"message": "x", "applicationFailureInfo": {
        "type": "ResourceExhausted"}}) == "rate_limited"
    assert classify_failure({"message": "HTTP 429", "applicationFailureInfo": {}}) == "rate_limited"
    assert classify_failure({"message": "activity StartToClose timeout", "timeoutFailureInfo": {
        "timeoutType": "TIMEOUT_TYPE_START_TO_CLOSE"}}) == "crashed"
    assert classify_failure({"timeoutFailureInfo": {"timeoutType": "Heartbeat"}}) == "crashed"
    assert classify_failure({"timeoutFailureInfo": {
        "timeoutType": "TIMEOUT_TYPE_SCHEDULE_TO_CLOSE"}}) == "timed_out"
    assert classify_failure({"message": "worker is shutting down",
                             "applicationFailureInfo": {"type": "Error"}}) == "killed_by_deploy"
    assert classify_failure({"message": "bad json", "applicationFailureInfo": {
        "type": "ValueError"}}) == "error"
    # the failure says otherwise: a timeout caused by a 429
    assert classify_failure({"timeoutFailureInfo": {"timeoutType": "TIMEOUT_TYPE_HEARTBEAT"},
                             "cause": {"message": "429 Too Many Requests"}}) == "rate_limited"


def _sample() -> dict:
    return json.loads((SAMPLES / "paper-2403-01002.json").read_text())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: {"history": d["events"]}, 'expected a JSON object {"events": [...]}'),
    (lambda d: d["events"][5].update(eventType="EVENT_TYPE_ACTIVITY_TELEPORTED") or d,
     "event id 6: unknown eventType 'EVENT_TYPE_ACTIVITY_TELEPORTED'"),
    (lambda d: d["events"][5]["activityTaskStartedEventAttributes"].update(
        scheduledEventId="99") or d, "event id 6: ACTIVITY_TASK_STARTED refers to "
                                     "scheduledEventId '99'"),
    (lambda d: d["events"][6].update(eventTime="half past nine") or d,
     "event id 7: missing or invalid eventTime"),
    (lambda d: d["events"][4].pop("activityTaskScheduledEventAttributes") and d,
     "event id 5: ACTIVITY_TASK_SCHEDULED event without"),
    (lambda d: d["events"][2].update(eventId="2") or d, "eventId 2 does not increase"),
])
def test_temporal_schema_violations_name_file_and_event(tmp_path: Path, mutate, message) -> None:
    p = tmp_path / "wf.json"
    p.write_text(json.dumps(mutate(copy.deepcopy(_sample()))))
    with pytest.raises(DataError) as exc:
        load_temporal(p)
    assert str(p) in str(exc.value) and message in str(exc.value)


def test_not_json(tmp_path: Path) -> None:
    p = tmp_path / "wf.json"
    p.write_text("{events: ")
    with pytest.raises(DataError, match="not valid JSON"):
        load_temporal(p)


def test_deploys(tmp_path: Path) -> None:
    t = parse_deploy_lines(["deployed_at", "2026-03-02T14:00:00Z", "2026-03-01T14:00:00Z", ""])
    assert np.diff(t).tolist() == [86400.0]
    p = tmp_path / "d.csv"
    p.write_text("100\n50\n300\n")
    assert load_deploys(p).tolist() == [50.0, 100.0, 300.0]
    p.write_text("time\n100\nnot a time\n")
    with pytest.raises(DataError, match=r"d\.csv: line 3: not an ISO-8601"):
        load_deploys(p)
    p.write_text("100\n2026-03-02T14:00:00Z\n")
    with pytest.raises(DataError, match="mixes numbers"):
        load_deploys(p)
