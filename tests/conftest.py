"""Fixtures shared by the test files."""

import pytest

from course_utils.grading import checking


class _NoWatch:
    """A stand-in for ``checking.CourseCallWatch`` that watches nothing."""

    hit = None
    tampered = False
    verdict = None

    def __init__(self, *args):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


@pytest.fixture
def no_own_work_guard():
    """Run checkers without the own-work watch.

    For tests whose wrong implementations reuse the course's code for brevity (a "forgot the
    bias" variant built on ``scratch.rnn_step``): they stand for mistakes a learner writes by
    hand, so they must reach their hint, not the own-work message.
    """
    patch = pytest.MonkeyPatch()  # its own: some tests undo their ``monkeypatch`` midway
    patch.setattr(checking, "CourseCallWatch", _NoWatch)
    yield
    patch.undo()
