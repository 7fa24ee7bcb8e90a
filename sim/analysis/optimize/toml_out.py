"""A scenario table (as ``tomllib`` reads it) back to TOML text, for the recommended scenario.

Scalars and arrays of scalars are written inline; tables as ``[a.b]`` sections; arrays of tables
(``[[steps]]``) as sections, their sub-tables inline (``duration = { dist = "lognormal", … }``);
keys and values are spelled by ``sim.model.toml_text``, as in ``sim fit``'s scenarios.
"""

from __future__ import annotations

from typing import Any

from sim.model.toml_text import toml_key, toml_value


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _section(path: list[str], table: dict, lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)}
    for k, v in scalars.items():
        lines.append(f"{toml_key(k)} = {toml_value(v)}")
    for k, v in table.items():
        if isinstance(v, dict):
            sub = [*path, toml_key(k)]
            if any(not isinstance(x, dict) and not _is_table_array(x) for x in v.values()) or not v:
                lines.append("")
                lines.append(f"[{'.'.join(sub)}]")
            _section(sub, v, lines)
        elif _is_table_array(v):
            for item in v:
                lines.append("")
                lines.append(f"[[{'.'.join([*path, toml_key(k)])}]]")
                for ik, iv in item.items():
                    lines.append(f"{toml_key(ik)} = {toml_value(iv)}")


def dumps(table: dict) -> str:
    """TOML text of ``table``."""
    lines: list[str] = []
    _section([], table, lines)
    return "\n".join(lines).lstrip("\n") + "\n"
