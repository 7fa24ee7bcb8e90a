"""Every Python example of the README and docs/*.md runs as written.

The blocks of one file run in order in one namespace (as a reader would type them), in a
scratch folder where ``experiments/`` points to the repository's. A few files use names that
their prose defines (``sweep`` and ``runs`` for the plots, the CSV files of the calibration):
``PRELUDE`` provides them. A block right after ``<!-- not-run: REASON -->`` is skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^(?P<marker>[^\n]*)\n```python[^\n]*\n(?P<body>.*?)^```", re.M | re.S)

PRELUDE = {
    "docs/plots.md": """
import sim
from sim.experiment.sweep import sweep as _sweep
_sc = sim.load_scenario("video")
runs = sim.simulate(_sc, 200, seed=1)
sweep = _sweep(_sc, ["failures.crash.mtbf=1h,4h"], runs=200, seed=1)
""",
    "docs/calibration.md": """
import shutil
import sim
_, _events = sim.simulate_with_events(sim.load_scenario("video"), 400, seed=3, event_log=True)
_events[_events["strategy"] == "durable"].to_csv("attempts.csv", index=False)  # an event log is read too
open("deploys.csv", "w").write("deployed_at\\n2026-03-02T14:00:00Z\\n2026-03-02T16:00:00Z\\n2026-03-02T18:00:00Z\\n")
shutil.copy("experiments/scenarios/video.toml", "my_pipeline.toml")
""",
}


def _examples() -> list:
    params = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        blocks = [m["body"] for m in BLOCK.finditer(path.read_text()) if "not-run:" not in m["marker"]]
        if blocks:
            name = str(path.relative_to(ROOT))
            marks = () if name == "README.md" else (pytest.mark.slow,)
            params.append(pytest.param(name, blocks, id=name, marks=marks))
    return params


def test_the_readme_has_a_python_example():
    assert any(p.id == "README.md" for p in _examples())


@pytest.mark.parametrize(("name", "blocks"), _examples())
def test_python_examples_run(name, blocks, tmp_path, monkeypatch):
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"example:{name}"}
    exec(compile(PRELUDE.get(name, ""), f"{name}:prelude", "exec"), namespace)  # noqa: S102
    for k, body in enumerate(blocks):
        exec(compile(body, f"{name}:block{k + 1}", "exec"), namespace)  # noqa: S102
    assert os.getcwd() == str(tmp_path)


def test_the_public_api_names_resolve():
    """Every name of ``sim.__all__`` is there, ``sim.simulate_fleet`` among them (loaded on first use)."""
    import sim
    from sim.engines.fleet.api import simulate_fleet

    for name in sim.__all__:
        assert getattr(sim, name) is not None, name
    assert sim.simulate_fleet is simulate_fleet
    workflows, fleet = sim.simulate_fleet(sim.load_scenario("fleet_research"), 1, seed=1)
    assert len(fleet) == len(sim.load_scenario("fleet_research").strategies) and len(workflows) > 0


def test_import_sim_loads_no_numerics():
    """``import sim`` (and so the command line before it handles Ctrl-C) loads neither numpy nor pandas."""
    import subprocess
    import sys

    code = "import sys, sim; print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
