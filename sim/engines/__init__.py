"""Engines that execute the workflow model: ``des`` (SimPy, the reference), ``fast`` (vectorised,
exact where it applies) and ``fleet`` (many workflows sharing workers and a provider)."""
