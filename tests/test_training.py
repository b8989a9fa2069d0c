"""The shared training loop and the shared models."""

import math

import numpy as np
import pytest
import torch

from course_utils import env, tasks
from course_utils.models import RecurrentModel, TextCNN
from course_utils.training import count_parameters, evaluate, fit


@pytest.fixture
def order_data():
    x, y = tasks.order_task(300, 8, 3, vocab_size=8, seed=0)
    xt, yt = tasks.order_task(200, 8, 3, vocab_size=8, seed=1)
    return (x, y), (xt, yt)


def test_fit_learns_and_is_repeatable(order_data):
    train, test = order_data
    histories = []
    for _ in range(2):
        env.setup(seed=0)
        model = RecurrentModel("gru", 16, 2, vocab_size=8)
        histories.append(fit(model, train, test, epochs=8, lr=0.02, show_progress=False))
    a, b = histories
    assert a.train_loss == b.train_loss and a.test_metric == b.test_metric
    assert a.train_loss[-1] < a.train_loss[0]
    assert a.final_metric > 0.8 and a.best_metric >= a.final_metric
    assert len(a.test_loss) == 8 and a.seconds > 0 and not a.diverged


def test_regression_and_divergence_flag():
    x, y = tasks.adding_problem(64, 10, seed=0)
    xb = np.ascontiguousarray(x.transpose(1, 0, 2))
    env.setup(seed=0)
    model = RecurrentModel("lstm", 8, 1, input_dim=2)
    hist = fit(model, (xb, y), (xb, y), task="regression", epochs=2, show_progress=False)
    assert hist.metric_name == "mse" and math.isfinite(hist.final_metric)
    loss, mse = evaluate(model, (xb, y), task="regression")
    assert loss == pytest.approx(mse)

    env.setup(seed=0)
    wild = RecurrentModel("rnn", 8, 1, input_dim=2, nonlinearity="relu")
    hist = fit(wild, (xb * 1e30, y), (xb, y), task="regression", epochs=3, lr=10.0,
               optimizer="sgd", show_progress=False)
    assert hist.diverged and len(hist.train_loss) < 3


def test_fit_rejects_bad_arguments(order_data):
    train, test = order_data
    model = RecurrentModel("rnn", 4, 2, vocab_size=8)
    with pytest.raises(ValueError, match="task must be"):
        fit(model, train, test, task="ranking")
    with pytest.raises(ValueError, match="same length"):
        fit(model, (train[0][:10], train[1]), test)


def test_models_shapes_and_options():
    tokens = torch.randint(1, 20, (5, 3))  # shorter than the widest filter
    cnn = TextCNN(20, n_classes=3, widths=(2, 4), channels=6)
    assert cnn(tokens).shape == (5, 3) and cnn.features(tokens).shape == (5, 12)
    lstm = RecurrentModel("lstm", 6, 4, vocab_size=20, forget_bias=1.0)
    assert lstm(tokens).shape == (5, 4) and lstm.states(tokens).shape == (3, 5, 6)
    assert torch.allclose(lstm.rnn.bias_ih_l0[6:12] + lstm.rnn.bias_hh_l0[6:12],
                          torch.ones(6))
    reg = RecurrentModel("rnn", 6, 1, input_dim=2)
    assert reg(torch.zeros(7, 11, 2)).shape == (7,)
    assert count_parameters(reg) == 6 * 2 + 6 * 6 + 6 + 6 + 6 + 1
    with pytest.raises(ValueError, match="kind"):
        RecurrentModel("transformer", 4, 2, vocab_size=5)
    with pytest.raises(ValueError, match="exactly one"):
        RecurrentModel("rnn", 4, 2)
    with pytest.raises(ValueError, match="LSTM only"):
        RecurrentModel("gru", 4, 2, vocab_size=5, forget_bias=1.0)
