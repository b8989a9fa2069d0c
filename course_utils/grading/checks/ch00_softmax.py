"""Chapter 00 (start here): a stable softmax, its masked version, and its gradient."""

from __future__ import annotations

import numpy as np

from course_utils import softmax as sm
from course_utils.grading.checking import Case, CheckResult, Diagnosis, run_check

# ---- known mistakes shared by both softmax checkers


def softmax_wrong_axis0(z):
    return np.exp(z) / np.sum(np.exp(z), axis=0, keepdims=True)


def softmax_wrong_global(z):
    return np.exp(z) / np.sum(np.exp(z))


# ---- softmax, and softmax with masked scores


def softmax_cases() -> list[Case]:
    """Finite scores: ordinary, huge, float32 beyond exp's range, C = 1."""
    rng = np.random.default_rng(0)
    return [
        Case((rng.standard_normal((3, 5)),), "float64 scores, shape (3, 5)"),
        Case((rng.standard_normal((4, 2)).astype(np.float32),), "float32 scores, shape (4, 2): "
                                                                "the result stays float32"),
        Case((rng.standard_normal(6),), "a single vector, shape (6,)"),
        Case((rng.standard_normal((2, 3, 4)),), "a batch of matrices, shape (2, 3, 4): "
                                                  "softmax over the last axis"),
        Case((np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]]),),
             "huge positive and negative scores: overflow and underflow (needs the max shift)"),
        Case((np.array([[0.0, 2000.0, 3.0], [-5.0, 1500.0, 1499.0]]),),
             "a huge spread between scores"),
        Case((np.zeros((2, 4)),), "all-equal scores"),
        Case((np.array([[95.0, 90.0, -3.0], [-100.0, -110.0, -120.0]], dtype=np.float32),),
             "float32 scores beyond float32's exp range (about 88.7 and -104)"),
        Case((rng.standard_normal((3, 1)),), "C = 1: a single class has probability 1"),
    ]


# Normalising over the wrong axis: a mistake both softmax checkers recognise.
ROW_MISTAKES = [
    Diagnosis(softmax_wrong_axis0,
              "you normalised over the first axis; softmax normalises each row, i.e. "
              "over the last axis (axis=-1)."),
    Diagnosis(softmax_wrong_global,
              "you divided by the sum over the whole array; each row needs its own sum "
              "(axis=-1, keepdims=True)."),
]


def softmax(fn) -> CheckResult:
    """Check ``fn(z) -> probs``: softmax over the last axis of finite float32 or float64 scores
    (..., C), same shape and dtype, finite for huge scores. (Chapter 00's exercise is the
    masked version, :func:`masked_softmax`; this checker is kept for finite scores.)"""
    return run_check(
        "softmax", fn, softmax_cases(), sm.softmax, arg_names=["z"], output_name="probs",
        diagnoses=ROW_MISTAKES, success_note="Stable for huge scores too.")


