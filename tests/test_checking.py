"""The checker framework: never raises, specific messages, machine-readable results."""


import numpy as np
import pytest

from course_utils.grading import checking, checks
from course_utils.grading.checking import Case, Mismatch, compare_arrays, run_check


def ref(x):
    return x * 2.0


CASES = [Case((np.arange(6.0).reshape(2, 3),), "float64 (2, 3)"),
         Case((np.ones((3, 2), np.float32),), "float32 (3, 2)")]


def run(fn):
    return run_check("double", fn, CASES, ref, arg_names=["x"], output_name="y")


def test_correct_function_passes_and_result_is_truthy(capsys):
    res = run(lambda x: x + x)
    assert res and res.status == "passed" and res.cases_run == 2
    assert "all 2 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize("fn, words", [
    (lambda x: None, "got None; did you forget a `return`?"),
    (lambda x: (x * 2).tolist(), "expected a NumPy array, got list"),
    (lambda x: (x * 2).T, "wrong shape"),
    (lambda x: (x * 2).astype(np.float32), "dtype float32, expected float64"),
    (lambda x: x * np.nan, "non-finite value"),
    (lambda x: x * 2 + (x > 4), "worst at [1, 2]: expected 10, got 11"),
    (lambda x: 1 / 0, "raised ZeroDivisionError: division by zero (raised at line"),
    ("not a function", "expected a function"),
])
def test_wrong_functions_fail_with_a_specific_message(fn, words, capsys):
    res = run(fn)
    assert not res and res.status == "failed"
    assert words in res.message
    assert words in capsys.readouterr().out


def test_not_implemented_is_not_attempted():
    def stub(x):
        raise NotImplementedError("Exercise 'double'")
    res = run(stub)
    assert not res and res.status == "not attempted" and "not attempted yet" in res.message


def test_in_place_change_of_an_input_is_reported():
    def sneaky(x):
        x *= 2.0
        return x.copy()
    res = run(sneaky)
    assert not res and "changed its input `x` in place" in res.message


def test_hint_when_output_matches_a_known_mistake():
    res = run_check("double", lambda x: x * 3.0, CASES, ref, arg_names=["x"],
                    diagnoses=[checking.Diagnosis(lambda x: x * 4.0, "not this"),
                               checking.Diagnosis(lambda x: x * 3.0, "you tripled it")])
    assert "hint: you tripled it" in res.message and "not this" not in res.message


def test_compare_structures():
    compare_arrays((np.ones(2), {"a": 1.5}), (np.ones(2), {"a": 1.5}), "out")
    with pytest.raises(Mismatch, match="expected a tuple of 2 values, got 1"):
        compare_arrays((np.ones(2),), (np.ones(2), np.ones(2)), "out")
    with pytest.raises(Mismatch, match=r"wrong keys \(missing \['b'\]"):
        compare_arrays({"a": np.ones(1)}, {"a": np.ones(1), "b": np.ones(1)}, "g")
    with pytest.raises(Mismatch, match="expected 2, got 3"):
        compare_arrays(3.0, 2.0, "norm")
    with pytest.raises(Mismatch, match="got NaN"):
        compare_arrays(float("nan"), 2.0, "norm")


@pytest.mark.parametrize("checker", [checks.softmax, checks.softmax_backward, checks.tfidf,
                                     checks.rnn_step, checks.bptt, checks.clip_grad_norm,
                                     checks.lstm_step, checks.gru_step])
@pytest.mark.parametrize("garbage", [None, lambda *a: None, lambda *a: "text", lambda *a: 1 / 0,
                                     lambda *a: [1, 2], lambda *a: (None, None, None)])
def test_no_checker_raises_on_garbage(checker, garbage):
    res = checker(garbage)
    assert not res and res.status == "failed"


def test_a_design_checker_leaves_training_to_the_grader(monkeypatch):
    from course_utils.grading import checks, grade

    called = []
    monkeypatch.setenv(checking.DEFER_ENV, "1")
    res = checks.surname_gru(lambda *a: called.append(a))
    assert res.status == checking.NOT_ATTEMPTED and "grader" in res.message and not called
    assert checks.surname_gru.design is True
    # The kernel is told to defer; the trusted check's own process is not.
    assert grade._kernel_env()[checking.DEFER_ENV] == "1"
    assert checking.DEFER_ENV not in grade._worker_env()


