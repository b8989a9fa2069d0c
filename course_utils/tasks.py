"""Seeded synthetic sequence tasks, each built to isolate one point about sequence models.

Every generator takes an explicit ``seed``: the same arguments and seed give identical arrays.
Token ids follow :mod:`course_utils.text`: 0 is padding and 1 (unknown) is never generated, so
token arrays can be fed to the same embedding layers as real text.

Layout, one rule for every generator here: **batch-first**. Dim 0 indexes the sequences and
dim 1 the time steps, so tokens are ``(N, T)`` and real-valued inputs ``(N, T, D)``; per-step
annotations (``is_write``, ``kind``) are ``(N, T)`` and labels ``(N,)``. That is the layout
:func:`course_utils.training.fit` and the PyTorch models take. The course's NumPy code
(:mod:`course_utils.scratch`, the traces of :mod:`course_utils.gates`) is time-major,
``(T, N, D)``, like the maths' ``x_t``: convert with :func:`to_time_major` (the one in
:mod:`course_utils.text`, importable from here too).

- :func:`order_task`: the label is the order of two markers, which bag-of-words cannot see;
  :func:`margined_order_task` adds wide random margins (chapter 02's long-distance version).
- :func:`adding_problem`: the long-range regression test of Hochreiter & Schmidhuber (1997), in
  the variant of Le, Jaitly & Hinton (2015).
- :func:`memory_task`: store a value, ignore fillers, overwrite on a new value (LSTM gates).
- :func:`marked_memory_task`: the same with loud distractors that only a marker bit tells
  apart from writes (chapter 06's gate study).
- :func:`sign_memory_task`: remember the sign of the first input (chapter 05's clipping run).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from course_utils.text import to_time_major

__all__ = ["FIRST_WRITE", "IRRELEVANT", "MARGINED_ORDER_BODY", "MARGINED_ORDER_LENGTH",
           "MARGINED_ORDER_MARGIN", "MEMORY_WRITE_BASE", "ORDER_A", "ORDER_B",
           "ORDER_FIRST_FILLER", "ORDER_VOCAB", "REPLACING_WRITE", "MarkedMemoryTask",
           "MemoryTask", "adding_problem", "margined_order_task", "marked_memory_task",
           "memory_task", "order_task", "sign_memory_task", "to_time_major"]

# Token ids of the order task; 0 = padding and 1 = unknown are reserved as in course_utils.text.
ORDER_A = 2
ORDER_B = 3
ORDER_FIRST_FILLER = 4
ORDER_VOCAB = 16    # the order task's default number of token ids: fillers 4..15

# The long-distance order task of chapter 02 (margined_order_task): markers in a body of 50
# tokens, with 40 random fillers at both ends, so no marker lies within 40 tokens of an edge.
MARGINED_ORDER_BODY = 50
MARGINED_ORDER_MARGIN = 40
MARGINED_ORDER_LENGTH = MARGINED_ORDER_BODY + 2 * MARGINED_ORDER_MARGIN   # 130 tokens

# In the memory task, "write v" is token MEMORY_WRITE_BASE + v, so label == token - 2.
MEMORY_WRITE_BASE = 2


def _as_range(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """An int k means the range (k, k); ranges are inclusive at both ends."""
    low, high = (value, value) if np.isscalar(value) else value
    if low > high:
        raise ValueError(f"{name}: empty range ({low}, {high})")
    return int(low), int(high)


def _distinct_slots(rng: np.random.Generator, counts: np.ndarray, span: int,
                    high: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``high`` distinct write positions in 0 .. span-1 per sequence, in time order.

    Sequence i uses ``counts[i]`` of them. Returns ``(positions, used)``, both (n, high):
    ``positions[i, :counts[i]]`` are the sorted positions and the unused slots hold ``span``;
    ``used`` marks the used slots. Draws one ``rng.random((n, span))``.
    """
    # The first `high` entries of a random permutation of 0..span-1 are distinct positions.
    slots = np.argsort(rng.random((len(counts), span)), axis=1)[:, :high]
    used = np.arange(high) < counts[:, None]
    # Unused slots get the value `span`, so sorting puts the used positions first, in time order.
    return np.sort(np.where(used, slots, span), axis=1), used


