"""Chapter 01 (TF-IDF and word order): the count matrix, TF-IDF (fit, and transform of new
documents), cosine similarity, and the prediction about bigrams and word order."""

from __future__ import annotations

import numpy as np

from course_utils import bow
from course_utils.grading.checking import (
    Case,
    CheckResult,
    Diagnosis,
    PredictionResult,
    check_prediction,
    run_check,
)
from course_utils.text import tokenize

# ---- the bag-of-words count matrix, cosine similarity


def count_cases() -> list[Case]:
    rng = np.random.default_rng(11)
    words = ["good", "bad", "movie", "plot", "not", "the", "acting", "dull", "fun", "a", "cast",
             "story"]
    cases = [Case(([["the", "cat", "sat", "on", "the", "mat"], ["the", "dog"]],
                   {"cat": 0, "dog": 1, "mat": 2, "on": 3, "sat": 4, "the": 5}),
                  "two short documents, alphabetical vocabulary")]
    shuffled = {w: j for j, w in enumerate(rng.permutation(words[:8]).tolist())}
    docs = [rng.choice(words[:8], size=int(rng.integers(1, 9))).tolist() for _ in range(5)]
    cases.append(Case((docs, shuffled), "5 documents, a vocabulary in NON-alphabetical order"))
    vocab = {w: j for j, w in enumerate(sorted(words[:6]))}
    docs = [rng.choice(words, size=int(rng.integers(3, 10))).tolist() for _ in range(7)]
    cases.append(Case((docs, vocab), "7 documents with words missing from the vocabulary "
                                     "(ignore them)"))
    cases.append(Case(([["good", "good", "good"], [], ["bad", "good"]], {"bad": 0, "good": 1,
                                                                        "plot": 2}),
                      "an empty document and a vocabulary term that never occurs"))
    cases.append(Case(([["zebra", "unicorn"], ["plot"]], {"plot": 0, "cast": 1}),
                      "a document whose words are all unknown: a row of zeros"))
    cases.append(Case(([], {"a": 0, "b": 1, "c": 2}), "no documents at all: shape (0, 3)"))
    return cases


def count_reference(docs, vocab):
    return bow.count_matrix(docs, vocab)


def count_wrong(variant: str):
    def wrong(docs, vocab):
        if variant == "float":
            return bow.count_matrix(docs, vocab).astype(np.float64)
        if variant == "sorted":
            vocab = {w: j for j, w in enumerate(sorted(vocab))}
        out = np.zeros((len(docs), len(vocab)), dtype=np.int64)
        for i, doc in enumerate(docs):
            for tok in doc:
                if tok in vocab:
                    if variant == "binary":
                        out[i, vocab[tok]] = 1
                    else:
                        out[i, vocab[tok]] += 1
        return out
    return wrong


def count_dtype_promise(args, got) -> str | None:
    """The stub's dtype rule. The inputs are lists of strings, so "keep the dtype of the inputs"
    (the generic message) would make no sense: say what the stub asks for."""
    if got.dtype != np.int64:
        return (f"the array has dtype {got.dtype}; the stub asks for np.int64: counts are whole "
                "numbers, so create the array with np.zeros(..., dtype=np.int64).")
    return None


def count_matrix(fn) -> CheckResult:
    """Check ``fn(docs, vocab) -> counts``: docs is a list of N token lists, vocab a dict
    term -> column (V columns); counts, an np.int64 array (N, V), holds how often each term
    occurs in each document. Tokens that are not in vocab are ignored; N = 0 gives (0, V)."""
    return run_check(
        "count_matrix", fn, count_cases(), count_reference, arg_names=["docs", "vocab"],
        output_name="counts", check_dtype=False, promise=count_dtype_promise,
        diagnoses=[
            Diagnosis(count_wrong("binary"),
                      "count every occurrence (a word used twice gives 2), not just whether the "
                      "word occurs."),
            Diagnosis(count_wrong("sorted"),
                      "put each term in the column vocab[term] gives; do not re-sort the "
                      "vocabulary yourself."),
        ])


