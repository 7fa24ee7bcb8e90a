"""Maximum-likelihood fits of the scenario's parameters from an attempts table.

Every fit returns a frozen dataclass with point estimates, 95% intervals (:class:`Estimate`),
the data counts, the observation window and a goodness-of-fit test (:class:`GoodnessOfFit`).

* :func:`fit_durations` - per step, lognormal by maximum likelihood (sigma with divisor n,
  censored or not) from completed attempts,
  with attempts killed by a crash, a deployment or a timeout as right-censored durations (the
  attempt would have lasted at least its elapsed time); distribution-free order-statistic
  intervals for the empirical median and p95; Lilliefors (Monte Carlo KS) test.
* :func:`fit_crashes` - worker time to failure, exponential and Weibull, maximum likelihood with
  right-censoring: every attempt is exposure; a crashed attempt is an event at its elapsed
  time, any other attempt is censored at its elapsed time. Profile-likelihood intervals; the
  model with the lower AIC is chosen and both are reported. :func:`naive_crash_fit` ignores the
  censored attempts (biased; kept to show the bias).
* :func:`fit_rate_limits` - per-call 429 probability per step (and per model) with Wilson
  intervals; chi-square homogeneity test across steps; Retry-After distribution.
* :func:`fit_deploys` - periodic (period, jitter) against Poisson (rate) by AIC.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from sim.calibrate.attempts import WAIT_KINDS, WORKER_KINDS, observation_window
from sim.calibrate.errors import DataError

LEVEL = 0.95
_Z = float(stats.norm.ppf(0.5 + LEVEL / 2))  # 1.96
_CHI2_HALF = float(stats.chi2.ppf(LEVEL, 1)) / 2  # 1.92: profile-likelihood drop
_Z95 = float(stats.norm.ppf(0.95))  # 1.645: the p95 of a lognormal is exp(mu + 1.645 sigma)
CENSORING_OUTCOMES = ("crashed", "killed_by_deploy", "timed_out")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval [low, high]."""

    value: float
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class GoodnessOfFit:
    """A goodness-of-fit test: name, statistic, p-value (NaN when too little data)."""

    test: str
    statistic: float
    p_value: float


@dataclass(frozen=True)
class DurationFit:
    """Durations of one step (or another positive sample such as Retry-After)."""

    step: str
    dist: str  # "lognormal" | "fixed"
    median_s: Estimate
    p95_s: Estimate
    mu: float  # log-scale location
    sigma: float  # log-scale sd
    empirical_median_s: Estimate
    empirical_p95_s: Estimate
    mean_s: float  # sample mean of the uncensored values
    n: int  # uncensored values (completed attempts)
    n_censored: int
    window: tuple[float, float]
    gof: GoodnessOfFit


@dataclass(frozen=True)
class CrashModelFit:
    """One time-to-failure model: parameters with intervals, log-likelihood, AIC."""

    distribution: str  # "exponential" | "weibull"
    params: dict[str, Estimate]  # exponential: mtbf_s; weibull: shape, scale_s, mttf_s
    log_likelihood: float
    aic: float
    gof: GoodnessOfFit

    @property
    def mttf_s(self) -> Estimate:
        """Mean time to failure (MTBF for the exponential)."""
        return self.params["mtbf_s"] if self.distribution == "exponential" else self.params[
            "mttf_s"]


@dataclass(frozen=True)
class CrashFit:
    """Worker crashes: both models, the AIC choice, and the data behind them."""

    exponential: CrashModelFit
    weibull: CrashModelFit | None
    chosen: str
    n_attempts: int  # attempts (or worker lives) used as exposure
    n_crashes: int
    exposure_s: float
    age: str  # "attempt" (age = attempt running time) | "worker" (age = worker_id life)
    n_inferred_excluded: int  # attempts with unknown times (Temporal retries) left out
    window: tuple[float, float]
    lr_test: GoodnessOfFit  # Weibull against exponential (shape = 1)
    ages_s: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.empty(0))
    events: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.empty(0))

    @property
    def best(self) -> CrashModelFit:
        return self.weibull if (self.chosen == "weibull" and self.weibull) else self.exponential


@dataclass(frozen=True)
class Proportion:
    """k events in n trials with its Wilson interval."""

    k: int
    n: int
    p: Estimate


