"""Chapter 02 (a CNN over text): convolution + ReLU + max-over-time pooling, receptive fields,
the backward pass, a prediction (a dilated filter's holes) and a design checker (``order_cnn``:
a CNN that relates two markers 40 tokens apart, trained by the checker's fixed recipe)."""

from __future__ import annotations

import numpy as np

from course_utils import cnn, env, tasks
from course_utils.cnn import (
    ORDER_CNN_BATCH,
    ORDER_CNN_CONTROL_MARGIN,
    ORDER_CNN_CONTROL_TARGET,
    ORDER_CNN_DISTANCES,
    ORDER_CNN_LR,
    ORDER_CNN_MAX_CONVS,
    ORDER_CNN_MAX_DISTANCE,
    ORDER_CNN_MAX_KERNEL,
    ORDER_CNN_MAX_PARAMS,
    ORDER_CNN_PROBE_LENGTH,
    ORDER_CNN_SEED,
    ORDER_CNN_STEPS,
    ORDER_CNN_TARGET,
    ORDER_CNN_TEST_N,
)
from course_utils.errors import LEARNER_ERRORS, LearnerError, learner_frame
from course_utils.grading.checking import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    Case,
    CheckResult,
    Diagnosis,
    Mismatch,
    PredictionResult,
    check_prediction,
    compare_arrays,
    design_checker,
    report,
    run_check,
)
from course_utils.grading.checks.common import integer_promise, telling_hints

# ---- convolution + ReLU + max-over-time pooling over the real tokens only; receptive fields

# (T, B, D, C, k, dtype): T never equals B, D never equals k, so a transposed layout fails by
# shape. The width-1 case is float64: with k = 1 flipping and a window's start changes nothing,
# and the first float32 case is where a right-valued, wrong-dtype answer fails (it gets no hint).
# The last entry is the real length of each sentence (rows beyond it are padding).
CONV_SHAPES = [(7, 3, 4, 5, 3, np.float64, [7, 5, 3]), (9, 2, 3, 4, 2, np.float32, [9, 4]),
               (6, 4, 5, 2, 4, np.float32, [6, 5, 4, 4]), (5, 1, 2, 3, 1, np.float64, [3])]

CONV_VARIANTS = ("flipped", "no_relu", "mean_pool", "no_bias", "unmasked", "start_inside",
                 "missing_last")


def conv_confusable(args) -> set[str]:
    """Mistakes that give the right answer whatever the numbers, for these shapes and lengths."""
    x, weight, _, lengths = args
    t, k = x.shape[0], weight.shape[2]
    lengths = np.asarray(lengths)
    if t < k or lengths.min() < k or lengths.max() > t:  # the stub says: raise ValueError
        return set(CONV_VARIANTS)
    same = set()
    if k == 1:  # a width-1 window cannot be flipped, nor start inside and end in the padding
        same |= {"flipped", "start_inside"}
    if np.all(lengths == t):  # no padding at all: masking changes nothing
        same |= {"unmasked", "start_inside"}
    if np.all(lengths > t - k):  # no window starts in the padding: both mistakes coincide
        same |= {"start_inside"}
    if np.all(lengths == k):  # one valid window per sentence: its mean is its max
        same |= {"mean_pool"}
    return same


def _real_windows(t: int, k: int, lengths, variant: str = "") -> np.ndarray:
    """(T - k + 1, B) bool: which 0-based window starts s count for each sentence."""
    s = np.arange(t - k + 1)[:, None]
    n = np.asarray(lengths)[None, :]
    if variant == "unmasked":
        return np.ones((t - k + 1, n.shape[1]), dtype=bool)
    if variant == "start_inside":  # the window starts on a real token, may end in padding
        return s < n
    if variant == "missing_last":
        return s + k < n
    return s + k <= n  # the whole window s .. s + k - 1 lies inside the real tokens


