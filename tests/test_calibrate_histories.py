"""`sim fit` on real Temporal histories with timers, waits, local activities, child workflows and
cancelled activities (issue 24).

The bundled histories (sim/data/temporal_histories/README.md names their sources and
licences) are parsed here a second time with plain json and datetime; the fitted scenarios
must agree with that parse, and the ones that cannot be fitted must be refused with what they
hold.
"""

from __future__ import annotations

import base64
import gzip
import json
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from sim.calibrate.temporal import load_temporal
from sim.cli import main
from sim.experiment.api import simulate
from sim.model.scenario import scenario_from_dict

HISTORIES = Path(str(resources.files("sim").joinpath("data", "temporal_histories")))
LOAN = HISTORIES / "loan_processing_timers"
CHILDREN = HISTORIES / "typescript_child_workflows_timers"
TS_LOCAL = HISTORIES / "typescript_local_activities"
JAVA_LOCAL = HISTORIES / "java_local_activity"
JAVA_LOCAL_FAILED = HISTORIES / "java_local_activity_failed"
TS_CANCELLED = HISTORIES / "typescript_cancelled_activity"
JAVA_SCOPE = HISTORIES / "java_cancellation_scope"
UPDATES = HISTORIES / "openai_agents_customer_service"


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _events(folder: Path) -> list[dict]:
    (path,) = sorted(folder.glob("*.json"))
    return json.loads(path.read_text())["events"]


def _kind(ev: dict) -> str:
    """UPPER_SNAKE event type without prefix, from either spelling."""
    t = ev["eventType"]
    if t.startswith("EVENT_TYPE_"):
        return t[len("EVENT_TYPE_"):]
    return "".join("_" + c if c.isupper() and i else c for i, c in enumerate(t)).upper()


def _dur(text: str) -> float:
    assert text.endswith("s")
    return float(text[:-1])


def _fit(tmp_path: Path, data: Path, capsys, *extra: str) -> tuple[dict, str, str]:
    out = tmp_path / "fitted.toml"
    assert main(["fit", str(data), "--out", str(out), *extra]) == 0
    printed = capsys.readouterr()
    return tomllib.loads(out.read_text()), printed.out, printed.err


