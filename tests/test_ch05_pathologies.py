"""Unit tests of course_utils.pathologies (chapter 05; chapter 06 reuses the Jacobian tools)."""

import numpy as np
import pytest
import torch

from course_utils import pathologies as P
from course_utils import scratch, tasks


@pytest.mark.parametrize("nonlinearity", ["linear", "tanh", "relu"])
def test_jacobian_norms_match_autograd(nonlinearity):
    rng = np.random.default_rng(0)
    T, H = 6, 4
    W = P.random_recurrent_matrix(H, 1.1, seed=3)
    x = rng.standard_normal((T, H))
    norms, h_all = P.rnn_jacobian_norms(W, x, nonlinearity=nonlinearity)
    f = {"linear": lambda a: a, "tanh": torch.tanh, "relu": torch.relu}[nonlinearity]
    Wt, xt = torch.tensor(W), torch.tensor(x)
    for k in range(T + 1):
        def roll(hk, k=k):
            for t in range(k, T):
                hk = f(xt[t] + Wt @ hk)
            return hk
        hk = torch.zeros(H, dtype=torch.float64) if k == 0 else torch.tensor(h_all[k - 1])
        J = torch.autograd.functional.jacobian(roll, hk).numpy()
        assert np.isclose(np.linalg.norm(J, 2), norms[k])
    assert norms[T] == 1.0


def test_batched_and_dtype():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((5, 5)).astype(np.float32)
    x = rng.standard_normal((7, 3, 5)).astype(np.float32)
    norms, h_all = P.rnn_jacobian_norms(W, x)
    assert norms.shape == (8, 3) and norms.dtype == np.float32 and h_all.shape == (7, 3, 5)
    for b in range(3):
        np.testing.assert_allclose(norms[:, b], P.jacobian_norms(W, h_all[:, b]), rtol=1e-5)
    np.testing.assert_allclose(P.by_lag(norms)[0], 1.0)


def test_run_rnn_matches_scratch():
    rng = np.random.default_rng(2)
    T, B, H = 5, 2, 3
    p = {"weight_ih": np.eye(H), "weight_hh": rng.standard_normal((H, H)),
         "bias_ih": np.zeros(H), "bias_hh": np.zeros(H)}
    x = rng.standard_normal((T, B, H))
    h0 = rng.standard_normal((B, H))
    h_ref, _ = scratch.rnn_forward(x, h0, p)
    np.testing.assert_allclose(P.run_rnn(p["weight_hh"], x, h0), h_ref, rtol=1e-12)


def test_diagonal_products_equal_full_products():
    d = np.random.default_rng(3).random((6, 2, 4))
    full = np.zeros((6, 2, 4, 4))
    idx = np.arange(4)
    full[..., idx, idx] = d
    np.testing.assert_allclose(P.diagonal_product_norms(d), P.product_norms(full))


def test_spectral_radius_scaling_and_bounds():
    for kind in ("gaussian", "orthogonal"):
        W = P.random_recurrent_matrix(12, 0.9, seed=4, kind=kind)
        assert np.isclose(P.spectral_radius(W), 0.9)
        lower, upper, cond = P.eigen_bounds(W, 60)
        norms = P.matrix_power_norms(W, 60)
        assert np.all(lower <= norms * (1 + 1e-9)) and np.all(norms <= upper * (1 + 1e-9))
        if kind == "orthogonal":
            np.testing.assert_allclose(norms, lower, rtol=1e-9)
            assert np.isclose(cond, 1.0)
    W32 = np.random.default_rng(5).standard_normal((4, 4)).astype(np.float32)
    assert P.scale_to_spectral_radius(W32, 2.0).dtype == np.float32
    with pytest.raises(ValueError):
        P.scale_to_spectral_radius(np.array([[0.0, 1.0], [0.0, 0.0]]), 1.0)


def test_growth_rate_of_linear_rnn_is_the_radius():
    for rho in (0.8, 1.0, 1.2):
        curve = P.gradient_norm_curve(rho, nonlinearity="linear", seed=7)
        assert abs(P.growth_rate(curve, 50, 100) - rho) < 0.02 * rho


