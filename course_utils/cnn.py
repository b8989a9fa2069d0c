"""Convolutions over word windows, in NumPy, and their receptive fields (chapter 02).

Layout: the NumPy code of the course is time-major, so a batch of embedded sentences is
``x`` of shape ``(T, B, D)`` (T words, B sentences, D embedding dimensions). Filters use
PyTorch's ``nn.Conv1d`` layout, ``weight`` of shape ``(C, D, k)`` (C filters of width k) and
``bias`` of shape ``(C,)``, so a trained PyTorch layer can be copied in directly.

Like PyTorch (and every deep-learning library), the "convolution" is a cross-correlation: the
filter is *not* flipped, ``out[s] = sum_o weight[:, :, o] @ x[s + o] + bias``. These are 0-based
array indices; in the course's 1-based maths, ``out[s]`` is window t = s + 1, which covers the
words x_t, ..., x_{t+k-1} (``x[t - 1]`` holds x_t, as everywhere in the course).

Figures: :func:`draw_sliding_window` (a filter sliding over a sentence, then max-over-time
pooling), :func:`draw_receptive_field` (stacked layers and the input span of one unit) and
:func:`draw_text_cnn` (Kim's pipeline: parallel widths, pooling, concatenation, dropout, linear).

The order task at long distances (chapter 02's exercises 4 and 5, in PyTorch): sequences with
wide random margins (``tasks.margined_order_task``), one fixed, seeded training recipe
(:func:`train_order_model`) and held-out accuracy per distance (:func:`order_accuracy`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_utils import env, scratch, tasks, training

__all__ = ["ORDER_VOCAB", "conv1d", "conv_relu_maxpool", "draw_receptive_field",
           "draw_sliding_window", "draw_text_cnn", "max_over_time", "order_accuracy",
           "receptive_field", "receptive_field_table", "train_order_model"]


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 'valid' 1-D convolution (stride 1, no padding) sliding along time.

    Args:
        x: (T, B, D) inputs, T >= k.
        weight: (C, D, k) filters, PyTorch's ``Conv1d.weight`` layout.
        bias: (C,).

    Returns:
        (T - k + 1, B, C) array, one value per window and filter, in the course's dtype rule
        (``scratch.float_dtype`` of ``x``): float32/float64 ``x`` keeps its dtype, anything
        else (integers, bools) gives float64.
    """
    T, B, D = x.shape
    C, _, k = weight.shape
    n_windows = T - k + 1
    if n_windows < 1:
        raise ValueError(f"sequence of length {T} is shorter than the filter ({k})")
    # Accumulate in the wider dtype of x and weight, return in x's (float32 stays float32).
    out = np.zeros((n_windows, B, C), dtype=np.result_type(x, weight))
    # Window s covers x[s], ..., x[s + k - 1]. Looping over the k offsets instead of the windows
    # turns each term into one matrix product over all windows at once:
    # out[s] += x[s + o] @ weight[:, :, o].T for every s.
    for o in range(k):
        out += x[o:o + n_windows] @ weight[:, :, o].T  # (n_windows, B, D) @ (D, C)
    return (out + bias).astype(scratch.float_dtype(x), copy=False)  # (T - k + 1, B, C)


