"""Chapter 06 (LSTM gating): one LSTM step, the gradient along the cell path."""

from __future__ import annotations

import numpy as np

from course_utils import scratch
from course_utils.checking import Case, CheckResult, Diagnosis, run_check
from course_utils.checks.common import step_cases
from course_utils.scratch import sigmoid

# ---- one LSTM step


def lstm_preactivations(x, h, p):
    z = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    return np.split(z, 4, axis=-1)


def lstm_wrong(variant: str):
    def wrong(x, h, c, p):
        if variant == "no_bias":
            zi, zf, zg, zo = np.split(x @ p["weight_ih"].T + h @ p["weight_hh"].T, 4, axis=-1)
        else:
            zi, zf, zg, zo = lstm_preactivations(x, h, p)
        if variant == "gate_order":  # i, f, o, g: a common layout in blog posts
            zg, zo = zo, zg
        i, f, g, o = sigmoid(zi), sigmoid(zf), np.tanh(zg), sigmoid(zo)
        if variant == "no_input_gate":
            i = np.ones_like(i)
        if variant == "one_minus_f":
            f = 1 - f
        c_new = f * c + i * g
        h_new = o * c_new if variant == "no_cell_tanh" else o * np.tanh(c_new)
        return h_new, c_new
    return wrong


def lstm_step(fn) -> CheckResult:
    """Check ``fn(x_t, h_prev, c_prev, p) -> (h_t, c_t)``; gate rows ordered i, f, g, o."""
    return run_check(
        "lstm_step", fn, step_cases(4, True, seed=6), scratch.lstm_step,
        arg_names=["x_t", "h_prev", "c_prev", "p"], output_name="(h_t, c_t)",
        diagnoses=[
            Diagnosis(lstm_wrong("gate_order"),
                      "PyTorch stacks the gate rows as i, f, g, o (input, forget, cell "
                      "candidate, output); you used i, f, o, g."),
            Diagnosis(lstm_wrong("no_cell_tanh"),
                      "the output is h_t = o * tanh(c_t): squash the cell before exposing it."),
            Diagnosis(lstm_wrong("no_input_gate"),
                      "the candidate g enters the cell through the input gate: c = f*c + i*g."),
            Diagnosis(lstm_wrong("one_minus_f"),
                      "f multiplies the old cell directly (f near 1 means KEEP); you used 1-f."),
            Diagnosis(lstm_wrong("no_bias"), "add both biases, bias_ih and bias_hh."),
        ])


# ---- the gradient along the LSTM's cell path


def cell_path_reference(f, dc_last):
    """out[k] = dc_last * f[k] * f[k+1] * ... * f[T-1]  (f[t] is the gate f_{t+1})."""
    f, dc_last = np.asarray(f), np.asarray(dc_last)
    T = f.shape[0]
    out = np.empty((T + 1, *dc_last.shape), dtype=f.dtype)
    out[T] = dc_last
    for k in range(T - 1, -1, -1):
        out[k] = out[k + 1] * f[k]
    return out


def cell_path_cases() -> list[Case]:
    rng = np.random.default_rng(60)

    def gates(shape, dtype, scale=2.0, shift=0.0):
        return sigmoid(shift + scale * rng.standard_normal(shape)).astype(dtype)

    cases = []
    for t, b, h, dtype in [(5, 3, 4, np.float64), (7, 2, 3, np.float32), (1, 2, 5, np.float64),
                           (6, 1, 1, np.float64), (4, 3, 2, np.float32)]:
        cases.append(Case((gates((t, b, h), dtype), rng.standard_normal((b, h)).astype(dtype)),
                          f"{np.dtype(dtype).name}, T={t}, B={b}, H={h}"))
    cases.append(Case((np.ones((5, 2, 3)), rng.standard_normal((2, 3))),
                      "every forget gate exactly 1: the gradient must arrive unchanged"))
    blocked = gates((6, 2, 3), np.float64)
    blocked[2, 0, 1] = 0.0
    cases.append(Case((blocked, rng.standard_normal((2, 3))),
                      "one forget gate exactly 0: nothing may pass that step"))
    cases.append(Case((gates((60, 2, 3), np.float64, scale=0.5, shift=5.0),
                       rng.standard_normal((2, 3))),
                      "60 steps with forget gates near 1 (a long memory)"))
    return cases


def cell_path_wrong(variant: str):
    def wrong(f, dc_last):
        f, dc_last = np.asarray(f), np.asarray(dc_last)
        T = f.shape[0]
        out = np.empty((T + 1, *dc_last.shape), dtype=f.dtype)
        out[T] = dc_last
        for k in range(T - 1, -1, -1):
            if variant == "one_minus":
                out[k] = out[k + 1] * (1 - f[k])
            elif variant == "shifted":  # skips the gate of step k+1
                out[k] = out[k + 1] * (f[k + 1] if k + 1 < T else 1.0)
            elif variant == "sum":
                out[k] = dc_last * f[k:].sum(axis=0)
            else:
                out[k] = out[k + 1] * f[k]
        if variant == "forward":  # products of the EARLY gates f_1 ... f_k
            prods = np.cumprod(np.concatenate([np.ones((1, *f.shape[1:])), f]), axis=0)
            out = (dc_last * prods).astype(f.dtype)
        if variant == "reversed":
            out = out[::-1]
        if variant == "no_last":
            out = out[:T]
        return out
    return wrong


def cell_path_gradient(fn) -> CheckResult:
    """Check ``fn(f, dc_last) -> dc``: the gradient along the LSTM's cell path.

    f : (T, B, H) forget gates, ``f[t-1]`` being f_t; dc_last : (B, H) = dE/dc_T.
    Returns (T + 1, B, H): ``dc[k] = dE/dc_k`` along the cell path only,
    ``dc_last * f_{k+1} * ... * f_T`` (elementwise), so ``dc[T] = dc_last``. Same dtype as f.
    """
    return run_check(
        "cell_path_gradient", fn, cell_path_cases(), cell_path_reference,
        arg_names=["f", "dc_last"], output_name="dc",
        diagnoses=[
            Diagnosis(cell_path_wrong("one_minus"),
                      "c_t = f_t * c_{t-1} + ...: the factor per step is f_t itself (f near 1 "
                      "keeps the gradient), not 1 - f_t."),
            Diagnosis(cell_path_wrong("shifted"),
                      "dc[k] needs the gates of steps k+1 .. T, i.e. f[k], f[k+1], ..., f[T-1] "
                      "(f[t-1] is f_t); you skipped one factor."),
            Diagnosis(cell_path_wrong("forward"),
                      "the gradient flows BACKWARD: dc[k] multiplies the gates of the steps "
                      "after k (f_{k+1} .. f_T), not the early ones."),
            Diagnosis(cell_path_wrong("reversed"),
                      "index k is the step the gradient arrives at: dc[T] = dc_last (nothing "
                      "multiplied yet) and dc[0] carries the product of all T gates."),
            Diagnosis(cell_path_wrong("no_last"),
                      "return T + 1 arrays, k = 0 .. T, including dc[T] = dc_last."),
            Diagnosis(cell_path_wrong("sum"),
                      "the cell update is additive, but the chain rule MULTIPLIES the step "
                      "derivatives: dc_{t-1} = dc_t * f_t."),
        ])
