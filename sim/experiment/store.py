"""Streaming aggregates and the interruption-safe sweep folder.

Aggregates (``Aggregate``): for each strategy × metric the count, mean and centred sum of
squares M2 (merged with Chan et al.'s pairwise formula, the numerically stable form of
"sums and sums of squares"), for each strategy pair a − b × metric the same for the
per-replication difference d = a − b plus the co-moment of d and b (for the interval of
the relative difference), and a mergeable quantile sketch: logarithmic buckets of relative
width ``SKETCH_ALPHA`` = 0.5 % (DDSketch-style: bucket k holds (γ^(k−1), γ^k], γ = 1.01005,
an exact zero bucket and mirrored negative buckets), with the exact minimum and maximum of
each column. Counts are integers, so sketches merge exactly.

Error bound of a quantile read from the sketch (tested against exact quantiles with
hypothesis in tests/test_store.py): the sample quantile with linear interpolation is
q = x_(i) + f·(x_(i+1) − x_(i)); the sketch returns the same interpolation between the
representatives of the buckets of x_(i) and x_(i+1), each within relative α of its order
statistic, so |q̂ − q| ≤ α·max(|x_(i)|, |x_(i+1)|) (for integer metrics, whose
representatives are rounded, plus 0.5; exact below 100). The result is then clamped to the
column's exact [min, max]: it never leaves the observed range, which only moves it closer
to q, and a constant column's quantiles equal the constant. Memory per aggregate is bounded
by the number of distinct buckets (the value range), not by the number of replications.
``sim run`` and ``sim fleet`` hold all their rows and give exact quantiles instead.

Folder layout (``SweepStore``)::

    OUT/manifest.json                 what was asked: hash, scenario(s), sweep spec, seed, runs, engine
    OUT/.lock                         held (flock) by the command writing into the folder
    OUT/chunks/p00003-c0000012.npz    aggregate of chunk 12 of point 3 (the "done" marker)
    OUT/runs/p00003-c0000012.parquet  its per-run rows (unless --no-runs)
    OUT/summary.{parquet,csv}         per point × strategy × metric
    OUT/paired.{parquet,csv}          per point × strategy pair × metric
    OUT/points.{parquet,csv}          point index → swept values
    OUT/stopping.json                 what the stopping rule reached (if one was used)

Every file is written to a temporary name in the same folder and renamed (``os.replace``),
so an interrupted sweep leaves only whole chunks; the rerun skips them. A chunk file starts
with a header line (format, SHA-256 of the rest) and records the sweep's hash, its point,
chunk and replications and the SHA-256 of its run rows: on reuse all of these are checked,
and a damaged, truncated or foreign chunk is recomputed with a warning, never used.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from sim.errors import SimError
from sim.experiment.api import RUN_COLUMNS
from sim.experiment.io import atomic_write_bytes, atomic_write_text, parquet_bytes
from sim.experiment.outdir import FolderLock
from sim.stats.bounds import bounded_interval, metric_bounds
from sim.stats.completion import incomplete_counts

__all__ = [
    "METRICS",
    "SKETCH_ALPHA",
    "Aggregate",
    "StoreError",
    "SweepStore",
    "manifest_hash",
]

#: Measured columns of a run row (as ``sim.stats.default_metrics``: numeric, not bool, not identity).
METRICS: tuple[str, ...] = tuple(
    c for c in RUN_COLUMNS if c not in ("scenario", "strategy", "run", "seed", "engine", "completed")
)
INTEGER_METRICS = frozenset({"orchestration_actions", "history_events", "attempts", "crashes",
                             "deploy_kills", "rate_limited", "pipeline_restarts"})
SKETCH_ALPHA = 0.005
_GAMMA = (1 + SKETCH_ALPHA) / (1 - SKETCH_ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
_OFFSET = 1 << 40
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
FORMAT_VERSION = 2
CHUNK_MAGIC = b"sim-chunk 2 sha256="


class StoreError(SimError):
    """An output folder that cannot be used for this sweep."""


class _BadChunk(Exception):
    """A stored chunk that cannot be reused (the message says why)."""


def _warn_stderr(message: str) -> None:
    print(message, file=sys.stderr)


# --------------------------------------------------------------------------- sketch codes


def _codes(x: np.ndarray) -> np.ndarray:
    """Order-preserving bucket code of each finite value: 0 for zero, ±(2^40 + k) else."""
    ax = np.abs(x)
    with np.errstate(divide="ignore"):
        k = np.ceil(np.log(np.where(ax > 0, ax, 1.0)) / _LOG_GAMMA).astype(np.int64)
    code = _OFFSET + k
    return np.where(x > 0, code, np.where(x < 0, -code, 0)).astype(np.int64)


def _decode(code: np.ndarray) -> np.ndarray:
    """Representative value 2γ^k/(γ+1) of each bucket (relative error ≤ α within it)."""
    code = np.asarray(code, dtype=np.int64)
    k = np.abs(code) - _OFFSET
    value = 2.0 * np.exp(k * _LOG_GAMMA) / (_GAMMA + 1.0)
    return np.where(code == 0, 0.0, np.sign(code) * value)


_SLOT_SHIFT = 43  # sketch key = slot · 2^43 + code + 2^42, slot = strategy · n_metrics + metric


def _slot_keys(codes: np.ndarray, slots: np.ndarray) -> np.ndarray:
    return (slots.astype(np.int64) << _SLOT_SHIFT) + codes + (1 << 42)


def _slot_codes(keys: np.ndarray, counts: np.ndarray, slot: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket codes and counts of one (strategy, metric) slot of a sorted key array."""
    lo, hi = np.searchsorted(keys, [slot << _SLOT_SHIFT, (slot + 1) << _SLOT_SHIFT])
    return keys[lo:hi] - (slot << _SLOT_SHIFT) - (1 << 42), counts[lo:hi]


