"""The capstone harness: every model of the course on every task, trained one way and timed.

One function, :func:`run`, trains and evaluates one model on one task; :func:`run_all` does the
whole grid; :func:`results_table` and :func:`plot_results` show it. Chapter 08 and the benchmark
(``python -m course_utils.bench``) both call this module, so the numbers in the chapter and the
numbers the benchmark prints come from the same code.

Tasks (``TASK_NAMES``)
    ``"movie_reviews"``  word-level sentence polarity (course_utils.data.load_movie_reviews);
    ``"surnames"``       character-level language of a surname, 10 classes (load_surnames);
    ``"order"``          which of two markers comes first, 20 to 40 tokens apart (tasks.order_task);
    ``"adding"``         the adding problem at length 100, a regression (tasks.adding_problem).

Models (``MODEL_NAMES``)
    ``"tfidf"``  the linear baseline, which is a different linear model per task (see
                 :data:`BASELINES`): TF-IDF of word uni+bigrams + logistic regression on the
                 reviews; TF-IDF of character uni+bigrams + logistic regression on the surnames;
                 token counts + logistic regression on the order task; ridge regression on the
                 raw (T x 2) input of the adding problem;
    ``"cnn"``    a Kim (2014)-style TextCNN (on the adding problem the same CNN with a linear
                 input projection instead of an embedding, :class:`SequenceCNN`);
    ``"rnn"``, ``"lstm"``, ``"gru"``  ``models.RecurrentModel`` reading the sequence, a linear
                 layer on its last state.

Every neural model is trained by ``training.fit`` (Adam, mini-batches, gradient clipping for the
recurrent models) with the hyper-parameters of a :class:`Profile`. Two profiles exist: ``FAST``
(the default, so that chapter 08 runs in minutes on a 2-core laptop) and ``FULL`` (longer
training for the best numbers), selected with the environment variable
``COURSE_CAPSTONE_FULL=1`` or ``profile="full"``.

Timing: each run reports the CPU seconds of the process (``time.process_time``, all threads
summed) and the wall seconds. By default the runs use one thread (``threads=1``): the models
are small, a second thread speeds them up little, and with one thread the CPU time equals
the time an idle machine would take, even when the machine is shared.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from course_utils import tasks as _tasks
from course_utils import text as _text
from course_utils.env import limit_threads

TASK_NAMES = ("movie_reviews", "surnames", "order", "adding")
MODEL_NAMES = ("tfidf", "cnn", "rnn", "lstm", "gru")
RECURRENT_KINDS = ("rnn", "lstm", "gru")
FULL_ENV = "COURSE_CAPSTONE_FULL"

TASK_TITLES = {
    "movie_reviews": "movie reviews (words)",
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

# Order task and adding problem: sizes of the generated data, and their seeds.
ORDER_LENGTH, ORDER_DISTANCE, ORDER_VOCAB = 100, (20, 40), 16
ADDING_LENGTH = 100
MR_MAX_LEN = 40
_TRAIN_SEED, _TEST_SEED = 101, 202


# ---------------------------------------------------------------------------------------------
# Published reference numbers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A published number to put beside ours."""

    value: float
    source: str


REFERENCES: dict[tuple[str, str], Reference] = {
    ("movie_reviews", "cnn"): Reference(
        0.761, "Kim (2014), CNN-rand on MR (10-fold cross-validation)"),
    ("movie_reviews", "tfidf"): Reference(
        0.794, "NBSVM (Wang & Manning 2012) on MR, as listed by Kim (2014)"),
}

ADDING_VARIANCE_BASELINE = 1 / 6  # MSE of always predicting the mean, 1.0


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


def _majority(y_train: np.ndarray, y_test: np.ndarray) -> float:
    return float(np.mean(y_test == np.bincount(y_train).argmax()))


def _token_task(name, docs_train, y_train, docs_test, y_test, *, min_freq=1, max_len=None,
                labels=None) -> Task:
    vocab = _text.Vocab.build(docs_train, min_freq=min_freq)
    x_train, _ = _text.pad_sequences([vocab.encode(d) for d in docs_train], max_len=max_len,
                                     padding="pre")
    x_test, _ = _text.pad_sequences([vocab.encode(d) for d in docs_test],
                                    max_len=x_train.shape[1], padding="pre")
    y_train, y_test = np.asarray(y_train, dtype=np.int64), np.asarray(y_test, dtype=np.int64)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    return Task(name, TASK_TITLES[name], "classification", x_train, y_train, x_test, y_test,
                docs_train, docs_test, len(vocab), None, n_classes,
                _majority(y_train, y_test), labels)


