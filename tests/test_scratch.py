"""course_utils.scratch against PyTorch (forward values and autograd gradients)."""

import numpy as np
import pytest
import torch

from course_utils import scratch

T, B, D, H = 5, 3, 4, 6  # deliberately non-square so transposes cannot hide
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
N_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-300)


def make_module(kind, input_size=D, hidden_size=H, seed=0):
    torch.manual_seed(seed)
    if kind.startswith("rnn"):
        m = torch.nn.RNN(input_size, hidden_size, nonlinearity=kind[4:])
    else:
        m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](input_size, hidden_size)
    return m.double()


def make_inputs(kind, t=T, b=B, d=D, h=H, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((t, b, d))
    states = [rng.standard_normal((b, h)) * 0.5 for _ in range(2 if kind == "lstm" else 1)]
    dh_all = rng.standard_normal((t, b, h))
    return x, states, dh_all


def scratch_forward(kind, x, states, p):
    """-> (h_all, c_all or None, cache)."""
    if kind == "lstm":
        return scratch.lstm_forward(x, *states, p)
    if kind == "gru":
        h_all, cache = scratch.gru_forward(x, *states, p)
    else:
        h_all, cache = scratch.rnn_forward(x, *states, p, nonlinearity=kind[4:])
    return h_all, None, cache


def scratch_backward(kind, dh_all, cache):
    """-> (dx, [d state0...], grads)."""
    if kind == "lstm":
        dx, dh0, dc0, grads = scratch.lstm_backward(dh_all, cache)
        return dx, [dh0, dc0], grads
    backward = scratch.gru_backward if kind == "gru" else scratch.rnn_backward
    dx, dh0, grads = backward(dh_all, cache)
    return dx, [dh0], grads


def torch_run(module, x, states, dh_all, dtype=torch.float64):
    """Outputs and autograd gradients of a torch module, all as float64 NumPy arrays."""
    module = module.to(dtype)
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    st = [torch.tensor(s[None], dtype=dtype, requires_grad=True) for s in states]
    out, last = module(xt, tuple(st) if len(st) == 2 else st[0])
    out.backward(torch.tensor(dh_all, dtype=dtype))
    last = last if isinstance(last, tuple) else (last,)
    grads = {k: getattr(module, k + "_l0").grad.double().numpy() for k in scratch.PARAM_KEYS}
    return {
        "h_all": out.detach().double().numpy(),
        "last": [s.detach().double().numpy()[0] for s in last],
        "dx": xt.grad.double().numpy(),
        "dstates": [s.grad.double().numpy()[0] for s in st],
        "grads": grads,
    }


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def case(kind):
    module = make_module(kind)
    x, states, dh_all = make_inputs(kind)
    return kind, module, scratch.params_from_torch(module), x, states, dh_all


# --- forward ----------------------------------------------------------------------------------


def test_forward_matches_torch(case):
    kind, module, p, x, states, dh_all = case
    ref = torch_run(module, x, states, dh_all)
    h_all, c_all, _ = scratch_forward(kind, x, states, p)
    assert h_all.shape == (T, B, H) and h_all.dtype == np.float64
    np.testing.assert_allclose(h_all, ref["h_all"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(h_all[-1], ref["last"][0], rtol=0, atol=1e-10)
    if kind == "lstm":  # torch only returns the final cell state
        np.testing.assert_allclose(c_all[-1], ref["last"][1], rtol=0, atol=1e-10)


def test_step_reproduces_forward(case):
    kind, _, p, x, states, _ = case
    h_all, c_all, _ = scratch_forward(kind, x, states, p)
    h, c = states[0], states[-1]
    for t in range(T):
        if kind == "lstm":
            h, c = scratch.lstm_step(x[t], h, c, p)
            np.testing.assert_allclose(c, c_all[t], rtol=0, atol=1e-12)
        elif kind == "gru":
            h = scratch.gru_step(x[t], h, p)
        else:
            h = scratch.rnn_step(x[t], h, p, nonlinearity=kind[4:])
        np.testing.assert_allclose(h, h_all[t], rtol=0, atol=1e-12)


def test_float32_in_float32_out(case):
    kind, module, p, x, states, dh_all = case
    x32, states32 = x.astype(np.float32), [s.astype(np.float32) for s in states]
    ref = torch_run(module, x32, states32, dh_all, dtype=torch.float32)
    # p stays float64 on purpose: the result must follow x's dtype, not upcast.
    h_all, c_all, cache = scratch_forward(kind, x32, states32, p)
    assert h_all.dtype == np.float32
    np.testing.assert_allclose(h_all, ref["h_all"], rtol=0, atol=1e-5)
    dx, dstates, grads = scratch_backward(kind, dh_all.astype(np.float32), cache)
    arrays = [dx, *dstates, *grads.values()] + ([c_all] if c_all is not None else [])
    assert all(a.dtype == np.float32 for a in arrays)
    assert rel_err(dx, ref["dx"]) < 1e-5
    assert all(rel_err(grads[k], ref["grads"][k]) < 1e-5 for k in scratch.PARAM_KEYS)


# --- backward ---------------------------------------------------------------------------------


def test_backward_matches_autograd(case):
    kind, module, p, x, states, dh_all = case
    ref = torch_run(module, x, states, dh_all)
    before = [a.copy() for a in (x, *states, dh_all, *p.values())]
    _, _, cache = scratch_forward(kind, x, states, p)
    dx, dstates, grads = scratch_backward(kind, dh_all, cache)
    for a, b in zip(before, (x, *states, dh_all, *p.values()), strict=True):
        np.testing.assert_array_equal(a, b)  # inputs are never modified
    assert dx.shape == x.shape and set(grads) == set(p)
    assert rel_err(dx, ref["dx"]) < 1e-8
    for ds, ds_ref in zip(dstates, ref["dstates"], strict=True):
        assert rel_err(ds, ds_ref) < 1e-8
    for k in scratch.PARAM_KEYS:
        assert grads[k].shape == p[k].shape
        assert rel_err(grads[k], ref["grads"][k]) < 1e-8, k


def test_backward_matches_finite_differences(kind):
    """Independent of torch: central differences of L = sum(h_all * dh_all) on a tiny case."""
    module = make_module(kind, input_size=3, hidden_size=2)
    p = scratch.params_from_torch(module)
    x, states, dh_all = make_inputs(kind, t=3, b=2, d=3, h=2)

    def loss():
        return np.sum(scratch_forward(kind, x, states, p)[0] * dh_all)

    _, _, cache = scratch_forward(kind, x, states, p)
    dx, dstates, grads = scratch_backward(kind, dh_all, cache)
    analytic = [dx, *dstates, *(grads[k] for k in scratch.PARAM_KEYS)]
    wrt = [x, *states, *(p[k] for k in scratch.PARAM_KEYS)]
    eps = 1e-6
    for arr, grad in zip(wrt, analytic, strict=True):
        numeric = np.empty_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = loss()
            arr[idx] = old - eps
            down = loss()
            arr[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        assert rel_err(grad, numeric) < 1e-7


# --- gate access --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gate_activations_match_single_step_gates(kind):
    module = make_module(kind)
    p = scratch.params_from_torch(module)
    x, states, _ = make_inputs(kind)
    h_all, _, cache = scratch_forward(kind, x, states, p)
    gates = scratch.gate_activations(cache)
    names = scratch.LSTM_GATE_NAMES if kind == "lstm" else scratch.GRU_GATE_NAMES
    assert tuple(gates) == names and all(g.shape == (T, B, H) for g in gates.values())
    step_gates = scratch.lstm_gates if kind == "lstm" else scratch.gru_gates
    h_prev = np.concatenate([states[0][None], h_all[:-1]])
    for t in range(T):
        expected = step_gates(x[t], h_prev[t], p)
        for name in names:
            np.testing.assert_allclose(gates[name][t], expected[name], rtol=0, atol=1e-12)


def test_gate_activations_rejects_rnn_cache():
    p = scratch.params_from_torch(make_module("rnn_tanh"))
    x, states, _ = make_inputs("rnn_tanh")
    _, cache = scratch.rnn_forward(x, states[0], p)
    with pytest.raises(ValueError, match="lstm_forward or gru_forward"):
        scratch.gate_activations(cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_and_keeps_dtype(dtype):
    z = np.array([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        s = scratch.sigmoid(z)
    assert s.dtype == dtype
    expected = torch.sigmoid(torch.tensor(z)).numpy()
    np.testing.assert_allclose(s, expected, rtol=1e-6, atol=0)


# --- params_from_torch ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_params_from_torch_returns_float64_copies(kind):
    module = make_module(kind).float()
    p = scratch.params_from_torch(module)
    assert set(p) == set(scratch.PARAM_KEYS)
    G = N_GATES[kind]
    shapes = {"weight_ih": (G * H, D), "weight_hh": (G * H, H), "bias_ih": (G * H,),
              "bias_hh": (G * H,)}
    for k, shape in shapes.items():
        assert p[k].dtype == np.float64 and p[k].shape == shape
        np.testing.assert_array_equal(p[k], getattr(module, k + "_l0").detach().numpy())
        p[k][...] = 123.0
        assert not torch.any(getattr(module, k + "_l0") == 123.0)


@pytest.mark.parametrize("cls", [torch.nn.RNNCell, torch.nn.LSTMCell, torch.nn.GRUCell])
def test_params_from_torch_accepts_cells(cls):
    p = scratch.params_from_torch(cls(D, H))
    assert p["weight_ih"].shape[1] == D and p["weight_hh"].shape[1] == H


def test_params_from_torch_without_bias_gives_zero_biases():
    p = scratch.params_from_torch(torch.nn.LSTM(D, H, bias=False))
    np.testing.assert_array_equal(p["bias_ih"], np.zeros(4 * H))
    np.testing.assert_array_equal(p["bias_hh"], np.zeros(4 * H))


# --- clip_grad_norm ------------------------------------------------------------------------------


@pytest.mark.parametrize("max_norm", [0.5, 1e3], ids=["clipped", "unchanged"])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(0)
    grads = {"a": rng.standard_normal((4, 3)), "b": rng.standard_normal(5)}
    before = {k: g.copy() for k, g in grads.items()}
    clipped, total_norm = scratch.clip_grad_norm(grads, max_norm)

    tensors = [torch.zeros(g.shape, dtype=torch.float64) for g in grads.values()]
    for t_, g in zip(tensors, grads.values(), strict=True):
        t_.grad = torch.tensor(g)
    torch_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)

    assert isinstance(total_norm, float)
    assert total_norm == pytest.approx(float(torch_norm), rel=1e-12)
    assert total_norm > max_norm if max_norm < 1 else total_norm < max_norm
    for (k, g), t_ in zip(clipped.items(), tensors, strict=True):
        np.testing.assert_allclose(g, t_.grad.numpy(), rtol=1e-12, atol=0)
        assert g is not grads[k] and not np.shares_memory(g, grads[k])
        np.testing.assert_array_equal(grads[k], before[k])


def test_clip_grad_norm_keeps_float32():
    grads = {"w": np.full(4, 10.0, dtype=np.float32)}
    clipped, total_norm = scratch.clip_grad_norm(grads, np.float64(1.0))
    assert clipped["w"].dtype == np.float32
    assert total_norm == pytest.approx(20.0)
    assert np.linalg.norm(clipped["w"]) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("bad, max_norm", [(np.nan, 1.0), (np.inf, 1.0), (np.inf, np.inf),
                                           (np.nan, np.inf)])
def test_clip_grad_norm_treats_non_finite_gradients_as_torch_does(bad, max_norm):
    """A NaN anywhere makes torch's factor NaN: every array comes back all NaN, not the finite
    ones unclipped. An infinite norm gives the factor 0 (or NaN with max_norm = inf)."""
    grads = {"a": np.array([[1.0, 2.0], [3.0, bad]]), "b": np.array([0.5, -0.25])}
    clipped, total_norm = scratch.clip_grad_norm(grads, max_norm)
    tensors = [torch.zeros(g.shape, dtype=torch.float64) for g in grads.values()]
    for t_, g in zip(tensors, grads.values(), strict=True):
        t_.grad = torch.tensor(g)
    torch_norm = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    assert total_norm == torch_norm or (np.isnan(total_norm) and np.isnan(torch_norm))
    for g, t_ in zip(clipped.values(), tensors, strict=True):
        np.testing.assert_array_equal(g, t_.grad.numpy())   # NaN == NaN for this assert
    if np.isnan(bad) or max_norm == np.inf:
        assert all(np.isnan(g).all() for g in clipped.values())


# --- input validation -------------------------------------------------------------------------


def test_missing_key_names_the_key(kind):
    p = scratch.params_from_torch(make_module(kind))
    del p["bias_hh"]
    x, states, _ = make_inputs(kind)
    with pytest.raises(KeyError, match="bias_hh"):
        scratch_forward(kind, x, states, p)


@pytest.mark.parametrize(
    "what, expected",
    [("h0", r"expected shape \(3, 6\), got \(3, 5\)"),
     ("weight_ih", r"expected shape \(\d+, 4\), got \(\d+, 7\)"),
     ("x", r"expected a 3-D .*got shape \(3, 4\)")],
)
def test_wrong_shape_gives_clear_error(kind, what, expected):
    p = scratch.params_from_torch(make_module(kind))
    x, states, _ = make_inputs(kind)
    if what == "h0":
        states[0] = states[0][:, :5]
    elif what == "x":
        x = x[0]
    else:
        p[what] = np.zeros((p[what].shape[0], 7))
    with pytest.raises(ValueError, match=expected):
        scratch_forward(kind, x, states, p)


def test_step_and_backward_shape_errors():
    p = scratch.params_from_torch(make_module("lstm"))
    x, (h0, c0), dh_all = make_inputs("lstm")
    with pytest.raises(ValueError, match=r"c_prev .*expected shape \(3, 6\), got \(2, 6\)"):
        scratch.lstm_step(x[0], h0, c0[:2], p)
    _, _, cache = scratch.lstm_forward(x, h0, c0, p)
    with pytest.raises(ValueError, match=r"dh_all .*expected shape \(5, 3, 6\), got \(4, 3, 6\)"):
        scratch.lstm_backward(dh_all[:4], cache)
    with pytest.raises(ValueError, match="nonlinearity"):
        scratch.rnn_forward(x, h0, scratch.params_from_torch(make_module("rnn_tanh")), "sigmoid")


def test_last_state_classifier_grads_match_autograd():
    rng = np.random.default_rng(3)
    T, B, D, H, C = 5, 4, 3, 6, 3
    rnn = torch.nn.RNN(D, H).double()
    head = torch.nn.Linear(H, C).double()
    x = torch.from_numpy(rng.standard_normal((T, B, D)))
    y = torch.from_numpy(rng.integers(0, C, B))
    out, _ = rnn(x)
    loss = torch.nn.functional.cross_entropy(head(out[-1]), y)
    loss.backward()
    p = {k.removesuffix("_l0"): v.detach().numpy() for k, v in rnn.named_parameters()}
    h_all, cache = scratch.rnn_forward(x.numpy(), np.zeros((B, H)), p)
    got_loss, grads = scratch.last_state_classifier_grads(
        h_all, cache, head.weight.detach().numpy(), head.bias.detach().numpy(), y.numpy())
    assert isinstance(got_loss, float) and abs(got_loss - loss.item()) < 1e-12
    for k, v in rnn.named_parameters():
        np.testing.assert_allclose(grads[k.removesuffix("_l0")], v.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["W_hy"], head.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(grads["b_y"], head.bias.grad.numpy(), atol=1e-12)


# --- the public helpers and the reading promise ---------------------------------------------------


def test_float_dtype_and_nonlinearity_table():
    assert scratch.float_dtype(np.zeros(2, np.float32)) == np.float32
    assert scratch.float_dtype(np.zeros(2, np.int64)) == np.float64
    assert scratch.float_dtype([1, 2]) == np.float64
    scratch.check_nonlinearity("relu")
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        scratch.check_nonlinearity("linear")
    scratch.check_nonlinearity("linear", allowed=("linear", *scratch.NONLINEARITIES))


def test_step_input_must_be_2d():
    p = scratch.params_from_torch(make_module("gru"))
    x, (h0,), _ = make_inputs("gru")
    expected = r"x_t: expected a 2-D \(B, D\) array, got shape \(5, 3, 4\)"
    with pytest.raises(ValueError, match=expected):
        scratch.gru_step(x, h0, p)


def test_check_inputs_takes_its_keywords_in_any_order():
    p = scratch.params_from_torch(make_module("rnn_tanh"))
    x, (h0,), _ = make_inputs("rnn_tanh")
    a = scratch.check_inputs(p, 1, x=x, h0=h0)
    b = scratch.check_inputs(p, 1, h0=h0, x=x)
    assert len(a) == len(b) == 6
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(TypeError, match="exactly one input"):
        scratch.check_inputs(p, 1, h0=h0)
    with pytest.raises(TypeError, match="exactly one input"):
        scratch.check_inputs(p, 1, x=x, x_t=x[0], h0=h0)
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        scratch.check_inputs(p, 1, x=x, h0=h0, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        scratch.rnn_step(x[0], h0, p, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        scratch.rnn_forward(x, h0, p, nonlinearity="linear")


def test_conv1d_follows_the_scratch_dtype_rule():
    from course_utils import cnn

    x = np.arange(2 * 3 * 2).reshape(6, 1, 2) % 3            # int64 (T, B, D)
    w = np.full((1, 2, 2), 0.25)
    out = cnn.conv1d(x, w, np.array([0.1]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, cnn.conv1d(x.astype(np.float64), w, np.array([0.1])))
    assert not np.all(out == np.round(out))                  # not truncated to integers
    assert cnn.conv1d(x.astype(np.float32), w, np.zeros(1)).dtype == np.float32


READ_ALONE = ["rnn_step", "rnn_backward", "lstm_step", "lstm_backward", "gru_step", "gru_backward"]


@pytest.mark.parametrize("name", READ_ALONE)
def test_reference_reads_without_opening_another_function(name):
    """The module's promise: these bodies call no other scratch function but the sigmoid and
    the input checks, so a reader sees every equation in the function itself."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(getattr(scratch, name)))
    module_functions = {n for n, v in vars(scratch).items() if inspect.isfunction(v)}
    called = {c.func.id for c in ast.walk(tree)
              if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    allowed = {"sigmoid", "check_inputs", "check_dh_all", "check_nonlinearity"}
    assert called & module_functions <= allowed, called & module_functions - allowed
    # one validation call at the top: the nonlinearity check is folded into check_inputs
    checks = [c for c in ast.walk(tree) if isinstance(c, ast.Call)
              and isinstance(c.func, ast.Name) and c.func.id.startswith("check_")]
    assert len(checks) == 1, [c.func.id for c in checks]
