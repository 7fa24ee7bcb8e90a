"""The bad-input corpus: scenario files (tests/data/bad_inputs/*.toml, the expected key path on the
first line as ``# key: PATH``) and command-line flags. Each case must exit with code 2 and print
exactly one line on stderr that names the file (or flag) and the exact key path, no traceback,
and write nothing (no --out folder, no results/ folder in the working directory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sim.cli import main

ROOT = Path(__file__).resolve().parent
CORPUS = sorted((ROOT / "data" / "bad_inputs").glob("*.toml"))
GOOD = ROOT.parent / "experiments" / "scenarios" / "video.toml"
FLEET = ROOT.parent / "experiments" / "scenarios" / "fleet_research.toml"


def _run(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's errors (a flag of the wrong type) exit from the parser
            rc = exc.code
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_scenario_file(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = path.read_text().splitlines()[0].removeprefix("# key: ").strip()
    rc, out, err = _run(["run", str(path), "--runs", "5", "--out", str(tmp_path / "out"), "--quiet"], tmp_path, capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}: key '{key}': "), lines[0]
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()


# (argv with {scenario}/{fleet}/{out} placeholders, text the line must contain)
FLAGS = [
    (["run", "{scenario}", "--runs", "0"], "--runs"),
    (["run", "{scenario}", "--seed", "-1"], "--seed"),
    (["run", "{scenario}", "--workers", "0"], "--workers"),
    (["run", "{file}", "--runs", "5"], "--out"),
    (["sweep", "{scenario}", "--vary", "failures.crash.mtfb=1h,2h"], "failures.crash.mtfb"),
    (["sweep", "{scenario}", "--vary", "failures.crash.mtbf"], "--vary"),
    (["sweep", "{scenario}", "--vary", "failures.crash.mtbf=soon,later"], "failures.crash.mtbf"),
    (["sweep", "{scenario}", "--metric", "nope"], "--metric"),
    (["sweep", "{scenario}", "--also", "nope"], "--also"),
    (["sweep", "{scenario}", "--chunk-size", "0"], "--chunk-size"),
    (["sweep", "{scenario}", "--target-half-width", "abc"], "--target-half-width"),
    (["sweep", "{scenario}", "--target-half-width", "2%", "--paired", "x-y"], "--paired"),
    (["sweep", "{scenario}", "--paired", "durable-restart"], "--paired"),
    (["sweep", "{scenario}", "--max-runs", "1", "--target-half-width", "2%"], "--max-runs"),
    (["fleet", "{fleet}", "--replications", "0"], "--replications"),
    (["fleet", "{fleet}", "--strategies", "zz"], "--strategies"),
    (["fleet", "{scenario}"], "[fleet]"),
    (["breakeven", "{scenario}", "--vary", "failures.crash.mtbf=1h"], "--vary"),
    (["report", "{scenario}", "--runs", "5"], "--runs"),
    (["run", "{missing}"], "no-such.toml"),
    (["run", "{scenario}", "--runs", "abc"], "--runs"),
    (["sweep", "{scenario}", "--engine", "quick"], "--engine"),
    (["fleet", "{fleet}", "--replications", "2.5"], "--replications"),
    (["runn", "{scenario}"], "'runn'"),
]


@pytest.mark.parametrize(("argv", "needle"), FLAGS, ids=[" ".join(a[:1] + a[2:]) for a, _ in FLAGS])
def test_bad_flag(argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    regular = tmp_path / "file"
    regular.write_text("x")
    values = {"{scenario}": str(GOOD), "{fleet}": str(FLEET), "{missing}": str(tmp_path / "no-such.toml")}
    args = [values.get(a, a) for a in argv]
    if "{file}" in args:
        args[args.index("{file}")] = str(GOOD)
        args += ["--out", str(regular / "out")]
    elif "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    rc, out, err = _run(args + ["--quiet"] if argv[0] != "report" else args, tmp_path, capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_the_corpus_has_at_least_40_cases() -> None:
    assert len(CORPUS) + len(FLAGS) >= 40
