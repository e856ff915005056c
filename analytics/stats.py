"""The statistics the alert and risk rules test with, from statsmodels, imported on first use.

statsmodels (with scipy) takes about 1.5–3 s to import. Imported at the top of analytics/alerts.py, every
`python -m analytics …` command (reconcile, export, bank match) and every test process paid that before
doing anything; now only an evaluation that tests a slice does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = ["benjamini_hochberg", "two_proportion_p_value", "wilson_interval"]


def two_proportion_p_value(
    successes: int,
    attempts: int,
    base_successes: int,
    base_attempts: int,
    *,
    alternative: Literal["smaller", "larger"],
) -> float:
    """The p-value of a one-sided two-proportion z-test of successes/attempts against the baseline's
    (`smaller`: the first rate is below the baseline's). 1.0 when the pooled rate has no variance."""
    pooled = (successes + base_successes) / (attempts + base_attempts)
    if pooled in (0.0, 1.0):  # every attempt failed, or every one succeeded
        return 1.0
    from statsmodels.stats.proportion import proportions_ztest

    _, p_value = proportions_ztest(
        np.array([successes, base_successes]), np.array([attempts, base_attempts]), alternative=alternative
    )
    return float(p_value)


def wilson_interval(successes: int, attempts: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of successes/attempts."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, attempts, alpha=0.05, method="wilson")
    return float(low), float(high)


def benjamini_hochberg(
    p_values: Sequence[float], false_discovery_rate: float
) -> tuple[list[bool], list[float]]:
    """Which of the p-values are significant with the false-discovery rate held over all of them, and
    each one's adjusted p-value (q-value)."""
    from statsmodels.stats.multitest import multipletests

    reject, q_values, _, _ = multipletests(list(p_values), alpha=false_discovery_rate, method="fdr_bh")
    return [bool(r) for r in reject], [float(q) for q in q_values]
