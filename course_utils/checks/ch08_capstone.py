"""Chapter 08 (capstone): parameter counts, the learner's GRU on the surnames."""

from __future__ import annotations

import functools
import math

import numpy as np

from course_utils.checking import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    Case,
    CheckResult,
    Diagnosis,
    design_checker,
    learner_frame,
    report,
    run_check,
)
from course_utils.checks.common import integer_promise

# ---- parameter counts and the learner's GRU on the surnames


BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}  # gate blocks of H rows stacked in each weight


def param_count_reference(kind, input_dim, hidden, num_layers=1, bidirectional=False):
    directions = 2 if bidirectional else 1
    total, d = 0, input_dim
    for _ in range(num_layers):
        total += directions * BLOCKS[kind] * hidden * (d + hidden + 2)
        d = directions * hidden  # the next layer reads both directions' states
    return total


def param_count_cases() -> list[Case]:
    sizes = [(64, 128), (3, 5), (1, 1), (300, 100), (7, 2), (2, 32)]
    one = [Case((kind, d, h), f"{kind}, input_dim={d}, hidden={h}")
           for d, h in sizes for kind in ("rnn", "lstm", "gru")]
    stacks = [(2, False), (3, False), (1, True), (2, True), (3, True)]
    more = [Case((kind, d, h), f"{kind}, input_dim={d}, hidden={h}, num_layers={n}, "
                 f"bidirectional={b}", {"num_layers": n, "bidirectional": b})
            for (d, h) in [(64, 128), (3, 5), (300, 100), (2, 32), (5, 7)] for n, b in stacks
            for kind in ("rnn", "lstm", "gru")]
    return one + more


def param_count_wrong(variant: str):
    def wrong(kind, d, h, num_layers=1, bidirectional=False):
        g = BLOCKS[kind]
        dirs = 2 if bidirectional else 1
        if variant == "one_bias":
            return param_count_reference(kind, d, h, num_layers, bidirectional) - (
                dirs * num_layers * g * h)
        if variant == "no_blocks":
            return param_count_reference(kind, d, h, num_layers, bidirectional) // g
        if variant == "lstm_three":
            ref = param_count_reference(kind, d, h, num_layers, bidirectional)
            return ref * 3 // 4 if kind == "lstm" else ref
        if variant == "no_recurrent":
            return param_count_reference(kind, d, h, num_layers, bidirectional) - (
                dirs * num_layers * g * h * h)
        if variant == "upper_reads_input":  # every layer reads input_dim features
            return dirs * num_layers * g * h * (d + h + 2)
        if variant == "upper_reads_one_direction":
            return dirs * g * h * (d + h + 2) + dirs * (num_layers - 1) * g * h * (2 * h + 2)
        if variant == "one_direction":
            return param_count_reference(kind, d, h, num_layers, False)
        return param_count_reference(kind, d, h, num_layers, bidirectional) - (
            2 * dirs * num_layers * g * h)  # no_bias
    return wrong


def recurrent_param_count(fn) -> CheckResult:
    """Check ``fn(kind, input_dim, hidden, num_layers=1, bidirectional=False) -> int``: the
    trainable scalars of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (kind "rnn", "lstm" or "gru")
    with these arguments and both bias vectors, as PyTorch builds it. The count must be an
    integer (a Python int or a NumPy integer), never a float."""
    return run_check(
        "recurrent_param_count", fn, param_count_cases(), param_count_reference,
        arg_names=["kind", "input_dim", "hidden"], output_name="parameter count",
        promise=integer_promise,
        diagnoses=[
            Diagnosis(param_count_wrong("one_bias"),
                      "PyTorch keeps two bias vectors per gate block, bias_ih and bias_hh."),
            Diagnosis(param_count_wrong("no_bias"), "the biases are parameters too."),
            Diagnosis(param_count_wrong("no_blocks"),
                      "each gate (and the candidate) has its own weights: the LSTM stacks 4 "
                      "blocks of H rows, the GRU 3, the RNN 1."),
            Diagnosis(param_count_wrong("lstm_three"),
                      "the LSTM has 4 blocks (i, f, g, o): three gates AND the cell candidate."),
            Diagnosis(param_count_wrong("no_recurrent"),
                      "W_hh (H x H per block) maps the previous state; count it."),
            Diagnosis(param_count_wrong("upper_reads_input"),
                      "only the first layer reads the input; layer 2 and above read the "
                      "states of the layer below, so their W_ih has H columns (2H when "
                      "bidirectional), not input_dim."),
            Diagnosis(param_count_wrong("upper_reads_one_direction"),
                      "a bidirectional layer passes up both directions' states, concatenated: "
                      "the layer above reads 2H features."),
            Diagnosis(param_count_wrong("one_direction"),
                      "bidirectional=True builds a second, independent set of weights for the "
                      "backward direction in every layer."),
        ])


