"""The suite: the four tasks the capstone compares every model on, loaded into one shape, and
the published numbers beside them.

Tasks (``TASK_NAMES``)
    ``"movie_reviews"``  movie-review snippets with VADER's human labels (Hutto & Gilbert 2014),
                         word-level polarity (course_utils.data.load_movie_reviews); not the
                         MR benchmark of Pang & Lee (2005);
    ``"surnames"``       character-level language of a surname, 10 classes (load_surnames);
    ``"order"``          which of two markers comes first, 20 to 40 tokens apart (tasks.order_task);
    ``"adding"``         the adding problem at length 100, a regression (tasks.adding_problem), in
                         the variant of Le, Jaitly & Hinton (2015): values in [0, 1], one marker
                         in each half, target the sum of the two marked values.

Every task keeps its test set for one final measurement; :meth:`Task.validation_split` holds out
a fixed tenth of the training examples on which epochs and settings are chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from course_utils import tasks
from course_utils import text as text_tools

# The checkers import this package, and every graded check is a fresh process: torch,
# matplotlib and scikit-learn (course_utils.data, models, plotting import them) are imported
# inside the functions that need them, here and in the other capstone modules.

TASK_NAMES = ("movie_reviews", "surnames", "order", "adding")
MODEL_NAMES = ("tfidf", "cnn", "rnn", "lstm", "gru")
RECURRENT_KINDS = ("rnn", "lstm", "gru")
FULL_ENV = "COURSE_CAPSTONE_FULL"

TASK_TITLES = {
    "movie_reviews": "review snippets (VADER labels)",
    "surnames": "surnames (characters)",
    "order": "order task, distance 20-40",
    "adding": "adding problem, T = 100",
}

MODEL_TITLES = {"tfidf": "linear baseline", "cnn": "CNN", "rnn": "RNN", "lstm": "LSTM",
                "gru": "GRU"}

# What the "tfidf" column means on each task: the best simple linear model that fits the task.
BASELINES = {
    "movie_reviews": "TF-IDF word uni+bigrams + logistic regression",
    "surnames": "TF-IDF character uni+bigrams + logistic regression",
    "order": "token counts (bag of words) + logistic regression",
    "adding": "ridge regression on the raw T x 2 input",
}

# Order task and adding problem: sizes of the generated data, and their seeds. The suite's order
# sequences are 100 tokens with no filler margins (chapter 02's are
# tasks.MARGINED_ORDER_LENGTH = 130).
SUITE_ORDER_LENGTH, ORDER_DISTANCE = 100, (20, 40)
ORDER_VOCAB = tasks.ORDER_VOCAB
ADDING_LENGTH = 100
REVIEW_MAX_LEN = 40
TRAIN_SEED, TEST_SEED = 101, 202
VALIDATION_SHARE, VALIDATION_SEED = 0.1, 7


# ---------------------------------------------------------------------------------------------
# Published reference numbers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A published number to put beside ours."""

    value: float
    source: str


# Published numbers on the MR benchmark (Pang & Lee 2005). Our movie-review task is a different
# data set (VADER's 10,605 snippets, labelled by the sign of their mean human rating), so these are
# reference lines drawn beside ours, never numbers ours are expected to match.
REFERENCES: dict[tuple[str, str], Reference] = {
    ("movie_reviews", "cnn"): Reference(
        0.761, "Kim (2014), CNN-rand on MR, other data (10-fold cross-validation)"),
    ("movie_reviews", "tfidf"): Reference(
        0.794, "NBSVM (Wang & Manning 2012) on MR, other data, as listed by Kim (2014)"),
}

ADDING_VARIANCE_BASELINE = 1 / 6  # MSE of always predicting the mean, 1.0 (values in [0, 1])


# ---------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------


