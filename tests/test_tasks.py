"""Tests of course_utils.tasks: shapes, token conventions, determinism and the stated baselines."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from course_utils import tasks
from course_utils.tasks import (
    MEMORY_WRITE_BASE,
    ORDER_A,
    ORDER_B,
    ORDER_FIRST_FILLER,
    adding_problem,
    memory_task,
    order_task,
)

# ---- order task ---------------------------------------------------------------------------


def _positions(tokens, token_id):
    rows, cols = np.nonzero(tokens == token_id)
    assert np.array_equal(rows, np.arange(len(tokens)))  # exactly one per row
    return cols


def test_order_task_structure():
    tokens, labels = order_task(1001, 30, 7, vocab_size=12, seed=0)
    assert tokens.shape == (1001, 30) and labels.shape == (1001,)
    assert tokens.dtype == labels.dtype == np.int64
    a, b = _positions(tokens, ORDER_A), _positions(tokens, ORDER_B)
    assert np.all(np.abs(a - b) == 7)
    np.testing.assert_array_equal(labels, (a < b).astype(np.int64))
    fillers = tokens[(tokens != ORDER_A) & (tokens != ORDER_B)]
    assert fillers.min() == ORDER_FIRST_FILLER and fillers.max() == 11
    assert np.bincount(labels).tolist() == [501, 500]


def test_order_task_distance_range_and_determinism():
    tokens, labels = order_task(2000, 20, (1, 19), seed=5)
    gaps = np.abs(_positions(tokens, ORDER_A) - _positions(tokens, ORDER_B))
    assert gaps.min() == 1 and gaps.max() == 19
    again = order_task(2000, 20, (1, 19), seed=5)
    np.testing.assert_array_equal(tokens, again[0])
    np.testing.assert_array_equal(labels, again[1])
    assert not np.array_equal(tokens, order_task(2000, 20, (1, 19), seed=6)[0])


def test_order_task_defeats_bag_of_words():
    vocab_size = 10
    tokens, labels = order_task(20_000, 25, (3, 12), vocab_size=vocab_size, seed=1)
    counts = np.stack([np.bincount(row, minlength=vocab_size) for row in tokens])
    # Same count distribution in both classes: per-class mean counts agree within 4 standard
    # errors of their difference (sampling noise alone) ...
    c0, c1 = counts[labels == 0], counts[labels == 1]
    std_err = np.sqrt(c0.var(0) / len(c0) + c1.var(0) / len(c1))
    assert np.all(np.abs(c0.mean(0) - c1.mean(0)) <= 4 * std_err)
    assert np.all(counts[:, ORDER_A] == 1) and np.all(counts[:, ORDER_B] == 1)
    # ... so a classifier on counts stays at chance on fresh data.
    test_tokens, test_labels = order_task(20_000, 25, (3, 12), vocab_size=vocab_size, seed=2)
    test_counts = np.stack([np.bincount(row, minlength=vocab_size) for row in test_tokens])
    clf = LogisticRegression(max_iter=500).fit(counts, labels)
    assert abs(clf.score(test_counts, test_labels) - 0.5) < 0.02


@pytest.mark.parametrize("kwargs", [
    dict(distance=0), dict(distance=10), dict(distance=(5, 3)), dict(distance=3, vocab_size=4),
])
def test_order_task_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        order_task(10, 10, **{"seed": 0, **kwargs})


# ---- adding problem -----------------------------------------------------------------------


def test_adding_problem_structure():
    x, y = adding_problem(500, 21, seed=0)
    assert x.shape == (500, 21, 2) and y.shape == (500,)   # batch-first
    assert x.dtype == y.dtype == np.float32 and x.flags.c_contiguous
    values, markers = x[..., 0], x[..., 1]
    assert values.min() >= 0 and values.max() <= 1
    assert np.all(markers.sum(1) == 2)
    assert np.all(markers[:, :10].sum(1) == 1) and np.all(markers[:, 10:].sum(1) == 1)
    np.testing.assert_allclose(y, (values * markers).sum(1), rtol=1e-6)
    np.testing.assert_array_equal(x, adding_problem(500, 21, seed=0)[0])


def test_adding_problem_constant_baseline():
    _, y = adding_problem(200_000, 10, seed=3)
    assert abs(np.mean((y - 1.0) ** 2) - 1 / 6) < 0.003


# ---- memory task --------------------------------------------------------------------------


def test_memory_task_structure():
    n, length, n_values, n_fillers, min_gap = 3000, 40, 5, 6, 12
    tokens, labels, is_write = memory_task(n, length, n_values=n_values, n_writes=(1, 4),
                                           min_gap=min_gap, n_fillers=n_fillers, seed=0)
    assert tokens.shape == is_write.shape == (n, length) and labels.shape == (n,)
    assert tokens.dtype == labels.dtype == np.int64 and is_write.dtype == bool
    first_filler = MEMORY_WRITE_BASE + n_values
    np.testing.assert_array_equal(is_write, tokens < first_filler)
    assert MEMORY_WRITE_BASE <= tokens.min() <= tokens.max() < first_filler + n_fillers
    n_writes = is_write.sum(1)
    assert n_writes.min() == 1 and n_writes.max() == 4
    assert not is_write[:, length - min_gap:].any()  # the answer must be held >= min_gap steps
    for row in range(n):
        values = tokens[row, is_write[row]] - MEMORY_WRITE_BASE
        assert labels[row] == values[-1]
        assert np.all(values[1:] != values[:-1])  # every write changes the answer
    assert np.bincount(labels).min() > 0.8 * n / n_values


def test_memory_task_writes_are_spread_and_deterministic():
    m = memory_task(4000, 100, seed=7)  # default min_gap = 25, so writes in 0..74
    cols = np.nonzero(m.is_write)[1]
    assert cols.max() == 74 and cols.min() == 0
    assert abs(cols.mean() - 37) < 2
    again = memory_task(4000, 100, seed=7)
    for a, b in zip(m, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_memory_task_fixed_number_of_writes_and_errors():
    m = memory_task(50, 10, n_writes=3, min_gap=0, seed=1)
    assert np.all(m.is_write.sum(1) == 3)
    with pytest.raises(ValueError):
        memory_task(5, 10, n_writes=(0, 2), seed=0)
    with pytest.raises(ValueError):
        memory_task(5, 10, n_writes=5, min_gap=6, seed=0)
    with pytest.raises(ValueError):
        memory_task(5, 10, n_values=1, seed=0)


# ---- the layout convention and the generators that moved here -----------------------------


def test_marked_memory_task_is_batch_first_with_the_stated_labels():
    task = tasks.marked_memory_task(50, 20, n_values=3, seed=1)
    assert task.x.shape == (50, 20, 4) and task.x.dtype == np.float32
    assert task.kind.shape == task.values.shape == task.marks.shape == (50, 20)
    assert np.all(task.x[..., :-1].sum(-1) == 1)  # one-hot values
    assert np.array_equal(task.marks, task.kind > 0)
    assert np.all(task.marks.sum(1) >= 1) and np.all(task.marks.sum(1) <= 3)
    assert not task.marks[:, 20 - 20 // 4:].any()  # the last min_gap steps are irrelevant
    for b in range(50):
        pos = np.nonzero(task.marks[b])[0]
        vals = task.values[b, pos]
        assert task.labels[b] == vals[-1]
        assert np.all(vals[1:] != vals[:-1])  # each write replaces the stored value
        assert task.kind[b, pos[0]] == tasks.FIRST_WRITE
        assert np.all(task.kind[b, pos[1:]] == tasks.REPLACING_WRITE)
    np.testing.assert_array_equal(tasks.marked_memory_task(50, 20, n_values=3, seed=1).x, task.x)


def test_sign_memory_task_puts_the_sign_first():
    x, y = tasks.sign_memory_task(200, 7, seed=3)
    assert x.shape == (200, 7, 1) and x.dtype == y.dtype == np.float32
    np.testing.assert_allclose(np.abs(y), 0.8)
    assert np.all(np.sign(x[:, 0, 0]) == np.sign(y)) and np.all(np.abs(x[:, 0, 0]) >= 0.5)
    assert np.abs(x[:, 1:]).max() < 1.0  # the rest is noise of standard deviation 0.1


def test_margined_order_task_keeps_markers_out_of_the_margins():
    tokens, labels = tasks.margined_order_task(300, (1, 6), seed=2, body=20, margin=5)
    assert tokens.shape == (300, 30) and tasks.MARGINED_ORDER_LENGTH == 130
    a, b = _positions(tokens, ORDER_A), _positions(tokens, ORDER_B)
    assert min(a.min(), b.min()) >= 5 and max(a.max(), b.max()) < 25
    np.testing.assert_array_equal(labels, (a < b).astype(np.int64))
    inner, _ = order_task(300, 20, (1, 6), seed=2)
    np.testing.assert_array_equal(tokens[:, 5:25], inner)  # the body is order_task's