# ---- the learner's GRU on the surnames ----------------------------------------------------------
#
# What the checker runs, exactly (and what ``train_surname_model`` reproduces in the notebook):
# ``torch.manual_seed(seed)``, then ``fn(vocab_size, n_classes)`` builds the model (so its
# initialisation is seeded); a shape probe runs in eval mode inside ``torch.random.fork_rng`` (it
# changes neither the weights nor the random stream); ``capstone.train_model`` then trains on one
# thread, with mini-batches in the order ``training.fit`` draws from ``seed``, on the surnames'
# training names minus the validation tenth, watches the validation accuracy after every epoch,
# and tests the weights of the best validation epoch once. The budget is counted in optimiser
# steps and parameters, which do not depend on the machine.

SURNAME_SEEDS = (0, 1, 2)       # the grade is the mean test accuracy over these seeds
SURNAME_MAX_STEPS = 700         # optimiser steps per run (epochs x batches per epoch)
SURNAME_MAX_PARAMS = 150_000    # trainable parameters
SURNAME_MAX_EPOCHS = 40
TRAINING_KEYS = ("epochs", "lr", "batch_size", "clip", "weight_decay", "patience")


@functools.lru_cache(maxsize=1)
def surname_task():
    """The surnames task of the capstone (loaded once per process)."""
    from course_utils import capstone

    return capstone.load_task("surnames")


@functools.lru_cache(maxsize=1)
def surname_baseline() -> float:
    """Test accuracy of the capstone's linear baseline on the surnames (TF-IDF of character
    uni+bigrams, C chosen on the validation split)."""
    from course_utils import capstone

    return capstone.run(surname_task(), "tfidf").metric


def surname_target() -> tuple[float, float]:
    """``(target, reference)``: the linear baseline (TF-IDF of character uni+bigrams) scores
    ``reference`` on the test names (its mean over the committed record's seeds; it does not
    depend on the seed). The target is that minus two standard errors of one test accuracy
    (sqrt(p (1 - p) / N)): a model whose mean over the seeds reaches it cannot be told apart from
    the bag of character bigrams on this test set."""
    from course_utils import capstone

    reference = capstone.spreads(capstone.load_record())[("surnames", "tfidf")].mean
    n = len(surname_task().y_test)
    return reference - 2 * math.sqrt(reference * (1 - reference) / n), reference


def validate_training(training, n_fit: int):
    """A capstone ``Config`` from the learner's training dict, or None and the reason."""
    from course_utils.capstone import Config

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

    rules = [("epochs", 1, SURNAME_MAX_EPOCHS, True, False), ("lr", 1e-6, 1.0, False, False),
             ("batch_size", 1, 4096, True, False), ("clip", 1e-6, 1e6, False, True),
             ("weight_decay", 0.0, 1.0, False, True), ("patience", 1, SURNAME_MAX_EPOCHS,
                                                       True, True)]
    defaults = {"clip": None, "weight_decay": 0.0, "patience": None}
    for key, low, high, integer, allow_none in rules:
        if key not in kw and key in defaults:
            kw[key] = defaults[key]
        if key not in kw:
            return None, f"the training dict needs `{key}`"
        problem = number(key, low, high, integer, allow_none)
        if problem:
            return None, problem
    steps = int(kw["epochs"]) * math.ceil(n_fit / int(kw["batch_size"]))
    if steps > SURNAME_MAX_STEPS:
        return None, (f"over budget: {kw['epochs']} epochs of {math.ceil(n_fit / kw['batch_size'])}"
                      f" batches are {steps} optimiser steps, the budget is {SURNAME_MAX_STEPS}. "
                      "Use fewer epochs or a larger batch.")
    cfg = Config(epochs=int(kw["epochs"]), lr=float(kw["lr"]), batch_size=int(kw["batch_size"]),
                 clip=None if kw["clip"] is None else float(kw["clip"]),
                 weight_decay=float(kw["weight_decay"] or 0.0),
                 patience=None if kw["patience"] is None else int(kw["patience"]))
    return cfg, ""


