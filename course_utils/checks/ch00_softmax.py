"""Chapter 00 (start here): softmax and its gradient."""

from __future__ import annotations

import numpy as np

from course_utils import softmax as sm
from course_utils.checking import Case, CheckResult, Diagnosis, run_check

# ---- softmax


def softmax_cases() -> list[Case]:
    rng = np.random.default_rng(0)
    return [
        Case((rng.standard_normal((3, 5)),), "float64 scores, shape (3, 5)"),
        Case((rng.standard_normal((4, 2)).astype(np.float32),), "float32 scores, shape (4, 2)"),
        Case((rng.standard_normal(6),), "a single vector, shape (6,)"),
        Case((rng.standard_normal((2, 3, 4)),), "a batch of matrices, shape (2, 3, 4): "
                                                  "softmax over the last axis"),
        Case((np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]]),),
             "huge scores (needs the max-subtraction trick)"),
        Case((np.array([[0.0, 2000.0, 3.0], [-5.0, 1500.0, 1499.0]]),),
             "a huge spread between scores"),
        Case((np.zeros((2, 4)),), "all-equal scores"),
    ]


def softmax(fn) -> CheckResult:
    """Check ``fn(z) -> probabilities``: softmax over the last axis, stable for huge scores."""
    return run_check(
        "softmax", fn, softmax_cases(), sm.softmax, arg_names=["z"], output_name="probs",
        diagnoses=[
            Diagnosis(lambda z: np.exp(z) / np.sum(np.exp(z), axis=0, keepdims=True),
                      "you normalised over the first axis; softmax normalises each row, i.e. "
                      "over the last axis (axis=-1)."),
            Diagnosis(lambda z: np.exp(z) / np.sum(np.exp(z)),
                      "you divided by the sum over the whole array; each row needs its own sum "
                      "(axis=-1, keepdims=True)."),
        ],
        success_note="Stable for huge scores too.")


def softmax_backward_cases() -> list[Case]:
    rng = np.random.default_rng(1)
    cases = []
    for shape, dtype in [((3, 5), np.float64), ((4, 2), np.float32), ((6,), np.float64),
                         ((2, 3, 4), np.float64)]:
        s = sm.softmax(rng.standard_normal(shape)).astype(dtype)
        cases.append(Case((s, rng.standard_normal(shape).astype(dtype)),
                          f"{np.dtype(dtype).name}, shape {shape}"))
    return cases


def softmax_backward(fn) -> CheckResult:
    """Check ``fn(s, ds) -> dz``: the gradient through softmax, given its output ``s``."""
    return run_check(
        "softmax_backward", fn, softmax_backward_cases(), sm.softmax_backward,
        arg_names=["s", "ds"], output_name="dz",
        diagnoses=[
            Diagnosis(lambda s, ds: s * (1 - s) * ds,
                      "you used only the diagonal of the Jacobian, s*(1-s); each output also "
                      "depends on every other score through the shared denominator."),
            Diagnosis(lambda s, ds: s * (ds - np.sum(ds * s)),
                      "the inner sum <ds, s> must be taken per row (axis=-1, keepdims=True)."),
        ])
