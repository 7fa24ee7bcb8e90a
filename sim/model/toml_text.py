"""TOML text of single values and keys: the one writer behind every scenario the tool writes
(``sim fit``'s calibrated scenario, ``sim optimize``'s recommendation). Tables and sections are
laid out by their writers; this module only spells keys and values so that ``tomllib`` reads
back exactly what was written (floats by ``repr``, strings JSON-escaped, which TOML accepts)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def toml_key(k: str) -> str:
    """A bare key when TOML allows one, else a quoted key."""
    return k if k and k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def toml_value(v: Any) -> str:
    """An inline TOML value: booleans, integers, floats (nan/inf included), strings, arrays and
    inline tables (``{ a = 1, b = "x" }``)."""
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
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as TOML")
