"""Power-law fits of heavy tails by maximum likelihood (Clauset, Shalizi & Newman 2009).

No dependency beyond SciPy: the exponent is the maximum-likelihood estimate
above ``x_min``, ``x_min`` minimises the Kolmogorov–Smirnov distance between
the data and the fit, and the fit is compared with an exponential and a
log-normal tail (fitted on the same data by maximum likelihood) by the
log-likelihood ratio and Vuong's test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

__all__ = ["PowerLawFit", "Comparison", "fit_power_law"]

#: Fewest values above x_min a fit may rest on.
MIN_TAIL = 10


@dataclass(frozen=True)
class Comparison:
    """The power law against one alternative tail, by log-likelihood ratio (CSN §5).

    Attributes
    ----------
    alternative : str
        ``"exponential"`` or ``"lognormal"``.
    loglik_ratio : float
        ``R``, the sum over the tail of ``log p_powerlaw(x) - log p_alternative(x)``:
        positive favours the power law, negative the alternative.
    normalized_ratio : float
        ``R / (sigma * sqrt(n))``, ``sigma`` the standard deviation of the
        pointwise differences; about standard normal if both fit equally well.
    p_value : float
        Vuong's two-sided p-value for the sign of ``R``; a small value (say
        < 0.1) means the sign can be trusted.
    params : dict
        The alternative's fitted parameters (``lambda``; ``mu`` and ``sigma``).

    Examples
    --------
    >>> Comparison("exponential", 12.0, 3.1, 0.002, {"lambda": 0.5}).favoured
    'power law'
    """

    alternative: str
    loglik_ratio: float
    normalized_ratio: float
    p_value: float
    params: dict = field(default_factory=dict)

    @property
    def favoured(self) -> str:
        """``"power law"``, the alternative's name, or ``"neither"`` (p >= 0.1)."""
        if self.p_value >= 0.1 or self.loglik_ratio == 0:
            return "neither"
        return "power law" if self.loglik_ratio > 0 else self.alternative


