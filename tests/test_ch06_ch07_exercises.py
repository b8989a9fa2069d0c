"""Chapters 06 and 07: the stubs' stated dtype rules and edge cases are what the
checkers test, and the "predict, then run" checkers measure what the solutions explain.

The implementations here are written independently of the checkers' references.
"""

import numpy as np
import pytest

from course_utils import REPO_ROOT, gates, scratch, wine
from course_utils.grading import checks
from course_utils.grading.checks import ch06_lstm, ch07_gru

sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731


# ---------------------------------------------------------------- the stated dtype rules
def lstm_in_dtype_of_x(x, h, c, p):
    dt = x.dtype
    a = x @ p["weight_ih"].T.astype(dt) + h.astype(dt) @ p["weight_hh"].T.astype(dt)
    a = a + (p["bias_ih"] + p["bias_hh"]).astype(dt)
    i, f, g, o = np.split(a, 4, axis=1)
    c_new = sig(f) * c.astype(dt) + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c_new), c_new


def lstm_promoted(x, h, c, p):
    """Right values, but NumPy's promotion decides the dtype (float64 with float64 parameters)."""
    a = x @ p["weight_ih"].T + h @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"]
    i, f, g, o = np.split(a, 4, axis=1)
    c_new = sig(f) * c + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c_new), c_new


def lstm_in_float64(x, h, c, p):
    """Always float64, even for float32 inputs."""
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    return lstm_promoted(x.astype(np.float64), h.astype(np.float64), c.astype(np.float64), p64)


