"""The shared LLM provider: continuously refilling token buckets and outage windows.

A ``TokenBucket`` holds up to ``capacity`` units and refills at ``rate_per_s``; a request for
``amount`` units is admitted when the bucket holds that many (they are taken), otherwise it
is refused with the time until enough units will have refilled (HTTP 429 Retry-After). Over
any window of length L it admits at most ``capacity + rate·L`` units (tests/test_fleet_provider.py).

``Provider`` combines a requests-per-minute and a tokens-per-minute bucket (a call needs one
request and its tokens; both must admit) with alternating up/down periods drawn from the
``[provider.outage]`` distributions on their own stream (``Source.PROVIDER``).
"""

from __future__ import annotations

import bisect
import math

from sim.model.failures import Stream
from sim.model.rng import Source
from sim.model.scenario import Provider as ProviderConfig
from sim.model.scenario import Scenario

from .streams import fleet_stream

INF = math.inf


class TokenBucket:
    """A token bucket that refills continuously; starts full."""

    __slots__ = ("rate_per_s", "capacity", "level", "updated_s")

    def __init__(self, rate_per_s: float, capacity: float):
        if not rate_per_s > 0 or not capacity > 0:
            raise ValueError("a token bucket needs a positive rate and capacity")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.level = capacity
        self.updated_s = 0.0

    def refill(self, t: float) -> None:
        if t > self.updated_s:
            level = self.level + (t - self.updated_s) * self.rate_per_s
            self.level = level if level < self.capacity else self.capacity
            self.updated_s = t

    def wait_s(self, t: float, amount: float) -> float:
        """Seconds from ``t`` until ``amount`` units are available (0: available now)."""
        self.refill(t)
        missing = amount - self.level
        return 0.0 if missing <= 1e-9 * self.capacity else missing / self.rate_per_s

    def take(self, amount: float) -> None:
        self.level -= amount

    def try_take(self, t: float, amount: float) -> float:
        """Admit ``amount`` at ``t`` (returns 0.0) or refuse it with the Retry-After (> 0)."""
        wait = self.wait_s(t, amount)
        if wait == 0.0:
            self.level -= amount
        return wait


class Outages:
    """Alternating up/down periods: up_0, down_0, up_1, … from time 0 (drawn lazily)."""

    __slots__ = ("_up", "_down", "starts", "ends")

    def __init__(self, up: Stream, down: Stream):
        self._up = up
        self._down = down
        self.starts: list[float] = []
        self.ends: list[float] = []

    def _extend_past(self, t: float) -> None:
        """Draw periods until an outage starts after ``t``."""
        while not self.starts or self.starts[-1] <= t:
            k = len(self.starts)
            start = (self.ends[-1] if self.ends else 0.0) + self._up.get(k)
            self.starts.append(start)
            self.ends.append(start + self._down.get(k))

    def down_until(self, t: float) -> float:
        """End of the outage covering ``t``, or -inf when the provider is up at ``t``."""
        self._extend_past(t)
        k = bisect.bisect_right(self.starts, t) - 1
        if k >= 0 and t < self.ends[k]:
            return self.ends[k]
        return -INF

    def next_start(self, t: float) -> float:
        """The first outage start strictly after ``t``."""
        self._extend_past(t)
        k = bisect.bisect_right(self.starts, t)
        return self.starts[k]


class Provider:
    """The provider as every workflow of one fleet run sees it."""

    def __init__(self, config: ProviderConfig, outages: Outages | None):
        self.config = config
        burst_min = config.burst_s / 60.0
        self.requests = (TokenBucket(config.requests_per_minute / 60.0, config.requests_per_minute * burst_min)
                         if config.requests_per_minute else None)
        self.tokens = (TokenBucket(config.tokens_per_minute / 60.0, config.tokens_per_minute * burst_min)
                       if config.tokens_per_minute else None)
        self.outages = outages
        self.response_s = config.response_time_s
        self.admitted = 0
        self.refused = 0

    def admit(self, t: float, tokens: float) -> float:
        """0.0 if a call of ``tokens`` is admitted at ``t``, else its Retry-After in seconds."""
        wait = 0.0
        if self.requests is not None:
            wait = self.requests.wait_s(t, 1.0)
        if self.tokens is not None:
            w = self.tokens.wait_s(t, tokens)
            if w > wait:
                wait = w
        if wait > 0.0:
            self.refused += 1
            return wait
        if self.requests is not None:
            self.requests.take(1.0)
        if self.tokens is not None:
            self.tokens.take(tokens)
        self.admitted += 1
        return 0.0


def build_provider(scenario: Scenario, seed: int, run: int) -> Provider | None:
    config = scenario.provider
    if config is None:
        return None
    outages = None
    if config.outage is not None:
        up = fleet_stream(seed, Source.PROVIDER, run, 0, config.outage.up.ppf)
        down = fleet_stream(seed, Source.PROVIDER, run, 1, config.outage.down.ppf)
        outages = Outages(up, down)
    return Provider(config, outages)


def provider_steps(scenario: Scenario) -> list[bool]:
    """Which steps call the shared provider (default: every llm step)."""
    config = scenario.provider
    if config is None:
        return [False] * len(scenario.steps)
    if config.steps is None:
        return [s.kind == "llm" for s in scenario.steps]
    wanted = set(config.steps)
    return [s.name in wanted for s in scenario.steps]


def check_provider(scenario: Scenario) -> None:
    """Reject a provider table the fleet cannot run (ValueError with the key)."""
    config = scenario.provider
    if config is None:
        return
    names = scenario.step_names
    for j, name in enumerate(config.steps or []):
        if name not in names:
            raise ValueError(f"provider.steps[{j}]: no step named {name!r} (steps: {', '.join(names)})")
    if config.tokens_per_minute:
        capacity = config.tokens_per_minute * config.burst_s / 60.0
        for step, uses in zip(scenario.steps, provider_steps(scenario), strict=True):
            need = step.input_tokens + step.output_tokens
            if uses and need > capacity:
                raise ValueError(f"provider.tokens_per_minute: step {step.name!r} needs {need} tokens per call, "
                                 f"more than the bucket holds ({capacity:g}); every call would be refused")
