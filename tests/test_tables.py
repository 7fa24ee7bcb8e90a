"""The CLI's one table writer and the words beside its numbers; the help texts of every command."""

from __future__ import annotations

import re

import pytest

from sim.cli import COMMANDS, build_parser
from sim.commands.table import percent, plural, render


def test_render_aligns_columns_and_never_runs_cells_together() -> None:
    rows = [["restart", "$0.06128561 [$0.06110, $0.06147]", "100.0%"],
            ["retry_in_place", "$0.1287 [$0.1200, $0.1374]", "99.5%"]]
    text = render(["strategy", "total cost", "completed"], rows, align=["left", "left", "right"])
    lines = text.splitlines()
    assert len(lines) == 4 and set(lines[1].replace(" ", "")) == {"-"}
    # every cell starts where its header starts (left) or ends where it ends (right)
    starts = [m.start() for m in re.finditer(r"-+", lines[1])]
    ends = [m.end() for m in re.finditer(r"-+", lines[1])]
    for line, row in zip(lines[2:], rows, strict=True):
        assert line[starts[0]:].startswith(row[0]) and line[starts[1]:].startswith(row[1])
        assert line[:ends[2]].endswith(row[2])
        # two spaces at least between the end of one cell and the next column
        assert line[starts[1] - 2:starts[1]] == "  " and line[starts[2] - 2:starts[2]] == "  "
    assert all(line == line.rstrip() for line in lines)
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        render(["a", "b", "c"], [["x", "y"]])


@pytest.mark.parametrize(("n", "noun", "expected"), [
    (1, "crash", "1 crash"), (2, "crash", "2 crashes"), (0, "workflow", "0 workflows"),
    (1204, "workflow", "1,204 workflows"), (1, "replication", "1 replication"), (3, "query", "3 queries"),
])
def test_plural(n: int, noun: str, expected: str) -> None:
    many = "queries" if noun == "query" else None
    assert plural(n, noun, many) == expected


@pytest.mark.parametrize(("fraction", "expected"), [
    (0.0109, "1.09%"), (1.0, "100%"), (0.999, "99.9%"), (0.02, "2.00%"), (0.000123, "0.0123%"), (0.0, "0%"),
    (float("nan"), "n/a"),
])
def test_percent(fraction: float, expected: str) -> None:
    assert percent(fraction) == expected


def test_one_crash_per_day_is_singular() -> None:
    from sim.analysis.report import Intensity

    it = Intensity(path="failures.crash.mtbf", current=86400.0, source="crash")
    assert it.rate_text(86400.0).startswith("1 crash per day")
    assert it.rate_text(43200.0).startswith("2 crashes per day")


@pytest.mark.parametrize("name", COMMANDS)
def test_help_texts_read_as_text(name: str) -> None:
    """What `sim NAME --help` prints: no doubled %% (argparse does not %-format a description), no
    reST double backticks, and a SCENARIO argument that says bundled names work too."""
    parser = build_parser(name, prog="sim")
    sub = parser._subparsers._group_actions[0].choices[name]
    text = sub.format_help()
    assert "%%" not in text and "``" not in text and "%(" not in text
    scenario = next((a for a in sub._actions if a.dest == "scenario"), None)
    if scenario is not None:
        assert "bundled" in scenario.help, scenario.help
    top = build_parser(prog="sim").format_help()
    assert "%%" not in top and "``" not in top
