"""What went wrong in the learner's code, told in the learner's terms.

The chapters' helpers that run a learner's model (``capstone.surnames.train_surname_model``)
and the checkers (``course_utils.grading``) both use these, so a learner who tunes with the
helper and a learner who runs the checker read the same message.
"""

from __future__ import annotations

import traceback

# What the course catches from a learner's code: every error and exit(), never Ctrl-C.
LEARNER_ERRORS = (Exception, SystemExit)


class LearnerError(Exception):
    """The learner's code cannot be used; the message says why. ``attempted`` is False while the
    stub still raises ``NotImplementedError`` (the checkers report "not attempted")."""

    def __init__(self, message: str, *, attempted: bool = True):
        super().__init__(message)
        self.message, self.attempted = message, attempted


def learner_frame(exc: BaseException) -> str:
    """The last traceback line that points into the learner's notebook code, if any."""
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if "course_utils" not in fr.filename:
            return f" (raised at line {fr.lineno}: `{(fr.line or '').strip()}`)"
    return ""