def load_task(name: str, n_train: int | None = None, n_test: int | None = None) -> Task:
    """Build task ``name`` (one of ``TASK_NAMES``); deterministic.

    ``n_train`` / ``n_test`` set the sizes of the synthetic tasks (defaults 4,000 / 1,000 for the
    order task, 8,000 / 1,000 for the adding problem) and cut the real ones.

    - movie reviews: ``text.tokenize``, vocabulary of the training tokens seen at least twice
      (rarer ones become ``<unk>``), sentences cut to 50 tokens (longer than 95 % of them);
    - surnames: characters as tokens, case and accents kept;
    - order task: length 100, the two markers 20 to 40 steps apart, 12 filler tokens;
    - adding problem: length 100, inputs (N, 100, 2) batch-first.
    """
    if name == "movie_reviews":
        from course_utils.data import load_movie_reviews

        mr = load_movie_reviews()
        task = _token_task(name, [_text.tokenize(t) for t in mr.train_texts], mr.train_labels,
                           [_text.tokenize(t) for t in mr.test_texts], mr.test_labels,
                           min_freq=2, max_len=MR_MAX_LEN, labels=list(mr.label_names))
        return task.subset(n_train, n_test)
    if name == "surnames":
        from course_utils.data import load_surnames

        s = load_surnames()
        task = _token_task(name, [list(n) for n in s.train_names], s.train_labels,
                           [list(n) for n in s.test_names], s.test_labels,
                           labels=list(s.languages))
        return task.subset(n_train, n_test)
    if name == "order":
        kw = dict(length=ORDER_LENGTH, distance=ORDER_DISTANCE, vocab_size=ORDER_VOCAB)
        x_train, y_train = _tasks.order_task(n_train or 4000, seed=_TRAIN_SEED, **kw)
        x_test, y_test = _tasks.order_task(n_test or 1000, seed=_TEST_SEED, **kw)
        docs_train = [[str(t) for t in row] for row in x_train]
        docs_test = [[str(t) for t in row] for row in x_test]
        return Task(name, TASK_TITLES[name], "classification", x_train, y_train, x_test, y_test,
                    docs_train, docs_test, ORDER_VOCAB, None, 2, _majority(y_train, y_test),
                    ["B first", "A first"])
    if name == "adding":
        x_train, y_train = _tasks.adding_problem(n_train or 8000, ADDING_LENGTH, seed=_TRAIN_SEED)
        x_test, y_test = _tasks.adding_problem(n_test or 1000, ADDING_LENGTH, seed=_TEST_SEED)
        x_train, x_test = (np.ascontiguousarray(x.transpose(1, 0, 2)) for x in (x_train, x_test))
        trivial = float(np.mean((y_test - y_train.mean()) ** 2))
        return Task(name, TASK_TITLES[name], "regression", x_train, y_train, x_test, y_test,
                    None, None, None, 2, 1, trivial)
    raise ValueError(f"unknown task {name!r}; choose from {TASK_NAMES}")


# ---------------------------------------------------------------------------------------------
# Hyper-parameters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """How one neural model is built and trained on one task (all of ``fit``'s knobs)."""

    hidden: int = 64          # recurrent state size, or CNN channels per filter width
    embed_dim: int = 32       # token embedding size (or input projection size for real input)
    widths: tuple = (3, 4, 5)  # CNN filter widths
    epochs: int = 5
    batch_size: int = 64
    lr: float = 3e-3
    clip: float | None = None
    weight_decay: float = 0.0
    dropout: float = 0.5      # CNN only
    forget_bias: float | None = None  # LSTM only
    C: float = 1.0            # inverse regularisation of the linear baselines


@dataclass(frozen=True)
class Profile:
    """Hyper-parameters for every (task, model) pair; ``configs[task][model]``."""

    name: str
    configs: dict

    def config(self, task: str, model: str) -> Config:
        return self.configs[task][model]


def _grid(shared: dict, per_model: dict) -> dict:
    return {m: Config(**{**shared, **per_model.get(m, {})}) for m in MODEL_NAMES}


_RNN_CLIP = 1.0
_CLIPPED = {"clip": _RNN_CLIP}