def _refused(tmp_path: Path, data: Path, capsys) -> str:
    out = tmp_path / "never.toml"
    assert main(["fit", str(data), "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def _makespans_s(doc: dict, runs: int = 1, *, latency: bool = True) -> np.ndarray:
    """Makespans of the fitted scenario without its failures (durable strategy); without the
    fitted persist_latency when ``latency`` is False (the steps alone)."""
    raw = dict(doc)
    raw.pop("failures", None)
    if not latency:
        raw["strategies"] = {"durable": {k: v for k, v in raw["strategies"]["durable"].items()
                                         if k != "persist_latency"}}
    sc = scenario_from_dict(raw)
    return simulate(sc, runs, 1, strategies=["durable"])["makespan_s"].to_numpy()


# --------------------------------------------------------------------------- timers


def test_loan_processing_timers_become_waits_and_the_scenario_runs_30_s(tmp_path: Path,
                                                                          capsys) -> None:
    events = _events(LOAN)
    started = {e["eventId"]: _seconds(e["eventTime"]) for e in events
               if _kind(e) == "TIMER_STARTED"}
    fired = [_seconds(e["eventTime"]) - started[e["timerFiredEventAttributes"]["startedEventId"]]
             for e in events if _kind(e) == "TIMER_FIRED"]
    assert len(fired) == 10 and all(3.0 <= f < 3.1 for f in fired)
    doc, out, err = _fit(tmp_path, LOAN, capsys)
    waits = [s for s in doc["steps"] if s["kind"] == "wait"]
    activities = [s for s in doc["steps"] if s["kind"] != "wait"]
    assert len(activities) == 11 and len(waits) == 10
    assert all(w["wait"] == "timer" for w in waits)
    # each timer, in order, is the step after its charge, with its own fired duration
    assert [_dur(w["duration"]) for w in waits] == pytest.approx(fired, rel=1e-5)
    names = [s["name"] for s in doc["steps"]]
    assert names[:4] == ["SendThankYouToCustomer", "ChargeCustomer", "timer", "ChargeCustomer_2"]
    assert "10 timers fired" in out and "one observation" in (tmp_path / "fitted.toml").read_text()
    assert "$0" in err  # the charges' compute has no price in the data: said once
    # the history took 30.2 s, of which 30.1 s are timers; the scenario runs the same 30.1 s
    workflow_s = _seconds(events[-1]["eventTime"]) - _seconds(events[0]["eventTime"])
    assert workflow_s == pytest.approx(30.235, abs=1e-3)
    (makespan,) = _makespans_s(doc, latency=False)
    steps_s = sum(_dur(s["duration"]) for s in doc["steps"])
    assert makespan == pytest.approx(steps_s, rel=1e-9)
    assert makespan == pytest.approx(sum(fired), abs=0.02)
    assert 0 < workflow_s - makespan < 0.2  # the workflow tasks between the steps
    # the durable strategy's fitted persist_latency puts that time on the 121 history events
    # of the path (5 + 6 per activity + 5 per timer): the scenario then takes the 30.24 s
    assert _dur(doc["strategies"]["durable"]["persist_latency"]) * 121 == pytest.approx(
        workflow_s - makespan, rel=0.02)
    (with_latency,) = _makespans_s(doc)
    assert with_latency == pytest.approx(workflow_s, abs=0.002)


# --------------------------------------------------------------------------- child workflows


def test_child_workflows_with_timers_fit_without_a_crash_fit(tmp_path: Path, capsys) -> None:
    events = _events(CHILDREN)
    by_id = {e["eventId"]: e for e in events}
    children = [_seconds(e["eventTime"]) - _seconds(by_id[
        e["childWorkflowExecutionCompletedEventAttributes"]["startedEventId"]]["eventTime"])
        for e in events if _kind(e) == "CHILD_WORKFLOW_EXECUTION_COMPLETED"]
    assert len(children) == 4
    doc, out, _ = _fit(tmp_path, CHILDREN, capsys)
    steps = doc["steps"]
    assert [s["kind"] for s in steps] == ["gpu", "wait"] * 4
    assert [_dur(s["duration"]) for s in steps if s["kind"] == "gpu"] == pytest.approx(
        children, rel=1e-5)
    # no attempt ran on a worker: no crash fit, and the scenario says why
    assert "crashes: not fitted (no attempt ran on a worker)" in out
    text = (tmp_path / "fitted.toml").read_text()
    assert "crashes cannot be fitted" in text and "failures" not in doc
    # the signal arrived while a timer was running: billed per run, not a wait
    assert doc["pricing"]["orchestration"]["signals_per_run"] == 1.0
    assert "child workflow: one step from its start to its close" in text


# --------------------------------------------------------------------------- local activities


def _marker_payloads(ev: dict) -> dict[str, object]:
    details = ev["markerRecordedEventAttributes"]["details"]
    return {k: json.loads(base64.b64decode(v["payloads"][0]["data"])) for k, v in details.items()}


def test_a_history_of_one_local_activity_fits(tmp_path: Path, capsys) -> None:
    events = _events(JAVA_LOCAL)
    marker = next(e for e in events if _kind(e) == "MARKER_RECORDED")
    payload = _marker_payloads(marker)
    task_started = next(e for e in events if _kind(e) == "WORKFLOW_TASK_STARTED")
    # the Java SDK's marker gives the completion time in ms; the local activity ran inside the
    # workflow task, which started at the task's WorkflowTaskStarted
    expected = payload["time"] / 1000.0 - _seconds(task_started["eventTime"])
    assert expected == pytest.approx(0.027, abs=1e-6)
    doc, out, _ = _fit(tmp_path, JAVA_LOCAL, capsys)
    (step,) = doc["steps"]
    assert step["name"] == payload["type"] == "Activity2"
    assert _dur(step["duration"]) == pytest.approx(expected, rel=1e-5)
    assert "1 local activity (MarkerRecorded)" in out
    assert "# local activity (MarkerRecorded)" in (tmp_path / "fitted.toml").read_text()
    assert load_temporal(JAVA_LOCAL)["kind"].tolist() == ["local_activity"]


def test_local_activities_of_one_workflow_task_are_parallel_branches(tmp_path: Path,
                                                                     capsys) -> None:
    events = _events(TS_LOCAL)
    task_started = _seconds(next(e for e in events if _kind(e) == "WORKFLOW_TASK_STARTED")[
        "eventTime"])
    expected = {}
    for e in events:
        if _kind(e) == "MARKER_RECORDED":
            data = _marker_payloads(e)["data"]
            done = data["complete_time"]["seconds"] + data["complete_time"]["nanos"] * 1e-9
            expected[data["activity_type"]] = done - task_started
    doc, _, _ = _fit(tmp_path, TS_LOCAL, capsys)
    steps = {s["name"]: s for s in doc["steps"]}
    assert set(steps) == {"a", "b", "c"}
    for name, seconds in expected.items():
        assert _dur(steps[name]["duration"]) == pytest.approx(seconds, rel=1e-5)
    first = doc["steps"][0]["name"]
    assert all(s.get("after") == [] for s in doc["steps"] if s["name"] != first)


def test_a_failed_local_activity_is_refused_with_what_was_found(tmp_path: Path, capsys) -> None:
    err = _refused(tmp_path, JAVA_LOCAL_FAILED, capsys)
    assert "no step completed" in err and "local activity 'ThrowIO': 1 attempt (error 1)" in err
    assert "failed 1" in err


# --------------------------------------------------------------------------- cancelled activities


def test_a_cancelled_activity_is_refused_with_what_was_found(tmp_path: Path, capsys) -> None:
    events = _events(TS_CANCELLED)
    assert {_kind(e) for e in events} >= {"ACTIVITY_TASK_CANCEL_REQUESTED", "ACTIVITY_TASK_CANCELED"}
    err = _refused(tmp_path, TS_CANCELLED, capsys)
    assert "activity 'fakeProgress': 1 attempt (error 1)" in err
    assert "1 activity cancelled by the workflow after starting" in err


def test_an_activity_that_never_started_is_counted(tmp_path: Path, capsys) -> None:
    err = _refused(tmp_path, JAVA_SCOPE, capsys)
    assert "nothing to fit" in err
    assert "1 activity that never started" in err and "1 cancelled timer" in err
    assert "workflows cancelled 1" in err


def test_never_started_activities_are_counted_beside_a_fit(tmp_path: Path, capsys) -> None:
    guardrail = HISTORIES / "openai_agents_input_guardrail"
    _, out, _ = _fit(tmp_path, guardrail, capsys)
    # of the last two scheduled activities one ran; the other was still scheduled at the end
    assert "1 activity never started (still scheduled when the history ends)" in out


# --------------------------------------------------------------------------- updates


def test_updates_the_workflow_waited_for_are_signal_waits(tmp_path: Path, capsys) -> None:
    events = _events(UPDATES)
    # independent parse: each accepted update woke a workflow task scheduled after the
    # previous task completed with nothing in flight; the wait is from that completion to the
    # scheduling of the task that accepted it
    waits = []
    last_completed = None
    for i, e in enumerate(events):
        k = _kind(e)
        if k == "WORKFLOW_TASK_COMPLETED":
            last_completed = e
        if k == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            scheduled = next(x for x in events[: i][::-1] if _kind(x) == "WORKFLOW_TASK_SCHEDULED")
            before = next(x for x in events[: events.index(scheduled)][::-1]
                          if _kind(x) == "WORKFLOW_TASK_COMPLETED")
            waits.append(_seconds(scheduled["eventTime"]) - _seconds(before["eventTime"]))
    assert last_completed is not None and len(waits) == 4
    doc, out, err = _fit(tmp_path, UPDATES, capsys)
    got = [s for s in doc["steps"] if s["kind"] == "wait"]
    assert [s["wait"] for s in got] == ["signal"] * 4
    assert [_dur(s["duration"]) for s in got] == pytest.approx(waits, rel=1e-4)
    assert "4 updates: 4 waited for" in out and "cancelled 1" in out
    assert "look like a model call" in err


# --------------------------------------------------------------------------- formats


def test_gzip_and_a_folder_of_executions(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "loans"
    folder.mkdir()
    raw = (LOAN / "history_for_original_execution.json").read_bytes()
    (folder / "loan-a.json.gz").write_bytes(gzip.compress(raw))
    doc = json.loads(raw)
    # a second execution: every event 1 hour later, the first charge's timer 1 s longer
    for ev in doc["events"]:
        t = datetime.fromisoformat(ev["eventTime"].replace("Z", "+00:00")).timestamp() + 3600
        if int(ev["eventId"]) >= 18:
            t += 1.0
        ev["eventTime"] = datetime.fromtimestamp(t).astimezone().isoformat()
    (folder / "loan-b.json").write_text(json.dumps(doc))
    fitted, out, _ = _fit(tmp_path, folder, capsys)
    assert "2 workflow executions (completed 2)" in out
    timer = {s["name"]: s for s in fitted["steps"]}["timer"]
    assert timer["duration"]["dist"] == "lognormal"  # 3.008 s and 4.008 s
    assert load_temporal(folder)["workflow_id"].nunique() == 2


def test_continue_as_new_runs_are_joined_into_one_execution(tmp_path: Path, capsys) -> None:
    events = json.loads((LOAN / "history_for_original_execution.json").read_text())["events"]
    cut = next(i for i, e in enumerate(events) if e["eventId"] == "21")  # after the first timer
    first = [dict(e) for e in events[:cut + 1]]
    first.append({"eventId": str(int(first[-1]["eventId"]) + 1),
                  "eventTime": first[-1]["eventTime"],
                  "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
                  "workflowExecutionContinuedAsNewEventAttributes": {"newExecutionRunId": "r2"}})
    start = json.loads(json.dumps(events[0]))
    start["eventTime"] = events[cut + 1]["eventTime"]
    second = [start] + [e for e in events[cut + 1:]]
    folder = tmp_path / "chain"
    folder.mkdir()
    (folder / "run-1.json").write_text(json.dumps({"events": first}))
    (folder / "run-2.json").write_text(json.dumps({"events": second}))
    joined, out, _ = _fit(tmp_path, folder, capsys)
    assert "1 workflow execution (completed 1)" in out
    assert "1 continue-as-new run joined" in out
    (tmp_path / "whole").mkdir()
    whole, _, _ = _fit(tmp_path / "whole", LOAN, capsys)
    # the same steps in the same order as the execution read in one piece: the second run's
    # first charge is ChargeCustomer_2, not a second instance of ChargeCustomer
    assert [s["name"] for s in joined["steps"]] == [s["name"] for s in whole["steps"]]
    assert all("count" not in s for s in joined["steps"])


# --------------------------------------------------------------------------- reproduction


@pytest.mark.parametrize("folder", [LOAN, CHILDREN, JAVA_LOCAL, TS_LOCAL, UPDATES,
                                    HISTORIES / "java_signal_with_timeout",
                                    HISTORIES / "typescript_smorgasbord",
                                    HISTORIES / "openai_agents_research",
                                    HISTORIES / "openai_agents_input_guardrail"],
                         ids=lambda p: p.name)
def test_a_fitted_scenario_reproduces_its_history(folder: Path, tmp_path: Path, capsys) -> None:
    """Without failures, the fitted scenario's makespan is the history's workflow time less
    the time the workflow spent in workflow tasks and in task queues, which no step accounts
    for: H - T <= makespan <= H, for the one simulated run that draws the history's values
    (fixed durations), or for some runs of the simulated 99% range (lognormal durations)."""
    doc, _, _ = _fit(tmp_path, folder, capsys)
    events = _events(folder)
    # a cancelled workflow waited for the cancel request: its time ends there
    end = next((e for e in events if _kind(e) == "WORKFLOW_EXECUTION_CANCEL_REQUESTED"),
               events[-1])
    workflow_s = _seconds(end["eventTime"]) - _seconds(events[0]["eventTime"])
    overhead_s = _orchestration_time_s(events)
    assert 0 < overhead_s <= workflow_s
    makespans = _makespans_s(doc, runs=400, latency=False)
    low, high = np.quantile(makespans, [0.005, 0.995])
    noise_s = 0.002  # the gaps of a few microseconds between consecutive events, summed
    assert low <= workflow_s + noise_s and high >= workflow_s - overhead_s - noise_s
    # with the fitted persist_latency (the time no step ran, on the history events of the
    # path) the scenario takes the history's time: exactly when every duration is one value
    makespans = _makespans_s(doc, runs=400)
    low, high = np.quantile(makespans, [0.005, 0.995])
    history_s = _seconds(events[-1]["eventTime"]) - _seconds(events[0]["eventTime"])
    # and 0.1%: a step whose predecessors ran in parallel with it for a moment (a timer started
    # just before the child workflow it follows closed) runs after them in the scenario
    noise_s = max(noise_s, 0.001 * history_s)
    if high - low < 1e-9:
        assert low == pytest.approx(history_s, abs=noise_s)
    else:
        assert low - noise_s <= history_s <= high + noise_s


def _orchestration_time_s(events: list[dict]) -> float:
    """Seconds the workflow spent in workflow tasks (scheduled to completed, the first one
    from the workflow's start) and activities spent in their task queue (scheduled to
    started), and the close event's delay after the last workflow task."""
    total = 0.0
    task = None
    scheduled: dict[str, float] = {}
    first_task_seen = False
    closes = [e for e in events if _kind(e) == "WORKFLOW_TASK_COMPLETED"]
    if closes:  # the close event's own latency after the last completed workflow task
        total += _seconds(events[-1]["eventTime"]) - _seconds(closes[-1]["eventTime"])
    for e in events:
        k, t = _kind(e), _seconds(e["eventTime"])
        if k == "WORKFLOW_TASK_SCHEDULED":  # the first one: from the workflow's start
            task = t if first_task_seen else _seconds(events[0]["eventTime"])
            first_task_seen = True
        elif k in ("WORKFLOW_TASK_COMPLETED", "WORKFLOW_TASK_FAILED") and task is not None:
            total += t - task
            task = None
        elif k == "ACTIVITY_TASK_SCHEDULED":
            scheduled[e["eventId"]] = t
        elif k == "ACTIVITY_TASK_STARTED":
            total += t - scheduled[e["activityTaskStartedEventAttributes"]["scheduledEventId"]]
    return total


def test_figures_without_a_crash_fit_or_with_single_observations(tmp_path: Path,
                                                                  capsys) -> None:
    from sim.calibrate.fits import calibrate
    from sim.calibrate.report import durations_figure

    _fit(tmp_path, CHILDREN, capsys, "--plot", str(tmp_path / "figs"))
    # no attempt on a worker: no crash figure
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "calibration_durations.png", "calibration_qq.png"]
    attempts = load_temporal(HISTORIES / "openai_agents_research")
    fig = durations_figure(calibrate(attempts), attempts)
    # of the three steps only the fan-out has more than one observation
    assert [ax.get_title().split("\n")[0] for ax in fig.axes if ax.get_visible()] == [
        "invoke_model_activity_2"]
    assert "2 steps with one observation not drawn" in fig.get_suptitle()


def test_the_web_ui_list_of_events_with_details(tmp_path: Path, capsys) -> None:
    """The Web UI's JSON view: a list of events, attributes under ``details``."""
    events = _events(LOAN)
    ui = []
    for ev in events:
        attrs = next(v for k, v in ev.items() if k.endswith("EventAttributes"))
        name = "".join(w.capitalize() for w in _kind(ev).split("_"))
        ui.append({"eventTime": ev["eventTime"], "eventType": name, "eventId": ev["eventId"],
                   "details": attrs})
    (tmp_path / "ui.json").write_text(json.dumps(ui))
    from_ui, _, _ = _fit(tmp_path, tmp_path / "ui.json", capsys)
    (tmp_path / "cli").mkdir()
    from_cli, _, _ = _fit(tmp_path / "cli", LOAN, capsys)
    assert from_ui["steps"] == from_cli["steps"]


def test_the_package_data_ships_every_history_and_its_licence() -> None:
    """Every file of sim/data/temporal_histories (histories, README, LICENSE-*) matches a
    package-data pattern of pyproject.toml, so the wheel carries the licence notices too."""
    import glob

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["sim"]
    shipped = {p for pat in patterns for p in glob.glob(pat, root_dir=root / "sim",
                                                        recursive=True)}
    files = {str(p.relative_to(root / "sim")) for p in (root / "sim" / "data" /
                                                        "temporal_histories").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert {f for f in files if "LICENSE-" in f} >= {
        "data/temporal_histories/LICENSE-sdk-java",
        "data/temporal_histories/LICENSE-edu-versioning-go-code"}
    assert files <= shipped


def _mutated(tmp_path: Path, folder: Path, mutate) -> Path:
    events = _events(folder)
    mutate(events)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"events": events}))
    return path


