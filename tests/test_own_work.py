"""A learner's function that is, wraps or calls the course's own answer fails, by every route.

For each graded function exercise, an "answer" that hands the work to the course is tried in
several forms: the course function object itself (where the signatures match), an alias
imported under another name, a helper that calls it as a module attribute, a lambda, a closure
and a ``functools.partial``. Each must fail with the message naming the course function, and
must do so in a fresh process too (the grader's route). Correct answers written independently
pass: the checker-strength and chapter tests pass them through the same ``run_check``.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import time

import numpy as np
import pytest

from course_utils import bow, cnn, pathologies, scratch
from course_utils import softmax as sm
from course_utils.grading import checking, checks
from course_utils.grading.checks import course_answers
from course_utils.grading.checks.ch04_bptt import numerical_gradient_reference
from course_utils.grading.checks.ch06_lstm import cell_path_reference
from course_utils.grading.checks.ch07_gru import flip_z_reference
from course_utils.scratch import rnn_step as my_step  # the "alias imported before" route


def _count(kind, input_dim, hidden, num_layers=1, bidirectional=False):
    import torch

    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        input_dim, hidden, num_layers=num_layers, bidirectional=bidirectional)
    return sum(t.numel() for t in module.parameters())


def _bptt(x, h0, p, dh_all):
    _, cache = scratch.rnn_forward(x, h0, p)
    return scratch.rnn_backward(dh_all, cache)


def _classifier(x, y, p):
    h_all, cache = scratch.rnn_forward(x, np.zeros((x.shape[1], p["weight_hh"].shape[0])), p)
    return scratch.last_state_classifier_grads(h_all, cache, p["weight_hy"], p["bias_y"], y)


def _lstm_bptt(x, h0, c0, p, dh_all):
    *_, cache = scratch.lstm_forward(x, h0, c0, p)
    return scratch.lstm_backward(dh_all, cache)


def _gru_bptt(x, h0, p, dh_all):
    _, cache = scratch.gru_forward(x, h0, p)
    return scratch.gru_backward(dh_all, cache)


def _conv_backward_autograd(x, weight, bias, dpooled):
    import torch

    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(weight, dtype=xt.dtype, requires_grad=True)
    bt = torch.tensor(bias, dtype=xt.dtype, requires_grad=True)
    h = torch.nn.functional.conv1d(xt.permute(1, 2, 0), wt, bt)
    (torch.relu(h).amax(dim=2) * torch.tensor(dpooled, dtype=xt.dtype)).sum().backward()
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _tfidf_transform(train_counts, counts):
    return bow.tfidf(counts, bow.idf(train_counts))


# exercise -> a function that answers it with the course's code (called as module attributes)
VIA_COURSE = {
    "softmax": lambda z: sm.softmax(z),
    "masked_softmax": lambda z: sm.softmax(z),
    "softmax_backward": lambda s, ds: sm.softmax_backward(s, ds),
    "count_matrix": lambda docs, vocab, *a: bow.count_matrix(docs, vocab),
    "tfidf": lambda counts: bow.tfidf(counts),
    "tfidf_transform": _tfidf_transform,
    "cosine_similarity": lambda x: bow.cosine_similarity(x),
    "conv_relu_maxpool": lambda *a: cnn.conv_relu_maxpool(*a[:3]),
    "receptive_field": lambda *a: cnn.receptive_field(*a),
    "conv_maxpool_backward": _conv_backward_autograd,
    "rnn_step": lambda x_t, h, p: scratch.rnn_step(x_t, h, p),
    "cross_entropy": lambda z, y: sm.cross_entropy(z, y),
    "numerical_gradient": lambda f, x, eps=1e-5: numerical_gradient_reference(f, x, eps),
    "bptt": _bptt,
    "rnn_classifier_grads": _classifier,
    "clip_grad_norm": lambda g, m: scratch.clip_grad_norm(g, m),
    "scale_to_spectral_radius": lambda W, rho: pathologies.scale_to_spectral_radius(W, rho),
    "jacobian_norms": lambda W, h_all: pathologies.jacobian_norms(W, h_all),
    "lstm_step": lambda x_t, h, c, p: scratch.lstm_step(x_t, h, c, p),
    "cell_path_gradient": lambda f, dc: cell_path_reference(f, dc),
    "lstm_bptt": _lstm_bptt,
    "gru_step": lambda x_t, h, p: scratch.gru_step(x_t, h, p),
    "flip_update_gate": lambda p: flip_z_reference(p),
    "gru_bptt": _gru_bptt,
    "recurrent_param_count": _count,
}

# exercises whose course function has the learner's signature: passed as the object itself
SAME_SIGNATURE = {
    "softmax": sm.softmax, "softmax_backward": sm.softmax_backward,
    "cosine_similarity": bow.cosine_similarity, "rnn_step": scratch.rnn_step,
    "cross_entropy": sm.cross_entropy, "clip_grad_norm": scratch.clip_grad_norm,
    "scale_to_spectral_radius": pathologies.scale_to_spectral_radius,
    "lstm_step": scratch.lstm_step, "gru_step": scratch.gru_step,
    "flip_update_gate": flip_z_reference, "cell_path_gradient": cell_path_reference,
    "numerical_gradient": numerical_gradient_reference,
}


def _graded_function_checkers() -> list[str]:
    names = []
    for name in checks.__all__:
        fn = getattr(checks, name)
        if name.startswith("predict_") or getattr(fn, "design", False):
            continue
        names.append(name)
    return names


def _forms(name):
    via = VIA_COURSE[name]

    def helper(*args, **kwargs):  # a helper of the learner's that calls the course
        return via(*args, **kwargs)

    def make_closure():
        target = via

        def inner(*args, **kwargs):
            return target(*args, **kwargs)
        return inner

    forms = {"helper": helper, "lambda": lambda *a, **k: via(*a, **k),
             "closure": make_closure(), "partial": functools.partial(via)}
    if name in SAME_SIGNATURE:
        forms["itself"] = SAME_SIGNATURE[name]
    return forms


def test_every_graded_function_exercise_is_listed():
    graded = set(_graded_function_checkers())
    assert graded == set(course_answers.TABLE), (
        f"not listed: {sorted(graded - set(course_answers.TABLE))}; "
        f"listed but not a graded function checker: {sorted(set(course_answers.TABLE) - graded)}")
    assert set(VIA_COURSE) == graded


def test_listed_names_are_real_functions():
    """A misspelt name would watch nothing: every listed name resolves to a function."""
    import importlib

    for names in [*course_answers.TABLE.values(), *course_answers.PREDICTIONS.values()]:
        for full in names:
            if full.endswith("*"):  # a prefix: it must match at least one function
                module_name, _, prefix = full[:-1].rpartition(".")
                module = importlib.import_module(module_name)
                assert any(name.startswith(prefix) and callable(getattr(module, name))
                           for name in vars(module)), full
                continue
            module_name, _, qualname = full.rpartition(".")
            parts = [module_name, qualname]
            while parts[0] and not _importable(parts[0]):
                head, _, tail = parts[0].rpartition(".")
                parts = [head, f"{tail}.{parts[1]}"]
            obj = importlib.import_module(parts[0])
            for attr in parts[1].split("."):
                obj = getattr(obj, attr)
            assert checking.qualified_name(obj) == full, full


def _importable(module_name):
    import importlib

    try:
        importlib.import_module(module_name)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(VIA_COURSE))
def test_course_answer_fails_in_every_form(name, capsys):
    checker = getattr(checks, name)
    for form, fn in _forms(name).items():
        result = checker(fn)
        assert not result, f"{name}: the {form} form passed"
        assert "the course's own implementation" in result.message, (name, form, result.message)
    capsys.readouterr()


def test_alias_imported_before_the_check_fails():
    result = checks.rnn_step(my_step)
    assert not result
    assert "`course_utils.scratch.rnn_step`" in result.message


def test_message_names_the_function():
    result = checks.bptt(_bptt)
    assert "calls `course_utils.scratch.rnn_" in result.message
    assert result.message.startswith("your function calls")


def test_own_helpers_that_call_allowed_course_code_pass():
    """Calling a course function that is not the answer (scratch.sigmoid) is fine."""

    def lstm_step(x_t, h_prev, c_prev, p):
        H = h_prev.shape[1]
        a = (x_t @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T
             + p["bias_hh"]).astype(x_t.dtype, copy=False)
        i, f, o = (scratch.sigmoid(a[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
        g = np.tanh(a[:, 2 * H:3 * H])
        c = f * c_prev.astype(x_t.dtype) + i * g
        return (o * np.tanh(c)).astype(x_t.dtype), c.astype(x_t.dtype)

    assert checks.lstm_step(lstm_step)


def test_guard_restores_an_earlier_profiler():
    calls = []

    def profiler(frame, event, arg):
        calls.append(event)

    sys.setprofile(profiler)
    try:
        with checking.CourseCallWatch({"course_utils.softmax.softmax"}) as watch:
            sm.softmax(np.zeros((1, 2)))
        assert sys.getprofile() is profiler
    finally:
        sys.setprofile(None)
    assert watch.hit == "course_utils.softmax.softmax"


def test_guard_catches_the_reference_in_a_fresh_process(tmp_path):
    """The grader checks in a fresh process: the verdict there is the same."""
    code = ("from course_utils import scratch\n"
            "from course_utils.grading import checks\n"
            "r = checks.gru_step(lambda x, h, p: scratch.gru_step(x, h, p))\n"
            "assert not r and 'course_utils.scratch.gru_step' in r.message, r.message\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_guard_costs_milliseconds(capsys, monkeypatch):
    """The watch adds milliseconds to a whole check: timed with and without it."""

    def rnn_step(x_t, h_prev, p):
        a = x_t @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]
        return np.tanh(a).astype(x_t.dtype, copy=False)

    def timed():
        start = time.perf_counter()
        for _ in range(5):
            assert checks.rnn_step(rnn_step)
        return (time.perf_counter() - start) / 5

    class Unwatched(checking.CourseCallWatch):  # the same call path, with nothing to watch
        def __init__(self, names, functions=()):
            super().__init__((), ())

    timed()  # warm-up
    with_guard = timed()
    monkeypatch.setattr(checking, "CourseCallWatch", Unwatched)
    without = timed()
    capsys.readouterr()
    print(f"rnn_step check: {1000 * with_guard:.1f} ms with the guard, "
          f"{1000 * without:.1f} ms without")
    assert with_guard - without < 0.05  # 50 ms: generous for a busy 2-core machine


def test_switching_the_profiler_off_is_reported(capsys):
    def masked_softmax(z):
        sys.setprofile(None)  # hides the course call that follows
        return sm.softmax(z)

    result = checks.masked_softmax(masked_softmax)
    assert not result and "switched off the checker's watch" in result.message


def test_a_thread_started_inside_the_call_is_watched(capsys):
    import threading

    def softmax_backward(s, ds):
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault("v", sm.softmax_backward(s, ds)))
        worker.start()
        worker.join()
        return out["v"]

    result = checks.softmax_backward(softmax_backward)
    assert not result and "course_utils.softmax.softmax_backward" in result.message
    assert threading.getprofile() is None  # restored


def test_a_number_whose_float_runs_the_experiment_is_refused(capsys):
    calls = []

    class Sneaky(float):
        def __float__(self):
            calls.append("float")
            return checks.ch01_tfidf.bigram_cosine()

    result = checks.predict_bigram_cosine(lambda: Sneaky(0.1))
    assert result.close is None and "runs the experiment itself" in result.message


# ---- "predict, then run": a prediction that calls the experiment is no prediction

PEEKS = {
    "predict_bigram_cosine": lambda: checks.ch01_tfidf.bigram_cosine(),
    "predict_dilation_holes": lambda: checks.ch02_cnn.dilated_layer_accuracies()[1],
    "predict_latch_weight": lambda: checks.ch03_rnn.smallest_latch_weight(),
    "predict_error_ratio": lambda: checks.ch04_bptt.measured_error_ratio(),
    "predict_weak_input_gradient": lambda: pathologies.weak_input_gradient(0),
    "predict_forget_bias": lambda: __import__("course_utils.gates").gates.bias_for_retention(),
    "predict_wine_share": lambda: __import__("course_utils.wine").wine.new_wine_share(0.9, 10),
}


def test_every_prediction_is_listed():
    predictions = {name for name in checks.__all__ if name.startswith("predict_")}
    assert predictions == set(course_answers.PREDICTIONS) == set(PEEKS)


@pytest.mark.parametrize("name", sorted(PEEKS))
def test_a_prediction_that_runs_the_experiment_is_refused(name, capsys, monkeypatch):
    ran = []
    real = checking.check_prediction

    def spy(exercise, fn, actual, **options):
        if callable(actual):  # count the experiment's runs
            experiment = actual

            def actual():
                ran.append(exercise)
                return experiment()
        return real(exercise, fn, actual, **options)

    module = __import__(getattr(checks, name).__module__, fromlist=["check_prediction"])
    monkeypatch.setattr(module, "check_prediction", spy)
    result = getattr(checks, name)(PEEKS[name])
    out = capsys.readouterr().out
    assert result.close is None, f"{name}: a peek was taken as a prediction"
    assert "runs the experiment itself" in result.message, result.message
    assert ran == [], f"{name}: the experiment ran after a refused prediction"
    assert "experiment" in out


def test_the_experiment_runs_only_after_a_usable_prediction(capsys):
    calls = []

    def experiment():
        calls.append("experiment")
        return 2.0

    def prediction():
        calls.append("prediction")
        return 1.9

    result = checking.check_prediction("demo", prediction, experiment, rel_tol=0.1)
    assert calls == ["prediction", "experiment"] and result.close and result.actual == 2.0
    calls.clear()

    def stub():
        raise NotImplementedError

    result = checking.check_prediction("demo", stub, experiment)
    assert calls == [] and result.close is None and result.actual is None
