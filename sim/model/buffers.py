"""Arrays kept between calls, one per name and thread.

Fresh memory costs a page fault per page, the kernel clearing each page first, and a process
gives its freed memory back to the system often enough for that to show in every call of a
sweep. The fast path keeps its working buffers here, and the runs table its column blocks (those
only once no table refers to them any more).
"""

from __future__ import annotations

import sys
import threading

import numpy as np


class BlockPool:
    """One block kept per name and thread; blocks over ``max_bytes`` are not kept."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._local = threading.local()

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.float64, *, zeroed: bool = False,
            unreferenced: bool = False) -> np.ndarray:
        """An array of ``shape``: a view of the kept block ``name`` if it is large enough (and, with
        ``unreferenced``, if nothing else refers to it: no view of it is alive), else a new block,
        kept in its place. ``zeroed``: filled with zeros, else uninitialised."""
        size = int(np.prod(shape))
        if size * np.dtype(dtype).itemsize > self.max_bytes:
            return (np.zeros if zeroed else np.empty)(shape, dtype)
        blocks = self._local.__dict__.setdefault("blocks", {})
        block = blocks.get(name)
        # (references to a block nothing else holds: the dict, this name, getrefcount's argument)
        if (block is not None and block.size >= size and block.dtype == dtype
                and (not unreferenced or sys.getrefcount(block) == 3)):
            view = block[:size].reshape(shape)
            if zeroed:
                view.fill(0)
            return view
        block = blocks[name] = (np.zeros if zeroed else np.empty)(size, dtype)
        return block.reshape(shape)