def max_over_time(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max-over-time pooling: the largest value of each filter over all positions.

    Args:
        h: (T', B, C) feature maps.

    Returns:
        pooled: (B, C), and where: (B, C) int64, the 0-based index of each maximum's window
        (window t = where + 1 in the 1-based maths).
    """
    pooled = h.max(axis=0)  # (B, C)
    where = h.argmax(axis=0)  # (B, C)
    return pooled, where


def conv_relu_maxpool(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Convolution, ReLU, max over time: one fixed-size vector per sentence.

    Args:
        x: (T, B, D); weight: (C, D, k); bias: (C,).

    Returns:
        (B, C) array of the dtype of ``x``, whatever T is.
    """
    h = np.maximum(conv1d(x, weight, bias), 0)  # (T - k + 1, B, C), ReLU of every window
    pooled, _ = max_over_time(h)  # (B, C)
    return pooled


def _layer(spec) -> tuple[int, int, int]:
    """``(kernel, stride)`` or ``(kernel, stride, dilation)`` -> (k, s, d), d = 1 by default."""
    k = int(spec[0])
    s = int(spec[1])
    d = int(spec[2]) if len(spec) > 2 else 1
    if min(k, s, d) < 1:
        raise ValueError(f"kernel, stride and dilation must be >= 1, got {spec}")
    return k, s, d


def receptive_field_table(layers: Sequence[Sequence[int]]) -> list[dict]:
    """Receptive field r and jump j after each layer of a stack of 1-D convolutions/poolings.

    A layer is ``(kernel, stride)`` or ``(kernel, stride, dilation)``; a pooling layer of width
    p and stride p is ``(p, p)``. With r_0 = 1 and j_0 = 1 (one input position):

        r_l = r_{l-1} + (k_l - 1) * δ_l * j_{l-1},     j_l = j_{l-1} * s_l,

    where δ_l is layer l's dilation (the course keeps d for a distance between two tokens) and
    j_{l-1} is how many input positions one step of layer l-1 moves (the product of the earlier
    strides).

    Returns:
        one dict per layer with keys ``layer`` (1-based), ``kernel``, ``stride``, ``dilation``,
        ``jump`` (j_l) and ``rf`` (r_l).
    """
    r = 1  # r_0: one input position
    jump = 1  # j_0
    rows = []
    for number, spec in enumerate(layers, start=1):
        k, s, d = _layer(spec)
        r = r + (k - 1) * d * jump  # r_l, with jump = j_{l-1}
        jump = jump * s  # j_l
        rows.append({"layer": number, "kernel": k, "stride": s, "dilation": d,
                     "jump": jump, "rf": r})
    return rows


def receptive_field(layers: Sequence[Sequence[int]]) -> int:
    """Number of input positions one output unit of the stack sees (1 for an empty stack).

    ``layers`` as in :func:`receptive_field_table`. A conv of width k alone sees k words; global
    max pooling on top adds nothing to what one feature can combine, since it only picks the
    best window.
    """
    rows = receptive_field_table(layers)
    return rows[-1]["rf"] if rows else 1


# ---------------------------------------------------------------------------------------------
# Figures


def draw_sliding_window(words: Sequence[str], k: int, scores: Sequence[float], ax=None,
                        highlight: int | None = None):
    """A filter of width k sliding over ``words``, its score per window, and the max.

    Args:
        words: the tokens of one sentence (T of them).
        k: filter width.
        scores: T - k + 1 numbers, the filter's output (after ReLU) at each window.
        highlight: the window drawn as a bracket under the words; default the argmax.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from course_utils.plotting import PALETTE

    scores = np.asarray(scores, dtype=float)
    T = len(words)
    if len(scores) != T - k + 1:
        raise ValueError(f"need {T - k + 1} scores for {T} words and width {k}")
    ax = ax or plt.gca()
    best = int(np.argmax(scores))
    highlight = best if highlight is None else highlight
    top = max(float(scores.max()), 1e-9)
    for t, w in enumerate(words):
        ax.add_patch(FancyBboxPatch((t + 0.06, 0.0), 0.88, 0.6, boxstyle="round,pad=0.02",
                                    fc="#DCEAF7", ec=PALETTE[0], lw=1))
        ax.text(t + 0.5, 0.3, w, ha="center", va="center", fontsize=9)
    # the highlighted window: a bracket under its words
    ax.plot([highlight + 0.05, highlight + 0.05, highlight + k - 0.05, highlight + k - 0.05],
            [-0.1, -0.25, -0.25, -0.1], color=PALETTE[3], lw=2)
    ax.text(highlight + k / 2, -0.45, f"window of k = {k} words", ha="center", va="top",
            color=PALETTE[3], fontsize=9)
    # one score per window, drawn above the window's centre
    for t, s in enumerate(scores):
        cx = t + k / 2
        h = 1.1 * s / top
        color = PALETTE[3] if t == best else PALETTE[1]
        ax.add_patch(plt.Rectangle((cx - 0.3, 1.0), 0.6, h, fc=color, ec="none", alpha=0.85))
        ax.text(cx, 1.0 + h + 0.05, f"{s:.2f}", ha="center", va="bottom", fontsize=8)
        ax.plot([t + 0.5, cx, t + k - 0.5], [0.62, 0.95, 0.62], color="#999999", lw=0.6)
    # the arrow ends at the right edge of the winning bar, just below its top
    tip = 1.0 + 1.1 * scores[best] / top - 0.05
    ax.annotate("max over time", xy=(best + k / 2 + 0.3, tip), xytext=(T + 0.2, tip),
                ha="left", va="center", color=PALETTE[3], fontsize=9,
                arrowprops={"arrowstyle": "<-", "color": PALETTE[3]})
    ax.set_xlim(-0.2, T + 2.6)
    ax.set_ylim(-0.8, 2.6)
    ax.set_axis_off()
    return ax


def draw_receptive_field(layers: Sequence[Sequence[int]], n_inputs: int, ax=None,
                         names: Sequence[str] | None = None, unit: int | None = None):
    """Stacked 1-D layers as rows of units, with the input span of one top unit shaded.

    Args:
        layers: ``(kernel, stride[, dilation])`` per layer, as in :func:`receptive_field_table`.
        n_inputs: number of input positions drawn (the bottom row).
        names: a label per row, inputs first; default "input", "layer 1", ...
        unit: index of the top-row unit whose cone is drawn; default the middle one.
    """
    import matplotlib.pyplot as plt

    from course_utils.plotting import PALETTE

    ax = ax or plt.gca()
    specs = [_layer(s) for s in layers]
    # positions (in input coordinates: the centre of the span each unit sees) per row
    rows = [np.arange(n_inputs, dtype=float)]
    spans = [[(i, i) for i in range(n_inputs)]]
    first, r, jump = 0.0, 1, 1
    for k, s, d in specs:
        n_prev = len(rows[-1])
        n_out = (n_prev - (k - 1) * d - 1) // s + 1
        if n_out < 1:
            raise ValueError("too few inputs for this stack; increase n_inputs")
        r_new = r + (k - 1) * d * jump
        starts = [int(first) + i * s * jump for i in range(n_out)]
        spans.append([(a, a + r_new - 1) for a in starts])
        rows.append(np.array([a + (r_new - 1) / 2 for a in starts]))
        first, r, jump = starts[0], r_new, jump * s
    names = list(names) if names is not None else ["input"] + [
        f"layer {i}: k={k}, s={s}" + (f", δ={d}" if d > 1 else "")
        for i, (k, s, d) in enumerate(specs, start=1)]
    top = len(rows) - 1
    unit = len(rows[top]) // 2 if unit is None else unit
    # walk down from the chosen unit: which units of each row feed it
    active = [set() for _ in rows]
    active[top] = {unit}
    for level in range(top, 0, -1):
        k, s, d = specs[level - 1]
        active[level - 1] = {i * s + m * d for i in active[level] for m in range(k)}
    lo, hi = spans[top][unit]
    ax.axvspan(lo - 0.45, hi + 0.45, ymin=0, ymax=1, color=PALETTE[1], alpha=0.15, lw=0)
    for level in range(1, len(rows)):
        k, s, d = specs[level - 1]
        for i in active[level]:
            for m in range(k):
                src = i * s + m * d
                ax.plot([rows[level - 1][src], rows[level][i]], [level - 1, level],
                        color=PALETTE[3], lw=1.2, zorder=1)
    for level, xs in enumerate(rows):
        on = np.array([i in active[level] for i in range(len(xs))])
        ax.scatter(xs[~on], np.full((~on).sum(), level), s=40, color="#BBBBBB", zorder=2)
        ax.scatter(xs[on], np.full(on.sum(), level), s=55, color=PALETTE[3], zorder=3)
        ax.text(-1.0, level, names[level], ha="right", va="center", fontsize=9)
    ax.text((lo + hi) / 2, -0.6, f"receptive field: {hi - lo + 1} inputs", ha="center",
            va="top", color=PALETTE[1], fontsize=9, fontweight="bold")
    ax.set_xlim(-7.5, n_inputs)
    ax.set_ylim(-1.0, top + 0.5)
    ax.set_axis_off()
    return ax


def draw_text_cnn(widths: Sequence[int] = (3, 4, 5), ax=None):
    """Kim's (2014) text CNN as a diagram: embed, one convolution per width (+ ReLU), max over
    time per width, concatenate, dropout, linear + softmax. Shapes are per sentence (T tokens,
    D embedding dimensions, C filters per width)."""
    from course_utils import diagram_kit as kit

    n = len(widths)
    top = 1.3 * (n - 1)
    ax = kit.canvas((-0.2, 15.0), (-0.9, top + 0.9), ax=ax, scale=0.72)
    mid = top / 2
    tokens = kit.value(ax, (0.6, mid), "T tokens", width=1.2)
    embed = kit.layer(ax, (2.5, mid), "embed\n(T, D)", width=1.4, height=0.8)
    kit.arrow(ax, tokens, embed)
    concat = kit.op(ax, (9.6, mid), "concat", radius=0.35, width=1.2)
    for i, k in enumerate(widths):
        y = top - 1.3 * i
        conv = kit.layer(ax, (5.0, y), f"conv k = {k}\n+ ReLU", width=1.7, height=0.8)
        pool = kit.op(ax, (7.5, y), "max over\ntime", radius=0.4, width=1.6)
        kit.arrow(ax, embed, conv)
        kit.arrow(ax, conv, pool)
        ax.text(6.25, y + 0.48, f"(T−{k}+1, C)", ha="center", fontsize=7)
        kit.arrow(ax, pool, concat, "C" if i == 0 else None)
    drop = kit.op(ax, (11.4, mid), "dropout", radius=0.35, width=1.3)
    kit.arrow(ax, concat, drop, f"{n}C")
    out = kit.layer(ax, (13.6, mid), "linear\n+ softmax", width=1.6, height=0.8)
    kit.arrow(ax, drop, out)
    kit.legend(ax, loc="lower left", labels={"op": "operation without weights"})
    return ax


# ---------------------------------------------------------------------------------------------
# The order task at long distances: data and a fixed training recipe (chapter 02's design and
# "predict, then run" exercises), data from tasks.margined_order_task. PyTorch is imported inside
# the functions.

ORDER_VOCAB = tasks.ORDER_VOCAB   # the models' vocabulary: token ids 0 .. 15 of the order task


def train_order_model(model, *, steps: int, seed: int, max_distance: int = 40,
                      warmup: float = 0.5, batch_size: int = 64, lr: float = 3e-3,
                      body: int = tasks.MARGINED_ORDER_BODY,
                      margin: int = tasks.MARGINED_ORDER_MARGIN) -> float:
    """Train ``model`` (int64 tokens (B, L) -> logits (B, 2)) on the order task with a fixed
    recipe: Adam (``lr``), cross-entropy, ``steps`` mini-batches of ``batch_size`` fresh
    sequences, one thread, on the CPU (``training.fit`` with ``batches=``). A curriculum: at
    step s the marker distance is drawn uniformly from
    1 .. d_max(s), where d_max grows linearly from 4 to ``max_distance`` over the first
    ``warmup`` share of the steps and then stays there (without it, a stack that covers the
    distance rarely gets off the ground: the loss stays at ln 2). Deterministic for a given
    model initialisation and ``seed``. Returns the mean loss of the last 20 steps (a float;
    NaN if the loss became NaN or infinite)."""
    ramp = max(1, int(warmup * steps))

    def curriculum():
        for step in range(steps):
            d_max = min(max_distance, 4 + (max_distance - 4) * step // ramp)
            yield tasks.margined_order_task(batch_size, (1, d_max), seed=seed * 100_003 + step,
                                            body=body, margin=margin)

    with env.limit_threads(1):
        hist = training.fit(model, batches=curriculum(), lr=lr, device="cpu",
                            show_progress=False)
    return float("nan") if hist.diverged else float(np.mean(hist.step_loss[-20:]))


def order_accuracy(model, distances, *, n: int = 1000, seed: int = 10**9,
                   body: int = tasks.MARGINED_ORDER_BODY,
                   margin: int = tasks.MARGINED_ORDER_MARGIN) -> dict[int, float]:
    """Accuracy of ``model`` on ``n`` held-out order-task sequences per distance (seed
    ``seed + d`` for distance d; the training data of :func:`train_order_model` uses other
    seeds). Returns {d: accuracy as a Python float}."""
    import torch

    was_training = model.training
    model.eval()
    out = {}
    try:
        with torch.no_grad():
            for d in distances:
                tokens, labels = tasks.margined_order_task(n, int(d), seed=seed + int(d),
                                                           body=body, margin=margin)
                pred = model(torch.from_numpy(tokens)).argmax(dim=1).numpy()
                out[int(d)] = float(np.mean(pred == labels))
    finally:
        model.train(was_training)  # the caller's mode, as it was
    return out




# ---- chapter 02's design exercise: the fixed recipe and the rules -----------------------------
#
# What the checker ``checks.order_cnn`` does with the learner's CNN, stated here so that a
# notebook can train a model exactly as the checker does (``torch.manual_seed(ORDER_CNN_SEED)``,
# build, :func:`train_order_model` with the recipe below, :func:`order_accuracy`). The checker
# imports these; how it explains a miss is its own business.

# The recipe: seed (weights and training data), Adam steps, sequences per step, learning rate,
# the largest distance trained on (the curriculum grows to it over the first half).
ORDER_CNN_SEED = 0
ORDER_CNN_STEPS = 400
ORDER_CNN_BATCH = 64
ORDER_CNN_LR = 3e-3
ORDER_CNN_MAX_DISTANCE = 40
# The test: held-out sequences per distance, the distances, the accuracy to reach at each.
ORDER_CNN_DISTANCES = (20, 31, 40)  # one odd: an all-even stack of dilations has holes there
ORDER_CNN_TEST_N = 1000
ORDER_CNN_TARGET = 0.95
# The rules, checked before any training: parameters, Conv1d layers, kernel width, and a
# second sequence length the model must accept (so it must pool over time).
ORDER_CNN_MAX_PARAMS = 5000
ORDER_CNN_MAX_CONVS = 4
ORDER_CNN_MAX_KERNEL = 3
ORDER_CNN_PROBE_LENGTH = 150
# The control: the same distances with wide margins, at least the receptive field on each side,
# so no unit sees a marker and an end of the sequence together (a padded stack with a receptive
# field above 41 can read the order from where a marker sits at the standard margins of 40).
# Its target is lower than 95 %: longer sequences hold more filler windows, which cost a correct
# stack a few points (dilations 1, 3, 9, 27, seed 2: 95.0 % at d = 40 with 80 fillers a side).
ORDER_CNN_CONTROL_MARGIN = (100, 300)  # fillers a side: max(100, receptive field), at most 300
ORDER_CNN_CONTROL_TARGET = 0.90