def conv_wrong(variant: str = ""):
    """The right answer (variant "") or one known mistake, on one implementation."""
    def fn(x, weight, bias, lengths):
        t, k = x.shape[0], weight.shape[2]
        lengths = np.asarray(lengths)
        if t < k or lengths.min() < k or lengths.max() > t:
            raise ValueError("no window fits: every length must lie between k and T")
        if variant == "flipped":
            weight = weight[:, :, ::-1]
        if variant == "no_bias":
            bias = np.zeros_like(bias)
        h = cnn.conv1d(x.astype(np.float64), np.asarray(weight, np.float64),
                       np.asarray(bias, np.float64))  # (T - k + 1, B, C)
        if variant != "no_relu":
            h = np.maximum(h, 0)
        keep = _real_windows(t, k, lengths, variant)[:, :, None]
        if variant == "mean_pool":
            pooled = (h * keep).sum(axis=0) / keep.sum(axis=0)
        else:
            pooled = np.where(keep, h, -np.inf).max(axis=0)
            if variant == "missing_last":  # a one-window sentence keeps nothing: 0
                pooled = np.where(np.isfinite(pooled), pooled, 0.0)
        return pooled.astype(x.dtype)
    return fn


def conv_reference(x, weight, bias, lengths):
    """Convolution, ReLU, and the max over the windows that lie fully inside each sentence's
    real tokens (0-based starts s = 0 .. lengths[b] - k), in the dtype of x."""
    return conv_wrong("")(x, weight, bias, lengths)


def conv_cases() -> list[Case]:
    """Seeded cases, redrawn until every known mistake gives a different answer (so a hint is
    never shown for a mistake the case cannot tell apart from the right answer or from another
    mistake). The padding
    holds random numbers in most cases and zero vectors (an embedded ``<pad>``) in one."""
    rng = np.random.default_rng(21)

    def telling(args) -> bool:
        """Every known mistake differs from the right answer and from every other mistake,
        so the first hint that matches names the mistake actually made."""
        outputs = [conv_reference(*args)] + [
            conv_wrong(v)(*args) for v in CONV_VARIANTS if v not in conv_confusable(args)]
        for i, a in enumerate(outputs):
            for b in outputs[i + 1:]:
                try:
                    compare_arrays(b, a, "pooled", check_dtype=False)
                except Mismatch:
                    continue
                return False
        return True

    def draw(t, b, d, c, k, dtype, lengths=None, bias_scale=0.5, zero_pad=False):
        for _ in range(10_000):
            bias = bias_scale * rng.standard_normal(c)
            bias[0] = -4.0  # one filter mostly switched off, so the ReLU matters
            n = (rng.integers(k, t + 1, size=b) if lengths is None
                 else np.asarray(lengths)).astype(np.int64)
            x = rng.standard_normal((t, b, d))
            if zero_pad:
                x[np.arange(t)[:, None] >= n[None, :]] = 0.0
            args = (x.astype(dtype), rng.standard_normal((c, d, k)).astype(dtype),
                    bias.astype(dtype), n)
            if telling(args):
                return args
        raise RuntimeError("no telling case found")  # pragma: no cover

    cases = []
    for t, b, d, c, k, dtype, lengths in CONV_SHAPES:
        cases.append(Case(draw(t, b, d, c, k, dtype, lengths),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, D={d}, C={c}, k={k}, "
                          f"lengths {lengths}"))
    cases.append(Case(draw(6, 3, 4, 5, 3, np.float64, [6, 6, 6]),
                      "no padding: every length equals T = 6"))
    cases.append(Case(draw(8, 3, 4, 5, 3, np.float64, [3, 8, 3]),
                      "lengths = k = 3 for two sentences: exactly one window each"))
    cases.append(Case(draw(9, 3, 4, 4, 3, np.float64, [4, 9, 6], zero_pad=True),
                      "padding embedded as zero vectors (the chapter's <pad>): a window of "
                      "padding alone gives ReLU(bias), which must not count"))
    cases.append(Case(draw(8, 3, 2, 4, 3, np.float64, [5, 8, 4], bias_scale=6.0),
                      "large biases of both signs: ReLU turns some filters off (outputs 0)"))
    x, w, bias, n = draw(6, 2, 3, 4, 2, np.float64, [3, 6])
    cases.append(Case((x.astype(np.float32), w, bias, n),
                      "mixed dtypes: x float32, weight and bias float64 -> float32 out"))
    x, w, bias, n = draw(7, 3, 2, 3, 3, np.float64, [7, 5, 3])
    cases.append(Case((x, w.astype(np.float32), bias.astype(np.float32), n),
                      "mixed dtypes: x float64, weight and bias float32 -> float64 out"))
    cases.append(Case((rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4, 3)),
                       rng.standard_normal(5), np.array([2, 2, 2])),
                      "T = 2 < k = 3: no window fits, the stub says raise ValueError",
                      raises=ValueError))
    cases.append(Case((rng.standard_normal((6, 3, 4)), rng.standard_normal((5, 4, 3)),
                       rng.standard_normal(5), np.array([6, 2, 5])),
                      "a sentence of 2 real tokens with k = 3: no window fits, the stub says "
                      "raise ValueError", raises=ValueError))
    return cases


