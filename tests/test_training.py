"""The shared training loop and the shared models."""

import io
import math

import numpy as np
import pytest
import torch

from course_utils import env, tasks, training
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
    xb, y = tasks.adding_problem(64, 10, seed=0)
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


def _order_model():
    env.setup(seed=0)
    return RecurrentModel("gru", 16, 2, vocab_size=8)


def test_reach_stops_at_the_first_epoch_on_target_without_changing_the_run(order_data):
    train, test = order_data
    full = fit(_order_model(), train, test, epochs=8, lr=0.02, show_progress=False)
    target = 0.7
    first = next(i for i, m in enumerate(full.test_metric) if m >= target)
    assert first < 7, "the fixture must reach the target before the last epoch"
    hist = fit(_order_model(), train, test, epochs=8, lr=0.02, show_progress=False,
               stop_when=training.reach(target))
    assert hist.test_metric == full.test_metric[:first + 1]
    assert hist.train_loss == full.train_loss[:first + 1]
    assert hist.epochs == first + 1 and hist.steps == (first + 1) * 5
    assert "target" in hist.stopped and not full.stopped and full.epochs == 8
    # regression targets are reached from above
    xb, y = tasks.adding_problem(64, 10, seed=0)
    env.setup(seed=0)
    reg = fit(RecurrentModel("lstm", 8, 1, input_dim=2), (xb, y), (xb, y), task="regression",
              epochs=3, show_progress=False, stop_when=training.reach(1e9))
    assert reg.epochs == 1 and reg.stopped


def test_budget_and_eval_every_count_steps(order_data):
    train, test = order_data   # 300 examples, batch 64: 5 steps per epoch
    hist = fit(_order_model(), train, test, epochs=None, lr=0.02, show_progress=False,
               eval_every=3, stop_when=training.budget(steps=7))
    assert hist.eval_steps == [3, 6, 9] and hist.steps == 9
    assert hist.examples == 300 + 4 * 64 and hist.epochs == 2
    assert "steps budget 7" in hist.stopped
    hist = fit(_order_model(), train, test, epochs=2, show_progress=False, eval_every=4)
    assert hist.eval_steps == [4, 8, 10] and hist.stopped == "" and len(hist.test_metric) == 3
    hist = fit(_order_model(), train, test, epochs=None, show_progress=False,
               stop_when=training.budget(cpu_seconds=0.0))
    assert hist.epochs == 1 and "cpu seconds" in hist.stopped and hist.cpu_seconds > 0
    with pytest.raises(ValueError, match="at least one"):
        training.budget()
    with pytest.raises(ValueError, match="stop_when"):
        fit(_order_model(), train, test, epochs=None)


def test_stop_rules_combine_and_see_the_metrics(order_data):
    train, test = order_data
    seen = []

    def spy(ev):
        seen.append((ev.epoch, ev.steps, ev.metric, len(ev.history.test_metric)))
        return ev.epoch == 2

    hist = fit(_order_model(), train, test, epochs=6, lr=0.02, show_progress=False,
               stop_when=[training.reach(1.01), spy])
    assert hist.stopped == "stop rule" and hist.epochs == 2
    assert seen == [(1, 5, hist.test_metric[0], 1), (2, 10, hist.test_metric[1], 2)]
    # diverging: a loss that grows past factor x its first value stops the run
    xb, y = tasks.adding_problem(64, 10, seed=0)
    env.setup(seed=0)
    wild = RecurrentModel("rnn", 8, 1, input_dim=2)
    hist = fit(wild, (xb, y), (xb, y), task="regression", epochs=20, lr=3.0, optimizer="sgd",
               show_progress=False, stop_when=training.diverging(factor=2.0))
    assert hist.stopped in ("diverging", "diverged") and hist.epochs < 20


def test_stopped_progress_bar_shows_the_epochs_run(order_data, monkeypatch):
    from tqdm import tqdm

    train, test = order_data
    bars = []

    def capture(iterable, desc="", total=None, **kwargs):
        bars.append(tqdm(iterable, desc=desc, total=total, file=io.StringIO()))
        return bars[-1]

    monkeypatch.setattr(training, "progress", capture)
    hist = fit(_order_model(), train, test, epochs=16, lr=0.02,
               stop_when=lambda ev: ev.epoch >= 3 and "enough")
    (bar,) = bars
    assert hist.epochs == 3 and bar.n == 3 and bar.total == 16
    assert "stopped after 3 epochs: enough" in str(bar.postfix)
    fit(_order_model(), train, test, epochs=2, lr=0.02)
    assert bars[-1].n == 2 and not bars[-1].postfix