# The fast profile: each model trains for as many epochs as it needs to settle on the task
# (the CNN and GRU learn the adding problem in 2 epochs, the LSTM in 4 to 6 in the seeds we
# tried, so it gets 8), within a budget that keeps chapter 08 to a few minutes. The plain RNN
# gets as many epochs as the LSTM.
FAST = Profile("fast", {
    "movie_reviews": _grid(
        dict(embed_dim=64, hidden=64, epochs=3, lr=5e-3, batch_size=128, C=4.0),
        {"cnn": dict(hidden=32, batch_size=64), "rnn": _CLIPPED, "lstm": _CLIPPED,
         "gru": _CLIPPED}),
    "surnames": _grid(
        dict(embed_dim=32, hidden=64, epochs=6, lr=5e-3, batch_size=128, C=10.0,
             widths=(2, 3, 4)),
        {"rnn": _CLIPPED, "lstm": _CLIPPED, "gru": _CLIPPED}),
    "order": _grid(
        dict(embed_dim=16, hidden=32, epochs=3, lr=3e-3),
        {"rnn": _CLIPPED, "lstm": _CLIPPED, "gru": _CLIPPED}),
    "adding": _grid(
        dict(embed_dim=16, hidden=32, epochs=8, lr=2e-2, clip=_RNN_CLIP),
        {"cnn": dict(epochs=2, lr=3e-3, clip=None), "gru": dict(epochs=2)}),
})

# The full profile trains every neural model three times as long (the order task, already
# solved or at chance after 3 epochs, twice as long).
FULL = Profile("full", {
    task: {m: replace(c, epochs=c.epochs * (2 if task == "order" else 3))
           for m, c in grid.items()}
    for task, grid in FAST.configs.items()
})

PROFILES = {"fast": FAST, "full": FULL}

# The benchmark's LSTM on the adding problem (``bench`` times how long it needs to reach a test
# MSE below 0.01).
ADDING_BENCH_CONFIG = FAST.config("adding", "lstm")


def default_profile() -> Profile:
    """``FULL`` when ``COURSE_CAPSTONE_FULL=1`` is set in the environment, else ``FAST``."""
    return FULL if os.environ.get(FULL_ENV, "").strip() in ("1", "true", "yes") else FAST


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def _sequence_cnn_class():
    import torch
    from torch import nn

    from course_utils.models import TextCNN

    class SequenceCNN(TextCNN):
        """TextCNN for real-valued sequences: a linear projection replaces the embedding.

        x : float (B, T, input_dim). Returns (B, n_outputs), or (B,) when n_outputs == 1.
        """

        def __init__(self, input_dim: int, n_outputs: int = 1, embed_dim: int = 16,
                     widths: tuple[int, ...] = (3, 4, 5), channels: int = 32,
                     dropout: float = 0.0):
            super().__init__(vocab_size=1, n_classes=n_outputs, embed_dim=embed_dim,
                             widths=widths, channels=channels, dropout=dropout)
            self.embed = nn.Linear(input_dim, embed_dim)
            self.n_outputs = n_outputs

        def features(self, x: torch.Tensor) -> torch.Tensor:
            e = self.embed(x).transpose(1, 2)  # (B, embed_dim, T)
            return torch.cat([torch.relu(conv(e)).amax(dim=2) for conv in self.convs], dim=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = super().forward(x)
            return y.squeeze(-1) if self.n_outputs == 1 else y

    return SequenceCNN


def build_model(task: Task, model: str, config: Config, seed: int = 0):
    """The PyTorch model ``model`` ("cnn", "rnn", "lstm" or "gru") for ``task``, seeded."""
    import torch

    from course_utils.models import RecurrentModel, TextCNN

    torch.manual_seed(seed)
    if model == "cnn":
        if task.vocab_size is None:
            return _sequence_cnn_class()(task.input_dim, task.n_outputs, config.embed_dim,
                                         config.widths, config.hidden, dropout=0.0)
        return TextCNN(task.vocab_size, task.n_outputs, config.embed_dim, config.widths,
                       config.hidden, config.dropout)
    if model in RECURRENT_KINDS:
        extra = {"forget_bias": config.forget_bias} if model == "lstm" else {}
        if task.vocab_size is None:
            return RecurrentModel(model, config.hidden, task.n_outputs, input_dim=task.input_dim,
                                  **extra)
        return RecurrentModel(model, config.hidden, task.n_outputs, vocab_size=task.vocab_size,
                              embed_dim=config.embed_dim, **extra)
    raise ValueError(f"no PyTorch model called {model!r}; choose from cnn, rnn, lstm, gru")


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    """One trained and evaluated (task, model) pair.

    metric is the test accuracy (classification) or test MSE (regression) after the last
    epoch; params the number of trained scalars; cpu_seconds the process CPU time of training
    and evaluation; history the ``training.History`` and model_object the trained network
    (both None for the linear baselines).
    """

    task: str
    model: str
    metric_name: str
    metric: float
    params: int
    cpu_seconds: float
    wall_seconds: float
    threads: int
    history: object = field(default=None, repr=False)
    model_object: object = field(default=None, repr=False)  # the trained network (None: baseline)

    @property
    def diverged(self) -> bool:
        return bool(getattr(self.history, "diverged", False)) or not math.isfinite(self.metric)


def _run_baseline(task: Task, config: Config):
    """Fit the task's linear baseline; return (metric, number of parameters)."""
    if task.kind == "regression":
        from sklearn.linear_model import Ridge

        flat = lambda x: x.reshape(len(x), -1)
        reg = Ridge(alpha=1.0 / config.C).fit(flat(task.x_train), task.y_train)
        pred = reg.predict(flat(task.x_test))
        return float(np.mean((pred - task.y_test) ** 2)), reg.coef_.size + 1
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    ident = lambda doc: doc  # the documents are token lists already
    if task.name == "order":
        vec = CountVectorizer(analyzer=ident)
    else:
        vec = TfidfVectorizer(analyzer="word", tokenizer=ident, preprocessor=ident,
                              token_pattern=None, lowercase=False, ngram_range=(1, 2),
                              sublinear_tf=True)
    X_train = vec.fit_transform(task.docs_train)
    clf = LogisticRegression(C=config.C, max_iter=2000)
    clf.fit(X_train, task.y_train)
    acc = float(np.mean(clf.predict(vec.transform(task.docs_test)) == task.y_test))
    return acc, clf.coef_.size + clf.intercept_.size


def run(task: Task, model: str, config: Config | None = None, *, profile: Profile | None = None,
        seed: int = 0, threads: int | None = 1, show_progress: bool = False) -> Result:
    """Train ``model`` on ``task`` and evaluate it on the task's test set.

    config: hyper-parameters; default ``profile.config(task.name, model)`` (profile default:
        :func:`default_profile`).
    seed: seeds the weights and the order of the mini-batches (the data do not change).
    threads: PyTorch/BLAS threads during the run (None: leave as they are).
    """
    if model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}; choose from {MODEL_NAMES}")
    if config is None:
        config = (profile or default_profile()).config(task.name, model)
    if model != "tfidf":
        net = build_model(task, model, config, seed=seed)
        return train_model(task, net, config, name=model, seed=seed, threads=threads,
                           show_progress=show_progress)
    with limit_threads(threads):
        import torch

        n_threads = torch.get_num_threads()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        metric, params = _run_baseline(task, config)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return Result(task.name, model, task.metric_name, float(metric), int(params), cpu, wall,
                  n_threads, None)


