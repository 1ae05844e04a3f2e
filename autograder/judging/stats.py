"""Statistical checks for random functions, with a stated false-failure bound.

A correct implementation must pass with probability at least 1 - 1e-6 per case, so that a class
of hundreds is never failed by bad luck. Two tools give that bound exactly or conservatively:

- Kolmogorov-Smirnov: for a continuous distribution the p-value is uniform on [0, 1] under the
  null hypothesis, so rejecting when p < 1e-6 fails a correct sampler with probability 1e-6.
- Counts (kept elements, flips, shifts): a binomial count k of n trials with probability p is
  rejected when |k - np| > 5.5 * sqrt(np(1-p)); the normal tail beyond 5.5 sigma is 3.8e-8, and
  with n >= 400 and 0.05 <= p <= 0.95 the normal approximation error (Berry-Esseen) is far
  below the remaining margin. Chi-square tests use the exact survival function, p < 1e-6.

numpy and the standard library only: this module is pasted into every student notebook's
self-check (handout/selfcheck.py), so the grade and the self-check run the same formulas. Each was
checked against scipy (tests/unit/test_selfcheck.py): the chi-square survival function and the
binomial band are exact; the Kolmogorov-Smirnov p-value is Stephens' approximation of the
Kolmogorov distribution, within about 1 % of scipy's exact p near the 1e-6 threshold, far below
the margin by which the usual bugs miss it (p < 1e-30).
With the sample sizes used (>= 400 trials, >= 60,000 samples), the usual bugs (wrong fan, a
missing truncation constant, keep-probability = rate, no rescaling) sit dozens of sigmas away.

Shared blocks (`window_length`, used by judging/randomness.py `shared_block`): counts of
neighbours cannot see a draw that repeats half of itself (rows 100-199 a copy of rows 0-99), nor
two independent draws that share a block. The symbols of independent draws (a dropout mask's
entries, an image's (flip, dy, dx), the signs of symmetric samples) are independent under the
contract, and none takes any value with probability above `p_max`. Two windows of k symbols at
different places (in one draw or in two, along rows, down columns, or as s x s squares) are equal
with probability at most p_max**k: equality links each symbol of one window to the symbol at the
same offset in the other, the links form chains (never a cycle, the offset being the same for all
of them), and following a chain each new symbol matches the one before with probability at most
p_max. Over the at most n(n-1)/2 pairs of n windows, a correct implementation shows a repeated
window with probability at most n(n-1)/2 * p_max**k; `window_length` takes the smallest k that
brings this under the test's alpha, so the bound is computed for every case, not assumed. Each
randomness case spends REPEATS of its ALPHA on these tests and the rest on its counts, so a case
still fails a correct implementation with probability at most ALPHA = 1e-6 in total. With the
cases' sizes: 64 signs (8 x 8 squares) for variance_scaling's matrices, ~90 entries (10 x 10)
for dropout's 61 masks of 1,000 entries, ~11 images' choices for augment's 900 images.
"""

import math

import numpy as np

ALPHA = 1e-6
SIGMAS = 5.5
REPEATS = ALPHA / 100  # what each randomness case spends on its shared-block tests (see above)


def ks_pvalue(samples, cdf):
    """Kolmogorov-Smirnov p-value of the samples against `cdf` (Stephens' approximation)."""
    x = np.sort(np.asarray(samples, dtype=float).ravel())
    n, f = len(x), cdf(x)
    d = max((np.arange(1, n + 1) / n - f).max(), (f - np.arange(n) / n).max())
    lam = d * (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n))
    return min(1.0, max(0.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))))


def binomial_ok(count: int, n: int, p: float) -> bool:
    if p in (0.0, 1.0):
        return count == round(n * p)
    return abs(count - n * p) <= SIGMAS * math.sqrt(n * p * (1 - p))


