"""Pricing profiles: reading a bundled or user profile, checking it in its own file, and resolving
a scenario's ``[pricing]`` table (profiles, then the scenario's own keys field by field)."""

from __future__ import annotations

import copy
import datetime
import difflib
import re
import tomllib
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from sim.errors import ScenarioError
from sim.model.explain import explain_error
from sim.model.pricing_schema import Pricing

BUNDLED_PRICING = "sim.data.pricing"


def bundled_pricing_profiles() -> list[str]:
    folder = resources.files(BUNDLED_PRICING)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def read_toml(path: Path, what: str) -> dict:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{what} file not found", file=str(path)) from None
    except IsADirectoryError:
        raise ScenarioError(f"{what} path is a folder, not a TOML file", file=str(path)) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read {what} file: {exc.strerror}", file=str(path)) from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError("not a UTF-8 text file", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"malformed TOML: {exc}", file=str(path)) from None


def load_pricing_profile(name_or_path: str, base_dir: Path | None = None) -> tuple[dict, str]:
    """The raw table of a pricing profile: a bundled name, or a TOML path (relative to base_dir)."""
    if name_or_path in bundled_pricing_profiles():
        ref = resources.files(BUNDLED_PRICING) / f"{name_or_path}.toml"
        with resources.as_file(ref) as p:
            table = read_toml(Path(p), "pricing profile")
            _check_pricing_profile(table, str(p))
            return table, str(p)
    candidate = Path(name_or_path)
    if not candidate.is_absolute() and base_dir is not None:
        candidate = base_dir / candidate
    if candidate.suffix != ".toml" and not candidate.exists():
        names = bundled_pricing_profiles()
        hint = difflib.get_close_matches(name_or_path, names, n=1)
        extra = f"did you mean '{hint[0]}'? " if hint else ""
        raise ScenarioError(f"unknown pricing profile '{name_or_path}' ({extra}bundled: {', '.join(names)}; "
                            "or give a .toml path)", key="pricing.profile")
    table = read_toml(candidate, "pricing profile")
    _check_pricing_profile(table, str(candidate))
    return table, str(candidate)


def _check_pricing_profile(table: dict, file: str) -> None:
    """Validate a profile on its own, so a bad key is reported in the profile's file."""
    if "profile" in table:
        raise ScenarioError("a pricing profile cannot name another profile", file=file, key="profile")
    try:
        Pricing.model_validate(table)
    except ValidationError as exc:
        err = exc.errors()[0]
        key, msg = explain_error({**err, "loc": ("pricing", *err["loc"])}, {"pricing": table})
        raise ScenarioError(msg, file=file, key=key.removeprefix("pricing.")) from None