def test_batches_are_one_step_each_in_order_and_the_nan_rule_stops_before_the_update():
    xb, y = tasks.adding_problem(64, 10, seed=0)
    batches = [(xb[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]

    def run(batch_list, **kw):
        env.setup(seed=0)
        model = RecurrentModel("rnn", 4, 1, input_dim=2)
        return model, fit(model, batches=iter(batch_list), task="regression", lr=0.01,
                          show_progress=False, **kw)

    model, hist = run(batches)
    assert hist.steps == 4 and len(hist.step_loss) == 4 and hist.epochs == 1
    assert hist.test_loss == [] and not hist.diverged
    # the same steps by hand: one Adam step per batch, in the given order, no shuffling
    env.setup(seed=0)
    ref = RecurrentModel("rnn", 4, 1, input_dim=2)
    opt = torch.optim.Adam(ref.parameters(), lr=0.01)
    for step, (xs, ys) in enumerate(batches):
        loss = torch.nn.functional.mse_loss(ref(torch.as_tensor(xs)).reshape(-1),
                                            torch.as_tensor(ys))
        assert loss.item() == hist.step_loss[step]
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)
    # a non-finite loss at step 3 stops there: the weights are those after step 2
    poisoned = [*batches[:2], (batches[2][0], batches[2][1] * np.float32("nan")), batches[3]]
    bad_model, bad = run(poisoned)
    assert bad.diverged and bad.stopped == "diverged" and bad.steps == 2
    assert len(bad.step_loss) == 3 and math.isnan(bad.step_loss[-1])
    two_model, two = run(batches[:2])
    assert bad.step_loss[:2] == two.step_loss
    for p, q in zip(bad_model.parameters(), two_model.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="exactly one"):
        fit(model, (xb, y), batches=batches)


# ---- the recipe's knobs do what they say: fit against a hand-written loop ---------------------


def _linear(n_in, n_out, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(n_in, n_out).double()


def _blobs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) * 3.0         # large inputs: large gradients to clip
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


def _sgd_by_hand(model, X, y, *, steps, lr, loss, clip=None, weight_decay=0.0):
    """Full-batch SGD written out: g = grad; g *= clip / (||g|| + 1e-6) when that is < 1
    (torch's clip_grad_norm_); g += weight_decay * w (SGD's L2 decay, after clipping, as fit
    applies the optimiser after the clip); w -= lr * g. Returns the loss before every step."""
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    losses = []
    for _ in range(steps):
        value = loss(model(X), y)
        losses.append(value.item())
        grads = torch.autograd.grad(value, list(model.parameters()))
        if clip is not None:
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
            scale = clip / (norm + 1e-6)
            if scale < 1:
                grads = [g * scale for g in grads]
        with torch.no_grad():
            for w, g in zip(model.parameters(), grads, strict=True):
                w -= lr * (g + weight_decay * w)
    return losses


def _fit_full_batch(model, X, y, steps, **kw):
    import itertools

    return fit(model, batches=itertools.repeat((X, y), steps), optimizer="sgd",
               show_progress=False, **kw)


@pytest.mark.parametrize("knobs", [dict(clip=0.05), dict(weight_decay=0.5),
                                   dict(clip=0.05, weight_decay=0.5)])
def test_clip_and_weight_decay_match_a_hand_written_sgd_loop(knobs):
    X, y = _blobs()
    ce = torch.nn.functional.cross_entropy
    model, ref, plain = _linear(3, 2), _linear(3, 2), _linear(3, 2)
    hist = _fit_full_batch(model, X, y, 6, lr=0.3, **knobs)
    by_hand = _sgd_by_hand(ref, X, y, steps=6, lr=0.3, loss=ce, **knobs)
    np.testing.assert_allclose(hist.step_loss, by_hand, rtol=1e-12)
    for w, w_ref in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(w, w_ref, rtol=1e-12, atol=1e-14)
    # the knob matters here: without it the run is another one
    without = _fit_full_batch(plain, X, y, 6, lr=0.3)
    assert abs(without.step_loss[-1] - hist.step_loss[-1]) > 1e-3


def test_weight_decay_reaches_adam_and_clip_bounds_its_input():
    """With Adam, fit's weight_decay is torch.optim.Adam's (L2 added to the clipped gradient)."""
    X, y = _blobs()
    ce = torch.nn.functional.cross_entropy
    model, ref = _linear(3, 2), _linear(3, 2)
    import itertools

    hist = fit(model, batches=itertools.repeat((X, y), 5), lr=0.1, weight_decay=0.3, clip=0.05,
               show_progress=False)
    opt = torch.optim.Adam(ref.parameters(), lr=0.1, weight_decay=0.3)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    for step in range(5):
        loss = ce(ref(Xt), yt)
        assert loss.item() == pytest.approx(hist.step_loss[step], rel=1e-12)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.05)
        opt.step()
    for w, w_ref in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(w, w_ref, rtol=1e-12, atol=1e-14)
    undecayed = fit(_linear(3, 2), batches=itertools.repeat((X, y), 5), lr=0.1, clip=0.05,
                    show_progress=False)
    assert abs(undecayed.step_loss[-1] - hist.step_loss[-1]) > 1e-4


