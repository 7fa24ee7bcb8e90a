"""`sim fit` on real Temporal histories with parallel activities (issue 12, item 5).

The bundled histories (sim/data/temporal_histories/README.md names their sources) are parsed
here a second time, independently of sim.calibrate: plain json, events grouped by the workflow
task that scheduled them, durations from the event times with datetime. The fitted scenario's
fan-out count and duration must agree with that parse.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import tomllib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from sim.calibrate.attempts import validate_attempts
from sim.calibrate.graph import infer_shape
from sim.calibrate.temporal import load_temporal
from sim.cli import main

HISTORIES = Path(str(resources.files("sim").joinpath("data", "temporal_histories")))
RESEARCH = HISTORIES / "openai_agents_research" / "research-workflow-history.json"
GUARDRAIL = HISTORIES / "openai_agents_input_guardrail" / "input-guardrail-workflow-history.json"
SMORGASBORD = HISTORIES / "typescript_smorgasbord" / "otel_v2_smorgasbord_1_18_1.json"
SAMPLES = Path(str(resources.files("sim").joinpath("data", "temporal_samples")))
Z95 = 1.6448536269514722  # standard normal 0.95 quantile


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def own_parse(path: Path) -> list[list[float]]:
    """Per scheduling workflow task (in order): durations of the activities that ran."""
    events = json.loads(path.read_text())["events"]
    by_task: dict[str, list[str]] = {}
    started: dict[str, float] = {}
    closed: dict[str, float] = {}
    for ev in events:
        kind = ev["eventType"]
        if kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            task = ev["activityTaskScheduledEventAttributes"]["workflowTaskCompletedEventId"]
            by_task.setdefault(task, []).append(ev["eventId"])
        elif kind == "EVENT_TYPE_ACTIVITY_TASK_STARTED":
            started[ev["activityTaskStartedEventAttributes"]["scheduledEventId"]] = _seconds(
                ev["eventTime"])
        elif kind == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED":
            closed[ev["activityTaskCompletedEventAttributes"]["scheduledEventId"]] = _seconds(
                ev["eventTime"])
    return [[closed[s] - started[s] for s in ids if s in closed] for ids in by_task.values()]


def _lognormal_median_p95(durations: list[float]) -> tuple[float, float]:
    """The lognormal MLE written for uncensored durations: exp(mean log), exp(mean + z sd), sd
    the maximum-likelihood one (divisor n)."""
    logs = [math.log(d) for d in durations]
    mu, sd = statistics.fmean(logs), statistics.pstdev(logs)
    return math.exp(mu), math.exp(mu + Z95 * sd)


def _seconds_of(text: str) -> float:
    assert text.endswith("s")
    return float(text[:-1])


def _fit(tmp_path: Path, data: Path, capsys) -> tuple[dict, str, str]:
    out = tmp_path / "fitted.toml"
    assert main(["fit", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    return tomllib.loads(out.read_text()), printed.out, printed.err


def test_research_history_fan_out_agrees_with_own_parse(tmp_path: Path, capsys) -> None:
    batches = own_parse(RESEARCH)
    assert [len(b) for b in batches] == [1, 10, 1]  # plan, ten parallel searches, write
    fan_out = batches[1]
    doc, out, err = _fit(tmp_path, RESEARCH, capsys)
    assert "nan" not in out.split("workflow graph")[1]
    assert "10 instances in 1 workflow" in out
    # no model or tokens in a history: the model calls are llm steps with placeholders, said once
    assert err.count("\n") == 1 and "look like a model call" in err and "placeholder" in err
    steps = {s["name"]: s for s in doc["steps"]}
    assert list(steps) == ["invoke_model_activity", "invoke_model_activity_2",
                           "invoke_model_activity_3"]
    # a chain with a fan-out in the middle: no `after` (each step follows the previous one)
    assert all("after" not in s for s in doc["steps"])
    assert "count" not in steps["invoke_model_activity"]
    assert "count" not in steps["invoke_model_activity_3"]
    fo = steps["invoke_model_activity_2"]
    assert fo["count"] == 10
    median, p95 = _lognormal_median_p95(fan_out)
    assert fo["duration"]["dist"] == "lognormal"
    # written with 6 significant digits
    assert _seconds_of(fo["duration"]["median"]) == pytest.approx(median, rel=1e-5)
    assert _seconds_of(fo["duration"]["p95"]) == pytest.approx(p95, rel=1e-5)
    assert _seconds_of(steps["invoke_model_activity"]["duration"]) == pytest.approx(
        batches[0][0], rel=1e-5)
    assert _seconds_of(steps["invoke_model_activity_3"]["duration"]) == pytest.approx(
        batches[2][0], rel=1e-5)
    assert "# count: parallel instances per workflow (10 in 1 of 1 workflows)" in (
        tmp_path / "fitted.toml").read_text()


def test_attempts_are_numbered_per_scheduled_activity() -> None:
    a = load_temporal(RESEARCH)
    assert len(a) == 12 and (a["attempt"] == 1).all() and not a["inferred"].any()
    fan = a[a["step"] == "invoke_model_activity_2"]
    assert sorted(fan["instance"]) == list(range(11, 21))  # the scheduled event ids
    assert fan["duration_s"].sum() == pytest.approx(sum(own_parse(RESEARCH)[1]), rel=1e-9)


def _drop_activities(doc: dict, scheduled_ids: set[str]) -> dict:
    """The history without the given scheduled activities (and their started/closed events)."""
    out = copy.deepcopy(doc)

    def keep(ev: dict) -> bool:
        if ev["eventId"] in scheduled_ids:
            return False
        attrs = next((v for k, v in ev.items() if k.endswith("EventAttributes")), {})
        return not (ev["eventType"].startswith("EVENT_TYPE_ACTIVITY_TASK_")
                    and attrs.get("scheduledEventId") in scheduled_ids)

    out["events"] = [ev for ev in out["events"] if keep(ev)]
    return out


def test_count_distribution_is_empirical_over_workflows(tmp_path: Path, capsys) -> None:
    doc = json.loads(RESEARCH.read_text())
    folder = tmp_path / "histories"
    folder.mkdir()
    (folder / "wf-a.json").write_text(json.dumps(doc))
    (folder / "wf-b.json").write_text(json.dumps(_drop_activities(doc, {"12", "13", "14"})))
    (folder / "wf-c.json").write_text(json.dumps(_drop_activities(doc, {"18", "19", "20"})))
    (folder / "wf-d.json").write_text(json.dumps(_drop_activities(doc, {"15"})))
    fitted, out, _ = _fit(tmp_path, folder, capsys)
    fo = {s["name"]: s for s in fitted["steps"]}["invoke_model_activity_2"]
    assert fo["count"] == {"dist": "empirical", "values": [7, 9, 10],
                           "weights": [0.5, 0.25, 0.25]}
    # the duration pools every instance of every workflow: 10 + 7 + 7 + 9 = 33 values
    one = dict(zip(range(11, 21), own_parse(RESEARCH)[1], strict=True))
    pooled = [one[i] for i in range(11, 21)] + [one[i] for i in range(11, 21)
                                                if i not in (12, 13, 14)] + [
        one[i] for i in range(11, 21) if i not in (18, 19, 20)] + [
        one[i] for i in range(11, 21) if i != 15]
    assert len(pooled) == 33
    median, _ = _lognormal_median_p95(pooled)
    assert _seconds_of(fo["duration"]["median"]) == pytest.approx(median, rel=1e-5)
    assert "7 instances in 2 workflows, 9 instances in 1 workflow, 10 instances in 1 workflow" \
        in out


def test_guardrail_history_two_parallel_instances(tmp_path: Path, capsys) -> None:
    batches = own_parse(GUARDRAIL)
    assert [len(b) for b in batches] == [2, 1]  # the second task's other activity never ran
    doc, _, _ = _fit(tmp_path, GUARDRAIL, capsys)
    first, second = doc["steps"]
    assert first["count"] == 2 and "count" not in second and "after" not in second
    median, p95 = _lognormal_median_p95(batches[0])
    assert _seconds_of(first["duration"]["median"]) == pytest.approx(median, rel=1e-5)
    assert _seconds_of(first["duration"]["p95"]) == pytest.approx(p95, rel=1e-5)


def test_parallel_branches_child_workflow_local_activity_and_timer(tmp_path: Path,
                                                                    capsys) -> None:
    doc, out, err = _fit(tmp_path, SMORGASBORD, capsys)
    assert "kind and price not in the data" in err and "$0" in err
    steps = {s["name"]: s for s in doc["steps"]}
    # one workflow task ran a local activity and scheduled two activities, a child workflow and
    # a timer: five parallel roots (the local activity ran first, inside the task)
    assert sorted(steps) == ["echo", "fakeProgress", "queryOwnWf", "signalTarget", "timer"]
    assert all(steps[s].get("after") == [] for s in steps if s != doc["steps"][0]["name"])
    assert steps["timer"]["kind"] == "wait" and steps["timer"]["wait"] == "timer"
    events = {int(e["eventId"]): e for e in json.loads(SMORGASBORD.read_text())["events"]}
    started = next(i for i, e in events.items() if e["eventType"] == "EVENT_TYPE_TIMER_STARTED")
    fired = next(i for i, e in events.items() if e["eventType"] == "EVENT_TYPE_TIMER_FIRED")
    assert _seconds_of(steps["timer"]["duration"]) == pytest.approx(
        _seconds(events[fired]["eventTime"]) - _seconds(events[started]["eventTime"]), rel=1e-5)
    # the child workflow: from ChildWorkflowExecutionStarted (event 10) to Completed (event 20)
    child = _seconds("2026-06-26T14:44:21.834974Z") - _seconds("2026-06-26T14:44:21.820508Z")
    assert _seconds_of(steps["signalTarget"]["duration"]) == pytest.approx(child, rel=1e-5)
    a = load_temporal(SMORGASBORD)
    kinds = a.set_index("step")["kind"]
    assert kinds["signalTarget"] == "child_workflow" and kinds["echo"] == "local_activity"
    # the local activity and the two activities ran on a worker, the child did not
    assert "0 crashes / 3 attempts" in out
    # the signal arrived while activities were in flight: not a wait, billed per run
    assert doc["pricing"]["orchestration"] == {"profile": "temporal-cloud-payg",
                                               "signals_per_run": 1.0}
    assert "1 arrived while the workflow was busy" in out


def test_zero_duration_history_is_skipped_by_name(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "histories"
    folder.mkdir()
    for f in SAMPLES.glob("*.json"):
        (folder / f.name).write_text(f.read_text())
    bad = folder / "paper-2403-01001.json"
    doc = json.loads(bad.read_text())
    doc["events"][6]["eventTime"] = doc["events"][5]["eventTime"]  # completed = started
    bad.write_text(json.dumps(doc))
    out = tmp_path / "fitted.toml"
    assert main(["fit", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.err.splitlines()[0] == (
        f"warning: {bad}: activity 'parsing' scheduled at event 5 has zero duration (started "
        "and closed at the same instant): history skipped")
    assert "of 3 workflows" in printed.out
    # a single history with a zero-duration activity: nothing left, exit 2, nothing written
    assert main(["fit", str(bad), "--out", str(tmp_path / "never.toml")]) == 2
    assert "zero duration" in capsys.readouterr().err
    assert not (tmp_path / "never.toml").exists()


def test_chains_get_no_graph_keys(tmp_path: Path, capsys) -> None:
    doc, out, _ = _fit(tmp_path, SAMPLES, capsys)
    assert all("count" not in s and "after" not in s for s in doc["steps"])
    assert "workflow graph" not in out and "workflow-graph keys" not in out


def test_instance_column_of_an_attempts_table() -> None:
    """Two parallel attempts of one step: out of order without `instance`, two instances with it."""
    raw = pd.DataFrame({
        "workflow_id": ["w", "w", "w", "w"], "step": ["a", "b", "b", "c"],
        "attempt": [1, 1, 1, 1], "start": [0.0, 5.0, 5.5, 20.0], "end": [5.0, 12.0, 19.0, 30.0],
        "outcome": ["completed"] * 4})
    with pytest.raises(Exception, match="attempts out of order"):
        validate_attempts(raw)
    a = validate_attempts(raw.assign(instance=["1", "1", "2", "1"]))
    shape = infer_shape(a, ["a", "b", "c"])
    assert shape.steps["b"].counts == {2: 1} and shape.steps["b"].count_value() == 2
    assert shape.explicit_after("c") is None  # no batch column: a chain


def _graph_loader() -> bool:
    from sim.model.scenario import Step

    return "count" in Step.model_fields


@pytest.mark.skipif(not _graph_loader(), reason="the scenario loader has no fan-out `count` yet "
                    "(the workflow-graph format of issue 12)")
def test_fitted_graph_scenarios_load(tmp_path: Path, capsys) -> None:
    from sim import load_scenario

    doc = json.loads(RESEARCH.read_text())
    for ev in doc["events"]:
        if ev["eventId"] == "20":  # a parallel branch of another type, then a join
            ev["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "search_web"
    variant = tmp_path / "variant.json"
    variant.write_text(json.dumps(doc))
    for i, data in enumerate((RESEARCH, GUARDRAIL, SMORGASBORD, variant)):
        out = tmp_path / f"fitted{i}.toml"
        assert main(["fit", str(data), "--out", str(out)]) == 0
        sc = load_scenario(out)
        written = tomllib.loads(out.read_text())["steps"]
        assert [s.name for s in sc.steps] == [s["name"] for s in written]
        for step, raw in zip(sc.steps, written, strict=True):
            assert step.after == raw.get("after")
            assert step.max_concurrency == raw.get("max_concurrency")
    assert "workflow-graph keys" not in capsys.readouterr().out  # checked with them


def test_peak_concurrency_by_hand() -> None:
    import numpy as np

    from sim.calibrate.graph import peak_concurrency

    # [0,10) [0,10) [10,20) [5,12): at t=5..10 three are open; 10 closes two and opens one
    assert peak_concurrency(np.array([0.0, 0.0, 10.0, 5.0]), np.array([10.0, 10.0, 20.0, 12.0])) == 3
    assert peak_concurrency(np.array([0.0, 1.0]), np.array([1.0, 2.0])) == 1  # touching


def test_attempts_table_with_instances_gives_count_and_concurrency(tmp_path: Path,
                                                                    capsys) -> None:
    """A CSV fan-out: 6 instances per workflow, never more than 2 at once -> max_concurrency 2."""
    rows = []
    for w in range(3):
        t0 = 1000.0 * w
        rows.append((f"w{w}", "split", "1", t0, t0 + 5))
        for i in range(6):  # three waves of two
            start = t0 + 5 + 10 * (i // 2) + 0.5 * (i % 2)
            rows.append((f"w{w}", "embed", str(i), start, start + 9 + 0.1 * i))
        rows.append((f"w{w}", "index", "1", t0 + 40, t0 + 50 + w))
    table = pd.DataFrame(rows, columns=["workflow_id", "step", "instance", "start", "end"])
    table["attempt"] = 1
    table["outcome"] = "completed"
    path = tmp_path / "attempts.csv"
    table.to_csv(path, index=False)
    doc, out, _ = _fit(tmp_path, path, capsys)
    steps = {s["name"]: s for s in doc["steps"]}
    assert list(steps) == ["split", "embed", "index"]
    assert steps["embed"]["count"] == 6 and steps["embed"]["max_concurrency"] == 2
    assert all("after" not in s for s in doc["steps"])  # no batch column: a chain
    assert "at most 2 running at once (written as max_concurrency)" in out


def test_parallel_branch_of_another_type_and_join(tmp_path: Path, capsys) -> None:
    doc = json.loads(RESEARCH.read_text())
    for ev in doc["events"]:
        if ev["eventId"] == "20":  # one of the ten parallel calls becomes another activity type
            ev["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "search_web"
    path = tmp_path / "research-variant.json"
    path.write_text(json.dumps(doc))
    fitted, out, _ = _fit(tmp_path, path, capsys)
    steps = {s["name"]: s for s in fitted["steps"]}
    # search_web started first (event 26, 17:04:08.053707), so it is listed first of the batch
    assert list(steps) == ["invoke_model_activity", "search_web", "invoke_model_activity_2",
                           "invoke_model_activity_3"]
    assert "after" not in steps["search_web"]  # its predecessor is the previous step
    assert steps["invoke_model_activity_2"]["after"] == ["invoke_model_activity"]
    assert steps["invoke_model_activity_2"]["count"] == 9 and "count" not in steps["search_web"]
    assert steps["invoke_model_activity_3"]["after"] == ["search_web", "invoke_model_activity_2"]
    assert "after search_web, invoke_model_activity_2 (1 of 1 workflows)" in out


def test_batches_without_workflow_task_ids_are_runs_of_scheduling_events() -> None:
    doc = json.loads(RESEARCH.read_text())
    for ev in doc["events"]:
        ev.get("activityTaskScheduledEventAttributes", {}).pop("workflowTaskCompletedEventId",
                                                                None)
    a = load_temporal_doc(doc)
    b = load_temporal(RESEARCH)
    pd.testing.assert_frame_equal(a[["step", "instance", "batch"]], b[["step", "instance",
                                                                        "batch"]])


def load_temporal_doc(doc: dict) -> pd.DataFrame:
    from sim.calibrate.temporal import parse_history

    rows, _ = parse_history(doc, workflow_id="w", source="<doc>")
    return pd.DataFrame(rows)


def _event(eid: int, t: float, etype: str, **attrs: object) -> dict:
    stamp = datetime.fromtimestamp(1_780_000_000 + t, UTC).isoformat()
    key = "".join(w.capitalize() for w in etype.split("_"))
    key = key[0].lower() + key[1:] + "EventAttributes"
    return {"eventId": str(eid), "eventTime": stamp, "eventType": f"EVENT_TYPE_{etype}",
            key: attrs}


def test_workflow_code_retry_is_the_next_attempt_of_the_same_activity() -> None:
    """call fails (non-retryable), the workflow schedules `call` again, it completes."""
    fail = {"message": "HTTP 429 Too Many Requests", "applicationFailureInfo": {
        "type": "RateLimitError", "nonRetryable": True}}
    events = [
        _event(1, 0.0, "WORKFLOW_EXECUTION_STARTED", workflowType={"name": "wf"}),
        _event(2, 0.1, "ACTIVITY_TASK_SCHEDULED", activityType={"name": "call"},
               workflowTaskCompletedEventId="1"),
        _event(3, 0.2, "ACTIVITY_TASK_STARTED", scheduledEventId="2", attempt=1),
        _event(4, 3.2, "ACTIVITY_TASK_FAILED", scheduledEventId="2", startedEventId="3",
               failure=fail),
        _event(5, 3.3, "ACTIVITY_TASK_SCHEDULED", activityType={"name": "call"},
               workflowTaskCompletedEventId="4"),
        _event(6, 3.4, "ACTIVITY_TASK_STARTED", scheduledEventId="5", attempt=1),
        _event(7, 7.4, "ACTIVITY_TASK_COMPLETED", scheduledEventId="5", startedEventId="6"),
        _event(8, 7.5, "ACTIVITY_TASK_SCHEDULED", activityType={"name": "call"},
               workflowTaskCompletedEventId="7"),
        _event(9, 7.6, "ACTIVITY_TASK_STARTED", scheduledEventId="8", attempt=1),
        _event(10, 9.6, "ACTIVITY_TASK_COMPLETED", scheduledEventId="8", startedEventId="9"),
    ]
    a = load_temporal_doc({"events": events})
    assert a["step"].tolist() == ["call", "call", "call_2"]
    assert a["instance"].tolist() == [2, 2, 8]
    assert a["attempt"].tolist() == [1, 2, 1]
    assert a["outcome"].tolist() == ["rate_limited", "completed", "completed"]
    assert a["duration_s"].round(6).tolist() == [3.0, 4.0, 2.0]
