"""Every hint a checker can give is reachable, and every known mistake runs on every case.

A checker's ``Diagnosis`` list is read by calling the checker with ``run_check`` replaced by a
recorder. Then, for each diagnosis, its wrong implementation is handed to the real
``run_check`` as if a learner had written it: the checker must fail it with exactly that
diagnosis's hint. A hint that an earlier diagnosis shadows, or whose wrong implementation
agrees with the reference on every case, fails here.
"""

import copy
import warnings

import numpy as np
import pytest
from test_ch03_ch04_checks import ng_ok_nditer, ng_undo_by_subtraction

from course_utils.grading import checking, checks
from course_utils.grading.checking import FAILED, Mismatch, compare_arrays


def recorded_call(name, monkeypatch):
    """The arguments the checker ``name`` passes to ``run_check``."""
    checker = getattr(checks, name)
    module = __import__(checker.__module__, fromlist=["run_check"])
    calls = []
    monkeypatch.setattr(module, "run_check", lambda *a, **kw: calls.append((a, kw)))
    checker(lambda *args: None)
    monkeypatch.undo()
    assert len(calls) == 1, f"{name} did not call run_check exactly once"
    return calls[0]


# Predictions are shown, not checked; a design checker (``checker.design = True``) trains the
# learner's model against a measured target instead of comparing outputs with run_check.
WITH_DIAGNOSES = [name for name in checks.__all__ if not name.startswith("predict_")
                  and not getattr(getattr(checks, name), "design", False)]


def diagnosis_ids():
    """(checker name, index of the diagnosis) for every diagnosis of every checker."""
    mp = pytest.MonkeyPatch()
    try:
        return [(name, i) for name in WITH_DIAGNOSES
                for i in range(len(recorded_call(name, mp)[1].get("diagnoses", ())))]
    finally:
        mp.undo()


DIAGNOSES = diagnosis_ids()


def test_every_checker_but_the_training_one_has_diagnoses():
    names = {name for name, _ in DIAGNOSES}
    assert names == set(WITH_DIAGNOSES)
    assert len(DIAGNOSES) >= 2 * len(names)


@pytest.mark.parametrize(("name", "index"), DIAGNOSES, ids=lambda v: str(v))
def test_each_hint_is_reachable(name, index, monkeypatch, capsys, no_own_work_guard):
    (exercise, _fn, cases, reference), kwargs = recorded_call(name, monkeypatch)
    diag = kwargs["diagnoses"][index]
    result = checking.run_check(exercise, diag.wrong, cases, reference, **kwargs)
    assert result.status == FAILED
    hints = [line.split("hint: ", 1)[1] for line in result.message.splitlines()
             if "hint: " in line]
    assert hints == [diag.hint], (
        f"{name}: the mistake behind diagnosis {index} got {hints or 'no hint'}; "
        f"message: {result.message}")


def known_mistake_runs(diagnoses, cases, reference):
    """(what raised, indices of the diagnoses that differ from the reference on some case).

    A diagnosis built with ``checks.common.telling`` gives None on a case where its mistake does
    not show: None there is "no difference on this case", not a difference (compared with the
    reference, None would always look like one)."""
    raised, differs = [], set()
    for case in cases:
        if case.raises is not None:  # the stub asks for an exception: nothing to compare
            continue
        expected = reference(*copy.deepcopy(case.args), **case.kwargs)
        for i, diag in enumerate(diagnoses):
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    wrong = diag.wrong(*copy.deepcopy(case.args), **case.kwargs)
            except Exception as err:  # noqa: BLE001 - any exception is the failure reported
                raised.append(f"diagnosis {i} on {case.description!r}: {err!r}")
                continue
            if wrong is None:  # a telling variant where its mistake does not show
                continue
            try:
                compare_arrays(wrong, expected, "out")
            except Mismatch:
                differs.add(i)
    return raised, differs


@pytest.mark.parametrize("name", WITH_DIAGNOSES)
def test_known_mistakes_run_on_every_case(name, monkeypatch):
    """``checking.diagnose`` only expects a Mismatch: a wrong variant that raises on some case
    would be a broken hint, so none may; and each variant differs from the reference on at
    least one case (dtype included), else its hint could never be shown."""
    (_exercise, _fn, cases, reference), kwargs = recorded_call(name, monkeypatch)
    diagnoses = kwargs.get("diagnoses", ())
    raised, differs = known_mistake_runs(diagnoses, cases, reference)
    assert raised == [], f"{name}: known mistakes that raise: {raised}"
    assert differs == set(range(len(diagnoses))), (
        f"{name}: diagnoses {sorted(set(range(len(diagnoses))) - differs)} agree with the "
        "reference on every case")