@dataclass(frozen=True)
class PowerLawFit:
    """A power-law tail ``p(x) ~ x^-alpha`` for ``x >= xmin``, and how it compares.

    Attributes
    ----------
    alpha : float
        The exponent (maximum-likelihood estimate).
    alpha_error : float
        Its standard error, ``(alpha - 1) / sqrt(n_tail)``.
    xmin : float
        Where the tail starts (chosen by the KS distance unless given).
    n_tail, n : int
        Number of values ``>= xmin``, and of positive values in all.
    ks_distance : float
        Kolmogorov–Smirnov distance between the tail and the fit.
    discrete : bool
        Whether the discrete (integer, Hurwitz zeta) or continuous model was fitted.
    comparisons : dict of str to Comparison
        Against ``"exponential"`` and ``"lognormal"`` tails.

    Examples
    --------
    >>> x = np.floor(np.random.default_rng(0).pareto(1.5, 5000) + 1)
    >>> fit = fit_power_law(x)
    >>> 2.2 < fit.alpha < 2.8, fit.comparisons["exponential"].favoured
    (True, 'power law')
    """

    alpha: float
    alpha_error: float
    xmin: float
    n_tail: int
    n: int
    ks_distance: float
    discrete: bool
    comparisons: dict = field(default_factory=dict)

    def ccdf(self, x: np.ndarray) -> np.ndarray:
        """Return the fitted ``P(X >= x | X >= xmin)`` at ``x >= xmin``."""
        x = np.asarray(x, dtype=np.float64)
        if self.discrete:
            return special.zeta(self.alpha, x) / special.zeta(self.alpha, self.xmin)
        return (x / self.xmin) ** (1.0 - self.alpha)

    def __str__(self) -> str:
        kind = "discrete" if self.discrete else "continuous"
        lines = [
            f"power law ({kind}): alpha = {self.alpha:.3f} ± {self.alpha_error:.3f}, "
            f"xmin = {self.xmin:g} ({self.n_tail} of {self.n} values in the tail), "
            f"KS distance = {self.ks_distance:.4f}"
        ]
        for c in self.comparisons.values():
            lines.append(
                f"  vs {c.alternative}: R = {c.loglik_ratio:.2f}, normalized = {c.normalized_ratio:.2f}, "
                f"p = {c.p_value:.3g} -> {c.favoured}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- models
def _log_zeta(alpha: float, xmin: float) -> float:
    return math.log(special.zeta(alpha, xmin))


def _alpha_discrete(n: float, sum_log: float, xmin: float) -> float:
    """Maximise ``-n log zeta(alpha, xmin) - alpha * sum(log x)`` over alpha > 1."""
    result = optimize.minimize_scalar(
        lambda a: n * _log_zeta(a, xmin) + a * sum_log,
        bounds=(1.0 + 1e-6, 50.0),
        method="bounded",
        options={"xatol": 1e-7},
    )
    return float(result.x)


def _powerlaw_logpdf(x: np.ndarray, alpha: float, xmin: float, discrete: bool) -> np.ndarray:
    if discrete:
        return -alpha * np.log(x) - _log_zeta(alpha, xmin)
    return math.log(alpha - 1.0) - math.log(xmin) - alpha * np.log(x / xmin)


def _exponential(x: np.ndarray, xmin: float, discrete: bool) -> tuple[np.ndarray, dict]:
    gap = float(np.mean(x - xmin))
    if discrete:  # p(x) = (1 - e^-lam) e^(-lam (x - xmin))
        lam = math.log1p(1.0 / gap)
        return math.log(-math.expm1(-lam)) - lam * (x - xmin), {"lambda": lam}
    lam = 1.0 / gap
    return math.log(lam) - lam * (x - xmin), {"lambda": lam}


def _log_normal_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return ``log(Phi(b) - Phi(a))`` for ``a < b``, accurate in both tails."""
    upper = a > 0  # there, use survival functions: Phi(b) - Phi(a) = Q(a) - Q(b)
    hi = np.where(upper, special.log_ndtr(-a), special.log_ndtr(b))
    lo = np.where(upper, special.log_ndtr(-b), special.log_ndtr(a))
    return hi + np.log1p(-np.exp(np.minimum(lo - hi, 0.0)))


def _lognormal_logpdf(x: np.ndarray, xmin: float, discrete: bool, mu: float, sigma: float) -> np.ndarray:
    z_min = (math.log(xmin) - mu) / sigma
    log_tail = special.log_ndtr(-z_min)  # log P(X >= xmin)
    if discrete:  # mass of [x, x + 1) under the continuous log-normal
        a = (np.log(x) - mu) / sigma
        b = (np.log(x + 1.0) - mu) / sigma
        return _log_normal_mass(a, b) - log_tail
    z = (np.log(x) - mu) / sigma
    return -0.5 * z * z - np.log(x * sigma * math.sqrt(2.0 * math.pi)) - log_tail


def _lognormal(x: np.ndarray, xmin: float, discrete: bool) -> tuple[np.ndarray, dict]:
    logs = np.log(x)
    start = np.array([logs.mean(), math.log(max(logs.std(), 0.1))])
    result = optimize.minimize(
        lambda p: -_lognormal_logpdf(x, xmin, discrete, p[0], math.exp(p[1])).sum(),
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000},
    )
    mu, sigma = float(result.x[0]), math.exp(float(result.x[1]))
    return _lognormal_logpdf(x, xmin, discrete, mu, sigma), {"mu": mu, "sigma": sigma}


def _compare(name: str, log_pl: np.ndarray, log_alt: np.ndarray, params: dict) -> Comparison:
    d = log_pl - log_alt
    n = d.size
    r = float(d.sum())
    sigma = float(d.std())
    if sigma == 0.0 or not math.isfinite(sigma):
        return Comparison(name, r, 0.0, 1.0, params)
    return Comparison(
        name, r, r / (sigma * math.sqrt(n)), float(special.erfc(abs(r) / (sigma * math.sqrt(2 * n)))), params
    )


# --------------------------------------------------------------------------- fit
def _positive(data) -> np.ndarray:
    x = np.asarray(data, dtype=np.float64).ravel()
    return np.sort(x[np.isfinite(x) & (x > 0)])


def fittable(data) -> bool:
    """Return whether ``data`` has enough positive values for :func:`fit_power_law`.

    Examples
    --------
    >>> fittable([1, 2, 3]), fittable(np.arange(1, 20))
    (False, True)
    """
    x = _positive(data)
    return bool(x.size >= MIN_TAIL and x[0] != x[-1])


def fit_power_law(data, discrete: bool | None = None, xmin: float | None = None) -> PowerLawFit:
    """Fit a power-law tail ``p(x) ~ x^-alpha, x >= xmin`` to positive data, and test it.

    Following Clauset, Shalizi & Newman (2009): for each candidate ``xmin``
    (every distinct value leaving at least ``MIN_TAIL`` values and two distinct
    ones in the tail) the exponent is the maximum-likelihood estimate — for
    discrete data the maximiser of ``-n log zeta(alpha, xmin) - alpha sum log x``
    (Hurwitz zeta), for continuous data ``1 + n / sum log(x / xmin)`` — and the
    ``xmin`` whose fit has the smallest Kolmogorov–Smirnov distance to the
    tail wins. The tail is then compared with an exponential and a log-normal
    tail fitted to the same values by maximum likelihood (log-likelihood ratio
    with Vuong's p-value). The bootstrap goodness-of-fit p-value of CSN is not
    computed.

    Parameters
    ----------
    data : array-like
        Observations, e.g. node degrees; values <= 0 and non-finite ones are ignored.
    discrete : bool, optional
        Fit the discrete model (integers). Default: discrete if every value is an integer.
    xmin : float, optional
        Fix the start of the tail instead of choosing it.

    Returns
    -------
    PowerLawFit

    Raises
    ------
    ValueError
        If fewer than ``MIN_TAIL`` positive values (or only one distinct value)
        are in the tail.

    References
    ----------
    A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in
    empirical data", SIAM Review 51 (2009). Q. H. Vuong, "Likelihood ratio
    tests for model selection and non-nested hypotheses", Econometrica 57 (1989).

    Examples
    --------
    >>> x = np.random.default_rng(1).pareto(2.0, 2000) + 1.0  # alpha = 3, xmin = 1
    >>> fit = fit_power_law(x, xmin=1.0)
    >>> abs(fit.alpha - 3.0) < 5 * fit.alpha_error
    True
    """
    x = _positive(data)
    if discrete is None:
        discrete = bool(np.all(x == np.round(x)))
    if xmin is not None:
        x_fixed = x[x >= xmin]
        if not fittable(x_fixed):
            raise ValueError(
                f"fit_power_law needs at least {MIN_TAIL} values >= xmin = {xmin} and two distinct ones; "
                f"got {x_fixed.size}."
            )
    elif not fittable(x):
        raise ValueError(f"fit_power_law needs at least {MIN_TAIL} positive values, not all equal; got {x.size}.")
    values, counts = np.unique(x, return_counts=True)
    # Suffix sums over the distinct values: tail sizes and sums of logs for every candidate xmin.
    tail_n = np.cumsum(counts[::-1])[::-1]
    tail_log = np.cumsum((counts * np.log(values))[::-1])[::-1]
    if xmin is not None:
        candidates = [int(np.searchsorted(values, xmin))]
    else:
        candidates = np.flatnonzero((tail_n >= MIN_TAIL) & (np.arange(values.size) < values.size - 1)).tolist()
    best = None
    for j in candidates:
        x0 = float(values[j]) if xmin is None else float(xmin)
        n = float(tail_n[j])
        sum_log = float(tail_log[j])
        if discrete:
            alpha = _alpha_discrete(n, sum_log, x0)
            model_cdf = 1.0 - special.zeta(alpha, values[j:] + 1.0) / special.zeta(alpha, x0)
        else:
            alpha = 1.0 + n / (sum_log - n * math.log(x0))
            model_cdf = 1.0 - (values[j:] / x0) ** (1.0 - alpha)
        empirical = np.cumsum(counts[j:]) / n
        gap = np.abs(empirical - model_cdf)
        if not discrete:  # the empirical CDF jumps at each value: compare just below it too
            gap = np.maximum(gap, np.abs(empirical - counts[j:] / n - model_cdf))
        ks = float(gap.max())
        if best is None or ks < best[0]:
            best = (ks, j, x0, alpha)
    ks, j, x0, alpha = best
    tail = x[x >= x0]
    log_pl = _powerlaw_logpdf(tail, alpha, x0, discrete)
    comparisons = {}
    for name, fit in (("exponential", _exponential), ("lognormal", _lognormal)):
        log_alt, params = fit(tail, x0, discrete)
        comparisons[name] = _compare(name, log_pl, log_alt, params)
    return PowerLawFit(
        alpha=alpha,
        alpha_error=(alpha - 1.0) / math.sqrt(tail.size),
        xmin=x0,
        n_tail=int(tail.size),
        n=int(x.size),
        ks_distance=ks,
        discrete=discrete,
        comparisons=comparisons,
    )
