"""Fleet scale: many workflows sharing workers and a rate-limited provider (docs/fleet.md)."""

from .api import fleet_attempts, fleet_queue, simulate_fleet, uses_task_queue
from .engine import WORKFLOW_FIELDS
from .metrics import FLEET_COLUMNS, WORKFLOW_COLUMNS
from .provider import TokenBucket

__all__ = ["FLEET_COLUMNS", "WORKFLOW_COLUMNS", "WORKFLOW_FIELDS", "TokenBucket", "fleet_attempts", "fleet_queue",
           "simulate_fleet", "uses_task_queue"]
