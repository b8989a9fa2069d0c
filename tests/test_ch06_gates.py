"""Chapter 06/07 helpers in gates: joint erasure and train_until as a thin wrapper over fit."""

import numpy as np
import pytest
import torch

from course_utils import gates, tasks, training
from course_utils.models import RecurrentModel


def _model(kind, hidden=5, seed=0):
    torch.manual_seed(seed)
    return RecurrentModel(kind, hidden, 3, input_dim=4)


def _h_and_c_after_erasure(model, x, t0, units, also_hidden):
    """What the erasure test feeds the second half of the sequence, computed independently."""
    from course_utils import scratch

    p = scratch.params_from_torch(model.rnn)
    xs = np.asarray(x, dtype=np.float64)
    zero = np.zeros((xs.shape[1], p["weight_hh"].shape[1]))
    h_a, c_a, _ = scratch.lstm_forward(xs[:t0], zero, zero, p)
    h0, c0 = h_a[-1].copy(), c_a[-1].copy()
    c0[:, units] = 0.0
    if also_hidden:
        h0[:, units] = 0.0
    h_b, _, _ = scratch.lstm_forward(xs[t0:], h0, c0, p)
    return gates.head_outputs(model, h_b[-1])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_groups_of_one_equal_single_unit_erasure(kind):
    model = _model(kind)
    task = tasks.marked_memory_task(40, 12, n_values=3, seed=4)
    x = tasks.to_time_major(task.x)  # (T, n, D), as the gates functions take it
    base, single = gates.erasure_scores(model, x, task.labels, 7)
    base_g, grouped = gates.erasure_scores(model, x, task.labels, 7,
                                           groups=[[j] for j in range(5)])
    assert base_g == base
    np.testing.assert_array_equal(grouped, single)
    # an empty group erases nothing
    _, nothing = gates.erasure_scores(model, x, task.labels, 7, groups=[[]])
    assert nothing[0] == base


@pytest.mark.parametrize("also_hidden", [False, True])
def test_joint_erasure_erases_the_whole_group(also_hidden):
    model = _model("lstm")
    task = tasks.marked_memory_task(60, 12, n_values=3, seed=5)
    x = tasks.to_time_major(task.x)  # (T, n, D), as the gates functions take it
    group = [0, 3]
    _, (score,) = gates.erasure_scores(model, x, task.labels, 7, groups=[group],
                                       also_hidden=also_hidden)
    logits = _h_and_c_after_erasure(model, x, 7, group, also_hidden)
    assert score == pytest.approx(float(np.mean(logits.argmax(-1) == task.labels)))
    # erasing the hidden state too changes what the model reads next (for this random model)
    _, (cell_only,) = gates.erasure_scores(model, x, task.labels, 7, groups=[group],
                                           task="classification")
    _, (both,) = gates.erasure_scores(model, x, task.labels, 7, groups=[group],
                                      also_hidden=True)
    assert np.any(_h_and_c_after_erasure(model, x, 7, group, False)
                  != _h_and_c_after_erasure(model, x, 7, group, True))
    assert 0 <= cell_only <= 1 and 0 <= both <= 1


def test_also_hidden_changes_the_score():
    """Scored by the MSE of a one-output model, any change in what the model reads after the
    erasure changes the score, so a version that ignores also_hidden cannot pass."""
    torch.manual_seed(1)
    model = RecurrentModel("lstm", 5, 1, input_dim=4)
    task = tasks.marked_memory_task(30, 12, n_values=3, seed=5)
    x = tasks.to_time_major(task.x)
    target = task.labels.astype(np.float64)
    group = [0, 3]
    scores = {}
    for also_hidden in (False, True):
        _, (scores[also_hidden],) = gates.erasure_scores(
            model, x, target, 7, task="regression", groups=[group], also_hidden=also_hidden)
        by_hand = _h_and_c_after_erasure(model, x, 7, group, also_hidden)
        assert scores[also_hidden] == pytest.approx(float(np.mean((by_hand - target) ** 2)),
                                                    rel=1e-12)
    assert abs(scores[True] - scores[False]) > 1e-6


