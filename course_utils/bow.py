"""Bag of words and TF-IDF from scratch, in NumPy (chapter 01).

The functions here reproduce scikit-learn's defaults exactly, so that chapter 01 can assert that
the hand-written version and ``sklearn.feature_extraction.text.TfidfVectorizer`` agree:

- the vocabulary is sorted alphabetically and column ``j`` holds term ``vocab[j]``;
- term frequency is the raw count;
- ``idf(t) = ln((1 + n) / (1 + df(t))) + 1`` ("smooth_idf": as if one extra document held every
  term once; with a vocabulary learned from the documents every df is >= 1 anyway, so the
  smoothing only prevents a division by zero when the vocabulary is fixed in advance and a term
  has df = 0; otherwise it pulls every idf a little towards 1; the outer + 1 keeps a term found in
  every document at weight 1 instead of 0);
- every document vector is scaled to unit L2 norm (an empty document stays all zeros).

Documents are lists of tokens (strings), e.g. ``[tokenize(s) for s in sentences]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["add_ngrams", "build_vocabulary", "cosine_similarity", "count_matrix", "idf",
           "nb_log_count_ratio", "tfidf", "tfidf_from_docs"]


def add_ngrams(tokens: Sequence[str], n_max: int = 2) -> list[str]:
    """The tokens followed by their n-grams for n = 2 .. n_max, each joined by one space.

    >>> add_ngrams(["dog", "bites", "man"])
    ['dog', 'bites', 'man', 'dog bites', 'bites man']
    """
    out = list(tokens)
    for n in range(2, n_max + 1):
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


def build_vocabulary(docs: Iterable[Sequence[str]]) -> dict[str, int]:
    """Map every distinct token of ``docs`` to a column index, in alphabetical order.

    Args:
        docs: documents, each a sequence of tokens (str).

    Returns:
        dict term -> column, columns 0 .. n_terms-1 (scikit-learn's ``vocabulary_``).
    """
    terms = sorted({tok for doc in docs for tok in doc})
    return {t: j for j, t in enumerate(terms)}


def count_matrix(docs: Sequence[Sequence[str]], vocab: dict[str, int]) -> np.ndarray:
    """The bag-of-words matrix: how often each term occurs in each document.

    Tokens missing from ``vocab`` are ignored (as scikit-learn does at ``transform`` time).

    Args:
        docs: N documents, each a sequence of tokens.
        vocab: dict term -> column, columns 0 .. V-1.

    Returns:
        np.int64 array, shape (N, V).
    """
    counts = np.zeros((len(docs), len(vocab)), dtype=np.int64)
    for i, doc in enumerate(docs):
        for tok, c in Counter(doc).items():
            j = vocab.get(tok)
            if j is not None:
                counts[i, j] = c
    return counts


def idf(counts: np.ndarray) -> np.ndarray:
    """Smoothed inverse document frequency, ``ln((1 + n) / (1 + df)) + 1``.

    Args:
        counts: (N, V) term counts of the N training documents.

    Returns:
        float64 array, shape (V,).
    """
    n = counts.shape[0]
    df = np.count_nonzero(counts, axis=0)
    return np.log((1 + n) / (1 + df)) + 1.0


def tfidf(counts: np.ndarray, idf_weights: np.ndarray | None = None) -> np.ndarray:
    """TF-IDF rows scaled to unit L2 norm; scikit-learn's ``TfidfTransformer`` defaults.

    Args:
        counts: (N, V) raw term counts.
        idf_weights: (V,) idf learned on the training documents; default: ``idf(counts)``
            (fit and transform on the same documents).

    Returns:
        float64 array, shape (N, V); rows of empty documents are all zeros.
    """
    w = counts * (idf(counts) if idf_weights is None else idf_weights)
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    return w / np.where(norms == 0, 1.0, norms)


def tfidf_from_docs(docs: Sequence[Sequence[str]]) -> tuple[np.ndarray, dict[str, int]]:
    """Vocabulary + counts + TF-IDF in one call: returns ``(X (N, V) float64, vocab)``."""
    vocab = build_vocabulary(docs)
    return tfidf(count_matrix(docs, vocab)), vocab


def cosine_similarity(x: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows; a row of zeros has similarity 0 to everything.

    Args:
        x: (N, V) float array, one document vector per row.

    Returns:
        (N, N) array of the dtype of ``x``; entry (i, j) = <x_i, x_j> / (|x_i| |x_j|).
    """
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms == 0, 1, norms)
    return (unit @ unit.T).astype(x.dtype, copy=False)


def nb_log_count_ratio(binary: np.ndarray, labels: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """The Naive-Bayes log-count ratio ``r`` of Wang & Manning (2012), used by NBSVM.

    ``p = alpha + sum of the positive rows``, ``q = alpha + sum of the negative rows``,
    ``r = ln((p / |p|_1) / (q / |q|_1))``: how much more often a feature occurs in positive than
    in negative documents. Scaling binary features by ``r`` before a linear classifier is the
    "NB" in NBSVM.

    Args:
        binary: (N, V) 0/1 features (a NumPy array or a SciPy sparse matrix).
        labels: (N,) 0/1 labels.
        alpha: smoothing count added to every feature.

    Returns:
        float64 array, shape (V,).
    """
    labels = np.asarray(labels)
    p = alpha + np.asarray(binary[labels == 1].sum(axis=0), dtype=np.float64).ravel()
    q = alpha + np.asarray(binary[labels == 0].sum(axis=0), dtype=np.float64).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())
