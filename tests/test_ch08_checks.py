"""Strength of chapter 08's checkers: correct implementations pass, plausible wrong ones fail,
and the training checker never raises, whatever the learner's model does."""

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import capstone
from course_utils.grading import checks
from course_utils.grading.checking import FAILED, NOT_ATTEMPTED, PASSED
from course_utils.grading.checks import ch08_capstone as ch08

# ---- recurrent_param_count ----------------------------------------------------------------

BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}


def count_loop(kind, d, h, num_layers=1, bidirectional=False):
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        d_in = d if layer == 0 else dirs * h
        total += dirs * BLOCKS[kind] * h * (d_in + h + 2)
    return total


def count_with_torch(kind, d, h, num_layers=1, bidirectional=False):
    module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](
        d, h, num_layers=num_layers, bidirectional=bidirectional)
    return sum(p.numel() for p in module.parameters())


def count_closed_form(kind, d, h, num_layers=1, bidirectional=False):
    k = 2 if bidirectional else 1
    g = BLOCKS[kind]
    first = k * g * (h * d + h * h + 2 * h)
    upper = (num_layers - 1) * k * g * (h * k * h + h * h + 2 * h)
    return first + upper


def count_numpy(kind, d, h, num_layers=1, bidirectional=False):
    return np.int64(count_loop(kind, d, h, num_layers, bidirectional))  # NumPy ints are stated OK


@pytest.mark.parametrize("fn", [count_loop, count_closed_form, count_numpy])
def test_correct_parameter_counts_pass(fn):
    assert checks.recurrent_param_count(fn)


def test_counting_a_built_torch_module_is_not_own_work():
    """Right numbers, but PyTorch did the counting: the exercise asks for the arithmetic."""
    result = checks.recurrent_param_count(count_with_torch)
    assert not result and "torch.nn.modules.rnn.RNNBase.__init__" in result.message


def one_bias(kind, d, h, num_layers=1, bidirectional=False):
    k = 2 if bidirectional else 1
    return count_loop(kind, d, h, num_layers, bidirectional) - k * num_layers * BLOCKS[kind] * h


def no_bias(kind, d, h, num_layers=1, bidirectional=False):
    k = 2 if bidirectional else 1
    return count_loop(kind, d, h, num_layers, bidirectional) - 2 * k * num_layers * BLOCKS[kind] * h


def no_blocks(kind, d, h, num_layers=1, bidirectional=False):
    return count_loop(kind, d, h, num_layers, bidirectional) // BLOCKS[kind]


def lstm_three_blocks(kind, d, h, num_layers=1, bidirectional=False):
    c = count_loop(kind, d, h, num_layers, bidirectional)
    return c * 3 // 4 if kind == "lstm" else c


def gru_four_blocks(kind, d, h, num_layers=1, bidirectional=False):
    c = count_loop(kind, d, h, num_layers, bidirectional)
    return c * 4 // 3 if kind == "gru" else c


def no_recurrent_matrix(kind, d, h, num_layers=1, bidirectional=False):
    k = 2 if bidirectional else 1
    return count_loop(kind, d, h, num_layers, bidirectional) - k * num_layers * BLOCKS[kind] * h * h


def square_input(kind, d, h, num_layers=1, bidirectional=False):
    return count_loop(kind, h, h, num_layers, bidirectional)  # forgot that W_ih is H x D


def every_layer_reads_the_input(kind, d, h, num_layers=1, bidirectional=False):
    k = 2 if bidirectional else 1
    return num_layers * k * BLOCKS[kind] * h * (d + h + 2)


def upper_layers_read_one_direction(kind, d, h, num_layers=1, bidirectional=False):
    k = 2 if bidirectional else 1
    g = BLOCKS[kind]
    return k * g * h * (d + h + 2) + (num_layers - 1) * k * g * h * (h + h + 2)


def ignores_bidirectional(kind, d, h, num_layers=1, bidirectional=False):
    return count_loop(kind, d, h, num_layers)