def shape_problem(out, batch: int, n_classes: int, length: int) -> str:
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


class LearnerError(Exception):
    """The learner's code is unusable; ``status`` and the message say why."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def train_surname_model(fn, seed: int = 0, task=None):
    """Build, check and train the learner's model exactly as the checker does; return the
    capstone ``Result`` (``result.metric`` is the test accuracy, ``result.history.test_metric``
    the validation accuracy after every epoch). Raises :class:`LearnerError` when the answer
    is unusable. Call it in the notebook to reproduce the checker's number for one seed."""
    import torch
    from torch import nn

    from course_utils import capstone
    from course_utils.training import count_parameters

    task = task or surname_task()
    torch.manual_seed(seed)
    try:
        built = fn(task.vocab_size, task.n_outputs)
    except NotImplementedError:
        raise LearnerError(NOT_ATTEMPTED, "not attempted yet: replace the `raise "
                           "NotImplementedError` line with your code, then run this cell "
                           "again.") from None
    except Exception as exc:  # noqa: BLE001 - the learner's bug is reported, not raised
        raise LearnerError(FAILED, f"your function raised {type(exc).__name__}: {exc}"
                           f"{learner_frame(exc)}") from None
    if built is None:
        raise LearnerError(FAILED, "your function returned None; did you forget a "
                           "`return (model, training)`?")
    if isinstance(built, nn.Module):
        raise LearnerError(FAILED, "return a pair (model, training): the model and a dict "
                           "such as {'epochs': 8, 'lr': 5e-3, 'batch_size': 128}")
    if not isinstance(built, (tuple, list)) or len(built) != 2:
        raise LearnerError(FAILED, f"expected a pair (model, training), got "
                           f"{type(built).__name__}")
    model, training = built
    if not isinstance(model, nn.Module):
        raise LearnerError(FAILED, f"the first value must be a torch nn.Module, got "
                           f"{type(model).__name__}")
    if not any(isinstance(m, (nn.GRU, nn.GRUCell)) for m in model.modules()):
        raise LearnerError(FAILED, "the model has no nn.GRU (or nn.GRUCell) inside; this "
                           "exercise is about a GRU classifier")
    n_fit = len(task.validation_split()[0])
    config, problem = validate_training(training, n_fit)
    if config is None:
        raise LearnerError(FAILED, problem)
    params = count_parameters(model)
    if params > SURNAME_MAX_PARAMS:
        raise LearnerError(FAILED, f"over budget: {params:,} parameters, the budget is "
                           f"{SURNAME_MAX_PARAMS:,}. Use a smaller embedding or hidden state.")
    model = model.cpu()
    length = task.x_train.shape[1]
    with torch.random.fork_rng(devices=[]):   # the probe leaves the random stream untouched
        try:
            model.eval()
            with torch.no_grad():
                out = model(torch.as_tensor(task.x_train[:5]))
        except Exception as exc:  # noqa: BLE001
            raise LearnerError(FAILED, f"calling your model on a batch of token ids, int64 "
                               f"shape (5, {length}), raised {type(exc).__name__}: {exc}"
                               f"{learner_frame(exc)}") from None
    problem = shape_problem(out, 5, task.n_outputs, length)
    if problem:
        raise LearnerError(FAILED, problem)
    try:
        return capstone.train_model(task, model, config, name="surname_gru", seed=seed,
                                    threads=1)
    except Exception as exc:  # noqa: BLE001
        raise LearnerError(FAILED, f"training raised {type(exc).__name__}: {exc}"
                           f"{learner_frame(exc)}") from None


