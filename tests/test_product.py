"""The product from a user's side: bundled scenarios by name, `sim scenarios`, `sim init`,
`--version`, usage lines, file permissions, `Scenario.replace` and `sim.compare`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import sim
from sim.cli import main
from sim.experiment.io import atomic_write_bytes
from sim.experiment.points import build_points, parse_vary
from sim.model.bundled import bundled_scenario_dir, bundled_scenarios

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- bundled scenarios


def test_one_copy_of_the_bundled_scenarios() -> None:
    link = ROOT / "experiments" / "scenarios"
    assert link.is_symlink() and not Path(os.readlink(link)).is_absolute()
    assert link.resolve() == bundled_scenario_dir().resolve()
    names = {s.name for s in bundled_scenarios()}
    assert {"video", "research_paper", "fleet_video", "pattern_monitoring"} <= names
    assert all(s.description for s in bundled_scenarios())


def test_a_bundled_scenario_by_name_is_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    by_name = sim.load_scenario("video")
    by_file = sim.load_scenario(ROOT / "experiments" / "scenarios" / "video.toml")
    same = by_file.model_dump()
    assert by_name.model_dump() == same and sim.load_scenario("video.toml").model_dump() == same
    # a local file of that name wins over the bundled one
    Path("video.toml").write_text((bundled_scenario_dir() / "pattern_monitoring.toml").read_text())
    assert sim.load_scenario("video.toml").name == "pattern-monitoring"
    assert sim.load_scenario("video").name == "video-pipeline"  # no file named plain 'video'
    with pytest.raises(sim.ScenarioError, match="no bundled scenario of that name.*video"):
        sim.load_scenario("vidoe")
    with pytest.raises(sim.ScenarioError, match="scenario file not found"):
        sim.load_scenario("some/dir/video.toml")


def test_sim_scenarios_lists_each_with_its_description(capsys: pytest.CaptureFixture) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == [s.name for s in bundled_scenarios()]
    video = next(ln for ln in lines if ln.startswith("video "))
    assert video.split(None, 1)[1] == sim.load_scenario("video").description


def test_sim_init_copies_a_scenario_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        assert main(["init", "video"]) == 0
    finally:
        os.umask(old)
    copied = tmp_path / "video.toml"
    assert copied.read_bytes() == (bundled_scenario_dir() / "video.toml").read_bytes()
    assert copied.stat().st_mode & 0o777 == 0o644
    assert main(["init", "video"]) == 2  # never overwritten without --force
    assert "file exists" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    assert main(["init", "research_paper", "mine"]) == 0 and (tmp_path / "mine" / "research_paper.toml").is_file()
    assert main(["init", "video", "edited.toml"]) == 0 and sim.load_scenario("edited.toml").name == "video-pipeline"
    assert main(["init", "nope"]) == 2
    assert "no bundled scenario 'nope'" in capsys.readouterr().err


# --------------------------------------------------------------------------- command line conventions


@pytest.mark.slow
def test_version_and_usage_lines_name_the_program(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "sim", "--version"], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("durable-sim ") and out.stdout.strip().endswith(
        "(import name: sim)")
    bad = subprocess.run([sys.executable, "-m", "sim", "run"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: python -m sim run: ")
    # the console script: argv[0] is "sim"
    script = subprocess.run([sys.executable, "-c", "import sys; from sim.cli import main; sys.argv[0] = '/x/bin/sim';"
                             " sys.exit(main())", "fleet"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert script.returncode == 2 and script.stderr.startswith("error: sim fleet: ")


def test_fleet_takes_runs_and_keeps_replications_as_an_alias(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["fleet", "fleet_retry_storm", "--runs", "2", "--seed", "3", "--out", str(a), "--quiet"]) == 0
    assert main(["fleet", "fleet_retry_storm", "--replications", "2", "--seed", "3", "--out", str(b),
                 "--quiet"]) == 0
    assert (a / "fleet.parquet").read_bytes() == (b / "fleet.parquet").read_bytes()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_are_written_atomically_with_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"data")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temporary file left


def test_sim_run_by_name_writes_0644_files(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert main(["run", "video", "--runs", "50", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    finally:
        os.umask(old)
    for f in (tmp_path / "o").iterdir():
        assert f.stat().st_mode & 0o777 == 0o644, f.name
    assert (tmp_path / "o" / "scenario.toml").read_bytes() == (bundled_scenario_dir() / "video.toml").read_bytes()


# --------------------------------------------------------------------------- Scenario.replace


def test_replace_equals_editing_the_file_by_hand() -> None:
    base = sim.load_scenario("video")
    changed = base.replace({"failures.crash.mtbf": "30m", "steps.thumbnail.duration": "1.5 minutes",
                            "strategies.durable.persist_latency": "PT0.05S"})
    raw = base.raw
    raw["failures"]["crash"]["mtbf"] = "30m"
    raw["steps"][3]["duration"] = "90s"
    raw["strategies"]["durable"]["persist_latency"] = "50ms"
    by_hand = sim.scenario_from_dict(raw, file=base.path, base_dir=Path(base.path).parent)
    assert changed.model_dump() == by_hand.model_dump()
    assert base.failures.crash.mtbf_s == 4 * 3600  # the original is untouched (frozen)
    assert changed.failures.crash.mtbf_s == 1800 and changed.steps[3].duration.mean() == 90


def test_replace_takes_the_paths_and_values_of_vary() -> None:
    base = sim.load_scenario("research_paper")
    point = build_points(base, [parse_vary("failures.rate_limit.probability=5%"),
                                parse_vary("steps.summary.output_tokens=2000")])[0]
    assert base.replace({"failures.rate_limit.probability": "5%",
                         "steps.summary.output_tokens": 2000}).model_dump() == point.scenario.model_dump()
    assert base.replace({"failures.rate_limit.probability": 0.05,
                         "steps.3.output_tokens": "2000"}).model_dump() == point.scenario.model_dump()


@pytest.mark.parametrize("changes, message", [
    ({"failures.crash.mtfb": "1h"}, "unknown key 'mtfb'.*did you mean 'mtbf'"),
    ({"failures.crash.mtbf": "5M"}, "ambiguous"),
    ({"failures.crash.mtbf": "-1h"}, "key 'failures.crash.mtbf': must be a positive duration"),
    ({"steps.summary.output_tokens": 2.5}, "takes an integer"),
    ({"failures.rate_limit.probability": "3h"}, "not a duration"),
    ({"failures.rate_limit.probability": True}, "expected a number"),
    ({"steps.nope.duration": "1m"}, "unknown step 'nope'"),
])
def test_replace_rejects_bad_changes_naming_the_key(changes: dict, message: str) -> None:
    with pytest.raises(sim.ScenarioError, match=message):
        sim.load_scenario("research_paper").replace(changes)


# --------------------------------------------------------------------------- sim.compare


def test_compare_matches_an_independent_paired_computation() -> None:
    scenario = sim.load_scenario("video").replace({"failures.crash.mtbf": "1h"})
    result = sim.compare(scenario, runs=1500, seed=11)
    assert (result.a, result.b) == ("durable", "restart") and result.n == 1500
    runs = sim.simulate(scenario, 1500, 11)
    pd.testing.assert_frame_equal(result.runs.reset_index(drop=True), runs.reset_index(drop=True))
    # the saving restart - durable per run, paired by replication, by hand
    wide = runs.pivot(index="run", columns="strategy", values="total_cost_usd")
    d = (wide["restart"] - wide["durable"]).to_numpy()
    half = sps.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    s = result.saving()
    assert s["mean"] == pytest.approx(d.mean(), rel=1e-12)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-9)
    assert s["ci_low"] > 0  # one crash an hour: durable is clearly cheaper
    verdict = result.verdict()
    assert verdict.startswith("At your current failure rates, durable saves $")
    assert f"${d.mean() * 1000:.3g}"[:4] in verdict and "**" not in verdict and "**" in result.verdict(True)
    mean = result.summary.set_index(["strategy", "metric"]).loc[("restart", "total_cost_usd"), "mean"]
    assert mean == pytest.approx(wide["restart"].mean(), rel=1e-12)


def test_the_verdict_follows_the_sign_and_interval_of_the_saving() -> None:
    # failures so rare that durable's overhead is not paid back: it costs more
    calm = sim.load_scenario("video").replace({"failures.crash.mtbf": "30d", "failures.deploy.every": "30d"})
    result = sim.compare(calm, runs=400, seed=2)
    assert result.saving()["ci_high"] < 0
    assert result.verdict().startswith("At your current failure rates, durable costs $")
    # the same runs with durable's cost set to restart's plus a zero-mean wobble: no difference
    runs = result.runs.copy()
    restart = runs.loc[runs["strategy"] == "restart", "total_cost_usd"].to_numpy()
    wobble = np.where(np.arange(restart.size) % 2 == 0, 1e-3, -1e-3)
    runs.loc[runs["strategy"] == "durable", "total_cost_usd"] = restart + wobble
    tie = sim.Comparison.from_runs(calm, runs)
    s = tie.saving()
    assert s["mean"] == pytest.approx(0.0, abs=1e-15) and s["ci_low"] < 0 < s["ci_high"]
    assert "no significant difference" in tie.verdict()


def test_compare_by_name_and_from_runs_agree() -> None:
    result = sim.compare("research_paper", runs=300, seed=4)
    again = sim.Comparison.from_runs(result.scenario, result.runs)
    assert again.verdict() == result.verdict() and again.seed == 4
    pd.testing.assert_frame_equal(again.paired, result.paired)


def test_a_results_table_never_shares_memory_with_a_live_one():
    """Repeated calls reuse the memory of a previous runs table only once no table (nor any column
    taken from one) refers to it."""
    import numpy as np

    from sim import load_scenario, simulate

    sc = load_scenario("video")
    first = simulate(sc, 3000, seed=1, engine="fast")
    column = first["makespan_s"].to_numpy()
    expected = column.copy()
    del first
    second = simulate(sc, 3000, seed=2, engine="fast")  # the first table's column is still held
    assert not np.shares_memory(column, second["makespan_s"].to_numpy())
    assert np.array_equal(column, expected)
    del column, second
    third = simulate(sc, 3000, seed=1, engine="fast")  # nothing holds the earlier blocks: reused
    assert np.array_equal(third["makespan_s"].to_numpy(), expected)


def test_a_recycled_results_table_starts_clean():
    """A table's owner may write in it; a later call that reuses its memory still starts from zeros."""
    from sim import load_scenario, simulate

    sc = load_scenario("video")
    reference = simulate(sc, 3000, seed=1, engine="fast").copy()
    table = simulate(sc, 3000, seed=1, engine="fast")
    for column in ("deploy_kills", "rate_limited", "heartbeats", "crashes", "wasted_compute_s", "makespan_s"):
        table.loc[:, column] = 7
    table.iloc[5, table.columns.get_loc("orchestration_cost_usd")] = 1e9
    del table
    again = simulate(sc, 3000, seed=1, engine="fast")
    assert again.equals(reference)