def conv_relu_maxpool(fn) -> CheckResult:
    """Check ``fn(x, weight, bias, lengths) -> pooled``: x (T, B, D) time-major, a batch padded
    at the end; weight (C, D, k) in ``nn.Conv1d``'s layout; bias (C,); lengths (B,) int64, the
    number of real tokens of each sentence (rows ``x[lengths[b]:, b]`` are padding). A 'valid'
    convolution (stride 1, no padding added, filter not flipped, as in PyTorch), ReLU, then for
    each sentence the max over its windows that lie fully inside its real tokens (windows
    t = 1 .. lengths[b] - k + 1): pooled (B, C), a NumPy array in the dtype of x whatever the
    dtype of weight and bias. A sentence shorter than the filter (T < k or lengths[b] < k)
    must raise ValueError. Inputs must not be modified."""
    return run_check(
        "conv_relu_maxpool", fn, conv_cases(), conv_reference,
        arg_names=["x", "weight", "bias", "lengths"], output_name="pooled",
        diagnoses=[
            Diagnosis(conv_wrong("unmasked"),
                      "windows that reach into the padding must not take part in the max: "
                      "sentence b has only lengths[b] - k + 1 windows (set the others to -inf "
                      "before the max, or slice each sentence to its real tokens)."),
            Diagnosis(conv_wrong("start_inside"),
                      "a window that starts on a real token but ends in the padding still "
                      "reads padding: keep only windows that lie FULLY inside the real tokens "
                      "(the last one ends at token lengths[b])."),
            Diagnosis(conv_wrong("missing_last"),
                      "sentence b has lengths[b] - k + 1 windows (t = 1 .. lengths[b] - k + 1); "
                      "the last one, which ends exactly at token lengths[b], is missing."),
            Diagnosis(conv_wrong("flipped"),
                      "do not flip the filter: like nn.Conv1d, window t meets filter column j "
                      "at token t + j - 1 (a cross-correlation)."),
            Diagnosis(conv_wrong("no_relu"),
                      "apply the ReLU, max(0, .), to the feature maps (before or after the max "
                      "gives the same result)."),
            Diagnosis(conv_wrong("mean_pool"),
                      "pool with the MAXIMUM over time, not the mean."),
            Diagnosis(conv_wrong("no_bias"), "add each filter's bias."),
        ])


def rf_cases() -> list[Case]:
    return [
        Case(([(3, 1, 1)],), "one conv layer of width 3"),
        Case(([(3, 1, 1), (3, 1, 1)],), "two conv layers of width 3"),
        Case(([(3, 1, 1), (2, 2, 1), (3, 1, 1)],), "conv 3, pool 2 (stride 2), conv 3"),
        Case(([(4, 2, 1), (3, 1, 1)],), "a strided first layer: conv 4 stride 2, then conv 3"),
        Case(([(5, 1, 1), (2, 2, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)],),
             "five layers, two poolings"),
        Case(([(3, 1, 1), (3, 2, 1), (3, 1, 1)],), "an overlapping pooling: width 3, stride 2"),
        Case(([(1, 1, 1), (2, 3, 1), (1, 1, 1)],), "width-1 layers add nothing"),
        Case(([],), "an empty stack: a unit sees its own position only (1)"),
        Case(([(2, 3, 1), (3, 1, 1)],), "a stride larger than the kernel: conv 2 stride 3, conv 3"),
        Case(([(3, 1, 1), (3, 1, 3)],), "conv 3, then conv 3 with dilation 3"),
        Case(([(3, 1, 2), (2, 2, 1), (3, 1, 3)],),
             "dilation 2, pool 2 (stride 2), dilation 3"),
        Case(([(3, 2, 2), (3, 1, 1)],), "a strided AND dilated layer: conv 3, stride 2, "
                                        "dilation 2, then conv 3"),
        Case(([(1, 1, 5), (3, 1, 1)],), "a width-1 layer with dilation 5 adds nothing"),
    ]