def train_model(task: Task, net, config: Config, *, name: str = "custom", seed: int = 0,
                threads: int | None = 1, show_progress: bool = False) -> Result:
    """Train an already built PyTorch model on ``task`` with ``training.fit`` and ``config``'s
    epochs, batch size, learning rate, clipping and weight decay; evaluate it; time it.

    This is the one training recipe of the capstone: :func:`run` calls it for the course's
    models and the chapter's exercise checker for the learner's model.
    """
    from course_utils.training import count_parameters, fit

    with limit_threads(threads):
        import torch

        n_threads = torch.get_num_threads()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        hist = fit(net, (task.x_train, task.y_train), (task.x_test, task.y_test),
                   task=task.kind, epochs=config.epochs, batch_size=config.batch_size,
                   lr=config.lr, clip=config.clip, weight_decay=config.weight_decay,
                   seed=seed, show_progress=show_progress)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    metric = hist.final_metric if not hist.diverged else float("nan")
    return Result(task.name, name, task.metric_name, float(metric), count_parameters(net), cpu,
                  wall, n_threads, hist, net)


def run_all(task_names: Iterable[str] = TASK_NAMES, model_names: Iterable[str] = MODEL_NAMES,
            *, profile: Profile | None = None, seed: int = 0, threads: int | None = 1,
            tasks: dict | None = None, show_progress: bool = True) -> list[Result]:
    """Every model on every task (one :func:`run` each), with a progress bar over the runs.

    tasks: already loaded tasks by name (loaded with :func:`load_task` when missing).
    """
    from course_utils.training import progress

    profile = profile or default_profile()
    task_names, model_names = list(task_names), list(model_names)
    loaded = dict(tasks or {})
    pairs = [(t, m) for t in task_names for m in model_names]
    results = []
    bar = progress(pairs, desc="capstone") if show_progress else pairs
    for t, m in bar:
        if t not in loaded:
            loaded[t] = load_task(t)
        results.append(run(loaded[t], m, profile=profile, seed=seed, threads=threads))
    return results


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def _fmt_metric(value: float, metric_name: str) -> str:
    if not math.isfinite(value):
        return "diverged"
    return f"{100 * value:.1f} %" if metric_name == "accuracy" else f"{value:.4f}"


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def lookup(results: Sequence[Result], task: str, model: str) -> Result:
    """The result of ``model`` on ``task`` in a list of results."""
    for r in results:
        if r.task == task and r.model == model:
            return r
    raise KeyError(f"no result for {model!r} on {task!r}")


