"""Chapter 05's exercises: the precise stubs (what each stub promises is checked), the
"predict, then run" checker, and the design exercise with its measured target."""

import json

import numpy as np
import pytest
import torch

from course_utils import REPO_ROOT, pathologies, scratch
from course_utils.grading import checks
from course_utils.grading.checking import FAILED, NOT_ATTEMPTED, PASSED

# ---------------------------------------------------------------- clip_grad_norm: the stub's rule


def clip_torch_rule(grads, max_norm):
    """The stub's rule, written as PyTorch writes it (always multiply by the capped factor)."""
    total = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads.values())))
    factor = min(1.0, float(max_norm) / (total + 1e-6))
    return {k: g * factor for k, g in grads.items()}, total


def clip_only_above(grads, max_norm):
    """The other common reading: rescale by max_norm / n only when n > max_norm."""
    total = float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values())))
    factor = max_norm / total if total > max_norm else 1.0
    return {k: g * factor for k, g in grads.items()}, total


def test_clip_follows_torch_at_the_threshold():
    """The stated rule is PyTorch's: at n = max_norm the factor is c / (c + 1e-6) < 1."""
    g = np.array([3e-4, 4e-4])
    t = torch.tensor(g.copy())
    t.grad = t.clone()
    torch.nn.utils.clip_grad_norm_([t], 5e-4)
    clipped, total = clip_torch_rule({"w": g}, 5e-4)
    np.testing.assert_allclose(clipped["w"], t.grad.numpy(), rtol=1e-12)
    assert clipped["w"][0] < 0.999 * g[0]                  # scaled, although n = max_norm
    ref, _ = scratch.clip_grad_norm({"w": g}, 5e-4)
    np.testing.assert_allclose(ref["w"], t.grad.numpy(), rtol=1e-12)


def test_clip_checker_enforces_the_stated_rule(capsys):
    assert checks.clip_grad_norm(clip_torch_rule)
    result = checks.clip_grad_norm(clip_only_above)
    assert result.status == FAILED and "AT max_norm" in result.message
    assert "min(1, max_norm / (total_norm + 1e-6))" in result.message  # the hint names the rule


@pytest.mark.parametrize("variant, words", [
    ("numpy float32 norm", "Python float"),
    ("0-d array norm", "Python float"),
    ("input arrays returned", "new arrays"),
    ("float64 everywhere", "dtype"),
    ("list of arrays", "dict"),
    ("zero gradients give NaN", "non-finite"),
])
def test_clip_checker_enforces_types_and_edges(variant, words, capsys):
    def fn(grads, max_norm):
        clipped, total = clip_torch_rule(grads, max_norm)
        if variant == "numpy float32 norm":
            return clipped, np.float32(total)
        if variant == "0-d array norm":
            return clipped, np.array(total)
        if variant == "input arrays returned":
            return ({k: g if total <= max_norm else clipped[k] for k, g in grads.items()},
                    total)
        if variant == "float64 everywhere":
            return {k: g.astype(np.float64) for k, g in clipped.items()}, total
        if variant == "list of arrays":
            return list(clipped.values()), total
        return {k: g * (min(1.0, max_norm / total) if total else np.nan)
                for k, g in grads.items()}, total

    result = checks.clip_grad_norm(fn)
    assert result.status == FAILED, variant
    assert words in result.message, result.message


def test_clip_accepts_numpy_float64_norm(capsys):
    """np.float64 is a subclass of float: the stub's "Python float" accepts it."""
    assert checks.clip_grad_norm(lambda g, m: (lambda c, t: (c, np.float64(t)))(
        *clip_torch_rule(g, m)))


# ---------------------------------------------------------------- scale_to_spectral_radius


def radius_ok(W, rho):
    r = float(np.max(np.abs(np.linalg.eigvals(W))))
    if r == 0:
        raise ValueError("rho(W) = 0")
    return (W * (float(rho) / r)).astype(W.dtype)


def test_radius_zero_must_raise_value_error(capsys):
    assert checks.scale_to_spectral_radius(radius_ok)

    def returns_nan(W, rho):  # the natural omission: divide by the radius 0
        r = np.max(np.abs(np.linalg.eigvals(W)))
        return (W * (rho / r)).astype(W.dtype)

    result = checks.scale_to_spectral_radius(returns_nan)
    assert result.status == FAILED
    assert "rho(W) = 0" in result.message and "ValueError" in result.message
    assert "the stub says to raise ValueError here, but your function returned" in result.message

    def other_error(W, rho):
        r = np.max(np.abs(np.linalg.eigvals(W)))
        if r == 0:
            raise ZeroDivisionError("rho(W) = 0")
        return radius_ok(W, rho)

    result = checks.scale_to_spectral_radius(other_error)
    assert result.status == FAILED and "ZeroDivisionError" in result.message

    def unchanged(W, rho):
        return W.copy() if np.max(np.abs(np.linalg.eigvals(W))) == 0 else radius_ok(W, rho)

    assert checks.scale_to_spectral_radius(unchanged).status == FAILED