def order_task(n: int, length: int, distance: int | tuple[int, int],
               vocab_size: int = ORDER_VOCAB, *,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of random fillers with markers A and B; the label says which comes first.

    Token ids: 0 padding (never generated here), ``ORDER_A`` = 2, ``ORDER_B`` = 3, fillers
    ``ORDER_FIRST_FILLER`` = 4 .. vocab_size-1, drawn independently and uniformly. Each sequence
    holds exactly one A and one B, at 0-based columns p and p + d of ``tokens`` (time steps
    p + 1 and p + d + 1 in the course's 1-based maths), with d = ``distance`` (or drawn
    uniformly from the inclusive range ``distance = (low, high)`` per sequence) and p uniform
    among the positions where the pair fits. Label 1 if A comes first, 0 if B comes first;
    exactly n // 2 sequences have label 1 and the others label 0, in random order.

    Why bag-of-words is at chance: the count vector of every sequence is "one A, one B and
    length-2 iid fillers" in both classes, so counts have the same distribution given either
    label and no function of them (TF-IDF + logistic regression, a mean of embeddings, ...)
    can beat 50 % accuracy. A CNN whose receptive field is narrower than d + 1 never sees both
    markers in one window and, after max-pooling over time, is at chance too (up to effects at
    the sequence edges). Only a model that keeps order over d steps can solve it.

    Args:
        n: number of sequences.
        length: tokens per sequence (>= 2).
        distance: d, an int or an inclusive range (low, high) with 1 <= low <= high < length.
        vocab_size: number of token ids, reserved ones included (>= 5).
        seed: seed of the random generator.

    Returns:
        tokens: np.int64 array, shape (n, length).
        labels: np.int64 array, shape (n,), values 0 or 1.
    """
    low, high = _as_range(distance, "distance")
    if not 1 <= low <= high < length:
        raise ValueError(f"need 1 <= distance <= length-1 = {length - 1}; got {distance}")
    if vocab_size <= ORDER_FIRST_FILLER:
        raise ValueError(f"vocab_size must be > {ORDER_FIRST_FILLER} to leave room for fillers")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(ORDER_FIRST_FILLER, vocab_size, size=(n, length))
    labels = rng.permutation(np.arange(n) % 2)
    gaps = rng.integers(low, high + 1, size=n)
    first = rng.integers(0, length - gaps)  # the pair (first, first + gap) fits in the sequence
    rows = np.arange(n)
    tokens[rows, first] = np.where(labels == 1, ORDER_A, ORDER_B)
    tokens[rows, first + gaps] = np.where(labels == 1, ORDER_B, ORDER_A)
    return tokens, labels


def margined_order_task(n: int, distance: int | tuple[int, int], *, seed: int,
                        body: int = MARGINED_ORDER_BODY,
                        margin: int = MARGINED_ORDER_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """:func:`order_task` sequences of ``body`` tokens (vocabulary ``ORDER_VOCAB`` = 16, seed
    ``seed``) with ``margin`` random fillers added at both ends (seed ``seed + 1``), as in
    chapter 02's experiment: no marker lies within ``margin`` tokens of an edge.

    Returns:
        tokens: np.int64 (n, body + 2 * margin); labels: np.int64 (n,), 1 if A comes first.
    """
    tokens, labels = order_task(n, body, distance, ORDER_VOCAB, seed=seed)
    rng = np.random.default_rng(seed + 1)
    pads = [rng.integers(ORDER_FIRST_FILLER, ORDER_VOCAB, size=(n, margin)) for _ in range(2)]
    return np.concatenate([pads[0], tokens, pads[1]], axis=1), labels


def adding_problem(n: int, length: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem, in the variant of Le, Jaitly & Hinton (2015).

    Each sequence has two channels: channel 0 holds values uniform in [0, 1]; channel 1 is 0
    except for exactly two 1s, one at a uniform array index i < length // 2 in the first half
    (time step t = i + 1 <= length // 2; ``x[:, t - 1]`` holds x_t) and one in the second half. The
    target is the sum of the two marked values.

    This is the common modern form, used by Le, Jaitly & Hinton (2015) and much later work. The
    task comes from Hochreiter & Schmidhuber (1997), whose original differs: values uniform in
    [-1, 1], marker rules of their own, and the target 0.5 + (X1 + X2) / 4.

    Baseline: the target has mean 1 and variance 2 * 1/12 = 1/6, so always predicting 1.0 gives
    MSE = 1/6 ≈ 0.167. A model must get well below that to show it found and kept the marked
    values; predicting 0.5 + (the second marked value) already gives 1/12 ≈ 0.083.

    Args:
        n: number of sequences.
        length: time steps (>= 2).
        seed: seed of the random generator.

    Returns:
        x: np.float32 array, shape (n, length, 2).
        y: np.float32 array, shape (n,).
    """
    if length < 2:
        raise ValueError(f"length must be >= 2; got {length}")
    rng = np.random.default_rng(seed)
    half = length // 2
    values = rng.random((length, n))
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    cols = np.arange(n)
    markers = np.zeros((length, n))
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)   # drawn time-major ...
    y = (values[first, cols] + values[second, cols]).astype(np.float32)
    return to_time_major(x), y   # ... and returned batch-first (the swap works both ways)