def cosine_cases() -> list[Case]:
    rng = np.random.default_rng(12)
    cases = [Case((rng.standard_normal((4, 6)),), "float64, 4 vectors of length 6"),
             Case((rng.random((5, 3)).astype(np.float32),), "float32, 5 vectors of length 3"),
             Case((rng.standard_normal((1, 7)),), "a single vector: the answer is [[1.0]]")]
    zero = rng.random((4, 5))
    zero[2] = 0
    cases.append(Case((zero,), "an all-zero row (an empty document): its similarities are 0"))
    cases.append(Case((np.abs(rng.standard_normal((3, 4))) * np.array([[1.0], [10.0], [1000.0]]),),
                      "rows of very different lengths (length must not matter)"))
    zero32 = rng.random((3, 4)).astype(np.float32)
    zero32[0] = 0
    cases.append(Case((zero32,), "float32 with an all-zero first row: its row and column are 0, "
                                 "the diagonal entry too"))
    return cases


def cosine_reference(x):
    return bow.cosine_similarity(x)


def cosine_wrong(variant: str):
    def wrong(x):
        if variant == "dot":
            return x @ x.T
        if variant == "columns":
            u = x / np.linalg.norm(x, axis=0, keepdims=True)
            return u @ u.T
        if variant == "one_side":
            return (x / np.linalg.norm(x, axis=1, keepdims=True)) @ x.T
        if variant == "distance":
            return 1 - cosine_reference(x)
        return np.corrcoef(x).astype(x.dtype)  # "pearson": centred rows
    return wrong


def cosine_similarity(fn) -> CheckResult:
    """Check ``fn(x) -> sim``: x (N, V) float32 or float64, sim an (N, N) array of x's dtype,
    sim[i, j] the cosine of the angle between rows i and j; a zero row has similarity 0 with
    every row (itself too)."""
    return run_check(
        "cosine_similarity", fn, cosine_cases(), cosine_reference, arg_names=["x"],
        output_name="similarity",
        diagnoses=[
            Diagnosis(cosine_wrong("dot"),
                      "divide by the lengths: cos = <x_i, x_j> / (|x_i| |x_j|); a plain dot "
                      "product grows with the length of the documents."),
            Diagnosis(cosine_wrong("one_side"),
                      "normalise BOTH rows, not only the first one."),
            Diagnosis(cosine_wrong("columns"),
                      "normalise each ROW (one document) to unit length: np.linalg.norm(x, "
                      "axis=1, keepdims=True)."),
            Diagnosis(cosine_wrong("distance"),
                      "that is the cosine distance 1 - cos; return the similarity itself."),
            Diagnosis(cosine_wrong("pearson"),
                      "np.corrcoef subtracts each row's mean first (Pearson correlation); cosine "
                      "similarity does not centre the vectors."),
        ])


# ---- TF-IDF

DF_SUM_HINT = ("df(j) is the number of DOCUMENTS that contain term j (np.count_nonzero(counts, "
               "axis=0)), not the total number of its occurrences (counts.sum(axis=0)).")


def tfidf_reference(counts: np.ndarray) -> np.ndarray:
    # scikit-learn (and SciPy with it) is imported when a check needs it: importing the
    # checkers stays fast
    from sklearn.feature_extraction.text import TfidfTransformer

    return TfidfTransformer().fit_transform(counts).toarray()


def tfidf_cases() -> list[Case]:
    rng = np.random.default_rng(2)
    cases = [Case((rng.integers(0, 4, size=(4, 6)),), "4 documents x 6 terms"),
             Case((rng.integers(0, 3, size=(7, 3)),), "7 documents x 3 terms")]
    empty_doc = rng.integers(1, 3, size=(3, 5))
    empty_doc[1] = 0
    cases.append(Case((empty_doc,), "a document with no words (its row must be all zeros)"))
    unused = rng.integers(0, 3, size=(4, 4))
    unused[:, 2] = 0
    cases.append(Case((unused,), "a term that occurs in no document"))
    cases.append(Case((np.array([[2, 0, 1]]),), "a single document"))
    everywhere = rng.integers(0, 3, size=(5, 4))
    everywhere[:, 0] = rng.integers(1, 4, size=5)
    cases.append(Case((everywhere,), "a term in every document (its idf is exactly 1)"))
    cases.append(Case((rng.integers(0, 5, size=(5, 8)).astype(np.int32),), "int32 counts"))
    return cases