def test_radius_dtype_rule_with_numpy_rho(capsys):
    """float32 W with a NumPy float64 rho: NumPy 2 would promote W * rho to float64."""
    def promotes(W, rho):
        r = np.max(np.abs(np.linalg.eigvals(W)))
        if r == 0:
            raise ValueError
        return W * (rho / r.astype(W.dtype))  # float64 as soon as rho is np.float64

    result = checks.scale_to_spectral_radius(promotes)
    assert result.status == FAILED and "dtype" in result.message and "NumPy float64" in \
        result.message


def test_radius_must_return_a_new_array(capsys):
    def same_object(W, rho):
        out = radius_ok(W, rho)
        if np.isclose(np.max(np.abs(np.linalg.eigvals(W))), rho):
            return W
        W[...] = out  # modifies the input: reported by the in-place check
        return W

    result = checks.scale_to_spectral_radius(same_object)
    assert result.status == FAILED and ("new array" in result.message
                                        or "in place" in result.message)


def test_contract_wrapper_passes_not_callable_through(capsys):
    assert checks.scale_to_spectral_radius(None).status == FAILED
    assert "expected a function" in checks.clip_grad_norm(3).message


# ---------------------------------------------------------------- jacobian_norms: dtype rule


def test_jacobian_dtype_follows_h_all(capsys, no_own_work_guard):
    # the float64 variant reuses the course's function for brevity; a learner writes it by hand
    def float64_output(W, h_all):
        return pathologies.jacobian_norms(W.astype(np.float64), h_all.astype(np.float64))

    result = checks.jacobian_norms(float64_output)
    assert result.status == FAILED and "float32" in result.message


# ---------------------------------------------------------------- predict_weak_input_gradient


def test_prediction_experiment_value():
    value = pathologies.weak_input_gradient(0)
    assert isinstance(value, float)
    assert 0.98 * 0.9 ** 50 < value < 0.9 ** 50  # slightly below the linear value, as explained
    assert abs(value - 5.08e-3) < 0.01e-3        # the number shown in the solution notebook


def test_prediction_close_wrong_and_missing(capsys):
    assert checks.predict_weak_input_gradient(lambda: 0.9 ** 50).close is True
    assert checks.predict_weak_input_gradient(lambda: 5e-3).close is True
    assert checks.predict_weak_input_gradient(lambda: 1e-12).close is False  # "tanh shrinks it"
    assert checks.predict_weak_input_gradient(lambda: 1.0).close is False    # "orthogonal keeps"
    assert checks.predict_weak_input_gradient(lambda: 0.9 * 50).close is False

    def stub():
        raise NotImplementedError

    assert checks.predict_weak_input_gradient(stub).close is None


@pytest.mark.parametrize("garbage", [None, "small", float("nan"), [1e-3], True,
                                     lambda: 1 / 0, lambda: None, lambda: "5e-3"])
def test_prediction_never_raises(garbage, capsys):
    result = checks.predict_weak_input_gradient(garbage)
    assert result.close is None


def test_prediction_is_not_graded():
    from course_utils.grading.grade import is_graded

    assert not is_graded("predict_weak_input_gradient")
    assert is_graded("relu_rnn_init")


def test_prediction_is_read_before_the_experiment_runs(monkeypatch, capsys):
    """Issue 19, section 2: the experiment runs inside the checker, after the prediction."""
    order = []
    real = pathologies.weak_input_gradient
    monkeypatch.setattr(pathologies, "weak_input_gradient",
                        lambda seed=0: order.append("experiment") or real(seed))

    def prediction():
        order.append("prediction")
        return 5e-3

    assert checks.predict_weak_input_gradient(prediction).close is True
    assert order == ["prediction", "experiment"]


