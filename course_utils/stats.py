"""Paired comparisons of two classifiers on one test set (chapters 01 and 02).

Two models that answer the same test sentences make paired errors: a sentence both get right,
or both get wrong, says nothing about which model is better. McNemar's test looks only at the
sentences where they disagree.
"""

from __future__ import annotations

from math import comb

import numpy as np


def mcnemar(right_a, right_b) -> tuple[int, int, float]:
    """Exact McNemar test for two models scored on the same examples.

    right_a, right_b: boolean arrays of the same shape (N,), True where the model is right.

    Returns ``(only_a, only_b, p)``: the number of examples only model a gets right, the number
    only model b gets right, and the two-sided p-value. If the models were equally good, each
    of the n = only_a + only_b disagreements would go either way with probability 1/2, like a
    fair coin; p is the chance that n tosses of a fair coin give a split at least as lopsided
    as the one observed, 2 P(X <= min(only_a, only_b)) for X ~ Binomial(n, 1/2), at most 1.
    With no disagreement at all, p = 1.
    """
    right_a, right_b = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    if right_a.shape != right_b.shape:
        raise ValueError(f"the two models must be scored on the same examples: shapes "
                         f"{right_a.shape} and {right_b.shape}")
    only_a = int(np.sum(right_a & ~right_b))
    only_b = int(np.sum(~right_a & right_b))
    n = only_a + only_b
    # one tail of the fair-coin distribution, in exact integers, then doubled
    tail = sum(comb(n, k) for k in range(min(only_a, only_b) + 1))
    return only_a, only_b, min(1.0, 2 * tail / 2**n)
