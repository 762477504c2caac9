"""Small statistics for the report, in the standard library: Wilson intervals, Fisher's
exact test and the chi-square test of a k x 2 table (no scipy needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z_95 = 1.959963984540054  # the 97.5 % quantile of the standard normal distribution


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % by default); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # exact at 0 and 1 despite rounding


def fisher_exact(table: Sequence[Sequence[int]]) -> float:
    """Two-sided p-value of Fisher's exact test on a 2 x 2 table ``[[a, b], [c, d]]``.

    Sums the probabilities of every table with the same margins that is no more likely
    than the observed one (as R and scipy do, with a small relative tolerance).
    """
    (a, b), (c, d) = table
    row1, col1, total = a + b, a + c, a + b + c + d
    if total == 0:
        return 1.0
    denominator = math.comb(total, col1)

    def probability(x: int) -> float:
        return math.comb(row1, x) * math.comb(total - row1, col1 - x) / denominator

    observed = probability(a)
    low, high = max(0, col1 - (total - row1)), min(row1, col1)
    p = sum(q for q in map(probability, range(low, high + 1)) if q <= observed * (1 + 1e-7))
    return min(1.0, p)


def chi_square_test(table: Sequence[Sequence[int]]) -> tuple[float, int, float]:
    """Pearson's chi-square test of independence on a k x 2 table: (statistic, df, p-value).

    Rows with no observations are left out; cells whose expected count is zero add nothing.
    """
    rows = [row for row in table if sum(row) > 0]
    total = sum(map(sum, rows))
    columns = [sum(row[j] for row in rows) for j in range(2)]
    statistic = 0.0
    for row in rows:
        for j, observed in enumerate(row):
            expected = sum(row) * columns[j] / total
            if expected > 0:
                statistic += (observed - expected) ** 2 / expected
    df = max(1, len(rows) - 1)
    return statistic, df, chi_square_sf(statistic, df)


def chi_square_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with ``df`` (a positive integer) degrees of freedom."""
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:
        terms = (half**i / math.factorial(i) for i in range(df // 2))
        return min(1.0, math.exp(-half) * sum(terms))
    terms = (half ** (i - 0.5) / math.gamma(i + 0.5) for i in range(1, (df - 1) // 2 + 1))
    return min(1.0, math.erfc(math.sqrt(half)) + math.exp(-half) * sum(terms))
