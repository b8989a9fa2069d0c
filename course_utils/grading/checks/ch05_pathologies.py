"""Chapter 05 (gradient pathologies): clipping, spectral radius, Jacobian norms."""

from __future__ import annotations

import warnings

import numpy as np

from course_utils import pathologies, scratch
from course_utils.errors import LEARNER_ERRORS, learner_frame
from course_utils.grading.checking import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    Case,
    CheckResult,
    Diagnosis,
    PredictionResult,
    check_prediction,
    design_checker,
    report,
    run_check,
)

# ---- what the stubs promise beyond the values: return types, new arrays, raised errors


def shares_input(out, inputs) -> bool:
    """True when the array ``out`` is (a view of) one of the arrays ``inputs``."""
    return isinstance(out, np.ndarray) and any(
        isinstance(a, np.ndarray) and np.shares_memory(out, a) for a in inputs)

# ---- gradient clipping by global norm


def clip_cases() -> list[Case]:
    rng = np.random.default_rng(5)

    def grads(dtype, scale):
        return {"weight_ih": (scale * rng.standard_normal((4, 3))).astype(dtype),
                "weight_hh": (scale * rng.standard_normal((4, 4))).astype(dtype),
                "bias": (scale * rng.standard_normal(4)).astype(dtype)}

    g_big = grads(np.float64, 3.0)
    mixed = grads(np.float64, 3.0)
    mixed["weight_ih"] = mixed["weight_ih"].astype(np.float32)
    return [
        Case((g_big, 1.0), "float64 gradients with a norm far above max_norm: clip"),
        Case((grads(np.float32, 3.0), 2.5), "float32 gradients above max_norm: clip"),
        Case((grads(np.float64, 0.05), 5.0), "a norm below max_norm: leave them alone"),
        Case(({"w": np.array([3.0, 4.0]), "v": np.zeros((2, 2))}, 1.0),
             "a 3-4-5 triangle: total norm 5, and one all-zero gradient"),
        Case(({"w": (10 * rng.standard_normal((2, 3))).astype(np.float64)}, 0.5),
             "a single gradient array"),
        Case(({"a": np.zeros(3), "b": np.zeros((2, 2))}, 1.0), "all-zero gradients (norm 0)"),
        Case((mixed, 1.0), "float32 and float64 arrays in one dict: each keeps its own dtype"),
        Case(({"w": np.array([3e-4, 4e-4]), "b": np.zeros(2)}, 5e-4),
             "a norm exactly AT max_norm = 5e-4: the factor min(1, c / (n + 1e-6)) is "
             "0.998, below 1"),
        Case(({"w": np.array([[6e-4, 0.0], [0.0, 8e-4]])}, 2e-4),
             "small gradients above max_norm (norm 1e-3): the 1e-6 changes the factor by 0.1 %"),
    ]


