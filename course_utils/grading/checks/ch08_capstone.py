"""Chapter 08 (capstone): parameter counts, the learner's GRU on the surnames."""

from __future__ import annotations

import numpy as np

from course_utils.capstone.runner import net_scores
from course_utils.capstone.surnames import (
    SURNAME_MAX_PARAMS,
    SURNAME_MAX_STEPS,
    SURNAME_SEEDS,
    SURNAME_TARGET,
    surname_task,
    train_surname_model,
)
from course_utils.errors import LEARNER_ERRORS, LearnerError
from course_utils.grading.checking import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    Case,
    CheckResult,
    Diagnosis,
    design_checker,
    report,
    run_check,
)
from course_utils.grading.checks.common import integer_promise

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
# The recipe, the budget and the training of one seed live in ``capstone.surnames`` (the notebook
# may call ``capstone.surnames.train_surname_model``, which reports validation only); the test
# accuracy is measured here, once per seed, after training.

def measure_test_accuracy(result, task=None) -> float:
    """The test accuracy of the weights ``train_surname_model`` kept: measured once, here."""
    task = task or surname_task()
    return float(np.mean(net_scores(task, result.model_object, task.x_test, task.y_test)))


def describe_run(r, seed: int, test: float | None = None) -> str:
    """One line per seed: the tested epoch, its validation accuracy, the validation curve, and
    the test accuracy only when given (the checker gives it once the model passes)."""
    curve = " ".join(f"{100 * v:.1f}" for v in r.history.test_metric)
    shown = "" if test is None else f"test {100 * test:.1f} % "
    return (f"  seed {seed}: {shown}(weights of epoch {r.best_epoch}, "
            f"validation {100 * r.val_metric:.1f} %); validation by epoch: {curve}")


def check_surname_model(fn, *, seeds=SURNAME_SEEDS, target: float | None = None,
                        task=None) -> tuple[str, str]:
    """Run :func:`train_surname_model` for every seed, measure each run's test accuracy once,
    and judge the mean over the seeds against ``target`` (default ``SURNAME_TARGET``).

    Returns ``(status, message)``; never raises because of the learner's code.
    """
    from torch import nn

    task = task or surname_task()
    target = SURNAME_TARGET if target is None else target
    runs, tests = [], []
    for seed in seeds:
        try:
            runs.append(train_surname_model(fn, seed=seed, task=task))
        except LearnerError as err:
            return (FAILED if err.attempted else NOT_ATTEMPTED), err.message
        if runs[-1].diverged:
            return FAILED, ("training diverged (the loss became NaN or infinite) with seed "
                            f"{seed}; lower the learning rate or set `clip`")
        tests.append(measure_test_accuracy(runs[-1], task))
    mean = sum(tests) / len(tests)
    net = runs[0].model_object
    drop = sorted({m.p for m in net.modules() if isinstance(m, nn.Dropout)})
    steps = runs[0].history.steps
    what = (f"what ran: seeds {', '.join(map(str, seeds))} (torch.manual_seed before building "
            f"the model; the same seed orders the mini-batches), 1 thread, Adam, "
            f"{runs[0].params:,} parameters (budget {SURNAME_MAX_PARAMS:,}), dropout "
            f"{drop or 'none'}, {steps} optimiser steps in the first run (budget "
            f"{SURNAME_MAX_STEPS}); validation = {len(task.validation_split()[1])} training "
            f"names held out, test = {len(task.y_test)} names, tested once per seed, here")
    if mean < target:
        lines = [describe_run(r, s) for r, s in zip(runs, seeds, strict=True)]
        body = "\n".join(lines + ["  " + what])
        return FAILED, (f"too weak: the mean test accuracy over {len(seeds)} seeds is below the "
                        f"target {100 * target:.1f} % (the test numbers are shown once you pass, "
                        f"so that you tune on validation).\n{body}\nIf the validation curve "
                        "still rises at the last epoch, train longer; if it peaked early, "
                        "regularise (dropout, weight decay) or lower the learning rate; if it "
                        "stays far below the linear baseline's level, check how the model reads "
                        "the padded names.")
    lines = [describe_run(r, s, a) for r, s, a in zip(runs, seeds, tests, strict=True)]
    head = (f"mean test accuracy {100 * mean:.1f} % over {len(seeds)} seeds "
            f"(target {100 * target:.1f} %)")
    return PASSED, f"{head}.\n" + "\n".join(lines + ["  " + what])


@design_checker
def surname_gru(fn, target: float | None = None, seeds=SURNAME_SEEDS) -> CheckResult:
    """Check ``fn(vocab_size, n_classes) -> (model, training)`` on the surnames.

    ``model`` is a torch module with an ``nn.GRU`` inside that maps int64 character ids (B, L),
    padded with 0 at the front, to logits (B, n_classes); ``training`` is a dict of settings
    for ``capstone.train_model``: ``epochs``, ``lr``, ``batch_size`` and optionally ``clip``,
    ``weight_decay``, ``patience``. For each seed of ``SURNAME_SEEDS`` the checker runs
    :func:`train_surname_model` (seeded build, one thread, epochs chosen on the validation
    split, test once) and passes when the mean test accuracy reaches ``target`` (default:
    ``SURNAME_TARGET``, a level that rejects a broken model; see ``capstone.surnames``). The budget
    is ``SURNAME_MAX_STEPS`` optimiser steps and ``SURNAME_MAX_PARAMS`` parameters, the same on
    every machine.
    """
    try:
        status, message = check_surname_model(fn, seeds=seeds, target=target)
    except LEARNER_ERRORS as exc:  # a checker never raises at the learner
        status, message = FAILED, f"the checker could not run your model: {exc!r}"
    return report(CheckResult("surname_gru", status, message))