def test_gates_check_the_layout_of_x():
    model = _model("lstm")                      # input size 4
    task = tasks.marked_memory_task(10, 8, n_values=3, seed=6)   # batch-first (10, 8, 4)
    x = tasks.to_time_major(task.x)                              # time-major (8, 10, 4)
    gates.lstm_trace(model, x)
    with pytest.raises(ValueError, match=r"time-major floats \(T, N, D\) with D = 4"):
        gates.lstm_trace(model, x[..., :3])
    with pytest.raises(ValueError, match=r"\(T, N, D\)"):
        gates.lstm_trace(model, x[:, 0])                         # 2-D
    with pytest.raises(ValueError, match="10 sequences but target has 8|8 sequences but target"):
        gates.erasure_scores(model, task.x, task.labels, 4)      # batch-first given
    with pytest.raises(ValueError, match="target has 9"):
        gates.erasure_scores(model, x, task.labels[:9], 4)
    with pytest.raises(ValueError, match="time-major"):
        gates.gru_trace(_model("gru"), x[..., :2])
    torch.manual_seed(0)
    tokens_model = RecurrentModel("gru", 5, 3, vocab_size=6)
    tokens = np.random.default_rng(0).integers(0, 6, (10, 8))   # (N, T) int ids
    assert gates.gru_trace(tokens_model, tokens)["h"].shape == (8, 10, 5)
    with pytest.raises(ValueError, match=r"int token ids, batch-first \(N, T\)"):
        gates.gru_trace(tokens_model, tokens.astype(np.float64))
    with pytest.raises(ValueError, match="8 sequences but target has 10"):
        gates.erasure_scores(tokens_model, tokens.T, np.zeros(10, dtype=int), 4)  # (T, N) tokens


def test_erasure_rejects_bad_units():
    model = _model("gru")
    task = tasks.marked_memory_task(10, 8, n_values=3, seed=6)
    x = tasks.to_time_major(task.x)  # (T, n, D), as the gates functions take it
    with pytest.raises(ValueError):
        gates.erasure_scores(model, x, task.labels, 4, groups=[[5]])


def _regression_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6, 2)).astype(np.float32)
    y = (x[:, 0, 0] + x[:, -1, 1]).astype(np.float32)
    return x, y


def test_train_until_is_one_fit_with_a_stop_rule():
    """Same seed, same model: train_until must be exactly fit + reach(target), one optimiser."""
    train, valid = _regression_data(256, 0), _regression_data(64, 1)
    kw = dict(batch_size=32, lr=0.02, clip=1.0, show_progress=False)
    m1 = RecurrentModel("lstm", 8, 1, input_dim=2)
    m2 = RecurrentModel("lstm", 8, 1, input_dim=2)
    m2.load_state_dict(m1.state_dict())
    h1 = gates.train_until(m1, train, valid, target=1e-9, max_epochs=4, seed=3, **kw)
    h2 = training.fit(m2, train, valid, task="regression", epochs=4, seed=3, **kw)
    assert h1.test_metric == h2.test_metric and len(h1.test_metric) == 4
    assert h1.stopped == "" and h1.epochs == 4           # target not reached: budget spent


def test_train_until_stops_at_the_target():
    train, valid = _regression_data(256, 0), _regression_data(64, 1)
    model = RecurrentModel("lstm", 8, 1, input_dim=2)
    first = training.evaluate(model, valid, task="regression")[1]
    hist = gates.train_until(model, train, valid, target=10 * first, max_epochs=5, seed=0,
                             batch_size=32, lr=0.02, show_progress=False)
    assert hist.epochs == 1 and "target" in hist.stopped and len(hist.test_metric) == 1
