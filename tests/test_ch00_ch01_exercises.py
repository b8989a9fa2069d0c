"""Chapters 00 and 01: the stated stubs are what the checkers test.

Masked softmax (00), the promotion rule of softmax_backward (00), the integer dtype of the count
matrix, the float64 TF-IDF, TF-IDF of new documents with an idf learned on others, the float32
zero row of cosine similarity (01), and the "predict, then run" exercise about bigrams (01).
Correct implementations are written differently from the checkers' references; the wrong ones
are the mistakes the stubs' edge cases are there to catch.
"""

import json
import math
import re

import numpy as np
import pytest
import torch

from course_utils import REPO_ROOT
from course_utils.grading import checks
from course_utils.grading.checks import ch00_softmax, ch01_tfidf


# ---------------------------------------------------------------- masked softmax (chapter 00)
def masked_ok_loop(z):
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx]
        keep = row > -np.inf
        if keep.any():
            e = np.exp(row[keep] - row[keep].max())
            out[idx][keep] = e / e.sum()
    return out


def masked_ok_logsumexp(z):
    m = np.max(z, axis=-1, keepdims=True)
    m = np.nan_to_num(m, neginf=0.0)
    with np.errstate(divide="ignore"):
        lse = m + np.log(np.exp(z - m).sum(-1, keepdims=True))
        out = np.exp(z - lse)
    return np.nan_to_num(out, nan=0.0).astype(z.dtype)


def masked_ok_torch(z):
    return torch._safe_softmax(torch.from_numpy(np.array(z)), -1).numpy()


def masked_plain_stable(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def masked_zero_but_float64(z):
    return masked_ok_loop(z.astype(np.float64))


def masked_uniform_on_full_mask(z):
    """Treats a fully masked row as 'no information': uniform instead of zeros."""
    out = masked_ok_loop(z)
    full = np.all(z == -np.inf, axis=-1)
    out[full] = 1.0 / z.shape[-1]
    return out


def masked_clip(z):
    """Replaces -inf by a large negative number: masked scores get a tiny probability, and a
    fully masked row becomes uniform."""
    return masked_plain_stable(np.maximum(z, -1e4).astype(z.dtype))


MASKED_WRONG = {
    "plain stable softmax (NaN on a fully masked row)": masked_plain_stable,
    "naive": lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True),
    "always float64": masked_zero_but_float64,
    "uniform on a fully masked row": masked_uniform_on_full_mask,
    "-inf clipped to -1e4": masked_clip,
    "axis 0": lambda z: masked_ok_loop(np.swapaxes(z, 0, -1)).swapaxes(0, -1),
}


@pytest.mark.parametrize("fn", [masked_ok_loop, masked_ok_logsumexp, masked_ok_torch])
def test_masked_softmax_accepts_correct(fn, capsys):
    assert checks.masked_softmax(fn)


@pytest.mark.parametrize("name", sorted(MASKED_WRONG))
def test_masked_softmax_rejects_wrong(name, capsys):
    assert not checks.masked_softmax(MASKED_WRONG[name])


def test_masked_softmax_reference_is_pytorchs_safe_softmax():
    cases = ch00_softmax.masked_softmax_cases()
    assert any(np.all(np.isneginf(c.args[0]), axis=-1).any() for c in cases)
    for case in cases:
        z = case.args[0]
        ours = ch00_softmax.masked_softmax_reference(z)
        assert ours.dtype == z.dtype and np.all(np.isfinite(ours))
        np.testing.assert_allclose(ours, masked_ok_torch(z), rtol=1e-6, atol=1e-7)


def test_the_nan_hint_names_the_fully_masked_row(capsys):
    checks.masked_softmax(masked_plain_stable)
    out = capsys.readouterr().out
    assert "fully masked" in out and "-inf - (-inf) is NaN" in out


def test_the_old_softmax_checker_still_takes_a_plain_stable_softmax(capsys):
    assert checks.softmax(masked_plain_stable)
    assert not checks.softmax(MASKED_WRONG["naive"])


# ---------------------------------------------------------------- softmax_backward dtype rule
def backward_keeps_s_dtype(s, ds):
    return (s * (ds - (s * ds).sum(-1, keepdims=True))).astype(s.dtype)


