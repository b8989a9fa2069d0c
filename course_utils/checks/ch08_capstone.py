"""Chapter 08 (capstone): parameter counts, the learner's GRU on the surnames."""

from __future__ import annotations

from course_utils.checking import Case, CheckResult, Diagnosis, report, run_check

# ---- parameter counts and the learner's GRU on the surnames


def param_count_reference(kind, input_dim, hidden):
    blocks = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    return blocks * hidden * (input_dim + hidden + 2)


def param_count_cases() -> list[Case]:
    sizes = [(64, 128), (3, 5), (1, 1), (300, 100), (7, 2), (2, 32)]
    return [Case((kind, d, h), f"{kind}, input_dim={d}, hidden={h}")
            for d, h in sizes for kind in ("rnn", "lstm", "gru")]


def param_count_wrong(variant: str):
    def wrong(kind, d, h):
        g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
        if variant == "one_bias":
            return g * h * (d + h + 1)
        if variant == "no_blocks":
            return h * (d + h + 2)
        if variant == "lstm_three":
            return {"rnn": 1, "lstm": 3, "gru": 3}[kind] * h * (d + h + 2)
        if variant == "no_recurrent":
            return g * h * (d + 2)
        return g * (h * d + h * h)  # no_bias
    return wrong


def recurrent_param_count(fn) -> CheckResult:
    """Check ``fn(kind, input_dim, hidden) -> int``: trainable scalars of a one-layer
    ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (kind "rnn", "lstm" or "gru") with both biases."""
    return run_check(
        "recurrent_param_count", fn, param_count_cases(), param_count_reference,
        arg_names=["kind", "input_dim", "hidden"], output_name="parameter count",
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
        ])


def surname_gru(fn, target: float | None = None, budget_seconds: float | None = None
                ) -> CheckResult:
    """Check ``fn(vocab_size, n_classes) -> (model, training)`` on the surnames.

    ``model`` is a torch module with an ``nn.GRU`` inside that maps int64 character ids (B, L),
    padded with 0 at the front, to logits (B, n_classes); ``training`` is a dict of
    ``training.fit`` settings: ``epochs``, ``lr``, ``batch_size`` and optionally ``clip``,
    ``weight_decay``. The checker seeds PyTorch, builds the model, trains it on one thread with
    the capstone's recipe (``capstone.train_model``) and passes it when the test accuracy
    reaches ``target`` within ``budget_seconds`` of CPU time (defaults in ``capstone``).
    """
    from course_utils import capstone

    target = capstone.SURNAME_TARGET if target is None else target
    budget = capstone.SURNAME_BUDGET if budget_seconds is None else budget_seconds
    try:
        status, message = capstone.check_surname_model(fn, target=target, budget_seconds=budget)
    except Exception as exc:  # noqa: BLE001 - a checker never raises at the learner
        status, message = "failed", f"the checker could not run your model: {exc!r}"
    return report(CheckResult("surname_gru", status, message))
