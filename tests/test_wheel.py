"""The product outside the repository: build the wheel, install it into a fresh virtual
environment in a temporary folder, and use it from another folder as a new user would:
``sim --version``, ``sim scenarios``, ``sim run video``, ``sim audit --quick``, the API by name.

Needs the network (PyPI) for the build backend and the runtime dependencies; about a minute with a
warm pip cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout, preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_wheel_installs_and_works_outside_the_checkout(tmp_path: Path) -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # build from a copy of what the wheel is made of, so the checkout stays untouched
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "sim", src / "sim", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, src], cwd=tmp_path)
    wheels = list(dist.glob("*.whl"))
    assert [w.name.split("-")[0] for w in wheels] == [meta["name"].replace("-", "_")]
    with zipfile.ZipFile(wheels[0]) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    bundled = {p.name for p in (ROOT / "sim" / "data" / "scenarios").glob("*.toml")}
    assert {f"sim/data/scenarios/{n}" for n in bundled} <= names  # every bundled scenario ships
    assert {f"sim/data/pricing/{p.name}" for p in (ROOT / "sim" / "data" / "pricing").glob("*.toml")} <= names
    assert "sim/styles/report.mplstyle" in names
    # the notebooks, and the licence notices next to the bundled histories they cover
    assert {f"sim/data/notebooks/{p.name}" for p in (ROOT / "sim" / "data" / "notebooks").glob("*.ipynb")} <= names
    notices = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sim" / "data").rglob("LICENSE-*")}
    assert notices and notices <= names
    # the documentation that outputs cite as docs/NAME.md (a report copies the pages it links)
    assert {f"sim/data/docs/{p.name}" for p in (ROOT / "docs").glob("*.md")} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata and "Classifier: " in metadata

    # a fresh environment, outside the checkout, with the runtime dependencies only
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    _run([bin_dir / "python", "-m", "pip", "install", "--quiet", wheels[0]], cwd=tmp_path, timeout=900)
    work = tmp_path / "elsewhere"
    work.mkdir()
    sim_exe = bin_dir / "sim"

    version = _run([sim_exe, "--version"], cwd=work).stdout
    assert version.strip() == f"{meta['name']} {meta['version']} (import name: sim)"
    listing = _run([sim_exe, "scenarios"], cwd=work).stdout
    for name in ("video", "research_paper", "fleet_video"):
        assert any(line.split()[0] == name and len(line.split()) > 1 for line in listing.splitlines()), listing

    run = _run([sim_exe, "run", "video", "--runs", "1000", "--seed", "1", "--out", work / "out", "--quiet"],
               cwd=work)
    assert "video-pipeline: 1000 replications x 2 strategies" in run.stdout
    for f in ("runs.parquet", "summary.csv", "paired.csv", "scenario.toml", "scenario.json"):
        assert (work / "out" / f).stat().st_mode & 0o777 == 0o644, f  # the umask (022), not 0600
    usage = subprocess.run([str(sim_exe), "run"], cwd=work, env=_env(), capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.startswith("error: sim run: ")

    page = Path(_run([sim_exe, "docs", "costs", "--path"], cwd=work).stdout.strip())
    assert page.is_relative_to(env_dir) and page.read_bytes() == (ROOT / "docs" / "costs.md").read_bytes()
    copied = _run([sim_exe, "notebooks", work / "nb"], cwd=work).stdout
    assert "01_quickstart.ipynb" in copied and len(list((work / "nb").glob("*.ipynb"))) == 4

    audit = _run([sim_exe, "audit", "--quick", "--out", work / "audit"], cwd=work)
    assert "30 claims" in audit.stdout and (work / "audit" / "audit.md").is_file()

    api = _run([bin_dir / "python", "-c",
                "import sim, pathlib; sc = sim.load_scenario('video').replace({'failures.crash.mtbf': '2 hours'});"
                "print(sim.__file__); print(sc.failures.crash.mtbf_s); print(sim.__version__)"], cwd=work).stdout
    where, mtbf, ver = api.split()
    assert Path(where).is_relative_to(env_dir) and not Path(where).is_relative_to(ROOT)
    assert float(mtbf) == 7200.0 and ver == meta["version"]
