"""Every bundled scenario, as it was before the workflow-graph change, gives byte-identical tables.

The digests in tests/data/baseline/digests.json were recorded at commit ab6eade, before the
workflow model and graph scenarios were introduced (see tests/data/baseline/digests.py).

Semantics changed since, stated explicitly in the frozen copies instead of re-recording digests:
* issue 15: ``[defaults.retry]`` now also applies to the restart and retry_in_place strategies'
  pipeline retry policy. The frozen ``video.toml`` and ``fleet_video.toml`` give those strategies
  an explicit ``retry`` equal to the old default (Temporal's: 1 s, ×2, 100 s, unlimited, no
  jitter). ``fleet_research.toml`` already gave its own, and its [defaults.retry] fills only
  fields equal to the old defaults; the other files have no [defaults.retry].
* issue 22: after a worker crash, Temporal's sticky schedule-to-start timeout and a workflow task
  held by the crashed worker delay the next workflow task (``[temporal]``, on by default with
  Temporal's 10-s defaults). Every frozen copy turns both off (``"0s"``).

The digests are recorded per math variant (numpy's log1p/exp/power kernels differ between CPUs
with and without AVX-512 in the last bit): ``digests.py`` explains.
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
    variant = module.math_fingerprint()
    if variant not in record["digests_by_math"]:
        pytest.skip(f"numpy's log1p/exp/power on this machine (math variant {variant}) match none of the "
                    f"recorded variants {sorted(record['digests_by_math'])}: see tests/data/baseline/digests.py")
    expected = record["digests_by_math"][variant]
    got = module.compute((record["workflow_columns"], record["fleet_columns"]))
    assert set(got) == set(expected)
    changed = sorted(k for k in got if got[k] != expected[k])
    assert not changed, f"tables changed for {changed} (math variant {variant})"


def test_every_recorded_math_variant_covers_every_table():
    """Each math variant's record holds a digest of the same tables, and says where it came from."""
    record = json.loads((BASELINE / "digests.json").read_text())
    variants = record["digests_by_math"]
    assert len(variants) >= 2 and set(variants) == set(record["math_variants"])
    keys = {frozenset(d) for d in variants.values()}
    assert len(keys) == 1
    # the variants differ where inverse CDFs are computed (crashes, lognormal durations), and agree
    # where only uniforms are compared (rate limits only)
    first, second = variants.values()
    assert first["video/des"] != second["video/des"]
    assert first["pattern_simple_text/des"] == second["pattern_simple_text/des"]
