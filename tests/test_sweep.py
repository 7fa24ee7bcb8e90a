"""sim.experiment.sweep: dotted paths, value specs, the validated grid, the tidy result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.errors import ScenarioError
from sim.experiment.points import (
    SweepError,
    build_points,
    parse_vary,
    parse_vary_values,
    points_frame,
    resolve_path,
)
from sim.experiment.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "experiments" / "scenarios" / "research_paper.toml"
VIDEO = ROOT / "experiments" / "scenarios" / "video.toml"


@pytest.fixture(scope="module")
def paper() -> sim.Scenario:
    return sim.load_scenario(PAPER)


@pytest.fixture(scope="module")
def video() -> sim.Scenario:
    return sim.load_scenario(VIDEO)


# --------------------------------------------------------------------------- values


def test_list_values_with_units_are_seconds():
    assert parse_vary_values("1h,2h,4h") == (3600.0, 7200.0, 14400.0)
    assert parse_vary_values("30s, 1.5m ,250ms") == (30.0, 90.0, 0.25)
    assert parse_vary_values("0.01,0.02") == (0.01, 0.02)
    assert parse_vary_values("2%,5%") == pytest.approx((0.02, 0.05))


def test_linear_range_includes_both_ends():
    values = parse_vary_values("lin:0.01:0.3:15")
    assert len(values) == 15
    assert values[0] == pytest.approx(0.01) and values[-1] == pytest.approx(0.3)
    assert np.allclose(np.diff(values), 0.29 / 14)


def test_log_range_with_units():
    values = parse_vary_values("log:30m:1w:12")
    assert len(values) == 12
    assert values[0] == pytest.approx(1800.0) and values[-1] == pytest.approx(604800.0)
    ratios = np.array(values[1:]) / np.array(values[:-1])
    assert np.allclose(ratios, (604800 / 1800) ** (1 / 11))


@pytest.mark.parametrize("spec", ["", "lin:1:2", "lin:1:2:x", "log:0:1:3", "lin:1:2:0", "1h,,2h", "3 parsecs"])
def test_bad_value_specs_are_errors(spec):
    with pytest.raises(SweepError):
        parse_vary_values(spec)


def test_parse_vary_needs_path_and_values():
    v = parse_vary("failures.crash.mtbf=1h,2h")
    assert v.path == "failures.crash.mtbf" and v.values == (3600.0, 7200.0)
    with pytest.raises(SweepError, match="PATH=VALUES"):
        parse_vary("failures.crash.mtbf")
    with pytest.raises(SweepError):
        parse_vary("=1,2")


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(("text", "keys", "kind"), [
    ("failures.crash.mtbf", ("failures", "crash", "mtbf"), "duration"),
    ("failures.rate_limit.probability", ("failures", "rate_limit", "probability"), "float"),
    ("failures.deploy.every", ("failures", "deploy", "every"), "duration"),
    ("steps.summary.output_tokens", ("steps", 3, "output_tokens"), "int"),
    ("steps.3.output_tokens", ("steps", 3, "output_tokens"), "int"),
    ("strategies.durable.persist_latency", ("strategies", "durable", "persist_latency"), "duration"),
    ("pricing.orchestration.per_million_actions_usd", ("pricing", "orchestration", "per_million_actions_usd"), "float"),
    ("pricing.models.gpt-5.4-mini.output_per_mtok", ("pricing", "models", "gpt-5.4-mini", "output_per_mtok"), "float"),
    ("steps.summary.duration.median", ("steps", 3, "duration", "median"), "duration"),
    ("defaults.retry.initial_interval", ("defaults", "retry", "initial_interval"), "duration"),
])
def test_paths_resolve(paper, text, keys, kind):
    path = resolve_path(paper, text)
    assert path.keys == keys
    assert path.kind == kind


@pytest.mark.parametrize(("text", "hint"), [
    ("failures.crash.mtbff", "did you mean 'mtbf'"),
    ("failure.crash.mtbf", "did you mean 'failures'"),
    ("steps.summry.output_tokens", "did you mean 'summary'"),
    ("strategies.durabel.persist_latency", "did you mean 'durable'"),
    ("steps.summary.duration.mediam", "did you mean 'median'"),
    ("pricing.models.gpt-5.4-mni.output_per_mtok", "did you mean 'gpt-5.4-mini'"),
])
def test_unknown_paths_name_the_path_with_a_hint(paper, text, hint):
    with pytest.raises(ScenarioError) as info:
        resolve_path(paper, text)
    message = str(info.value)
    assert text in message and hint in message
    assert str(PAPER) in message


@pytest.mark.parametrize("text", ["steps.summary.kind", "failures.crash", "failures.rate_limit.steps",
                                  "steps.summary", "steps.9.output_tokens", "failures.crash.mtbf.x"])
def test_non_numeric_or_incomplete_paths_are_errors(paper, text):
    with pytest.raises(ScenarioError, match="cannot sweep"):
        resolve_path(paper, text)


# --------------------------------------------------------------------------- grid


def test_grid_is_the_product_first_vary_outermost(video):
    points = build_points(video, [parse_vary("failures.crash.mtbf=1h,4h"),
                                  parse_vary("failures.deploy.every=2h,1d,1w")])
    assert len(points) == 6
    frame = points_frame(points)
    assert list(frame.columns) == ["point", "failures.crash.mtbf", "failures.deploy.every"]
    assert frame["failures.crash.mtbf"].tolist() == [3600.0] * 3 + [14400.0] * 3
    assert frame["failures.deploy.every"].tolist() == [7200.0, 86400.0, 604800.0] * 2
    assert points[4].scenario.failures.crash.mtbf_s == 14400.0
    assert points[4].scenario.failures.deploy.every_s == 86400.0
    # everything else is untouched
    assert points[4].scenario.failures.crash.detection_delay_s == video.failures.crash.detection_delay_s
    assert points[4].scenario.steps == video.steps


def test_variants_change_the_named_parameter(paper):
    [p] = build_points(paper, [parse_vary("steps.summary.output_tokens=5000")])
    assert p.scenario.steps[3].output_tokens == 5000 and isinstance(p.scenario.steps[3].output_tokens, int)
    [p] = build_points(paper, [parse_vary("strategies.durable.persist_latency=50ms")])
    assert p.scenario.strategies["durable"].persist_latency_s == pytest.approx(0.05)
    assert set(p.scenario.strategies) == {"restart", "durable"}
    [p] = build_points(paper, [parse_vary("pricing.orchestration.retention_days=7")])
    assert p.scenario.pricing.orchestration.retention_days == 7.0
    assert p.scenario.pricing.orchestration.per_million_actions_usd == 50.0  # the profile's prices are kept
    assert p.scenario.pricing.orchestration_profile.name.startswith("temporal-cloud-payg")
    [p] = build_points(paper, [parse_vary("pricing.models.gpt-5.4-mini.output_per_mtok=5")])
    assert p.scenario.step_attempt_cost_usd(p.scenario.steps[3]) == pytest.approx(12000 * 5 / 1e6)


def test_a_missing_section_is_created(paper):
    assert paper.failures.crash is None
    [p] = build_points(paper, [parse_vary("failures.crash.mtbf=2h")])
    assert p.scenario.failures.crash.mtbf_s == 7200.0
    assert p.scenario.failures.rate_limit == paper.failures.rate_limit


def test_strategies_created_when_the_file_has_none(paper):
    raw = paper.raw
    del raw["strategies"]
    bare = sim.scenario_from_dict(raw, file=str(PAPER), base_dir=PAPER.parent)
    [p] = build_points(bare, [parse_vary("strategies.durable.persist_latency=1s")])
    assert set(p.scenario.strategies) == {"restart", "durable"}
    assert p.scenario.strategies["durable"].persist_latency_s == 1.0


def test_each_variant_is_validated_and_the_error_names_the_point(paper):
    with pytest.raises(ScenarioError) as info:
        build_points(paper, [parse_vary("failures.rate_limit.probability=0.5,1.5")])
    message = str(info.value)
    assert "failures.rate_limit.probability" in message and "1.5" in message


def test_integer_parameters(paper):
    with pytest.raises(SweepError, match="integers"):
        build_points(paper, [parse_vary("steps.summary.output_tokens=1000.5")])
    points = build_points(paper, [parse_vary("steps.summary.output_tokens=lin:1000:2000:4")])
    assert [p.scenario.steps[3].output_tokens for p in points] == [1000, 1333, 1667, 2000]
    assert [p.values["steps.summary.output_tokens"] for p in points] == [1000.0, 1333.0, 1667.0, 2000.0]


def test_units_on_a_non_duration_and_repeated_paths_are_errors(paper):
    with pytest.raises(SweepError, match="not a duration"):
        build_points(paper, [parse_vary("failures.rate_limit.probability=1h")])
    with pytest.raises(SweepError, match="same parameter"):
        build_points(paper, [parse_vary("steps.summary.output_tokens=1,2"), parse_vary("steps.3.output_tokens=3")])
    with pytest.raises(SweepError, match="repeated"):
        build_points(paper, [parse_vary("failures.rate_limit.probability=0.1,0.1")])


# --------------------------------------------------------------------------- the tidy result


def test_sweep_rows_equal_direct_simulation_of_each_variant(video):
    df = sweep(video, ["failures.crash.mtbf=1h,8h"], runs=150, seed=11, chunk_size=60, workers=1)
    assert list(df.columns[:2]) == ["point", "failures.crash.mtbf"]
    assert list(df.columns[2:]) == sim.RUN_COLUMNS
    assert df["failures.crash.mtbf"].dtype == np.float64
    assert len(df) == 2 * 2 * 150
    for point, mtbf in ((0, "1h"), (1, "8h")):
        raw = video.raw
        raw["failures"]["crash"]["mtbf"] = mtbf
        variant = sim.scenario_from_dict(raw, file=str(VIDEO), base_dir=VIDEO.parent)
        direct = sim.simulate(variant, 150, 11)
        mine = df[df["point"] == point].drop(columns=["point", "failures.crash.mtbf"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, direct, check_exact=True)
    # common random numbers: more crashes with a shorter MTBF, on the same replications
    crashes = df.groupby("point")["crashes"].mean()
    assert crashes[0] > crashes[1]


def test_sweep_summary_mode(video):
    summary = sweep(video, ["failures.deploy.every=2h,1d"], runs=100, seed=1, summary=True, workers=1)
    assert {"point", "failures.deploy.every", "strategy", "metric", "n", "mean", "se", "ci_low", "ci_high",
            "p50", "p95", "p99"} <= set(summary.columns)
    assert (summary["n"] == 100).all()
    assert set(summary["failures.deploy.every"]) == {7200.0, 86400.0}
