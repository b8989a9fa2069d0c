"""Looking inside trained gated networks (chapters 06 and 07).

A gate is a *design intention*: nothing forces a trained network to use its input gate as an
input gate. This module holds what the chapters need to measure what trained LSTMs and GRUs
actually do, rather than assert it from theory:

- :func:`lstm_trace` / :func:`gru_trace`: every state and gate of a trained PyTorch model,
  recomputed with the course's NumPy code (:mod:`course_utils.scratch`);
- :func:`erasure_scores` / :func:`memory_units`: a causal test of which units *store* the
  memory (erase one unit in the middle of a stretch of irrelevant input; does the answer die?);
- :func:`gate_means`: mean gate values per kind of step, for chosen units;
- :func:`lstm_step_jacobians` / :func:`lstm_state_gradient_norms`: the full Jacobian of an LSTM
  step and the size of ``dc_T / dc_k`` along all paths, next to the cell path ``diag(f)``;
- :func:`cell_retention` / :func:`bias_for_retention`: how much of a stored value a forget
  bias keeps over a number of steps, measured on a one-unit LSTM (a "predict, then run"
  exercise of chapter 06);
- :func:`train_until`: the shared :func:`course_utils.training.fit` with a stop rule: train until
  a validation metric reaches a target (the long-range showdown);
- figures: :func:`plot_gate_trace`, :func:`plot_gate_histograms`.

The task these measurements were built for, a memory task whose irrelevant steps look exactly
like the important ones except for a marker bit, is :func:`course_utils.tasks.marked_memory_task`.

Layout (CONTRIBUTING's "one layout" rule: the generators in :mod:`course_utils.tasks` and the
PyTorch models are batch-first, the NumPy reference code is time-major). The functions here
recompute the network with :mod:`course_utils.scratch`, so they are time-major like it:

- real-valued input ``x``: **time-major floats (T, N, D)**, D the model's input size; convert a
  generator's batch-first ``(N, T, D)`` with ``course_utils.tasks.to_time_major``;
- token input for a model with an embedding: int ids **(N, T)**, batch-first as the generators
  and the embedding produce them (there is no time-major token array anywhere in the course);
- states ``(N, H)``; traces ``(T, N, H)``; ``kind`` arrays ``(T, N)``; ``target`` ``(N,)``.

:func:`lstm_trace`, :func:`gru_trace` and :func:`erasure_scores` check ``x`` against the model's
input size and ``target``'s length, and name the expected layout when it does not fit. One case
no check can see: batch-first float input with N == T has the right shape and is read wrongly.
"""

from __future__ import annotations

import numpy as np

from course_utils import scratch, training
from course_utils.tasks import FIRST_WRITE, IRRELEVANT, REPLACING_WRITE

# Names of the kinds of step of ``tasks.marked_memory_task`` (its ``kind`` array).
STEP_KINDS = {IRRELEVANT: "irrelevant", FIRST_WRITE: "first write",
              REPLACING_WRITE: "replacing write"}


# ---------------------------------------------------------------------------------------------
# Traces: a trained model's states and gates, recomputed with the scratch code
# ---------------------------------------------------------------------------------------------


def _recurrent_input(model, x, n_sequences: int | None = None):
    """The time-major float64 input (T, N, D) that ``model.rnn`` sees, after checking ``x``.

    x: time-major float input (T, N, D) for a real-valued model, or int tokens (N, T) for a
    model with an embedding (then the embedding is applied). ``n_sequences``: N, if known (the
    length of the target), checked against x.
    """
    import torch

    x = np.asarray(x)
    if getattr(model, "embed", None) is not None:
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"x: a model with an embedding reads int token ids, batch-first "
                             f"(N, T); got a {x.dtype} array of shape {x.shape}")
        with torch.no_grad():
            emb = model.embed(torch.as_tensor(x))
        xs = emb.transpose(0, 1).double().cpu().numpy()
    else:
        D = model.rnn.input_size
        if x.ndim != 3 or x.shape[2] != D:
            raise ValueError(f"x: expected time-major floats (T, N, D) with D = {D} (the model's "
                             f"input size), got shape {x.shape}; convert batch-first (N, T, D) "
                             f"data with course_utils.tasks.to_time_major")
        xs = np.asarray(x, dtype=np.float64)
    if n_sequences is not None and xs.shape[1] != n_sequences:
        got = "(N, T) tokens" if getattr(model, "embed", None) is not None else "(T, N, D) x"
        raise ValueError(f"{got} holds {xs.shape[1]} sequences but target has {n_sequences}; "
                         f"float input is time-major (T, N, D), tokens batch-first (N, T)")
    return xs