def test_a_telling_variant_equal_to_the_reference_counts_as_no_difference(monkeypatch):
    """The test above fails for a diagnosis whose "mistake" is the right answer, also when it is
    wrapped with ``telling`` (which then gives None on every case)."""
    from course_utils.grading.checks.common import telling

    (_exercise, _fn, cases, reference), kwargs = recorded_call("lstm_bptt", monkeypatch)
    same = [checking.Diagnosis(telling(reference, reference), "never a mistake"),
            checking.Diagnosis(reference, "never a mistake")]
    raised, differs = known_mistake_runs(list(kwargs["diagnoses"]) + same, cases, reference)
    n = len(kwargs["diagnoses"])
    assert raised == [] and differs == set(range(n)), (raised, differs)


def test_a_broken_diagnosis_is_not_hidden():
    def broken(x):
        raise KeyError("bug in the diagnosis")

    cases = [checking.Case((np.ones(3),), "ones")]
    with pytest.raises(KeyError, match="bug in the diagnosis"):
        checking.run_check("demo", lambda x: 2 * x, cases, lambda x: x, arg_names=["x"],
                           diagnoses=[checking.Diagnosis(broken, "never shown")])


# ---- mistakes the course itself names (issue 19, section 4): chapters 00 and 01


def hint_lines(result):
    return [line.split("hint: ", 1)[1] for line in result.message.splitlines() if "hint: " in line]


def test_tfidf_df_as_a_sum_of_counts_gets_the_df_hint(capsys):
    """The stub's own hint warns: df counts documents, not occurrences."""
    def tfidf_df_sum(counts):
        n = counts.shape[0]
        df = counts.sum(axis=0)                      # the mistake: occurrences, not documents
        w = counts * (np.log((1 + n) / (1 + df)) + 1)
        norms = np.sqrt((w ** 2).sum(axis=1, keepdims=True))
        return w / np.where(norms == 0, 1, norms)

    result = checks.tfidf(tfidf_df_sum)
    assert not result
    assert hint_lines(result) == [checks.ch01_tfidf.DF_SUM_HINT]
    assert "count_nonzero" in result.message and "DOCUMENTS" in result.message


def test_tfidf_transform_df_as_a_sum_of_counts_gets_the_df_hint(capsys):
    def transform_df_sum(train_counts, counts):
        n = train_counts.shape[0]
        idf = np.log((1 + n) / (1 + train_counts.sum(axis=0))) + 1
        w = counts * idf
        norms = np.linalg.norm(w, axis=1, keepdims=True)
        return w / np.where(norms == 0, 1, norms)

    result = checks.tfidf_transform(transform_df_sum)
    assert not result and hint_lines(result) == [checks.ch01_tfidf.DF_SUM_HINT]


def test_masked_softmax_float64_for_float32_gets_a_dtype_hint(capsys):
    """Right values in the wrong dtype: the hint is about the dtype, not about masked rows."""
    def masked_softmax_promotes(z):
        z = np.asarray(z, dtype=np.float64)          # the mistake: float32 becomes float64
        m = np.max(z, axis=-1, keepdims=True)
        e = np.exp(z - np.where(np.isneginf(m), 0.0, m))
        total = e.sum(axis=-1, keepdims=True)
        return e / np.where(total == 0, 1.0, total)

    result = checks.masked_softmax(masked_softmax_promotes)
    assert not result and "float32" in result.message
    (hint,) = hint_lines(result)
    assert "dtype" in hint and "float32 in, float32 out" in hint
    assert "-inf" not in hint and "masked" not in hint


def test_masked_softmax_plain_softmax_still_gets_the_masked_row_hint(capsys):
    def softmax(z):                    # the chapter's stable softmax, written by hand
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    result = checks.masked_softmax(softmax)
    assert not result and "all -inf" in hint_lines(result)[0]


def test_masked_softmax_that_calls_the_course_softmax_is_not_own_work(capsys):
    from course_utils.softmax import softmax

    result = checks.masked_softmax(softmax)
    assert not result and "course_utils.softmax.softmax" in result.message