def test_softmax_backward_uses_numpys_promotion(capsys):
    assert checks.softmax_backward(lambda s, ds: s * (ds - (s * ds).sum(-1, keepdims=True)))
    assert not checks.softmax_backward(backward_keeps_s_dtype)
    assert "float64" in capsys.readouterr().out
    assert not checks.softmax_backward(
        lambda s, ds: (s * (ds - (s * ds).sum(-1, keepdims=True))).astype(ds.dtype))


# ---------------------------------------------------------------- count_matrix: np.int64
def test_count_matrix_states_int64_and_hints_float(capsys):
    def float_counts(docs, vocab):
        out = np.zeros((len(docs), len(vocab)))
        for i, doc in enumerate(docs):
            for tok in doc:
                if tok in vocab:
                    out[i, vocab[tok]] += 1
        return out

    assert not checks.count_matrix(float_counts)
    assert "dtype=np.int64" in capsys.readouterr().out


def test_count_matrix_no_documents(capsys):
    def stacks_rows(docs, vocab):
        rows = []
        for doc in docs:
            row = np.zeros(len(vocab), dtype=np.int64)
            for tok in doc:
                if tok in vocab:
                    row[vocab[tok]] += 1
            rows.append(row)
        return np.array(rows, dtype=np.int64)  # shape (0,) when docs == []

    assert not checks.count_matrix(stacks_rows)
    assert "(0, 3)" in capsys.readouterr().out


# ---------------------------------------------------------------- tfidf: float64 out
def test_tfidf_output_is_float64(capsys):
    def tfidf_ok(counts):
        return transform_ok_loops(counts, counts)   # fitted and applied on the same documents

    assert checks.tfidf(tfidf_ok)
    assert not checks.tfidf(lambda c: tfidf_ok(c).astype(np.float32))
    assert "dtype float32, expected float64" in capsys.readouterr().out


# ---------------------------------------------------------------- tfidf_transform (chapter 01)
def transform_ok_loops(train_counts, counts):
    n = train_counts.shape[0]
    out = np.zeros(counts.shape)
    for j in range(counts.shape[1]):
        df = sum(1 for i in range(n) if train_counts[i, j] != 0)
        out[:, j] = counts[:, j] * (math.log((1 + n) / (1 + df)) + 1)
    for i in range(len(out)):
        length = math.sqrt(float(out[i] @ out[i]))
        if length:
            out[i] /= length
    return out


def transform_ok_extra_document(train_counts, counts):
    """The smoothing as its own story: one extra training document holding every term once."""
    padded = np.vstack([train_counts, np.ones((1, train_counts.shape[1]), dtype=np.int64)])
    idf = np.log(padded.shape[0] / np.count_nonzero(padded, axis=0)) + 1
    w = counts * idf
    return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), np.finfo(float).tiny)


def transform_variant(df_from="train", n_from="train", smooth=True, norm=2, dtype=np.float64):
    def fn(train_counts, counts):
        source = {"train": train_counts, "new": counts,
                  "both": np.vstack([train_counts, counts])}
        n = source[n_from].shape[0]
        df = (source[df_from] > 0).sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            idf = np.log((n + 1) / (df + 1)) + 1 if smooth else np.log(n / df) + 1
            w = counts * idf
            d = np.linalg.norm(w, ord=norm, axis=1, keepdims=True) if norm else 1.0
            return (w / np.where(np.asarray(d) == 0, 1, d)).astype(dtype)
    return fn


TRANSFORM_WRONG = {
    "idf fitted on the new documents": transform_variant(df_from="new", n_from="new"),
    "idf fitted on train + new": transform_variant(df_from="both", n_from="both"),
    "n of the new documents": transform_variant(n_from="new"),
    "df of the new documents": transform_variant(df_from="new"),
    "unsmoothed idf (inf for df = 0)": transform_variant(smooth=False),
    "no normalisation": transform_variant(norm=None),
    "l1 norm": transform_variant(norm=1),
    "float32 output": transform_variant(dtype=np.float32),
    "transforms the training documents": lambda tr, c: transform_ok_loops(tr, tr),
    "NaN on an empty new document": lambda tr, c: transform_variant()(tr, c)
    / (np.linalg.norm(transform_variant()(tr, c), axis=1, keepdims=True) > 0),
}