def masked_softmax_reference(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; -inf scores get probability 0, a row of only -inf gives zeros.

    The convention for a fully masked row is the one of PyTorch's internal
    ``torch._safe_softmax`` (plain ``torch.softmax`` returns NaN there). Same dtype as ``z``.
    """
    z = np.asarray(z)
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - np.where(np.isneginf(m), 0, m))
    total = np.sum(e, axis=-1, keepdims=True)
    return (e / np.where(total == 0, 1, total)).astype(z.dtype, copy=False)


def masked_softmax_float64(z: np.ndarray) -> np.ndarray:
    """A known mistake: float32 input promoted to float64 at the start, computed in float64."""
    return masked_softmax_reference(np.asarray(z, dtype=np.float64))


def masked_softmax_cast_late(z: np.ndarray) -> np.ndarray:
    """The same mistake made at the end: computed in z's dtype, returned as float64."""
    return masked_softmax_reference(z).astype(np.float64)


PROMOTED_HINT = ("the values are right but the dtype is not: float32 in, float32 out. Some step "
                 "promoted to float64 (a float64 constant or array, np.float64(...)); keep every "
                 "step in z.dtype or cast the result with .astype(z.dtype).")


def masked_softmax_cases() -> list[Case]:
    """The finite cases of :func:`softmax_cases`, then masked scores (-inf)."""
    rng = np.random.default_rng(10)
    ninf = -np.inf
    masked = rng.standard_normal((3, 5))
    masked[0, [1, 3]] = ninf
    masked[2, :4] = ninf
    big = np.array([[1000.0, ninf, 998.0], [ninf, -1000.0, -1001.0]])
    masked32 = (50 * rng.standard_normal((4, 3))).astype(np.float32)
    masked32[1] = ninf
    return softmax_cases() + [
        Case((masked,), "masked scores (-inf) get probability 0; row 2 keeps a single score"),
        Case((big,), "masked scores next to huge ones"),
        Case((masked32,), "float32 with a fully masked row (every score -inf): that row is all "
                          "zeros"),
        Case((np.full((2, 1, 3), ninf),), "every row fully masked, shape (2, 1, 3): all zeros"),
    ]


def masked_softmax(fn) -> CheckResult:
    """Check ``fn(z) -> probs``: softmax over the last axis of a float32 or float64 array
    (..., C), same shape and dtype, finite for huge scores; a score of -inf (masked) gets
    probability 0 and a row whose scores are all -inf comes out as zeros, not NaN."""
    return run_check(
        "masked_softmax", fn, masked_softmax_cases(), masked_softmax_reference, arg_names=["z"],
        output_name="probs",
        diagnoses=[
            *ROW_MISTAKES,
            # before the fully-masked-row hint: plain softmax also has the right values here
            Diagnosis(masked_softmax_float64, PROMOTED_HINT),
            Diagnosis(masked_softmax_cast_late, PROMOTED_HINT),
            Diagnosis(sm.softmax,
                      "a row whose scores are all -inf has max -inf, and -inf - (-inf) is NaN: "
                      "shift such a row by 0 instead, and return 0 where the row's sum is 0."),
        ],
        success_note="Stable for huge scores, and safe for fully masked rows.")


# ---- the backward pass of softmax


def softmax_backward_reference(s: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """dz for ``s = softmax(z)`` and ``ds = dE/ds``; dtype: NumPy's promotion of s and ds."""
    return sm.softmax_backward(s, ds)


def softmax_backward_cases() -> list[Case]:
    rng = np.random.default_rng(1)
    cases = []
    for shape, dtype in [((3, 5), np.float64), ((4, 2), np.float32), ((6,), np.float64),
                         ((2, 3, 4), np.float64), ((3, 1), np.float64)]:
        s = sm.softmax(rng.standard_normal(shape)).astype(dtype)
        note = ": C = 1, so dz is 0" if shape[-1] == 1 else ""
        cases.append(Case((s, rng.standard_normal(shape).astype(dtype)),
                          f"{np.dtype(dtype).name}, shape {shape}{note}"))
    s = sm.softmax(rng.standard_normal((3, 4))).astype(np.float32)
    cases.append(Case((s, rng.standard_normal((3, 4))),
                      "s float32 and ds float64: the result is float64 (NumPy's promotion)"))
    s = sm.softmax(rng.standard_normal((2, 5)))
    cases.append(Case((s, rng.standard_normal((2, 5)).astype(np.float32)),
                      "s float64 and ds float32: the result is float64 (NumPy's promotion)"))
    return cases


def softmax_backward(fn) -> CheckResult:
    """Check ``fn(s, ds) -> dz``: the gradient through softmax, given its output ``s``; s and ds
    (..., C), dz (..., C) in NumPy's promotion of the two dtypes (float64 if either is)."""
    return run_check(
        "softmax_backward", fn, softmax_backward_cases(), softmax_backward_reference,
        arg_names=["s", "ds"], output_name="dz",
        diagnoses=[
            Diagnosis(lambda s, ds: s * (1 - s) * ds,
                      "you used only the diagonal of the Jacobian, s*(1-s); each output also "
                      "depends on every other score through the shared denominator."),
            Diagnosis(lambda s, ds: s * (ds - np.sum(ds * s)),
                      "the inner sum <ds, s> must be taken per row (axis=-1, keepdims=True)."),
        ])
