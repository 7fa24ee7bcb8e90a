"""A scenario table (as ``tomllib`` reads it) back to TOML text, for the recommended scenario.

Scalars and arrays of scalars are written inline; tables as ``[a.b]`` sections; arrays of tables
(``[[steps]]``) as sections, their sub-tables inline (``duration = {dist = "lognormal", …}``).
"""

from __future__ import annotations

import json
import math
from typing import Any


def _key(k: str) -> str:
    return k if k and k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _section(path: list[str], table: dict, lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)}
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in table.items():
        if isinstance(v, dict):
            sub = [*path, _key(k)]
            if any(not isinstance(x, dict) and not _is_table_array(x) for x in v.values()) or not v:
                lines.append("")
                lines.append(f"[{'.'.join(sub)}]")
            _section(sub, v, lines)
        elif _is_table_array(v):
            for item in v:
                lines.append("")
                lines.append(f"[[{'.'.join([*path, _key(k)])}]]")
                for ik, iv in item.items():
                    lines.append(f"{_key(ik)} = {_value(iv)}")


def dumps(table: dict) -> str:
    """TOML text of ``table``."""
    lines: list[str] = []
    _section([], table, lines)
    return "\n".join(lines).lstrip("\n") + "\n"