def results_table(results: Sequence[Result], tasks: dict | None = None) -> str:
    """A Markdown table, one row per (task, model): metric, parameters, CPU seconds, reference.

    tasks: loaded tasks by name, to print each task's trivial level (majority class / variance)
    in its first row.
    """
    head = ("| task | model | test accuracy / MSE | parameters | CPU s | published |\n"
            "|---|---|---:|---:|---:|---|")
    rows = [head]
    for r in results:
        ref = REFERENCES.get((r.task, r.model))
        ref_txt = f"{_fmt_metric(ref.value, r.metric_name)}: {ref.source}" if ref else ""
        if r.task == "adding" and r.model == "tfidf":
            ref_txt = (f"{ADDING_VARIANCE_BASELINE:.3f}: variance baseline (predict 1.0); "
                       "Hochreiter & Schmidhuber (1997): LSTM solves it, RNNs stay here")
        model = BASELINES[r.task] if r.model == "tfidf" else MODEL_TITLES[r.model]
        task_txt = TASK_TITLES[r.task]
        if tasks and r.task in tasks and r.model == results[0].model:
            trivial = tasks[r.task].trivial
            label = "majority class" if r.metric_name == "accuracy" else "predict the mean"
            task_txt += f" ({label}: {_fmt_metric(trivial, r.metric_name)})"
        rows.append(f"| {task_txt} | {model} | {_fmt_metric(r.metric, r.metric_name)} | "
                    f"{_fmt_params(r.params)} | {r.cpu_seconds:.1f} | {ref_txt} |")
    return "\n".join(rows)


