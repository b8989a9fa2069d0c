"""Strength of chapter 08's checkers: correct implementations pass, plausible wrong ones fail,
and the training checker never raises, whatever the learner's model does."""

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import capstone, checks
from course_utils.checking import FAILED, NOT_ATTEMPTED, PASSED

# ---- recurrent_param_count ----------------------------------------------------------------

BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}


def count_formula(kind, d, h):
    return BLOCKS[kind] * h * (d + h + 2)


def count_with_torch(kind, d, h):
    module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](d, h)
    return sum(p.numel() for p in module.parameters())


def count_expanded(kind, d, h):
    g = BLOCKS[kind]
    return g * h * d + g * h * h + 2 * g * h


def count_numpy(kind, d, h):
    return np.int64(BLOCKS[kind]) * h * (d + h + 2)  # a NumPy integer is fine too


@pytest.mark.parametrize("fn", [count_formula, count_with_torch, count_expanded, count_numpy])
def test_correct_parameter_counts_pass(fn):
    assert checks.recurrent_param_count(fn)


def one_bias(kind, d, h):
    return BLOCKS[kind] * h * (d + h + 1)


def no_bias(kind, d, h):
    return BLOCKS[kind] * h * (d + h)


def no_blocks(kind, d, h):
    return h * (d + h + 2)


def lstm_three_blocks(kind, d, h):
    return {"rnn": 1, "lstm": 3, "gru": 3}[kind] * h * (d + h + 2)


def gru_four_blocks(kind, d, h):
    return {"rnn": 1, "lstm": 4, "gru": 4}[kind] * h * (d + h + 2)


def no_recurrent_matrix(kind, d, h):
    return BLOCKS[kind] * h * (d + 2)


def square_input(kind, d, h):
    return BLOCKS[kind] * (h * h + h * h + 2 * h)  # forgot that W_ih is H x D


def returns_none(kind, d, h):
    BLOCKS[kind] * h * (d + h + 2)


def returns_a_string(kind, d, h):
    return f"{count_formula(kind, d, h)} parameters"


@pytest.mark.parametrize("fn, hint", [
    (one_bias, "two bias vectors"),
    (no_bias, "biases are parameters"),
    (no_blocks, "4 blocks"),
    (lstm_three_blocks, "4 blocks (i, f, g, o)"),
    (gru_four_blocks, None),
    (no_recurrent_matrix, "W_hh"),
    (square_input, None),
    (returns_none, None),
    (returns_a_string, None),
])
def test_wrong_parameter_counts_fail(fn, hint, capsys):
    result = checks.recurrent_param_count(fn)
    assert not result and result.status == FAILED
    if hint:
        assert hint in result.message


def test_unattempted_parameter_count():
    def stub(kind, d, h):
        raise NotImplementedError
    assert checks.recurrent_param_count(stub).status == NOT_ATTEMPTED


# ---- surname_gru: the training checker ----------------------------------------------------


class Reader(nn.Module):
    """A small, configurable surname classifier used to build right and wrong answers."""

    def __init__(self, vocab, classes, hidden=32, cell=nn.GRU, mode="last", bidirectional=False):
        super().__init__()
        self.embed = nn.Embedding(vocab, 16, padding_idx=0)
        self.rnn = cell(16, hidden, batch_first=True, bidirectional=bidirectional)
        k = 2 if bidirectional else 1
        self.out = nn.Linear(k * hidden, classes)
        self.mode = mode

    def forward(self, x):
        states, _ = self.rnn(self.embed(x))
        if self.mode == "all_steps":
            return self.out(states)                      # (B, L, C): one output per step
        if self.mode == "tuple":
            return self.out(states[:, -1]), states
        if self.mode == "transposed":
            return self.out(states[:, -1]).T
        return self.out(states[:, -1])


def solution(vocab_size, n_classes):
    # the solution notebook's model (bidirectional GRU, last states + masked max-pool)
    class SurnameGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, 64, padding_idx=0)
            self.gru = nn.GRU(64, 64, batch_first=True, bidirectional=True)
            self.dropout = nn.Dropout(0.5)
            self.out = nn.Linear(256, n_classes)

        def forward(self, x):
            states, h_n = self.gru(self.embed(x))
            last = torch.cat([h_n[0], h_n[1]], dim=-1)
            pooled = states.masked_fill(~(x != 0).unsqueeze(-1), -1e4).amax(dim=1)
            return self.out(self.dropout(torch.cat([last, pooled], dim=-1)))

    return SurnameGRU(), {"epochs": 10, "lr": 5e-3, "batch_size": 128}


def test_the_solution_passes():
    result = checks.surname_gru(solution)
    assert result and result.status == PASSED
    assert "test accuracy" in result.message


def _status(fn, **kw):
    result = checks.surname_gru(fn, **kw)
    return result.status, result.message


def test_not_attempted():
    def stub(vocab_size, n_classes):
        raise NotImplementedError("Exercise 'surname_gru'")
    assert _status(stub)[0] == NOT_ATTEMPTED