def test_count_matrix_float_counts_are_not_told_to_keep_the_input_dtype(capsys):
    """The inputs are lists of strings: "keep the dtype of the inputs" would make no sense."""
    def float_counts(docs, vocab):
        out = np.zeros((len(docs), len(vocab)))      # float64 by default
        for i, doc in enumerate(docs):
            for tok in doc:
                if tok in vocab:
                    out[i, vocab[tok]] += 1
        return out

    for wrong in (float_counts, lambda d, v: float_counts(d, v).astype(np.int32)):
        result = checks.count_matrix(wrong)
        assert not result
        assert "keep the dtype of the inputs" not in result.message
        assert "np.int64" in result.message and "whole numbers" in result.message


# ---------------------------------------------------------------- named mistakes (issue 19, §4)
def cell_path_with_f_k(f, dc_last):
    """A learner's loop that takes the gate of step k, ``f[k-1]``, where f_{k+1} = ``f[k]``
    belongs (the stub warns of the index shift); at k = 0 Python's ``f[-1]`` wraps around."""
    dc = [dc_last] * (f.shape[0] + 1)
    for k in reversed(range(f.shape[0])):
        dc[k] = dc[k + 1] * f[k - 1]
    return np.stack(dc).astype(f.dtype)


def cell_path_with_f_k_products(f, dc_last):
    """The same mistake written as products: dc[k] = dc_last * f_k * ... * f_{T-1}."""
    T = f.shape[0]
    return np.stack([dc_last * np.prod(f[max(k - 1, 0):T - 1], axis=0) if k < T else dc_last
                     for k in range(T + 1)]).astype(f.dtype)


@pytest.mark.parametrize("fn", [cell_path_with_f_k, cell_path_with_f_k_products])
def test_cell_path_gradient_names_the_f_k_mistake(fn, capsys):
    result = checks.cell_path_gradient(fn)
    assert result.status == FAILED
    assert "You used f_k = f[k-1]" in result.message and "f_{k+1} is f[k]" in result.message


# ---- chapters 03-04: the mistakes the chapters name get their own words (issue 19, section 4)


def _learner_bptt(pair_with_current_state):
    """BPTT as a learner writes it from the chapter (1-based h list); optionally with the
    off-by-one the chapter names, delta_t paired with h_t in the gradient of weight_hh."""
    def bptt(x, h0, p, dh_all):
        dtype = x.dtype
        w_ih, w_hh = p["weight_ih"].astype(dtype), p["weight_hh"].astype(dtype)
        b = p["bias_ih"].astype(dtype) + p["bias_hh"].astype(dtype)
        h = [h0.astype(dtype)]
        for t in range(1, len(x) + 1):
            h.append(np.tanh(x[t - 1] @ w_ih.T + h[t - 1] @ w_hh.T + b))
        g_ih, g_hh, g_b = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b)
        dx, delta_next = np.zeros_like(x), np.zeros_like(h[0])
        for t in range(len(x), 0, -1):
            delta = (1 - h[t] ** 2) * (dh_all[t - 1].astype(dtype) + delta_next @ w_hh)
            g_ih += delta.T @ x[t - 1]
            g_hh += delta.T @ (h[t] if pair_with_current_state else h[t - 1])
            g_b += delta.sum(axis=0)
            dx[t - 1] = delta @ w_ih
            delta_next = delta
        return dx, delta_next @ w_hh, {"weight_ih": g_ih, "weight_hh": g_hh, "bias_ih": g_b,
                                       "bias_hh": g_b.copy()}
    return bptt


def test_bptt_off_by_one_gets_the_hint_the_chapter_names():
    assert checks.bptt(_learner_bptt(False))
    result = checks.bptt(_learner_bptt(True))
    assert not result
    assert "hint: the classic off-by-one of BPTT" in result.message
    assert "h0 at t = 1" in result.message  # the course's 1-based convention


def test_chapter_04_hints_keep_the_1_based_convention():
    from course_utils.grading.checks import ch04_bptt

    source = open(ch04_bptt.__file__, encoding="utf-8").read()
    assert "(h0 at t = 0)" not in source and "h_0 at t = 0" not in source


def _changes_x_for_real(f, x, eps=1e-5):
    """Right values, then a real change of x (not rounding): the generic message applies."""
    grad = ng_ok_nditer(f, x, eps)
    x += 1.0
    return grad


def test_numerical_gradient_names_the_rounding_residue():
    result = checks.numerical_gradient(ng_undo_by_subtraction)
    assert not result
    assert "rounding residue" in result.message and "old = x[i]" in result.message
    assert "changed its input" not in result.message
    other = checks.numerical_gradient(_changes_x_for_real)
    assert not other and "changed its input `x` in place" in other.message
    assert "rounding residue" not in other.message
