"""The one training loop of the course, with a progress bar and a timed history.

Chapters 02-08 train every PyTorch model through :func:`fit`, so the models differ and the
recipe does not: the capstone's comparison is fair because of that.

Data convention: every tensor is **batch-first** (dim 0 indexes examples). A recurrent model
that wants time-major input transposes inside its ``forward``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


def progress(iterable: Iterable, desc: str = "", total: int | None = None, **kwargs):
    """Wrap ``iterable`` in a ``tqdm.auto`` progress bar (a widget in JupyterLab).

    Set ``COURSE_PROGRESS=0`` to silence the bars (the grader does so).
    """
    from tqdm.auto import tqdm

    disable = os.environ.get("COURSE_PROGRESS", "1") == "0"
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, **kwargs)


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch."""

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_metric: list[float] = field(default_factory=list)
    metric_name: str = "accuracy"
    seconds: float = 0.0
    diverged: bool = False

    @property
    def final_metric(self) -> float:
        return self.test_metric[-1] if self.test_metric else float("nan")

    @property
    def best_metric(self) -> float:
        if not self.test_metric:
            return float("nan")
        pick = max if self.metric_name == "accuracy" else min
        return pick(self.test_metric)


def count_parameters(model) -> int:
    """Number of trainable scalars in a PyTorch module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _as_tensors(arrays: Sequence, device):
    import torch

    out = []
    for a in arrays:
        t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
        out.append(t.to(device))
    return out


def evaluate(model, data: Sequence, task: str = "classification", batch_size: int = 512,
             device=None) -> tuple[float, float]:
    """Mean loss and metric of ``model`` on ``data = (inputs..., target)``.

    The metric is accuracy for ``task="classification"`` and the mean squared error for
    ``task="regression"``.
    """
    import torch
    import torch.nn.functional as F

    device = device or next(model.parameters()).device
    *inputs, target = _as_tensors(data, device)
    n = len(target)
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


def fit(model, train: Sequence, test: Sequence, *, task: str = "classification",
        epochs: int = 5, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
        clip: float | None = None, optimizer: str = "adam", seed: int = 0, device=None,
        show_progress: bool = True) -> History:
    """Train ``model`` with mini-batches and return a :class:`History`.

    Parameters
    ----------
    train, test : sequences ``(inputs..., target)`` of arrays or tensors, batch-first.
        Classification targets are int64 class ids, regression targets float.
    task : ``"classification"`` (cross-entropy, accuracy) or ``"regression"`` (MSE, MSE).
    clip : if given, rescale the gradients so their global L2 norm is at most ``clip``.
    optimizer : ``"adam"`` or ``"sgd"``.
    seed : seeds the shuffling, so two runs with one seed see the same batches.

    A loss that becomes NaN or infinite stops training and sets ``history.diverged``.
    """
    import torch
    import torch.nn.functional as F

    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if device is None:
        from course_utils.env import device as pick_device

        device = pick_device()
    model.to(device)
    *inputs, target = _as_tensors(train, device)
    n = len(target)
    if any(len(x) != n for x in inputs):
        raise ValueError("all training arrays must have the same length along dim 0")
    opt_cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    opt = opt_cls(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    hist = History(metric_name="accuracy" if task == "classification" else "mse")
    start = time.perf_counter()
    steps = progress(range(epochs), desc=type(model).__name__) if show_progress else range(epochs)
    for _ in steps:
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        running, seen = 0.0, 0
        for b in range(0, n, batch_size):
            idx = order[b:b + batch_size]
            out = model(*(x[idx] for x in inputs))
            y = target[idx]
            if task == "classification":
                loss = F.cross_entropy(out, y)
            else:
                loss = F.mse_loss(out.reshape(y.shape), y.to(out.dtype))
            opt.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            running += loss.item() * len(idx)
            seen += len(idx)
        hist.train_loss.append(running / seen)
        if not math.isfinite(hist.train_loss[-1]):
            hist.diverged = True
            break
        test_loss, metric = evaluate(model, test, task=task, device=device)
        hist.test_loss.append(test_loss)
        hist.test_metric.append(metric)
    hist.seconds = time.perf_counter() - start
    return hist
