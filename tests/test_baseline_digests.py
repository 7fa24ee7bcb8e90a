"""Every bundled scenario, as it was before the workflow-graph change, gives byte-identical tables.

The digests in tests/data/baseline/digests.json were recorded at commit ab6eade, before the
workflow model and graph scenarios were introduced (see tests/data/baseline/digests.py).

Semantics changed since, stated explicitly in the frozen copies instead of re-recording digests:
* issue 15: ``[defaults.retry]`` now also applies to the restart and retry_in_place strategies'
  pipeline retry policy. The frozen ``video.toml`` and ``fleet_video.toml`` give those strategies
  an explicit ``retry`` equal to the old default (Temporal's: 1 s, ×2, 100 s, unlimited, no
  jitter). ``fleet_research.toml`` already gave its own, and its [defaults.retry] fills only
  fields equal to the old defaults; the other files have no [defaults.retry].
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BASELINE = Path(__file__).parent / "data" / "baseline"


def _digests_module():
    spec = importlib.util.spec_from_file_location("baseline_digests", BASELINE / "digests.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_bundled_scenarios_give_the_recorded_tables():
    record = json.loads((BASELINE / "digests.json").read_text())
    module = _digests_module()
    assert (module.SEED, module.RUNS, module.FLEET_REPLICATIONS) == (
        record["seed"], record["runs"], record["fleet_replications"])
    got = module.compute((record["workflow_columns"], record["fleet_columns"]))
    assert set(got) == set(record["digests"])
    changed = sorted(k for k in got if got[k] != record["digests"][k])
    assert not changed, f"tables changed for {changed}"