def tfidf_no_smooth(counts):
    n = counts.shape[0]
    df = np.count_nonzero(counts, axis=0)
    with np.errstate(divide="ignore"):
        w = counts * (np.log(n / df) + 1)
    return w / np.linalg.norm(w, axis=1, keepdims=True)


def tfidf(fn) -> CheckResult:
    """Check ``fn(counts) -> tfidf`` against scikit-learn's ``TfidfTransformer`` defaults.

    counts : integer array (n_docs, n_terms) of raw term counts (int32 or int64). Expected: a
    float64 array (n_docs, n_terms) with ``idf = ln((1 + n) / (1 + df)) + 1`` and every nonzero
    row scaled to unit L2 norm; an empty document's row and an unused term's column are zeros.
    """
    def with_idf(idf_fn, norm_ord=2):
        def wrong(counts):
            w = counts * idf_fn(counts)
            norms = np.linalg.norm(w, ord=norm_ord, axis=1, keepdims=True) if norm_ord else 1.0
            return w / np.where(np.asarray(norms) == 0, 1, norms)
        return wrong

    n_df = lambda c: (c.shape[0], np.count_nonzero(c, axis=0))  # noqa: E731
    return run_check(
        "tfidf", fn, tfidf_cases(), tfidf_reference, arg_names=["counts"],
        output_name="tfidf",
        diagnoses=[
            Diagnosis(with_idf(lambda c: np.log10((1 + n_df(c)[0]) / (1 + n_df(c)[1])) + 1),
                      "use the natural logarithm (np.log), not log10."),
            Diagnosis(with_idf(lambda c: np.log((1 + n_df(c)[0]) / (1 + n_df(c)[1]))),
                      "scikit-learn adds 1 to the idf (idf = ln((1+n)/(1+df)) + 1) so that a "
                      "term in every document keeps a small weight instead of 0."),
            Diagnosis(with_idf(lambda c: np.log((1 + n_df(c)[0]) / (1 + n_df(c)[1])) + 1, None),
                      "each document's vector must be scaled to unit length (L2 norm)."),
            Diagnosis(with_idf(lambda c: np.log((1 + n_df(c)[0]) / (1 + n_df(c)[1])) + 1, 1),
                      "normalise with the L2 norm (square root of the sum of squares), not the "
                      "L1 norm."),
            Diagnosis(tfidf_no_smooth,
                      "smooth the idf as if one extra document contained every term: "
                      "ln((1 + n) / (1 + df)) + 1."),
            Diagnosis(with_idf(lambda c: np.log((1 + c.shape[0]) / (1 + c.sum(axis=0))) + 1),
                      DF_SUM_HINT),
        ])


# ---- TF-IDF for new documents: idf learned on the training documents