def rf_reference(layers):
    return cnn.receptive_field(layers)


RF_VARIANTS = ("no_stride", "own_stride", "sum_kernels", "no_dilation", "dilation_in_jump",
               "dilation_times_k")


def rf_wrong(variant: str):
    def wrong(layers):
        r, jump = 1, 1
        for k, s, dil in layers:
            if variant == "sum_kernels":
                r = (r - 1 if r == 1 else r) + (k - 1) * dil * jump + 1
                jump *= s
                continue
            if variant == "own_stride":
                jump *= s
            step = 1 if variant == "no_stride" else jump
            if variant == "no_dilation":
                r += (k - 1) * step
            elif variant == "dilation_times_k":
                r += (k * dil - 1) * step
            else:
                r += (k - 1) * dil * step
            if variant != "own_stride":
                jump *= s
            if variant == "dilation_in_jump":
                jump *= dil
        return r
    return wrong


def receptive_field(fn) -> CheckResult:
    """Check ``fn(layers) -> int``: layers is a list of (kernel, stride, dilation) triples of
    ints >= 1, bottom layer first (a pooling of width p and stride p is (p, p, 1)); return how
    many consecutive input positions one unit of the top layer depends on, as an int (a float
    such as 3.0 fails). An empty list gives 1. The list must not be modified."""
    return run_check(
        "receptive_field", fn, rf_cases(), rf_reference, promise=integer_promise,
        arg_names=["layers"],
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
            Diagnosis(rf_wrong("no_dilation"),
                      "a dilation spaces the layer's k taps that many steps apart: its window "
                      "spans (k - 1) * dilation + 1 steps of the layer below."),
            Diagnosis(rf_wrong("dilation_in_jump"),
                      "a dilation widens its own layer's window only; unlike a stride it does "
                      "not space out the units that the layers above read."),
            Diagnosis(rf_wrong("dilation_times_k"),
                      "with dilation the k taps leave k - 1 gaps of `dilation` steps each: the "
                      "layer adds (k - 1) * dilation steps, not k * dilation - 1."),
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
    ``conv_relu_maxpool`` with every sentence unpadded (all lengths equal to T):
    pooled[b, c] = max over the 0-based starts s = 0 .. T-k of ReLU(bias[c] + sum_j
    weight[c, :, j] @ x[s + j, b]) (windows t = s + 1 = 1 .. T - k + 1 in the course's
    1-based maths).

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
    return run_check(
        "conv_maxpool_backward", fn, conv_backward_cases(), conv_backward_reference,
        arg_names=["x", "weight", "bias", "dpooled"], output_name="(dx, dweight, dbias)",
        diagnoses=telling_hints(conv_backward_wrong, conv_backward_reference, {
            "no_relu_grad":
                "the ReLU's derivative is 0 where its input is negative: a filter whose best "
                "window is below 0 outputs 0 and passes no gradient back.",
            "every_window":
                "the max passes the gradient to ONE window per sentence and filter, the one "
                "that won (argmax over t); the other windows get nothing.",
            "flipped":
                "the forward pass does not flip the filter (cross-correlation): the window "
                "that starts at array row s meets weight[:, :, j] at x[s + j], so dx[s + j] "
                "gets weight[:, :, j] and dweight[:, :, j] gets x[s + j].",
            "overwrite":
                "windows of different filters overlap: ADD each window's contribution to dx "
                "(+=); assigning overwrites what other filters already put there.",
            "bias_unsummed":
                "the bias is shared by every sentence of the batch: sum its gradient over the "
                "batch, giving shape (C,).",
            "bias_mean":
                "sum the bias gradient over the batch, do not average it (the 1/B of a mean "
                "loss is already inside dpooled).",
        }))


# ---- predict, then run: a dilated filter has holes (issue 13)

HOLES_DISTANCES = tuple(range(1, 7))
HOLES_STEPS = 150
HOLES_BODY, HOLES_MARGIN = 20, 5  # sequences of 30 tokens; no marker within 5 of an edge


def dilated_layer_accuracies(seed: int = 0) -> dict[int, float]:
    """The experiment of ``predict_dilation_holes``: ONE convolution layer of width 3 and
    dilation 2 (taps at offsets 0, 2, 4: it spans 5 tokens), 32 filters, global max pooling and
    a linear layer, trained on the order task with distances 1 .. 6 (``cnn.train_order_model``,
    150 steps, seed ``seed``), then tested on 1,000 held-out sequences per distance.
    Returns {d: accuracy}. About 1 s on one core."""
    import torch
    from torch import nn

    class OneDilatedLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(cnn.ORDER_VOCAB, 16)
            self.conv = nn.Conv1d(16, 32, 3, dilation=2)
            self.out = nn.Linear(32, 2)

        def forward(self, tokens):
            h = torch.relu(self.conv(self.embed(tokens).transpose(1, 2)))
            return self.out(h.amax(dim=2))

    with env.isolated_run():  # seeded and on one thread, as a design check trains
        torch.manual_seed(seed)
        model = OneDilatedLayer()
        cnn.train_order_model(model, steps=HOLES_STEPS, seed=seed, max_distance=6,
                              warmup=0.0, body=HOLES_BODY, margin=HOLES_MARGIN)
        return cnn.order_accuracy(model, HOLES_DISTANCES, n=1000, body=HOLES_BODY,
                                  margin=HOLES_MARGIN)


def predict_dilation_holes(fn) -> PredictionResult:
    """``fn() -> float``: your predicted test accuracy (a fraction, 0.5 = chance, 1.0 = perfect)
    of the single dilated layer of :func:`dilated_layer_accuracies` when the markers A and B
    are adjacent (distance d = 1). Close means within 0.10. The prediction is read first; then
    the checker trains and tests the layer and shows the accuracy at every distance 1 .. 6.
    Never graded."""
    accs = {}

    def experiment():
        accs.update(dilated_layer_accuracies())
        return accs[1]

    result = check_prediction("predict_dilation_holes", fn, experiment, abs_tol=0.10)
    if accs:  # the experiment ran: a usable prediction came first
        print("the experiment, test accuracy per distance d (width 3, dilation 2, one layer): "
              + ", ".join(f"d={d}: {a:.0%}" for d, a in accs.items()))
    return result


# ---- design: a CNN that relates two markers 40 tokens apart (issue 13)

# The recipe, the test and the rules of the exercise are learner-facing: they live in
# ``course_utils.cnn`` (ORDER_CNN_*, imported above). What follows is how a miss is explained.
MISS_SHORT_DISTANCES = (1, 2, 3, 4)  # did the model learn the task at all?
MISS_SHORT_N = 500  # test sequences per short distance
MISS_UNTRAINED = 0.6  # below this at every distance, short ones included: it did not train
MISS_POSITION_GAP = 0.10  # this much above the control at a distance: position was read


def _forbidden(model) -> list[str]:
    from torch import nn

    kinds = (nn.RNNBase, nn.RNNCellBase, nn.MultiheadAttention, nn.Transformer,
             nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
    return sorted({type(m).__name__ for m in model.modules() if isinstance(m, kinds)})


def _probe(model, length: int, batch: int, seed: int) -> None:
    """Run the model on int64 tokens (batch, length); raise LearnerError unless it returns finite
    float logits of shape (batch, 2)."""
    import torch

    tokens, _ = tasks.margined_order_task(batch, 5, seed=seed, body=length - 2 * 5, margin=5)
    other = length != tasks.MARGINED_ORDER_LENGTH
    pool = (" (the model must accept any length >= 130: pool over time, e.g. the max over "
            "positions, so that any length gives one vector per sequence)" if other else "")
    try:
        with torch.no_grad():
            out = model(torch.from_numpy(tokens))
    except LEARNER_ERRORS as exc:  # the learner's model, reported
        raise LearnerError(f"your model raised {type(exc).__name__} on int64 tokens of "
                           f"shape ({batch}, {length}): {exc}{learner_frame(exc)}{pool}"
                           ) from None
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        raise LearnerError(f"your model must return a float tensor of logits; on tokens "
                           f"({batch}, {length}) it returned {type(out).__name__}"
                           + (f" of dtype {out.dtype}" if isinstance(out, torch.Tensor)
                              else ""))
    if tuple(out.shape) != (batch, 2):
        raise LearnerError(f"on tokens of shape ({batch}, {length}) your model returned "
                           f"shape {tuple(out.shape)}, expected ({batch}, 2){pool}")
    if not torch.isfinite(out).all():
        raise LearnerError("your untrained model returns NaN or infinite logits")


def build_order_model(build, seed: int = ORDER_CNN_SEED):
    """Call ``build()`` after ``torch.manual_seed(seed)`` and check the rules of the design
    exercise before any training. Returns ``(model, n_params, n_convs)``; raises
    :class:`~course_utils.errors.LearnerError` when the answer cannot be trained."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    try:
        model = build()
    except NotImplementedError:
        raise LearnerError("not attempted yet: replace `raise NotImplementedError` "
                           "in build() by code that returns your model.",
                           attempted=False) from None
    except LEARNER_ERRORS as exc:
        raise LearnerError(f"build() raised {type(exc).__name__}: {exc}"
                           f"{learner_frame(exc)}") from None
    if not isinstance(model, nn.Module):
        raise LearnerError(f"build() must return a torch.nn.Module, got "
                           f"{type(model).__name__}")
    bad = _forbidden(model)
    if bad:
        raise LearnerError(f"a CNN only: your model contains {', '.join(bad)} (recurrent "
                           "and attention layers are not allowed here)")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    if len(convs) > ORDER_CNN_MAX_CONVS:
        raise LearnerError(f"your model has {len(convs)} nn.Conv1d layers; the budget is "
                           f"{ORDER_CNN_MAX_CONVS}. Nothing was trained.")
    wide = [m.kernel_size[0] for m in convs if m.kernel_size[0] > ORDER_CNN_MAX_KERNEL]
    if wide:
        raise LearnerError(f"every nn.Conv1d must have kernel_size <= "
                           f"{ORDER_CNN_MAX_KERNEL}; yours has {wide}. Nothing was trained.")
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n_params > ORDER_CNN_MAX_PARAMS:
        raise LearnerError(f"{n_params:,} trainable parameters, over the budget of "
                           f"{ORDER_CNN_MAX_PARAMS:,}; use fewer channels or a smaller "
                           "embedding. Nothing was trained.")
    if n_params == 0:
        raise LearnerError("your model has no trainable parameters")
    model.eval()
    _probe(model, tasks.MARGINED_ORDER_LENGTH, 4, seed=123)
    _probe(model, ORDER_CNN_PROBE_LENGTH, 2, seed=124)
    return model, n_params, len(convs)


def run_order_cnn(build, seed: int = ORDER_CNN_SEED) -> tuple[str, str, dict[int, float]]:
    """Build, check, train and test the learner's model exactly as :func:`order_cnn` does.
    Returns ``(status, message, accuracies)`` ({} when nothing was trained); never raises
    because of the learner's code."""
    # order_cnn runs inside the same isolation already; tests and notebooks call this directly
    with env.isolated_run():
        try:
            model, n_params, n_convs = build_order_model(build, seed)
        except LearnerError as err:
            return (FAILED if err.attempted else NOT_ATTEMPTED), err.message, {}
        try:
            loss = cnn.train_order_model(
                model, steps=ORDER_CNN_STEPS, seed=seed, max_distance=ORDER_CNN_MAX_DISTANCE,
                batch_size=ORDER_CNN_BATCH, lr=ORDER_CNN_LR)
            accs = cnn.order_accuracy(model, ORDER_CNN_DISTANCES, n=ORDER_CNN_TEST_N)
            short = cnn.order_accuracy(model, MISS_SHORT_DISTANCES, n=MISS_SHORT_N)
            field = stacked_receptive_field(model)
            margin = control_margin(field)
            control = cnn.order_accuracy(model, ORDER_CNN_DISTANCES, n=ORDER_CNN_TEST_N,
                                         margin=margin)
        except LEARNER_ERRORS as exc:
            return FAILED, (f"training or testing your model raised {type(exc).__name__}: "
                            f"{exc}{learner_frame(exc)}"), {}
    what = (f"what ran: seed {seed}, 1 thread, Adam (lr {ORDER_CNN_LR}), {ORDER_CNN_STEPS} "
            f"steps of {ORDER_CNN_BATCH} fresh sequences of {tasks.MARGINED_ORDER_LENGTH} tokens "
            f"(distance uniform in 1 .. d_max, d_max growing from 4 to "
            f"{ORDER_CNN_MAX_DISTANCE} over the first half); {n_params:,} parameters (budget "
            f"{ORDER_CNN_MAX_PARAMS:,}), {n_convs} Conv1d layer(s) (at most "
            f"{ORDER_CNN_MAX_CONVS}, kernel <= {ORDER_CNN_MAX_KERNEL}); test: "
            f"{ORDER_CNN_TEST_N:,} held-out sequences per distance")
    if not np.isfinite(loss):
        return FAILED, f"training diverged (the loss became NaN or infinite).\n  {what}", accs
    table = ", ".join(f"d = {d}: {100 * a:.1f} %" for d, a in accs.items())
    ctable = ", ".join(f"{100 * a:.1f} %" for a in control.values())
    head = (f"test accuracy {table} (target >= {100 * ORDER_CNN_TARGET:.0f} % at each distance); "
            f"control with {margin} fillers at each end, where a marker's place says nothing "
            f"about the order: {ctable} (target >= {100 * ORDER_CNN_CONTROL_TARGET:.0f} %)")
    passed = min(accs.values()) >= ORDER_CNN_TARGET
    if passed and min(control.values()) >= ORDER_CNN_CONTROL_TARGET:
        return PASSED, f"{head}.\n  {what}", accs
    near = ", ".join(f"{100 * a:.0f} %" for a in short.values())
    span = (f"{field} tokens, counted from your Conv1d and pooling layers in the order they "
            "were defined" if field is not None else "not countable from your layers")
    d_lo, d_hi = MISS_SHORT_DISTANCES[0], MISS_SHORT_DISTANCES[-1]
    # passed without the control, or well above it at some distance: position was read
    gaps = [accs[d] - control[d] for d in accs]
    if passed or max(gaps) >= MISS_POSITION_GAP:
        advice = (f"Your model scores higher on the checker's sequences than in the control, "
                  f"where the markers sit {margin} fillers from each end. It reads the order, at "
                  "least in part, from where a marker sits, not from the two markers together: a "
                  "unit whose window holds a marker and an end of the sequence (or the zero "
                  "padding beyond it) can tell how far the marker is from that end, and at "
                  f"d = {ORDER_CNN_MAX_DISTANCE} the first marker always sits near the start of "
                  f"the body. Its receptive field is {span}. Make one unit relate the two markers "
                  "wherever they sit. If the control fails at only some distances, look for holes "
                  "too (exercise 4): a distance no unit can span may still be guessed from where "
                  "the markers sit.")
    elif (max(short.values()) < MISS_UNTRAINED and max(accs.values()) < MISS_UNTRAINED
          and (field is None or field > d_hi)):
        advice = (f"Your model did not train: it is at chance even at d = {d_lo} .. {d_hi} "
                  f"({near}), where the two markers fall inside its receptive field ({span}). "
                  f"The receptive field is not what failed here: under the checker's recipe the "
                  f"training never got off the ground (final training loss {loss:.3f}; ln 2 = "
                  "0.693 is a coin flip). Look for what stops the gradient: ReLUs that are "
                  "never active, a layer whose output does not depend on the tokens, a tensor "
                  "cut off from the graph (.detach(), .numpy()), or an initialisation the fixed "
                  "recipe cannot move.")
    else:
        advice = (f"Your model learned the task at short distances (d = {d_lo} .. {d_hi}: "
                  f"{near}) but not at the tested ones: its receptive field is too small or "
                  f"has holes, or the fixed recipe did not reach the far distances. Its "
                  f"receptive field is {span}. Work it out with exercise 2's "
                  "receptive_field: one unit must see the two markers together, "
                  f"{ORDER_CNN_MAX_DISTANCE + 1} consecutive tokens at d = "
                  f"{ORDER_CNN_MAX_DISTANCE}, and every offset up to that must be reachable (a "
                  "dilated filter skips positions, as exercise 4 showed).")
    return FAILED, f"not yet: {head}.\n  {what}\n  {advice}", accs


def control_margin(field: int | None) -> int:
    """Fillers at each end in the control test: at least the receptive field (so no unit sees a
    marker and an end together), at least 100, at most 300 (300 when it is not countable)."""
    low, high = ORDER_CNN_CONTROL_MARGIN
    return high if field is None else min(high, max(low, field))


def stacked_receptive_field(model) -> int | None:
    """The receptive field of the model's ``Conv1d``, ``MaxPool1d`` and ``AvgPool1d`` layers
    taken as one stack in the order they were defined (what a sequential CNN is), or None
    when a layer's settings are not plain integers. A parallel design is overestimated."""
    from torch import nn

    layers = []
    for m in model.modules():
        if isinstance(m, nn.Conv1d):
            layers.append((m.kernel_size[0], m.stride[0], m.dilation[0]))
        elif isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)):
            k, st = m.kernel_size, m.stride if m.stride is not None else m.kernel_size
            dil = getattr(m, "dilation", 1)
            k, st, dil = (v[0] if isinstance(v, tuple) else v for v in (k, st, dil))
            layers.append((k, st, dil))
    try:
        return cnn.receptive_field([tuple(int(v) for v in layer) for layer in layers])
    except (TypeError, ValueError):
        return None


