"""Counts in words, the same in every output: "1 crash", "2 crashes", "1,204 workflows"."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: float, noun: str, many: str | None = None) -> str:
    """The count with thousands separators and the noun in the number it needs (``many``: an
    irregular plural; default noun + "s", or + "es" after s, x, z, ch, sh)."""
    if many is None:
        many = noun + ("es" if noun.endswith(("s", "x", "z", "ch", "sh")) else "s")
    count = f"{n:,.0f}" if float(n).is_integer() else f"{n:,.3g}"
    return f"{count} {noun if n == 1 else many}"
