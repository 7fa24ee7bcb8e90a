"""Atomic file output: write to a temporary name in the same folder, then rename.

A reader (or a rerun after an interruption) never sees a half-written file. The file gets the
permissions a plain ``open(path, "w")`` would give it (0644 under the usual umask 022), not the
0600 of ``tempfile.mkstemp``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim import shutdown


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting it, then restore it at once
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename),
    with the permissions ``0o666 & ~umask``; creates the parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    token = shutdown.on_exit(lambda: Path(tmp).unlink(missing_ok=True))  # a forced exit removes it too
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        shutdown.cancel(token)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def parquet_bytes(df: pd.DataFrame, metadata: Mapping[str, object] | None = None) -> bytes:
    """Parquet bytes of ``df`` with ``metadata`` (JSON) embedded in the schema, under 'sim.*' keys."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        extra = {f"sim.{k}".encode(): json.dumps(v, sort_keys=True, default=str).encode() for k, v in metadata.items()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def atomic_write_parquet(path: str | Path, df: pd.DataFrame, metadata: Mapping[str, object] | None = None) -> None:
    atomic_write_bytes(path, parquet_bytes(df, metadata))


def read_parquet_metadata(path: str | Path) -> dict[str, object]:
    """The 'sim.*' metadata embedded by ``parquet_bytes``."""
    meta = pq.read_schema(path).metadata or {}
    return {k.decode()[4:]: json.loads(v) for k, v in meta.items() if k.startswith(b"sim.")}
