"""The notebooks: stored clean (no outputs, a tagged parameters cell first that papermill can read),
written on the public API (no repository walk-up, nothing from sim.commands), and executed by
papermill from a folder outside the repository, once with their default parameters and once with
overridden ones; each ends with a conclusion computed from its results."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import nbformat
import pytest

papermill = pytest.importorskip("papermill")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OVERRIDES = {
    "01_quickstart.ipynb": {"SCENARIO": "research_paper", "RUNS": 300, "SEED": 3,
                            "CHANGES": {"failures.rate_limit.probability": "5%"}},
    "02_breakeven_study.ipynb": {"RUNS": 300, "SEED": 3, "GRID": "log:0.02:0.32:5", "N_BOOT": 200},
    "03_results_explorer.ipynb": {"RUNS": 200, "SEED": 3, "VARY": {"failures.crash.mtbf": "log:1h:16h:3",
                                                                   "failures.deploy.every": "2h,1d"}},
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
# what the conclusion (the last cell's output) says: the report's verdict on cost (01-03), the
# optimiser's recommendation (04)
VERDICT = {name: ("per 1,000 runs", "no significant difference") for name in OVERRIDES}
VERDICT["04_optimise_my_pipeline.ipynb"] = ("use **",)
# notebooks on the plain API also change scenarios with Scenario.replace, not through .raw
PLAIN_API = {"01_quickstart.ipynb", "02_breakeven_study.ipynb", "03_results_explorer.ipynb"}


def _parameters_cell(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4).cells[0]


def test_every_notebook_is_covered() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(OVERRIDES)


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_notebook_is_stored_clean_and_uses_the_api(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "code" and "parameters" in first.metadata.get("tags", [])
    assert nb.cells[1].cell_type == "markdown" and nb.cells[1].source.startswith("# ")  # the narrative
    assert nb.cells[-2].cell_type == "markdown" and "Conclusion" in nb.cells[-2].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import sim" in code
    forbidden = ["sim.commands", "repo_root", "pyproject", "experiments/scenarios", '"experiments"']
    if name in PLAIN_API:
        forbidden += ["scenario_from_dict(raw", ".raw"]
    for word in forbidden:
        assert word not in code, word


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_papermill_lists_every_parameter_with_type_and_default(name: str) -> None:
    cell = _parameters_cell(name)
    assigned = [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                for t in node.targets]
    inferred = papermill.inspect_notebook(str(NOTEBOOKS / name))
    assert list(inferred) == assigned
    assert {"RUNS", "SEED", "OUT"} <= set(assigned) and set(OVERRIDES[name]) <= set(assigned)
    for pname, p in inferred.items():
        assert p["inferred_type_name"] not in ("None", ""), pname
        assert p["default"] not in ("", None), pname
        assert p["help"], pname
        assert str(ast.literal_eval(p["default"])) is not None  # the default is a literal


def _run(name: str, tmp_path: Path, params: dict) -> tuple[nbformat.NotebookNode, float]:
    started = time.perf_counter()
    # cwd: a folder outside the repository; the notebooks need nothing but the installed package
    papermill.execute_notebook(str(NOTEBOOKS / name), str(tmp_path / name), parameters=params,
                               kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    seconds = time.perf_counter() - started
    done = nbformat.read(tmp_path / name, as_version=4)
    errors = [o for c in done.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in done.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "the figures were not displayed"
    last = "".join(o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/markdown", "")
                   for o in done.cells[-1].outputs)
    assert any(v in last for v in VERDICT[name]), last
    return done, seconds


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_notebook_runs_with_overridden_parameters(name: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _, seconds = _run(name, tmp_path, {**OVERRIDES[name], "OUT": str(out)})
    print(f"{name} (overridden): {seconds:.1f} s")
    for f in WRITES[name]:
        assert (out / f).stat().st_size > 0, f


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_notebook_runs_with_default_parameters(name: str, tmp_path: Path) -> None:
    done, seconds = _run(name, tmp_path, {})
    print(f"{name} (defaults): {seconds:.1f} s")
    assert not list(tmp_path.glob("out*"))  # OUT = None: shown only


def test_overridden_parameters_reach_the_notebook(tmp_path: Path) -> None:
    name = "01_quickstart.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / name), str(tmp_path / name), parameters=OVERRIDES[name],
                               kernel_name="python3", cwd=str(tmp_path), progress_bar=False,
                               prepare_only=True)
    injected = nbformat.read(tmp_path / name, as_version=4).cells[1]
    assert "injected-parameters" in injected.metadata.get("tags", [])
    assert "SCENARIO = \"research_paper\"" in injected.source
