"""Vanilla RNN, LSTM and GRU written from scratch in NumPy: the course's reference code.

Each function is written to be read next to its chapter's equations (chapter 03 for the RNN,
04 for backpropagation through time, 06 for the LSTM, 07 for the GRU). They follow the CS231n
convention: a ``*_forward`` function returns ``(outputs..., cache)`` and the matching
``*_backward`` consumes that cache and returns the gradients.

Conventions (identical to PyTorch, so results can be checked against ``torch.nn``):

* Time index: the maths counts steps from 1, arrays from 0. A sequence is x_1 .. x_T and the
  initial state is h_0 (the argument ``h0``). ``x`` is time-major, shape ``(T, B, D)`` (T steps,
  batch B, input size D), and ``x[t-1]`` holds x_t; ``h_all`` has T rows and ``h_all[t-1]``
  holds h_t. Inside the loops ``t`` is the maths' step number, 1 .. T.
* Hidden and cell states are ``(B, H)``; ``h_all`` and ``c_all`` stack them over time,
  ``(T, B, H)``.
* ``p`` is a dict with ``weight_ih`` ``(G*H, D)``, ``weight_hh`` ``(G*H, H)``, ``bias_ih`` and
  ``bias_hh`` ``(G*H,)``, where G is the number of gate blocks stacked along the rows:
  1 for the RNN, 4 for the LSTM (order i, f, g, o), 3 for the GRU (order r, z, n).
  ``params_from_torch`` builds it from a PyTorch module.
* Everything is computed in the dtype of ``x`` (float32 or float64); parameters and states are
  cast to it, so float64 parameters with float32 inputs still give float32 outputs.
* ``dh_all`` passed to a backward function is dLoss/dh_t coming from *above* (from whatever
  consumes the outputs), ``dh_all[t-1]`` for step t; the part flowing back through time is
  added inside.

Gate activations for plots: the LSTM and GRU caches are dicts whose ``"gates"`` entry holds the
post-activation gates of every step, ``(T, B, 4H)`` in order i, f, g, o (LSTM) or ``(T, B, 3H)``
in order r, z, n (GRU). ``gate_activations(cache)`` splits them into a dict of ``(T, B, H)``
arrays keyed by gate name. For a single step use ``lstm_gates`` / ``gru_gates``.

Other cache entries, for the curious: ``"x"``; ``"hs"`` ``(T+1, B, H)`` with ``hs[t]`` = h_t for
t = 0 .. T (``"h_all"`` is the view ``hs[1:]``); LSTM ``"cs"`` likewise for c and ``"tanh_c"``
with ``tanh_c[t-1]`` = tanh(c_t); GRU ``"hn"`` with ``hn[t-1]`` = W_hn h_{t-1} + b_hn;
``"W_ih"`` and ``"W_hh"``, the weights cast to x's dtype. Treat caches as read-only.

Input checks: every step and forward function starts with one ``check_inputs`` call, every
backward function with ``check_dh_all``. They raise a clear error for a missing parameter or a
wrong shape and apply the dtype rule above (``float_dtype``); the rest of each function is the
chapter's equations, one line per equation where possible.

Speed: the code is written for reading. A forward step is the step function's equation;
each weight gradient, a sum over steps, is one matrix product over all steps (as chapter 04
derives it). Tricks that other implementations use were measured on the benchmark shape
(``python -m course_utils.maintainer.bench``: T=100, B=64, D=64, H=128, float32) and left out
because none gained more than 1.3x there: computing the input projections of all steps as one
product before the loop (slower here, its (T*B, G*H) result does not stay in cache), summing weight
gradients in slabs of rows, in-place activations and tanh written through the sigmoid.
"""

from __future__ import annotations

import math

import numpy as np

from course_utils.softmax import cross_entropy

PARAM_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
LSTM_GATE_NAMES = ("i", "f", "g", "o")
GRU_GATE_NAMES = ("r", "z", "n")
NONLINEARITIES = ("tanh", "relu")