def lstm_trace(model, x) -> dict:
    """States and gates of a trained LSTM ``RecurrentModel`` on ``x``, from the scratch code.

    x: time-major (T, B, D) floats, or (B, T) tokens for a model with an embedding.
    Returns a dict of float64 (T, B, H) arrays: ``h``, ``c`` and the gates ``i``, ``f``, ``g``,
    ``o`` (post-activation), plus ``x`` (the recurrent input, (T, B, D)).
    """
    xs = _recurrent_input(model, x)
    p = scratch.params_from_torch(model.rnn)
    B, H = xs.shape[1], p["weight_hh"].shape[1]
    zero = np.zeros((B, H))
    h_all, c_all, cache = scratch.lstm_forward(xs, zero, zero, p)
    out = {"h": h_all, "c": c_all, "x": xs}
    out.update({k: np.array(v) for k, v in scratch.gate_activations(cache).items()})
    return out


def gru_trace(model, x) -> dict:
    """States and gates of a trained GRU ``RecurrentModel``: float64 (T, B, H) arrays ``h``,
    ``r``, ``z`` (PyTorch's convention: the share of the OLD state kept), ``n``, plus ``x``."""
    xs = _recurrent_input(model, x)
    p = scratch.params_from_torch(model.rnn)
    B, H = xs.shape[1], p["weight_hh"].shape[1]
    h_all, cache = scratch.gru_forward(xs, np.zeros((B, H)), p)
    out = {"h": h_all, "x": xs}
    out.update({k: np.array(v) for k, v in scratch.gate_activations(cache).items()})
    return out


def head_outputs(model, h_last) -> np.ndarray:
    """The model's linear head applied in NumPy to final states (B, H): logits (B, C) or, for
    one output, predictions (B,)."""
    W = model.head.weight.detach().double().cpu().numpy()
    b = model.head.bias.detach().double().cpu().numpy()
    out = h_last @ W.T + b
    return out[:, 0] if out.shape[1] == 1 else out


def _score(model, h_last, target, task):
    out = head_outputs(model, h_last)
    if task == "classification":
        return float(np.mean(out.argmax(-1) == target))
    return float(np.mean((out - target) ** 2))


def erasure_scores(model, x, target, t0: int, *, task: str = "classification", groups=None,
                   also_hidden: bool = False):
    """Which units store the memory? Erase units at step ``t0`` and score the answer.

    The model reads ``x[:t0]``; then the memory of unit j is set to 0 (the cell ``c[:, j]`` of
    an LSTM, the state ``h[:, j]`` of a GRU) and the model reads the rest, ``x[t0:]``. A unit
    that merely *recomputes* the answer from the other units at every step recovers; a unit
    that *stores* it cannot, and the answer is lost. Choose ``t0`` inside a stretch of
    irrelevant input (after the last important step).

    x: time-major (T, B, D) floats (or (B, T) tokens for an embedding model); target: (B,)
    labels (classification, scored by accuracy) or values (regression, scored by MSE).
    groups: None erases one unit at a time; a list of unit-index sequences erases each group's
    units *jointly* (an empty group erases nothing), which tells redundant storage (every unit
    alone is dispensable, the group is not) from units that carry nothing.
    also_hidden: for an LSTM, erase the units' hidden state ``h[:, j]`` as well as their cell (by
    default only the cell is erased, and the unchanged ``h_{t0}`` can write part of it back).
    Returns ``(base, erased)``: the score without erasure and an array with one score per unit
    (shape (H,)) or per group (shape (len(groups),)).
    """
    if task not in ("classification", "regression"):
        raise ValueError("task must be 'classification' or 'regression'")
    target = np.asarray(target)
    xs = _recurrent_input(model, x, n_sequences=len(target))
    p = scratch.params_from_torch(model.rnn)
    B, H = xs.shape[1], p["weight_hh"].shape[1]
    if not 0 < t0 < xs.shape[0]:
        raise ValueError(f"t0 must lie inside the sequence, 0 < t0 < {xs.shape[0]}")
    if groups is None:
        groups = [[j] for j in range(H)]
    groups = [np.asarray(g, dtype=int).reshape(-1) for g in groups]
    if any(((g < 0) | (g >= H)).any() for g in groups):
        raise ValueError(f"unit indices must lie in 0 .. {H - 1}")
    zero = np.zeros((B, H))
    erased = np.empty(len(groups))
    if model.kind == "lstm":
        h_a, c_a, _ = scratch.lstm_forward(xs[:t0], zero, zero, p)
        h_full, _, _ = scratch.lstm_forward(xs[t0:], h_a[-1], c_a[-1], p)
        for k, units in enumerate(groups):
            c0, h0 = c_a[-1].copy(), h_a[-1].copy()
            c0[:, units] = 0.0
            if also_hidden:
                h0[:, units] = 0.0
            h_b, _, _ = scratch.lstm_forward(xs[t0:], h0, c0, p)
            erased[k] = _score(model, h_b[-1], target, task)
    elif model.kind == "gru":
        h_a, _ = scratch.gru_forward(xs[:t0], zero, p)
        h_full, _ = scratch.gru_forward(xs[t0:], h_a[-1], p)
        for k, units in enumerate(groups):
            h0 = h_a[-1].copy()
            h0[:, units] = 0.0
            h_b, _ = scratch.gru_forward(xs[t0:], h0, p)
            erased[k] = _score(model, h_b[-1], target, task)
    else:
        raise ValueError("erasure_scores needs an LSTM or GRU RecurrentModel")
    return _score(model, h_full[-1], target, task), erased