@pytest.mark.parametrize("fn", [transform_ok_loops, transform_ok_extra_document])
def test_tfidf_transform_accepts_correct(fn, capsys):
    assert checks.tfidf_transform(fn)


@pytest.mark.parametrize("name", sorted(TRANSFORM_WRONG))
def test_tfidf_transform_rejects_wrong(name, capsys):
    assert not checks.tfidf_transform(TRANSFORM_WRONG[name])


def test_tfidf_transform_has_the_df_zero_case():
    """The stub promises a term absent from every training document; a case must have one, and
    there the unsmoothed idf is infinite while the reference stays finite."""
    found = False
    for case in ch01_tfidf.tfidf_transform_cases():
        train, new = case.args
        absent = (np.count_nonzero(train, axis=0) == 0) & (np.count_nonzero(new, axis=0) > 0)
        if absent.any():
            found = True
            assert np.all(np.isfinite(ch01_tfidf.tfidf_transform_reference(train, new)))
    assert found


def test_tfidf_transform_hints(capsys):
    checks.tfidf_transform(TRANSFORM_WRONG["idf fitted on the new documents"])
    assert "never fitted" in capsys.readouterr().out
    checks.tfidf_transform(TRANSFORM_WRONG["unsmoothed idf (inf for df = 0)"])
    assert "df = 0" in capsys.readouterr().out


# ---------------------------------------------------------------- cosine: float32 zero row
def test_cosine_float32_zero_row(capsys):
    def nan_on_zero32(x):
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        return (u @ u.T).astype(x.dtype)

    assert not checks.cosine_similarity(nan_on_zero32)
    assert "non-finite" in capsys.readouterr().out


# ---------------------------------------------------------------- predict, then run (chapter 01)
def solution_explanation(name="01_tfidf_word_order.ipynb"):
    nb = json.loads((REPO_ROOT / "solutions" / name).read_text(encoding="utf-8"))
    texts = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    return next(t for t in texts if t.startswith("<!-- BEGIN SOLUTION -->") and "Why" in t)


