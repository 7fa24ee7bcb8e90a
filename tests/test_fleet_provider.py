"""The shared provider: token buckets never admit more than their limits; outages; Retry-After."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engines.fleet import TokenBucket
from sim.engines.fleet.provider import Outages, Provider
from sim.model.failures import Stream
from sim.model.scenario import Provider as ProviderConfig

requests = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=5.0, allow_nan=False), st.floats(min_value=0.1, max_value=12.0)),
    min_size=1, max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(requests, st.floats(min_value=0.05, max_value=20.0), st.floats(min_value=12.0, max_value=50.0))
def test_bucket_never_admits_more_than_capacity_plus_refill(reqs: list[tuple[float, float]], rate: float,
                                                            capacity: float) -> None:
    bucket = TokenBucket(rate, capacity)
    t = 0.0
    admitted: list[tuple[float, float]] = []
    for gap, amount in reqs:
        t += gap
        if bucket.try_take(t, amount) == 0.0:
            admitted.append((t, amount))
        assert -1e-9 * capacity <= bucket.level <= capacity + 1e-9
    times = np.array([a[0] for a in admitted])
    amounts = np.array([a[1] for a in admitted])
    cum = np.concatenate([[0.0], np.cumsum(amounts)])
    for i in range(len(times)):
        for j in range(i, len(times)):
            window_total = cum[j + 1] - cum[i]
            assert window_total <= capacity + rate * (times[j] - times[i]) + 1e-6 * capacity


@settings(max_examples=100, deadline=None)
@given(requests, st.floats(min_value=0.1, max_value=5.0))
def test_retry_after_is_exactly_when_the_request_fits(reqs: list[tuple[float, float]], rate: float) -> None:
    capacity = 12.0
    bucket = TokenBucket(rate, capacity)
    t = 0.0
    for gap, amount in reqs:
        t += gap
        wait = bucket.try_take(t, amount)
        if wait > 0.0:
            probe = TokenBucket(rate, capacity)
            probe.level, probe.updated_s = bucket.level, bucket.updated_s
            # not a moment earlier: earlier than the bucket's own tolerance of 1e-9 × capacity tokens
            earlier = wait * 1e-6 + 2e-9 * capacity / rate + 1e-9
            assert probe.wait_s(t + wait - earlier, amount) > 0.0
            assert probe.wait_s(t + wait, amount) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=2.0, allow_nan=False), min_size=1, max_size=150),
       st.integers(min_value=100, max_value=20000))
def test_provider_respects_both_limits_over_any_window(gaps: list[float], tokens: int) -> None:
    config = ProviderConfig(requests_per_minute=30, tokens_per_minute=60000, burst="20s")
    provider = Provider(config, None)
    t, admitted = 0.0, []
    for gap in gaps:
        t += gap
        if provider.admit(t, float(tokens)) == 0.0:
            admitted.append(t)
    times = np.array(admitted)
    for i in range(len(times)):
        for j in range(i, len(times)):
            span, count = times[j] - times[i], j - i + 1
            assert count <= 10 + 0.5 * span + 1e-6  # 30/min, burst 20 s
            assert count * tokens <= 20000 + 1000 * span + 1e-3  # 60k/min, burst 20 s
    assert provider.admitted == len(admitted) and provider.admitted + provider.refused == len(gaps)


def _fixed_stream(value: float) -> Stream:
    return Stream(np.uint64(1), 0, lambda u: np.full(np.shape(u), value), [value] * 4)


def test_outage_windows_alternate_with_up_periods() -> None:
    outages = Outages(_fixed_stream(100.0), _fixed_stream(10.0))  # up 100 s, down 10 s, …
    assert outages.down_until(50.0) == -math.inf
    assert outages.down_until(105.0) == 110.0
    assert outages.next_start(0.0) == 100.0
    assert outages.next_start(100.0) == 210.0
    assert outages.down_until(215.0) == 220.0
    assert outages.down_until(985.0) == 990.0  # the 9th outage: 980–990
    assert outages.down_until(990.0) == -math.inf
    assert outages.next_start(985.0) == 1090.0