def gru_in_dtype_of_x(x, h, p):
    dt = x.dtype
    q = {k: v.astype(dt) for k, v in p.items()}
    h = h.astype(dt)
    xr, xz, xn = np.split(x @ q["weight_ih"].T + q["bias_ih"], 3, axis=1)
    hr, hz, hn = np.split(h @ q["weight_hh"].T + q["bias_hh"], 3, axis=1)
    r, z = sig(xr + hr), sig(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def gru_promoted(x, h, p):
    xr, xz, xn = np.split(x @ p["weight_ih"].T + p["bias_ih"], 3, axis=1)
    hr, hz, hn = np.split(h @ p["weight_hh"].T + p["bias_hh"], 3, axis=1)
    r, z = sig(xr + hr), sig(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def test_steps_follow_the_stated_dtype_rule(capsys):
    assert checks.lstm_step(lstm_in_dtype_of_x)
    assert checks.gru_step(gru_in_dtype_of_x)
    for checker, fn in ((checks.lstm_step, lstm_promoted), (checks.gru_step, gru_promoted)):
        result = checker(fn)
        assert result.status == "failed"
        assert "mixed dtypes" in result.message and "dtype of x_t" in result.message
    assert not checks.lstm_step(lstm_in_float64)


def test_step_cases_cover_every_stated_edge_case():
    for cases in (ch06_lstm.lstm_step_cases(), ch07_gru.gru_step_cases()):
        text = " | ".join(c.description for c in cases)
        assert "mixed dtypes" in text and "H=1" in text and "B=1" in text
        assert "zero previous state" in text and "saturate" in text
        mixed = [c for c in cases if "mixed" in c.description][0]
        x, *rest, p = mixed.args
        assert x.dtype == np.float32 and all(a.dtype == np.float64 for a in rest)
        assert all(v.dtype == np.float64 for v in p.values())


def test_scratch_steps_state_the_same_rule():
    """The references obey the rule the stubs state (float32 x_t, float64 rest -> float32)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    for gates_n, step in ((4, scratch.lstm_step), (3, scratch.gru_step)):
        p = {"weight_ih": rng.standard_normal((gates_n * 2, 3)),
             "weight_hh": rng.standard_normal((gates_n * 2, 2)),
             "bias_ih": rng.standard_normal(gates_n * 2),
             "bias_hh": rng.standard_normal(gates_n * 2)}
        out = step(x, np.zeros((2, 2)), np.zeros((2, 2)), p) if gates_n == 4 else step(
            x, np.zeros((2, 2)), p)
        for o in (out if isinstance(out, tuple) else (out,)):
            assert o.dtype == np.float32


def cell_ok(f, dc_last):
    out = np.empty((f.shape[0] + 1, *dc_last.shape), dtype=f.dtype)
    out[-1] = dc_last
    for k in reversed(range(f.shape[0])):
        out[k] = out[k + 1] * f[k]
    return out


def cell_no_empty_case(f, dc_last):
    """Right for T >= 1, but breaks on T = 0 (``f[-1]`` of an empty array)."""
    out = [dc_last * f[-1]]
    for k in range(f.shape[0] - 2, -1, -1):
        out.append(out[-1] * f[k])
    return np.stack(out[::-1] + [dc_last]).astype(f.dtype)


def test_cell_path_gradient_dtype_rule_and_t_zero(capsys):
    assert checks.cell_path_gradient(cell_ok)
    promoted = checks.cell_path_gradient(
        lambda f, d: np.stack([d * np.prod(f[k:], axis=0) for k in range(f.shape[0] + 1)]))
    assert promoted.status == "failed" and "dtype of f" in promoted.message
    t_zero = checks.cell_path_gradient(cell_no_empty_case)
    assert t_zero.status == "failed" and "T = 0" in t_zero.message
    assert cell_ok(np.empty((0, 2, 3)), np.ones((2, 3))).shape == (1, 2, 3)


def flip_ok(p):
    H = p["weight_hh"].shape[1]
    sign = np.ones(3 * H)
    sign[H:2 * H] = -1
    return {k: (v * (sign[:, None] if v.ndim == 2 else sign)).astype(v.dtype)
            for k, v in p.items()}


def test_flip_update_gate_keeps_each_arrays_dtype(capsys):
    assert checks.flip_update_gate(flip_ok)
    one_dtype = checks.flip_update_gate(
        lambda p: {k: v.astype(np.result_type(*p.values())) for k, v in flip_ok(p).items()})
    assert one_dtype.status == "failed" and "mixed dtypes" in one_dtype.message
    assert "keeps the dtype" in one_dtype.message
    assert not checks.flip_update_gate(
        lambda p: {k: v.astype(np.float64) for k, v in flip_ok(p).items()})
    mixed = [c for c in ch07_gru.flip_z_cases() if "mixed" in c.description][0].args[0]
    assert {v.dtype for v in mixed.values()} == {np.dtype(np.float32), np.dtype(np.float64)}


# ---------------------------------------------------------------- predict, then run (ch06)
def test_retention_experiment_is_sigma_b_to_the_power_steps():
    for b, steps in ((0.0, 10), (2.0, 50), (4.0, 30)):
        assert gates.cell_retention(b, steps) == pytest.approx(sig(b) ** steps, rel=1e-12)
    b_half = gates.bias_for_retention(0.5, 50)
    f = 0.5 ** (1 / 50)
    assert b_half == pytest.approx(np.log(f / (1 - f)), abs=1e-6)
    assert round(b_half, 2) == 4.27  # the number the solution explains


def test_predict_forget_bias_close_far_and_unanswered(capsys):
    assert checks.predict_forget_bias(lambda: 4.3).close is True
    assert checks.predict_forget_bias(lambda: 4.0).close is True   # within 10 %
    assert checks.predict_forget_bias(lambda: 3.0).close is False  # "0.95 is near 1": 9 % kept
    assert checks.predict_forget_bias(lambda: 1.0).close is False  # Jozefowicz et al.'s default
    out = capsys.readouterr().out
    assert "4.27" in out and "keeps 50.0%" not in out and "keeps 8.8%" in out

    def stub():
        raise NotImplementedError

    assert checks.predict_forget_bias(stub).close is None


@pytest.mark.parametrize("garbage", [None, "4", float("nan"), float("inf"), 1e308, -1e308, True,
                                     lambda: 1 / 0, lambda: [4.27]])
def test_predict_checkers_never_raise(garbage, capsys):
    for checker in (checks.predict_forget_bias, checks.predict_wine_share):
        result = checker(garbage if callable(garbage) else (lambda g=garbage: g))
        assert result.close in (None, False, True)


# ---------------------------------------------------------------- predict, then run (ch07)
def test_wine_share_experiment_matches_the_blend():
    for z, steps in ((0.9, 10), (0.5, 3), (0.99, 90)):
        assert wine.new_wine_share(z, steps) == pytest.approx(1 - z ** steps, abs=1e-12)
    assert round(wine.new_wine_share(0.9, 10), 3) == 0.651  # the number the solution explains
    with pytest.raises(ValueError):
        wine.new_wine_share(1.0, 3)


def test_predict_wine_share_close_far_and_unanswered(capsys):
    assert checks.predict_wine_share(lambda: 1 - 0.9 ** 10).close is True
    assert checks.predict_wine_share(lambda: 0.65).close is True
    assert checks.predict_wine_share(lambda: 0.9 ** 10).close is False  # the old contents left
    assert checks.predict_wine_share(lambda: 1.0).close is False        # 10 pours of 10 %
    assert "0.651" in capsys.readouterr().out

    def stub():
        raise NotImplementedError

    assert checks.predict_wine_share(stub).close is None


def test_predictions_are_not_graded():
    from course_utils.grading.grade import is_graded

    assert not is_graded("predict_forget_bias") and not is_graded("predict_wine_share")
    assert "predict_forget_bias" in checks.__all__ and "predict_wine_share" in checks.__all__


# ------------------------------------------------------------- the prediction comes first
@pytest.mark.parametrize(("checker", "module", "experiment", "answer"), [
    (checks.predict_forget_bias, gates, "bias_for_retention", 4.3),
    (checks.predict_wine_share, wine, "new_wine_share", 0.65),
])
def test_the_experiment_runs_after_the_prediction(checker, module, experiment, answer,
                                                  monkeypatch, capsys):
    events = []
    real = getattr(module, experiment)

    def spy(*args, **kwargs):
        events.append("experiment")
        return real(*args, **kwargs)

    def predict():
        events.append("prediction")
        return answer

    monkeypatch.setattr(module, experiment, spy)
    assert checker(predict).close is True
    assert events[0] == "prediction" and events.count("prediction") == 1 and "experiment" in events


@pytest.mark.parametrize(("checker", "module", "experiment", "value"), [
    (checks.predict_forget_bias, gates, "bias_for_retention", "4.27"),
    (checks.predict_wine_share, wine, "new_wine_share", "0.651"),
])
def test_no_prediction_no_experiment_and_no_value(checker, module, experiment, value,
                                                  monkeypatch, capsys):
    def stub():
        raise NotImplementedError

    def must_not_run(*args, **kwargs):
        raise AssertionError("the experiment ran before there was a prediction")

    monkeypatch.setattr(module, experiment, must_not_run)
    result = checker(stub)
    out = capsys.readouterr().out
    assert result.close is None and result.actual is None
    assert "no prediction yet" in out and value not in out


def test_nothing_the_learner_reads_first_gives_the_predicted_numbers():
    import json
    texts = [ch06_lstm.__doc__, ch07_gru.__doc__, gates.__doc__, wine.__doc__,
             checks.predict_forget_bias.__doc__, checks.predict_wine_share.__doc__,
             gates.bias_for_retention.__doc__, gates.cell_retention.__doc__,
             gates.bias_only_lstm.__doc__, wine.new_wine_share.__doc__]
    for name in ("06_lstm_gating", "07_gru_wine_mixing"):
        for folder in ("notebooks", "exercises"):
            cells = json.loads((REPO_ROOT / folder / f"{name}.ipynb").read_text("utf-8"))["cells"]
            texts += ["".join(c["source"]) for c in cells]
        # the check cells of the predictions, in the solutions: the checker call and nothing else
        cells = json.loads((REPO_ROOT / "solutions" / f"{name}.ipynb").read_text("utf-8"))["cells"]
        check_cells = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
                       and "checks.predict_" in "".join(c["source"])]
        assert len(check_cells) == 1 and check_cells[0].count("\n") == 0, check_cells
    for text in texts:
        for number in ("4.27", "4.28", "0.651", "0.65 "):
            assert number not in (text or ""), (number, (text or "")[:80])