def chi2_sf(x: float, dof: int) -> float:
    """Chi-square survival function, by sf(k + 2) = sf(k) + (x/2)^(k/2) e^(-x/2) / Gamma(k/2 + 1)."""
    k, sf = (2, math.exp(-x / 2)) if dof % 2 == 0 else (1, math.erfc(math.sqrt(x / 2)))
    while k < dof:
        sf += math.exp((k / 2) * math.log(x / 2) - x / 2 - math.lgamma(k / 2 + 1)) if x > 0 else 0.0
        k += 2
    return sf


def uniform_counts_ok(counts: np.ndarray) -> bool:
    """Chi-square test that counts are equally likely categories (exact chi2 survival)."""
    if len(counts) < 2:
        return True
    expected = counts.sum() / len(counts)
    return chi2_sf(float(((counts - expected) ** 2 / expected).sum()), len(counts) - 1) >= ALPHA


def phi(z):
    """The standard normal cdf, elementwise."""
    erf = np.frompyfunc(math.erf, 1, 1)
    return 0.5 * (1 + np.asarray(erf(np.asarray(z, dtype=float) / math.sqrt(2)), dtype=float))


def target_cdf(target: dict):
    """The cdf of a symmetric target distribution given by its numbers: {"family": "uniform",
    "limit"}, {"family": "truncated_normal", "sd", "cut"} (cut in sds) or {"family": "normal", "sd"}.
    Numbers rather than a formula: the self-check receives them for its public cases, computed by
    the question's own formula, which must not travel with the notebook."""
    family = target["family"]
    if family == "uniform":
        return lambda v: np.clip((v + target["limit"]) / (2 * target["limit"]), 0, 1)
    if family == "truncated_normal":
        sd, low, high = target["sd"], phi(-target["cut"]), phi(target["cut"])
        return lambda v: np.clip((phi(v / sd) - low) / (high - low), 0, 1)
    return lambda v: phi(v / target["sd"])


# --- randomness: exact binomial bands ------------------------------------------------------------
# The randomness checks (judging/randomness.py) reduce every property to a count of independent
# events of known probability under the contract: two masks dropping the same element (rate**2),
# two images getting the same flip (1/2) or the same shift (1/(2m+1)), two symmetric samples with
# the same sign (1/2). Such a count is exactly Binomial(n, p), so the band below is exact (no
# normal approximation): a correct implementation falls outside it with probability <= alpha.


def binomial_band(n: int, p: float, alpha: float) -> tuple[int, int]:
    """[lo, hi] with P(X < lo) <= alpha/2 and P(X > hi) <= alpha/2 for X ~ Binomial(n, p): lo is
    the first k whose lower tail reaches alpha/2, hi the first k whose upper tail P(X > k) is at
    most alpha/2. Tails are summed from their own end, so they keep their relative precision far
    below alpha."""
    if p <= 0.0 or p >= 1.0 or n == 0:
        k = round(n * min(max(p, 0.0), 1.0))
        return k, k
    k = np.arange(n + 1)
    lgamma = np.frompyfunc(math.lgamma, 1, 1)
    log_pmf = (
        math.lgamma(n + 1)
        - lgamma(k + 1).astype(float)
        - lgamma(n - k + 1).astype(float)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    pmf = np.exp(log_pmf)
    lower = np.cumsum(pmf)
    upper = np.append(np.cumsum(pmf[::-1])[::-1][1:], 0.0)  # upper[k] = P(X > k)
    return int(np.argmax(lower >= alpha / 2)), int(np.argmax(upper <= alpha / 2))


def window_length(n: int, p_max: float, alpha: float) -> int:
    """The shortest window k for which n windows of independent symbols, none of them taking any
    value with probability above p_max, hold two equal windows with probability at most alpha:
    n(n-1)/2 * p_max**k <= alpha (the union bound of the module's docstring)."""
    pairs = n * (n - 1) / 2
    if pairs < 1 or p_max <= 0.0:
        return 1
    return max(1, math.ceil(math.log(alpha / pairs) / math.log(p_max)))
