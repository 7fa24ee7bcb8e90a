"""Scenarios bundled with the package (``sim/data/scenarios/*.toml``), addressable by name.

``sim run video``, ``sim.load_scenario("video")`` and ``sim init video`` all resolve a name
here. A reference that names an existing file is that file; otherwise a bare name (``video``
or ``video.toml``, no folder) is the bundled scenario of that name. The files are package data,
so this works the same from a source checkout and from an installed wheel
(``experiments/scenarios`` in the repository is a symlink to the same folder: one copy).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sim.errors import ScenarioError

__all__ = ["BundledScenario", "bundled_scenario_dir", "bundled_scenarios", "resolve_scenario_path"]


def bundled_scenario_dir() -> Path:
    """The folder of the bundled scenario TOML files (inside the installed package)."""
    return Path(str(resources.files("sim").joinpath("data", "scenarios")))


@dataclass(frozen=True)
class BundledScenario:
    """A bundled scenario: its short name (the file name without ``.toml``), file and description."""

    name: str
    path: Path
    title: str
    description: str


def bundled_scenarios() -> list[BundledScenario]:
    """Every bundled scenario, sorted by name, with the ``name`` and ``description`` of its file."""
    out = []
    for path in sorted(bundled_scenario_dir().glob("*.toml")):
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:  # pragma: no cover - shipped files
            raise ScenarioError(f"bundled scenario cannot be read: {exc}", file=str(path)) from None
        out.append(BundledScenario(path.stem, path, str(table.get("name", path.stem)),
                                   " ".join(str(table.get("description", "")).split())))
    return out


def _bundled_names() -> list[str]:
    return [p.stem for p in sorted(bundled_scenario_dir().glob("*.toml"))]


def resolve_scenario_path(ref: str | Path) -> Path:
    """The file a scenario reference names: an existing path, else a bundled scenario's name.

    A reference that is neither raises ScenarioError naming it and listing the bundled names.
    """
    path = Path(ref)
    if path.exists():
        return path
    text = str(ref)
    if path.name == text:  # a bare name, no folder: look it up among the bundled ones
        stem = text.removesuffix(".toml")
        candidate = bundled_scenario_dir() / f"{stem}.toml"
        if candidate.is_file():
            return candidate
    if path.suffix == ".toml" or path.name != text:
        raise ScenarioError("scenario file not found", file=text)
    names = ", ".join(_bundled_names())
    raise ScenarioError(f"no such file, and no bundled scenario of that name (bundled: {names}; "
                        "`sim scenarios` lists them)", file=text)
