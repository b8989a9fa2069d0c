"""course_utils.stats: the exact McNemar test against a hand computation and SciPy."""

import numpy as np
import pytest
from scipy.stats import binomtest

from course_utils.stats import mcnemar


def pairs(only_a, only_b, both=0, neither=0):
    """Right/wrong arrays of two models with the given counts of each kind of example."""
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * neither
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * neither
    return np.array(a), np.array(b)


def test_a_split_of_1_to_5_by_hand():
    # n = 6 disagreements: P(X <= 1) = (1 + 6) / 64, doubled: 14 / 64
    assert mcnemar(*pairs(1, 5, both=40, neither=7)) == (1, 5, 14 / 64)
    assert mcnemar(*pairs(5, 1)) == (5, 1, 14 / 64)


def test_agreements_do_not_count():
    assert mcnemar(*pairs(3, 9))[2] == mcnemar(*pairs(3, 9, both=500, neither=80))[2]


@pytest.mark.parametrize(("only_a", "only_b"), [
    (0, 1), (0, 7), (2, 2), (3, 4), (10, 30), (138, 141), (127, 137), (70, 63), (163, 273),
    (60, 41)])
def test_agrees_with_scipys_exact_binomial_test(only_a, only_b):
    got = mcnemar(*pairs(only_a, only_b))
    assert got[:2] == (only_a, only_b)
    assert got[2] == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue, rel=1e-12)


def test_no_disagreement_and_equal_splits_give_one():
    assert mcnemar(*pairs(0, 0, both=5, neither=5)) == (0, 0, 1.0)
    assert mcnemar(*pairs(4, 4))[2] == 1.0


def test_examples_must_be_the_same():
    with pytest.raises(ValueError, match="same examples"):
        mcnemar(np.ones(3, bool), np.ones(4, bool))
