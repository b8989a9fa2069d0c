"""Chapter 02's exercises: the stated edge cases of the stubs, the "predict, then run"
checker (a dilated filter's holes) and the design checker ``order_cnn``."""

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import REPO_ROOT, cnn, tasks
from course_utils.grading import checks
from course_utils.grading.checking import FAILED, NOT_ATTEMPTED, PASSED
from course_utils.grading.checks import ch02_cnn

# ---- precise stubs: what the stubs state is what the checkers test


def conv_right(x, weight, bias, lengths):
    k = weight.shape[2]
    n = x.shape[0] - k + 1
    lengths = np.asarray(lengths)
    if n < 1 or lengths.min() < k or lengths.max() > x.shape[0]:
        raise ValueError("a sentence is shorter than the filter")
    out = sum(x[j:j + n] @ weight[:, :, j].T for j in range(k)) + bias
    out = np.where((np.arange(n)[:, None] + k <= lengths[None, :])[:, :, None], out, -np.inf)
    return np.maximum(out, 0).max(axis=0).astype(x.dtype)


def test_conv_short_sequence_must_raise_value_error(capsys):
    assert checks.conv_relu_maxpool(conv_right)

    def zeros_when_short(x, weight, bias, lengths):
        if x.shape[0] < weight.shape[2]:
            return np.zeros((x.shape[1], weight.shape[0]), dtype=x.dtype)
        return conv_right(x, weight, bias, lengths)

    result = checks.conv_relu_maxpool(zeros_when_short)
    assert not result and "T = 2 < k = 3" in result.message and "ValueError" in result.message

    def short_sentence_pooled_anyway(x, weight, bias, lengths):
        """A sentence shorter than the filter: pooled over the padded array instead."""
        k = weight.shape[2]
        return conv_right(x, weight, bias, np.maximum(lengths, k))

    result = checks.conv_relu_maxpool(short_sentence_pooled_anyway)
    assert not result and "2 real tokens" in result.message


def test_conv_mixed_dtypes_follow_x():
    def result_type(x, weight, bias, lengths):  # NumPy's promotion: float64 wins
        return conv_right(x, weight, bias, lengths).astype(np.result_type(x, weight))

    result = checks.conv_relu_maxpool(result_type)
    assert not result and "mixed dtypes" in result.message


def test_conv_zero_padding_case_needs_the_mask(capsys):
    """With <pad> embedded as zeros, an unmasked max fails on the case that says so."""
    def unmasked_after_the_padded_cases(x, weight, bias, lengths):
        if np.all(x[np.arange(x.shape[0])[:, None] >= np.asarray(lengths)[None, :]] == 0):
            return conv_right(x, weight, bias, np.full_like(lengths, x.shape[0]))
        return conv_right(x, weight, bias, lengths)

    result = checks.conv_relu_maxpool(unmasked_after_the_padded_cases)
    assert not result and "zero vectors" in result.message


def test_receptive_field_must_be_an_int():
    def right(layers):
        r, jump = 1, 1
        for k, s, dilation in layers:
            r += (k - 1) * dilation * jump
            jump *= s
        return r

    assert checks.receptive_field(right)
    assert checks.receptive_field(lambda layers: np.int64(right(layers)))
    result = checks.receptive_field(lambda layers: float(right(layers)))
    assert not result and "the stub asks for an integer" in result.message


def test_receptive_field_cases_need_strides_and_dilations():
    """The chapter prints the unstrided, undilated rule only: it must fail the exercise."""
    def chapter_rule(layers):
        return 1 + sum(k - 1 for k, _, _ in layers)

    assert not checks.receptive_field(chapter_rule)
    stacks = [case.args[0] for case in ch02_cnn.rf_cases()]
    assert any(s > 1 for layer in stacks for _, s, _ in layer)
    assert any(d > 1 for layer in stacks for _, _, d in layer)
    assert any(s > 1 and d > 1 for layer in stacks for _, s, d in layer)


# ---- predict, then run: the holes of a dilated filter


@pytest.fixture(scope="module")
def holes():
    return ch02_cnn.dilated_layer_accuracies()


def test_the_dilated_layer_has_holes(holes):
    """The numbers the solution explains: chance at odd distances (taps at offsets 0, 2, 4),
    near perfect at d = 2 and 4, chance again beyond the span (d = 5, 6)."""
    assert list(holes) == [1, 2, 3, 4, 5, 6]
    for d in (1, 3, 5):
        assert abs(holes[d] - 0.5) < 0.05, holes
    assert holes[2] >= 0.97 and holes[4] >= 0.97, holes
    assert holes[6] < 0.6, holes


def test_the_experiment_is_deterministic(holes):
    assert ch02_cnn.dilated_layer_accuracies() == holes


@pytest.mark.parametrize(("prediction", "close"), [
    (0.5, True), (0.55, True), (1.0, False), (0.8, False)])
def test_predictions_close_and_far(prediction, close, holes, monkeypatch):
    monkeypatch.setattr(ch02_cnn, "dilated_layer_accuracies", lambda: holes)
    result = checks.predict_dilation_holes(lambda: prediction)
    assert result.close is close and result.actual == holes[1]


