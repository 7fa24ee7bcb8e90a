"""Temporal history events, one at a time: event types in both JSON spellings, attribute
objects, failures and their outcome, durations, local-activity markers.

Used by :mod:`sim.calibrate.temporal`, which reads whole histories; the failure -> outcome
rules are listed in its docstring.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from sim.calibrate.attempts import timestamp_s
from sim.model.billing import NUMBERED_EVENT_TYPES

LOCAL_ACTIVITY_MARKERS = ("core_local_activity", "LocalActivity", "localActivity")

# the event types of temporal/api/enums/v1/event_type.proto: the numbered ones the billing reader
# knows (``sim.model.billing``), and newer ones read by name
EVENT_TYPES: tuple[str, ...] = (*NUMBERED_EVENT_TYPES, "WORKFLOW_EXECUTION_UPDATE_ADMITTED",
                                "WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "WORKFLOW_EXECUTION_UPDATE_REJECTED",
                                "WORKFLOW_EXECUTION_UPDATE_COMPLETED", "WORKFLOW_PROPERTIES_MODIFIED_EXTERNALLY")
_CAMEL = {"".join(w.capitalize() for w in t.split("_")): t for t in EVENT_TYPES}

_RATE_LIMIT_RE = re.compile(r"429|rate[ _-]?limit|resource[ _-]?exhausted|too[ _-]?many[ _-]?"
                            r"requests", re.IGNORECASE)
_SHUTDOWN_RE = re.compile(r"shut[ _-]?down|shutting[ _-]?down|worker[ _-]?(?:stop|exit)|drain|"
                          r"rollout|sigterm", re.IGNORECASE)
_DURATION_RE = re.compile(r"^(-?\d+(?:\.\d+)?)s$")


def event_type(raw: object) -> str | None:
    """Canonical UPPER_SNAKE event type (without prefix) from either JSON spelling."""
    if not isinstance(raw, str):
        return None
    if raw.startswith("EVENT_TYPE_"):
        name = raw[len("EVENT_TYPE_"):]
        return name if name in EVENT_TYPES else None
    return _CAMEL.get(raw)


def attr_key(etype: str) -> str:
    """The attributes key of an event type: ACTIVITY_TASK_STARTED ->
    activityTaskStartedEventAttributes."""
    words = etype.lower().split("_")
    return words[0] + "".join(w.capitalize() for w in words[1:]) + "EventAttributes"


def _pb_duration_s(value: object) -> float | None:
    """google.protobuf.Duration in proto3 JSON ("2.5s") -> seconds."""
    if isinstance(value, str):
        m = _DURATION_RE.match(value.strip())
        if m:
            return float(m.group(1))
    return None


_TIMEOUT_TYPES = {1: "START_TO_CLOSE", 2: "SCHEDULE_TO_START", 3: "SCHEDULE_TO_CLOSE",
                  4: "HEARTBEAT"}


def _timeout_type(raw: object) -> str:
    """TimeoutType as UPPER_SNAKE without prefix, from "TIMEOUT_TYPE_HEARTBEAT", "Heartbeat"
    or the enum number."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return _TIMEOUT_TYPES.get(raw, "UNSPECIFIED")
    text = str(raw or "")
    if text.startswith("TIMEOUT_TYPE_"):
        return text[len("TIMEOUT_TYPE_"):]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", text).upper()


def _failure_chain(failure: object) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = []
    while isinstance(failure, dict) and len(chain) < 20:
        chain.append(failure)
        failure = failure.get("cause")
    return chain


def classify_failure(failure: object) -> str:
    """The outcome of one failed attempt from its Temporal ``Failure`` (see module docstring)."""
    chain = _failure_chain(failure)
    for f in chain:
        app = f.get("applicationFailureInfo")
        text = f"{(app or {}).get('type', '')} {f.get('message', '')}"
        if _RATE_LIMIT_RE.search(text):
            return "rate_limited"
    for f in chain:
        app = f.get("applicationFailureInfo") or {}
        if "canceledFailureInfo" in f or _SHUTDOWN_RE.search(
                f"{app.get('type', '')} {f.get('message', '')}"):
            return "killed_by_deploy"
    for f in chain:
        tinfo = f.get("timeoutFailureInfo")
        if isinstance(tinfo, dict):
            kind = _timeout_type(tinfo.get("timeoutType"))
            return "crashed" if kind in ("HEARTBEAT", "START_TO_CLOSE") else "timed_out"
    return "error"


def retry_after_s(failure: object) -> float | None:
    for f in _failure_chain(failure):
        app = f.get("applicationFailureInfo")
        if isinstance(app, dict) and "nextRetryDelay" in app:
            return _pb_duration_s(app["nextRetryDelay"])
    return None


def int_value(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def time_s(raw: object) -> float | None:
    """An event time (RFC 3339 string in Temporal's JSON) in seconds, or None."""
    return timestamp_s(raw) if isinstance(raw, str) else None


def _payload_values(details: object) -> list[object]:
    """The JSON values of a marker's ``details`` payloads (base64 ``data``), where decodable."""
    out: list[object] = []
    if not isinstance(details, dict):
        return out
    for key, value in details.items():
        payloads = value.get("payloads") if isinstance(value, dict) else None
        for pl in payloads if isinstance(payloads, list) else []:
            data = pl.get("data") if isinstance(pl, dict) else None
            if not isinstance(data, str):
                continue
            try:
                out.append((key, json.loads(base64.b64decode(data))))
            except (ValueError, UnicodeDecodeError):
                continue
    return out


def local_activity_marker(attrs: dict[str, Any]) -> tuple[str | None, int, float | None]:
    """(activity type, attempt, completion time in seconds or None) from a local-activity
    marker: Temporal's core SDKs (``data``: activity_type, attempt, complete_time), the Java
    SDK (``type``, ``attempt``, ``time`` in ms) and the Go SDK (``data``: ActivityType,
    Attempt, ReplayTime)."""
    name: str | None = None
    attempt = 1
    done_s: float | None = None
    for key, value in _payload_values(attrs.get("details")):
        if isinstance(value, dict):
            name = name or value.get("activity_type") or value.get("ActivityType") or None
            a = int_value(value.get("attempt", value.get("Attempt")))
            attempt = a if a and a > 0 else attempt
            ct = value.get("complete_time")
            if isinstance(ct, dict) and isinstance(ct.get("seconds"), int | float):
                done_s = float(ct["seconds"]) + float(ct.get("nanos", 0) or 0) * 1e-9
            elif isinstance(value.get("ReplayTime"), str):
                done_s = time_s(value["ReplayTime"])
        elif key == "type" and isinstance(value, str):
            name = value
        elif key == "time" and isinstance(value, int | float) and not isinstance(value, bool):
            done_s = float(value) / 1000.0
        elif key == "attempt" and int_value(value):
            attempt = max(1, int_value(value) or 1)
    return (name if isinstance(name, str) and name else None), attempt, done_s


def attributes(ev: dict[str, Any], etype: str) -> dict[str, Any]:
    """An event's attributes: ``<eventType>EventAttributes``, or the Web UI's ``details``."""
    attrs = ev.get(attr_key(etype), ev.get("details"))
    return attrs if isinstance(attrs, dict) else {}