def memory_units(base: float, erased, min_effect: float, *,
                 higher_is_better: bool = True) -> np.ndarray:
    """Units whose erasure worsens the score by at least ``min_effect``, worst damage first.

    For accuracy (``higher_is_better``) the damage is ``base - erased``; for an error such as
    the MSE it is ``erased - base``.
    """
    damage = (base - np.asarray(erased)) if higher_is_better else (np.asarray(erased) - base)
    units = np.nonzero(damage >= min_effect)[0]
    return units[np.argsort(-damage[units], kind="stable")]


def after_first_write(kind) -> np.ndarray:
    """bool (T, B): steps at or after the first important step (a memory exists to keep)."""
    return np.cumsum(np.asarray(kind) > 0, axis=0) >= 1


def _kind_masks(kind, names) -> dict:
    kind = np.asarray(kind)
    return {name: ((kind == code) & after_first_write(kind)) if code == IRRELEVANT
            else kind == code for code, name in names.items()}


def gate_means(trace: dict, kind, units, gates=("i", "f"), names=None) -> dict:
    """Mean activation of each gate in ``gates``, over ``units``, per kind of step.

    kind: (T, B) integer codes, by default those of ``tasks.MarkedMemoryTask`` (``IRRELEVANT``,
    ``FIRST_WRITE``, ``REPLACING_WRITE``); ``names`` maps codes to names (default
    ``STEP_KINDS``). Irrelevant steps (code 0) count only *after* the first important step:
    before it there is no memory that a gate could keep or lose. Returns ``{gate: {name: mean}}``
    of Python floats (NaN if a kind never occurs).
    """
    units = np.atleast_1d(np.asarray(units, dtype=int))
    masks = _kind_masks(kind, STEP_KINDS if names is None else names)
    out = {}
    for g in gates:
        vals = trace[g][..., units]  # (T, B, k)
        out[g] = {name: float(vals[m].mean()) if m.any() else float("nan")
                  for name, m in masks.items()}
    return out


# ---------------------------------------------------------------------------------------------
# Gradients through the LSTM: the cell path and all paths
# ---------------------------------------------------------------------------------------------


def lstm_step_jacobians(p: dict, x, h0=None, c0=None):
    """Full Jacobians of every LSTM step with respect to the previous state (h, c).

    p: parameters (PyTorch layout); x: (T, D) one sequence. Returns ``(J, f)``: J float64
    (T, 2H, 2H) with ``J[t-1] = d(h_t, c_t) / d(h_{t-1}, c_{t-1})`` (state ordered h then c),
    and the forget gates f (T, H). The block ``J[:, H:, H:]`` is ``diag(f_t)``: the cell path.

    Derivation (a = the stacked pre-activations, ``da/dh_{t-1} = W_hh``):
    ``dc_t/dc_{t-1} = diag(f)``,
    ``dc_t/dh_{t-1} = diag(c_{t-1} f(1-f)) W_hf + diag(g i(1-i)) W_hi + diag(i (1-g^2)) W_hg``,
    ``dh_t/d(.) = diag(tanh(c_t) o(1-o)) da_o/d(.) + diag(o (1-tanh^2 c_t)) dc_t/d(.)``.
    """
    x = np.asarray(x, dtype=np.float64)
    W_hh = np.asarray(p["weight_hh"], dtype=np.float64)
    H = W_hh.shape[1]
    h = np.zeros(H) if h0 is None else np.asarray(h0, dtype=np.float64)
    c = np.zeros(H) if c0 is None else np.asarray(c0, dtype=np.float64)
    W_hi, W_hf, W_hg, W_ho = (W_hh[k * H:(k + 1) * H] for k in range(4))
    T = x.shape[0]
    J = np.zeros((T, 2 * H, 2 * H))
    fs = np.empty((T, H))
    for t in range(T):
        gates = scratch.lstm_gates(x[t][None], h[None], p)
        i, f, g, o = (gates[k][0] for k in scratch.LSTM_GATE_NAMES)
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        dc_dh = ((c * f * (1 - f))[:, None] * W_hf + (g * i * (1 - i))[:, None] * W_hi
                 + (i * (1 - g * g))[:, None] * W_hg)
        dc_dc = np.diag(f)
        through_c = (o * (1 - tc * tc))[:, None]
        J[t, :H, :H] = (tc * o * (1 - o))[:, None] * W_ho + through_c * dc_dh
        J[t, :H, H:] = through_c * dc_dc
        J[t, H:, :H] = dc_dh
        J[t, H:, H:] = dc_dc
        fs[t] = f
        h, c = o * tc, c_new
    return J, fs


