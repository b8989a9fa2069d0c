"""The one training loop of the course, with a progress bar and a timed history.

Chapters 02-08 train every PyTorch model through :func:`fit`, so the models differ and the
recipe does not: the capstone's comparison is fair because of that. ``fit`` shuffles a fixed
training set into mini-batches, or takes ready-made ones (``batches=``: fresh data at every
step, a curriculum, full-batch descent); either way one loss is minimised by one optimiser, with
one rule for a loss that becomes NaN. (Two NumPy loops in :mod:`course_utils.pathologies` are
the lesson themselves and say why they do not use ``fit``.) A stop rule
(``stop_when=``, see :func:`reach`, :func:`budget`, :func:`diverging`) ends a run early when a
target is reached, a step or time budget is spent, or the loss runs away.

Data convention: every tensor is **batch-first** (dim 0 indexes examples). A recurrent model
that wants time-major input transposes inside its ``forward``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from course_utils.env import device as pick_device


def progress(iterable: Iterable, desc: str = "", total: int | None = None, **kwargs):
    """Wrap ``iterable`` in a ``tqdm.auto`` progress bar (a widget in JupyterLab).

    Set ``COURSE_PROGRESS=0`` to silence the bars (the grader does so).
    """
    from tqdm.auto import tqdm

    disable = os.environ.get("COURSE_PROGRESS", "1") == "0"
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, **kwargs)


@dataclass
class History:
    """What :func:`fit` measured, one entry per evaluation (per epoch unless ``eval_every``).

    ``steps`` (optimiser steps), ``examples`` (training examples seen), ``seconds`` (wall) and
    ``cpu_seconds`` (process CPU time, all threads) cover the whole run, evaluations included;
    ``eval_steps`` holds the step count at each evaluation and ``epochs`` the epochs run (the
    last one partial if a stop rule fired mid-epoch). ``stopped`` says why training stopped
    ("diverged", or the stop rule's reason), "" when it ran the epochs it was given.
    ``step_loss`` holds every optimiser step's mini-batch loss, taken before the step.
    """

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_metric: list[float] = field(default_factory=list)
    metric_name: str = "accuracy"
    seconds: float = 0.0
    diverged: bool = False
    cpu_seconds: float = 0.0
    steps: int = 0
    examples: int = 0
    epochs: int = 0
    eval_steps: list[int] = field(default_factory=list)
    stopped: str = ""
    step_loss: list[float] = field(default_factory=list)

    @property
    def final_metric(self) -> float:
        return self.test_metric[-1] if self.test_metric else float("nan")

    @property
    def best_metric(self) -> float:
        if not self.test_metric:
            return float("nan")
        pick = max if self.metric_name == "accuracy" else min
        return pick(self.test_metric)


@dataclass
class Evaluation:
    """What a stop rule sees after each evaluation of :func:`fit`.

    epoch: epochs completed so far (the current one counts once it ended); steps, examples:
    optimiser steps and training examples so far; seconds, cpu_seconds: wall and CPU time since
    training started; train_loss: mean training loss since the previous evaluation; test_loss,
    metric: on the evaluation data; history: the run's :class:`History` so far.
    """

    epoch: int
    steps: int
    examples: int
    seconds: float
    cpu_seconds: float
    train_loss: float
    test_loss: float
    metric: float
    metric_name: str
    history: History

    def reached(self, target: float) -> bool:
        """Whether the metric is at least as good as ``target`` (accuracy >= it, MSE <= it)."""
        if not math.isfinite(self.metric):
            return False
        return self.metric >= target if self.metric_name == "accuracy" else self.metric <= target


StopRule = Callable[[Evaluation], "str | bool | None"]


def reach(target: float) -> StopRule:
    """Stop once the evaluation metric reaches ``target`` (accuracy >= it, or MSE <= it)."""

    def rule(ev: Evaluation):
        if ev.reached(target):
            return f"target {target:g} reached"
        return None

    return rule


def budget(*, steps: int | None = None, examples: int | None = None,
           seconds: float | None = None, cpu_seconds: float | None = None) -> StopRule:
    """Stop at the first evaluation at which any of the given budgets is spent.

    Budgets are checked at evaluations only, so a run overshoots by at most one evaluation
    interval (pass ``eval_every`` to :func:`fit` for a finer grain).
    """
    limits = {"steps": steps, "examples": examples, "seconds": seconds,
              "cpu_seconds": cpu_seconds}
    limits = {k: v for k, v in limits.items() if v is not None}
    if not limits:
        raise ValueError("budget() needs at least one of steps, examples, seconds, cpu_seconds")

    def rule(ev: Evaluation):
        for name, limit in limits.items():
            if getattr(ev, name) >= limit:
                return f"{name.replace('_', ' ')} budget {limit:g} spent"
        return None

    return rule


def diverging(factor: float = 10.0) -> StopRule:
    """Stop when the training loss exceeds ``factor`` times its first value, or the evaluation
    metric is NaN/infinite. (A NaN or infinite training loss always stops :func:`fit`.)"""

    def rule(ev: Evaluation):
        first = ev.history.train_loss[0]
        if not math.isfinite(ev.metric) or ev.train_loss > factor * first:
            return "diverging"
        return None

    return rule


def _stop_reason(stop_when, ev: Evaluation) -> str:
    rules = stop_when if isinstance(stop_when, (list, tuple)) else [stop_when]
    for rule in rules:
        verdict = rule(ev)
        if verdict:
            return verdict if isinstance(verdict, str) else "stop rule"
    return ""


def count_parameters(model) -> int:
    """Number of trainable scalars in a PyTorch module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _param_dtype(model):
    """The dtype of the model's first floating-point parameter (None if it has none)."""
    return next((q.dtype for q in model.parameters() if q.is_floating_point()), None)


def _as_tensors(arrays: Sequence, device, float_dtype=None):
    """Tensors on ``device``; with ``float_dtype``, floating-point arrays are cast to it (NumPy's
    float64 meets a float32 model), while integers (token ids, class ids) keep their dtype."""
    import torch

    out = []
    for a in arrays:
        t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
        if float_dtype is not None and t.is_floating_point():
            t = t.to(float_dtype)
        out.append(t.to(device))
    return out


def _cast_inputs(model, data: Sequence, device):
    """``data = (inputs..., target)`` as tensors: floating inputs in the model's parameter
    dtype, the target as given (the loss casts a regression target itself)."""
    *inputs, target = data
    return [*_as_tensors(inputs, device, _param_dtype(model)), *_as_tensors([target], device)]


def evaluate(model, data: Sequence, task: str = "classification", batch_size: int = 512,
             device=None) -> tuple[float, float]:
    """Mean loss and metric of ``model`` on ``data = (inputs..., target)``.

    The metric is accuracy for ``task="classification"`` and the mean squared error for
    ``task="regression"``. Floating-point inputs are cast to the model's parameter dtype.
    Empty data raises ValueError.
    """
    import torch
    import torch.nn.functional as F

    device = device or next(model.parameters()).device
    *inputs, target = _cast_inputs(model, data, device)
    n = len(target)
    if n == 0:
        raise ValueError("evaluate needs at least one example; the data given is empty")
    model.eval()
    total_loss, total_metric = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            out = model(*(x[sl] for x in inputs))
            y = target[sl]
            if task == "classification":
                total_loss += F.cross_entropy(out, y, reduction="sum").item()
                total_metric += (out.argmax(dim=-1) == y).sum().item()
            else:
                err = F.mse_loss(out.reshape(y.shape), y.to(out.dtype), reduction="sum").item()
                total_loss += err
                total_metric += err
    return total_loss / n, total_metric / n


def _step_loss(out, y, task: str, loss_fn):
    import torch.nn.functional as F

    if loss_fn is not None:
        return loss_fn(out, y)
    if task == "classification":
        return F.cross_entropy(out, y)
    return F.mse_loss(out.reshape(y.shape), y.to(out.dtype))


def fit(model, train: Sequence | None = None, test: Sequence | None = None, *,
        task: str = "classification", epochs: int | None = 5, batch_size: int = 64,
        lr: float = 1e-3, weight_decay: float = 0.0, clip: float | None = None,
        optimizer: str = "adam", seed: int = 0, device=None, show_progress: bool = True,
        stop_when: StopRule | Sequence[StopRule] | None = None,
        eval_every: int | None = None, batches: Iterable[Sequence] | None = None,
        loss_fn: Callable | None = None) -> History:
    """Train ``model`` with mini-batches and return a :class:`History`.

    Parameters
    ----------
    train, test : sequences ``(inputs..., target)`` of arrays or tensors, batch-first.
        Classification targets are int64 class ids, regression targets float. Floating-point
        inputs are cast to the dtype of the model's parameters (NumPy's float64 into a float32
        model); integer inputs (token ids) keep theirs. ``test`` is the
        data evaluated during training: pass a validation split when the numbers choose a recipe.
        ``test=None`` evaluates nothing (the history then holds training losses only).
    task : ``"classification"`` (cross-entropy, accuracy) or ``"regression"`` (MSE, MSE).
    epochs : passes over ``train``; ``None`` trains until ``stop_when`` stops it.
    clip : if given, rescale the gradients so their global L2 norm is at most ``clip``.
    optimizer : ``"adam"`` or ``"sgd"`` (one optimiser for the whole run); another name raises
        ValueError.
    seed : seeds the shuffling, so two runs with one seed see the same batches.
    stop_when : a rule, or a list of rules, called with an :class:`Evaluation` after every
        evaluation; a truthy return (a string says why) stops training. See :func:`reach`,
        :func:`budget` and :func:`diverging`.
    eval_every : evaluate every this many optimiser steps (and once at the end) instead of at
        the end of every epoch.
    batches : instead of ``train``, an iterable of ready-made mini-batches ``(inputs...,
        target)``, one optimiser step each, in the order given (no shuffling; ``epochs``,
        ``batch_size`` and ``seed`` are not used). One pass over it counts as one epoch. For
        recipes that draw fresh data at every step (a curriculum, an endless task) or train
        full-batch (``itertools.repeat((X, y), steps)``). An iterable that yields no batch raises
        ValueError.
    loss_fn : ``loss_fn(output, target)`` -> scalar tensor, replacing the task's loss in
        training (``history.train_loss`` and ``step_loss``); the evaluation's ``test_loss`` and
        metric stay the task's.

    One NaN rule: a mini-batch loss that is NaN or infinite stops training at once, before that
    step changes the weights, and sets ``history.diverged`` (``history.stopped`` is
    "diverged"). ``history.step_loss`` holds the loss of every optimiser step (the mini-batch
    mean, taken before the step), the diverging one included.
    The progress bar counts epochs and, when training stops early, shows the epochs actually
    run and the reason.
    """
    import torch

    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if (train is None) == (batches is None):
        raise ValueError("pass exactly one of train (shuffled each epoch) and batches")
    if batches is not None:
        epochs = 1
    if epochs is None and stop_when is None:
        raise ValueError("epochs=None trains until a stop rule fires: pass stop_when")
    if stop_when is not None and test is None:
        raise ValueError("a stop rule needs evaluations: pass test")
    if eval_every is not None and eval_every < 1:
        raise ValueError(f"eval_every must be a positive number of steps, got {eval_every}")
    optimizers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    if optimizer not in optimizers:
        raise ValueError(f"optimizer must be one of {sorted(optimizers)}, got {optimizer!r}")
    if test is not None and len(test[-1]) == 0:
        raise ValueError("test is empty: pass at least one example to evaluate (or test=None)")
    if device is None:
        device = pick_device()
    model.to(device)
    if train is not None:
        *inputs, target = _cast_inputs(model, train, device)
        n = len(target)
        if n == 0:
            raise ValueError("train is empty: there is no example to train on")
        if any(len(x) != n for x in inputs):
            raise ValueError("all training arrays must have the same length along dim 0")
    opt_cls = optimizers[optimizer]
    opt = opt_cls(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    hist = History(metric_name="accuracy" if task == "classification" else "mse")
    start, cpu_start = time.perf_counter(), time.process_time()
    bar = progress(None, desc=type(model).__name__, total=epochs) if show_progress else None
    running, seen = 0.0, 0

    def evaluate_now() -> str:
        """Record one evaluation; return why to stop ("" to go on)."""
        nonlocal running, seen
        train_loss = running / max(seen, 1)
        running, seen = 0.0, 0
        hist.train_loss.append(train_loss)
        if not math.isfinite(train_loss):
            hist.diverged = True
            return "diverged"
        if test is None:
            return ""
        test_loss, metric = evaluate(model, test, task=task, device=device)
        hist.test_loss.append(test_loss)
        hist.test_metric.append(metric)
        hist.eval_steps.append(hist.steps)
        if stop_when is None:
            return ""
        ev = Evaluation(epoch=hist.epochs, steps=hist.steps, examples=hist.examples,
                        seconds=time.perf_counter() - start,
                        cpu_seconds=time.process_time() - cpu_start, train_loss=train_loss,
                        test_loss=test_loss, metric=metric, metric_name=hist.metric_name,
                        history=hist)
        return _stop_reason(stop_when, ev)

    def epoch_batches():
        """The mini-batches of one epoch: shuffled slices of ``train``, or ``batches``."""
        if batches is not None:
            for batch in batches:
                yield _cast_inputs(model, batch, device)
            return
        order = torch.randperm(n, generator=gen).to(device)
        for b in range(0, n, batch_size):
            idx = order[b:b + batch_size]
            yield [*(x[idx] for x in inputs), target[idx]]

    try:
        epoch = 0
        while not hist.stopped and (epochs is None or epoch < epochs):
            model.train()
            for *xs, y in epoch_batches():
                loss = _step_loss(model(*xs), y, task, loss_fn)
                value = loss.item()
                hist.step_loss.append(value)
                running += value * len(y)
                seen += len(y)
                if not math.isfinite(value):
                    hist.stopped = evaluate_now()  # records the non-finite loss: "diverged"
                    break
                opt.zero_grad()
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                hist.steps += 1
                hist.examples += len(y)
                if eval_every is not None and hist.steps % eval_every == 0:
                    hist.stopped = evaluate_now()
                    model.train()
                    if hist.stopped:
                        break
            if batches is not None and not hist.step_loss:
                if bar is not None:
                    bar.close()
                raise ValueError("batches= gave no batch: pass an iterable of at least one "
                                 "(inputs..., target) mini-batch")
            epoch += 1
            hist.epochs = epoch  # the last one may be partial when a step or a rule stopped it
            if bar is not None:
                bar.update(1)
            if not hist.stopped and eval_every is None:
                hist.stopped = evaluate_now()
        if not hist.stopped and eval_every is not None and seen > 0:
            hist.stopped = evaluate_now()   # the model as it ends, if the last step was not seen
    except BaseException:
        if bar is not None:  # a model that raises leaves no half-drawn bar behind
            bar.close()
        raise
    hist.seconds = time.perf_counter() - start
    hist.cpu_seconds = time.process_time() - cpu_start
    if bar is not None:
        if hist.stopped:
            bar.set_postfix_str(f"stopped after {epoch} epochs: {hist.stopped}", refresh=False)
        bar.refresh()
        bar.close()
    return hist
