"""No command overwrites results it did not write: unique default folders, markers, --overwrite."""

from __future__ import annotations

import json
import os

import pytest

from sim.cli import main
from sim.experiment.outdir import MARKER_NAME

RUN = ["run", "video", "--runs", "20", "--workers", "1", "--quiet"]


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_default_run_folders_differ_by_seed_and_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(RUN + ["--seed", "1"]) == 0
    assert main(RUN + ["--seed", "2"]) == 0
    assert main(["run", "video", "--runs", "30", "--seed", "1", "--workers", "1"]) == 0
    folders = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert len(folders) == 3 and all(f.startswith("video-") for f in folders)
    # the same command twice writes the same numbers into the same folder
    before = _files(tmp_path / "results" / folders[0])
    capsys.readouterr()
    assert main(["run", "video", "--runs", "20", "--seed", "1", "--workers", "1", "--quiet"]) == 0
    assert len(list((tmp_path / "results").iterdir())) == 3
    after = {p.name: p.read_bytes() for f in (tmp_path / "results").iterdir() for p in f.iterdir()
             if p.is_file() and p.name == "summary.csv" and f.name == folders[0]}
    assert after["summary.csv"] == before["summary.csv"]


def test_a_scenario_file_with_a_bundled_name_gets_its_own_folder(tmp_path, monkeypatch):
    """Two scenarios called "video" (one edited) never share a default folder."""
    from sim.model.bundled import resolve_scenario_path

    monkeypatch.chdir(tmp_path)
    text = resolve_scenario_path("video").read_text()
    edited = tmp_path / "my_pipeline.toml"
    assert 'duration = "2m"' in text
    edited.write_text(text.replace('duration = "2m"', 'duration = "3m"', 1))
    same = tmp_path / "copy.toml"
    same.write_text(text)
    assert main(RUN) == 0
    assert main(["run", str(same), "--runs", "20", "--workers", "1", "--quiet"]) == 0
    assert len(list((tmp_path / "results").iterdir())) == 1  # the same scenario, wherever it is read from
    assert main(["run", str(edited), "--runs", "20", "--workers", "1", "--quiet"]) == 0
    assert len(list((tmp_path / "results").iterdir())) == 2


def test_another_run_in_the_same_folder_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(RUN + ["--seed", "1", "--out", str(out)]) == 0
    first = _files(out)
    capsys.readouterr()
    assert main(RUN + ["--seed", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another run" in err[0] and "--overwrite" in err[0]
    assert _files(out) == first
    assert main(RUN + ["--seed", "2", "--out", str(out), "--overwrite"]) == 0
    assert _files(out)["summary.csv"] != first["summary.csv"]
    assert json.loads((out / MARKER_NAME).read_text())["command"] == "run"


@pytest.mark.parametrize(("first", "second"), [
    (RUN, ["fleet", "fleet_research", "--replications", "1", "--quiet", "--overwrite"]),
    (RUN, ["sweep", "video", "--vary", "failures.crash.mtbf=1h,2h", "--runs", "20", "--quiet", "--workers", "1"]),
    (RUN, ["compare", "video", "--runs", "10", "--quiet", "--overwrite"]),
    (["sweep", "video", "--vary", "failures.crash.mtbf=1h,2h", "--runs", "20", "--quiet", "--workers", "1"],
     RUN + ["--overwrite"]),
])
def test_another_commands_results_are_refused_even_with_overwrite(first, second, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main([*first, "--out", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    calls = []
    import sim.experiment.runner as runner

    monkeypatch.setattr(runner, "_work", lambda payload: calls.append(1))
    assert main([*second, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("holds the results of `sim" in err[0] or "not a sweep folder" in err[0]), err
    assert not calls  # refused before any simulation
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_run_refuses_a_report_folder_written_before_markers(tmp_path, capsys):
    out = tmp_path / "report"
    (out / "data").mkdir(parents=True)
    (out / "data" / "report.json").write_text('{"scenario": "video"}')
    assert main(RUN + ["--out", str(out), "--overwrite"]) == 2
    assert "holds the results of `sim report`" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["data"]


def test_a_failed_command_leaves_no_marker_behind(tmp_path, capsys, monkeypatch):
    import sim.commands.run as run_cmd

    def broken(*args, **kwargs):
        raise run_cmd.UsageError("simulated failure")

    monkeypatch.setattr(run_cmd, "simulate_parallel", broken)
    out = tmp_path / "new" / "out"
    assert main(RUN + ["--out", str(out)]) == 2
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert main(RUN + ["--out", str(kept)]) == 2
    assert sorted(os.listdir(kept)) == ["notes.txt"]


@pytest.mark.slow
@pytest.mark.parametrize("fails", [False, True], ids=["to-the-end", "stopped-by-an-error"])
def test_notebook_03_leaves_no_temporary_folder(fails, tmp_path, monkeypatch):
    """The small sweep's temporary folder is removed by the last cell, or by the kernel's exit."""
    papermill = pytest.importorskip("papermill")
    from pathlib import Path

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the kernel inherits it: tempfile creates its folders there
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "03_results_explorer.ipynb"
    params = {"RUNS": 50, "SEED": 3, "VARY": {"failures.crash.mtbf": "1h,4h"}}
    if fails:
        params["VARY"] = {"failures.crash.mtbf": "0s,4h"}  # the sweep raises once the folder exists
    try:
        papermill.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), parameters=params,
                                   kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    except papermill.PapermillExecutionError:
        assert fails
    else:
        assert not fails
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("sim-sweep-")]