def _fired(events: list[dict]) -> None:
    ev = next(e for e in events if _kind(e) == "TIMER_FIRED")
    ev["timerFiredEventAttributes"]["startedEventId"] = "999"


def _marker_without_type(events: list[dict]) -> None:
    ev = next(e for e in events if _kind(e) == "MARKER_RECORDED")
    ev["markerRecordedEventAttributes"]["details"] = {}


@pytest.mark.parametrize(("folder", "mutate", "message"), [
    (LOAN, _fired, "event id 18: TIMER_FIRED refers to startedEventId '999', which is not a "
                   "TimerStarted event of this history"),
    (JAVA_LOCAL, _marker_without_type, "event id 5: local-activity marker without an activity "
                                       "type in its details"),
], ids=["timer", "marker"])
def test_broken_waits_and_markers_name_the_event(tmp_path: Path, capsys, folder, mutate,
                                                 message) -> None:
    bad = _mutated(tmp_path, folder, mutate)
    err = _refused(tmp_path, bad, capsys)
    assert err == f"error: {bad}: {message}\n"


def test_go_sdk_local_activity_marker(tmp_path: Path, capsys) -> None:
    """The Go SDK's marker: details.data = {ActivityID, ActivityType, ReplayTime, Attempt}."""
    events = _events(JAVA_LOCAL)
    marker = next(e for e in events if _kind(e) == "MARKER_RECORDED")
    data = {"ActivityID": "1", "ActivityType": "ChargeCard",
            "ReplayTime": "2022-12-05T23:15:58.1Z", "Attempt": 3, "Backoff": 0}
    marker["markerRecordedEventAttributes"]["details"] = {"data": {"payloads": [{
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(data).encode()).decode()}]}}
    path = tmp_path / "go.json"
    path.write_text(json.dumps({"events": events}))
    a = load_temporal(path)
    task_started = next(e for e in events if _kind(e) == "WORKFLOW_TASK_STARTED")
    # attempt 3: two earlier attempts known only from the counter, the last one with times
    assert a["step"].tolist() == ["ChargeCard"] * 3
    assert a["inferred"].tolist() == [True, True, False]
    assert a["duration_s"].iloc[-1] == pytest.approx(
        _seconds("2022-12-05T23:15:58.1Z") - _seconds(task_started["eventTime"]), abs=1e-6)


def test_a_signal_awaited_with_a_timeout_is_a_wait(tmp_path: Path, capsys) -> None:
    folder = HISTORIES / "java_signal_with_timeout"
    events = _events(folder)
    completed = next(e for e in events if _kind(e) == "WORKFLOW_TASK_COMPLETED")
    signal = next(e for e in events if _kind(e) == "WORKFLOW_EXECUTION_SIGNALED")
    assert {_kind(e) for e in events} & {"TIMER_FIRED", "TIMER_CANCELED"} == set()
    doc, out, _ = _fit(tmp_path, folder, capsys)
    (step,) = doc["steps"]
    assert step["name"] == "unblock" and step["wait"] == "signal"
    assert _dur(step["duration"]) == pytest.approx(
        _seconds(signal["eventTime"]) - _seconds(completed["eventTime"]), rel=1e-6)
    # the timeout's timer was started (billed) and never fired: one timer per run
    assert doc["pricing"]["orchestration"]["timers_per_run"] == 1.0
    assert "1 still running at the close" in out