@pytest.mark.parametrize("fn, expected", [
    (lambda v, c: 1 / 0, "ZeroDivisionError"),
    (lambda v, c: None, "returned None"),
    (lambda v, c: Reader(v, c), "return a pair (model, training)"),
    (lambda v, c: (Reader(v, c),), "expected a pair"),
    (lambda v, c: ("a model", {"epochs": 1, "lr": 1e-3, "batch_size": 64}), "nn.Module"),
    (lambda v, c: (Reader(v, c, cell=nn.LSTM), {"epochs": 1, "lr": 1e-3, "batch_size": 64}),
     "no nn.GRU"),
    (lambda v, c: (Reader(v, c), [("epochs", 1)]), "dict of training settings"),
    (lambda v, c: (Reader(v, c), {"epochs": 1, "lr": 1e-3, "batch_size": 64, "momentum": 0.9}),
     "unknown training setting"),
    (lambda v, c: (Reader(v, c), {"epochs": 0, "lr": 1e-3, "batch_size": 64}), "`epochs`"),
    (lambda v, c: (Reader(v, c), {"epochs": 500, "lr": 1e-3, "batch_size": 64}), "`epochs`"),
    (lambda v, c: (Reader(v, c), {"epochs": 2.5, "lr": 1e-3, "batch_size": 64}), "`epochs`"),
    (lambda v, c: (Reader(v, c), {"epochs": 1, "lr": -1.0, "batch_size": 64}), "`lr`"),
    (lambda v, c: (Reader(v, c), {"epochs": 1, "lr": float("nan"), "batch_size": 64}), "`lr`"),
    (lambda v, c: (Reader(v, c), {"epochs": 1, "batch_size": 64}), "needs `lr`"),
    (lambda v, c: (Reader(v, c), {"epochs": 1, "lr": 1e-3, "batch_size": True}),
     "`batch_size`"),
    (lambda v, c: (Reader(v, c, mode="all_steps"), {"epochs": 1, "lr": 1e-3, "batch_size": 64}),
     "one prediction per time step"),
    (lambda v, c: (Reader(v, c, mode="tuple"), {"epochs": 1, "lr": 1e-3, "batch_size": 64}),
     "returned a tuple"),
    (lambda v, c: (Reader(v, c, mode="transposed"), {"epochs": 1, "lr": 1e-3, "batch_size": 64}),
     "swapped"),
    (lambda v, c: (Reader(v, 2), {"epochs": 1, "lr": 1e-3, "batch_size": 64}),
     "outputs, one per language"),
])
def test_broken_answers_are_reported_without_raising(fn, expected):
    status, message = _status(fn)
    assert status == FAILED
    assert expected in message, message


def test_model_that_crashes_on_the_data():
    class WrongEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 8)  # far fewer ids than the vocabulary
            self.gru = nn.GRU(8, 8, batch_first=True)
            self.out = nn.Linear(8, 10)

        def forward(self, x):
            return self.out(self.gru(self.embed(x))[0][:, -1])

    status, message = _status(lambda v, c: (WrongEmbedding(), {"epochs": 1, "lr": 1e-3,
                                                               "batch_size": 64}))
    assert status == FAILED and "IndexError" in message and "(5," in message


def test_too_slow_is_predicted_before_training():
    import time

    big = lambda v, c: (Reader(v, c, hidden=512, bidirectional=True),
                        {"epochs": 40, "lr": 1e-3, "batch_size": 8})
    start = time.process_time()
    status, message = _status(big, budget_seconds=5.0)
    assert status == FAILED and message.startswith("too slow")
    assert time.process_time() - start < 30  # it did not train for minutes


def test_too_slow_after_training():
    # passes the prediction (2x margin) but not the budget itself
    fn = lambda v, c: (Reader(v, c, hidden=8), {"epochs": 1, "lr": 1e-3, "batch_size": 64})
    status, message = _status(fn, budget_seconds=1e-9, target=0.0)
    assert status == FAILED and message.startswith("too slow")


def test_too_weak():
    weak = lambda v, c: (Reader(v, c, hidden=2), {"epochs": 1, "lr": 1e-3, "batch_size": 256})
    status, message = _status(weak)
    assert status == FAILED and message.startswith("too weak")
    assert f"{100 * capstone.SURNAME_TARGET:.1f} %" in message


def test_a_small_model_passes_a_low_target_and_the_check_is_deterministic():
    fn = lambda v, c: (Reader(v, c, hidden=16), {"epochs": 2, "lr": 5e-3, "batch_size": 128,
                                                 "clip": 1.0})
    first = _status(fn, target=0.3)
    second = _status(fn, target=0.3)
    assert first[0] == PASSED
    acc = lambda msg: msg.split("test accuracy ")[1].split(" %")[0]
    assert acc(first[1]) == acc(second[1])


def test_divergence_is_reported():
    class Exploding(nn.Module):
        def __init__(self, v, c):
            super().__init__()
            self.gru = nn.GRU(1, 4, batch_first=True)
            self.out = nn.Linear(4, c)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            y = self.out(self.gru(x.unsqueeze(-1).float())[0][:, -1])
            return y * float("nan") if self.training and self.calls > 6 else y

    fn = lambda v, c: (Exploding(v, c), {"epochs": 1, "lr": 1e-3, "batch_size": 512})
    status, message = _status(fn)
    assert status == FAILED and "diverged" in message
