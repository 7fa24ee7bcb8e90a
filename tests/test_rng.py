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


def test_one_uniform_and_the_compiled_draws_equal_the_arrays():
    """``uniform_of`` (one key, one index hash: numpy scalars) and the crash sweep's compiled
    uniforms (``_crash_uniforms``, numba) give the array functions' numbers, bit for bit, beyond
    the first draws' index table too."""
    from sim.engines.fast.crash_loop import _compiled
    from sim.model.rng import hashed_uniforms, index_hashes, uniform_of

    keys = replication_keys(11, Source.CRASH, np.arange(300))
    j = np.random.default_rng(0).integers(0, 5000, keys.size)
    k = 7
    table = index_hashes(np.arange(6000))
    expected = hashed_uniforms(keys[:, None], index_hashes(j[:, None] + np.arange(k)))
    got = np.empty((keys.size, k))
    _compiled()[1](keys, j, table, got)
    np.testing.assert_array_equal(got, expected)
    with np.errstate(over="ignore"):  # (the products wrap, as meant)
        assert uniform_of(keys[5], table[j[5] + 2]) == expected[5, 2]
    assert hashed_uniforms(keys[5], table[j[5] + 2]) == expected[5, 2]