def ignores_num_layers(kind, d, h, num_layers=1, bidirectional=False):
    return count_loop(kind, d, h, 1, bidirectional)


def old_signature(kind, d, h):
    return BLOCKS[kind] * h * (d + h + 2)


def returns_a_float(kind, d, h, num_layers=1, bidirectional=False):
    return count_loop(kind, d, h, num_layers, bidirectional) / 1


def returns_none(kind, d, h, num_layers=1, bidirectional=False):
    count_loop(kind, d, h, num_layers, bidirectional)


def returns_a_string(kind, d, h, num_layers=1, bidirectional=False):
    return f"{count_loop(kind, d, h, num_layers, bidirectional)} parameters"


@pytest.mark.parametrize("fn, hint", [
    (one_bias, "two bias vectors"),
    (no_bias, "biases are parameters"),
    (no_blocks, "4 blocks"),
    (lstm_three_blocks, "4 blocks (i, f, g, o)"),
    (gru_four_blocks, None),
    (no_recurrent_matrix, "W_hh"),
    (square_input, None),
    (every_layer_reads_the_input, "only the first layer reads the input"),
    (upper_layers_read_one_direction, "reads 2H features"),
    (ignores_bidirectional, "second, independent set of weights"),
    (ignores_num_layers, None),
    (old_signature, None),
    (returns_a_float, "never a float"),
    (returns_none, None),
    (returns_a_string, "expected a number"),
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


def _status(fn, **kw):
    kw.setdefault("seeds", (0,))
    result = checks.surname_gru(fn, **kw)
    return result.status, result.message


SMALL = {"epochs": 1, "lr": 1e-3, "batch_size": 64}


def test_not_attempted():
    def stub(vocab_size, n_classes):
        raise NotImplementedError("Exercise 'surname_gru'")
    assert _status(stub, target=0.5)[0] == NOT_ATTEMPTED


@pytest.mark.parametrize("fn, expected", [
    (lambda v, c: 1 / 0, "ZeroDivisionError"),
    (lambda v, c: None, "returned None"),
    (lambda v, c: Reader(v, c), "return a pair (model, training)"),
    (lambda v, c: (Reader(v, c),), "expected a pair"),
    (lambda v, c: ("a model", SMALL), "nn.Module"),
    (lambda v, c: (Reader(v, c, cell=nn.LSTM), SMALL), "no nn.GRU"),
    (lambda v, c: (Reader(v, c), [("epochs", 1)]), "dict of training settings"),
    (lambda v, c: (Reader(v, c), {**SMALL, "momentum": 0.9}), "unknown training setting"),
    (lambda v, c: (Reader(v, c), {**SMALL, "epochs": 0}), "`epochs`"),
    (lambda v, c: (Reader(v, c), {**SMALL, "epochs": 500}), "`epochs`"),
    (lambda v, c: (Reader(v, c), {**SMALL, "epochs": 2.5}), "`epochs`"),
    (lambda v, c: (Reader(v, c), {**SMALL, "lr": -1.0}), "`lr`"),
    (lambda v, c: (Reader(v, c), {**SMALL, "lr": float("nan")}), "`lr`"),
    (lambda v, c: (Reader(v, c), {"epochs": 1, "batch_size": 64}), "needs `lr`"),
    (lambda v, c: (Reader(v, c), {**SMALL, "batch_size": True}), "`batch_size`"),
    (lambda v, c: (Reader(v, c), {**SMALL, "patience": 0}), "`patience`"),
    (lambda v, c: (Reader(v, c), {**SMALL, "epochs": 40, "batch_size": 32}),
     "optimiser steps, the budget is"),
    (lambda v, c: (Reader(v, c, hidden=256, bidirectional=True), SMALL),
     "parameters, the budget is"),
    (lambda v, c: (Reader(v, c, mode="all_steps"), SMALL), "one prediction per time step"),
    (lambda v, c: (Reader(v, c, mode="tuple"), SMALL), "returned a tuple"),
    (lambda v, c: (Reader(v, c, mode="transposed"), SMALL), "swapped"),
    (lambda v, c: (Reader(v, 2), SMALL), "outputs, one per language"),
])
def test_broken_answers_are_reported_without_raising(fn, expected):
    status, message = _status(fn, target=0.5)
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

    status, message = _status(lambda v, c: (WrongEmbedding(), SMALL), target=0.5)
    assert status == FAILED and "IndexError" in message and "(5," in message


def test_too_weak_shows_the_validation_curve_and_the_default_target():
    weak = lambda v, c: (Reader(v, c, hidden=2), {"epochs": 2, "lr": 1e-3, "batch_size": 256})
    status, message = _status(weak)
    target = capstone.surnames.SURNAME_TARGET
    assert status == FAILED and message.startswith("too weak")
    assert f"target {100 * target:.1f} %" in message
    assert "validation by epoch: " in message and "test = 1182 names" in message
    curve = message.split("validation by epoch: ")[1].split("\n")[0].split()
    assert len(curve) == 2 and all(0 < float(v) < 100 for v in curve)
    assert "test accuracy " not in message.replace("the mean test accuracy over", "")
    assert ": test " not in message    # no test number before the learner passes


def test_the_check_is_deterministic_and_reproducible_in_the_notebook():
    fn = lambda v, c: (Reader(v, c, hidden=16), {"epochs": 2, "lr": 5e-3, "batch_size": 128,
                                                 "clip": 1.0})
    first = _status(fn, target=0.3, seeds=(0, 1))
    second = _status(fn, target=0.3, seeds=(0, 1))
    assert first[0] == PASSED and first == second
    acc = lambda msg, seed: msg.split(f"seed {seed}: test ")[1].split(" %")[0]
    for seed in (0, 1):
        mine = capstone.surnames.train_surname_model(fn, seed=seed)
        curve = " ".join(f"{100 * v:.1f}" for v in mine.history.test_metric)
        assert f"validation {100 * mine.val_metric:.1f} %); validation by epoch: {curve}" in (
            first[1])
        test = ch08.measure_test_accuracy(mine)
        assert f"{100 * test:.1f}" == acc(first[1], seed) == acc(second[1], seed)
    mean = float(first[1].split("mean test accuracy ")[1].split(" %")[0])
    assert mean == pytest.approx((float(acc(first[1], 0)) + float(acc(first[1], 1))) / 2,
                                 abs=0.06)


def test_tuning_never_touches_the_test_set(monkeypatch):
    import course_utils.capstone.runner as runner

    def forbidden(*args, **kwargs):
        raise AssertionError("the test set was scored during tuning")

    monkeypatch.setattr(runner, "net_scores", forbidden)
    fn = lambda v, c: (Reader(v, c, hidden=8), {"epochs": 1, "lr": 5e-3, "batch_size": 256})
    r = capstone.surnames.train_surname_model(fn, seed=0)
    assert np.isnan(r.metric) and r.per_example is None and 0 < r.val_metric < 1


# ---- surname_gru: the obvious model fails, the solution's design passes with a margin ---------

CHAPTER_RECIPE = {"epochs": 12, "lr": 5e-3, "batch_size": 128, "clip": 1.0, "patience": 4}


def chapters_gru(vocab_size, n_classes):
    """The obvious answer: chapter 08's own GRU (embedding 32, H = 64) and the chapter's recipe."""
    task = capstone.surnames.surname_task()
    cfg = capstone.FAST.config("surnames", "gru")
    assert (cfg.embed_dim, cfg.hidden, cfg.lr, cfg.batch_size, cfg.epochs, cfg.patience) == (
        32, 64, CHAPTER_RECIPE["lr"], CHAPTER_RECIPE["batch_size"], CHAPTER_RECIPE["epochs"],
        CHAPTER_RECIPE["patience"])
    return capstone.build_model(task, "gru", cfg), dict(CHAPTER_RECIPE)


def shrunk_gru(vocab_size, n_classes):
    """The chapter's GRU shrunk to fit the budget (embedding 32, H = 36, one direction, the last
    state read out): the solution of exercise 2."""
    from course_utils.models import RecurrentModel

    model = RecurrentModel("gru", 36, n_classes, vocab_size=vocab_size, embed_dim=32)
    return model, dict(SOLUTION_RECIPE)


class BudgetGRU(nn.Module):
    """A more elaborate design: bidirectional GRU, last states and a masked max-pool."""

    def __init__(self, vocab, classes, embed_dim=16, hidden=28, dropout=0.3):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed_dim, padding_idx=0)
        self.gru = nn.GRU(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(4 * hidden, classes)

    def forward(self, x):
        states, h_n = self.gru(self.embed(x))
        last = torch.cat([h_n[0], h_n[1]], dim=-1)
        pooled = states.masked_fill(~(x != 0).unsqueeze(-1), -1e4).amax(dim=1)
        return self.out(self.dropout(torch.cat([last, pooled], dim=-1)))


SOLUTION_RECIPE = {"epochs": 20, "lr": 5e-3, "batch_size": 128, "clip": 1.0, "patience": 5}


@pytest.mark.parametrize("seed", capstone.surnames.SURNAME_SEEDS)
def test_the_chapters_gru_fails_on_every_seed(seed):
    status, message = _status(chapters_gru, seeds=(seed,))
    assert status == FAILED and "over budget: 22,346 parameters" in message, message


def test_the_budget_models_fit():
    task = capstone.surnames.surname_task()
    sizes = [sum(p.numel() for p in fn(task.vocab_size, task.n_outputs)[0].parameters())
             for fn in (shrunk_gru, lambda v, c: (BudgetGRU(v, c), None))]
    assert sizes == [10_810, 10_298] and max(sizes) <= capstone.surnames.SURNAME_MAX_PARAMS


def test_the_shrunk_gru_passes_every_seed_by_two_standard_errors():
    """The target only rejects broken models: the plain shrunk GRU clears it on every seed."""
    task = capstone.surnames.surname_task()
    target = capstone.surnames.SURNAME_TARGET
    accs = []
    for seed in capstone.surnames.SURNAME_SEEDS:
        r = capstone.surnames.train_surname_model(shrunk_gru, seed=seed)
        assert r.params <= capstone.surnames.SURNAME_MAX_PARAMS
        acc = ch08.measure_test_accuracy(r)
        se = np.sqrt(acc * (1 - acc) / len(task.y_test))   # one run against a fixed target
        assert acc - target >= 2 * se, (seed, acc, se)
        accs.append(acc)
    # the mean over seeds too, with the seeds' spread added in variance
    sd = np.std(accs, ddof=1)
    mean = np.mean(accs)
    se_mean = np.sqrt(sd ** 2 / len(accs) + mean * (1 - mean) / len(task.y_test))
    assert mean - target >= 2 * se_mean


class RandomProbe(nn.Module):
    """Draws from torch's random stream in every forward pass, even in eval mode."""

    def __init__(self, v, c):
        super().__init__()
        self.embed = nn.Embedding(v, 8, padding_idx=0)
        self.gru = nn.GRU(8, 8, batch_first=True)
        self.out = nn.Linear(8, c)

    def forward(self, x):
        noise = 0.1 * torch.rand(1)
        return self.out(self.gru(self.embed(x))[0][:, -1] + noise)


def test_the_shape_probe_does_not_change_what_training_sees():
    fn = lambda v, c: (RandomProbe(v, c), {"epochs": 1, "lr": 5e-3, "batch_size": 256})
    task = capstone.surnames.surname_task()
    checked = capstone.surnames.train_surname_model(fn, seed=3)
    torch.manual_seed(3)
    model, training = fn(task.vocab_size, task.n_outputs)
    config, _ = capstone.surnames.validate_training(training, len(task.validation_split()[0]))
    plain = capstone.train_model(task, model, config, seed=3, test=False)
    assert checked.history.test_metric == plain.history.test_metric
    assert checked.history.train_loss == plain.history.train_loss


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
    status, message = _status(fn, target=0.5)
    assert status == FAILED and "diverged" in message
