"""Long jobs announce themselves (``sim.experiment.eta``): an estimate from the first chunks, then
progress lines when stderr is not a terminal."""

from __future__ import annotations

import io

from sim.experiment.eta import Eta


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_long_job_announces_its_estimate_then_its_progress():
    clock, out = Clock(), io.StringIO()
    eta = Eta(10_000, "sweep", stream=out, clock=clock)
    clock.t = 0.5
    eta.update(100)  # before the pilot's second: no estimate yet
    assert out.getvalue() == ""
    clock.t = 2.0
    eta.update(100)  # 200 runs in 2 s: 10,000 in about 100 s
    assert eta.estimate_s == 100.0
    assert "sweep: 10,000 runs, about 1.7 min in all (estimated from the first 200, 2 s)" in out.getvalue()
    clock.t = 5.0
    eta.update(300)  # less than 10 s since the last line: nothing
    assert out.getvalue().count("\n") == 1
    clock.t = 13.0
    eta.update(800)  # 1,300 runs in 13 s
    assert out.getvalue().splitlines()[-1] == "sweep: 13% (1,300 of 10,000 runs), about 87 s left"


def test_a_short_or_quiet_job_says_nothing():
    clock, out = Clock(), io.StringIO()
    short = Eta(1_000, "run", stream=out, clock=clock)
    clock.t = 1.5
    short.update(500)  # 1,000 runs in about 3 s
    assert short.estimate_s == 3.0 and out.getvalue() == ""
    quiet = Eta(1_000_000, "run", enabled=False, stream=out, clock=clock)
    clock.t = 100.0
    quiet.update(10)
    assert out.getvalue() == ""
