"""Each distribution's inverse CDF reproduces its analytic mean, variance and survival function."""

import numpy as np
import pytest

from sim.model.distributions import Exponential, Fixed, LogNormal, Uniform, Weibull
from sim.model.rng import Source, replication_keys, uniform_matrix

DISTS = [Fixed(5.0), Exponential(30.0), Weibull(1.7, 100.0), Weibull(0.6, 50.0), LogNormal(60.0, 120.0), Uniform(10.0, 30.0)]


@pytest.mark.parametrize("dist", DISTS, ids=lambda d: type(d).__name__ + str(getattr(d, "shape", "")))
def test_moments_and_survival(dist):
    u = uniform_matrix(replication_keys(3, Source.DURATION, np.arange(200)), 1000).ravel()
    x = dist.ppf(u)
    n = x.size
    sd = np.sqrt(dist.var())
    assert abs(x.mean() - dist.mean()) <= 4 * sd / np.sqrt(n) + 1e-12
    if sd > 0:
        # variance: SE of the sample variance ≈ sqrt((m4 − σ⁴)/n), estimated from the sample
        m4 = np.mean((x - x.mean()) ** 4)
        assert abs(x.var() - dist.var()) <= 4 * np.sqrt(max(m4 - x.var() ** 2, 1e-12) / n)
        for q in (0.1, 0.5, 0.9):
            t = np.quantile(x, q)
            assert dist.survival(np.array([t]))[0] == pytest.approx(1 - q, abs=0.01)


def test_lognormal_percentiles():
    d = LogNormal(60.0, 120.0)
    assert d.ppf(np.array([0.5]))[0] == pytest.approx(60.0)
    assert d.ppf(np.array([0.95]))[0] == pytest.approx(120.0)


def test_exponential_ppf_in_place_is_ppf_to_the_bit():
    u = np.random.default_rng(3).random(10_000)
    dist = Exponential(mean_s=1234.5)
    assert np.array_equal(dist.ppf_in_place(u.copy()), dist.ppf(u))