def test_compare_runs_a_scenario_with_a_fleet_table_as_report_does(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    """`sim compare` on a scenario with a [fleet] table prices one workflow (as `sim report` does)
    and says so, instead of refusing it."""
    assert main(["compare", "graph_agentic_research", "--runs", "20", "--boot", "100", "--quiet", "--precision", "off",
                 "--pricing", "temporal-cloud-payg", "--out", str(tmp_path / "c")]) == 0
    text = capsys.readouterr().out
    assert "mode: one workflow, as `sim run` and `sim report` run it" in text
    assert (tmp_path / "c" / "compare.csv").is_file()


def test_a_missing_pricing_profile_file_names_the_scenario_key(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "x"\n[pricing]\nprofile = "nope-profile.toml"\n[[steps]]\nname = "a"\n'
                        'kind = "gpu"\nprice_per_hour = 1.0\nduration = 1.0\n[strategies.restart]\n')
    assert main(["run", str(scenario), "--runs", "5", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1
    assert f"{scenario}: key 'pricing.profile': pricing profile file not found" in err and "nope-profile.toml" in err
    assert not (tmp_path / "o").exists()


def test_sim_notebooks_copies_the_bundled_notebooks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "nb"
    assert main(["notebooks", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    repo = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert [p.name for p in sorted(out.iterdir())] == [p.name for p in repo] and len(repo) == 4
    for p in repo:
        assert (out / p.name).read_bytes() == p.read_bytes()
    # an existing notebook is kept: nothing is copied, one line, exit 2
    (out / repo[0].name).write_text("mine")
    assert main(["notebooks", str(out)]) == 2
    err = capsys.readouterr().err
    assert "file exists (use --force" in err and err.count("\n") == 1
    assert (out / repo[0].name).read_text() == "mine"
    assert main(["notebooks", str(out), "--force"]) == 0
    assert (out / repo[0].name).read_bytes() == repo[0].read_bytes()


def test_the_notebooks_and_licence_notices_are_package_data() -> None:
    """What the wheel ships (pyproject's package-data globs, checked against the files they must
    match): the notebooks, and the MIT notices next to the bundled Temporal histories they cover."""
    import fnmatch
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sim"]
    pkg = ROOT / "sim"
    need = [p.relative_to(pkg).as_posix() for p in [*(pkg / "data" / "notebooks").glob("*.ipynb"),
                                                    *(pkg / "data").rglob("LICENSE-*")]]
    assert len(need) >= 6
    for rel in need:
        assert any(fnmatch.fnmatch(rel, g.replace("**/", "*")) or fnmatch.fnmatch(rel, g) for g in globs), rel
    assert (ROOT / "notebooks").is_symlink() and (ROOT / "notebooks").resolve() == (pkg / "data" / "notebooks")


def test_sim_docs_finds_the_installed_pages(capsys: pytest.CaptureFixture) -> None:
    assert main(["docs"]) == 0
    listed = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert {p.stem for p in (ROOT / "docs").glob("*.md")} == set(listed)
    assert main(["docs", "costs"]) == 0
    assert capsys.readouterr().out == (ROOT / "docs" / "costs.md").read_text(encoding="utf-8")
    assert main(["docs", "docs/model.md", "--path"]) == 0
    assert Path(capsys.readouterr().out.strip()).read_bytes() == (ROOT / "docs" / "model.md").read_bytes()
    assert main(["docs", "nope"]) == 2
    assert "no installed page docs/nope.md" in capsys.readouterr().err
