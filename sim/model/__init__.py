"""The scenario model: scenario files and their validation, units, distributions, failure
environments and their random streams, strategies, prices, and the workflow model that every
engine executes. Imports nothing from the rest of ``sim`` except ``sim.errors``."""
