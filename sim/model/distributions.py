"""Duration and time-to-failure distributions.

Each distribution maps uniforms to samples by its inverse CDF (so common random numbers carry
over between strategies, engines and sweep points) and knows its analytic mean, variance and
survival function, which the tests check against theory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

_Z95 = float(special.ndtri(0.95))

#: The keys of a distribution table in a scenario file (``dist = "lognormal"``, ``median``, ``p95``).
DIST_PARAMETERS: dict[str, set[str]] = {
    "fixed": {"value"},
    "exponential": {"mean"},
    "lognormal": {"median", "p95"},
    "uniform": {"low", "high"},
    "weibull": {"shape", "scale"},
}


@dataclass(frozen=True)
class Fixed:
    value_s: float

    @property
    def is_random(self) -> bool:
        return False

    def mean(self) -> float:
        return self.value_s

    def var(self) -> float:
        return 0.0

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), self.value_s, dtype=np.float64)

    def survival(self, t: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(t) < self.value_s, 1.0, 0.0)


@dataclass(frozen=True)
class Exponential:
    mean_s: float

    @property
    def is_random(self) -> bool:
        return True

    def mean(self) -> float:
        return self.mean_s

    def var(self) -> float:
        return self.mean_s**2

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return -self.mean_s * np.log1p(-np.asarray(u, dtype=np.float64))

    def ppf_in_place(self, u: np.ndarray) -> np.ndarray:
        """``ppf`` written over ``u`` (a float64 array), with the same arithmetic: no temporaries."""
        np.negative(u, out=u)
        np.log1p(u, out=u)
        u *= -self.mean_s
        return u

    def survival(self, t: np.ndarray) -> np.ndarray:
        return np.exp(-np.asarray(t, dtype=np.float64) / self.mean_s)


@dataclass(frozen=True)
class Weibull:
    shape: float
    scale_s: float

    @property
    def is_random(self) -> bool:
        return True

    def mean(self) -> float:
        return self.scale_s * math.gamma(1 + 1 / self.shape)

    def var(self) -> float:
        g1 = math.gamma(1 + 1 / self.shape)
        g2 = math.gamma(1 + 2 / self.shape)
        return self.scale_s**2 * (g2 - g1 * g1)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.scale_s * (-np.log1p(-np.asarray(u, dtype=np.float64))) ** (1 / self.shape)

    def survival(self, t: np.ndarray) -> np.ndarray:
        return np.exp(-((np.asarray(t, dtype=np.float64) / self.scale_s) ** self.shape))


@dataclass(frozen=True)
class LogNormal:
    """Lognormal given its median and 95th percentile."""

    median_s: float
    p95_s: float

    @property
    def mu(self) -> float:
        return math.log(self.median_s)

    @property
    def sigma(self) -> float:
        return math.log(self.p95_s / self.median_s) / _Z95

    @property
    def is_random(self) -> bool:
        return True

    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    def var(self) -> float:
        s2 = self.sigma**2
        return (math.exp(s2) - 1) * math.exp(2 * self.mu + s2)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.exp(self.mu + self.sigma * special.ndtri(np.asarray(u, dtype=np.float64)))

    def survival(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(t, 1e-300)) - self.mu) / self.sigma
        return special.ndtr(-z)


@dataclass(frozen=True)
class Uniform:
    low_s: float
    high_s: float

    @property
    def is_random(self) -> bool:
        return self.high_s > self.low_s

    def mean(self) -> float:
        return (self.low_s + self.high_s) / 2

    def var(self) -> float:
        return (self.high_s - self.low_s) ** 2 / 12

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.low_s + (self.high_s - self.low_s) * np.asarray(u, dtype=np.float64)

    def survival(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        width = max(self.high_s - self.low_s, 1e-300)
        return np.clip((self.high_s - t) / width, 0.0, 1.0)


Distribution = Fixed | Exponential | Weibull | LogNormal | Uniform
