"""The exercise machinery: checkers, the checker runner, the exercise generator, the grader."""