@dataclass(frozen=True)
class RateLimitFit:
    """Per-call 429 probability."""

    per_step: dict[str, Proportion]
    per_model: dict[str, Proportion]
    steps: tuple[str, ...]  # steps with at least one 429 (the pooled estimate's steps)
    pooled: Proportion
    n_inferred: int  # attempts known only from Temporal's attempt counter
    window: tuple[float, float]
    gof: GoodnessOfFit  # homogeneity of the probability across `steps`
    retry_after: DurationFit | None


@dataclass(frozen=True)
class DeployFit:
    """Deployment process: periodic against Poisson."""

    mode: str  # "periodic" | "poisson"
    period_s: Estimate  # mean gap (t interval)
    jitter_s: float  # sd of the gaps
    mean_interval_s: Estimate  # 1 / rate, exact Poisson (gamma) interval
    cv: float  # coefficient of variation of the gaps (~0 periodic, ~1 Poisson)
    aic_periodic: float
    aic_poisson: float
    n_deploys: int
    window: tuple[float, float]
    gof: GoodnessOfFit  # Lilliefors KS of the gaps against the chosen model
    gaps_s: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.empty(0))


# --------------------------------------------------------------------------- helpers


def wilson(k: int, n: int) -> Proportion:
    """Wilson score interval for k successes in n trials."""
    if n <= 0:
        return Proportion(k, n, Estimate(float("nan"), 0.0, 1.0))
    p = k / n
    den = 1 + _Z**2 / n
    centre = (p + _Z**2 / (2 * n)) / den
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / den
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Proportion(k, n, Estimate(p, low, high))


def _order_stat_ci(x_sorted: np.ndarray, q: float) -> Estimate:
    """Empirical q-quantile with a distribution-free interval from order statistics."""
    n = len(x_sorted)
    value = float(np.quantile(x_sorted, q))
    lo_i = int(stats.binom.ppf((1 - LEVEL) / 2, n, q))  # x_(lo_i) is the lower bound (1-based)
    hi_i = int(stats.binom.ppf(1 - (1 - LEVEL) / 2, n, q)) + 1
    low = float(x_sorted[lo_i - 1]) if lo_i >= 1 else float("nan")
    high = float(x_sorted[hi_i - 1]) if hi_i <= n else float("nan")
    return Estimate(value, low, high)