# ---------------------------------------------------------------------------------------------
# Small helpers: the sigmoid, PyTorch's weights, and the input checks every function starts with
# ---------------------------------------------------------------------------------------------


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), elementwise on any shape; keeps float32/float64.

    For very negative x (below about -88 in float32, -709 in float64) exp(-x) overflows to inf,
    and 1 / (1 + inf) = 0 is still the right value, so only the overflow warning is silenced.
    """
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-np.asarray(x)))


def params_from_torch(module):
    """Layer-0 parameters of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` as float64 NumPy copies.

    Also accepts the single-step ``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell``. A module
    built with ``bias=False`` gets zero biases, so the scratch code needs no special case.
    Returns a dict with the keys of ``PARAM_KEYS``; the arrays own their memory, so editing them
    never changes the module.
    """
    suffix = "_l0" if hasattr(module, "weight_ih_l0") else ""
    if not hasattr(module, "weight_ih" + suffix):
        raise TypeError(f"expected a torch RNN/LSTM/GRU module, got {type(module).__name__}")

    def grab(name):
        # .astype copies by default, which is what decouples the result from the module.
        return getattr(module, name + suffix).detach().cpu().numpy().astype(np.float64)

    p = {"weight_ih": grab("weight_ih"), "weight_hh": grab("weight_hh")}
    for key in ("bias_ih", "bias_hh"):
        if getattr(module, key + suffix, None) is not None:
            p[key] = grab(key)
        else:
            p[key] = np.zeros(p["weight_hh"].shape[0])
    return p


def float_dtype(x):
    """The dtype the course computes ``x`` in: float32/float64 keep theirs, anything else
    (ints, bools, lists of Python numbers, ...) gets float64."""
    dtype = np.asarray(x).dtype
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def check_nonlinearity(nonlinearity, allowed=NONLINEARITIES):
    """Raise ValueError unless ``nonlinearity`` is one of ``allowed`` (default: the RNN's)."""
    if nonlinearity not in allowed:
        raise ValueError(f"nonlinearity must be one of {allowed}, got {nonlinearity!r}")


def _check_shape(name, arr, expected):
    if arr.shape != expected:
        raise ValueError(f"{name}: expected shape {expected}, got {arr.shape}")


def check_inputs(p, n_gates, *, x=None, x_t=None, nonlinearity=None, **states):
    """Validate the inputs of a step or sequence function and cast them to one float dtype.

    p: the parameter dict; n_gates: the number G of gate blocks stacked in its rows (1 RNN,
    4 LSTM, 3 GRU). The input by keyword, exactly one of ``x_t`` (B, D) for a step function or
    ``x`` (T, B, D) for a sequence function; the states, each (B, H), by keyword under their own
    names (used in error messages), in any order relative to the input. ``nonlinearity``: if
    given, it must be one of ``NONLINEARITIES`` (the RNN's).
    Returns the input, then the states in the order given, then W_ih (G*H, D), W_hh (G*H, H),
    b_ih (G*H,) and b_hh (G*H,), all cast to ``float_dtype`` of the input. H is read off W_hh.
    """
    if (x is None) == (x_t is None):
        raise TypeError("check_inputs needs exactly one input: x=(T, B, D) for a sequence "
                        "function or x_t=(B, D) for a step function")
    if nonlinearity is not None:
        check_nonlinearity(nonlinearity)
    x_name, ndim, layout = ("x", 3, "(T, B, D)") if x is not None else ("x_t", 2, "(B, D)")
    x = x if x is not None else x_t
    dtype = float_dtype(x)
    x = np.asarray(x, dtype=dtype)
    if x.ndim != ndim:
        raise ValueError(f"{x_name}: expected a {ndim}-D {layout} array, got shape {x.shape}")
    B, D = x.shape[-2:]
    for key in PARAM_KEYS:
        if key not in p:
            raise KeyError(f"parameter dict is missing {key!r} (expected keys {PARAM_KEYS})")
    W_ih, W_hh, b_ih, b_hh = (np.asarray(p[key], dtype=dtype) for key in PARAM_KEYS)
    if W_hh.ndim != 2:
        raise ValueError(f"weight_hh: expected a 2-D ({n_gates}*H, H) array, got {W_hh.shape}")
    H = W_hh.shape[1]
    GH = n_gates * H
    _check_shape(f"weight_hh ({n_gates}*H, H) with H={H}", W_hh, (GH, H))
    _check_shape(f"weight_ih ({n_gates}*H, D) with H={H}", W_ih, (GH, D))
    _check_shape(f"bias_ih ({n_gates}*H,) with H={H}", b_ih, (GH,))
    _check_shape(f"bias_hh ({n_gates}*H,) with H={H}", b_hh, (GH,))
    cast_states = []
    for name, s in states.items():  # the states, in the order given
        s = np.asarray(s, dtype=dtype)
        _check_shape(f"{name} (B, H)", s, (B, H))
        cast_states.append(s)
    return [x, *cast_states, W_ih, W_hh, b_ih, b_hh]


def check_dh_all(dh_all, cache):
    """``dh_all`` cast to the dtype of the forward pass, after checking it is (T, B, H)."""
    dh_all = np.asarray(dh_all, dtype=cache["x"].dtype)
    _check_shape("dh_all (T, B, H)", dh_all, cache["h_all"].shape)
    return dh_all


def gate_activations(cache):
    """Per-gate activations from an ``lstm_forward`` / ``gru_forward`` cache.

    Returns ``{"i", "f", "g", "o"}`` (LSTM) or ``{"r", "z", "n"}`` (GRU) mapped to ``(T, B, H)``
    arrays (read-only views into the cache, so cheap; copy before modifying).
    """
    names = {"lstm": LSTM_GATE_NAMES, "gru": GRU_GATE_NAMES}.get(cache.get("kind"))
    if names is None:
        raise ValueError("gate_activations needs a cache from lstm_forward or gru_forward")
    H = cache["h_all"].shape[-1]
    gates = cache["gates"]  # (T, B, G*H), the gate blocks side by side in the order of names
    out = {}
    for k, name in enumerate(names):
        view = gates[:, :, k * H : (k + 1) * H]
        view.flags.writeable = False  # only this view: the cache itself stays writeable
        out[name] = view
    return out


# ---------------------------------------------------------------------------------------------
# Vanilla RNN (chapters 03 and 04):  h_t = f(net_t),  net_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
# ---------------------------------------------------------------------------------------------


def rnn_step(x_t, h_prev, p, nonlinearity="tanh"):
    """One step of an Elman RNN (as ``torch.nn.RNN``).

    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh (default) or ReLU.
    x_t: (B, D), h_prev: (B, H) = h_{t-1} -> h_t: (B, H), in the dtype of x_t (h_prev and p are
    cast to it: x_t float32 with float64 parameters gives float32).
    """
    x_t, h_prev, W_ih, W_hh, b_ih, b_hh = check_inputs(p, 1, x_t=x_t, h_prev=h_prev,
                                                       nonlinearity=nonlinearity)
    # Rows are examples, so W x becomes x @ W.T.
    net = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # (B, H)
    if nonlinearity == "tanh":
        return np.tanh(net)
    return np.maximum(net, 0)


def rnn_forward(x, h0, p, nonlinearity="tanh"):
    """Run an RNN over a whole sequence: h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), t = 1..T.

    x: (T, B, D) with x[t-1] = x_t; h0: (B, H) = h_0.
    Returns h_all: (T, B, H) with h_all[t-1] = h_t, and a cache for ``rnn_backward``.
    """
    x, h0, W_ih, W_hh, b_ih, b_hh = check_inputs(p, 1, x=x, h0=h0, nonlinearity=nonlinearity)
    # Cast once here, so that rnn_step's casts cost nothing at every step.
    p = {"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh}
    T, B = x.shape[:2]
    H = h0.shape[1]
    hs = np.empty((T + 1, B, H), dtype=x.dtype)  # hs[t] = h_t, t = 0 .. T
    hs[0] = h0
    for t in range(1, T + 1):
        hs[t] = rnn_step(x[t - 1], hs[t - 1], p, nonlinearity)
    h_all = hs[1:]  # (T, B, H), h_1 .. h_T
    cache = {"kind": "rnn", "x": x, "hs": hs, "h_all": h_all, "W_ih": W_ih, "W_hh": W_hh,
             "nonlinearity": nonlinearity}
    return h_all, cache


def rnn_backward(dh_all, cache):
    """Backpropagation through time for ``rnn_forward`` (chapter 04's equations (2)-(8)).

    dh_all: (T, B, H), dh_all[t-1] = dLoss/dh_t from the layers above (cast to the dtype of the
    forward pass's x). Returns dx (T, B, D), dh0 (B, H) and grads, a dict with the keys of ``p``,
    all in that dtype.
    """
    dh_all = check_dh_all(dh_all, cache)
    x, hs, W_ih, W_hh = cache["x"], cache["hs"], cache["W_ih"], cache["W_hh"]
    T, B, D = x.shape
    H = hs.shape[2]
    delta_all = np.empty_like(dh_all)  # (T, B, H), delta_all[t-1] = delta_t = dLoss/dnet_t
    dh_next = np.zeros_like(hs[0])  # (B, H), W_hh^T delta_{t+1}: what step t+1 sends to h_t
    for t in range(T, 0, -1):
        h_t = hs[t]  # (B, H); hs has T + 1 rows, hs[t] = h_t (dh_all and delta_all have T)
        # (2): h_t feeds the layers above and step t+1, so the two gradients add.
        dh = dh_all[t - 1] + dh_next
        # (3): f' from the stored output h_t, tanh' = 1 - h_t^2, relu' = [h_t > 0].
        if cache["nonlinearity"] == "tanh":
            delta_t = dh * (1 - h_t**2)
        else:
            delta_t = dh * (h_t > 0)
        delta_all[t - 1] = delta_t
        dh_next = delta_t @ W_hh  # (B, H); rows are examples, so W^T delta is delta @ W
    # (5)-(7): every weight is used at every step, so its gradient is a sum over t. Stacking the
    # steps along the batch axis makes each sum one matrix product with T*B rows.
    delta_rows = delta_all.reshape(T * B, H)
    grads = {
        "weight_ih": delta_rows.T @ x.reshape(T * B, D),  # (H, D), sum_t delta_t x_t^T
        "weight_hh": delta_rows.T @ hs[:-1].reshape(T * B, H),  # (H, H), sum_t delta_t h_{t-1}^T
        # Both biases are added to net_t unscaled, so both get the same gradient, sum_t delta_t.
        "bias_ih": delta_all.sum(axis=(0, 1)),  # (H,)
        "bias_hh": delta_all.sum(axis=(0, 1)),
    }
    # (8): dx_t = W_ih^T delta_t for all steps at once.
    dx = delta_all @ W_ih  # (T, B, D)
    # After the loop (t = 1) dh_next is what step 1 sent back to h_0: dh_0 = W_hh^T delta_1.
    dh0 = dh_next
    return dx, dh0, grads


def last_state_classifier_grads(h_all, cache, W_hy, b_y, y):
    """A classifier on the last state: logits = h_T W_hy^T + b_y, mean cross-entropy against y.

    h_all, cache: from ``rnn_forward``; W_hy (C, H), b_y (C,), y (B,) class ids. The loss sits
    on h_T only, so dLoss/dh_t = 0 for t < T and BPTT starts from dh_all[-1] alone. Returns
    (loss, grads): loss a Python float, grads the keys of the RNN's p plus "W_hy" and "b_y".
    Chapter 04's exercise 3 derives this; the chapter's training loop calls it.
    """
    loss, dz = cross_entropy(h_all[-1] @ W_hy.T + b_y, y)  # dz = (softmax - onehot) / B, (B, C)
    dh_all = np.zeros_like(h_all)
    dh_all[-1] = dz @ W_hy
    _, _, grads = rnn_backward(dh_all, cache)
    grads["W_hy"] = dz.T @ h_all[-1]  # (C, H)
    grads["b_y"] = dz.sum(0)  # (C,)
    return loss, grads


# ---------------------------------------------------------------------------------------------
# LSTM (chapter 06):  i, f, o = sigmoid(.), g = tanh(.);  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)
# ---------------------------------------------------------------------------------------------
# The four gates share one matrix product: W_ih and W_hh stack their blocks in the order i, f, g, o
# (PyTorch's), so the (B, 4H) pre-activation holds gate i in columns 0 .. H-1, f in H .. 2H-1, ...


def lstm_gates(x_t, h_prev, p):
    """Gate activations of one LSTM step: dict ``{"i", "f", "g", "o"}`` of (B, H) arrays.

    x_t: (B, D), h_prev: (B, H) = h_{t-1}. (The gates depend on x_t and h_{t-1} only, not on
    c_{t-1}.) These are the first four lines of ``lstm_step``.
    """
    x_t, h_prev, W_ih, W_hh, b_ih, b_hh = check_inputs(p, 4, x_t=x_t, h_prev=h_prev)
    H = h_prev.shape[1]
    a = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # (B, 4H), the four pre-activations
    return {"i": sigmoid(a[:, :H]),
            "f": sigmoid(a[:, H : 2 * H]),
            "g": np.tanh(a[:, 2 * H : 3 * H]),
            "o": sigmoid(a[:, 3 * H :])}


def lstm_step(x_t, h_prev, c_prev, p):
    """One LSTM step (as ``torch.nn.LSTM``): c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t).

    x_t: (B, D), h_prev, c_prev: (B, H) = h_{t-1}, c_{t-1} -> h_t, c_t: (B, H), in the dtype of
    x_t (states and p are cast to it: x_t float32 with float64 parameters gives float32).
    """
    x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh = check_inputs(
        p, 4, x_t=x_t, h_prev=h_prev, c_prev=c_prev)
    H = h_prev.shape[1]
    a = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # (B, 4H), the four pre-activations
    i = sigmoid(a[:, :H])  # (B, H) input gate: how much of the candidate to write
    f = sigmoid(a[:, H : 2 * H])  # forget gate: how much of the old cell to keep
    g = np.tanh(a[:, 2 * H : 3 * H])  # candidate cell content
    o = sigmoid(a[:, 3 * H :])  # output gate: how much of the cell to show
    c_t = f * c_prev + i * g  # (B, H)
    h_t = o * np.tanh(c_t)  # (B, H)
    return h_t, c_t


def lstm_forward(x, h0, c0, p):
    """Run an LSTM over a whole sequence, t = 1 .. T.

    x: (T, B, D) with x[t-1] = x_t; h0, c0: (B, H) = h_0, c_0.
    Returns h_all, c_all: (T, B, H) with h_all[t-1] = h_t, c_all[t-1] = c_t, and a cache for
    ``lstm_backward``. ``cache["gates"]`` (T, B, 4H) holds the gate activations i, f, g, o of
    every step (split them with ``gate_activations(cache)``).
    """
    x, h0, c0, W_ih, W_hh, b_ih, b_hh = check_inputs(p, 4, x=x, h0=h0, c0=c0)
    T, B = x.shape[:2]
    H = h0.shape[1]
    hs = np.empty((T + 1, B, H), dtype=x.dtype)  # hs[t] = h_t, t = 0 .. T
    cs = np.empty((T + 1, B, H), dtype=x.dtype)  # cs[t] = c_t
    hs[0], cs[0] = h0, c0
    gates = np.empty((T, B, 4 * H), dtype=x.dtype)  # gates[t-1] = (i_t, f_t, g_t, o_t) side by side
    tanh_c = np.empty((T, B, H), dtype=x.dtype)  # tanh_c[t-1] = tanh(c_t), for the backward pass
    for t in range(1, T + 1):
        a = x[t - 1] @ W_ih.T + b_ih + hs[t - 1] @ W_hh.T + b_hh  # (B, 4H)
        i = sigmoid(a[:, :H])
        f = sigmoid(a[:, H : 2 * H])
        g = np.tanh(a[:, 2 * H : 3 * H])
        o = sigmoid(a[:, 3 * H :])
        cs[t] = f * cs[t - 1] + i * g
        tanh_c[t - 1] = np.tanh(cs[t])
        hs[t] = o * tanh_c[t - 1]
        gates[t - 1] = np.concatenate([i, f, g, o], axis=1)  # kept for the backward pass and plots
    h_all, c_all = hs[1:], cs[1:]
    cache = {"kind": "lstm", "x": x, "hs": hs, "cs": cs, "h_all": h_all, "tanh_c": tanh_c,
             "gates": gates, "W_ih": W_ih, "W_hh": W_hh}
    return h_all, c_all, cache


def lstm_backward(dh_all, cache):
    """Backpropagation through time for ``lstm_forward``.

    dh_all: (T, B, H), dh_all[t-1] = dLoss/dh_t from above (the LSTM's output is h, so no
    gradient for c_all comes from above). Returns dx (T, B, D), dh0 (B, H), dc0 (B, H) and grads.
    """
    dh_all = check_dh_all(dh_all, cache)
    x, hs, cs, tanh_c, gates = cache["x"], cache["hs"], cache["cs"], cache["tanh_c"], cache["gates"]
    W_ih, W_hh = cache["W_ih"], cache["W_hh"]
    T, B, D = x.shape
    H = hs.shape[2]
    da_all = np.empty_like(gates)  # (T, B, 4H), da_all[t-1] = dLoss/da_t, blocks i, f, g, o
    dh_next = np.zeros_like(hs[0])  # (B, H), what step t+1 sends back to h_t (0 at t = T)
    dc_next = np.zeros_like(cs[0])  # (B, H), what step t+1 sends back to c_t (0 at t = T)
    for t in range(T, 0, -1):
        # This step's values, (B, H) each. Arrays with T + 1 rows (hs, cs) hold step t at row t,
        # arrays with T rows (gates, tanh_c, dh_all) at row t - 1.
        i = gates[t - 1, :, :H]  # the gates of step t, as stored by the forward pass
        f = gates[t - 1, :, H : 2 * H]
        g = gates[t - 1, :, 2 * H : 3 * H]
        o = gates[t - 1, :, 3 * H :]
        c_prev = cs[t - 1]  # c_{t-1}
        tanh_c_t = tanh_c[t - 1]  # tanh(c_t)
        dh = dh_all[t - 1] + dh_next
        # c_t reaches the loss through h_t = o tanh(c_t) and through c_{t+1} = f_{t+1} c_t + ...
        dc = dc_next + dh * o * (1 - tanh_c_t**2)
        # Product rule on c_t = f c_{t-1} + i g and h_t = o tanh(c_t), then each gate's activation,
        # from its stored output: sigmoid' = s (1 - s), tanh' = 1 - g^2.
        da_i = dc * g * i * (1 - i)  # (B, H), dLoss/d(pre-activation of i_t)
        da_f = dc * c_prev * f * (1 - f)
        da_g = dc * i * (1 - g**2)
        da_o = dh * tanh_c_t * o * (1 - o)
        da_all[t - 1] = np.concatenate([da_i, da_f, da_g, da_o], axis=1)  # (B, 4H)
        dc_next = dc * f  # c_{t-1} reaches c_t only through f_t c_{t-1}
        dh_next = da_all[t - 1] @ W_hh  # (B, H); rows are examples, so W^T da is da @ W
    # Every weight is used at every step: its gradient is a sum over t, one product over T*B rows.
    da_rows = da_all.reshape(T * B, 4 * H)
    grads = {
        "weight_ih": da_rows.T @ x.reshape(T * B, D),  # (4H, D), sum_t da_t x_t^T
        "weight_hh": da_rows.T @ hs[:-1].reshape(T * B, H),  # (4H, H), sum_t da_t h_{t-1}^T
        # Both biases are added to a_t unscaled, so both get the same gradient, sum_t da_t.
        "bias_ih": da_all.sum(axis=(0, 1)),  # (4H,)
        "bias_hh": da_all.sum(axis=(0, 1)),
    }
    dx = da_all @ W_ih  # (T, B, D), dx_t = W_ih^T da_t
    # After the loop (t = 1) dh_next and dc_next are what step 1 sent back to h_0 and c_0.
    dh0, dc0 = dh_next, dc_next
    return dx, dh0, dc0, grads


# ---------------------------------------------------------------------------------------------
# GRU (chapter 07, PyTorch's convention):  r, z = sigmoid(...);
#     n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn));  h_t = (1 - z) * n + z * h_{t-1}
# ---------------------------------------------------------------------------------------------
# The gate blocks are stacked in the order r, z, n. The input and hidden products stay apart
# because r multiplies the hidden part of the candidate only.


def gru_gates(x_t, h_prev, p):
    """Gate activations of one GRU step: dict ``{"r", "z", "n"}`` of (B, H) arrays.

    x_t: (B, D), h_prev: (B, H) = h_{t-1}. These are the first lines of ``gru_step``.
    """
    x_t, h_prev, W_ih, W_hh, b_ih, b_hh = check_inputs(p, 3, x_t=x_t, h_prev=h_prev)
    H = h_prev.shape[1]
    ax = x_t @ W_ih.T + b_ih  # (B, 3H), W_i* x_t + b_i* for * = r, z, n
    ah = h_prev @ W_hh.T + b_hh  # (B, 3H), W_h* h_{t-1} + b_h*
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
    n = np.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
    return {"r": r, "z": z, "n": n}


def gru_step(x_t, h_prev, p):
    """One GRU step (as ``torch.nn.GRU``): h_t = (1 - z) * n + z * h_{t-1}.

    x_t: (B, D), h_prev: (B, H) = h_{t-1} -> h_t: (B, H), in the dtype of x_t (h_prev and p are
    cast to it: x_t float32 with float64 parameters gives float32).
    """
    x_t, h_prev, W_ih, W_hh, b_ih, b_hh = check_inputs(p, 3, x_t=x_t, h_prev=h_prev)
    H = h_prev.shape[1]
    ax = x_t @ W_ih.T + b_ih  # (B, 3H), W_i* x_t + b_i* for * = r, z, n
    ah = h_prev @ W_hh.T + b_hh  # (B, 3H), W_h* h_{t-1} + b_h*
    r = sigmoid(ax[:, :H] + ah[:, :H])  # (B, H) reset gate
    z = sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])  # update gate: how much old state to keep
    # Unlike the other gates, r scales the hidden projection (bias included) before the sum.
    n = np.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])  # candidate state
    return (1 - z) * n + z * h_prev  # (B, H)


def gru_forward(x, h0, p):
    """Run a GRU over a whole sequence, t = 1 .. T.

    x: (T, B, D) with x[t-1] = x_t; h0: (B, H) = h_0.
    Returns h_all: (T, B, H) with h_all[t-1] = h_t, and a cache for ``gru_backward``.
    ``cache["gates"]`` (T, B, 3H) holds the activations r, z, n of every step (split them with
    ``gate_activations(cache)``).
    """
    x, h0, W_ih, W_hh, b_ih, b_hh = check_inputs(p, 3, x=x, h0=h0)
    T, B = x.shape[:2]
    H = h0.shape[1]
    hs = np.empty((T + 1, B, H), dtype=x.dtype)  # hs[t] = h_t, t = 0 .. T
    hs[0] = h0
    gates = np.empty((T, B, 3 * H), dtype=x.dtype)  # gates[t-1] = (r_t, z_t, n_t) side by side
    hn_all = np.empty((T, B, H), dtype=x.dtype)  # hn_all[t-1] = W_hn h_{t-1} + b_hn, for dLoss/dr
    for t in range(1, T + 1):
        ax = x[t - 1] @ W_ih.T + b_ih  # (B, 3H)
        ah = hs[t - 1] @ W_hh.T + b_hh  # (B, 3H)
        r = sigmoid(ax[:, :H] + ah[:, :H])
        z = sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        n = np.tanh(ax[:, 2 * H :] + r * ah[:, 2 * H :])
        hs[t] = (1 - z) * n + z * hs[t - 1]
        gates[t - 1] = np.concatenate([r, z, n], axis=1)  # kept for the backward pass and plots
        hn_all[t - 1] = ah[:, 2 * H :]
    h_all = hs[1:]
    cache = {"kind": "gru", "x": x, "hs": hs, "h_all": h_all, "gates": gates, "hn": hn_all,
             "W_ih": W_ih, "W_hh": W_hh}
    return h_all, cache


def gru_backward(dh_all, cache):
    """Backpropagation through time for ``gru_forward``.

    dh_all: (T, B, H), dh_all[t-1] = dLoss/dh_t from above.
    Returns dx (T, B, D), dh0 (B, H) and grads, a dict with the keys of ``p``.
    """
    dh_all = check_dh_all(dh_all, cache)
    x, hs, gates, hn_all = cache["x"], cache["hs"], cache["gates"], cache["hn"]
    W_ih, W_hh = cache["W_ih"], cache["W_hh"]
    T, B, D = x.shape
    H = hs.shape[2]
    # Two sets of pre-activation gradients. For r and z they are equal, but the candidate's hidden
    # part (W_hn h_{t-1} + b_hn) sits behind r, so its gradient is r times the input part's.
    dax_all = np.empty_like(gates)  # (T, B, 3H), dLoss/d(W_ih x_t + b_ih), blocks r, z, n
    dah_all = np.empty_like(gates)  # (T, B, 3H), dLoss/d(W_hh h_{t-1} + b_hh)
    dh_next = np.zeros_like(hs[0])  # (B, H), what step t+1 sends back to h_t (0 at t = T)
    for t in range(T, 0, -1):
        r = gates[t - 1, :, :H]  # (B, H), this step's gates, as stored by the forward pass
        z = gates[t - 1, :, H : 2 * H]
        n = gates[t - 1, :, 2 * H :]
        h_prev = hs[t - 1]
        dh = dh_all[t - 1] + dh_next
        # Through h_t = (1 - z) n + z h_{t-1}, then each activation (sigmoid' = s (1 - s),
        # tanh' = 1 - n^2); n's pre-activation is W_in x_t + b_in + r * hn_t.
        da_n = dh * (1 - z) * (1 - n**2)
        da_z = dh * (h_prev - n) * z * (1 - z)
        da_r = da_n * hn_all[t - 1] * r * (1 - r)
        dax_all[t - 1] = np.concatenate([da_r, da_z, da_n], axis=1)  # (B, 3H)
        dah_all[t - 1] = np.concatenate([da_r, da_z, da_n * r], axis=1)  # r scales hn_t
        # h_{t-1} is used directly (z * h_{t-1}) and through the recurrent product.
        dh_next = dh * z + dah_all[t - 1] @ W_hh
    # Every weight is used at every step: its gradient is a sum over t, one product over T*B rows.
    grads = {
        "weight_ih": dax_all.reshape(T * B, 3 * H).T @ x.reshape(T * B, D),  # (3H, D)
        "weight_hh": dah_all.reshape(T * B, 3 * H).T @ hs[:-1].reshape(T * B, H),  # (3H, H)
        # The biases differ here: b_hn sits behind r with W_hn h_{t-1}, b_in does not.
        "bias_ih": dax_all.sum(axis=(0, 1)),  # (3H,)
        "bias_hh": dah_all.sum(axis=(0, 1)),
    }
    dx = dax_all @ W_ih  # (T, B, D)
    # After the loop (t = 1) dh_next is what step 1 sent back to h_0: dLoss/dh_0.
    dh0 = dh_next
    return dx, dh0, grads


# ---------------------------------------------------------------------------------------------
# Gradient clipping (chapter 05)
# ---------------------------------------------------------------------------------------------


def clip_grad_norm(grads, max_norm):
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    Mirrors ``torch.nn.utils.clip_grad_norm_``: the norm is taken over *all* arrays as if they
    were one long vector, and every array is multiplied by max_norm / (total_norm + 1e-6) only
    when that factor is below 1 (the 1e-6 guards against dividing by zero). Non-finite
    gradients as in torch: a NaN total norm (a NaN anywhere) makes the factor NaN, so every
    array comes back all NaN; an infinite norm with a finite ``max_norm`` makes it 0 (finite
    entries become 0, infinite ones NaN); an infinite norm with ``max_norm = inf`` gives NaN.
    Returns ``(clipped, total_norm)``: a new dict of new arrays (the input is left untouched)
    and the norm *before* clipping, as a Python float.
    """
    # Squares summed in float64 so a float32 norm does not lose precision over many arrays.
    total_norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64))
                                   for g in grads.values())))
    # float() keeps the factor a *weak* Python scalar, so float32 gradients stay float32.
    # Python's float division gives NaN for a NaN norm or inf / inf, and 0.0 for x / inf.
    scale = float(max_norm) / (total_norm + 1e-6)
    if scale < 1 or math.isnan(scale):  # torch's min(1, factor) keeps a NaN factor
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in torch, without a warning
            clipped = {k: np.asarray(g) * scale for k, g in grads.items()}
    else:
        clipped = {k: np.array(g, copy=True) for k, g in grads.items()}
    return clipped, total_norm
