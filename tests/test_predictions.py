"""``checking.check_prediction``: "predict, then run" outcomes are shown, never graded."""

import numpy as np
import pytest

from course_utils.grading import checking


def test_close_and_far_numbers(capsys):
    near = checking.check_prediction("predict_demo", lambda: 9.0, 10.0, rel_tol=0.2)
    assert near and near.close is True and near.predicted == 9.0
    far = checking.check_prediction("predict_demo", lambda: 2, np.float64(10.0), rel_tol=0.2)
    assert not far and far.close is False
    out = capsys.readouterr().out
    assert "not graded" in out and "5\u00d7 your prediction" in out


def test_a_plain_value_and_an_absolute_tolerance():
    assert checking.check_prediction("predict_demo", 0.0, 0.04, abs_tol=0.05)
    assert not checking.check_prediction("predict_demo", 0.0, 0.06, abs_tol=0.05)


def test_choices_ignore_case_and_spaces():
    res = checking.check_prediction("predict_demo", lambda: " Vanish ", "vanish",
                                    choices=["vanish", "explode"])
    assert res.close is True
    res = checking.check_prediction("predict_demo", lambda: "explode", "vanish",
                                    choices=["vanish", "explode"])
    assert res.close is False and "vanish" in res.message


@pytest.mark.parametrize("fn, words", [
    (lambda: (_ for _ in ()).throw(NotImplementedError()), "no prediction yet"),
    (lambda: 1 / 0, "ZeroDivisionError"),
    (lambda: None, "expected a number"),
    (lambda: "12", "expected a number"),
    (lambda: True, "expected a number"),
    (lambda: float("nan"), "finite"),
])
def test_unusable_predictions_are_explained_not_raised(fn, words):
    res = checking.check_prediction("predict_demo", fn, 3.0)
    assert res.close is None and not res and words in res.message


def test_a_choice_outside_the_list_is_explained():
    res = checking.check_prediction("predict_demo", lambda: "maybe", "yes", choices=["yes", "no"])
    assert res.close is None and "'yes', 'no'" in res.message
