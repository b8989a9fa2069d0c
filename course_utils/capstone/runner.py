"""Training and testing one model on one task: the capstone's runner.

:func:`run` trains one model of ``MODEL_NAMES`` on one task; :func:`train_model` is the recipe
it applies to a built network (the chapter's exercise uses it for the learner's network too);
:func:`run_all` does the grid. Every neural model is trained by ``training.fit`` on the training
examples minus the validation split, with the profile's stopping rule watching the validation
metric; the weights of the best validation epoch are tested once, on the test set.

Timing: each run reports the CPU seconds of the process (``time.process_time``, all threads
summed) and the wall seconds. By default the runs use one thread (``threads=1``): the models are
small, a second thread speeds them up little, and with one thread the CPU time equals the time an
idle machine would take, even when the machine is shared.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from course_utils.capstone.profiles import Config, Profile, default_profile
from course_utils.capstone.suite import MODEL_NAMES, RECURRENT_KINDS, TASK_NAMES, Task, load_task
from course_utils.env import limit_threads
from course_utils.text import PAD_ID
from course_utils.training import count_parameters, evaluate, fit, progress, reach


def build_model(task: Task, model: str, config: Config, seed: int = 0):
    """The PyTorch model ``model`` ("cnn", "rnn", "lstm" or "gru") for ``task``, seeded."""
    import torch

    from course_utils.models import RecurrentModel, SequenceCNN, TextCNN

    torch.manual_seed(seed)
    if model == "cnn":
        if task.vocab_size is None:
            return SequenceCNN(task.input_dim, task.n_outputs, config.embed_dim, config.widths,
                               config.hidden, dropout=0.0)
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


@dataclass
class Result:
    """One trained and evaluated (task, model) pair.

    metric: the test accuracy (classification) or test MSE (regression) of the tested weights;
    params: the number of trained scalars; cpu_seconds: the process CPU time of training,
    validation and testing; history: the ``training.History`` whose ``test_*`` lists are the
    **validation** curve, and model_object the trained network (both None for the linear
    baselines); val_metric: the validation metric of the tested weights; epochs: epochs run;
    best_epoch: the epoch whose weights were tested (1-based); seed: the training seed;
    setting: what the validation split chose for a linear baseline (its C); per_example: the
    test score of every test example, float64 (N,): 1.0 / 0.0 for a correct / wrong class, or
    the squared error (its mean is ``metric``); the paired test-set term of
    :func:`~course_utils.capstone.record.compare` needs them. None when not tested.
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
    val_metric: float = float("nan")
    epochs: int = 0
    best_epoch: int = 0
    seed: int = 0
    setting: str = ""
    per_example: object = field(default=None, repr=False)

    @property
    def diverged(self) -> bool:
        """Training blew up, or the tested weights give a non-finite metric (an untested run,
        ``train_model(test=False)``, has a NaN metric without having diverged)."""
        if getattr(self.history, "diverged", False):
            return True
        tested = self.history is None or self.per_example is not None
        return tested and not math.isfinite(self.metric)


def _baseline_model(task: Task, C: float):
    if task.kind == "regression":
        from sklearn.linear_model import Ridge

        return Ridge(alpha=1.0 / C)
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    def ident(doc):
        return doc  # the documents are token lists already

    if task.name == "order":
        vec = CountVectorizer(analyzer=ident)
    else:
        vec = TfidfVectorizer(analyzer="word", tokenizer=ident, preprocessor=ident,
                              token_pattern=None, lowercase=False, ngram_range=(1, 2),
                              sublinear_tf=True)
    return make_pipeline(vec, LogisticRegression(C=C, max_iter=2000))