def test_the_prediction_is_read_before_the_experiment_runs(holes, monkeypatch, capsys):
    order = []

    def experiment():
        order.append("experiment")
        return holes

    def prediction():
        order.append("prediction")
        return 0.5

    monkeypatch.setattr(ch02_cnn, "dilated_layer_accuracies", experiment)
    checks.predict_dilation_holes(prediction)
    assert order == ["prediction", "experiment"]


def test_the_prediction_cell_does_not_reveal_the_result():
    """Issue 19, section 2: the cell under the prediction only calls the checker."""
    import json
    for folder in ("solutions", "exercises"):
        nb = json.loads((REPO_ROOT / folder / "02_cnn_text.ipynb").read_text(encoding="utf-8"))
        cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
        cell = next(c for c in cells if "checks.predict_dilation_holes(" in c)
        assert "assert" not in cell and "0.5" not in cell, cell


@pytest.mark.parametrize("fn", [
    lambda: (_ for _ in ()).throw(NotImplementedError()), lambda: "half", lambda: None,
    lambda: 1 / 0, lambda: float("nan")])
def test_unusable_predictions_are_not_raised(fn, holes, monkeypatch, capsys):
    monkeypatch.setattr(ch02_cnn, "dilated_layer_accuracies", lambda: holes)
    result = checks.predict_dilation_holes(fn)
    assert result.close is None
    assert "d=1" not in capsys.readouterr().out  # no prediction: the experiment is not shown


# ---- the design exercise: order_cnn