def describe_run(r, seed: int) -> str:
    """One line per seed: test accuracy, the tested epoch, the validation curve."""
    curve = " ".join(f"{100 * v:.1f}" for v in r.history.test_metric)
    return (f"  seed {seed}: test {100 * r.metric:.1f} % (weights of epoch {r.best_epoch}, "
            f"validation {100 * r.val_metric:.1f} %); validation by epoch: {curve}")


def check_surname_model(fn, *, seeds=SURNAME_SEEDS, target: float | None = None,
                        task=None) -> tuple[str, str]:
    """Run :func:`train_surname_model` for every seed and judge the mean test accuracy.

    Returns ``(status, message)``; never raises because of the learner's code.
    """
    from torch import nn

    task = task or surname_task()
    reference = None
    if target is None:
        target, reference = surname_target()
    runs = []
    for seed in seeds:
        try:
            runs.append(train_surname_model(fn, seed=seed, task=task))
        except LearnerError as err:
            return err.status, err.message
        if runs[-1].diverged:
            return FAILED, ("training diverged (the loss became NaN or infinite) with seed "
                            f"{seed}; lower the learning rate or set `clip`")
    accs = [r.metric for r in runs]
    mean = sum(accs) / len(accs)
    net = runs[0].model_object
    drop = sorted({m.p for m in net.modules() if isinstance(m, nn.Dropout)})
    steps = runs[0].history.steps
    what = (f"what ran: seeds {', '.join(map(str, seeds))} (torch.manual_seed before building "
            f"the model; the same seed orders the mini-batches), 1 thread, Adam, "
            f"{runs[0].params:,} parameters, dropout {drop or 'none'}, "
            f"{steps} optimiser steps in the first run (budget {SURNAME_MAX_STEPS}); "
            f"validation = {len(task.validation_split()[1])} training names held out, "
            f"test = {len(task.y_test)} names, tested once per seed")
    base_txt = "" if reference is None else (
        f" = the linear baseline's {100 * reference:.1f} % minus 2 standard errors of a test "
        "accuracy")
    lines = [describe_run(r, s) for r, s in zip(runs, seeds, strict=True)]
    head = (f"mean test accuracy {100 * mean:.1f} % over {len(seeds)} seeds "
            f"(target {100 * target:.1f} %{base_txt})")
    body = "\n".join(lines + ["  " + what])
    if mean < target:
        return FAILED, (f"too weak: {head}.\n{body}\nIf the validation curve still rises at the "
                        "last epoch, train longer; if it peaked early, regularise (dropout, "
                        "weight decay) or lower the learning rate. A bidirectional GRU and "
                        "pooling the states over time help most.")
    return PASSED, f"{head}.\n{body}"


@design_checker
def surname_gru(fn, target: float | None = None, seeds=SURNAME_SEEDS) -> CheckResult:
    """Check ``fn(vocab_size, n_classes) -> (model, training)`` on the surnames.

    ``model`` is a torch module with an ``nn.GRU`` inside that maps int64 character ids (B, L),
    padded with 0 at the front, to logits (B, n_classes); ``training`` is a dict of settings
    for ``capstone.train_model``: ``epochs``, ``lr``, ``batch_size`` and optionally ``clip``,
    ``weight_decay``, ``patience``. For each seed of ``SURNAME_SEEDS`` the checker runs
    :func:`train_surname_model` (seeded build, one thread, epochs chosen on the validation
    split, test once) and passes when the mean test accuracy reaches ``target`` (default:
    :func:`surname_target`, the linear baseline's level within two standard errors). The budget
    is ``SURNAME_MAX_STEPS`` optimiser steps and ``SURNAME_MAX_PARAMS`` parameters, the same on
    every machine.
    """
    try:
        status, message = check_surname_model(fn, seeds=seeds, target=target)
    except Exception as exc:  # noqa: BLE001 - a checker never raises at the learner
        status, message = FAILED, f"the checker could not run your model: {exc!r}"
    return report(CheckResult("surname_gru", status, message))