@dataclass
class Task:
    """One task, ready for every model.

    Attributes:
        name, title: key in ``TASK_NAMES`` and a human-readable title.
        kind: "classification" (metric: accuracy) or "regression" (metric: MSE).
        x_train, x_test: batch-first inputs of the neural models: int64 token ids (N, L),
            padded at the front (``padding="pre"``) so the last step of an RNN is a real token,
            or float32 values (N, T, D) for the adding problem.
        y_train, y_test: int64 class ids (N,) or float32 targets (N,).
        docs_train, docs_test: the same examples as lists of token strings, for the bag-of-words
            baseline (None for the adding problem, whose baseline reads ``x`` directly).
        vocab_size: number of token ids (None for real-valued input).
        input_dim: features per step for real-valued input (None for tokens).
        n_outputs: classes, or 1 for regression.
        trivial: accuracy of always predicting the majority class, or the MSE of always
            predicting the mean target; a model must beat it to have learnt anything.
        labels: class names (None for regression).
    """

    name: str
    title: str
    kind: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    docs_train: list | None
    docs_test: list | None
    vocab_size: int | None
    input_dim: int | None
    n_outputs: int
    trivial: float
    labels: list | None = None

    @property
    def metric_name(self) -> str:
        return "accuracy" if self.kind == "classification" else "mse"

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Task:
        """The first ``n_train`` training and ``n_test`` test examples (for quick tests)."""
        def cut(a, n):
            return a if a is None or n is None else a[:n]
        return replace(self, x_train=cut(self.x_train, n_train), y_train=cut(self.y_train, n_train),
                       docs_train=cut(self.docs_train, n_train), x_test=cut(self.x_test, n_test),
                       y_test=cut(self.y_test, n_test), docs_test=cut(self.docs_test, n_test))

    def validation_split(self, share: float = VALIDATION_SHARE,
                         seed: int = VALIDATION_SEED) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``(fit_idx, val_idx)`` into the training examples: a fixed random ``share``
        of them (the same for every model and every training seed) is held out for choosing
        epochs and settings; the test set is not touched."""
        n = len(self.y_train)
        order = np.random.default_rng(seed).permutation(n)
        n_val = max(1, int(round(share * n)))
        return np.sort(order[n_val:]), np.sort(order[:n_val])


def majority_accuracy(y_train: np.ndarray, y_test: np.ndarray) -> float:
    return float(np.mean(y_test == np.bincount(y_train).argmax()))


def token_task(name, docs_train, y_train, docs_test, y_test, *, min_freq=1, max_len=None,
                labels=None) -> Task:
    vocab = text_tools.Vocab.build(docs_train, min_freq=min_freq)
    x_train, _ = text_tools.pad_sequences([vocab.encode(d) for d in docs_train], max_len=max_len,
                                     padding="pre")
    x_test, _ = text_tools.pad_sequences([vocab.encode(d) for d in docs_test],
                                    max_len=x_train.shape[1], padding="pre")
    y_train, y_test = np.asarray(y_train, dtype=np.int64), np.asarray(y_test, dtype=np.int64)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    return Task(name, TASK_TITLES[name], "classification", x_train, y_train, x_test, y_test,
                docs_train, docs_test, len(vocab), None, n_classes,
                majority_accuracy(y_train, y_test), labels)


def load_task(name: str, n_train: int | None = None, n_test: int | None = None) -> Task:
    """Build task ``name`` (one of ``TASK_NAMES``); deterministic.

    ``n_train`` / ``n_test`` set the sizes of the synthetic tasks (defaults 4,000 / 1,000 for the
    order task, 8,000 / 1,000 for the adding problem) and cut the real ones.

    - movie-review snippets: ``text.tokenize``, vocabulary of the training tokens seen at least
      twice (rarer ones become ``<unk>``), snippets cut to ``REVIEW_MAX_LEN`` = 40 tokens (more
      than 95 % of them are no longer);
    - surnames: characters as tokens, case and accents kept;
    - order task: length 100, the two markers 20 to 40 steps apart, 12 filler tokens;
    - adding problem: length 100, inputs (N, 100, 2) batch-first.
    """
    if name == "movie_reviews":
        from course_utils.data import load_movie_reviews

        mr = load_movie_reviews()
        task = token_task(name, [text_tools.tokenize(t) for t in mr.train_texts], mr.train_labels,
                           [text_tools.tokenize(t) for t in mr.test_texts], mr.test_labels,
                           min_freq=2, max_len=REVIEW_MAX_LEN, labels=list(mr.label_names))
        return task.subset(n_train, n_test)
    if name == "surnames":
        from course_utils.data import load_surnames

        s = load_surnames()
        task = token_task(name, [list(n) for n in s.train_names], s.train_labels,
                           [list(n) for n in s.test_names], s.test_labels,
                           labels=list(s.languages))
        return task.subset(n_train, n_test)
    if name == "order":
        kw = dict(length=SUITE_ORDER_LENGTH, distance=ORDER_DISTANCE, vocab_size=ORDER_VOCAB)
        x_train, y_train = tasks.order_task(n_train or 4000, seed=TRAIN_SEED, **kw)
        x_test, y_test = tasks.order_task(n_test or 1000, seed=TEST_SEED, **kw)
        docs_train = [[str(t) for t in row] for row in x_train]
        docs_test = [[str(t) for t in row] for row in x_test]
        return Task(name, TASK_TITLES[name], "classification", x_train, y_train, x_test, y_test,
                    docs_train, docs_test, ORDER_VOCAB, None, 2, majority_accuracy(y_train, y_test),
                    ["B first", "A first"])
    if name == "adding":
        x_train, y_train = tasks.adding_problem(n_train or 8000, ADDING_LENGTH, seed=TRAIN_SEED)
        x_test, y_test = tasks.adding_problem(n_test or 1000, ADDING_LENGTH, seed=TEST_SEED)
        trivial = float(np.mean((y_test - y_train.mean()) ** 2))
        return Task(name, TASK_TITLES[name], "regression", x_train, y_train, x_test, y_test,
                    None, None, None, 2, 1, trivial)
    raise ValueError(f"unknown task {name!r}; choose from {TASK_NAMES}")
