"""`sim fit` never prints or writes "nan": a quantity it cannot compute is "n/a" with the reason."""

from __future__ import annotations

import re
from importlib import resources

from sim.cli import main


def test_fit_writes_no_nan_in_its_scenario_comments(tmp_path, capsys):
    samples = resources.files("sim.data") / "temporal_samples"
    out = tmp_path / "fitted.toml"
    assert main(["fit", str(samples), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    text = out.read_text()
    nan = re.compile(r"\bnan\b", re.IGNORECASE)
    assert not nan.search(text), [line for line in text.splitlines() if nan.search(line)]
    assert not nan.search(printed)
    # the four samples are too few for a finite upper bound of the empirical p95, and for a KS test
    assert "n/a" in text
    assert "D = n/a" in text