def _lilliefors(x: np.ndarray, family: str, seed: int = 20260401) -> GoodnessOfFit:
    """KS test with estimated parameters; p-value by Monte Carlo from the parametric null.

    family "normal" (location and scale estimated) or "exponential" (scale estimated). The
    null distribution of the statistic does not depend on the true parameters, so it is
    simulated once with standard variates.
    """
    n = len(x)
    if n < 5:
        return GoodnessOfFit(f"Lilliefors KS ({family})", float("nan"), float("nan"))

    def stat(rows: np.ndarray) -> np.ndarray:
        rows = np.sort(rows, axis=-1)
        if family == "normal":
            sd = rows.std(axis=-1, ddof=1, keepdims=True)
            cdf = stats.norm.cdf((rows - rows.mean(axis=-1, keepdims=True)) / np.where(
                sd > 0, sd, 1.0))
        else:
            cdf = 1.0 - np.exp(-rows / rows.mean(axis=-1, keepdims=True))
        i = np.arange(1, n + 1)
        return np.maximum((i / n - cdf).max(axis=-1), (cdf - (i - 1) / n).max(axis=-1))

    d = float(stat(np.asarray(x, dtype=float)[None, :])[0])
    n_mc = int(max(199, min(999, 4_000_000 // n)))
    rng = np.random.default_rng(seed)
    null = rng.standard_normal((n_mc, n)) if family == "normal" else rng.exponential(
        size=(n_mc, n))
    d_null = stat(null)
    p = (1 + int((d_null >= d).sum())) / (n_mc + 1)
    return GoodnessOfFit(f"Lilliefors KS ({family}, {n_mc} MC)", d, p)


# --------------------------------------------------------------------------- durations


def fit_positive(values: np.ndarray, *, name: str, censored: np.ndarray | None = None,
                 window: tuple[float, float] = (float("nan"), float("nan"))) -> DurationFit:
    """Lognormal (or fixed) fit of positive values; ``censored`` are right-censored values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    c = np.asarray(censored if censored is not None else [], dtype=float)
    c = c[np.isfinite(c) & (c > 0)]
    n = len(x)
    if n == 0:
        raise DataError(f"no completed attempts with a positive duration for {name!r}")
    xs = np.sort(x)
    emp_med, emp_p95 = _order_stat_ci(xs, 0.5), _order_stat_ci(xs, 0.95)
    if n == 1:  # one observation: its value, and no interval (nothing to say how it varies)
        v = float(xs[0])
        one = Estimate(v, float("nan"), float("nan"))
        return DurationFit(name, "fixed", one, one, math.log(v), 0.0, one, one, v, n, len(c),
                           window, GoodnessOfFit("one observation", float("nan"), float("nan")))
    if xs[-1] - xs[0] <= 1e-9 * xs[-1]:
        v = float(np.median(xs))
        fixed = Estimate(v, float(xs[0]), float(xs[-1]))
        return DurationFit(name, "fixed", fixed, fixed, math.log(v), 0.0, emp_med, emp_p95,
                           float(x.mean()), n, len(c), window,
                           GoodnessOfFit("all values equal", float("nan"), float("nan")))
    y, yc = np.log(x), np.log(c)
    relevant = yc[yc > y.min()]  # censored below every completion carry almost no information
    if len(relevant) == 0:
        # maximum likelihood: mu = mean of the logs, sigma = their sd with divisor n
        # (ddof = 0); the interval of mu is the exact t-interval (with the unbiased sd)
        mu = float(y.mean())
        sd = float(y.std(ddof=0))
        s_unbiased = float(y.std(ddof=1))
        t = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1))
        se_mu = s_unbiased / math.sqrt(n)
        med = Estimate(math.exp(mu), math.exp(mu - t * se_mu), math.exp(mu + t * se_mu))
        # var(mu) = sigma^2 / n, var(sigma_mle) ~ sigma^2 / (2 n) (observed information)
        se_q = math.sqrt(sd**2 / n + _Z95**2 * sd**2 / (2 * n))
        q = mu + _Z95 * sd
        p95 = Estimate(math.exp(q), math.exp(q - _Z * se_q), math.exp(q + _Z * se_q))
    else:
        mu, sd, cov = _censored_lognormal(y, yc)
        se_mu = math.sqrt(cov[0, 0])
        med = Estimate(math.exp(mu), math.exp(mu - _Z * se_mu), math.exp(mu + _Z * se_mu))
        # q = mu + z sigma, sigma = exp(s): var q = var mu + (z sigma)^2 var s + 2 z sigma cov
        g = np.array([1.0, _Z95 * sd])
        se_q = math.sqrt(float(g @ cov @ g))
        q = mu + _Z95 * sd
        p95 = Estimate(math.exp(q), math.exp(q - _Z * se_q), math.exp(q + _Z * se_q))
    return DurationFit(name, "lognormal", med, p95, mu, sd, emp_med, emp_p95, float(x.mean()),
                       n, len(c), window, _lilliefors(y, "normal"))


def _censored_lognormal(y: np.ndarray, yc: np.ndarray) -> tuple[float, float, np.ndarray]:
    """MLE of (mu, sigma) of log-durations y with right-censored yc; covariance of (mu, log s)."""

    def nll(theta: np.ndarray) -> float:
        mu, s = theta
        sig = math.exp(s)
        z = (y - mu) / sig
        zc = (yc - mu) / sig
        return float(-(stats.norm.logpdf(z).sum() - len(y) * s) - stats.norm.logsf(zc).sum())

    start = np.array([y.mean(), math.log(max(y.std(), 1e-6))])
    res = optimize.minimize(nll, start, method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 4000})
    theta = res.x
    hess = _hessian(nll, theta)
    cov = np.linalg.inv(hess)
    return float(theta[0]), float(math.exp(theta[1])), cov


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    k = len(x)
    out = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            out[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h * h)
    return out


def fit_durations(attempts: pd.DataFrame, *, censor: Sequence[str] = CENSORING_OUTCOMES
                  ) -> dict[str, DurationFit]:
    """Per-step duration fits (steps in order of first appearance)."""
    known = attempts[~attempts["inferred"]]
    window = observation_window(attempts)
    out: dict[str, DurationFit] = {}
    for step in pd.unique(attempts["step"]):
        rows = known[known["step"] == step]
        done = rows.loc[rows["outcome"] == "completed", "duration_s"].to_numpy(dtype=float)
        cens = rows.loc[rows["outcome"].isin(list(censor)), "duration_s"].to_numpy(dtype=float)
        if len(done) == 0:
            continue
        out[str(step)] = fit_positive(done, name=str(step), censored=cens, window=window)
    if not out:
        raise DataError(_no_completion(attempts), file=attempts.attrs.get("source"))
    return out


def _no_completion(attempts: pd.DataFrame) -> str:
    """The refusal when no step completed with known times: what the data hold instead."""
    found = []
    for step, rows in attempts.groupby("step", sort=False):
        outcomes = ", ".join(f"{o} {k}" for o, k in rows["outcome"].value_counts().items())
        kind = ""
        if "kind" in rows.columns:
            kind = str(rows["kind"].iloc[0]).replace("_", " ") + " "
        inferred = int(rows["inferred"].sum())
        found.append(f"{kind}{step!r}: {len(rows)} attempt{'s' if len(rows) != 1 else ''} "
                     f"({outcomes}" + (f"; {inferred} without times" if inferred else "") + ")")
    infos = attempts.attrs.get("histories")
    if infos:
        from sim.calibrate.history_summary import summarise, summary_lines

        found += [line.strip() for line in summary_lines(summarise(infos))
                  if "workflow time" not in line]
    return ("no step completed with known start and end times, so no duration can be fitted "
            "(found " + "; ".join(found) + ")")


# --------------------------------------------------------------------------- crashes


def worker_attempts(attempts: pd.DataFrame) -> pd.DataFrame:
    """The attempts that ran on a worker: activities and local activities (a table without a
    ``kind`` column holds only those)."""
    if "kind" not in attempts.columns:
        return attempts
    out = attempts[attempts["kind"].isin(list(WORKER_KINDS))]
    out.attrs.update(attempts.attrs)
    return out


def crash_exposure(attempts: pd.DataFrame, *, age: str = "auto"
                   ) -> tuple[np.ndarray, np.ndarray, str, int]:
    """(ages at exit, event flags, age kind, number of inferred attempts left out).

    ``age="attempt"``: each attempt is one exposure interval from 0 to its running time.
    ``age="worker"``: each worker_id life (split after each crash) is one interval from its
    first attempt's start to its last attempt's end (or the crash). ``"auto"`` picks worker
    when every attempt has a worker_id. Child workflows and waits (``kind`` column of Temporal
    histories) are not attempts on a worker and are left out (:func:`worker_attempts`).
    """
    attempts = worker_attempts(attempts)
    known = attempts[~attempts["inferred"]]
    n_inf = int(attempts["inferred"].sum())
    has_worker = "worker_id" in known.columns and known["worker_id"].notna().all() and len(
        known) > 0
    if age == "auto":
        age = "worker" if has_worker else "attempt"
    if age == "attempt":
        t = known["duration_s"].to_numpy(dtype=float)
        d = (known["outcome"] == "crashed").to_numpy()
        return t, d, "attempt", n_inf
    if not has_worker:
        raise DataError("age='worker' needs a worker_id on every attempt",
                        file=attempts.attrs.get("source"))
    ages: list[float] = []
    events: list[bool] = []
    for _, g in known.sort_values(["worker_id", "start_s"]).groupby("worker_id", sort=False):
        birth: float | None = None
        last = 0.0
        for start, end, outcome in zip(g["start_s"], g["end_s"], g["outcome"], strict=True):
            if birth is None:
                birth, last = float(start), float(start)
            last = max(last, float(end))
            if outcome == "crashed":
                ages.append(last - birth)
                events.append(True)
                birth = None  # the next attempt of this id starts a new life
        if birth is not None:
            ages.append(last - birth)
            events.append(False)
    return np.asarray(ages), np.asarray(events, dtype=bool), "worker", n_inf


def _profile_interval(prof: Callable[[float], float], x_hat: float, l_max: float,
                      lo: float, hi: float) -> tuple[float, float]:
    """Where the profile log-likelihood (of log x) drops by chi2_1(0.95)/2 on each side."""

    def g(u: float) -> float:
        return prof(u) - (l_max - _CHI2_HALF)

    u_hat = math.log(x_hat)
    bounds = []
    for edge, unbounded in ((lo, 0.0), (hi, math.inf)):
        if g(edge) > 0:  # still inside the interval at the search edge
            bounds.append(unbounded)
        else:
            a, b = sorted((edge, u_hat))
            bounds.append(math.exp(optimize.brentq(g, a, b, xtol=1e-10)))
    return bounds[0], bounds[1]


def _exp_fit(t: np.ndarray, d: np.ndarray) -> tuple[float, float, float]:
    """(mtbf, low, high) and its log-likelihood pieces; profile-likelihood interval."""
    total, k = float(t.sum()), int(d.sum())
    if k == 0:
        return math.inf, total / _CHI2_HALF, math.inf
    lam = k / total

    def prof(u: float) -> float:  # log-likelihood at MTBF = exp(u)
        return -k * u - total * math.exp(-u)

    low, high = _profile_interval(prof, 1 / lam, prof(math.log(1 / lam)),
                                  math.log(1 / lam) - 50, math.log(1 / lam) + 50)
    return 1 / lam, low, high


def _cox_snell_gof(h_exit: np.ndarray, d: np.ndarray, n_params: int) -> GoodnessOfFit:
    """Grouped Cox-Snell residual test for right-censored data (approximate chi-square).

    Under the fitted model the cumulative hazards H(t_i) are a censored Exp(1) sample. Bins of
    H are cut at quantiles of the event residuals; observed events per bin are compared with
    the expected number, the total hazard accumulated inside the bin; df = bins - parameters.
    """
    k = int(d.sum())
    if k < 10:
        return GoodnessOfFit("grouped Cox-Snell chi-square", float("nan"), float("nan"))
    bins = int(max(n_params + 1, min(10, k // 5)))
    cuts = np.quantile(h_exit[d], np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.concatenate([[0.0], cuts, [np.inf]])
    obs = np.histogram(h_exit[d], bins=edges)[0].astype(float)
    exp = np.array([np.clip(h_exit, a, b).sum() - a * len(h_exit) for a, b in
                    zip(edges[:-1], edges[1:], strict=True)])
    exp = np.maximum(exp, 1e-12)
    x2 = float(((obs - exp) ** 2 / exp).sum())
    df = max(1, bins - n_params)
    return GoodnessOfFit(f"grouped Cox-Snell chi-square ({bins} bins, df {df})", x2,
                         float(stats.chi2.sf(x2, df)))


def _exponential_model(t: np.ndarray, d: np.ndarray) -> CrashModelFit:
    mtbf, low, high = _exp_fit(t, d)
    k, total = int(d.sum()), float(t.sum())
    ll = (-k * math.log(mtbf) - total / mtbf) if k > 0 else 0.0
    gof = _cox_snell_gof(t / mtbf, d, 1) if k > 0 else GoodnessOfFit(
        "grouped Cox-Snell chi-square", float("nan"), float("nan"))
    return CrashModelFit("exponential", {"mtbf_s": Estimate(mtbf, low, high)}, ll, 2 - 2 * ll,
                         gof)


def _weibull_model(t: np.ndarray, d: np.ndarray) -> CrashModelFit | None:
    k_ev = int(d.sum())
    te = t[d]
    if k_ev < 2 or np.ptp(te) <= 0:
        return None
    ref = float(np.median(te))  # rescale times for numerical stability
    u = t / ref
    lu = np.log(np.where(d, u, 1.0))
    sum_log_ev = float(lu[d].sum())
    pos = u > 0

    def loglik(shape: float, scale: float) -> float:  # scale in units of ref
        z = u[pos] / scale
        return (k_ev * math.log(shape) - k_ev * shape * math.log(scale)
                + (shape - 1) * sum_log_ev - float(np.power(z, shape).sum()))

    def scale_hat(shape: float) -> float:
        return float(np.power(u[pos], shape).sum() / k_ev) ** (1 / shape)

    def prof_shape(ls: float) -> float:
        s = math.exp(ls)
        return loglik(s, scale_hat(s))

    res = optimize.minimize_scalar(lambda ls: -prof_shape(ls), bounds=(math.log(0.02),
                                   math.log(50)), method="bounded",
                                   options={"xatol": 1e-10})
    shape = math.exp(res.x)
    scale = scale_hat(shape)
    l_max = loglik(shape, scale)
    sh_lo, sh_hi = _profile_interval(prof_shape, shape, l_max, math.log(0.01), math.log(100))

    def prof_fixed(target: Callable[[float], float]) -> Callable[[float], float]:
        """Profile over shape with scale = exp(v) / target(shape): fixes scale or the mean."""

        def prof(v: float) -> float:
            r = optimize.minimize_scalar(
                lambda ls: -loglik(math.exp(ls), math.exp(v) / target(math.exp(ls))),
                bounds=(math.log(0.02), math.log(50)), method="bounded",
                options={"xatol": 1e-8})
            return -float(r.fun)

        return prof

    def gamma_factor(s: float) -> float:
        return math.exp(special.gammaln(1 + 1 / s))

    sc_lo, sc_hi = _profile_interval(prof_fixed(lambda s: 1.0), scale, l_max,
                                     math.log(scale) - 20, math.log(scale) + 20)
    mean = scale * gamma_factor(shape)
    m_lo, m_hi = _profile_interval(prof_fixed(gamma_factor), mean, l_max,
                                   math.log(mean) - 20, math.log(mean) + 20)
    ll = l_max - k_ev * math.log(ref)  # back to seconds: each event density gains 1/ref
    params = {
        "shape": Estimate(shape, sh_lo, sh_hi),
        "scale_s": Estimate(scale * ref, sc_lo * ref, sc_hi * ref),
        "mttf_s": Estimate(mean * ref, m_lo * ref, m_hi * ref),
    }
    gof = _cox_snell_gof(np.power(u / scale, shape), d, 2)
    return CrashModelFit("weibull", params, ll, 4 - 2 * ll, gof)


def fit_crashes(attempts: pd.DataFrame, *, age: str = "auto") -> CrashFit:
    """Exponential and Weibull time-to-failure fits with right-censoring (see crash_exposure)."""
    t, d, kind, n_inf = crash_exposure(attempts, age=age)
    if len(t) == 0:
        raise DataError("no attempts with known start and end times: cannot fit crashes",
                        file=attempts.attrs.get("source"))
    expo = _exponential_model(t, d)
    weib = _weibull_model(t, d)
    chosen = "weibull" if weib is not None and weib.aic < expo.aic else "exponential"
    if weib is not None:
        lr = max(0.0, 2 * (weib.log_likelihood - expo.log_likelihood))
        lr_test = GoodnessOfFit("likelihood ratio, Weibull vs exponential (df 1)", lr,
                                float(stats.chi2.sf(lr, 1)))
    else:
        lr_test = GoodnessOfFit("likelihood ratio, Weibull vs exponential (df 1)",
                                float("nan"), float("nan"))
    return CrashFit(expo, weib, chosen, len(t), int(d.sum()), float(t.sum()), kind, n_inf,
                    observation_window(attempts), lr_test, ages_s=t, events=d)


def naive_crash_fit(attempts: pd.DataFrame) -> CrashModelFit:
    """Exponential fit from crashed attempts only, ignoring every censored attempt.

    Wrong on purpose: it estimates the MTBF as the mean running time of crashed attempts, which
    can never exceed the attempt length. Kept to show the bias that censoring removes.
    """
    t, d, _, _ = crash_exposure(attempts, age="attempt")
    if not d.any():
        raise DataError("no crashed attempts: the naive fit needs at least one",
                        file=attempts.attrs.get("source"))
    return _exponential_model(t[d], d[d])


# --------------------------------------------------------------------------- rate limits


def fit_rate_limits(attempts: pd.DataFrame) -> RateLimitFit | None:
    """Per-call 429 probability per step and model; None when there are no 429s at all."""
    attempts = worker_attempts(attempts)
    rl = attempts["outcome"] == "rate_limited"
    if not rl.any():
        return None
    per_step = {str(s): wilson(int(g["outcome"].eq("rate_limited").sum()), len(g))
                for s, g in attempts.groupby("step", sort=False)}
    per_model: dict[str, Proportion] = {}
    if "model" in attempts.columns and attempts["model"].notna().any():
        per_model = {str(m): wilson(int(g["outcome"].eq("rate_limited").sum()), len(g))
                     for m, g in attempts[attempts["model"].notna()].groupby("model", sort=False)}
    steps = tuple(s for s, pr in per_step.items() if pr.k > 0)
    k = sum(per_step[s].k for s in steps)
    n = sum(per_step[s].n for s in steps)
    if len(steps) >= 2:
        table = np.array([[per_step[s].k, per_step[s].n - per_step[s].k] for s in steps])
        chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
        gof = GoodnessOfFit(f"chi-square homogeneity across steps (df {dof})", float(chi2),
                            float(p))
    else:
        gof = GoodnessOfFit("chi-square homogeneity across steps", float("nan"), float("nan"))
    ra = attempts.loc[rl, "retry_after_s"] if "retry_after_s" in attempts.columns else None
    retry_after = None
    if ra is not None:
        vals = ra.to_numpy(dtype=float)
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals) > 0:
            retry_after = fit_positive(vals, name="retry_after",
                                       window=observation_window(attempts))
    return RateLimitFit(per_step, per_model, steps, wilson(k, n),
                        int(attempts.loc[rl, "inferred"].sum()), observation_window(attempts),
                        gof, retry_after)


# --------------------------------------------------------------------------- deployments


def fit_deploys(times_s: np.ndarray) -> DeployFit:
    """Periodic (normal gaps: period, jitter) against Poisson (exponential gaps) by AIC."""
    t = np.sort(np.asarray(times_s, dtype=float))
    g = np.diff(t)
    m = len(g)
    if m < 2:
        raise DataError(f"need at least 3 deployments to fit their process, got {len(t)}")
    mean = float(g.mean())
    sd = float(g.std(ddof=1))
    total = float(g.sum())
    # Poisson: gaps ~ Exp(rate), rate_hat = m / total; exact interval from sum ~ Gamma(m, rate)
    ll_pois = m * math.log(m / total) - m
    r_lo = stats.chi2.ppf((1 - LEVEL) / 2, 2 * m) / (2 * total)
    r_hi = stats.chi2.ppf(1 - (1 - LEVEL) / 2, 2 * m) / (2 * total)
    mean_interval = Estimate(total / m, 1 / r_hi, 1 / r_lo)
    # periodic with jitter: gaps ~ Normal(period, s^2), MLE s (floored for exact periods)
    s_mle = max(float(g.std(ddof=0)), 1e-6 * mean)
    ll_per = float(stats.norm.logpdf(g, mean, s_mle).sum())
    aic_pois, aic_per = 2 - 2 * ll_pois, 4 - 2 * ll_per
    tq = float(stats.t.ppf(0.5 + LEVEL / 2, m - 1))
    period = Estimate(mean, mean - tq * sd / math.sqrt(m), mean + tq * sd / math.sqrt(m))
    mode = "periodic" if aic_per < aic_pois else "poisson"
    gof = _lilliefors(g, "normal" if mode == "periodic" else "exponential")
    return DeployFit(mode, period, sd, mean_interval, sd / mean, aic_per, aic_pois, len(t),
                     (float(t[0]), float(t[-1])), gof, gaps_s=g)


# --------------------------------------------------------------------------- everything


@dataclass(frozen=True)
class Calibration:
    """All fits of one data set."""

    source: str
    n_attempts: int
    n_inferred: int
    n_workflows: int
    window: tuple[float, float]
    outcome_counts: dict[str, int]
    durations: dict[str, DurationFit]
    crashes: CrashFit | None  # None: no attempt ran on a worker (only children and waits)
    naive_crashes: CrashModelFit | None
    rate_limits: RateLimitFit | None
    deploys: DeployFit | None


def calibrate(attempts: pd.DataFrame, deploy_times_s: np.ndarray | None = None, *,
              age: str = "auto") -> Calibration:
    """Run every fit on a normalised attempts table (and deployment instants, if any).

    Crashes are fitted from the attempts that ran on a worker (:func:`worker_attempts`); a
    table without any (only child workflows and waits) gets ``crashes = None``. Attempt counts
    and outcomes leave waits out (a wait is not an attempt).
    """
    work = worker_attempts(attempts)
    crashes = fit_crashes(attempts, age=age) if len(work) else None
    naive = naive_crash_fit(attempts) if crashes is not None and crashes.n_crashes > 0 else None
    steps = attempts if "kind" not in attempts.columns else attempts[
        ~attempts["kind"].isin(list(WAIT_KINDS))]
    counts = {o: int(c) for o, c in steps["outcome"].value_counts().items()}
    return Calibration(
        source=str(attempts.attrs.get("source", "<attempts>")),
        n_attempts=len(steps),
        n_inferred=int(steps["inferred"].sum()),
        n_workflows=int(attempts["workflow_id"].nunique()),
        window=observation_window(attempts),
        outcome_counts=counts,
        durations=fit_durations(attempts),
        crashes=crashes,
        naive_crashes=naive,
        rate_limits=fit_rate_limits(attempts),
        deploys=fit_deploys(deploy_times_s) if deploy_times_s is not None else None,
    )
