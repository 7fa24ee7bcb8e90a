"""The counter-based streams: uniform, independent across replications/sources/indices, reproducible."""

import numpy as np
from scipy import stats

from sim.model.rng import Source, replication_keys, uniform_matrix, uniforms


def test_uniform_marginal():
    keys = replication_keys(42, Source.CRASH, np.arange(2000))
    u = uniform_matrix(keys, 50).ravel()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 0.001
    # moments within 4 standard errors
    n = u.size
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)


def test_independence_between_neighbours():
    """Neighbouring replications, indices, lanes and sources are uncorrelated."""
    runs = np.arange(20000)
    a = uniform_matrix(replication_keys(1, Source.CRASH, runs), 2)
    b = uniform_matrix(replication_keys(1, Source.CRASH, runs + 1), 1)
    c = uniform_matrix(replication_keys(1, Source.DEPLOY, runs), 1)
    d = uniform_matrix(replication_keys(1, Source.CRASH, runs), 1, lane=1)
    e = uniform_matrix(replication_keys(2, Source.CRASH, runs), 1)
    bound = 4 / np.sqrt(len(runs))  # 4 standard errors of a correlation under independence
    for x, y in [(a[:, 0], a[:, 1]), (a[:, 0], b[:, 0]), (a[:, 0], c[:, 0]), (a[:, 0], d[:, 0]), (a[:, 0], e[:, 0])]:
        assert abs(np.corrcoef(x, y)[0, 1]) < bound
    # a 2-D chi-square on consecutive pairs (serial independence within a stream)
    counts, _, _ = np.histogram2d(a[:, 0], a[:, 1], bins=10)
    assert stats.chisquare(counts.ravel()).pvalue > 0.001


def test_pure_function_of_run_and_index():
    keys = replication_keys(7, Source.RATE_LIMIT, np.arange(100))
    whole = uniform_matrix(keys, 20)
    part = uniform_matrix(replication_keys(7, Source.RATE_LIMIT, np.arange(50, 60)), 10, offset=10)
    np.testing.assert_array_equal(whole[50:60, 10:20], part)
    assert uniforms(keys[:1], np.array([3]))[0] == whole[0, 3]
