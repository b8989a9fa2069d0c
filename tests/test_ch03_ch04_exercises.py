"""Chapters 03 and 04: precise stubs that the checkers enforce, and the two
"predict, then run" exercises (``predict_latch_weight``, ``predict_error_ratio``).

The stubs' stated rules are tested through the checkers: the dtype rule of ``rnn_step`` and
``bptt`` (x float32 with float64 parameters gives float32), the Python-float loss of
``cross_entropy``, the edge cases each stub lists. The prediction checkers measure the numbers
the solution notebooks explain, call a right prediction close and a wrong one not, and never
raise on garbage.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from course_utils import REPO_ROOT, scratch
from course_utils.grading import checks
from course_utils.grading.checks import ch03_rnn, ch04_bptt


def stub(*args):
    raise NotImplementedError("exercise")


# ------------------------------------------------------------------ rnn_step: the dtype rule
def test_rnn_step_states_and_enforces_the_dtype_of_x_t():
    def no_cast(x, h, p):  # right numbers, but float64 parameters make a float64 state
        return np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])

    assert not checks.rnn_step(no_cast)
    assert checks.rnn_step(lambda x, h, p: no_cast(x, h, p).astype(x.dtype))
    labels = [c.description for c in ch03_rnn.rnn_step_cases()]
    assert any("x_t float32, h_prev and p float64" in s for s in labels)
    assert any("B=1" in s for s in labels) and any("zero previous state" in s for s in labels)


# --------------------------------------------------------- cross_entropy: a Python float loss
def _ce(z, y, loss_type):
    loss, dz = scratch_ce(z, y)
    return loss_type(loss), dz


def scratch_ce(z, y):
    from course_utils import softmax

    loss, dz = softmax.cross_entropy(np.asarray(z, dtype=np.float64), y)
    return loss, dz.astype(z.dtype)


@pytest.mark.parametrize("loss_type", [float, np.float64], ids=["float", "np.float64"])
def test_cross_entropy_accepts_a_python_float_loss(loss_type, no_own_work_guard):
    assert checks.cross_entropy(lambda z, y: _ce(z, y, loss_type))


@pytest.mark.parametrize("loss_type", [np.float32, np.asarray, lambda v: np.array([v])],
                         ids=["np.float32", "0-d array", "1-element array"])
def test_cross_entropy_rejects_other_loss_types_with_a_clear_message(loss_type, capsys,
                                                                      no_own_work_guard):
    result = checks.cross_entropy(lambda z, y: _ce(z, y, loss_type))
    assert not result
    assert "Python float" in result.message and "float(loss)" in result.message
    assert "Python float" in capsys.readouterr().out


def test_cross_entropy_type_check_leaves_other_failures_to_the_cases():
    assert checks.cross_entropy(stub).status == "not attempted"
    result = checks.cross_entropy(lambda z, y: 1 / 0)
    assert not result and "ZeroDivisionError" in result.message
    assert not checks.cross_entropy(lambda z, y: None)


# --------------------------------------------------------------- bptt: dtype rule, edge cases
def _bptt_no_cast(x, h0, p, dh_all):
    h_all, cache = scratch.rnn_forward(x.astype(np.float64), h0, p)
    return scratch.rnn_backward(dh_all, cache)


def test_bptt_states_and_enforces_the_dtype_of_x(no_own_work_guard):
    assert not checks.bptt(_bptt_no_cast)

    def cast_at_the_end(x, h0, p, dh_all):
        dx, dh0, grads = _bptt_no_cast(x, h0, p, dh_all)
        return (dx.astype(x.dtype), dh0.astype(x.dtype),
                {k: v.astype(x.dtype) for k, v in grads.items()})

    assert checks.bptt(cast_at_the_end)


def test_bptt_cases_cover_the_stated_edge_cases():
    labels = " | ".join(c.description for c in ch04_bptt.bptt_cases())
    for stated in ("a single time step", "B=1", "last state only", "dh_all all zeros",
                   "x float32, h0, p and dh_all float64"):
        assert stated in labels
    zero = [c for c in ch04_bptt.bptt_cases() if "all zeros" in c.description][0]
    dx, dh0, grads = ch04_bptt.bptt_reference(*zero.args)
    assert not dx.any() and not dh0.any() and not any(g.any() for g in grads.values())


def test_bptt_nan_on_zero_gradient_fails():
    def nan_when_zero(x, h0, p, dh_all):
        out = ch04_bptt.bptt_reference(x, h0, p, dh_all)
        if not np.any(dh_all):  # e.g. a normalisation by the norm of dh_all
            return out[0] * np.nan, out[1], out[2]
        return out
    assert not checks.bptt(nan_when_zero)


def test_numerical_gradient_cases_cover_the_stated_ones():
    cases = ch04_bptt.numerical_gradient_cases()
    eps = sorted(c.args[2] for c in cases)
    assert eps[0] == 1e-6 and eps[-1] == 1e-2
    shapes = [c.args[1].shape for c in cases]
    assert (1, 1) in shapes and any(len(s) == 3 for s in shapes)


# ---------------------------------------------------------------- predict_latch_weight (03)
def test_latch_experiment_matches_the_chapter_and_the_explanation():
    assert ch03_rnn.latch_accuracy(5.0) == 1.0  # the chapter's latch
    assert ch03_rnn.latch_accuracy(0.5) == 0.0  # question 4
    w = ch03_rnn.smallest_latch_weight()
    assert abs(w - 2 / math.tanh(2)) < 1e-3  # the solution's explanation: 2 / tanh(2)
    # the jump is sharp: 0 % just below, 100 % just above
    assert ch03_rnn.latch_accuracy(w - 0.01) == 0.0 and ch03_rnn.latch_accuracy(w + 0.01) == 1.0


@pytest.mark.parametrize("guess,close", [(2.07, True), (2.0, True), (2.25, True), (1.0, False),
                                         (5.0, False), (0.5, False)])
def test_predict_latch_weight_closeness(guess, close):
    assert checks.predict_latch_weight(lambda: guess).close is close


# ---------------------------------------------------------------- predict_error_ratio (04)
def test_error_ratio_experiment_matches_the_explanation():
    big, small = ch04_bptt.central_difference_errors((1e-2, 1e-3))
    assert abs(big / small - 100) < 1  # second order: 10x smaller step, 100x smaller error
    f_big, f_small = ch04_bptt.central_difference_errors((1e-2, 1e-3), one_sided=True)
    assert abs(f_big / f_small - 10) < 1  # first order, "a ratio near 10"


@pytest.mark.parametrize("guess,close", [(10, True), (8, True), (12, True), (100, False),
                                         (1, False), (3.16, False)])
def test_predict_error_ratio_closeness(guess, close):
    assert checks.predict_error_ratio(lambda: guess).close is close


# ---------------------------------------------------------------- both predictions: robustness
def _raises_value_error():
    raise ValueError("oops")


PREDICTORS = [checks.predict_latch_weight, checks.predict_error_ratio]
GARBAGE = [stub, _raises_value_error, lambda: None, lambda: "two", lambda: float("nan"),
           lambda: [2.0], lambda: True, "not a function"]


@pytest.mark.parametrize("checker", PREDICTORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("fn", GARBAGE, ids=range(len(GARBAGE)))
def test_predictions_never_raise_and_give_no_verdict_on_garbage(checker, fn):
    result = checker(fn)
    assert result.close is None and not result


@pytest.mark.parametrize("checker", PREDICTORS, ids=lambda f: f.__name__)
def test_an_unanswered_stub_says_no_prediction_yet(checker, capsys):
    assert checker(stub).close is None
    assert "no prediction yet" in capsys.readouterr().out


# ------------------------------------------- both predictions: the prediction comes first (19 §2)
@pytest.mark.parametrize("module,checker,experiment", [
    (ch03_rnn, "predict_latch_weight", "smallest_latch_weight"),
    (ch04_bptt, "predict_error_ratio", "measured_error_ratio")])
def test_the_experiment_runs_only_after_the_prediction_is_read(module, checker, experiment,
                                                                monkeypatch):
    events = []
    real = getattr(module, experiment)

    def watched(*args, **kwargs):
        events.append("experiment")
        return real(*args, **kwargs)

    def prediction():
        events.append("prediction")
        return 2.0

    monkeypatch.setattr(module, experiment, watched)
    getattr(checks, checker)(prediction)
    assert events[0] == "prediction" and "experiment" in events
    events.clear()
    getattr(checks, checker)(stub)  # no prediction yet: the experiment does not run
    assert events == []


@pytest.mark.parametrize("name,checker,numbers", [
    ("03_rnn_equations", "predict_latch_weight", ["2.07", "2.08", "2/\\tanh", "2 / tanh"]),
    ("04_bptt", "predict_error_ratio", ["9.9", "ratio of 10", "tenfold"])])
def test_no_prompt_docstring_or_check_cell_gives_the_measured_value(name, checker, numbers):
    """The exercise notebook (prompt, stub, check cell) and the checker's docstrings never state
    the number the experiment measures."""
    cells = _cells(f"exercises/{name}.ipynb")
    start = next(i for i, c in enumerate(cells) if f"def {checker}():" in _src(c))
    shown = [_src(c) for c in cells[start - 1:start + 2]]
    assert any(f"checks.{checker}({checker})" == s.strip().split(" = ")[-1] for s in shown)
    module = ch03_rnn if name.startswith("03") else ch04_bptt
    docstrings = [getattr(module, n).__doc__ or "" for n in dir(module)
                  if callable(getattr(module, n)) and getattr(getattr(module, n), "__module__", "")
                  == module.__name__]
    for text in shown + docstrings:
        for number in numbers:
            assert number not in text, (number, text[:200])


# ---------------------------------------------------------------- the notebooks
def _cells(path):
    return json.loads((REPO_ROOT / path).read_text(encoding="utf-8"))["cells"]


def _src(cell):
    return "".join(cell["source"])


@pytest.mark.parametrize("name,predictor", [("03_rnn_equations", "predict_latch_weight"),
                                            ("04_bptt", "predict_error_ratio")])
def test_solution_predictions_are_close(name, predictor):
    code = [_src(c) for c in _cells(f"solutions/{name}.ipynb") if c["cell_type"] == "code"]
    (definition,) = [s for s in code if s.startswith(f"def {predictor}():")]
    value = float(re.search(r"return ([0-9.]+)", definition).group(1))
    assert getattr(checks, predictor)(lambda: value).close is True
    assert any(f"checks.{predictor}({predictor})" in s for s in code)


STUB_RULES = {
    "03_rnn_equations": {"rnn_step": ["dtype of x_t", "float64 parameters gives float32",
                                      "B = 1"],
                         "cross_entropy": ["Python float", "dtype of z", "B = 1", "int32"]},
    "04_bptt": {"numerical_gradient": ["float64", "eps", "shaped like x", "exactly as before"],
                "bptt": ["dtype of x", "float64 parameters gives float32", "T = 1", "B = 1",
                         "all zeros"],
                "rnn_classifier_grads": ["Python float", "dtype of x", "T = 1", "B = 1"]},
}


@pytest.mark.parametrize("name", sorted(STUB_RULES))
def test_exercise_stubs_state_types_dtype_rules_and_edge_cases(name):
    code = [_src(c) for c in _cells(f"exercises/{name}.ipynb") if c["cell_type"] == "code"]
    for fn, phrases in STUB_RULES[name].items():
        (stub_src,) = [s for s in code if s.startswith(f"def {fn}(")]
        assert "raise NotImplementedError" in stub_src
        docstring = " ".join(stub_src.split("'''")[1].split())
        for phrase in phrases:
            assert phrase in docstring, (fn, phrase)


def test_bptt_formulas_are_in_a_hint_not_in_the_prompt():
    cells = _cells("exercises/04_bptt.ipynb")
    (prompt,) = [_src(c) for c in cells if _src(c).startswith("## Exercise 2: backpropagation")]
    visible, _, hidden = prompt.partition("<details>")
    assert r"1 - \mathbf{h}_t" in hidden and r"\mathbf{h}_{t-1}^\top" in hidden
    assert r"1 - \mathbf{h}_t" not in visible and r"\mathbf{h}_{t-1}^\top" not in visible
    assert "*Difficulty ★★★ · about 45 minutes" in visible


def test_chapters_do_not_print_the_references():
    for name, fn in [("03_rnn_equations", "rnn_step"), ("04_bptt", "rnn_backward")]:
        text = json.dumps(_cells(f"notebooks/{name}.ipynb"))
        assert f"print(inspect.getsource(scratch.{fn}))" not in text
        assert f"def {fn}(" not in text