def test_no_text_gives_the_predicted_number():
    """No docstring or exercise text gives the measured value or names the experiment's
    function, and the chapter does not state the design's answer."""
    docs = [pathologies.weak_input_gradient.__doc__, checks.predict_weak_input_gradient.__doc__]
    for number in ("5.1e-3", "5.08", "5.07", "0.0050", "5.15e-3"):
        assert not any(number in d for d in docs), number
    for path in ("exercises/05_gradient_pathologies.ipynb",
                 "notebooks/05_gradient_pathologies.ipynb"):
        cells = json.loads((REPO_ROOT / path).read_text())["cells"]
        text = "".join("".join(c["source"]) for c in cells)
        assert "weak_input_gradient" not in text.replace("predict_weak_input_gradient", ""), path
    chapter_path = REPO_ROOT / "notebooks/05_gradient_pathologies.ipynb"
    chapter = json.loads(chapter_path.read_text())["cells"]
    assert not any("W_{hh} = I" in "".join(c["source"]) for c in chapter)


# ---------------------------------------------------------------- relu_rnn_init (design)


def identity_start(rnn):
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.eye(rnn.hidden_size))
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()


def identity_default_biases(rnn):
    """The obvious half-answer: W_hh = I, PyTorch's default biases kept."""
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.eye(rnn.hidden_size))


def test_design_solution_passes_each_seed_and_obvious_models_fail(capsys):
    """The checker trains with seeds 0, 1, 2 and needs the target on each.
    The solution passes every seed with a wide margin; PyTorch's default start fails at once,
    near the baseline; W_hh = I with the default biases passes seed 0 but misses seeds 1 and 2,
    so the hint's zero biases are needed."""
    assert pathologies.ADDING_SEEDS == (0, 1, 2)
    good = checks.relu_rnn_init(identity_start)
    assert good.status == PASSED, good.message
    for seed in pathologies.ADDING_SEEDS:
        mse = float(good.message.split(f" (seed {seed})")[0].rsplit(" ", 1)[-1])
        assert mse < 0.5 * pathologies.ADDING_TARGET, (seed, mse)         # measured 0.012-0.014

    naive = checks.relu_rnn_init(lambda rnn: None)
    assert naive.status == FAILED and naive.message.startswith("seed 0: test MSE")
    assert float(naive.message.split("test MSE ")[1].split(",")[0]) > 0.1  # measured 0.143

    half = checks.relu_rnn_init(identity_default_biases)
    assert half.status == FAILED and half.message.startswith("seed 1: test MSE"), half.message
    assert "seed 0 (MSE" in half.message                                   # met with seed 0
    half_mse = float(half.message.split("test MSE ")[1].split(",")[0])
    assert half_mse > pathologies.ADDING_TARGET                            # measured 0.068
    seed2 = pathologies.train_relu_rnn_adding(identity_default_biases, seed=2)["test_mse"]
    assert seed2 > 2 * pathologies.ADDING_TARGET                           # measured 0.166


def test_design_checker_is_marked_and_deterministic():
    assert checks.relu_rnn_init.design is True
    a = pathologies.train_relu_rnn_adding(identity_start, seed=0, steps=20)
    b = pathologies.train_relu_rnn_adding(identity_start, seed=0, steps=20)
    assert a["test_mse"] == b["test_mse"] and np.array_equal(a["losses"], b["losses"])


@pytest.mark.parametrize("bad, words", [
    ("not implemented", NOT_ATTEMPTED),
    ("assigns a tensor", "copy values into it in place"),
    ("no torch.no_grad", "torch.no_grad"),
    ("changes a shape", "not their shapes"),
    ("switches to tanh", "nonlinearity"),
    ("explodes", "diverged"),
    ("raises", "ZeroDivisionError"),
    ("not a function", "expected a function"),
])
def test_design_checker_never_raises(bad, words, capsys, monkeypatch):
    # a short recipe: these tests are about the reporting, not about learning
    monkeypatch.setitem(pathologies.ADDING_RECIPE, "steps", 30)

    def fn(rnn):
        if bad == "not implemented":
            raise NotImplementedError
        if bad == "assigns a tensor":
            rnn.weight_hh_l0 = torch.eye(32)
        if bad == "no torch.no_grad":
            rnn.weight_hh_l0.copy_(torch.eye(32))
        if bad == "changes a shape":
            rnn.bias_hh_l0.data = torch.zeros(5)
        if bad == "switches to tanh":
            rnn.nonlinearity = "tanh"
        if bad == "explodes":
            with torch.no_grad():
                rnn.weight_hh_l0.copy_(3 * torch.eye(32))
                rnn.bias_hh_l0.fill_(1.0)
        if bad == "raises":
            return 1 / 0

    result = checks.relu_rnn_init(5 if bad == "not a function" else fn)
    expected_status = NOT_ATTEMPTED if bad == "not implemented" else FAILED
    assert result.status == expected_status, result.message
    assert words in result.message or words == result.status, result.message
