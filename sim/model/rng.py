"""Counter-based random streams: every number is a pure function of (root, replication, source, index).

Why not one ``numpy.random.Generator`` per replication and source? Creating one costs about
11 microseconds, as much as a whole plain SimPy run of the video pipeline, and it cannot be
vectorised. Instead each source's key is derived with ``numpy.random.SeedSequence([root,
source_id])`` and replication ``r``'s draws are SplitMix64 hashes of (key, r, index): the same
independence between replications and sources, computed for a whole chunk in a few numpy
operations, identical whatever the chunking, the number of workers or the engine.

Two rounds of the SplitMix64 finaliser (Steele, Lea & Flood 2014; the generator behind
Java's SplittableRandom, which passes BigCrush) separate the replication key from the index
so that neighbouring replications and indices give unrelated outputs; ``tests/test_rng.py``
checks uniformity and independence.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(k) for k in (30, 27, 31, 11))
_INV_2_53 = 1.0 / 9007199254740992.0


class Source(IntEnum):
    """The independent random sources of a replication."""

    CRASH = 1
    DEPLOY = 2
    RATE_LIMIT = 3
    DURATION = 4
    RETRY_AFTER = 5
    JITTER = 6
    ARRIVALS = 7
    PROVIDER = 8
    EXTRA = 9
    COUNT = 10  # fan-out counts of workflow-graph steps
    PREEMPTION = 11  # spot instances: lives, capacity waits, unavailability (sim.model.spot)


def splitmix(z: np.ndarray | np.uint64) -> np.ndarray | np.uint64:
    """The SplitMix64 finaliser, as one expression: of a ``np.uint64``, of an array (with
    temporaries), or compiled by numba (``sim.engines.fast.crash_loop``). Products wrap modulo
    2^64 (numpy warns of it: callers silence it)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def uniform_of(key: np.uint64, hashed_index: np.uint64) -> float:
    """One ``hashed_uniforms`` value, from one key and one index hash (compiled by numba too)."""
    return np.float64(splitmix(key ^ hashed_index) >> _S11) * _INV_2_53  # (< 2^53: converts exactly)


def _mix(z: np.ndarray) -> np.ndarray:
    """``splitmix``; overwrites ``z`` when it is an array (callers pass temporaries)."""
    if np.ndim(z) == 0:
        return splitmix(z)
    tmp = np.empty_like(z)
    for shift, mult in ((_S30, _M1), (_S27, _M2)):
        np.right_shift(z, shift, out=tmp)
        np.bitwise_xor(z, tmp, out=z)
        np.multiply(z, mult, out=z)
    np.right_shift(z, _S31, out=tmp)
    np.bitwise_xor(z, tmp, out=z)
    return z


def source_key(root: int, source: Source) -> np.uint64:
    """The 64-bit key of one source under one root seed (via SeedSequence)."""
    state = np.random.SeedSequence([int(root), int(source)]).generate_state(1, np.uint64)
    return state[0]


def replication_keys(root: int, source: Source, runs: np.ndarray) -> np.ndarray:
    """Per-replication keys: the run-th output of SplitMix64 seeded with the source key."""
    runs = np.asarray(runs, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix(source_key(root, source) + (runs + np.uint64(1)) * _GOLDEN)


def uniforms(keys: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Uniform draws in [0, 1) for each (replication key, index); broadcasts."""
    return hashed_uniforms(keys, index_hashes(index))


def index_hashes(index: np.ndarray) -> np.ndarray:
    """The half of ``uniforms`` that depends on the index alone: ``uniforms(keys, index) ==
    hashed_uniforms(keys, index_hashes(index))``. A table of it for the first few indices serves
    every replication (``sim.engines.fast`` looks crash draws up in one)."""
    index = np.asarray(index, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix(index * _GOLDEN + _M2)


def hashed_uniforms(keys: np.ndarray, hashed_index: np.ndarray) -> np.ndarray:
    """``uniforms`` from the replication keys and ``index_hashes`` of the indices; broadcasts."""
    keys = np.asarray(keys, dtype=np.uint64)
    if keys.ndim == 0 and np.ndim(hashed_index) == 0:
        with np.errstate(over="ignore"):
            return uniform_of(keys[()], np.uint64(hashed_index))
    with np.errstate(over="ignore"):
        z = _mix(keys ^ hashed_index)
    np.right_shift(z, _S11, out=z)
    return np.multiply(z, _INV_2_53)  # (z < 2^53 converts exactly: as astype, then ×)


def uniform_matrix(keys: np.ndarray, n: int, offset: int = 0, lane: int = 0) -> np.ndarray:
    """A (len(keys), n) matrix of uniforms: column j is index ``lane·2^32 + offset + j``."""
    idx = np.uint64(lane) * np.uint64(1 << 32) + np.arange(offset, offset + n, dtype=np.uint64)
    return uniforms(np.asarray(keys, dtype=np.uint64)[:, None], idx[None, :])
