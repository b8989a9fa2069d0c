"""Seeded synthetic sequence tasks, each built to isolate one point about sequence models.

Every generator takes an explicit ``seed``: the same arguments and seed give identical arrays.
Token ids follow :mod:`course_utils.text`: 0 is padding and 1 (unknown) is never generated, so
token arrays can be fed to the same embedding layers as real text.

- :func:`order_task`: the label is the order of two markers, which bag-of-words cannot see.
- :func:`adding_problem`: the long-range regression test of Hochreiter & Schmidhuber (1997), in
  the variant of Le, Jaitly & Hinton (2015).
- :func:`memory_task`: store a value, ignore fillers, overwrite on a new value (LSTM gates).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["MEMORY_WRITE_BASE", "ORDER_A", "ORDER_B", "ORDER_FIRST_FILLER", "MemoryTask",
           "adding_problem", "memory_task", "order_task"]

# Token ids of the order task; 0 = padding and 1 = unknown are reserved as in course_utils.text.
ORDER_A = 2
ORDER_B = 3
ORDER_FIRST_FILLER = 4

# In the memory task, "write v" is token MEMORY_WRITE_BASE + v, so label == token - 2.
MEMORY_WRITE_BASE = 2


def _as_range(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """An int k means the range (k, k); ranges are inclusive at both ends."""
    low, high = (value, value) if np.isscalar(value) else value
    if low > high:
        raise ValueError(f"{name}: empty range ({low}, {high})")
    return int(low), int(high)


def order_task(n: int, length: int, distance: int | tuple[int, int], vocab_size: int = 16, *,
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


def adding_problem(n: int, length: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem, time-major, in the variant of Le, Jaitly & Hinton (2015).

    Each sequence has two channels: channel 0 holds values uniform in [0, 1]; channel 1 is 0
    except for exactly two 1s, one at a uniform array index i < length // 2 in the first half
    (time step t = i + 1 <= length // 2; ``x[t - 1]`` holds x_t) and one in the second half. The
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
        x: np.float32 array, shape (length, n, 2), time-major.
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
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[first, cols] + values[second, cols]).astype(np.float32)
    return x, y


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
    # The first `high` entries of a random permutation of 0..span-1 are distinct positions.
    slots = np.argsort(rng.random((n, span)), axis=1)[:, :high]
    used = np.arange(high) < counts[:, None]
    # Unused slots get the value `span`, so sorting puts the used positions first, in time order.
    positions = np.sort(np.where(used, slots, span), axis=1)
    values = _changing_values(rng, n, high, n_values)
    rows = np.nonzero(used)[0]
    tokens[rows, positions[used]] = MEMORY_WRITE_BASE + values[used]
    is_write = np.zeros((n, length), dtype=bool)
    is_write[rows, positions[used]] = True
    labels = values[np.arange(n), counts - 1]
    return MemoryTask(tokens, labels, is_write)
