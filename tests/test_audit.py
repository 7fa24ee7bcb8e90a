"""``python -m sim audit --quick`` writes a table with a verdict for every claim."""

from __future__ import annotations

from pathlib import Path

from sim.analysis.audit import VERDICTS
from sim.cli import main


def test_audit_command_quick(tmp_path: Path, capsys) -> None:
    assert main(["audit", "--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "audit.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert len(rows) >= 25
    # the price lists the audit rests on, each with its source and the date of the copy
    from sim.model.scenario import bundled_pricing_profiles

    assert "## Price lists and their sources" in text
    for name in bundled_pricing_profiles():
        assert f"| `{name}` |" in text, name
    assert "NOT sourced" in text  # unsourced figures are said to be so
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells[5].strip("*") in VERDICTS, line
        assert cells[2] and cells[3] and cells[6]
    # claims that must be present, with their verdicts
    def verdict(fragment: str) -> str:
        hits = [line for line in rows if fragment in line]
        assert len(hits) == 1, fragment
        return hits[0].split(" | ")[5].strip("*")
    assert verdict("pays for itself even with a 15% failure rate") == "does not hold"
    assert verdict("$0.0307 in wasted") == "does not hold"
    assert verdict("15 activities across ~3 minutes") == "does not hold"
    assert verdict("Total AI cost per paper") == "holds"
    assert verdict("retries only the final 45-second step") == "holds"
    assert "$300 per million actions" in text
    assert "30 claims" in capsys.readouterr().out


def test_audit_reports_a_missing_scenario_folder(tmp_path: Path, capsys) -> None:
    assert main(["audit", "--quick", "--out", str(tmp_path), "--scenarios", str(tmp_path / "none")]) == 2
    assert "scenario not found" in capsys.readouterr().err
