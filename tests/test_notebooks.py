"""The notebooks: stored clean (no outputs, a tagged parameters cell first) and executed with small
parameters by papermill, each well under a minute."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

papermill = pytest.importorskip("papermill")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SMALL = {
    "01_quickstart.ipynb": {"RUNS": 300, "SEED": 3},
    "02_breakeven_study.ipynb": {"RUNS": 300, "SEED": 3, "GRID": "log:0.02:0.32:5", "N_BOOT": 200},
    "03_results_explorer.ipynb": {"RUNS": 200, "SEED": 3,
                                  "VARY": ["failures.crash.mtbf=log:1h:16h:3", "failures.deploy.every=2h,1d"]},
    "04_optimise_my_pipeline.ipynb": {"RUNS": 200, "SEED": 3, "HEARTBEAT_RUNS": 100},
}
# files each notebook writes into OUT (proof that it ran to its last cell)
WRITES = {
    "01_quickstart.ipynb": ["cost_breakdown.png", "distributions.svg", "timeline.png"],
    "02_breakeven_study.ipynb": ["breakeven.png", "waste.png", "sensitivity.png", "breakeven_points.csv",
                                 "sensitivity.csv"],
    "03_results_explorer.ipynb": ["waste_slice.png", "distributions_point0.png", "saving.csv"],
    "04_optimise_my_pipeline.ipynb": ["research_paper_cost_vs_activities.png", "video_heartbeat_interval.png",
                                      "video_recommended.toml", "research_paper_alt_prices_candidates.csv"],
}


def test_every_notebook_is_covered() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_is_stored_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", [])
    for key in ("RUNS", "SEED", "OUT"):
        assert f"\n{key} = " in "\n" + first.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import sim" in code  # uses the package's API


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_small(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    params = {**SMALL[name], "OUT": str(out)}
    started = time.perf_counter()
    # cwd = notebooks/, as nbmake runs them: the notebooks find the repository root themselves
    papermill.execute_notebook(str(NOTEBOOKS / name), str(tmp_path / name), parameters=params,
                               kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    seconds = time.perf_counter() - started
    print(f"{name}: {seconds:.1f} s")
    assert seconds < 60
    done = nbformat.read(tmp_path / name, as_version=4)
    errors = [o for c in done.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in done.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "the figures were not displayed"
    for f in WRITES[name]:
        assert (out / f).stat().st_size > 0, f
