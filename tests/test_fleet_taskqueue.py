"""Task-queue dispatch of workflow graphs in the fleet (docs/fleet.md, "Task queues"): fan-outs
spread over the pool, a crash kills only the crashed worker's attempts, and the activity queue of
many workflows is M/M/(c·s) (Erlang C)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from sim.analysis.analytic import erlang_c, mmc_mean_wait_s
from sim.engines.fleet import fleet_queue, simulate_fleet

from helpers import NO_BACKOFF, scenario


def gpu(name: str, duration, after: list[str] | None = None, **extra) -> dict:
    step = {"name": name, "kind": "gpu", "price_per_hour": 3.6, "duration": duration, **extra}
    if after is not None:
        step["after"] = after
    return step


def _fan_out(count: int, fails: dict | None = None, workers: int = 8, slots: int = 8, **fleet) -> object:
    steps = [gpu("a", 10.0), gpu("b", 60.0, ["a"], count=count), gpu("c", 10.0, ["b"])]
    return scenario(steps, fails, strategies={"restart": {"retry": dict(NO_BACKOFF)}, "durable": {}},
                    worker={"activity_slots": slots},
                    fleet={"workers": workers, "arrival": "batch", "workflows": 1, **fleet})


def test_a_fan_out_spreads_over_the_pool_and_restart_keeps_one_worker():
    sc = _fan_out(40)
    wf, fleet = simulate_fleet(sc, 1, seed=1)
    makespan = wf.set_index("strategy")["makespan_s"]
    # durable: 40 attempts on 8 workers × 8 slots run in one wave; restart: 8 slots of one worker, 5 waves
    assert makespan["durable"] == pytest.approx(10 + 60 + 10)
    assert makespan["restart"] == pytest.approx(10 + 5 * 60 + 10)
    tasks, backlog = fleet_queue(sc, "durable", 0, seed=1)
    embed = tasks[tasks["step"] == "b"]
    assert len(embed) == 40 and (embed["schedule_to_start_s"] == 0).all()
    per_worker = embed.groupby("worker").size()
    assert len(per_worker) == 8 and per_worker.max() <= 8  # the most free slots first: 5 on each
    assert (backlog["backlog"] == 0).all()
    # 2 workers × 8 slots: 40 activities in 3 waves, the queue holds 24 then 8 of them
    wf2, fleet2 = simulate_fleet(_fan_out(40, workers=2), 1, seed=1, strategies=["durable"])
    assert wf2["makespan_s"].iloc[0] == pytest.approx(10 + 3 * 60 + 10)
    assert fleet2["backlog_max"].iloc[0] == 24
    # time average over the 200-s drain: 24 tasks for 60 s, 8 for 60 s
    assert fleet2["backlog_mean"].iloc[0] == pytest.approx((24 * 60 + 8 * 60) / 200)
    # over the 42 activity attempts (a and c start at once): 16 wait 60 s, 8 wait 120 s
    assert fleet2["schedule_to_start_mean_s"].iloc[0] == pytest.approx((16 * 60 + 8 * 120) / 42)


def test_a_crash_kills_only_the_attempts_on_that_worker():
    """c workers × s slots start c·s activities of T at time 0, one workflow. Each worker's first
    crash comes after Exp(M): the attempts killed in that wave are s × Binomial(c, 1 − e^{−T/M}),
    whole workers at a time (on one worker, as restart holds it, they would be all or none)."""
    c, s, t_s, mtbf_s, runs = 4, 3, 600.0, 1200.0, 200
    steps = [gpu("b", t_s, count=c * s)]
    fails = {"crash": {"mtbf": mtbf_s, "detection_delay": 0.0, "restart_time": 30.0}}
    sc = scenario(steps, fails, strategies={"durable": {}}, worker={"activity_slots": s},
                  fleet={"workers": c, "arrival": "batch", "workflows": 1}, temporal={
                      "sticky_schedule_to_start_timeout": "0s", "workflow_task_timeout": "0s"})
    workers_lost = []
    for run in range(runs):
        tasks, _ = fleet_queue(sc, "durable", run, seed=3)
        first = tasks[tasks["started_s"] == 0.0]
        assert len(first) == c * s and first.groupby("worker").size().eq(s).all()
        crashed = first[first["outcome"] == "crashed"]
        sizes = crashed.groupby("worker").size()
        assert sizes.eq(s).all()  # a crash ends every attempt on its worker...
        for at, group in tasks[tasks["outcome"] == "crashed"].groupby("end_s"):
            lost = group["worker"].iloc[0]
            assert group["worker"].nunique() == 1  # ... and none on another worker, which carries on
            assert not ((tasks["worker"] != lost) & (tasks["end_s"] == at)).any()
        workers_lost.append(len(sizes))
    p = -math.expm1(-t_s / mtbf_s)
    observed = np.bincount(workers_lost, minlength=c + 1)
    expected = sps.binom.pmf(np.arange(c + 1), c, p) * runs
    assert sps.chisquare(observed, expected).pvalue > 1e-3, (observed, expected)


@pytest.mark.slow
def test_the_activity_queue_of_many_workflows_is_erlang_c():
    """Poisson workflows of one exponential activity each, on c workers × s slots: M/M/(c·s).
    Mean schedule-to-start and P(wait) against Erlang C, within 4 standard errors over 16
    independent replications of 2,500 workflows (the start from an empty queue biases the
    mean wait down by about 30/2,500 of itself, far inside the tolerance)."""
    c, s, mean_s, rho = 3, 2, 60.0, 0.7
    n = c * s
    lam = rho * n / mean_s
    steps = [gpu("a", {"dist": "exponential", "mean": mean_s}, max_concurrency=1)]
    sc = scenario(steps, strategies={"durable": {}}, worker={"activity_slots": s},
                  fleet={"workers": c, "arrival": "poisson", "rate_per_hour": lam * 3600, "workflows": 2500})
    means, waited = [], []
    for run in range(16):
        tasks, _ = fleet_queue(sc, "durable", run, seed=11)
        w = tasks["schedule_to_start_s"].to_numpy()
        means.append(w.mean())
        waited.append((w > 0).mean())
    expected_w = mmc_mean_wait_s(n, lam, 1 / mean_s)
    expected_p = erlang_c(n, lam * mean_s)
    for sample, expected in ((np.array(means), expected_w), (np.array(waited), expected_p)):
        se = sample.std(ddof=1) / math.sqrt(len(sample))
        assert abs(sample.mean() - expected) <= 4 * se, (sample.mean(), expected, se)


# --------------------------------------------------------------------------- sticky workflow tasks, slots


def _two_workers(crash_at: list[float], sticky_s: float, slots: int = 1, wft_slots: int = 0, steps=None,
                 latency: str = "0s"):
    """One durable workflow on two workers; worker w crashes at ``crash_at[w]`` (restart 30 s)."""
    from sim.engines.fleet.taskqueue import TaskQueueFleet
    from sim.model.failures import ReplicationEnv, Stream, Worker, worker_spec
    from sim.model.strategies import behaviours_of
    from sim.model.workflow import Graph, replication_draws

    steps = steps or [gpu("a", 100.0), gpu("b", 100.0, ["a"], max_concurrency=1)]
    sc = scenario(steps, {"crash": {"mtbf": 1e9, "detection_delay": 0.0, "restart_time": 30.0}},
                  strategies={"durable": {"persist_latency": latency}},
                  temporal={"sticky_schedule_to_start_timeout": f"{sticky_s}s", "workflow_task_timeout": "0s"},
                  fleet={"workers": 2, "arrival": "batch", "workflows": 1})
    graph = Graph(sc)
    beh = behaviours_of(sc)[0]
    workers = []
    for at in crash_at:
        env = ReplicationEnv(0)
        env.crash_ttf = Stream(np.uint64(1), 0, lambda u: u, [at, 1e12, 1e12, 1e12])
        workers.append(Worker(worker_spec(sc), env))
    tq = TaskQueueFleet(graph, beh, workers, slots, wft_slots, [0.0], lambda j: replication_draws(graph, 1, 0),
                        lambda j: None, 0)
    tq.run()
    record = dict(zip(("workflow", "arrival_s", "first_start_s", "finish_s"), tq.records[0][:4], strict=True))
    return record, tq.tasks


def test_after_the_caching_worker_crashes_the_next_workflow_task_waits_the_sticky_timeout():
    # a runs on worker 0 (0-100 s), which then caches the workflow; b starts there at 100 s and the
    # crash at 150 s kills it; the retry runs on worker 1 (150-250 s); its completion's workflow
    # task waits 10 s on the dead worker's sticky queue
    record, tasks = _two_workers([150.0, 1e9], sticky_s=10.0)
    assert [(t[1], t[4], t[6], t[7]) for t in sorted(tasks, key=lambda t: t[6])] == [
        (0, 0, 0.0, 100.0), (1, 0, 100.0, 150.0), (1, 1, 150.0, 250.0)]
    assert record["finish_s"] == pytest.approx(260.0)
    assert _two_workers([150.0, 1e9], sticky_s=0.0)[0]["finish_s"] == pytest.approx(250.0)
    # a crash of the other worker touches nothing of this workflow
    record, tasks = _two_workers([1e9, 150.0], sticky_s=10.0)
    assert record["finish_s"] == pytest.approx(200.0) and len(tasks) == 2


def test_workflow_task_slots_delay_a_second_completion():
    # two parallel activities end together; with one workflow-task slot the second completion's
    # task starts when the first's ends (6 events x 1 s later), so c starts 6 s later
    steps = [gpu("a1", 100.0, []), gpu("a2", 100.0, []), gpu("c", 10.0, ["a1", "a2"])]
    free = _two_workers([1e9, 1e9], 10.0, slots=2, steps=steps, latency="1s")[0]["finish_s"]
    one = _two_workers([1e9, 1e9], 10.0, slots=2, wft_slots=1, steps=steps, latency="1s")[0]["finish_s"]
    # start 5 events, a1/a2 100 s, their records 6 events, c 10 s, its record 6 events
    assert free == pytest.approx(5 + 100 + 6 + 10 + 6)
    assert one == pytest.approx(free + 6)


def test_sim_fleet_draws_the_backlog_of_the_activity_queue(tmp_path):
    from sim.cli import main

    out = tmp_path / "out"
    assert main(["fleet", "fleet_rag_ingestion", "--runs", "1", "--seed", "1", "--out", str(out), "--quiet"]) in (0, 3)
    png = (out / "backlog.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_a_rolling_deployment_drains_one_worker_at_a_time():
    """2 workers × 2 slots run 4 activities of 1,000 s; a deployment at 100 s (drain 10 s, restart
    20 s, half the workers at a time). Worker 0 kills its two at 110 s and takes their retries
    back at 130 s; worker 1 drains from 130 s, kills its two at 140 s and takes them back at 160 s."""
    steps = [gpu("b", 1000.0, count=4)]
    fails = {"deploy": {"mode": "scheduled", "at": [100.0], "drain": 10.0, "restart_time": 20.0}}
    sc = scenario(steps, fails, strategies={"durable": {}}, worker={"activity_slots": 2},
                  fleet={"workers": 2, "arrival": "batch", "workflows": 1, "rolling_fraction": 0.5})
    tasks, _ = fleet_queue(sc, "durable", 0, seed=1)
    got = sorted(zip(tasks["worker"], tasks["started_s"], tasks["end_s"], tasks["outcome"], strict=True))
    assert got == [(0, 0.0, 110.0, "killed_by_deploy")] * 2 + [(0, 130.0, 1130.0, "completed")] * 2 + \
        [(1, 0.0, 140.0, "killed_by_deploy")] * 2 + [(1, 160.0, 1160.0, "completed")] * 2
    retried = tasks[tasks["attempt"] == 1]
    assert sorted(retried["schedule_to_start_s"]) == [20.0] * 4
    wf, fleet = simulate_fleet(sc, 1, seed=1)
    assert wf["makespan_s"].iloc[0] == 1160.0 and fleet["deploy_kills"].iloc[0] == 2  # two workers' kills


@pytest.mark.parametrize("strategy", ["durable", "restart"])
def test_a_graph_fleet_shares_the_provider_token_bucket(strategy):
    """12 embedding calls, 5 at a time, against 60 requests a minute with a 10-s burst: over
    [1 s, t] the provider admits at most 10 + (t − 1) calls and refuses the rest with 429s,
    under task-queue dispatch (durable) and on one worker (restart): the rule is the workflow
    model's. Durable retries the refused call once the bucket holds a token and completes;
    restart re-runs the whole fan-out 30 s later and meets the same refusal at the 12th call
    every time (10 tokens + 1 refilled), so it never completes (cut at ``max_time``)."""
    from sim.engines.fleet import fleet_attempts

    embed = {"name": "e", "kind": "llm", "model": "m", "input_tokens": 100, "duration": 0.5, "after": ["a"],
             "count": 12, "max_concurrency": 5}
    sc = scenario([gpu("a", 1.0), embed], strategies={"durable": {}, "restart": {"retry": {
                      "initial_interval": "30s", "backoff_coefficient": 1.0}}},
                  worker={"activity_slots": 40}, provider={"requests_per_minute": 60, "burst": "10s",
                                                          "response_time": "100ms"},
                  fleet={"workers": 1, "arrival": "batch", "workflows": 1}, simulation={"max_time": "10m"})
    wf, _ = simulate_fleet(sc, 1, seed=1, strategies=[strategy])
    att = fleet_attempts(sc, strategy, 0, seed=1)
    calls = att[att["step"] == "e"]
    admitted = np.sort(calls.loc[calls["outcome"].isin(["completed", "cancelled"]), "start_s"].to_numpy())
    refused = int((calls["outcome"] == "rate_limited").sum())
    assert refused > 0 and wf["provider_429s"].iloc[0] == refused
    # the token bucket's guarantee over [1 s, t]: capacity + rate · length (the calls start at 1 s)
    assert all(k + 1 <= 10 + (t - 1.0) * 1.0 + 1e-9 for k, t in enumerate(admitted))
    if strategy == "durable":  # each instance admitted once: the refused one after a token refilled
        assert wf["completed"].iloc[0] and len(admitted) == 12 and refused == 1
    else:
        assert wf["cut_by_horizon"].iloc[0] and refused == 19  # one refusal per pipeline attempt in 10 min


def test_one_workflow_on_many_workers_without_crashes_is_the_single_run():
    """No crashes and deployments without drain: every worker exits at the same instants as the
    single pipeline's one worker, so spreading the attempts changes nothing (docs/fleet.md §1)."""
    from sim import simulate

    steps = [gpu("a", {"dist": "exponential", "mean": 300.0}), gpu("b", 200.0, ["a"], count=4, max_concurrency=2),
             {"name": "w", "kind": "wait", "wait": "timer", "duration": 100.0, "after": ["a"]},
             gpu("c", {"dist": "exponential", "mean": 50.0}, ["b", "w"])]
    fails = {"deploy": {"every": 700.0, "drain": 0.0, "restart_time": 20.0},
             "rate_limit": {"probability": 0.2, "retry_after": 5.0, "steps": ["b", "c"]}}
    sc = scenario(steps, fails, strategies={"durable": {"persist_latency": "50ms"}},
                  fleet={"workers": 4, "arrival": "batch", "workflows": 1})
    single = simulate(sc, 12, seed=8).set_index("run")
    assert (single["deploy_kills"] > 0).any() and (single["rate_limited"] > 0).any()
    wf, _ = simulate_fleet(sc, 12, seed=8)
    for row in wf.itertuples():
        ref = single.loc[row.run]
        for col in ("makespan_s", "compute_s", "wasted_compute_s", "orchestration_actions", "deploy_kills",
                    "rate_limited", "history_events"):
            assert getattr(row, col) == pytest.approx(ref[col], rel=1e-12), col