class Stack(nn.Module):
    """Embedding, width-3 convolutions with the given dilations (each + ReLU), max over time,
    a linear layer."""

    def __init__(self, dilations, channels=16, embed_dim=16, kernel=3, pad=False):
        super().__init__()
        self.embed = nn.Embedding(16, embed_dim)
        sizes = [embed_dim] + [channels] * len(dilations)
        self.convs = nn.ModuleList(nn.Conv1d(a, b, kernel, dilation=d,
                                             padding=d * (kernel - 1) // 2 if pad else 0)
                                   for a, b, d in zip(sizes[:-1], sizes[1:], dilations,
                                                      strict=True))
        self.out = nn.Linear(channels, 2)

    def forward(self, tokens):
        h = self.embed(tokens).transpose(1, 2)
        for conv in self.convs:
            h = torch.relu(conv(h))
        return self.out(h.amax(dim=2))


def test_the_solution_passes():
    """Dilations 1, 3, 9, 27: receptive field 81, every offset up to 80 reachable."""
    assert cnn.receptive_field([(3, 1, d) for d in (1, 3, 9, 27)]) == 81
    status, message, accs = ch02_cnn.run_order_cnn(lambda: Stack((1, 3, 9, 27)))
    assert status == PASSED, message
    assert min(accs.values()) >= 0.95 and "3,426 parameters" in message
    assert "control with 100 fillers at each end" in message


@pytest.mark.parametrize(("dilations", "field"), [((1, 2, 4), 15), ((1, 1, 1, 1), 9)])
def test_stacks_that_cannot_see_far_enough_fail(dilations, field):
    """The chapter's stack (receptive field 15, 16 channels so it fits the budget) and an
    undilated stack of the allowed 4 layers are at chance at every tested distance, learn the
    short distances, and are told that their receptive field is too small."""
    assert cnn.receptive_field([(3, 1, d) for d in dilations]) == field
    status, message, accs = ch02_cnn.run_order_cnn(lambda: Stack(dilations))
    assert status == FAILED and "receptive field is too small" in message
    assert f"receptive field is {field} tokens" in message and "did not train" not in message
    assert all(abs(a - 0.5) < 0.06 for a in accs.values()), accs


def test_doubling_once_more_is_too_small_at_d_40():
    """Dilations 1, 2, 4, 8 (receptive field 31) train under the recipe (an earlier recipe left
    them at chance; the current one does not): d = 20 is solved, d = 40 is at
    chance, and the feedback blames the receptive field, correctly."""
    status, message, accs = ch02_cnn.run_order_cnn(lambda: Stack((1, 2, 4, 8)))
    assert status == FAILED and accs[20] >= 0.95 and abs(accs[40] - 0.5) < 0.06, accs
    assert "receptive field is 31 tokens" in message and "did not train" not in message


def test_a_model_that_does_not_train_is_told_so():
    """Issue 19's case: dilations 1, 2, 4, 8 with 8-dimensional embeddings (receptive field
    31) stay at chance even at d = 1 .. 4 under the recipe. The feedback says 'did not train',
    not 'receptive field too small'."""
    status, message, accs = ch02_cnn.run_order_cnn(lambda: Stack((1, 2, 4, 8), embed_dim=8))
    assert status == FAILED and all(abs(a - 0.5) < 0.06 for a in accs.values()), accs
    assert "did not train" in message and "receptive field (31 tokens" in message
    assert "too small" not in message


def test_a_position_reader_fails_the_control():
    """Finding 1 of the second review: with zero padding, dilations 1, 3, 9, 27 (receptive field
    81) reach 95 % on the checker's sequences (40 fillers a side) by reading where a marker sits;
    with 100 fillers a side they fall below 90 %, and the feedback says why."""
    status, message, accs = ch02_cnn.run_order_cnn(lambda: Stack((1, 3, 9, 27), pad=True))
    assert status == FAILED and min(accs.values()) >= 0.95, (accs, message)
    assert "reads the order, at least in part, from where a marker sits" in message
    assert "control with 100 fillers" in message


def test_an_all_even_stack_fails_at_the_odd_distance():
    """Dilations 2, 4, 8, 16 (receptive field 61) reach only even offsets: 31 is a hole. At
    seed 0 the stack still scores 95.9 % at d = 31 on the checker's sequences, from where the
    markers sit (the windows near an end); the control, at chance there, fails it."""
    status, message, accs = ch02_cnn.run_order_cnn(lambda: Stack((2, 4, 8, 16)))
    assert status == FAILED and accs[20] >= 0.95 and accs[40] >= 0.95, (accs, message)
    assert "receptive field is 61 tokens" in message and "holes" in message


def test_the_control_margin_covers_the_receptive_field():
    assert ch02_cnn.ORDER_CNN_CONTROL_MARGIN == (100, 300)
    assert [ch02_cnn.control_margin(f) for f in (1, 81, 150, 1000, None)] == [100, 100, 150, 300,
                                                                              300]
    assert any(d % 2 for d in ch02_cnn.ORDER_CNN_DISTANCES), "an odd distance finds even holes"


def test_receptive_field_of_the_learner_stack():
    assert ch02_cnn.stacked_receptive_field(Stack((1, 3, 9, 27))) == 81
    pooled = nn.Sequential(nn.Conv1d(4, 4, 3), nn.MaxPool1d(2), nn.Conv1d(4, 4, 3, dilation=2))
    assert ch02_cnn.stacked_receptive_field(pooled) == cnn.receptive_field(
        [(3, 1, 1), (2, 2, 1), (3, 1, 2)]) == 12


def refuse_training(*args, **kwargs):
    raise AssertionError("the checker trained a model it should have rejected")


@pytest.mark.parametrize(("build", "words"), [
    (lambda: Stack((1, 2, 4), channels=32), "over the budget"),     # the chapter's own stack
    (lambda: Stack((1, 2, 4, 8, 16)), "5 nn.Conv1d layers"),
    (lambda: Stack((1, 8), kernel=5), "kernel_size <= 3"),
])
def test_rule_breakers_are_rejected_before_training(build, words, monkeypatch):
    monkeypatch.setattr(cnn, "train_order_model", refuse_training)
    result = checks.order_cnn(build)
    assert result.status == FAILED and words in result.message
    assert "Nothing was trained" in result.message


class Flatten(nn.Module):
    """An MLP over the whole sequence: works for one length only."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(16, 2)
        self.out = nn.Linear(2 * tasks.MARGINED_ORDER_LENGTH, 2)

    def forward(self, tokens):
        return self.out(self.embed(tokens).flatten(1))


class WithGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 4)


class NaNModel(Stack):
    def forward(self, tokens):
        return super().forward(tokens) * float("nan")


def broken_build():
    return undefined_name  # noqa: F821


@pytest.mark.parametrize(("build", "status", "words"), [
    (lambda: (_ for _ in ()).throw(NotImplementedError()), NOT_ATTEMPTED, "not attempted"),
    (broken_build, FAILED, "build() raised NameError"),
    (lambda: None, FAILED, "must return a torch.nn.Module"),
    ("not a function", FAILED, "build() raised TypeError"),
    (lambda: nn.Linear(3, 2), FAILED, "your model raised"),
    (lambda: nn.Sequential(nn.Embedding(16, 2)), FAILED, "expected (4, 2)"),
    (Flatten, FAILED, "pool over time"),
    (WithGRU, FAILED, "GRU"),
    (lambda: NaNModel((1,)), FAILED, "NaN"),
    (lambda: nn.Sequential(), FAILED, "no trainable parameters"),
])
def test_garbage_is_reported_not_raised(build, status, words, monkeypatch):
    monkeypatch.setattr(cnn, "train_order_model", refuse_training)
    result = checks.order_cnn(build)
    assert result.status == status and words in result.message, result.message


def test_order_cnn_is_a_design_checker():
    assert checks.order_cnn.design is True and "order_cnn" in checks.__all__
    assert "predict_dilation_holes" in checks.__all__


def test_training_is_deterministic_and_leaves_the_global_seed_alone():
    def tiny():
        return Stack((1,), channels=4, embed_dim=4)

    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = tiny()
        loss = cnn.train_order_model(model, steps=5, seed=0, max_distance=6, body=20, margin=5)
        runs.append((loss, model.out.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])

    def consumes_then_gives_up():
        torch.rand(3)
        raise NotImplementedError

    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    assert ch02_cnn.run_order_cnn(consumes_then_gives_up)[0] == NOT_ATTEMPTED
    assert torch.equal(torch.rand(1), before)