def test_bigram_cosine_is_the_value_the_solution_explains():
    value = ch01_tfidf.bigram_cosine()
    own = math.log(3 / 2) + 1
    assert value == pytest.approx(3 / (3 + 2 * own**2), abs=1e-12)
    assert round(value, 2) == 0.43
    text = solution_explanation()
    assert f"Why {value:.2f}" in text and f"\\approx {value:.2f}" in text
    assert re.search(r"3/5 = 0\.6", text)
    # the unigram-only similarity is 1: what bigrams change
    assert ch01_tfidf.bow.cosine_similarity(ch01_tfidf.bow.tfidf_from_docs(
        [["dog", "bites", "man"], ["man", "bites", "dog"]])[0])[0, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("prediction, close", [
    (0.43, True), (0.40, True), (0.6, False), (1.0, False), (0.0, False), (0.5, False)])
def test_predict_bigram_cosine_tolerance(prediction, close, capsys):
    res = checks.predict_bigram_cosine(lambda: prediction)
    assert res.close is close
    assert "not graded" in capsys.readouterr().out


@pytest.mark.parametrize("garbage", [
    lambda: (_ for _ in ()).throw(NotImplementedError()), lambda: 1 / 0, lambda: None,
    lambda: "0.43", lambda: float("nan"), lambda: [0.43], None, "text"])
def test_predict_bigram_cosine_never_raises(garbage, capsys):
    res = checks.predict_bigram_cosine(garbage)
    assert res.close is None and not res


def test_the_prediction_is_not_graded():
    from course_utils.grading import grade

    assert not grade.is_graded("predict_bigram_cosine")
    assert grade.is_graded("tfidf_transform") and grade.is_graded("masked_softmax")


@pytest.mark.parametrize("checker", [checks.masked_softmax, checks.tfidf_transform,
                                     checks.count_matrix, checks.cosine_similarity])
@pytest.mark.parametrize("garbage", [None, lambda *a: None, lambda *a: "text", lambda *a: 1 / 0,
                                     lambda *a: [1, 2], lambda *a: np.zeros(3, dtype=object)])
def test_new_and_stricter_checkers_never_raise_on_garbage(checker, garbage, capsys):
    res = checker(garbage)
    assert not res and res.status == "failed"


def test_unattempted_stubs_are_not_attempted(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise: replace this line with your code.")

    for checker in (checks.masked_softmax, checks.tfidf_transform):
        assert checker(stub).status == "not attempted"
    assert checks.predict_bigram_cosine(stub).close is None


# ------------------------------------------------------- predictions: value hidden until run
def test_the_bigram_experiment_runs_only_after_the_prediction_is_read(monkeypatch, capsys):
    calls = []
    real = ch01_tfidf.bigram_cosine
    monkeypatch.setattr(ch01_tfidf, "bigram_cosine", lambda: calls.append("experiment") or real())

    def prediction():
        calls.append("prediction")
        return 0.5

    res = checks.predict_bigram_cosine(prediction)
    assert calls == ["prediction", "experiment"] and res.close is False
    out = capsys.readouterr().out
    assert out.index("you predicted") < out.index("weights behind") < out.index("'bites dog'")


def test_no_weights_are_shown_without_a_prediction(monkeypatch, capsys):
    def stub():
        raise NotImplementedError("Exercise: replace this line with your code.")

    monkeypatch.setattr(ch01_tfidf, "bigram_cosine", lambda: pytest.fail("experiment ran"))
    assert checks.predict_bigram_cosine(stub).close is None
    out = capsys.readouterr().out
    assert "no prediction yet" in out and "weights" not in out and "0.43" not in out


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_the_prediction_check_cell_reveals_nothing(folder):
    """The cell that checks the prediction only calls the checker: no experiment, no table."""
    nb = json.loads((REPO_ROOT / folder / "01_tfidf_word_order.ipynb").read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    (cell,) = [c for c in cells if "checks.predict_bigram_cosine(" in c]
    assert cell.strip() == "outcome = checks.predict_bigram_cosine(predict_bigram_cosine)"
    texts = ["".join(c["source"]) for c in nb["cells"]]
    at = next(i for i, t in enumerate(texts) if t == cell)
    assert texts[at + 1].startswith("**Your reasoning.**")


def test_exercise_questions_are_not_the_chapters():
    """An exercise question is never one the chapter already asks (and answers)."""
    def questions(path):
        nb = json.loads(path.read_text(encoding="utf-8"))
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        found = re.findall(r"^\d\. (.+)$", text, flags=re.M)   # first line of each item
        return {re.sub(r"\W+", " ", q).strip().lower()[:60] for q in found}

    for name in ("00_start_here.ipynb", "01_tfidf_word_order.ipynb"):
        chapter = questions(REPO_ROOT / "notebooks" / name)
        solution = questions(REPO_ROOT / "solutions" / name)
        assert chapter and solution and not chapter & solution, chapter & solution


# ------------------------------------------- what a bag of 1-2 grams says about order (chapter 01)
def _first_markers_by_brute_force(tokens, markers):
    """Every ordering of the tokens with the same bigram counts: which marker comes first."""
    import itertools
    from collections import Counter

    bag = Counter(zip(tokens[:-1], tokens[1:], strict=False))
    return {next(t for t in perm if t in markers)
            for perm in set(itertools.permutations(tokens))
            if Counter(zip(perm[:-1], perm[1:], strict=False)) == bag}


def test_possible_first_markers_hand_cases():
    from course_utils.bow import possible_first_markers

    assert possible_first_markers(["A", "x", "y", "B"], {"A", "B"}) == {"A"}        # A starts
    assert possible_first_markers(["x", "A", "x", "B", "x"], {"A", "B"}) == {"A", "B"}
    # one arrow into A, and it comes from the start token, which has no other way out
    assert possible_first_markers(["s", "A", "x", "x", "B", "x"], {"A", "B"}) == {"A"}
    assert possible_first_markers([], {"A", "B"}) == set()


def test_possible_first_markers_agrees_with_brute_force():
    from course_utils.bow import possible_first_markers

    rng = np.random.default_rng(0)
    both = fixed = 0
    for _ in range(300):
        tokens = [int(t) for t in rng.integers(4, 7, size=int(rng.integers(3, 8)))]
        p, q = rng.choice(len(tokens), 2, replace=False)
        tokens[p], tokens[q] = 2, 3
        expected = _first_markers_by_brute_force(tokens, {2, 3})
        assert possible_first_markers(tokens, {2, 3}) == expected, tokens
        both += len(expected) == 2
        fixed += len(expected) == 1
    assert both > 10 and fixed > 10           # both outcomes occur: the comparison can fail


def test_order_task_bag_of_bigrams_fixes_more_than_the_edge_clue():
    """About 29 % at d = 3 and 33 % at d = 10 (L = 20, as the review found): above 2/(L - d)."""
    from course_utils.bow import possible_first_markers
    from course_utils.tasks import ORDER_A, ORDER_B, order_task

    for d, low, high in [(3, 0.24, 0.36), (10, 0.27, 0.40)]:
        X, y = order_task(400, 20, d, seed=5)
        options = [possible_first_markers(x.tolist(), {ORDER_A, ORDER_B}) for x in X]
        truth = [ORDER_A if label else ORDER_B for label in y]
        assert all(first in opt for opt, first in zip(options, truth, strict=True))
        share = np.mean([len(opt) == 1 for opt in options])
        assert low < share < high and share > 2 / (20 - d) + 0.05


def _edge_clue_prediction(row, a, b):
    """A linear rule on 1-2 gram counts: (count of A) - (bigrams "x A") = 1 iff A starts, etc."""
    count = {t: row.count(t) for t in (a, b)}
    ends_in = {t: sum(1 for x, y in zip(row[:-1], row[1:], strict=True) if y == t) for t in (a, b)}
    starts = {t: sum(1 for x, y in zip(row[:-1], row[1:], strict=True) if x == t) for t in (a, b)}
    score = ((count[a] - ends_in[a]) - (count[b] - ends_in[b])       # a marker at the start
             + (count[b] - starts[b]) - (count[a] - starts[a]))      # a marker at the end
    adjacent = sum(1 for x, y in zip(row[:-1], row[1:], strict=True) if (x, y) == (a, b)) \
        - sum(1 for x, y in zip(row[:-1], row[1:], strict=True) if (x, y) == (b, a))
    return int(score + 2 * adjacent >= 0)         # no clue: score 0, a fixed guess (label 1)


def test_edge_clue_level_at_the_extremes_and_in_between():
    """Review round 2: d = L - 1 puts both markers at the edges (level 1, not 1.5)."""
    from course_utils.bow import edge_clue_level
    from course_utils.tasks import ORDER_A, ORDER_B, order_task

    length = 20
    assert edge_clue_level(1, length) == 1.0                 # the bigram "A B" or "B A"
    assert edge_clue_level(length - 1, length) == 1.0        # was 0.5 + 1 / 1 = 1.5
    assert edge_clue_level(length - 2, length) == 1.0        # two placements, both at an edge
    assert math.isclose(edge_clue_level(3, length), 0.5 + 1 / 17)
    assert all(0.5 < edge_clue_level(d, length) <= 1.0 for d in range(1, length))
    assert math.isclose(np.mean([edge_clue_level(d, length) for d in range(1, length)]),
                        0.6839530567471744)                  # the random-distance level, 68.4 %
    for bad in (0, length):
        with pytest.raises(ValueError):
            edge_clue_level(bad, length)
    # the level is what a linear rule on 1-2 gram counts reaches, measured on sequences
    for d in (1, 3, 10, length - 1):
        X, y = order_task(4000, length, d, seed=7)
        pred = np.array([_edge_clue_prediction(x.tolist(), ORDER_A, ORDER_B) for x in X])
        acc = np.mean(pred == y)
        se = math.sqrt(0.25 / len(y))
        if edge_clue_level(d, length) == 1.0:
            assert acc == 1.0, (d, acc)
        else:
            assert abs(acc - edge_clue_level(d, length)) < 4 * se, (d, acc)