def scores(task: Task, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example scores, float64 (N,): the squared error for a regression, else 1.0 where
    the predicted class is right and 0.0 where it is wrong."""
    pred, y = np.asarray(pred), np.asarray(y)
    if task.kind == "regression":
        return (pred.astype(np.float64).reshape(y.shape) - y.astype(np.float64)) ** 2
    return (pred == y).astype(np.float64)


def _baseline_score(task: Task, clf, x, y) -> float:
    return float(np.mean(scores(task, clf.predict(x), y)))


def net_scores(task: Task, net, x: np.ndarray, y: np.ndarray, batch_size: int = 512):
    """Per-example scores (see :func:`scores`) of a trained network on ``(x, y)``, computed in
    eval mode; the network is left in the mode it was in."""
    import torch

    was_training = net.training
    net.eval()
    outs = []
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                out = net(torch.as_tensor(x[start:start + batch_size]))
                outs.append(out.argmax(dim=-1) if task.kind == "classification" else out)
    finally:
        net.train(was_training)
    return scores(task, torch.cat(outs).numpy(), y)


def run_baseline(task: Task, config: Config) -> tuple[float, int, float, float, np.ndarray]:
    """Fit the task's linear baseline on the training examples minus the validation split,
    choosing its regularisation ``C`` among ``config.C_grid`` on the validation split; return
    (test metric, number of parameters, validation metric, chosen C, per-example test scores)."""
    fit_idx, val_idx = task.validation_split()
    if task.kind == "regression":
        x = task.x_train.reshape(len(task.x_train), -1)
        x_test = task.x_test.reshape(len(task.x_test), -1)
    else:
        x, x_test = np.empty(len(task.docs_train), dtype=object), task.docs_test
        x[:] = task.docs_train
    y = task.y_train
    grid = config.C_grid or (config.C,)
    scored = []
    for C in grid:
        clf = _baseline_model(task, C).fit(list(x[fit_idx]) if task.kind != "regression"
                                           else x[fit_idx], y[fit_idx])
        val = _baseline_score(task, clf, list(x[val_idx]) if task.kind != "regression"
                              else x[val_idx], y[val_idx])
        scored.append((val if task.kind == "classification" else -val, C, val, clf))
    _, C, val, clf = max(scored, key=lambda s: (s[0], -s[1]))
    per_example = scores(task, clf.predict(x_test), task.y_test)
    last = clf if task.kind == "regression" else clf[-1]
    params = last.coef_.size + np.size(last.intercept_)
    return float(np.mean(per_example)), int(params), val, C, per_example


def run(task: Task, model: str, config: Config | None = None, *, profile: Profile | None = None,
        seed: int = 0, threads: int | None = 1, show_progress: bool = False) -> Result:
    """Train ``model`` on ``task``, choose its epochs on the validation split, and evaluate the
    chosen weights on the test set once.

    config: hyper-parameters; default ``profile.config(task.name, model)`` (profile default:
        :func:`default_profile`).
    seed: seeds the weights and the order of the mini-batches (the data and the validation
        split do not change).
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
        metric, params, val, C, per_example = run_baseline(task, config)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return Result(task.name, model, task.metric_name, float(metric), params, cpu, wall,
                  n_threads, None, val_metric=val, seed=seed, setting=f"C = {C:g}",
                  per_example=per_example)


class KeepBest:
    """A ``training.fit`` stop rule that remembers the weights of the best validation epoch and
    stops after ``patience`` epochs without improvement (never, if ``patience`` is None).

    A non-finite metric (NaN, inf) is never an improvement; it is kept only while nothing finite
    has been seen (so that :meth:`restore` has weights), and any finite metric replaces it."""

    def __init__(self, net, patience: int | None = None):
        self.net, self.patience = net, patience
        self.best_metric, self.best_epoch, self.state = float("nan"), 0, None

    def __call__(self, ev):
        if not math.isfinite(ev.metric):
            better = False
        elif not math.isfinite(self.best_metric):
            better = True
        else:
            better = (ev.metric > self.best_metric if ev.metric_name == "accuracy"
                      else ev.metric < self.best_metric)
        if self.state is None or better:
            self.best_metric, self.best_epoch = ev.metric, ev.epoch
            self.state = copy.deepcopy(self.net.state_dict())
        elif self.patience is not None and ev.epoch - self.best_epoch >= self.patience:
            return f"no better validation for {self.patience} epochs"
        return None

    def restore(self):
        if self.state is not None:
            self.net.load_state_dict(self.state)


def train_model(task: Task, net, config: Config, *, name: str = "custom", seed: int = 0,
                threads: int | None = 1, show_progress: bool = False,
                test: bool = True) -> Result:
    """Train an already built PyTorch model on ``task`` by the capstone's recipe and test it.

    The recipe: ``training.fit`` (Adam; ``config``'s batch size, learning rate, clipping and
    weight decay; mini-batch order seeded by ``seed``) on the training examples minus the
    validation split, for at most ``config.epochs`` epochs, evaluated on the validation split
    after every epoch; it stops once the validation metric reaches ``config.val_target`` or has
    not improved for ``config.patience`` epochs. The weights of the best validation epoch are
    then evaluated on the test set, once. :func:`run` calls it for the course's models and the
    chapter's exercise for the learner's model.

    test: False skips the test set entirely (``metric`` is NaN, ``per_example`` None): tuning
    sees the validation split only.
    """
    fit_idx, val_idx = task.validation_split()
    keep = KeepBest(net, config.patience)
    rules = [keep] + ([reach(config.val_target)] if config.val_target is not None else [])
    with limit_threads(threads):
        import torch

        n_threads = torch.get_num_threads()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        hist = fit(net, (task.x_train[fit_idx], task.y_train[fit_idx]),
                   (task.x_train[val_idx], task.y_train[val_idx]),
                   task=task.kind, epochs=config.epochs, batch_size=config.batch_size,
                   lr=config.lr, clip=config.clip, weight_decay=config.weight_decay,
                   seed=seed, show_progress=show_progress, stop_when=rules)
        metric, per_example = float("nan"), None
        if not hist.diverged:
            keep.restore()
            if test:
                per_example = net_scores(task, net, task.x_test, task.y_test)
                metric = float(np.mean(per_example))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return Result(task.name, name, task.metric_name, float(metric), count_parameters(net), cpu,
                  wall, n_threads, hist, net, val_metric=keep.best_metric, epochs=hist.epochs,
                  best_epoch=keep.best_epoch, seed=seed, per_example=per_example)


def run_all(task_names: Iterable[str] | None = None, model_names: Iterable[str] = MODEL_NAMES,
            *, profile: Profile | None = None, seed: int = 0, threads: int | None = 1,
            tasks: dict | None = None, show_progress: bool = True, out=None) -> list:
    """Every model on every task (one :func:`run` each), with a progress bar over the runs.

    tasks: already loaded tasks by name (loaded with :func:`load_task` when missing).
    out: if given (e.g. ``print``), called with one line per finished run, "k/n task model";
    a plain-text progress report that reads the same in a terminal and in a stored notebook.
    """
    profile = profile or default_profile()
    task_names = list(TASK_NAMES if task_names is None else task_names)
    model_names = list(model_names)
    loaded = dict(tasks or {})
    pairs = [(t, m) for t in task_names for m in model_names]
    results = []
    bar = progress(pairs, desc="capstone") if show_progress else pairs
    for i, (t, m) in enumerate(bar, 1):
        if t not in loaded:
            loaded[t] = load_task(t)
        results.append(run(loaded[t], m, profile=profile, seed=seed, threads=threads))
        if out is not None:
            out(f"{i}/{len(pairs)} done: {t}, {m} ({results[-1].cpu_seconds:.1f} CPU s)")
    return results


def shuffle_tokens(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """A copy of the token array x (N, L), padded at the front, with the real tokens of every
    row put in a random order (padding stays in front). The bag of words does not change."""
    rng = np.random.default_rng(seed)
    out = x.copy()
    for row in out:
        start = int(np.count_nonzero(row == PAD_ID))
        row[start:] = rng.permutation(row[start:])
    return out


def accuracy_on(result: Result, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of a trained classifier (a Result of a neural model) on other inputs."""
    return evaluate(result.model_object, (x, y), task="classification")[1]
