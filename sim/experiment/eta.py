"""Long jobs announce themselves: the expected time, from the first chunks, then progress lines.

A sweep or a chunked simulation does not know its speed in advance (it depends on the engine,
the scenario and the machine), so the first chunks that finish are the pilot: once they have
taken ``PILOT_S`` seconds (or the job is done), the expected total is the elapsed time scaled to
every run, and a job expected to take more than ``ANNOUNCE_FROM_S`` seconds prints it once
(stderr). Then, when stderr is not a terminal (where tqdm draws a bar), a progress line every
``EVERY_S`` seconds. ``Progress`` is both: the bar on a terminal and the announcement.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

ANNOUNCE_FROM_S = 10.0  # jobs expected to take longer than this announce themselves
PILOT_S = 1.0  # elapsed time after which the first chunks estimate the whole job
EVERY_S = 10.0  # progress lines (stderr not a terminal) at most this often


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Eta:
    """Announces a job of ``total`` runs expected to be long, and its progress (see module)."""

    def __init__(self, total: int, label: str, enabled: bool = True, stream: TextIO | None = None,
                 clock=time.perf_counter, detail: str = ""):
        self.total = total
        self.label = label
        self.detail = detail  # said once, in the announcement
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.estimate_s: float | None = None  # the expected total, once estimated
        self.long = False
        self._last = self.started
        self._lines = enabled and not getattr(self.stream, "isatty", lambda: False)()

    def update(self, runs: int) -> None:
        self.done += runs
        if not self.enabled or self.total <= 0:
            return
        now = self.clock()
        elapsed = now - self.started
        if self.estimate_s is None:
            if elapsed < PILOT_S and self.done < self.total:
                return
            self.estimate_s = elapsed * self.total / max(self.done, 1)
            if self.estimate_s > ANNOUNCE_FROM_S and self.done < self.total:
                self.long = True
                print(f"{self.label}: {self.total:,} runs{self.detail}, about {_duration(self.estimate_s)} in all (estimated from "
                      f"the first {self.done:,}, {_duration(elapsed)})", file=self.stream, flush=True)
                self._last = now
            return
        if self.long and self._lines and now - self._last >= EVERY_S and self.done < self.total:
            left = elapsed * (self.total - self.done) / max(self.done, 1)
            print(f"{self.label}: {100 * self.done / self.total:.0f}% ({self.done:,} of {self.total:,} runs), "
                  f"about {_duration(left)} left", file=self.stream, flush=True)
            self._last = now


class Progress:
    """A long job's progress: a tqdm bar when stderr is a terminal, and its announcement (``Eta``)."""

    def __init__(self, total: int, label: str, enabled: bool = True, detail: str = ""):
        self.bar = tqdm(total=total, unit="run", disable=not (enabled and sys.stderr.isatty()), file=sys.stderr,
                        leave=False, desc=label, dynamic_ncols=True)
        self.eta = Eta(total, label, enabled=enabled, detail=detail)

    def update(self, runs: int) -> None:
        self.bar.update(runs)
        self.eta.update(runs)

    def set_total(self, total: int) -> None:
        self.bar.total = self.eta.total = total
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