def deep_update(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out



#: the parts of a price list a profile can supply, and the tables each part is made of
PRICING_PARTS: dict[str, tuple[str, ...]] = {"models": ("gpu", "models"), "orchestration": ("orchestration",)}
HOURS_PER_MONTH = 730.0  # 365 d × 24 h / 12: a fleet's Poisson rate → a monthly volume


def _load_part(ref: object, key: str, base_dir: Path | None, file: str) -> dict:
    if not isinstance(ref, str):
        raise ScenarioError("must be a profile name or a path", file=file, key=key)
    try:
        table, _ = load_pricing_profile(ref, base_dir)
    except ScenarioError as exc:
        if exc.file and exc.key is None and not Path(exc.file).is_file():
            # the profile's file itself is missing (or a folder): the scenario's key names it
            raise ScenarioError(f"{exc.problem}: {exc.file}", file=file, key=key) from None
        raise ScenarioError(exc.problem, file=exc.file or file, key=exc.key if exc.file else key) from None
    return table


def _profile_info(table: dict, ref: str, overridden: list[str]) -> dict:
    name = str(table.get("name", ref))
    if overridden:
        name += f" (this scenario overrides {', '.join(overridden)})"
    return {"name": name, **{k: str(table.get(k, "")) for k in ("source", "source_date", "not_modelled", "retrieved",
                                                                  "plan", "unit")}}


def _overridden(own: dict, part: str) -> list[str]:
    keys = []
    for table in PRICING_PARTS[part]:
        value = own.get(table)
        if isinstance(value, dict):
            keys += [f"{table}.{k}" for k in value]
    return keys


def resolve_pricing(raw_pricing: object, data: dict, base_dir: Path | None, file: str) -> dict:
    """The scenario's ``[pricing]`` table with its profiles resolved: the combined profile
    (``profile``), then each part's profile (``models``, ``orchestration``: a name, or a table
    with a ``profile`` key next to overrides) replacing that part whole, then the scenario's own
    keys field by field. Records where each part came from, and copies the monthly volume
    (``monthly_workflows``, or a Poisson fleet's ``rate_per_hour`` × 730 h) into the
    orchestration prices, which bill by it."""
    if not isinstance(raw_pricing, dict):
        raise ScenarioError("must be a table", file=file, key="pricing")
    own = copy.deepcopy(raw_pricing)
    combined = own.pop("profile", None)
    named: dict[str, object] = {}
    for part in PRICING_PARTS:
        value = own.get(part)
        if isinstance(value, str):
            named[part] = own.pop(part)
        elif isinstance(value, dict) and "profile" in value:
            value = dict(value)
            named[part] = value.pop("profile")
            own[part] = value
        elif value is not None and not isinstance(value, dict):
            raise ScenarioError("must be a profile name or a table of prices", file=file, key=f"pricing.{part}")
    out: dict = {}
    info: dict[str, dict] = {}
    if combined is not None:
        table = _load_part(combined, "pricing.profile", base_dir, file)
        out = copy.deepcopy(table)
        for part in PRICING_PARTS:
            info[part] = _profile_info(table, str(combined), _overridden(own, part) if part not in named else [])
    for part, ref in named.items():
        key = f"pricing.{part}" if isinstance(raw_pricing.get(part), str) else f"pricing.{part}.profile"
        table = _load_part(ref, key, base_dir, file)
        tables = PRICING_PARTS[part]
        if not any(t in table for t in tables):
            has = ", ".join(f"[{t}]" for t in ("gpu", "models", "orchestration") if t in table) or "no prices"
            raise ScenarioError(f"profile '{ref}' has no {' or '.join(f'[{t}]' for t in tables)} table "
                                f"(it has {has})", file=file, key=key)
        for t in tables:
            out[t] = copy.deepcopy(table.get(t, {}))
        info[part] = _profile_info(table, str(ref), _overridden(own, part))
    out = deep_update(out, own)
    volume = out.get("monthly_workflows")
    fleet = data.get("fleet")
    if volume is None and isinstance(fleet, dict) and isinstance(fleet.get("rate_per_hour"), int | float) \
            and not isinstance(fleet.get("rate_per_hour"), bool) and fleet.get("arrival") == "poisson":
        volume = float(fleet["rate_per_hour"]) * HOURS_PER_MONTH
    orch = out.get("orchestration", {})
    if volume is not None and isinstance(orch, dict) and "monthly_workflows" not in orch:
        out["orchestration"] = {**orch, "monthly_workflows": volume}
    out["models_profile"] = info.get("models", {})
    out["orchestration_profile"] = info.get("orchestration", {})
    return out



_PROFILE_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?\b")


def _iso_date(text: str) -> tuple[datetime.date, bool] | None:
    """The date a profile's date field starts with (YYYY-MM-DD or YYYY-MM), and whether it has a day."""
    m = _PROFILE_DATE.match(text.strip())
    if not m:
        return None
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    try:
        return datetime.date(year, month, day), m.group(3) is not None
    except ValueError:
        return None


def profile_date_problem(table: dict) -> str | None:
    """Why a pricing profile's dates are not evidence, or None: ``source_date`` must start with a
    real date (YYYY-MM-DD, or YYYY-MM where the source gives only a month) and ``retrieved`` with
    a day no earlier than it."""
    source = _iso_date(str(table.get("source_date", "")))
    if source is None:
        return f"source_date {table.get('source_date', '')!r} does not start with a date (YYYY-MM-DD or YYYY-MM)"
    read = _iso_date(str(table.get("retrieved", "")))
    if read is None or not read[1]:
        return f"retrieved {table.get('retrieved', '')!r} does not start with a date (YYYY-MM-DD)"
    if source[0] > read[0]:
        return f"source_date {source[0]} is after retrieved {read[0]}"
    return None
