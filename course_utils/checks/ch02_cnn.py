"""Chapter 02 (a CNN over text): convolution + ReLU + max-over-time pooling, receptive fields."""

from __future__ import annotations

import numpy as np

from course_utils import cnn
from course_utils.checking import Case, CheckResult, Diagnosis, Mismatch, compare, run_check
from course_utils.checks.common import telling

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


# ---- the backward pass of convolution + ReLU + max-over-time pooling (issue 13)


def conv_backward_reference(x, weight, bias, dpooled):
    """PyTorch autograd through conv1d, ReLU and the max over time, in float64, then cast to
    the dtype of ``x`` (the cases have no ties in the max, so the gradient is unique)."""
    import torch

    dtype = x.dtype
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    wt = torch.tensor(np.asarray(weight, dtype=np.float64), requires_grad=True)
    bt = torch.tensor(np.asarray(bias, dtype=np.float64), requires_grad=True)
    maps = torch.nn.functional.conv1d(xt.permute(1, 2, 0), wt, bt)  # (B, C, T - k + 1)
    pooled = torch.relu(maps).amax(dim=2)
    pooled.backward(torch.tensor(np.asarray(dpooled, dtype=np.float64)))
    return tuple(t.grad.numpy().astype(dtype) for t in (xt, wt, bt))


CONV_BACKWARD_VARIANTS = ("no_relu_grad", "every_window", "flipped", "overwrite",
                          "bias_unsummed", "bias_mean")


def conv_backward_wrong(variant: str):
    """Known mistakes, on one loop that differs from the right answer in one place each."""
    def backward(x, weight, bias, dpooled):
        weight, bias, dpooled = (np.asarray(a, dtype=x.dtype) for a in (weight, bias, dpooled))
        k = weight.shape[2]
        maps = cnn.conv1d(x, weight, bias)  # (n, B, C)
        n, b_size, c_size = maps.shape
        best = maps.argmax(axis=0)  # (B, C)
        top = maps.max(axis=0)
        g = dpooled if variant == "no_relu_grad" else dpooled * (top > 0)
        dmaps = np.zeros_like(maps)
        if variant == "every_window":  # the gradient of a sum over time, not of a max
            dmaps[:] = dpooled * (maps > 0)
        else:
            b_idx, c_idx = np.meshgrid(np.arange(b_size), np.arange(c_size), indexing="ij")
            dmaps[best, b_idx, c_idx] = g
        dx = np.zeros_like(x)
        dweight = np.zeros_like(weight)
        for j in range(k):
            dx[j:j + n] += dmaps @ weight[:, :, j]
            dweight[:, :, j] = np.einsum("tbc,tbd->cd", dmaps, x[j:j + n])
        if variant == "overwrite":  # dx[t:t+k, b] = ... per filter: later filters overwrite
            dx = np.zeros_like(x)
            for b in range(b_size):
                for c in range(c_size):
                    t = best[b, c]
                    dx[t:t + k, b] = g[b, c] * weight[c].T
        dbias = dmaps.sum(axis=0)
        if variant != "bias_unsummed":
            dbias = dbias.mean(axis=0) if variant == "bias_mean" else dbias.sum(axis=0)
        return dx, dweight, dbias

    def wrong(x, weight, bias, dpooled):
        if variant == "flipped":  # the exact gradient of a true (flipped) convolution
            dx, dw, db = backward(x, np.asarray(weight)[:, :, ::-1], bias, dpooled)
            return dx, dw[:, :, ::-1], db
        return backward(x, weight, bias, dpooled)
    return wrong