def lstm_state_gradient_norms(J):
    """``||dc_T / dc_k||_2`` along ALL paths, for k = 0 .. T, from :func:`lstm_step_jacobians`.

    Multiplies the full step Jacobians (T, 2H, 2H) from the last step backwards and takes the
    spectral norm of the (c, c) block of every partial product. Returns (T + 1,) float64
    indexed by k (``out[T] = 1``); reverse it to index by the lag T - k.
    """
    J = np.asarray(J, dtype=np.float64)
    T, H2 = J.shape[0], J.shape[1]
    H = H2 // 2
    P = np.eye(H2)
    out = np.empty(T + 1)
    out[T] = 1.0
    for t in range(T, 0, -1):
        P = P @ J[t - 1]
        out[t - 1] = np.linalg.norm(P[H:, H:], 2)
    return out


# ---------------------------------------------------------------------------------------------
# How long a forget bias keeps a stored value ("predict, then run" of chapter 06)
# ---------------------------------------------------------------------------------------------


def bias_only_lstm(forget_bias: float, input_size: int = 1) -> dict:
    """Parameters (PyTorch layout, float64) of a one-unit LSTM whose weights are all zero.

    Every gate then sees only its bias: the forget gate is sigma(``forget_bias``) at every step,
    the input gate is shut (bias -40, sigma = 4e-18) and the candidate is tanh(0) = 0, so nothing
    is written; the output gate is open (bias 40). The bias sits in ``bias_ih``; ``bias_hh`` is 0,
    so ``forget_bias`` is the effective bias b_if + b_hf.
    """
    bias = np.array([-40.0, forget_bias, 0.0, 40.0])
    return {"weight_ih": np.zeros((4, input_size)), "weight_hh": np.zeros((4, 1)),
            "bias_ih": bias, "bias_hh": np.zeros(4)}


def cell_retention(forget_bias: float, steps: int, seed: int = 0) -> float:
    """Share of a stored value left in the cell after ``steps`` steps of :func:`bias_only_lstm`.

    Runs ``scratch.lstm_forward`` from c_0 = 1 (the stored value) and h_0 = 0 on ``steps`` seeded
    random inputs (the zero weights ignore them) and returns c_steps, a Python float in [0, 1].
    """
    x = np.random.default_rng(seed).standard_normal((steps, 1, 1))
    _, c_all, _ = scratch.lstm_forward(x, np.zeros((1, 1)), np.ones((1, 1)),
                                       bias_only_lstm(float(forget_bias)))
    return float(c_all[-1, 0, 0])


def bias_for_retention(share: float = 0.5, steps: int = 50, *, lo: float = -20.0,
                       hi: float = 40.0) -> float:
    """The effective forget bias b at which :func:`cell_retention` (b, steps) equals ``share``.

    Found by bisection on the experiment (the retention grows with b), to about 1e-9; a
    Python float. (Its value for the chapter's question is the answer of a "predict, then run"
    exercise, so it is not quoted here.)
    """
    for _ in range(60):
        mid = (lo + hi) / 2
        if cell_retention(mid, steps) < share:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# ---------------------------------------------------------------------------------------------
# Training until a target is reached
# ---------------------------------------------------------------------------------------------