@design_checker
def order_cnn(build, seed: int = ORDER_CNN_SEED) -> CheckResult:
    """Check ``build() -> model``: a CNN for chapter 02's order task at long distances.

    ``model`` maps int64 token ids of shape (B, L) (vocabulary 16: 2 = A, 3 = B, 4..15 fillers;
    the checker uses ``tasks.MARGINED_ORDER_LENGTH`` tokens: fillers, a body holding A and B,
    fillers) to float logits of shape (B, 2) (class 1: A comes first), for any longer L too
    (the checker also tries ``ORDER_CNN_PROBE_LENGTH``). Every number of the exercise is a
    constant of ``course_utils.cnn`` (``ORDER_CNN_*``, the single source; the messages are
    formatted from them). Rules, checked before training: at most ``ORDER_CNN_MAX_CONVS``
    ``nn.Conv1d`` layers, each with kernel_size <= ``ORDER_CNN_MAX_KERNEL``, at most
    ``ORDER_CNN_MAX_PARAMS`` trainable parameters, no recurrent or attention layer. The checker
    seeds torch with ``seed`` (``ORDER_CNN_SEED``) before ``build()``, trains with its own fixed
    recipe (:func:`course_utils.cnn.train_order_model`: Adam, ``ORDER_CNN_LR``,
    ``ORDER_CNN_STEPS`` steps of ``ORDER_CNN_BATCH`` sequences, one thread) and passes when the
    test accuracy reaches ``ORDER_CNN_TARGET`` at each distance of ``ORDER_CNN_DISTANCES``, and
    ``ORDER_CNN_CONTROL_TARGET`` in a control where the same distances sit max(low, receptive
    field) fillers from each end (at most high; ``ORDER_CNN_CONTROL_MARGIN``), so that a
    marker's place carries no clue. Machine-independent: the budget is steps and parameters,
    not seconds. A miss is explained (``MISS_*`` above): a model well above the control reads
    where a marker sits; a model at chance even at the short distances did not train (its
    receptive field is not the problem); one that learned those sees too little or has holes.
    """
    try:
        status, message, _ = run_order_cnn(build, seed)
    except LEARNER_ERRORS as exc:  # a checker never raises at the learner
        status, message = FAILED, f"the checker could not run your model: {exc!r}"
    return report(CheckResult("order_cnn", status, message))