def tfidf_transform_reference(train_counts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfTransformer

    return TfidfTransformer().fit(train_counts).transform(counts).toarray()


def tfidf_transform_cases() -> list[Case]:
    rng = np.random.default_rng(13)
    cases = [Case((rng.integers(0, 4, size=(6, 5)), rng.integers(0, 4, size=(3, 5))),
                  "6 training documents, 3 new ones, 5 terms")]
    train = rng.integers(0, 3, size=(4, 7))
    train[:, 5] = 0
    new = rng.integers(0, 3, size=(5, 7))
    new[:, 5] = rng.integers(1, 3, size=5)
    cases.append(Case((train, new), "term 5 occurs in no TRAINING document but in every new one "
                                    "(a fixed vocabulary): its idf is ln(1 + N) + 1"))
    new = rng.integers(0, 4, size=(4, 6))
    new[2] = 0
    cases.append(Case((rng.integers(0, 3, size=(8, 6)), new),
                      "a new document with no known word: its row is all zeros"))
    cases.append(Case((rng.integers(0, 5, size=(5, 4)).astype(np.int32),
                       rng.integers(0, 5, size=(1, 4))),
                      "int32 training counts, int64 new counts, a single new document"))
    train = rng.integers(0, 3, size=(3, 4))
    cases.append(Case((train, train[::-1].copy()),
                      "the new documents are the training documents in reverse order"))
    return cases


def tfidf_transform_wrong(variant: str):
    def wrong(train_counts, counts):
        n = counts.shape[0] if variant == "new_n" else train_counts.shape[0]
        df = np.count_nonzero(train_counts, axis=0)
        if variant == "df_sum":
            df = train_counts.sum(axis=0)
        if variant == "new_df":
            n, df = counts.shape[0], np.count_nonzero(counts, axis=0)
        elif variant == "both":
            both = np.vstack([train_counts, counts])
            n, df = both.shape[0], np.count_nonzero(both, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            idf = np.log(n / df) + 1 if variant == "unsmoothed" else np.log((1 + n) / (1 + df)) + 1
            w = counts * idf
            norms = np.linalg.norm(w, axis=1, keepdims=True)
            return w / np.where(norms == 0, 1, norms)
    return wrong


def tfidf_transform(fn) -> CheckResult:
    """Check ``fn(train_counts, counts) -> tfidf``: scikit-learn's ``TfidfTransformer()`` fitted
    on ``train_counts`` (N, V), applied to ``counts`` (M, V); both integer arrays, possibly of
    different integer dtypes. Expected: a float64 array (M, V), idf from the N training documents
    only, rows scaled to unit L2 norm (a new document with no known term stays zeros)."""
    return run_check(
        "tfidf_transform", fn, tfidf_transform_cases(), tfidf_transform_reference,
        arg_names=["train_counts", "counts"], output_name="tfidf",
        diagnoses=[
            Diagnosis(tfidf_transform_wrong("new_df"),
                      "the idf comes from the TRAINING documents (train_counts), not from the new "
                      "ones: new documents are transformed, never fitted."),
            Diagnosis(tfidf_transform_wrong("both"),
                      "do not add the new documents to the training set: df and n count the "
                      "training documents only."),
            Diagnosis(tfidf_transform_wrong("new_n"),
                      "n is the number of TRAINING documents (train_counts.shape[0]); you used "
                      "the number of new documents."),
            Diagnosis(tfidf_transform_wrong("df_sum"), DF_SUM_HINT),
            Diagnosis(tfidf_transform_wrong("unsmoothed"),
                      "a term absent from every training document has df = 0: the smoothed "
                      "idf ln((1 + n) / (1 + df)) + 1 keeps its weight finite."),
        ])


# ---- predict, then run: bigrams and word order


BIGRAM_PAIR = ("dog bites man", "man bites dog")


def bigram_cosine(first: str = BIGRAM_PAIR[0], second: str = BIGRAM_PAIR[1]) -> float:
    """Cosine similarity of two sentences under TF-IDF over unigrams + bigrams, fitted on the
    two sentences alone (scikit-learn's defaults, the course's tokeniser)."""
    docs = [bow.add_ngrams(tokenize(s), 2) for s in (first, second)]
    x, _ = bow.tfidf_from_docs(docs)
    return float(bow.cosine_similarity(x)[0, 1])


def bigram_table(first: str = BIGRAM_PAIR[0], second: str = BIGRAM_PAIR[1]) -> str:
    """The TF-IDF weights of every unigram and bigram of the two sentences, one line per term."""
    docs = [bow.add_ngrams(tokenize(s), 2) for s in (first, second)]
    x, vocab = bow.tfidf_from_docs(docs)
    rows = [f"{'feature':>13}  {first!r:>16}  {second!r:>16}"]
    for term in sorted(vocab, key=vocab.get):
        rows.append(f"{term!r:>13}  " + "  ".join(f"{x[i, vocab[term]]:16.3f}" for i in range(2)))
    return "\n".join(rows)


def predict_bigram_cosine(fn) -> PredictionResult:
    """Read the learner's prediction first, then run the experiment (:func:`bigram_cosine`, "dog
    bites man" vs "man bites dog", unigrams + bigrams) and show both; close means within 0.05.
    Once a prediction is in, the weights behind the measured value are printed after the
    verdict, never before."""
    result = check_prediction("predict_bigram_cosine", fn, bigram_cosine, abs_tol=0.05,
                              rel_tol=0.0)
    if result.close is not None:
        print("The TF-IDF weights behind the measured value:")
        print(bigram_table())
    return result