class MemoryTask(NamedTuple):
    """Output of :func:`memory_task`; unpacks as ``tokens, labels, is_write = ...``.

    Attributes:
        tokens: np.int64 array, shape (n, length).
        labels: np.int64 array, shape (n,), values 0 .. n_values-1.
        is_write: bool array, shape (n, length), True where a write token stands.
    """

    tokens: np.ndarray
    labels: np.ndarray
    is_write: np.ndarray


def _changing_values(rng: np.random.Generator, n: int, k: int, n_values: int) -> np.ndarray:
    """(n, k) values in 0..n_values-1, each uniform and different from the one before it."""
    values = np.empty((n, k), dtype=np.int64)
    values[:, 0] = rng.integers(0, n_values, size=n)
    for j in range(1, k):
        # A nonzero shift modulo n_values is uniform over the other n_values - 1 values.
        values[:, j] = (values[:, j - 1] + rng.integers(1, n_values, size=n)) % n_values
    return values


def memory_task(n: int, length: int, n_values: int = 4, n_writes: int | tuple[int, int] = (1, 3),
                min_gap: int | None = None, n_fillers: int = 8, *, seed: int) -> MemoryTask:
    """Remember the last written value across long stretches of irrelevant tokens.

    Each sequence is filler tokens with a few "write v" tokens at distinct random positions;
    the label is v of the LAST write. Every write carries a value different from the previous
    write, so each later write makes the stored value obsolete: a model has to open its input
    gate at writes, keep its memory through the fillers and replace (forget) it at the next
    write. ``is_write`` marks the writes, for aligning gate activations with them.

    Token ids: 0 padding (never generated), ``MEMORY_WRITE_BASE + v`` = 2 + v for "write v"
    (v = 0 .. n_values-1, so label = token - 2), fillers 2 + n_values .. 2 + n_values +
    n_fillers - 1, drawn uniformly. The vocabulary size is thus 2 + n_values + n_fillers.

    The number of writes is uniform in the inclusive range ``n_writes`` (at least 1, so every
    sequence has a label). Writes are placed uniformly in the first length - min_gap positions,
    so at least ``min_gap`` fillers follow the last write and the answer must be held that long.
    Labels are uniform over the values (not exactly balanced).

    Args:
        n: number of sequences.
        length: tokens per sequence.
        n_values: number of distinct values (>= 2).
        n_writes: writes per sequence, an int or an inclusive range (low, high), low >= 1.
        min_gap: fillers after the last write at least; default length // 4.
        n_fillers: number of distinct filler tokens (>= 1).
        seed: seed of the random generator.

    Returns:
        MemoryTask(tokens, labels, is_write), see :class:`MemoryTask`.
    """
    low, high = _as_range(n_writes, "n_writes")
    gap = length // 4 if min_gap is None else min_gap
    span = length - gap  # writes go to positions 0 .. span-1
    if not 1 <= low <= high <= span or gap < 0:
        raise ValueError(f"need 1 <= n_writes <= length - min_gap = {span}; got {n_writes}")
    if n_values < 2 or n_fillers < 1:
        raise ValueError("need n_values >= 2 and n_fillers >= 1")
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, n_fillers, size=(n, length)) + MEMORY_WRITE_BASE + n_values
    counts = rng.integers(low, high + 1, size=n)
    positions, used = _distinct_slots(rng, counts, span, high)
    values = _changing_values(rng, n, high, n_values)
    rows = np.nonzero(used)[0]
    tokens[rows, positions[used]] = MEMORY_WRITE_BASE + values[used]
    is_write = np.zeros((n, length), dtype=bool)
    is_write[rows, positions[used]] = True
    labels = values[np.arange(n), counts - 1]
    return MemoryTask(tokens, labels, is_write)


# ---------------------------------------------------------------------------------------------
# A memory task with loud irrelevant input (chapter 06)
# ---------------------------------------------------------------------------------------------

# Kinds of step in a marked memory task (the ``kind`` array).
IRRELEVANT, FIRST_WRITE, REPLACING_WRITE = 0, 1, 2


class MarkedMemoryTask(NamedTuple):
    """Output of :func:`marked_memory_task`; unpacks as ``x, labels, kind = ...``.

    Attributes:
        x: float32 (n, T, n_values + 1): a one-hot value and a marker bit per step.
        labels: int64 (n,), the value shown at the last marked step.
        kind: int8 (n, T): ``IRRELEVANT`` (0), ``FIRST_WRITE`` (1) or ``REPLACING_WRITE`` (2).
    """

    x: np.ndarray
    labels: np.ndarray
    kind: np.ndarray

    @property
    def values(self) -> np.ndarray:
        """int64 (n, T): the value shown at every step."""
        return self.x[..., :-1].argmax(-1)

    @property
    def marks(self) -> np.ndarray:
        """bool (n, T): True at the marked (important) steps."""
        return self.x[..., -1] > 0.5