def conv_backward_cases() -> list[Case]:
    """Seeded cases without ties: in every (sentence, filter) pair the best window beats the
    second best by a margin, and no best window sits at the ReLU's kink (|value| > margin), so
    the gradient is unique and float32 rounding cannot move the maximum."""
    rng = np.random.default_rng(22)

    def clear(args) -> bool:
        maps = cnn.conv1d(*(np.asarray(a, dtype=np.float64) for a in args[:3]))
        srt = np.sort(maps, axis=0)
        top = srt[-1]
        gap = srt[-1] - srt[-2] if len(srt) > 1 else np.inf
        return bool(np.all(np.abs(top) > 0.05) and np.all((gap > 0.05) | (top < 0)))

    def draw(t, b, d, c, k, dtype, pdtype=None, bias_scale=0.5, dp=None):
        pdtype = pdtype or dtype
        while True:
            bias = bias_scale * rng.standard_normal(c)
            bias[0] = -4.0  # one filter mostly switched off by the ReLU
            args = (rng.standard_normal((t, b, d)).astype(dtype),
                    rng.standard_normal((c, d, k)).astype(pdtype), bias.astype(pdtype),
                    (rng.standard_normal((b, c)) if dp is None else dp).astype(pdtype))
            if clear(args):
                return args

    cases = []
    for t, b, d, c, k, dtype in [(7, 3, 4, 5, 3, np.float64), (9, 2, 3, 4, 2, np.float32),
                                 (6, 4, 5, 2, 4, np.float32), (5, 1, 2, 3, 1, np.float64)]:
        cases.append(Case(draw(t, b, d, c, k, dtype),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, D={d}, C={c}, k={k}"))
    cases.append(Case(draw(3, 2, 4, 5, 3, np.float64), "T = k: exactly one window"))
    cases.append(Case(draw(8, 3, 2, 4, 3, np.float64, bias_scale=6.0),
                      "large biases of both signs: the ReLU switches some filters off"))
    cases.append(Case(draw(6, 2, 3, 4, 2, np.float32, pdtype=np.float64),
                      "mixed dtypes: x float32, weight, bias and dpooled float64 "
                      "(everything is float32)"))
    return cases


def conv_maxpool_backward(fn) -> CheckResult:
    """Check ``fn(x, weight, bias, dpooled) -> (dx, dweight, dbias)``, the backward pass of
    ``conv_relu_maxpool``: pooled[b, c] = max over t = 0..T-k of ReLU(bias[c] + sum_j
    weight[c, :, j] @ x[t + j, b]).

    x (T, B, D) time-major, weight (C, D, k) in ``nn.Conv1d``'s layout, bias (C,), dpooled
    (B, C) = dLoss/dpooled. Returns three NumPy arrays shaped like x, weight and bias.
    Dtype rule: everything is computed in the dtype of x (weight, bias and dpooled are cast to
    it), and all three outputs have that dtype. Edge cases: T = k (one window), k = 1, B = 1,
    filters the ReLU switches off (their gradient is zero). T >= k always (the checker never
    passes a sequence shorter than the filter). The cases have no ties in the max (each best
    window wins by a margin and is not at the ReLU's kink), so the gradient is unique.
    Reference: PyTorch autograd through ``conv1d``, ``relu`` and ``amax``. Inputs must not be
    modified.
    """
    def hint(variant, text):
        return Diagnosis(telling(conv_backward_wrong(variant), conv_backward_reference), text)

    return run_check(
        "conv_maxpool_backward", fn, conv_backward_cases(), conv_backward_reference,
        arg_names=["x", "weight", "bias", "dpooled"], output_name="(dx, dweight, dbias)",
        diagnoses=[
            hint("no_relu_grad",
                 "the ReLU's derivative is 0 where its input is negative: a filter whose best "
                 "window is below 0 outputs 0 and passes no gradient back."),
            hint("every_window",
                 "the max passes the gradient to ONE window per sentence and filter, the one "
                 "that won (argmax over t); the other windows get nothing."),
            hint("flipped",
                 "the forward pass does not flip the filter (cross-correlation): window t meets "
                 "weight[:, :, j] at x[t + j], so dx[t + j] gets weight[:, :, j] and "
                 "dweight[:, :, j] gets x[t + j]."),
            hint("overwrite",
                 "windows of different filters overlap: ADD each window's contribution to dx "
                 "(+=); assigning overwrites what other filters already put there."),
            hint("bias_unsummed",
                 "the bias is shared by every sentence of the batch: sum its gradient over the "
                 "batch, giving shape (C,)."),
            hint("bias_mean",
                 "sum the bias gradient over the batch, do not average it (the 1/B of a mean "
                 "loss is already inside dpooled)."),
        ])