def test_one_unit_gradient_matches_finite_differences():
    w, b, eps = np.array([0.7, 1.8, 2.5]), np.array([-0.3, -0.8, 0.4]), 1e-6
    loss, gw, gb, _ = P.one_unit_rnn(w, b)
    num_w = (P.one_unit_rnn(w + eps, b)[0] - P.one_unit_rnn(w - eps, b)[0]) / (2 * eps)
    num_b = (P.one_unit_rnn(w, b + eps)[0] - P.one_unit_rnn(w, b - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(gw, num_w, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gb, num_b, rtol=1e-5, atol=1e-8)


def test_clipped_descent_bounds_the_step():
    path, losses, norms = P.descend_one_unit((2.0, -0.9), lr=0.2, steps=200, max_norm=1.0)
    steps = np.hypot(*np.diff(path, axis=0).T)
    assert np.all(steps <= 0.2 + 1e-9) and np.isfinite(losses).all()
    assert norms.max() > 1.0  # there was something to clip


def test_deep_mlp_shapes_and_gradients():
    X, y = P.disc_data(64, seed=0)
    for residual in (False, True):
        model = P.deep_mlp(5, 8, residual=residual, seed=0)
        g = P.layer_gradient_norms(model, X, y)
        assert g.shape == (5,) and np.all(g > 0)
        losses, change = P.train_full_batch(model, X, y, steps=3, lr=0.1)
        assert losses.shape == (3,) and change.shape == (5,)


@pytest.mark.parametrize("residual", [False, True])
def test_train_full_batch_is_plain_gradient_descent(residual):
    """The losses and the weights it leaves are those of full-batch SGD written out by hand
    (w <- w - lr * dLoss/dw on all of X, no momentum), and the loss falls."""
    X, y = P.disc_data(64, seed=0)
    model = P.deep_mlp(3, 8, residual=residual, seed=0)
    ref = P.deep_mlp(3, 8, residual=residual, seed=0)
    before = [layer.weight.detach().clone() for layer in ref.hidden]
    losses, change = P.train_full_batch(model, X, y, steps=25, lr=0.5)
    by_hand = []
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(ref(X), y)
        by_hand.append(loss.item())
        grads = torch.autograd.grad(loss, list(ref.parameters()))
        with torch.no_grad():
            for w, g in zip(ref.parameters(), grads, strict=True):
                w -= 0.5 * g
    np.testing.assert_allclose(losses, by_hand, rtol=1e-5)
    for w, w_ref in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(w, w_ref, rtol=1e-4, atol=1e-6)
    expected = [((layer.weight - w0).norm() / w0.norm()).item()
                for layer, w0 in zip(ref.hidden, before, strict=True)]
    np.testing.assert_allclose(change, expected, rtol=1e-3)
    assert losses[-1] < losses[0] - 0.01 and np.all(change > 0)


def test_memory_task_and_training_run_shapes():
    x, y = tasks.sign_memory_task(10, 6, seed=0)
    assert x.shape == (10, 6, 1) and y.shape == (10,)   # batch-first
    np.testing.assert_allclose(np.abs(y), 0.8)
    assert np.all(np.sign(x[:, 0, 0]) == np.sign(y))
    run = P.train_memory_rnn(seed=0, steps=5, T=6, max_norm=1.0)
    assert run["losses"].shape == (5,) and np.isfinite(run["final_loss"])


def test_memory_run_reports_signs_and_weights():
    run = P.train_memory_rnn(seed=0, steps=5, T=6, max_norm=1.0, n=40)
    assert run["predictions"].shape == (40,) and 0.0 <= run["sign_accuracy"] <= 1.0
    assert set(run["params"]) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
    assert run["max_abs_weight"] == max(np.max(np.abs(v)) for v in run["params"].values())


@pytest.mark.parametrize("w, expected", [(2.0, -0.4507), (3.0, -0.9507)])
def test_cliff_is_the_basin_boundary(w, expected):
    """Issue 21, item 1: from h0 = 0.5, h_50 jumps where the unstable middle fixed point passes
    through h0, b = artanh(h0) - w h0, well inside the fold edge -b_c(w)."""
    cliff = P.cliff_bias(w)
    assert abs(cliff - expected) < 1e-4 and cliff > -P.bistability_threshold(w) + 0.05
    b = np.linspace(-P.bistability_threshold(w), 0.0, 20001)
    h = P.one_unit_rnn(w, b)[3]
    assert abs(b[np.argmax(np.abs(np.diff(h)))] - cliff) < 1e-3      # brute force agrees
    below, above = P.one_unit_rnn(w, np.array([cliff - 0.005, cliff + 0.005]))[3]
    assert below < -0.9 and above > 0.8


def test_cliff_is_the_fold_edge_for_small_w_and_absent_below_1():
    for w in (1.1, 1.2, 4 / 3):
        assert np.isclose(P.cliff_bias(w), -P.bistability_threshold(w))
        # the positive fixed point exists just inside the fold edge, and h0 = 0.5 lies above
        # the middle one, so the long-run state is positive there
        fold = -P.bistability_threshold(w)
        assert P.one_unit_fixed_points(w, fold + 1e-3).max() > 0.2
        assert P.one_unit_rnn(w, fold + 1e-3, T=5000)[3] > 0.2
        assert P.one_unit_rnn(w, fold - 1e-3, T=5000)[3] < -0.2
    assert np.isnan(P.cliff_bias(1.0)) and np.isnan(P.cliff_bias(0.5))
    np.testing.assert_allclose(P.cliff_bias(np.array([2.0, 3.0])), [P.cliff_bias(2.0),
                                                                    P.cliff_bias(3.0)])


def test_bistability_threshold_counts_fixed_points():
    w = 2.0
    b_c = P.bistability_threshold(w)
    assert abs(b_c - 0.5328) < 1e-3
    assert len(P.one_unit_fixed_points(w, b_c - 0.01)) == 3
    assert len(P.one_unit_fixed_points(w, -(b_c - 0.01))) == 3
    assert len(P.one_unit_fixed_points(w, b_c + 0.01)) == 1
    (h_star,) = P.one_unit_fixed_points(w, -0.9)
    assert h_star < 0 and np.isclose(h_star, np.tanh(w * h_star - 0.9), atol=1e-12)
    assert P.bistability_threshold(0.8) == 0.0 and len(P.one_unit_fixed_points(0.8, 0.3)) == 1
    np.testing.assert_allclose(P.bistability_threshold(np.array([1.5, 2.0])),
                               [P.bistability_threshold(1.5), b_c])


def test_deep_mlp_is_the_models_class():
    from course_utils.models import DeepMLP

    model = P.deep_mlp(3, 4, residual=True, seed=0)
    assert isinstance(model, DeepMLP) and len(model.hidden) == 3 and model.residual
    again = P.deep_mlp(3, 4, residual=True, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(),
                                                 strict=True))


def test_confirm_weak_input_departure_accepts_the_outcome_and_rejects_others():
    P.confirm_weak_input_departure({0.1: 6, 0.01: 5}, 0.97, 1.14)
    for depart, middle, early in (({0.1: 6, 0.01: 20}, 0.97, 1.14),    # the lag moved later
                                  ({0.1: 6, 0.01: 5}, 1.2, 1.1),       # no steeper early climb
                                  ({0.1: 6, 0.01: 5}, 0.97, 1.3)):     # faster than rho
        with pytest.raises(AssertionError):
            P.confirm_weak_input_departure(depart, middle, early)


def test_sign_memory_is_held_in_the_phase_of_a_period_two_cycle():
    """The chapter's mechanism, for seed 0: one cycle holds both signs, so T = 31 flips them."""
    p = P.train_memory_rnn(seed=0, max_norm=0.5)["params"]
    b = p["bias_ih"] + p["bias_hh"]
    step = lambda h: np.tanh(h @ p["weight_hh"].T + b)  # noqa: E731
    h = np.tanh(np.array([[1.0], [-1.0]]) @ p["weight_ih"].T + b)
    for _ in range(2000):
        h = step(h)
    assert not np.allclose(step(h), h) and np.allclose(step(h[0]), h[1], atol=1e-6)
    for T, right in ((30, 1.0), (31, 0.0)):
        x, y = tasks.sign_memory_task(256, T, seed=7)
        x = tasks.to_time_major(x).astype(np.float64)
        pred = scratch.rnn_forward(x, np.zeros((256, 4)), p)[0][-1, :, 0]
        assert np.mean(np.sign(pred) == np.sign(y)) == right