def marked_memory_task(n: int, length: int = 40, n_values: int = 4,
                       n_marks: int | tuple[int, int] = (1, 3), min_gap: int | None = None, *,
                       seed: int) -> MarkedMemoryTask:
    """Remember the value shown at the last *marked* step; every other step is a distractor.

    At every step the input shows one of ``n_values`` values (one-hot, uniform at random) and a
    marker bit. Between 1 and 3 steps (``n_marks``, inclusive range) carry the marker; the label
    is the value at the last marked step. Each marked value differs from the previous marked
    one, so every marked step after the first makes the stored memory obsolete. Marks are
    placed uniformly in the first ``length - min_gap`` steps (default ``min_gap = length // 4``),
    so the answer must be held over at least ``min_gap`` irrelevant steps at the end.

    Why not :func:`memory_task`: there, irrelevant steps are *filler tokens* with their own
    embeddings, and a network can learn embeddings that leave its cell alone; then it never
    needs to close its input gate. Here an unmarked step shows a value just like a marked one,
    and only the marker bit tells them apart: keeping distractors out of the memory needs a
    multiplicative gate.

    Returns:
        MarkedMemoryTask(x, labels, kind), batch-first: see :class:`MarkedMemoryTask`.
    """
    low, high = _as_range(n_marks, "n_marks")
    gap = length // 4 if min_gap is None else min_gap
    span = length - gap
    if not 1 <= low <= high <= span or gap < 0 or n_values < 2:
        raise ValueError(f"need 1 <= n_marks <= length - min_gap = {span} and n_values >= 2")
    rng = np.random.default_rng(seed)
    # drawn time-major, (length, n), and returned batch-first
    values = rng.integers(0, n_values, size=(length, n))
    counts = rng.integers(low, high + 1, size=n)
    positions, used = _distinct_slots(rng, counts, span, high)
    kind = np.zeros((length, n), dtype=np.int8)
    for j in range(high):
        rows = np.nonzero(used[:, j])[0]
        kind[positions[rows, j], rows] = FIRST_WRITE if j == 0 else REPLACING_WRITE
        if j > 0:  # a nonzero shift modulo n_values: uniform over the other values
            before = values[positions[rows, j - 1], rows]
            shift = rng.integers(1, n_values, size=len(rows))
            values[positions[rows, j], rows] = (before + shift) % n_values
    cols = np.arange(n)
    labels = values[positions[cols, counts - 1], cols].astype(np.int64)
    x = np.concatenate([np.eye(n_values, dtype=np.float32)[values],
                        (kind > 0)[..., None].astype(np.float32)], axis=-1)
    return MarkedMemoryTask(to_time_major(x), labels, to_time_major(kind))   # swapped: (n, T)


# ---------------------------------------------------------------------------------------------
# Remember a sign (chapter 05)
# ---------------------------------------------------------------------------------------------


def sign_memory_task(n: int, T: int = 30, *, noise: float = 0.1,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Remember the sign of the first input for T steps.

    x: float32 (n, T, 1) (``x[:, t - 1]`` holds x_t): x_1 = s * u, stored in ``x[:, 0]``,
    with s = +-1 and u uniform in [0.5, 1.5]; x_2 .. x_T are noise of standard deviation
    ``noise``. y: float32 (n,) = 0.8 * s.
    To solve it, the input-free map h -> tanh(W_hh h + b) must let the first input decide where
    the state goes. It can do so with two stable fixed points, one per sign, or with one stable
    cycle of period 2 that both signs reach half a period apart, so that the sign is held in the
    cycle's phase and the answer flips with the parity of T. The nets that chapter 05 trains
    (``course_utils.pathologies.train_memory_rnn``: lr 1.0, clipping at 0.5, seeds 0-4,
    T = 30) all take the second way: their period-2 cycle
    surrounds an unstable fixed point whose largest eigenvalue lies beyond -1 (real in four of
    the five, as a flip, or period-doubling, bifurcation leaves it), and they give the wrong
    sign for every sequence at T = 31. Either change of the
    map's long-run behaviour is a bifurcation, and with it a cliff in the loss lies on the way.
    """
    rng = np.random.default_rng(seed)
    s = rng.choice([-1.0, 1.0], size=n)
    x = noise * rng.standard_normal((T, n, 1))   # drawn time-major, returned batch-first
    x[0, :, 0] = s * rng.uniform(0.5, 1.5, size=n)
    return to_time_major(x.astype(np.float32)), (0.8 * s).astype(np.float32)   # swapped: (n, T)
