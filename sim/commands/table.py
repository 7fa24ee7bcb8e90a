"""The one table writer of the command line, and the words that go with numbers.

Every table a command prints goes through :func:`render`: columns aligned (``tabulate``'s
"simple" format, wide characters measured by ``wcwidth``), at least two spaces between
columns so that no two cells ever run together, a rule under the header, no trailing
blanks. Cells arrive as text, formatted by the command (``sim.commands.run.fmt_interval`` for
a value with its interval: one notation, ``mean [low, high]``); :func:`plural` and
:func:`percent` keep counts and shares the same in every output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tabulate as _tabulate

from sim.model.words import plural

__all__ = ["percent", "plural", "render"]


def render(headers: Sequence[str], rows: Sequence[Sequence[object]], align: Sequence[str] | None = None,
           indent: str = "") -> str:
    """The rows under their headers; ``align``: "left" or "right" per column (default: left);
    ``indent``: put before every line."""
    ncols = len(headers)
    for row in rows:
        if len(row) != ncols:
            raise ValueError(f"a row has {len(row)} cells for {ncols} columns: {row!r}")
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    saved = _tabulate.MIN_PADDING
    _tabulate.MIN_PADDING = 0  # a column as wide as its widest cell or header, no more
    try:
        text = _tabulate.tabulate(cells, headers=list(headers), tablefmt="simple", disable_numparse=True,
                                  colalign=list(align) if align else ["left"] * ncols)
    finally:
        _tabulate.MIN_PADDING = saved
    return "\n".join(indent + line.rstrip() for line in text.splitlines())


def percent(fraction: float, digits: int = 3) -> str:
    """A fraction as a percentage with ``digits`` significant digits: 0.0109 → "1.09%",
    1 → "100%", 0.999 → "99.9%"; "n/a" for a missing value."""
    if fraction is None or not math.isfinite(fraction):
        return "n/a"
    value = 100.0 * fraction
    if value == 0:
        return "0%"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}%"