_DENSE_WIDTH = 1 << 16  # widest range of bucket codes per slot counted with a bincount


def _sketch_counts(codes: np.ndarray, ok: np.ndarray, first_slot: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted sketch keys and counts of a (runs, metrics) array of bucket codes, column j in slot
    ``first_slot + j``; entries where ``ok`` is false are left out. The same as ``np.unique`` of
    the slot keys, but with one bincount instead of a sort when no code is negative and each
    column's positive codes span fewer than ``_DENSE_WIDTH`` buckets (in practice always: wider
    needs a ratio of e^650 between a column's largest and smallest positive values)."""
    n_cols = codes.shape[1]
    slots = first_slot + np.arange(n_cols)
    pos = ok & (codes > 0)
    if codes.size and not (ok & (codes < 0)).any():
        big = np.iinfo(np.int64).max
        lo = np.where(pos, codes, big).min(axis=0)
        lo = np.where(lo == big, 0, lo)  # a column without positive codes
        hi = np.where(pos, codes, 0).max(axis=0)
        # per column: bucket 0 holds the code 0, buckets 1… the positive codes lo…hi
        width = np.where(hi > 0, hi - lo + 2, 1)
        if int(width.max()) < _DENSE_WIDTH:
            base = np.concatenate([[0], np.cumsum(width)[:-1]])
            index = np.where(pos, base + codes - lo + 1, base)
            total = int(width.sum())
            counts = np.bincount(np.where(ok, index, total).ravel(), minlength=total + 1)[:total]
            nz = np.flatnonzero(counts)
            col = np.searchsorted(base, nz, side="right") - 1
            offset = nz - base[col]
            code = np.where(offset == 0, 0, offset - 1 + lo[col])
            return _slot_keys(code, slots[col]), counts[nz].astype(np.int64)
    keys = _slot_keys(np.where(ok, codes, 0), np.broadcast_to(slots, codes.shape))[ok]
    uniq, cnt = np.unique(keys, return_counts=True)
    return uniq.astype(np.int64), cnt.astype(np.int64)


def _merge_counts(keys: Sequence[np.ndarray], counts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    allk = np.concatenate(keys)
    alln = np.concatenate(counts)
    uniq, inverse = np.unique(allk, return_inverse=True)
    return uniq.astype(np.int64), np.bincount(inverse, weights=alln, minlength=uniq.size).astype(np.int64)


def _sketch_quantile(codes: np.ndarray, counts: np.ndarray, q: float, integer: bool,
                     lo: float = -math.inf, hi: float = math.inf) -> float:
    """Quantile q (linear interpolation between order statistics) read from a sketch, clamped to
    the column's exact range [lo, hi] (see the module docstring for the error bound)."""
    n = int(counts.sum())
    if n == 0:
        return math.nan
    rank = q * (n - 1)
    lo_r, hi_r = math.floor(rank), math.ceil(rank)
    cum = np.cumsum(counts)
    vals = _decode(codes[np.searchsorted(cum, [lo_r + 1, hi_r + 1])])
    if integer:
        vals = np.round(vals)
    vals = np.clip(vals, lo, hi)
    return float(min(max(vals[0] + (rank - lo_r) * (vals[1] - vals[0]), lo), hi))


# --------------------------------------------------------------------------- moments


def _merge_moments(n1: np.ndarray, m1: np.ndarray, s1: np.ndarray,
                   n2: np.ndarray, m2: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chan's pairwise merge of (count, mean, M2) arrays."""
    n = n1 + n2
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where((n1 > 0) & (n2 > 0), m2 - m1, 0.0)
        frac = np.where(n > 0, n2 / np.where(n > 0, n, 1), 0.0)
        mean = np.where(n1 == 0, m2, np.where(n2 == 0, m1, m1 + delta * frac))
        m2_out = s1 + s2 + delta * delta * n1 * frac
    return n, mean, m2_out


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column (count, mean, M2) of a 2-D array, NaN skipped."""
    ok = ~np.isnan(x)
    if ok.all():  # the usual case: the same arithmetic without the masks
        rows = x.shape[0]
        n = np.full(x.shape[1], rows, dtype=np.int64)
        mean = x.sum(axis=0) / rows if rows else np.zeros(x.shape[1])
        dev = x - mean
        return n, mean, (dev * dev).sum(axis=0)
    n = ok.sum(axis=0).astype(np.int64)
    safe = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, safe.sum(axis=0) / np.where(n > 0, n, 1), 0.0)
    dev = np.where(ok, x - mean, 0.0)
    return n, mean, (dev * dev).sum(axis=0)


@dataclass
class Aggregate:
    """Mergeable summary of the runs of one sweep point (any number of chunks).

    Arrays are (strategies, metrics) for ``n, mean, m2`` and (pairs, metrics) for the paired
    ``pn, d_mean, b_mean, d_m2, b_m2, db_c``. The sketches of all (strategy, metric) slots
    ``s · len(metrics) + m`` share one sorted key array (slot in the high bits, bucket code
    below) with its counts: building them is one bincount (``_sketch_counts``), merging one sort.
    """

    strategies: tuple[str, ...]
    metrics: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    pn: np.ndarray
    d_mean: np.ndarray
    b_mean: np.ndarray
    d_m2: np.ndarray
    b_m2: np.ndarray
    db_c: np.ndarray
    sketch_keys: np.ndarray
    sketch_counts: np.ndarray
    lo: np.ndarray  # (strategies, metrics): exact minimum (NaN when no value)
    hi: np.ndarray  # exact maximum
    cut: np.ndarray  # (strategies,): runs cut by simulation.max_time
    gave_up: np.ndarray  # (strategies,): runs that ran out of retry attempts

    @classmethod
    def from_runs(cls, df: pd.DataFrame, strategies: Sequence[str], metrics: Sequence[str] = METRICS,
                  pairs: Sequence[tuple[str, str]] | None = None, max_time_s: float = math.inf) -> Aggregate:
        """Aggregate run rows (one row per replication × strategy, all strategies present);
        runs not ``completed`` are counted as cut (makespan ≥ ``max_time_s``) or gave up."""
        strategies = tuple(strategies)
        metrics = tuple(metrics)
        pairs = tuple(pairs) if pairs is not None else default_pairs(strategies)
        blocks: dict[str, np.ndarray] = {}
        runs_of: dict[str, np.ndarray] = {}
        values = df[list(metrics)].to_numpy(dtype=np.float64)
        column = df["strategy"]
        if isinstance(column.dtype, pd.CategoricalDtype):  # compare small integer codes, not strings
            categories = list(column.cat.categories)
            label_codes = column.cat.codes.to_numpy()
            masks = {label: label_codes == (categories.index(label) if label in categories else -2)
                     for label in strategies}
        else:
            labels = column.astype(str).to_numpy()
            masks = {label: labels == label for label in strategies}
        run_ids = df["run"].to_numpy()
        for label in strategies:
            idx = np.flatnonzero(masks[label])
            r = run_ids[idx]
            if r.size > 1 and not np.all(r[1:] > r[:-1]):
                idx = idx[np.argsort(r, kind="stable")]
            blocks[label] = values[idx]
            runs_of[label] = run_ids[idx]
        n = np.zeros((len(strategies), len(metrics)), np.int64)
        mean = np.zeros(n.shape)
        m2 = np.zeros(n.shape)
        keys: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        lo = np.full(n.shape, np.nan)
        hi = np.full(n.shape, np.nan)
        cut = np.zeros(len(strategies), np.int64)
        gave_up = np.zeros(len(strategies), np.int64)
        completed = df["completed"].to_numpy(dtype=bool) if "completed" in df.columns else None
        makespan = df["makespan_s"].to_numpy(dtype=float) if "makespan_s" in df.columns else None
        for s, label in enumerate(strategies):
            x = blocks[label]
            if completed is not None and makespan is not None:
                sel = masks[label]
                cut[s], gave_up[s] = incomplete_counts(completed[sel], makespan[sel], max_time_s)
            n[s], mean[s], m2[s] = _moments(x)
            if x.shape[0]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
                    lo[s], hi[s] = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
            ok = ~np.isnan(x)
            k, c = _sketch_counts(_codes(np.where(ok, x, 0.0)), ok, s * len(metrics))
            keys.append(k)
            counts.append(c)
        # slots grow with the strategy: the concatenation is sorted
        sketch_keys, sketch_counts = np.concatenate(keys), np.concatenate(counts)
        shape = (len(pairs), len(metrics))
        pn = np.zeros(shape, np.int64)
        d_mean, b_mean, d_m2, b_m2, db_c = (np.zeros(shape) for _ in range(5))
        for p, (a, b) in enumerate(pairs):
            if not np.array_equal(runs_of[a], runs_of[b]):
                raise ValueError(f"runs of {a!r} and {b!r} do not pair")
            xa, xb = blocks[a], blocks[b]
            ok = ~(np.isnan(xa) | np.isnan(xb))
            d = np.where(ok, xa - xb, np.nan)
            bb = np.where(ok, xb, np.nan)
            pn[p], d_mean[p], d_m2[p] = _moments(d)
            _, b_mean[p], b_m2[p] = _moments(bb)
            dd = np.where(ok, d - d_mean[p], 0.0)
            db = np.where(ok, bb - b_mean[p], 0.0)
            db_c[p] = (dd * db).sum(axis=0)
        return cls(strategies, metrics, pairs, n, mean, m2, pn, d_mean, b_mean, d_m2, b_m2, db_c,
                   sketch_keys.astype(np.int64), sketch_counts.astype(np.int64), lo, hi, cut, gave_up)

    def merge(self, other: Aggregate) -> Aggregate:
        """This aggregate followed by ``other`` (merge in a fixed order for bit-identical sums)."""
        if (self.strategies, self.metrics, self.pairs) != (other.strategies, other.metrics, other.pairs):
            raise ValueError("cannot merge aggregates of different strategies or metrics")
        n, mean, m2 = _merge_moments(self.n, self.mean, self.m2, other.n, other.mean, other.m2)
        n1, n2 = self.pn, other.pn
        pn, d_mean, d_m2 = _merge_moments(n1, self.d_mean, self.d_m2, n2, other.d_mean, other.d_m2)
        _, b_mean, b_m2 = _merge_moments(n1, self.b_mean, self.b_m2, n2, other.b_mean, other.b_m2)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(pn > 0, n2 / np.where(pn > 0, pn, 1), 0.0)
            both = (n1 > 0) & (n2 > 0)
            db_c = self.db_c + other.db_c + np.where(
                both, (other.d_mean - self.d_mean) * (other.b_mean - self.b_mean) * n1 * frac, 0.0)
        keys, counts = _merge_counts([self.sketch_keys, other.sketch_keys], [self.sketch_counts, other.sketch_counts])
        return Aggregate(self.strategies, self.metrics, self.pairs, n, mean, m2, pn, d_mean, b_mean,
                         d_m2, b_m2, db_c, keys, counts, np.fmin(self.lo, other.lo), np.fmax(self.hi, other.hi),
                         self.cut + other.cut, self.gave_up + other.gave_up)

    # ------------------------------------------------------------------ estimates

    def estimate(self, metric: str, strategy: str | None = None,
                 pair: tuple[str, str] | None = None) -> tuple[float, float, int]:
        """(mean, standard error, n) of a strategy's metric or of a pair's mean difference."""
        m = self.metrics.index(metric)
        if pair is not None:
            if pair not in self.pairs:
                raise ValueError(f"no pair {pair[0]} - {pair[1]} (pairs: {list(self.pairs)})")
            p = self.pairs.index(pair)
            n, mean, m2 = int(self.pn[p, m]), float(self.d_mean[p, m]), float(self.d_m2[p, m])
        else:
            s = self.strategies.index(strategy)
            n, mean, m2 = int(self.n[s, m]), float(self.mean[s, m]), float(self.m2[s, m])
        se = math.sqrt(max(m2, 0.0) / (n - 1) / n) if n >= 2 else math.nan
        return (mean if n else math.nan), se, n

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """Columns of ``sim.stats.summarize``: strategy, metric, n, mean, std, se, ci, p50/p95/p99."""
        rows = []
        nm = len(self.metrics)
        for s, label in enumerate(self.strategies):
            for m, metric in enumerate(self.metrics):
                n = int(self.n[s, m])
                mean = float(self.mean[s, m]) if n else math.nan
                std = math.sqrt(max(float(self.m2[s, m]), 0.0) / (n - 1)) if n >= 2 else math.nan
                se = std / math.sqrt(n) if n >= 2 else math.nan
                low, high = bounded_interval(mean, se, n, metric_bounds(metric), confidence)
                codes, counts = _slot_codes(self.sketch_keys, self.sketch_counts, s * nm + m)
                lo, hi = float(self.lo[s, m]), float(self.hi[s, m])
                qs = [_sketch_quantile(codes, counts, q, metric in INTEGER_METRICS, lo, hi) for _, q in QUANTILES]
                rows.append((label, metric, n, mean, std, se, low, high, *qs))
        return pd.DataFrame(rows, columns=["strategy", "metric", "n", "mean", "std", "se", "ci_low",
                                           "ci_high", "p50", "p95", "p99"])

    def paired(self, confidence: float = 0.95) -> pd.DataFrame:
        """Columns of ``sim.stats.paired_differences`` for every pair (a − b)."""
        rows = []
        for p, (a, b) in enumerate(self.pairs):
            for m, metric in enumerate(self.metrics):
                n = int(self.pn[p, m])
                mean_d = float(self.d_mean[p, m]) if n else math.nan
                mean_b = float(self.b_mean[p, m]) if n else math.nan
                mean_a = mean_d + mean_b
                var_d = max(float(self.d_m2[p, m]), 0.0) / (n - 1) if n >= 2 else math.nan
                std_d = math.sqrt(var_d) if n >= 2 else math.nan
                se = std_d / math.sqrt(n) if n >= 2 else math.nan
                tq = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) if n >= 2 else math.nan
                if n and mean_b != 0:
                    r = mean_a / mean_b
                    rel = r - 1.0
                    if n >= 2:
                        # var(a − r·b) = var(d + (1 − r)·b), no cancellation when a ≈ b
                        v = (float(self.d_m2[p, m]) + (1 - r) ** 2 * float(self.b_m2[p, m])
                             + 2 * (1 - r) * float(self.db_c[p, m])) / (n - 1)
                        rel_se = math.sqrt(max(v, 0.0)) / (math.sqrt(n) * abs(mean_b))
                    else:
                        rel_se = math.nan
                else:
                    rel, rel_se = math.nan, math.nan
                rows.append((a, b, metric, n, mean_a, mean_b, mean_d, std_d, se, mean_d - tq * se,
                             mean_d + tq * se, rel, rel - tq * rel_se, rel + tq * rel_se))
        return pd.DataFrame(rows, columns=["a", "b", "metric", "n", "mean_a", "mean_b", "mean_diff",
                                           "std_diff", "se", "ci_low", "ci_high", "rel_diff",
                                           "rel_ci_low", "rel_ci_high"])

    # ------------------------------------------------------------------ bytes

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            meta=np.array(json.dumps({"strategies": self.strategies, "metrics": self.metrics,
                                      "pairs": self.pairs})),
            n=self.n, mean=self.mean, m2=self.m2, pn=self.pn, d_mean=self.d_mean, b_mean=self.b_mean,
            d_m2=self.d_m2, b_m2=self.b_m2, db_c=self.db_c, keys=self.sketch_keys, counts=self.sketch_counts,
            lo=self.lo, hi=self.hi, cut=self.cut, gave_up=self.gave_up,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Aggregate:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(tuple(meta["strategies"]), tuple(meta["metrics"]),
                       tuple(tuple(p) for p in meta["pairs"]), z["n"], z["mean"], z["m2"], z["pn"],
                       z["d_mean"], z["b_mean"], z["d_m2"], z["b_m2"], z["db_c"], z["keys"], z["counts"],
                       z["lo"], z["hi"], z["cut"], z["gave_up"])


def default_pairs(strategies: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Every pair (later − earlier) in the scenario's strategy order: durable − restart."""
    labels = list(strategies)
    return tuple((a, b) for i, b in enumerate(labels) for a in labels[i + 1:])


# --------------------------------------------------------------------------- manifest


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def manifest_hash(parts: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the manifest's identity parts."""
    return hashlib.sha256(_canonical(parts).encode()).hexdigest()


class SweepStore:
    """One sweep's output folder (see the module docstring for the layout)."""

    def __init__(self, root: str | Path, identity: dict[str, Any], *, keep_runs: bool = True,
                 overwrite: bool = False, extra: dict[str, Any] | None = None,
                 warn: Callable[[str], None] | None = None):
        """Lock the folder (``sim.experiment.outdir.FolderLock``: created if needed, refused when
        another command writes into it) and check it against ``identity``; nothing else is
        created or deleted before the first write. ``close()`` releases the lock. ``warn``
        receives the one-line warnings about chunks that cannot be reused (default: stderr)."""
        self.root = Path(root)
        self.identity = identity
        self.keep_runs = keep_runs
        self.hash = manifest_hash(identity)
        self._extra = extra or {}
        self._created = False
        self._warn = warn or _warn_stderr
        self._verified: dict[tuple[int, int], Aggregate] = {}
        manifest_path = self.root / "manifest.json"
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"--out {self.root} exists and is not a folder")
        self._lock = FolderLock(self.root).acquire()
        try:
            self._check(manifest_path, overwrite)
        except BaseException:
            self._lock.release()
            raise

    def close(self) -> None:
        """Release the folder's lock (idempotent)."""
        self._lock.release()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, manifest_path: Path, overwrite: bool) -> None:
        has_manifest = manifest_path.exists()
        identity = self.identity
        if not has_manifest and self.root.exists() and any(not p.name.startswith(".") for p in self.root.iterdir()):
            raise StoreError(f"{self.root} is not empty and is not a sweep folder (no manifest.json); "
                             "use a new --out folder" + (" (--overwrite never deletes it)" if overwrite else ""))
        self._discard = overwrite and has_manifest
        if has_manifest and not overwrite:
            try:
                old = json.loads(manifest_path.read_text())
            except (OSError, ValueError) as exc:
                raise StoreError(f"{manifest_path}: unreadable manifest ({exc}); use a new --out folder "
                                 "or --overwrite") from None
            if old.get("format") != FORMAT_VERSION:
                raise StoreError(f"{self.root} was written by another version of sim (folder format "
                                 f"{old.get('format')}, this one {FORMAT_VERSION}); use a new --out folder, "
                                 "or --overwrite to discard it")
            if old.get("hash") != self.hash:
                changed = [k for k in identity if manifest_hash({k: identity[k]}) != old.get("part_hashes", {}).get(k)]
                raise StoreError(
                    f"{self.root} holds a different sweep (changed: {', '.join(changed) or 'format'}); "
                    "use a new --out folder, or --overwrite to discard it")

    def _create(self) -> None:
        """Before the first write: discard an overwritten sweep, make the folders, write the manifest."""
        if self._created:
            return
        if self._discard:
            self._clear()
            self._discard = False
        manifest_path = self.root / "manifest.json"
        if not manifest_path.exists():  # first, so that a folder we made always has one
            manifest = {"format": FORMAT_VERSION, "hash": self.hash,
                        "part_hashes": {k: manifest_hash({k: v}) for k, v in self.identity.items()},
                        "identity": self.identity, **self._extra}
            atomic_write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n")
        (self.root / "chunks").mkdir(exist_ok=True)
        if self.keep_runs:
            (self.root / "runs").mkdir(exist_ok=True)
        for folder in ("chunks", "runs"):
            if (self.root / folder).exists():
                for tmp in (self.root / folder).glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)  # left by an interrupted write
        self._created = True

    def _clear(self) -> None:
        for name in ("chunks", "runs"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        for name in ("manifest.json", "summary.parquet", "summary.csv", "paired.parquet", "paired.csv",
                     "points.parquet", "points.csv", "stopping.json"):
            (self.root / name).unlink(missing_ok=True)

    @staticmethod
    def chunk_name(point: int, chunk: int) -> str:
        return f"p{point:05d}-c{chunk:07d}"

    def has(self, point: int, chunk: int, runs: int | None = None) -> bool:
        """Whether chunk (point, chunk) is stored whole and belongs to this sweep: its checksum,
        its sweep hash, point, chunk and replications (``runs``) and the checksum of its run
        rows are verified. A chunk that fails is reported through ``warn`` and recomputed."""
        if self._discard:
            return False
        name = self.chunk_name(point, chunk)
        path = self.root / "chunks" / f"{name}.npz"
        if not path.exists():
            return False
        runs_path = self.root / "runs" / f"{name}.parquet"
        if self.keep_runs and not runs_path.exists():
            return False
        try:
            agg = self._verify(path, runs_path, point, chunk, runs)
        except _BadChunk as exc:
            self._warn(f"warning: {path}: {exc}; the chunk is recomputed")
            return False
        self._verified[(point, chunk)] = agg
        return True

    def _verify(self, path: Path, runs_path: Path, point: int, chunk: int, runs: int | None) -> Aggregate:
        data = path.read_bytes()
        if not data.startswith(CHUNK_MAGIC):
            raise _BadChunk("not a chunk of this format (no header)")
        head, sep, body = data[len(CHUNK_MAGIC):].partition(b"\n")
        if not sep or head.decode("ascii", "replace") != hashlib.sha256(body).hexdigest():
            raise _BadChunk("damaged (checksum mismatch: truncated or altered)")
        header_line, sep, npz = body.partition(b"\n")
        try:
            header = json.loads(header_line)
        except ValueError:
            raise _BadChunk("damaged (unreadable header)") from None
        if header.get("sweep") != self.hash:
            raise _BadChunk("belongs to another sweep")
        if (header.get("point"), header.get("chunk")) != (point, chunk):
            raise _BadChunk(f"holds point {header.get('point')} chunk {header.get('chunk')}, not point {point} "
                            f"chunk {chunk}")
        if runs is not None and header.get("runs") != runs:
            raise _BadChunk(f"holds {header.get('runs')} replications, not {runs}")
        if self.keep_runs:
            if header.get("rows_sha256") is None:
                raise _BadChunk("has no run rows")
            if hashlib.sha256(runs_path.read_bytes()).hexdigest() != header["rows_sha256"]:
                raise _BadChunk(f"its run rows {runs_path.name} are damaged or foreign (checksum mismatch)")
        try:
            agg = Aggregate.from_bytes(npz)
        except Exception as exc:  # noqa: BLE001 - any unreadable payload is a damaged chunk
            raise _BadChunk(f"damaged ({type(exc).__name__})") from None
        expected = self._extra.get("strategies"), self._extra.get("metrics")
        if expected[0] is not None and list(agg.strategies) != list(expected[0]):
            raise _BadChunk("holds other strategies")
        if expected[1] is not None and list(agg.metrics) != list(expected[1]):
            raise _BadChunk("holds other metrics")
        return agg

    def load(self, point: int, chunk: int) -> Aggregate:
        """The aggregate of a chunk that ``has`` verified."""
        agg = self._verified.pop((point, chunk), None)
        if agg is None:
            name = self.chunk_name(point, chunk)
            agg = self._verify(self.root / "chunks" / f"{name}.npz", self.root / "runs" / f"{name}.parquet",
                               point, chunk, None)
        return agg

    def save(self, point: int, chunk: int, aggregate: Aggregate, rows: pd.DataFrame | None,
             runs: int | None = None) -> None:
        """Rows first, then the aggregate (whose presence marks the chunk as done), with a header
        naming the sweep, the point, the chunk, its replications and the checksum of the rows."""
        self._create()
        name = self.chunk_name(point, chunk)
        rows_sha = None
        if self.keep_runs and rows is not None:
            data = parquet_bytes(rows)
            rows_sha = hashlib.sha256(data).hexdigest()
            atomic_write_bytes(self.root / "runs" / f"{name}.parquet", data)
        header = json.dumps({"sweep": self.hash, "point": point, "chunk": chunk, "runs": runs,
                             "rows_sha256": rows_sha}, sort_keys=True).encode()
        body = header + b"\n" + aggregate.to_bytes()
        atomic_write_bytes(self.root / "chunks" / f"{name}.npz",
                           CHUNK_MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)

    def write_tables(self, tables: dict[str, pd.DataFrame], extra_json: dict[str, Any] | None = None) -> None:
        self._create()
        for name, df in tables.items():
            atomic_write_bytes(self.root / f"{name}.parquet", parquet_bytes(df, {"hash": self.hash}))
            atomic_write_text(self.root / f"{name}.csv", df.to_csv(index=False, float_format="%.12g"))
        for name, obj in (extra_json or {}).items():
            atomic_write_text(self.root / name, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")

    def read_runs(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        files = sorted((self.root / "runs").glob("p*-c*.parquet"))
        if not files:
            raise StoreError(f"{self.root}/runs holds no run rows (was the sweep run with --no-runs?)")
        cols = list(columns) if columns is not None else None
        return pd.concat([pd.read_parquet(f, columns=cols) for f in files], ignore_index=True)