def plot_results(results: Sequence[Result], tasks: dict | None = None, axes=None):
    """One panel per task: the metric of each model as a bar, published numbers and the
    trivial level as horizontal lines, CPU seconds written above the bars. Returns the axes."""
    import matplotlib.pyplot as plt

    from course_utils.plotting import MODEL_COLORS

    task_names = list(dict.fromkeys(r.task for r in results))
    if axes is None:
        _, axes = plt.subplots(1, len(task_names), figsize=(3.2 * len(task_names), 3.6),
                               squeeze=False)
        axes = axes[0]
    for ax, t in zip(axes, task_names, strict=False):
        rs = [r for r in results if r.task == t]
        regression = rs[0].metric_name == "mse"
        vals = [r.metric if math.isfinite(r.metric) else 0.0 for r in rs]
        vals = vals if regression else [100 * v for v in vals]
        xs = np.arange(len(rs))
        ax.bar(xs, vals, color=[MODEL_COLORS.get(r.model, "grey") for r in rs])
        ax.set_xticks(xs, [MODEL_TITLES[r.model] if r.model != "tfidf" else "linear"
                           for r in rs], rotation=30)
        top = max(vals + [1e-9])
        for x, r, v in zip(xs, rs, vals, strict=True):
            y_text = v * 1.15 if regression else v + 0.02 * top
            ax.text(x, y_text, f"{r.cpu_seconds:.0f}s", ha="center", fontsize=7)
        if tasks and t in tasks:
            level = tasks[t].trivial if regression else 100 * tasks[t].trivial
            ax.axhline(level, color="grey", ls=":", lw=1,
                       label="predict the mean" if regression else "majority class")
        for (rt, rm), ref in REFERENCES.items():
            if rt == t:
                ax.axhline(100 * ref.value, color=MODEL_COLORS.get(rm, "grey"), ls="--", lw=1,
                           label=f"published {MODEL_TITLES[rm] if rm != 'tfidf' else 'NBSVM'}")
        if regression:
            ax.set_yscale("log")
            ax.set_ylim(min(min(v for v in vals if v > 0) / 3, 1e-3), 1.0)
            ax.set_ylabel("test MSE, log scale (lower is better)")
        else:
            ax.set_ylabel("test accuracy % (higher is better)")
            ax.set_ylim(0, 105)
        ax.set_title(TASK_TITLES[t], fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right" if not regression else "upper left")
    return axes


def plot_curves(results: Sequence[Result], tasks: dict | None = None, axes=None):
    """One panel per task: the test metric after every epoch of each neural model, with the
    linear baseline as a horizontal line. Returns the axes."""
    import matplotlib.pyplot as plt

    from course_utils.plotting import MODEL_COLORS

    task_names = list(dict.fromkeys(r.task for r in results))
    if axes is None:
        _, axes = plt.subplots(1, len(task_names), figsize=(3.2 * len(task_names), 3.2),
                               squeeze=False)
        axes = axes[0]
    for ax, t in zip(axes, task_names, strict=False):
        rs = [r for r in results if r.task == t]
        regression = rs[0].metric_name == "mse"
        scale = 1 if regression else 100
        for r in rs:
            color = MODEL_COLORS.get(r.model, "grey")
            if r.history is None:
                ax.axhline(scale * r.metric, color=color, ls="--", lw=1, label="linear")
            elif r.history.test_metric:
                ys = [scale * v for v in r.history.test_metric]
                ax.plot(range(1, len(ys) + 1), ys, "o-", ms=3, color=color,
                        label=MODEL_TITLES[r.model])
        if regression:
            ax.set_yscale("log")
            ax.set_ylabel("test MSE (log scale)")
        else:
            ax.set_ylabel("test accuracy %")
        ax.set_xlabel("epoch")
        ax.set_title(TASK_TITLES[t], fontsize=9)
    axes[0].legend(fontsize=7)
    return axes


def shuffle_tokens(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """A copy of the token array x (N, L), padded at the front, with the real tokens of every
    row put in a random order (padding stays in front). The bag of words does not change."""
    rng = np.random.default_rng(seed)
    out = x.copy()
    for row in out:
        start = int(np.count_nonzero(row == _text.PAD_ID))
        row[start:] = rng.permutation(row[start:])
    return out


def accuracy_on(result: Result, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of a trained classifier (a Result of a neural model) on other inputs."""
    from course_utils.training import evaluate

    return evaluate(result.model_object, (x, y), task="classification")[1]


# ---------------------------------------------------------------------------------------------
# Time to a target (the benchmark's "how long until the LSTM solves the adding problem")
# ---------------------------------------------------------------------------------------------


@dataclass
class TimeToTarget:
    """Outcome of :func:`train_to_target`.

    reached: whether the test metric got to the target; steps / examples: optimiser steps and
    training examples seen until then (or until giving up); cpu_seconds, wall_seconds: time
    spent, evaluations included; metric: the last test metric measured; curve: (step, metric)
    pairs of every evaluation.
    """

    reached: bool
    steps: int
    examples: int
    cpu_seconds: float
    wall_seconds: float
    metric: float
    curve: list


def train_to_target(task: Task, model: str, config: Config, target: float, *,
                    max_seconds: float = 300.0, eval_every: int = 50, n_eval: int = 500,
                    seed: int = 0, threads: int | None = 1) -> TimeToTarget:
    """Train like ``training.fit`` (Adam, same batches, same clipping) but test every
    ``eval_every`` steps on the first ``n_eval`` test examples, and stop as soon as the metric
    beats ``target`` (MSE below it, or accuracy above it) or after ``max_seconds`` of CPU time.

    ``fit`` evaluates once per epoch and has no stopping rule, hence this loop; it reuses
    ``training.evaluate`` for the test metric.
    """
    import torch
    import torch.nn.functional as F

    from course_utils.training import evaluate

    better = (lambda m: m < target) if task.kind == "regression" else (lambda m: m > target)
    with limit_threads(threads):
        net = build_model(task, model, config, seed=seed)
        opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        x, y = torch.as_tensor(task.x_train), torch.as_tensor(task.y_train)
        test = (task.x_test[:n_eval], task.y_test[:n_eval])
        gen = torch.Generator().manual_seed(seed)
        n, step, metric, curve = len(y), 0, float("nan"), []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        reached = False
        while not reached and time.process_time() - cpu0 < max_seconds:
            order = torch.randperm(n, generator=gen)
            for b in range(0, n, config.batch_size):
                net.train()
                idx = order[b:b + config.batch_size]
                out = net(x[idx])
                if task.kind == "classification":
                    loss = F.cross_entropy(out, y[idx])
                else:
                    loss = F.mse_loss(out.reshape(-1), y[idx])
                opt.zero_grad()
                loss.backward()
                if config.clip is not None:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), config.clip)
                opt.step()
                step += 1
                if step % eval_every == 0:
                    metric = evaluate(net, test, task=task.kind)[1]
                    curve.append((step, metric))
                    if better(metric):
                        reached = True
                        break
                    if time.process_time() - cpu0 >= max_seconds:
                        break
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return TimeToTarget(reached, step, step * config.batch_size, cpu, wall, metric, curve)


# ---------------------------------------------------------------------------------------------
# The chapter's exercise: the learner's GRU on the surnames, trained by the same recipe
# ---------------------------------------------------------------------------------------------

SURNAME_TARGET = 0.725      # test accuracy to reach: above the linear baseline's 0.720
SURNAME_BUDGET = 45.0       # CPU seconds allowed for training, one thread
TRAINING_KEYS = ("epochs", "lr", "batch_size", "clip", "weight_decay")
MAX_EPOCHS = 40


def _validate_training(training) -> tuple[Config | None, str]:
    """A Config from the learner's training dict, or None and the reason it is unusable."""
    if not isinstance(training, dict):
        return None, (f"the second value must be a dict of training settings (keys among "
                      f"{', '.join(TRAINING_KEYS)}), got {type(training).__name__}")
    unknown = sorted(set(map(str, training)) - set(TRAINING_KEYS))
    if unknown:
        return None, (f"unknown training setting(s) {unknown}; allowed: "
                      f"{', '.join(TRAINING_KEYS)}")
    kw = dict(training)

    def number(key, low, high, integer=False, allow_none=False):
        v = kw.get(key)
        if v is None and allow_none:
            return ""
        ok_type = isinstance(v, (int, np.integer)) if integer else isinstance(
            v, (int, float, np.integer, np.floating))
        if isinstance(v, bool) or not ok_type or not (low <= v <= high) or not math.isfinite(v):
            kind = "an int" if integer else "a number"
            return f"`{key}` must be {kind} in [{low}, {high}], got {v!r}"
        return ""

    checks = [("epochs", 1, MAX_EPOCHS, True, False), ("lr", 1e-6, 1.0, False, False),
              ("batch_size", 1, 4096, True, False), ("clip", 1e-6, 1e6, False, True),
              ("weight_decay", 0.0, 1.0, False, True)]
    defaults = {"clip": None, "weight_decay": 0.0}
    for key, low, high, integer, allow_none in checks:
        if key not in kw and key in defaults:
            kw[key] = defaults[key]
        if key not in kw:
            return None, f"the training dict needs `{key}`"
        problem = number(key, low, high, integer, allow_none)
        if problem:
            return None, problem
    cfg = Config(epochs=int(kw["epochs"]), lr=float(kw["lr"]), batch_size=int(kw["batch_size"]),
                 clip=None if kw["clip"] is None else float(kw["clip"]),
                 weight_decay=float(kw["weight_decay"] or 0.0))
    return cfg, ""


def _shape_problem(out, batch: int, n_classes: int, length: int) -> str:
    """Why the model's output is not logits (batch, n_classes), or "" when it is."""
    import torch

    if isinstance(out, tuple):
        return ("the model returned a tuple; `forward` must return one tensor of logits "
                f"(B, {n_classes}) (nn.GRU returns (output, h_n): pick what you need)")
    if not isinstance(out, torch.Tensor):
        return f"the model returned {type(out).__name__}, expected a tensor of logits"
    want = (batch, n_classes)
    if tuple(out.shape) == want:
        if not out.is_floating_point():
            return f"the logits have dtype {out.dtype}; they must be floating point"
        if not torch.isfinite(out).all():
            return "the untrained model already outputs NaN or infinity"
        return ""
    shape = tuple(out.shape)
    hint = ""
    if shape in ((length, batch, n_classes), (batch, length, n_classes)):
        hint = (" You return one prediction per time step: keep the last step (or pool over "
                "time) before the linear layer.")
    elif shape == (1, batch, n_classes):
        hint = " h_n has a leading (layers x directions) axis: use h_n[-1]."
    elif len(shape) == 2 and shape[0] == batch:
        hint = f" The last linear layer must have {n_classes} outputs, one per language."
    elif len(shape) == 2 and shape[1] == batch:
        hint = " Batch and class axes are swapped; with nn.GRU check `batch_first`."
    return f"logits have shape {shape}, expected {want} (batch, classes).{hint}"


def check_surname_model(fn, *, target: float = SURNAME_TARGET,
                        budget_seconds: float = SURNAME_BUDGET, seed: int = 0,
                        task: Task | None = None) -> tuple[str, str]:
    """Build the learner's model with ``fn(vocab_size, n_classes) -> (model, training)``, train
    it on the surnames with :func:`train_model` (seeded, one thread) and judge it.

    Returns ``(status, message)`` with a status of ``course_utils.checking``. Never raises
    because of the learner's code. "Too slow" is decided before training when a few timed
    steps predict more than twice the budget, so a huge model does not hang the checker.
    """
    import copy

    import torch
    from torch import nn

    from course_utils.checking import FAILED, NOT_ATTEMPTED, PASSED, _learner_frame

    task = task or load_task("surnames")
    torch.manual_seed(seed)
    try:
        built = fn(task.vocab_size, task.n_outputs)
    except NotImplementedError:
        return NOT_ATTEMPTED, ("not attempted yet: replace the `raise NotImplementedError` line "
                               "with your code, then run this cell again.")
    except Exception as exc:  # noqa: BLE001 - the learner's bug is reported, not raised
        return FAILED, (f"your function raised {type(exc).__name__}: {exc}"
                        f"{_learner_frame(exc)}")
    if built is None:
        return FAILED, "your function returned None; did you forget a `return (model, training)`?"
    if isinstance(built, nn.Module):
        return FAILED, ("return a pair (model, training): the model and a dict such as "
                        "{'epochs': 8, 'lr': 5e-3, 'batch_size': 128}")
    if not isinstance(built, (tuple, list)) or len(built) != 2:
        return FAILED, f"expected a pair (model, training), got {type(built).__name__}"
    model, training = built
    if not isinstance(model, nn.Module):
        return FAILED, f"the first value must be a torch nn.Module, got {type(model).__name__}"
    if not any(isinstance(m, (nn.GRU, nn.GRUCell)) for m in model.modules()):
        return FAILED, ("the model has no nn.GRU (or nn.GRUCell) inside; this exercise is about "
                        "a GRU classifier")
    config, problem = _validate_training(training)
    if config is None:
        return FAILED, problem
    model = model.cpu()
    length = task.x_train.shape[1]
    probe_x = torch.as_tensor(task.x_train[:5])
    try:
        model.eval()
        with torch.no_grad():
            out = model(probe_x)
    except Exception as exc:  # noqa: BLE001
        return FAILED, (f"calling your model on a batch of token ids, int64 shape (5, {length}), "
                        f"raised {type(exc).__name__}: {exc}{_learner_frame(exc)}")
    problem = _shape_problem(out, 5, task.n_outputs, length)
    if problem:
        return FAILED, problem

    # Predict the training time from a few timed steps on a copy before committing to it.
    n_steps = math.ceil(len(task.y_train) / config.batch_size) * config.epochs
    try:
        with limit_threads(1):
            probe = copy.deepcopy(model)
            probe.train()
            opt = torch.optim.Adam(probe.parameters(), lr=config.lr)
            xb = torch.as_tensor(task.x_train[:config.batch_size])
            yb = torch.as_tensor(task.y_train[:config.batch_size])
            per_step = []
            for _ in range(3):
                c0 = time.process_time()
                loss = torch.nn.functional.cross_entropy(probe(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                per_step.append(time.process_time() - c0)
    except Exception as exc:  # noqa: BLE001
        return FAILED, (f"a training step of your model raised {type(exc).__name__}: {exc}"
                        f"{_learner_frame(exc)}")
    estimate = min(per_step[1:]) * n_steps
    if estimate > 2 * budget_seconds:
        return FAILED, (f"too slow: {n_steps} training steps would take about {estimate:.0f} CPU "
                        f"seconds, the budget is {budget_seconds:.0f}. Use fewer epochs, a larger "
                        "batch or a smaller model.")
    try:
        result = train_model(task, model, config, seed=seed, threads=1)
    except Exception as exc:  # noqa: BLE001
        return FAILED, f"training raised {type(exc).__name__}: {exc}{_learner_frame(exc)}"
    acc, cpu = result.metric, result.cpu_seconds
    if result.diverged:
        return FAILED, ("training diverged (the loss became NaN or infinite); lower the "
                        "learning rate or set `clip`")
    if cpu > budget_seconds:
        return FAILED, (f"too slow: test accuracy {100 * acc:.1f} %, but training took "
                        f"{cpu:.1f} CPU seconds, more than the budget of {budget_seconds:.0f}.")
    if acc < target:
        return FAILED, (f"too weak: test accuracy {100 * acc:.1f} % after {config.epochs} epochs "
                        f"({cpu:.1f} CPU s); the target is {100 * target:.1f} %. Try more "
                        "epochs, a larger hidden state or embedding, a bidirectional GRU, or "
                        "pooling the states over time.")
    return PASSED, (f"test accuracy {100 * acc:.1f} % (target {100 * target:.1f} %) in "
                    f"{cpu:.1f} CPU seconds (budget {budget_seconds:.0f}); "
                    f"{result.params:,} parameters.")
