"""Recommend, not just compare: the cheapest way to make a given pipeline durable (docs/optimize.md).

* ``exact``: the closed-form expected cost of an activity grouping of a chain (exponential
  crashes, per-call 429s) and the dynamic program over activity boundaries;
* ``select``: candidates simulated on common random numbers, ranked with paired intervals and a
  stated selection rule;
* ``heartbeat``: the heartbeat interval of long GPU steps, by ``scipy.optimize`` on a
  common-random-numbers objective;
* ``recommend``: all of it for one scenario, and the recommended scenario as TOML.
"""
