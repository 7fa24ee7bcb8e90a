"""Helpers shared by the statistics modules: grouping, checks, the metric columns, t half-widths."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

#: Columns that identify a row rather than measure something.
IDENTITY_COLUMNS = frozenset({"scenario", "strategy", "run", "seed", "engine"})


# --------------------------------------------------------------------------- helpers


def _as_tuple(by: str | Sequence[str] | None) -> tuple[str, ...]:
    if by is None:
        return ()
    if isinstance(by, str):
        return (by,)
    return tuple(by)


def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: column(s) {missing} not in the DataFrame (has {list(df.columns)})")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def default_metrics(df: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric, non-boolean columns that are measurements.

    Excludes identity columns (``run``, ``seed``, ...), dotted sweep columns
    (``failures.crash.mtbf``) and anything in ``exclude``.
    """
    skip = set(exclude) | IDENTITY_COLUMNS
    out = []
    for col in df.columns:
        if col in skip or "." in str(col):
            continue
        dtype = df[col].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            continue
        out.append(col)
    return out


def t_half_width(
    se: np.ndarray | float, n: np.ndarray | float, confidence: float = 0.95
) -> np.ndarray | float:
    """Half-width ``t_{(1+c)/2, n-1} · se`` of a Student t interval (NaN when n < 2)."""
    _check_confidence(confidence)
    n_arr = np.asarray(n, dtype=float)
    dof = np.where(n_arr >= 2, n_arr - 1, np.nan)
    half = sps.t.ppf(0.5 + confidence / 2, dof) * np.asarray(se, dtype=float)
    return float(half) if np.ndim(half) == 0 else half


def mean_interval_of(
    values: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float, np.ndarray | float]:
    """``(mean, std, se, half)`` of ``values`` along the last axis: the mean, the sample standard
    deviation (ddof 1), the standard error std/√n and the Student t half-width ``t·se``. With
    fewer than 2 values std, se and half are NaN (and the mean too with none). The one shape of
    every t interval of a mean here: paired differences, break-even points, stopping rules."""
    x = np.asarray(values, dtype=float)
    n = x.shape[-1]
    shape = x.shape[:-1]
    nan = np.full(shape, math.nan) if shape else math.nan
    if n < 2:
        return (x.mean(axis=-1) if n else nan), nan, nan, nan
    mean = x.mean(axis=-1)
    std = x.std(axis=-1, ddof=1)
    se = std / math.sqrt(n)
    return mean, std, se, t_half_width(se, n, confidence)


def _grouped(df: pd.DataFrame, by: tuple[str, ...]) -> pd.api.typing.DataFrameGroupBy:
    return df.groupby(list(by), sort=True, dropna=False, observed=True)