def test_loss_fn_replaces_the_task_loss():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(30)

    def l1(out, target):
        return (out.reshape(target.shape) - target).abs().mean()

    model, ref, mse = _linear(3, 1), _linear(3, 1), _linear(3, 1)
    hist = _fit_full_batch(model, X, y, 6, lr=0.1, task="regression", loss_fn=l1)
    np.testing.assert_allclose(hist.step_loss,
                               _sgd_by_hand(ref, X, y, steps=6, lr=0.1, loss=l1), rtol=1e-12)
    with_mse = _fit_full_batch(mse, X, y, 6, lr=0.1, task="regression")
    assert abs(with_mse.step_loss[0] - hist.step_loss[0]) > 1e-3
    # the metric stays the task's (MSE), whatever the training loss
    assert hist.metric_name == "mse"


# ---- fit's boundary: dtypes, empty data, names -------------------------------------------------


def test_float64_arrays_meet_a_float32_model_and_tokens_stay_integers(order_data):
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal((48, 6, 2))                 # NumPy's default: float64
    y64 = x64[:, 0, 0] + x64[:, -1, 1]
    runs = []
    for x, y in ((x64, y64), (x64.astype(np.float32), y64.astype(np.float32))):
        env.setup(seed=0)
        model = RecurrentModel("rnn", 4, 1, input_dim=2)
        runs.append(fit(model, (x, y), (x, y), task="regression", epochs=2, batch_size=16,
                        show_progress=False))
        assert next(model.parameters()).dtype == torch.float32
        assert evaluate(model, (x, y), task="regression") == evaluate(
            model, (x.astype(np.float32), y.astype(np.float32)), task="regression")
    assert runs[0].step_loss == runs[1].step_loss       # the cast is the same as casting first
    import itertools

    env.setup(seed=0)
    fit(RecurrentModel("rnn", 4, 1, input_dim=2), batches=itertools.repeat((x64, y64), 2),
        task="regression", show_progress=False)
    # integer token ids are not cast: an embedding model still trains on int64 tokens
    train, test = order_data
    hist = fit(_order_model(), train, test, epochs=1, show_progress=False)
    assert math.isfinite(hist.final_metric)


def test_empty_data_and_unknown_optimiser_raise_clear_errors(order_data):
    train, test = order_data
    model = _order_model()
    with pytest.raises(ValueError, match="no batch"):
        fit(model, batches=[], show_progress=False)
    with pytest.raises(ValueError, match="no batch"):
        fit(model, batches=iter(()), show_progress=False)
    with pytest.raises(ValueError, match="test is empty"):
        fit(model, train, (test[0][:0], test[1][:0]), show_progress=False)
    with pytest.raises(ValueError, match="train is empty"):
        fit(model, (train[0][:0], train[1][:0]), test, show_progress=False)
    with pytest.raises(ValueError, match="at least one example"):
        evaluate(model, (test[0][:0], test[1][:0]))
    with pytest.raises(ValueError, match=r"\['adam', 'sgd'\].*'Adam'"):
        fit(model, train, test, optimizer="Adam", show_progress=False)


def test_order_accuracy_leaves_the_model_in_its_mode():
    from course_utils import cnn

    model = TextCNN(tasks.ORDER_VOCAB, n_classes=2, embed_dim=4, widths=(3,), channels=2)
    for mode in (True, False):
        model.train(mode)
        cnn.order_accuracy(model, [20], n=20)
        assert model.training is mode


def test_a_model_that_raises_closes_the_progress_bar(monkeypatch):
    """An exception in the model propagates, and the progress bar is closed, not left open."""
    import torch

    from course_utils import training

    closed = []

    class Bar:
        def update(self, n): ...
        def set_postfix_str(self, *a, **k): ...
        def refresh(self): ...
        def close(self): closed.append(True)

    monkeypatch.setattr(training, "progress", lambda *a, **k: Bar())

    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            raise RuntimeError("learner bug")

    x, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(RuntimeError, match="learner bug"):
        training.fit(Broken(), (x, y), (x, y), epochs=1, device="cpu", show_progress=True)
    assert closed == [True]
