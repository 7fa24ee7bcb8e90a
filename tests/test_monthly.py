"""The month's bill by volume (sim.analysis.monthly, `sim compare --monthly-workflows`): a pipeline
without failures uses the orchestrator the same way in every run, so each month's bill is written
out by hand from the price lists (never from the code under test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.analysis.monthly import minimum_decides_below, monthly_bills, volume_text
from sim.cli import main
from sim.experiment.api import simulate
from sim.model.scenario import load_scenario

STEADY = """
name = "steady"
[pricing]
models = "article-2026-04"
orchestration = "temporal-cloud-payg"
monthly_workflows = 1000
[[steps]]
name = "a"
kind = "llm"
model = "gpt-5.4-mini"
input_tokens = 1000
duration = "60s"
[[steps]]
name = "b"
kind = "llm"
model = "gpt-5.4-mini"
output_tokens = 500
duration = "30s"
[failures.rate_limit]
probability = 0.0
[strategies.restart]
[strategies.durable]
"""

ACTIONS = 3  # the workflow start and two activities, no retries
EVENTS = 5 + 6 * 2  # docs/model.md: 5 + 6 per completed activity
OPEN_S = 90.0
GB = EVENTS * 400 / 1e9


@pytest.fixture(scope="module")
def steady(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "steady.toml"
    path.write_text(STEADY)
    sc = load_scenario(path)
    runs = simulate(sc, 50, seed=1)
    dur = runs[runs["strategy"] == "durable"]
    assert (dur["orchestration_actions"] == ACTIONS).all() and (dur["history_events"] == EVENTS).all()
    assert dur["makespan_s"].to_numpy() == pytest.approx(OPEN_S, abs=1e-9)
    return sc, runs


def _bill(bills, profile, w):
    return next(m for m in bills if m.profile == profile and m.workflows == w)


def test_month_bills_by_hand(steady) -> None:
    sc, runs = steady
    profiles = ["temporal-cloud-essentials", "temporal-cloud-business", "temporal-cloud-payg", "google-cloud-workflows"]
    bills = monthly_bills(runs, sc, "durable", "restart", profiles, [10_000, 10_000_000])
    # 10,000 a month: 30,000 actions and a few GBh, inside both plans' allowances: the minimum is the bill
    small_e, small_b = _bill(bills, "temporal-cloud-essentials", 10_000), _bill(bills, "temporal-cloud-business", 10_000)
    assert small_e.bill_usd[0] == pytest.approx(100.0, rel=1e-12) and small_e.decided_by == "minimum"
    assert small_b.bill_usd[0] == pytest.approx(500.0, rel=1e-12) and small_b.decided_by == "minimum"
    assert small_e.saving.mean == pytest.approx(-100.0 / 10_000, rel=1e-9)  # restart pays no orchestrator
    # 10 M a month on Essentials: 30 M actions - 1 M included = 29 M: 5 M x 50 + 5 M x 45 + 10 M x 40 + 9 M x 35
    w = 10_000_000
    actions = 250 + 225 + 400 + 9 * 35
    active = max(w * GB * OPEN_S / 3600 - 744, 0) * 0.042
    retained = (w * GB * 720 - 40 * 744) * 0.00105
    usage = actions + active + retained
    big = _bill(bills, "temporal-cloud-essentials", w)
    assert big.bill_usd[0] == pytest.approx(usage + max(100.0, 0.05 * usage), rel=1e-9)
    assert big.decided_by == "tiers" and big.plan_fee_usd == pytest.approx(100.0, rel=1e-9)
    # Developer: flat $50 per million, 10% on top, never a minimum
    dev = _bill(bills, "temporal-cloud-payg", w)
    flat = 30 * 50 + w * GB * OPEN_S / 3600 * 0.042 + w * GB * 720 * 0.00105
    assert dev.bill_usd[0] == pytest.approx(flat * 1.1, rel=1e-9) and dev.decided_by == "usage"
    # Google Cloud Workflows below its free tier at 300 a month would be free; at 10,000: 20,000 external
    # steps - 2,000 free at $0.025 per 1,000, 20,000 internal - 5,000 at $0.01 per 1,000
    gcw = _bill(bills, "google-cloud-workflows", 10_000)
    assert gcw.bill_usd[0] == pytest.approx(18_000 * 0.025 / 1000 + 15_000 * 0.01 / 1000, rel=1e-9)
    assert [m.saving.direction for m in bills if m.profile == "temporal-cloud-essentials"] == [-1, -1]


def test_minimum_decides_below_by_hand(steady) -> None:
    sc, runs = steady
    # Essentials: usage = (3 W - 1 M) x $50 per million while storage stays inside its allowance;
    # usage equals the $100 minimum at 3 W - 1 M = 2 M: W = 1 M (storage at 1 M: 0.17 GBh active, 4,896 retained)
    assert minimum_decides_below(runs, sc, "durable", "temporal-cloud-essentials") == pytest.approx(1e6, rel=1e-6)
    # Business: $500 of actions above its 2.5 M = 5 M x $50 + 5 M x $45 + 0.625 M x $40: 3 W = 2.5 M + 10.625 M,
    # W = 4.375 M (storage then: 21,400 GBh retained < 74,400 included)
    assert minimum_decides_below(runs, sc, "durable", "temporal-cloud-business") == pytest.approx(13.125e6 / 3, rel=1e-6)
    assert minimum_decides_below(runs, sc, "durable", "temporal-cloud-payg") is None


def test_volume_text() -> None:
    assert [volume_text(w) for w in (10_000, 598_146, 2.62e6, 1e7, 1.2e9)] == ["10,000", "598,000", "2.62 M", "10 M",
                                                                                "1.2 B"]


def test_compare_monthly_view_on_the_command_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "steady.toml"
    path.write_text(STEADY.replace("probability = 0.0", "probability = 0.05"))
    assert main(["compare", str(path), "--pricing", "temporal-cloud-essentials,azure-durable-functions", "--runs", "100",
                 "--boot", "100", "--monthly-workflows", "10000,10_000_000", "--quiet", "--out", str(tmp_path / "c")]) == 0
    text = capsys.readouterr().out
    assert "the $100 minimum" in (tmp_path / "c" / "compare.md").read_text()
    assert "the month's orchestration bill of durable" in text
    assert "the $100 minimum" in text and "the volume tiers" in text
    assert "temporal-cloud-essentials: the plan's minimum is at least half the bill below" in text


@pytest.mark.parametrize(("value", "words"), [("ten", "'ten' is not a number"), ("0", "must be a positive"),
                                                ("100,100", "distinct"), ("inf", "must be a positive")])
def test_bad_monthly_volumes_are_one_line(tmp_path: Path, capsys, value: str, words: str) -> None:
    path = tmp_path / "steady.toml"
    path.write_text(STEADY)
    assert main(["compare", str(path), "--runs", "100", "--monthly-workflows", value, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_verdict_changes_group_consecutive_volumes_alike() -> None:
    from sim.analysis.monthly import MonthlyBill
    from sim.analysis.report.volumes import verdict_changes
    from sim.analysis.saving import Saving

    def bill(w: float, lo: float, hi: float) -> MonthlyBill:
        sv = Saving("durable", "restart", "total_cost_usd", (lo + hi) / 2, lo, hi, 0.0, 0.0, 0.0, 100, 1.0)
        return MonthlyBill("p", "plan", w, (1.0, 1.0, 1.0), 0.0, 0.0, "usage", sv)

    bills = [bill(1e4, -2, -1), bill(1e5, -2, -1), bill(1e6, -1, 1), bill(1e8, 1, 2)]
    assert verdict_changes(bills, "durable", "restart") == [
        "p: the verdict changes with volume (workflows a month): durable costs more from 10,000 to 100,000, "
        "no significant difference at 1 M, durable saves at 100 M"]
    assert verdict_changes(bills[:2], "durable", "restart") == []
