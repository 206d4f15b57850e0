"""`lazyflow.stats` against independent computations: scipy's distributions and moments,
statsmodels' HAC covariance, and a brute-force CSCV over every block combination."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
import scipy.stats
import statsmodels.api as sm

from lazyflow import stats
from lazyflow.errors import ConfigError, DataError


def _sharpe(x: np.ndarray) -> float:
    return x.mean() / x.std(ddof=1)


def test_normal_functions_match_scipy():
    for x in np.linspace(-8, 8, 161):
        assert stats.norm_cdf(x) == pytest.approx(scipy.stats.norm.cdf(x), rel=1e-12, abs=1e-300)
    for p in [1e-12, 1e-6, 0.01, 0.3, 0.5, 0.77, 0.999, 1 - 1e-9]:
        assert stats.norm_ppf(p) == pytest.approx(scipy.stats.norm.ppf(p), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_sharpe_std_and_psr_match_scipy_moments(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, size=300) * 0.01 + 0.001 * seed
    sr = _sharpe(x)
    skew = scipy.stats.skew(x)
    kurt = scipy.stats.kurtosis(x, fisher=False)
    expected = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / (len(x) - 1))
    assert stats.sharpe_std(x) == pytest.approx(expected, rel=1e-12)
    assert stats.sharpe_std(pl.Series(x)) == pytest.approx(expected, rel=1e-12)
    for bench in (0.0, 0.05, -0.02):
        psr = scipy.stats.norm.cdf((sr - bench) / expected)
        assert stats.probabilistic_sharpe(x, bench) == pytest.approx(psr, rel=1e-10, abs=1e-15)


def test_expected_max_sharpe_formula_and_deflated_sharpe():
    g = np.euler_gamma
    for n, v in [(2, 0.01), (10, 0.04), (1000, 0.0025)]:
        expected = math.sqrt(v) * (
            (1 - g) * scipy.stats.norm.ppf(1 - 1 / n) + g * scipy.stats.norm.ppf(1 - 1 / (n * np.e))
        )
        assert stats.expected_max_sharpe(n, v) == pytest.approx(expected, rel=1e-12)
    assert stats.expected_max_sharpe(1, 0.3) == 0.0
    rng = np.random.default_rng(5)
    x = rng.normal(0.002, 0.01, 500)
    trials = rng.normal(0.0, 0.05, 40)
    sr_star = stats.expected_max_sharpe(40, float(np.var(trials, ddof=1)))
    assert stats.deflated_sharpe(x, trials) == pytest.approx(
        stats.probabilistic_sharpe(x, sr_star), rel=1e-15
    )


def test_deflated_sharpe_falls_as_trials_grow():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0012, 0.01, 750)
    best = _sharpe(x)
    z = rng.normal(size=9)
    base = np.append(best / 3 + 0.008 * (z - z.mean()) / z.std(), best)
    assert base.max() == best
    values = []
    for copies in (1, 10, 100, 1000):  # 10 to 10,000 trials, the same best and spread
        values.append(stats.deflated_sharpe(x, np.tile(base, copies)))
    assert all(a > b for a, b in itertools.pairwise(values)), values
    assert values[0] - values[-1] > 0.25


def _hac_tstat_statsmodels(x: np.ndarray, lags: int) -> float:
    fit = sm.OLS(x, np.ones((len(x), 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False}
    )
    return float(fit.tvalues[0])


@pytest.mark.parametrize("lags", [0, 1, 4, 19])
def test_newey_west_matches_statsmodels(lags):
    rng = np.random.default_rng(lags)
    x = np.convolve(rng.normal(0.05, 1, 420), np.ones(5), "valid")
    assert stats.newey_west_tstat(x, lags) == pytest.approx(
        _hac_tstat_statsmodels(x, lags), rel=1e-10
    )


def test_newey_west_of_overlapping_returns_below_naive():
    rng = np.random.default_rng(7)
    daily = rng.normal(0.0005, 0.01, 2000)
    h = 20
    overlapping = np.convolve(daily, np.ones(h), "valid")  # h-day returns, one per day
    naive = overlapping.mean() / overlapping.std(ddof=1) * math.sqrt(len(overlapping))
    adjusted = stats.newey_west_tstat(overlapping, h - 1)
    assert abs(adjusted) < abs(naive) / 2


def _brute_pbo(m: np.ndarray, s: int) -> tuple[float, list[float], list[tuple[float, float]]]:
    """CSCV written out: every half of the blocks, Sharpes recomputed from the rows."""
    t, n = m.shape
    size = t // s
    m = m[t - size * s :]
    blocks = [m[i * size : (i + 1) * size] for i in range(s)]
    lambdas, pairs = [], []
    for combo in itertools.combinations(range(s), s // 2):
        train = np.vstack([blocks[i] for i in combo])
        test = np.vstack([blocks[i] for i in range(s) if i not in combo])
        is_sr = [_sharpe(train[:, j]) for j in range(n)]
        oos_sr = [_sharpe(test[:, j]) for j in range(n)]
        best = int(np.argmax(is_sr))
        rank = scipy.stats.rankdata(oos_sr)[best]  # average ranks, 1 = worst
        omega = rank / (n + 1)
        lambdas.append(math.log(omega / (1 - omega)))
        pairs.append((is_sr[best], oos_sr[best]))
    return float(np.mean(np.array(lambdas) <= 0)), lambdas, pairs


@pytest.mark.parametrize(("t", "n", "s"), [(60, 4, 4), (83, 7, 6), (101, 3, 8)])
def test_pbo_matches_brute_force_cscv(t, n, s):
    rng = np.random.default_rng(t)
    m = rng.normal(0.0, 0.01, (t, n)) + rng.normal(0, 0.001, n)
    got = stats.pbo(m, n_splits=s)
    value, lambdas, pairs = _brute_pbo(m, s)
    assert got.pbo == value
    assert got.dropped_rows == t % s
    np.testing.assert_allclose(got.lambdas, lambdas, rtol=1e-12)
    np.testing.assert_allclose(got.is_sharpe, [p[0] for p in pairs], rtol=1e-9)
    np.testing.assert_allclose(got.oos_sharpe, [p[1] for p in pairs], rtol=1e-9)


def test_pbo_known_cases():
    rng = np.random.default_rng(11)
    noise = rng.normal(0.0, 0.01, (1600, 20))
    assert 0.3 < stats.pbo(noise, 10).pbo < 0.7
    dominant = noise.copy()
    dominant[:, 3] += 0.01  # Sharpe ~1 per day: best in and out of sample
    assert stats.pbo(dominant, 10).pbo < 0.01


def test_pbo_near_half_for_iid_noise_on_average():
    values = [
        stats.pbo(np.random.default_rng(s).normal(0, 0.01, (400, 10)), 8).pbo for s in range(20)
    ]
    assert 0.4 < float(np.mean(values)) < 0.6


def test_bad_input_is_a_lazyflow_error():
    with pytest.raises(DataError, match="returns"):
        stats.sharpe_std(np.array([1.0, np.nan, 2.0, 3.0]))
    with pytest.raises(DataError, match="at least 3"):
        stats.probabilistic_sharpe([0.1, 0.2])
    with pytest.raises(ConfigError, match="n_trials"):
        stats.expected_max_sharpe(0, 0.1)
    with pytest.raises(ConfigError, match="lags"):
        stats.newey_west_tstat(np.ones(5), -1)
    with pytest.raises(ConfigError, match="n_splits"):
        stats.pbo(np.zeros((40, 3)), 5)
    with pytest.raises(DataError, match="blocks"):
        stats.pbo(np.zeros((10, 3)), 16)
    with pytest.raises(DataError, match="N >= 2"):
        stats.pbo(np.zeros((40, 1)), 4)


def test_pbo_in_chunks_equals_one_pass(monkeypatch):
    m = np.random.default_rng(2).normal(0, 0.01, (96, 9))
    whole = stats.pbo(m, 8)
    monkeypatch.setattr(stats, "PBO_CELLS", 20)  # 2 splits per chunk
    chunked = stats.pbo(m, 8)
    np.testing.assert_array_equal(chunked.lambdas, whole.lambdas)
    np.testing.assert_array_equal(chunked.is_sharpe, whole.is_sharpe)
    np.testing.assert_array_equal(chunked.oos_sharpe, whole.oos_sharpe)