def clip_promise(args, out):
    """The stub's promises beyond the values: total_norm is a Python float, the arrays are new."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return None  # run_check describes a wrong structure itself
    clipped, total = out
    if isinstance(total, (bool, np.bool_)) or not isinstance(total, float):
        return (f"total_norm is {type(total).__module__}.{type(total).__name__}; the stub asks "
                "for a Python float (wrap it: float(...))")
    if isinstance(clipped, dict):
        for k, g in clipped.items():
            if shares_input(g, args[0].values()):
                return (f"clipped[{k!r}] is the input array itself (or a view of it); the stub "
                        "asks for new arrays, e.g. g * 1.0 or g.copy() when nothing is scaled")
    return None


def clip_reference(grads, max_norm):
    clipped, total = scratch.clip_grad_norm(grads, max_norm)
    return clipped, float(total)


def clip_wrong(variant: str):
    def wrong(grads, max_norm):
        if variant == "per_tensor":
            out = {}
            for k, g in grads.items():
                n = np.linalg.norm(g)
                out[k] = g * min(1.0, max_norm / (n + 1e-6))
            return out, float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
        if variant == "value":
            total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
            return {k: np.clip(g, -max_norm, max_norm) for k, g in grads.items()}, total
        ord_ = 1 if variant == "l1" else 2
        total = float(sum(np.sum(np.abs(g) ** ord_) for g in grads.values()) ** (1 / ord_))
        scale = max_norm / (total + 1e-6)
        if variant == "only_above":
            scale = max_norm / total if total > max_norm else 1.0
        elif variant != "always":
            scale = min(1.0, scale)
        clipped = {k: (g * scale).astype(g.dtype) for k, g in grads.items()}
        if variant == "post_norm":
            total = float(np.sqrt(sum(np.sum(g ** 2) for g in clipped.values())))
        return clipped, total
    return wrong


def clip_grad_norm(fn) -> CheckResult:
    """Check ``fn(grads, max_norm) -> (clipped, total_norm)``: clipping by the GLOBAL L2 norm.

    The rule of the stub, PyTorch's (``torch.nn.utils.clip_grad_norm_``): with n the L2 norm of
    all arrays of the dict ``grads`` together, EVERY array is multiplied by
    ``min(1, max_norm / (n + 1e-6))``, so a norm exactly at max_norm is still scaled (by a
    factor just below 1) and all-zero gradients stay zero. ``clipped`` is a new dict of new
    arrays with the same keys, each array keeping its own dtype; ``total_norm`` is n before
    clipping, a Python float; the input is not modified.
    """
    return run_check(
        "clip_grad_norm", fn, clip_cases(), clip_reference, promise=clip_promise,
        arg_names=["grads", "max_norm"],
        output_name="(clipped, total_norm)", rtol=1e-5, atol=1e-10,
        diagnoses=[
            Diagnosis(clip_wrong("only_above"),
                      "the stub's rule is PyTorch's: multiply by min(1, max_norm / (total_norm "
                      "+ 1e-6)) every time. At the threshold that factor is just below 1 (not "
                      "1), and for small gradients the 1e-6 changes it measurably."),
            Diagnosis(clip_wrong("per_tensor"),
                      "clip by the norm of ALL gradients together (one global norm, one scale "
                      "for every array), not each array by its own norm."),
            Diagnosis(clip_wrong("value"),
                      "this is value clipping (np.clip element by element); norm clipping "
                      "rescales every element by the same factor and keeps the direction."),
            Diagnosis(clip_wrong("always"),
                      "the factor is min(1, max_norm / (total_norm + 1e-6)): never above 1, so "
                      "gradients with a norm below max_norm pass unchanged (clipping never "
                      "scales a gradient up)."),
            Diagnosis(clip_wrong("post_norm"),
                      "return the norm measured BEFORE clipping, as torch's clip_grad_norm_ "
                      "does, so training logs show how large the gradient really was."),
            Diagnosis(clip_wrong("l1"),
                      "use the L2 norm: the square root of the sum of all squared elements."),
        ])


# ---- rescale a matrix to a chosen spectral radius


def telling_matrix(rng, n: int) -> np.ndarray:
    """A random n x n matrix, redrawn until its largest real part, largest |real part| and
    largest |eigenvalue| are 5% apart, so the first case tells those three mistakes apart."""
    while True:
        W = rng.standard_normal((n, n))
        eig = np.linalg.eigvals(W)
        sizes = sorted([eig.real.max(), np.abs(eig.real).max(), np.abs(eig).max()])
        if min(np.diff(sizes)) > 0.05 * sizes[-1]:
            return W


def radius_cases() -> list[Case]:
    rng = np.random.default_rng(55)
    skew = np.array([[0.0, -2.0, 0.3], [2.0, 0.1, 0.0], [0.5, 0.0, 0.2]])  # complex pair on top
    neg = np.array([[-3.0, 1.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.5]])  # top eigenvalue -3
    return [
        Case((telling_matrix(rng, 5), 0.9), "float64, a random 5x5 matrix, rho = 0.9"),
        Case((rng.standard_normal((7, 7)).astype(np.float32), 1.2),
             "float32, a random 7x7 matrix, rho = 1.2"),
        Case((skew, 1.0), "the largest eigenvalues are a complex pair (about +-2i)"),
        Case((neg, 0.5), "the eigenvalue of largest modulus is negative (-3)"),
        Case((np.array([[4.0]]), 1.0), "a 1x1 matrix"),
        Case((rng.standard_normal((4, 4)).astype(np.float32) * 10, 0.05),
             "float32, large entries, a small target radius"),
        Case((rng.standard_normal((5, 5)).astype(np.float32), np.float64(1.2)),
             "float32 W with rho given as a NumPy float64: the result keeps W's dtype"),
        Case((np.zeros((3, 3)), 1.0), "the zero matrix: rho(W) = 0, the stub asks for a "
             "ValueError", raises=ValueError),
        Case((np.triu(rng.standard_normal((4, 4)), 1).astype(np.float32), 0.9),
             "float32, strictly upper triangular (nilpotent): rho(W) = 0, a ValueError",
             raises=ValueError),
    ]


def zero_radius(args) -> bool:
    W = np.asarray(args[0], dtype=np.float64)
    return bool(np.max(np.abs(np.linalg.eigvals(W))) == 0)


def radius_reference(W, rho):
    return pathologies.scale_to_spectral_radius(W, rho)


def radius_promise(args, out):
    if shares_input(out, args[:1]):
        return "it returned W itself (or a view of it); the stub asks for a new array"
    return None


def radius_wrong(variant: str):
    def wrong(W, rho):
        W = np.asarray(W)
        if zero_radius((W, rho)):  # the stated edge case, right in every variant
            raise ValueError("rho(W) = 0: no scale gives another radius")
        eig = np.linalg.eigvals(W.astype(np.float64))
        size = {"spectral_norm": lambda: np.linalg.norm(W, 2),
                "frobenius": lambda: np.linalg.norm(W),
                "max_real": lambda: np.max(eig.real),
                "abs_real": lambda: np.max(np.abs(eig.real)),
                "max_entry": lambda: np.max(np.abs(W)),
                "no_rho": lambda: np.max(np.abs(eig)) * rho}[variant]()
        return (W * (rho / size)).astype(W.dtype)
    return wrong


def scale_to_spectral_radius(fn) -> CheckResult:
    """Check ``fn(W, rho) -> W_scaled``: W (H, H) times one positive scalar so that the largest
    |eigenvalue| of the result is rho. A new array of W's shape and dtype (float32 stays float32
    whatever the type of rho); W is not modified; when rho(W) = 0 (np.linalg.eigvals gives only
    zeros: the zero matrix, a strictly triangular one) ``fn`` raises ValueError."""
    return run_check(
        "scale_to_spectral_radius", fn, radius_cases(), radius_reference,
        promise=radius_promise, arg_names=["W", "rho"], output_name="W_scaled",
        diagnoses=[
            Diagnosis(radius_wrong("spectral_norm"),
                      "you divided by the largest SINGULAR value (np.linalg.norm(W, 2)); the "
                      "spectral radius is the largest |eigenvalue|, which is smaller for a "
                      "non-symmetric matrix."),
            Diagnosis(radius_wrong("frobenius"),
                      "np.linalg.norm(W) is the Frobenius norm, not the spectral radius: use "
                      "the eigenvalues (np.linalg.eigvals)."),
            Diagnosis(radius_wrong("max_real"),
                      "eigenvalues can be complex or negative: take the largest ABSOLUTE value "
                      "(modulus), np.abs(np.linalg.eigvals(W)).max()."),
            Diagnosis(radius_wrong("abs_real"),
                      "for a complex eigenvalue a + bi the size is sqrt(a^2 + b^2): np.abs of "
                      "the complex number, not of its real part."),
            Diagnosis(radius_wrong("max_entry"),
                      "the largest entry of W says little about its eigenvalues: compute them."),
            Diagnosis(radius_wrong("no_rho"),
                      "after dividing by the current radius the matrix has radius 1; multiply "
                      "by rho as well."),
        ])


# ---- the size of dh_T/dh_k for every k


def tanh_states(rng, T, H, dtype, drive=1.0, radius=1.1):
    W = pathologies.scale_to_spectral_radius(rng.standard_normal((H, H)), radius)
    h_all = pathologies.run_rnn(W, drive * rng.standard_normal((T, H)))
    return W.astype(dtype), h_all.astype(dtype)


def jacobian_cases() -> list[Case]:
    rng = np.random.default_rng(56)
    cases = []
    for T, H, dtype in [(8, 5, np.float64), (12, 3, np.float32), (6, 7, np.float64)]:
        W, h_all = tanh_states(rng, T, H, dtype)
        cases.append(Case((W, h_all), f"{np.dtype(dtype).name}, T={T}, H={H}"))
    W, h_all = tanh_states(rng, 1, 4, np.float64)
    cases.append(Case((W, h_all), "a single step, T=1"))
    W, h_all = tanh_states(rng, 9, 1, np.float64, radius=0.9)
    cases.append(Case((W, h_all), "one hidden unit, H=1"))
    W = rng.standard_normal((4, 4))
    cases.append(Case((W, np.zeros((10, 4))), "all states zero (tanh' = 1: the linear case)"))
    W, h_all = tanh_states(rng, 7, 4, np.float64, drive=5.0)
    h_all[2, 1] = 1.0
    h_all[4, 3] = -1.0
    cases.append(Case((W, h_all), "strong inputs: saturated states, some exactly +-1"))
    W, h_all = tanh_states(rng, 6, 5, np.float64)
    cases.append(Case((W, h_all.astype(np.float32)),
                      "W_hh float64, h_all float32: the result has h_all's dtype, float32"))
    return cases


def jacobian_reference(W_hh, h_all):
    return pathologies.jacobian_norms(W_hh, h_all, "tanh")


def jacobian_wrong(variant: str):
    def wrong(W, h_all):
        T, H = h_all.shape
        d = {"one_minus_h": 1 - h_all, "linear": np.ones_like(h_all)}.get(variant,
                                                                          1 - h_all**2)
        if variant == "off_by_one":  # slope of the PREVIOUS state (h_0 = 0 has slope 1)
            d = np.concatenate([np.ones((1, H), h_all.dtype), d[:-1]])
        P = np.eye(H, dtype=h_all.dtype)
        out = np.empty(T + 1, dtype=h_all.dtype)
        out[T] = 1.0
        prod_of_norms = 1.0
        for t in range(T, 0, -1):
            J = W * d[t - 1][None, :] if variant == "columns" else d[t - 1][:, None] * W
            if variant == "transpose":
                J = d[t - 1][:, None] * W.T
            P = J @ P if variant == "order" else P @ J
            prod_of_norms *= np.linalg.norm(J, 2)
            if variant == "frobenius":
                out[t - 1] = np.linalg.norm(P)
            elif variant == "product_of_norms":
                out[t - 1] = prod_of_norms
            else:
                out[t - 1] = np.linalg.norm(P, 2)
        if variant == "frobenius":
            out[T] = np.sqrt(H)
        return out[::-1].copy() if variant == "by_lag" else out
    return wrong


def jacobian_norms(fn) -> CheckResult:
    """Check ``fn(W_hh, h_all) -> norms`` for a tanh RNN.

    W_hh (H, H) in PyTorch layout, h_all (T, H) the states h_1 .. h_T (T >= 1, H >= 1).
    Expected: an ndarray (T + 1,) in the dtype of h_all (whatever W_hh's dtype) with
    ``norms[k] = ||dh_T/dh_k||_2`` (spectral norm) for k = 0 .. T, where
    ``dh_T/dh_k = J_T ... J_{k+1}`` and ``J_t = diag(1 - h_t**2) W_hh``; norms[T] = 1. Cases
    include T = 1, H = 1, all-zero states and saturated states (h = +-1, slope 0).
    """
    hints = {
        "order": "dh_T/dh_k = J_T J_{T-1} ... J_{k+1}: start from the identity at k = T and "
                 "multiply each new (earlier) Jacobian on the RIGHT, P = P @ J_t.",
        "columns": "J_t = diag(f'(net_t)) W_hh scales the ROWS of W_hh (unit i's slope "
                   "multiplies row i): d[:, None] * W_hh, not W_hh * d.",
        "transpose": "with PyTorch's layout h_t = tanh(W_hh h_{t-1} + ...), so the Jacobian is "
                     "diag(1 - h_t**2) @ W_hh, without transposing W_hh.",
        "one_minus_h": "the derivative of tanh, written with its output, is 1 - h**2.",
        "linear": "include the derivative of tanh: J_t = diag(1 - h_t**2) W_hh.",
        "off_by_one": "J_t = dh_t/dh_{t-1} uses the slope at step t, 1 - h_all[t-1]**2 (h_all "
                      "starts at h_1), not the slope of the previous state.",
        "frobenius": "use the spectral norm, np.linalg.norm(P, 2) (largest singular value), "
                     "not the Frobenius norm np.linalg.norm(P).",
        "product_of_norms": "take the norm of the PRODUCT of the Jacobians; the product of "
                            "their norms is only an upper bound.",
        "by_lag": "index the output by k (norms[T] = 1 for k = T), not by the lag T - k.",
    }
    return run_check(
        "jacobian_norms", fn, jacobian_cases(), jacobian_reference,
        arg_names=["W_hh", "h_all"], output_name="norms",
        diagnoses=[Diagnosis(jacobian_wrong(v), hint) for v, hint in hints.items()])


# ---- "predict, then run": the gradient of a nearly linear tanh RNN (never graded)


def predict_weak_input_gradient(fn) -> PredictionResult:
    """Show the learner's prediction of ``||dh_50 / dh_0||_2`` for a tanh RNN with
    ``W_hh = 0.9 * (random orthogonal)``, 32 units and weak inputs (std 0.01) next to the
    measured value. The prediction is read first; only then does the experiment
    (:func:`course_utils.pathologies.weak_input_gradient`, seed 0) run. Close means within
    25 %. Never raises because of the learner's code."""
    return check_prediction("predict_weak_input_gradient", fn,
                            lambda: pathologies.weak_input_gradient(0), rel_tol=0.25)


# ---- design: an initialisation that lets a ReLU RNN learn the adding problem

# The checker trains once per seed and asks for the target on each. Measured test MSEs on seeds
# 0, 1, 2 (tests/test_ch05_exercises.py keeps them honest): PyTorch's default start 0.143,
# 0.185, 0.164; W_hh = I with PyTorch's default biases 0.019, 0.068, 0.166 (misses on seeds 1
# and 2); W_hh = I with zero biases (the solution) 0.012, 0.014, 0.014.
@design_checker
def relu_rnn_init(fn, *, seeds: tuple[int, ...] = pathologies.ADDING_SEEDS) -> CheckResult:
    """Check the design ``fn(rnn) -> None``: it sets the initial weights of a ReLU
    ``torch.nn.RNN(2, hidden, nonlinearity="relu")`` in place so that the checker's fixed recipe
    (:func:`course_utils.pathologies.train_relu_rnn_adding` with
    ``pathologies.ADDING_RECIPE``: the adding problem's length, hidden size, Adam steps,
    batch, learning rate and clipping; one thread) reaches a test MSE of at most
    ``pathologies.ADDING_TARGET`` (predicting the mean gives about 1/6) with EACH of the seeds
    ``seeds`` (``pathologies.ADDING_SEEDS``). It stops at the first seed that misses. PyTorch's
    default initialisation misses it. Never raises because of the learner's code.
    """
    target = pathologies.ADDING_TARGET
    name = "relu_rnn_init"
    if not callable(fn):
        return report(CheckResult(name, FAILED, f"expected a function, got {type(fn).__name__}"))
    passed, baselines = [], []
    for seed in seeds:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = pathologies.train_relu_rnn_adding(fn, seed=seed)
        except NotImplementedError:
            return report(CheckResult(name, NOT_ATTEMPTED,
                                      "not attempted yet: replace the `raise NotImplementedError` "
                                      "line with your code, then run this cell again."))
        except LEARNER_ERRORS as exc:  # the learner's bug (or a broken model), reported
            hint = ""
            if isinstance(exc, (TypeError, RuntimeError)) and "grad" in str(exc).lower():
                hint = ("\n   hint: change a parameter's values in place inside "
                        "`with torch.no_grad():`, e.g. rnn.weight_hh_l0.copy_(...) or "
                        "rnn.bias_hh_l0.zero_().")
            elif isinstance(exc, TypeError) and "parameter" in str(exc).lower():
                hint = ("\n   hint: do not assign a new tensor to rnn.weight_hh_l0; copy values "
                        "into it in place: `with torch.no_grad(): rnn.weight_hh_l0.copy_(...)`.")
            return report(CheckResult(name, FAILED, f"training your initialisation raised "
                                      f"{type(exc).__name__}: {exc}{learner_frame(exc)}{hint}"))
        mse, base = run["test_mse"], run["baseline"]
        r = run["recipe"]
        what = (f"(ReLU RNN 2 -> {r['hidden']}, linear readout; adding problem T = {r['T']}; "
                f"{r['steps']} Adam steps of {r['batch']} sequences, lr {r['lr']:g}, clip "
                f"{r['clip']:g}; test on {r['n_test']} new sequences, where predicting the mean "
                f"gives {base:.3f})")
        so_far = "" if not passed else (
            " It met the target with seed" + ("s " if len(passed) > 1 else " ")
            + ", ".join(f"{s} (MSE {m:.3f})" for s, m in passed) + ".")
        if not np.isfinite(mse):
            return report(CheckResult(name, FAILED, f"seed {seed}: training diverged (a loss "
                                      f"became NaN or infinite) {what}.{so_far}\n   hint: a "
                                      "recurrent matrix that amplifies makes a ReLU RNN's state "
                                      "and gradient explode."))
        if mse > target:
            return report(CheckResult(
                name, FAILED, f"seed {seed}: test MSE {mse:.3f}, target {target} on each of the "
                f"seeds {', '.join(map(str, seeds))} {what}.{so_far}"
                "\n   hint: look at the product of ReLU Jacobians diag([net_t > 0]) W_hh: which "
                "W_hh lets it keep its size over 50 steps? Then look at the biases: with that "
                "W_hh, does a unit's state stay put when no input arrives?"))
        passed.append((seed, mse))
        baselines.append(base)
    return report(CheckResult(name, PASSED, "test MSE " + ", ".join(
        f"{m:.3f} (seed {s})" for s, m in passed) + f", each <= target {target} "
        f"(ReLU RNN 2 -> {r['hidden']}, linear readout; adding problem T = {r['T']}; "
        f"{r['steps']} Adam steps of {r['batch']} sequences, lr {r['lr']:g}, clip {r['clip']:g}; "
        f"test on {r['n_test']} new sequences, where predicting the mean gives "
        + ", ".join(f"{b:.3f}" for b in baselines) + ")"))
