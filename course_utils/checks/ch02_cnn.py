"""Chapter 02 (a CNN over text): convolution + ReLU + max-over-time pooling, receptive fields."""

from __future__ import annotations

import numpy as np

from course_utils import cnn
from course_utils.checking import Case, CheckResult, Diagnosis, Mismatch, compare, run_check

# ---- convolution + ReLU + max-over-time pooling; receptive fields

# (T, B, D, C, k, dtype): T never equals B, D never equals k, so a transposed layout fails by
# shape. The width-1 case is float64: with k = 1 flipping and padding change nothing, and the
# first float32 case is where a right-valued, wrong-dtype answer fails (it must get no hint).
CONV_SHAPES = [(7, 3, 4, 5, 3, np.float64), (9, 2, 3, 4, 2, np.float32),
               (6, 4, 5, 2, 4, np.float32), (5, 1, 2, 3, 1, np.float64)]


def conv_confusable(t: int, k: int) -> set[str]:
    """Mistakes that give the right answer whatever the numbers, for this T and k."""
    return ({"flipped", "same_padding"} if k == 1 else set()) | (
        {"mean_pool"} if t == k else set())


def conv_cases() -> list[Case]:
    """Random cases, redrawn until every known mistake gives a different answer (so a hint is
    never shown for a mistake the case cannot tell apart from the right answer)."""
    rng = np.random.default_rng(21)

    def telling(args) -> bool:
        expected = conv_reference(*args)
        t, k = args[0].shape[0], args[1].shape[2]
        for variant in set(CONV_VARIANTS) - conv_confusable(t, k):
            try:
                compare(conv_wrong(variant)(*args), expected, "pooled", check_dtype=False)
            except Mismatch:
                continue
            return False
        return True

    def draw(t, b, d, c, k, dtype, bias_scale=0.5):
        while True:
            bias = bias_scale * rng.standard_normal(c)
            bias[0] = -4.0  # one filter mostly switched off, so the ReLU matters
            args = (rng.standard_normal((t, b, d)).astype(dtype),
                    rng.standard_normal((c, d, k)).astype(dtype), bias.astype(dtype))
            if telling(args):
                return args

    cases = []
    for t, b, d, c, k, dtype in CONV_SHAPES:
        cases.append(Case(draw(t, b, d, c, k, dtype),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, D={d}, C={c}, k={k}"))
    cases.append(Case(draw(3, 2, 4, 5, 3, np.float64), "T = k: exactly one window"))
    cases.append(Case(draw(8, 3, 2, 4, 3, np.float64, bias_scale=6.0),
                      "large biases of both signs: ReLU turns some filters off (outputs 0)"))
    return cases


CONV_VARIANTS = ("flipped", "no_relu", "mean_pool", "no_bias", "missing_last", "same_padding")


def conv_wrong(variant: str):
    def wrong(x, weight, bias):
        if variant == "flipped":
            weight = weight[:, :, ::-1]
        if variant == "no_bias":
            bias = np.zeros_like(bias)
        if variant == "same_padding":
            k = weight.shape[2]
            pad = np.zeros((k - 1,) + x.shape[1:], dtype=x.dtype)
            x = np.concatenate([pad, x, pad])
        h = cnn.conv1d(x, weight, bias)
        if variant == "missing_last":
            h = h[:-1] if len(h) > 1 else np.zeros_like(h)
        if variant != "no_relu":
            h = np.maximum(h, 0)
        return h.mean(axis=0) if variant == "mean_pool" else h.max(axis=0)
    return wrong


def conv_reference(x, weight, bias):
    return cnn.conv_relu_maxpool(x, weight, bias)


def conv_relu_maxpool(fn) -> CheckResult:
    """Check ``fn(x, weight, bias) -> pooled``: x (T, B, D) time-major, weight (C, D, k) in
    ``nn.Conv1d``'s layout, bias (C,); a 'valid' convolution (stride 1, no padding, filter not
    flipped, as in PyTorch), ReLU, then the max over the T - k + 1 positions: pooled (B, C)."""
    return run_check(
        "conv_relu_maxpool", fn, conv_cases(), conv_reference,
        arg_names=["x", "weight", "bias"], output_name="pooled",
        diagnoses=[
            Diagnosis(conv_wrong("flipped"),
                      "do not flip the filter: like nn.Conv1d, compute sum_j weight[:, :, j] @ "
                      "x[t + j] (a cross-correlation)."),
            Diagnosis(conv_wrong("no_relu"),
                      "apply the ReLU, max(0, .), to the feature maps (before or after the max "
                      "gives the same result)."),
            Diagnosis(conv_wrong("mean_pool"),
                      "pool with the MAXIMUM over time, not the mean."),
            Diagnosis(conv_wrong("no_bias"), "add each filter's bias."),
            Diagnosis(conv_wrong("missing_last"),
                      "a sequence of T steps has T - k + 1 windows (t = 0 .. T-k); the last one "
                      "is missing."),
            Diagnosis(conv_wrong("same_padding"),
                      "no padding: only windows that lie fully inside the sequence count."),
        ])


def rf_cases() -> list[Case]:
    return [
        Case(([(3, 1)],), "one conv layer of width 3"),
        Case(([(3, 1), (3, 1)],), "two conv layers of width 3"),
        Case(([(3, 1), (2, 2), (3, 1)],), "conv 3, pool 2 (stride 2), conv 3"),
        Case(([(4, 2), (3, 1)],), "a strided first layer: conv 4 stride 2, then conv 3"),
        Case(([(5, 1), (2, 2), (3, 1), (2, 2), (3, 1)],), "five layers, two poolings"),
        Case(([(3, 1), (3, 2), (3, 1)],), "an overlapping pooling: width 3, stride 2"),
        Case(([(1, 1), (2, 3), (1, 1)],), "width-1 layers add nothing"),
        Case(([],), "an empty stack: a unit sees its own position only (1)"),
    ]


def rf_reference(layers):
    return cnn.receptive_field(layers)


def rf_wrong(variant: str):
    def wrong(layers):
        r, jump = 1, 1
        for k, s in layers:
            if variant == "sum_kernels":
                r = (r - 1 if r == 1 else r) + k
                continue
            if variant == "own_stride":
                jump *= s
            r += (k - 1) * (1 if variant == "no_stride" else jump)
            if variant != "own_stride":
                jump *= s
        return r
    return wrong


def receptive_field(fn) -> CheckResult:
    """Check ``fn(layers) -> int``: layers is a list of (kernel, stride) pairs, bottom layer
    first (a pooling of width p and stride p is (p, p)); return how many consecutive input
    positions one unit of the top layer depends on."""
    return run_check(
        "receptive_field", fn, rf_cases(), rf_reference, arg_names=["layers"],
        output_name="receptive field",
        diagnoses=[
            Diagnosis(rf_wrong("no_stride"),
                      "a stride makes every later layer's step cover several input positions: "
                      "multiply (k - 1) by the product of the strides of the layers BELOW."),
            Diagnosis(rf_wrong("own_stride"),
                      "a layer's own stride does not widen its own window; only the strides of "
                      "the layers below it count."),
            Diagnosis(rf_wrong("sum_kernels"),
                      "adjacent windows overlap: each layer adds k - 1 steps, not k."),
        ])