def test_a_case_can_require_an_exception_and_a_promise_is_checked_after_the_values():
    cases = [checking.Case((np.ones(2),), "ones"),
             checking.Case((np.zeros(0),), "empty: the stub says ValueError", raises=ValueError)]

    def ref(x):
        return 2 * x

    def right(x):
        if x.size == 0:
            raise ValueError("empty")
        return 2 * x

    def promise(args, out):
        return None if out is not args[0] else "it returned its input"

    kw = {"arg_names": ["x"], "promise": promise}
    assert checking.run_check("demo", right, cases, ref, **kw)
    res = checking.run_check("demo", lambda x: 2 * x, cases, ref, **kw)
    assert not res and "raise ValueError here, but your function returned ndarray" in res.message
    res = checking.run_check("demo", lambda x: (_ for _ in ()).throw(KeyError("k")), cases[1:],
                             ref, **kw)
    assert not res and "raised KeyError" in res.message

    def in_place(x):
        if x.size == 0:
            raise ValueError
        x *= 2
        return x

    res = checking.run_check("demo", in_place, cases, ref, **kw)
    assert not res and "the values are right, but it returned its input" in res.message


def test_editing_a_nested_token_list_in_place_is_caught(capsys):
    """``docs`` is a list of token lists: changing a token inside it counts as changing docs."""
    from course_utils.grading import checks

    def count_matrix(docs, vocab):
        counts = np.zeros((len(docs), len(vocab)), dtype=np.int64)
        for i, doc in enumerate(docs):
            for j, token in enumerate(doc):
                if token in vocab:
                    counts[i, vocab[token]] += 1
                doc[j] = token.upper()  # the bug: the learner's tokens, edited in place
        return counts

    result = checks.count_matrix(count_matrix)
    assert not result
    assert "changed its input `docs` in place" in result.message


def test_unchanged_nested_inputs_and_functions_are_not_flagged():
    same = checking._changed_inputs
    assert same([[["a", "b"]], (lambda x: x)], [[["a", "b"]], (lambda x: x)], ["docs", "f"]) is None
    assert same([[("a", 1.0)]], [[("a", 1.0)]], ["pairs"]) is None
    assert same([[float("nan")]], [[float("nan")]], ["x"]) is None
    assert same([[["a", "b"]]], [[["a", "B"]]], ["docs"]) == "docs"
    assert same([[(3, 1)]], [[(3, 2)]], ["layers"]) == "layers"


def test_a_matmul_shape_error_gets_a_hint(capsys):
    """Forgetting .T on a non-square weight crashes inside NumPy: the message says what to check."""
    from course_utils.grading import checks

    def rnn_step(x_t, h_prev, p):
        a = x_t @ p["weight_ih"] + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]
        return np.tanh(a).astype(x_t.dtype)

    result = checks.rnn_step(rnn_step)
    assert not result and "raised ValueError" in result.message
    assert "hint: a matrix product got operands whose inner sizes differ" in result.message
    assert "x @ W.T" in result.message


class _Unreadable:
    """A result whose conversion to an array or a number raises (not a TypeError)."""

    def __array__(self, *args, **kwargs):
        raise RuntimeError("no array here")

    def __float__(self):
        raise RuntimeError("no number here")

    def __repr__(self):
        raise RuntimeError("no repr either")


@pytest.mark.parametrize(("checker", "words"), [
    ("receptive_field", "could not be read: RuntimeError: no array here"),
    ("recurrent_param_count", "could not be read: RuntimeError: no array here"),
    ("softmax", "expected a NumPy array, got _Unreadable")])
def test_a_result_that_raises_when_read_is_a_failed_check(checker, words, capsys):
    result = getattr(checks, checker)(lambda *args, **kwargs: _Unreadable())
    assert result.status == "failed", result
    assert words in result.message, result.message


def test_exit_in_the_learners_function_is_a_failed_check_but_ctrl_c_is_not(capsys):
    def exits(x):
        raise SystemExit(3)

    res = run(exits)
    assert res.status == "failed"
    assert "raised SystemExit: 3" in res.message and "called exit()" in res.message

    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(interrupted)
    with pytest.raises(KeyboardInterrupt):
        checking.check_prediction("demo", lambda: interrupted(None), 1.0)


def test_a_prediction_that_exits_is_reported(capsys):
    def exits():
        raise SystemExit(0)

    result = checking.check_prediction("demo", exits, 1.0)
    assert result.close is None and "raised SystemExit" in result.message, result


def test_complex_results_are_not_read_as_their_real_part():
    """``astype(float64)`` would drop an imaginary part: a complex result never matches a
    real expectation, even where dtypes are not compared."""
    expected = np.ones(3)
    with pytest.raises(Mismatch, match="complex"):
        compare_arrays(np.array([1 + 5j, 1, 1]), expected, "out", check_dtype=False)
    compare_arrays(np.array([1.0, 1.0, 1.0]), expected, "out", check_dtype=False)