def train_until(model, train, valid, *, target: float, max_epochs: int,
                task: str = "regression", seed: int = 0, **fit_kwargs):
    """``training.fit`` with a stop rule: train until the metric on ``valid`` reaches ``target``.

    A thin wrapper: one ``fit`` call (one optimiser, whose state carries over from epoch to
    epoch) for at most ``max_epochs`` epochs, stopped by ``training.reach(target)`` after the
    first epoch whose validation MSE is at most ``target`` (accuracy at least ``target`` for
    classification). ``valid`` is a validation split: keep the test set for one final
    evaluation. Returns fit's ``History``; ``history.test_metric`` holds the validation metric
    per epoch, ``history.epochs`` the epochs run and ``history.stopped`` why it stopped.
    """
    return training.fit(model, train, valid, task=task, epochs=max_epochs, seed=seed,
                        stop_when=training.reach(target), **fit_kwargs)


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def plot_gate_trace(trace: dict, seq: int, unit: int, values, marks, axes=None, *,
                    gates=("i", "f"), state: str = "c", title: str | None = None,
                    value_label: str = "value shown"):
    """Three aligned panels for one sequence and one unit.

    Top: the input value at every step (``values`` (T, B), numbers), marked steps (``marks``
    (T, B), bool) drawn large and outlined. Middle: the unit's gates (``gates``; input gate i and
    forget gate f by default; "z", "r" for a GRU). Bottom: the unit's memory (``state``: "c" for
    the LSTM's cell, "h" for a GRU). Marked steps are shaded in every panel. Returns the axes.
    """
    import matplotlib.pyplot as plt

    from course_utils.plotting import PALETTE

    if axes is None:
        _, axes = plt.subplots(3, 1, figsize=(9, 5.6), sharex=True,
                               gridspec_kw={"height_ratios": [1, 1.5, 1.3]})
    values, marks = np.asarray(values)[:, seq], np.asarray(marks)[:, seq].astype(bool)
    T = len(values)
    t = np.arange(1, T + 1)
    for ax in axes:
        for tm in t[marks]:
            ax.axvspan(tm - 0.5, tm + 0.5, color="#F0E442", alpha=0.35, lw=0)
    ax0, ax1, ax2 = axes
    integer = np.issubdtype(values.dtype, np.integer)
    colors = ([PALETTE[int(v) % len(PALETTE)] for v in values] if integer
              else [PALETTE[0]] * T)
    ax0.scatter(t[~marks], values[~marks], s=12, c=[colors[k] for k in np.nonzero(~marks)[0]],
                alpha=0.6)
    ax0.scatter(t[marks], values[marks], s=90, c=[colors[k] for k in np.nonzero(marks)[0]],
                edgecolors="black", linewidths=1.2, zorder=3)
    if integer:
        ax0.set_yticks(range(int(values.max()) + 1))
    ax0.set_ylabel(value_label)
    ax0.set_title(title or f"sequence {seq}, unit {unit}; marked (important) steps shaded")
    names = {"i": "input gate $i_t$", "f": "forget gate $f_t$", "o": "output gate $o_t$",
             "r": "reset gate $r_t$", "z": "update gate $z_t$ (share kept)"}
    styles = {"i": PALETTE[0], "f": PALETTE[3], "o": PALETTE[4], "r": PALETTE[2],
              "z": PALETTE[3]}
    for g in gates:
        ax1.plot(t, trace[g][:, seq, unit], marker=".", color=styles.get(g), label=names.get(g, g))
    ax1.set_ylim(-0.05, 1.05)
    ax1.set_ylabel("gate value")
    ax1.legend(loc="center right", ncol=len(gates))
    ax2.plot(t, trace[state][:, seq, unit], marker=".", color=PALETTE[7])
    ax2.axhline(0, color="#999999", lw=0.8)
    ax2.set_ylabel(f"${state}_t$ of unit {unit}")
    ax2.set_xlabel("step t")
    return axes


def plot_gate_histograms(trace: dict, kind, units, axes=None, gates=("i", "f")):
    """One histogram panel per gate: its values in ``units`` on irrelevant steps (after the
    first write) and on first / replacing writes, as densities on a shared [0, 1] axis."""
    import matplotlib.pyplot as plt

    from course_utils.plotting import PALETTE

    if axes is None:
        _, axes = plt.subplots(1, len(gates), figsize=(5 * len(gates), 3.4))
    axes = np.atleast_1d(axes)
    units = np.atleast_1d(np.asarray(units, dtype=int))
    masks = _kind_masks(kind, STEP_KINDS)
    bins = np.linspace(0, 1, 26)
    for ax, g in zip(axes, gates, strict=False):
        vals = trace[g][..., units]
        for (name, m), color in zip(masks.items(), (PALETTE[7], PALETTE[0], PALETTE[3]),
                                    strict=True):
            if m.any():
                ax.hist(vals[m].ravel(), bins=bins, density=True, histtype="step", lw=2,
                        color=color, label=name)
        ax.set_xlabel(f"gate value ${g}_t$")
        ax.set_ylabel("density")
        ax.set_yscale("log")
        ax.legend(loc="upper center")
    return axes
