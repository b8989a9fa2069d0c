"""The four backward-pass checkers (chapter 02's conv_maxpool_backward, chapter 04's BPTT,
chapter 06's LSTM and chapter 07's GRU backward): they accept correct implementations written
differently (loops, im2col, stacked weights, PyTorch autograd) and reject
plausible wrong ones, and every hint they carry is shown for a wrong implementation.

The wrong versions here are written independently of the checkers' own known-mistake variants.
"""

import numpy as np
import pytest
import torch

from course_utils.grading import checks
from course_utils.grading.checks import ch02_cnn, ch04_bptt, ch06_lstm, ch07_gru


def sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def cast(dtype, *arrays):
    return tuple(np.asarray(a, dtype=dtype) for a in arrays)


def cast_p(p, dtype):
    return {k: np.asarray(v, dtype=dtype) for k, v in p.items()}


def torch_dtype(dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


# ====================================================================== conv_maxpool_backward
def conv_variant(relu_grad=True, one_window=True, flip=False, accumulate=True, bias="sum",
                 dx_times_dpooled=True, transpose_dweight=False, keep_dtype=True,
                 mutate=False):
    """A loop over (sentence, filter): find the winning window, route the gradient into it."""
    def fn(x, weight, bias_, dpooled):
        dt = x.dtype if keep_dtype else np.float64
        x_, w, b_, dp = cast(dt, x, weight, bias_, dpooled)
        if flip:
            w = w[:, :, ::-1]
        T, B, D = x_.shape
        C, _, k = w.shape
        n = T - k + 1
        maps = np.empty((n, B, C), dtype=dt)
        for t in range(n):
            maps[t] = np.einsum("kbd,cdk->bc", x_[t:t + k], w) + b_
        dx, dw, db = np.zeros_like(x_), np.zeros_like(w), np.zeros((B, C), dtype=dt)
        for b in range(B):
            for c in range(C):
                windows = range(n) if not one_window else [int(np.argmax(maps[:, b, c]))]
                for t in windows:
                    if relu_grad and maps[t, b, c] <= 0:
                        continue
                    g = dp[b, c]
                    contrib = (g if dx_times_dpooled else 1.0) * w[c].T  # (k, D)
                    if accumulate:
                        dx[t:t + k, b] += contrib
                    else:
                        dx[t:t + k, b] = contrib
                    dw[c] += g * x_[t:t + k, b].T
                    db[b, c] += g
        if flip:
            dw = dw[:, :, ::-1]
        if mutate:
            x[...] = 0
        dbias = {"sum": db.sum(0), "mean": db.mean(0), "none": db}[bias]
        if transpose_dweight:
            dw = dw.transpose(1, 0, 2)
        return dx, np.ascontiguousarray(dw), dbias
    return fn


def conv_ok_im2col(x, weight, bias, dpooled):
    """Windows as rows of a matrix (im2col): one matrix product forward, two backward."""
    x, weight, bias, dpooled = cast(x.dtype, x, weight, bias, dpooled)
    T, B, D = x.shape
    C, _, k = weight.shape
    n = T - k + 1
    cols = np.stack([x[t:t + k].transpose(1, 0, 2).reshape(B, k * D) for t in range(n)])
    wmat = weight.transpose(0, 2, 1).reshape(C, k * D)  # row c: filter c, offset-major
    maps = cols @ wmat.T + bias  # (n, B, C)
    win = maps.argmax(0)
    dmaps = np.zeros_like(maps)
    np.put_along_axis(dmaps, win[None], (dpooled * (maps.max(0) > 0))[None], axis=0)
    dcols = dmaps @ wmat  # (n, B, k*D)
    dx = np.zeros_like(x)
    for t in range(n):
        dx[t:t + k] += dcols[t].reshape(B, k, D).transpose(1, 0, 2)
    dw = np.einsum("nbc,nbe->ce", dmaps, cols).reshape(C, k, D).transpose(0, 2, 1)
    return dx, np.ascontiguousarray(dw), dmaps.sum((0, 1))


def conv_ok_torch(x, weight, bias, dpooled):
    """Autograd with max_pool1d over the whole length, in the dtype of x."""
    td = torch_dtype(x.dtype)
    xt = torch.tensor(x, dtype=td).permute(1, 2, 0).contiguous().requires_grad_()
    wt = torch.tensor(weight, dtype=td, requires_grad=True)
    bt = torch.tensor(bias, dtype=td, requires_grad=True)
    maps = torch.relu(torch.nn.functional.conv1d(xt, wt, bt))
    pooled = torch.nn.functional.max_pool1d(maps, maps.shape[-1]).squeeze(-1)
    pooled.backward(torch.tensor(dpooled, dtype=td))
    return xt.grad.permute(2, 0, 1).numpy().copy(), wt.grad.numpy(), bt.grad.numpy()


CONV_OK = [conv_variant(), conv_ok_im2col]  # conv_ok_torch: autograd is the answer, refused
CONV_WRONG = {
    "no ReLU derivative (missing factor)": conv_variant(relu_grad=False),
    "gradient to every window (sum pooling)": conv_variant(one_window=False),
    "flipped filter (true convolution)": conv_variant(flip=True),
    "dx assigned, not accumulated": conv_variant(accumulate=False),
    "bias gradient not summed over the batch": conv_variant(bias="none"),
    "bias gradient averaged over the batch": conv_variant(bias="mean"),
    "dx without the upstream factor dpooled": conv_variant(dx_times_dpooled=False),
    "transposed dweight": conv_variant(transpose_dweight=True),
    "always float64": conv_variant(keep_dtype=False),
    "modifies x in place": conv_variant(mutate=True),
}
# which hint each wrong implementation must trigger (a fragment of the hint text)
CONV_HINTS = {
    "no ReLU derivative (missing factor)": "ReLU's derivative",
    "gradient to every window (sum pooling)": "ONE window",
    "flipped filter (true convolution)": "does not flip",
    "dx assigned, not accumulated": "ADD each window",
    "bias gradient not summed over the batch": "giving shape (C,)",
    "bias gradient averaged over the batch": "do not average",
}


# ====================================================================== rnn_classifier_grads
def clf_variant(mean_grad=True, onehot=True, head_at_every_step=False, recursion=True,
                tanh_slope=True, transpose_why=False, bias_y="sum", keep_dtype=True,
                loss_kind="float", h0_random=False):
    def fn(x, y, p):
        dt = x.dtype if keep_dtype else np.float64
        x = np.asarray(x, dtype=dt)
        p = cast_p(p, dt)
        T, B, _ = x.shape
        H = p["weight_hh"].shape[0]
        h = [np.random.default_rng(0).standard_normal((B, H)).astype(dt) if h0_random
             else np.zeros((B, H), dtype=dt)]
        for t in range(T):
            h.append(np.tanh(x[t] @ p["weight_ih"].T + h[-1] @ p["weight_hh"].T
                             + p["bias_ih"] + p["bias_hh"]))
        logits = h[-1] @ p["weight_hy"].T + p["bias_y"]
        m = logits.max(1, keepdims=True)
        lse = m + np.log(np.exp(logits - m).sum(1, keepdims=True))
        prob = np.exp(logits - lse)
        nll = (lse[:, 0] - logits[np.arange(B), y])
        loss = {"float": float(nll.mean()), "sum": float(nll.sum()),
                "array": nll.mean(keepdims=True)}[loss_kind]
        onehot_y = np.eye(logits.shape[1], dtype=dt)[y]
        dz = prob - onehot_y if onehot else prob
        if mean_grad:
            dz = dz / B
        g = {"weight_hy": h[-1].T @ dz if transpose_why else dz.T @ h[-1],
             "bias_y": {"sum": dz.sum(0), "none": dz, "mean": dz.mean(0)}[bias_y]}
        dh_T = dz @ p["weight_hy"]
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            g[k] = np.zeros_like(p[k])
        carry = np.zeros_like(dh_T)
        for t in range(T, 0, -1):
            dh = carry + (dh_T if (t == T or head_at_every_step) else 0)
            d = dh * ((1 - h[t] ** 2) if tanh_slope else (1 - h[t]))
            g["weight_ih"] += d.T @ x[t - 1]
            g["weight_hh"] += d.T @ h[t - 1]
            g["bias_ih"] += d.sum(0)
            g["bias_hh"] += d.sum(0)
            carry = d @ p["weight_hh"] if recursion else np.zeros_like(carry)
        return loss, g
    return fn


def clf_ok_stacked(x, y, p):
    """The stacked-weight trick, [x_t, h_{t-1}] @ [W_ih, W_hh].T, and a NumPy scalar loss."""
    p = cast_p(p, x.dtype)
    T, B, D = x.shape
    w = np.concatenate([p["weight_ih"], p["weight_hh"]], axis=1)
    b = p["bias_ih"] + p["bias_hh"]
    zs, hs = [], [np.zeros((B, w.shape[0]), dtype=x.dtype)]
    for t in range(T):
        zs.append(np.concatenate([x[t], hs[-1]], axis=1))
        hs.append(np.tanh(zs[-1] @ w.T + b))
    logits = hs[-1] @ p["weight_hy"].T + p["bias_y"]
    e = np.exp(logits - logits.max(1, keepdims=True))
    prob = e / e.sum(1, keepdims=True)
    loss = -np.mean(np.log(prob[np.arange(B), y]))  # a NumPy scalar: accepted
    dz = prob.copy()
    dz[np.arange(B), y] -= 1
    dz /= B
    dw, db = np.zeros_like(w), np.zeros_like(b)
    dh = dz @ p["weight_hy"]
    for t in reversed(range(T)):
        d = dh * (1 - hs[t + 1] ** 2)
        dw += d.T @ zs[t]
        db += d.sum(0)
        dh = (d @ w)[:, D:]
    return loss, {"weight_ih": dw[:, :D], "weight_hh": dw[:, D:], "bias_ih": db,
                  "bias_hh": db.copy(), "weight_hy": dz.T @ hs[-1], "bias_y": dz.sum(0)}


def clf_ok_torch(x, y, p):
    """nn.RNN + nn.Linear + F.cross_entropy, autograd in the dtype of x."""
    td = torch_dtype(x.dtype)
    H, D = p["weight_ih"].shape
    C = p["weight_hy"].shape[0]
    rnn, head = torch.nn.RNN(D, H).to(td), torch.nn.Linear(H, C).to(td)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn, name + "_l0").copy_(torch.tensor(p[name], dtype=td))
        head.weight.copy_(torch.tensor(p["weight_hy"], dtype=td))
        head.bias.copy_(torch.tensor(p["bias_y"], dtype=td))
    _, h_T = rnn(torch.tensor(x, dtype=td))
    loss = torch.nn.functional.cross_entropy(head(h_T[0]), torch.tensor(y, dtype=torch.long))
    loss.backward()
    g = {name: getattr(rnn, name + "_l0").grad.numpy()
         for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    g["weight_hy"], g["bias_y"] = head.weight.grad.numpy(), head.bias.grad.numpy()
    return loss.item(), g


CLF_OK = [clf_variant(), clf_ok_stacked, clf_ok_torch]
CLF_WRONG = {
    "no 1/B in the logits' gradient (missing factor)": clf_variant(mean_grad=False),
    "forgot the one-hot": clf_variant(onehot=False),
    "head gradient fed at every step (misplaced)": clf_variant(head_at_every_step=True),
    "no accumulation through time": clf_variant(recursion=False),
    "1 - h instead of 1 - h**2": clf_variant(tanh_slope=False),
    "transposed weight_hy gradient": clf_variant(transpose_why=True),
    "bias_y gradient not summed over the batch": clf_variant(bias_y="none"),
    "bias_y gradient averaged": clf_variant(bias_y="mean"),
    "summed loss": clf_variant(loss_kind="sum"),
    "always float64": clf_variant(keep_dtype=False),
    "random initial state": clf_variant(h0_random=True),
}
CLF_HINTS = {
    "no 1/B in the logits' gradient (missing factor)": "factor 1/B",
    "forgot the one-hot": "one-hot label",
    "head gradient fed at every step (misplaced)": "reads h_T only",
    "no accumulation through time": "flow back through time",
    "1 - h instead of 1 - h**2": "1 - h**2",
    "transposed weight_hy gradient": "dlogits.T @ h_T",
    "bias_y gradient not summed over the batch": "giving shape (C,)",
}


# ====================================================================== lstm_bptt
def lstm_variant(carry_c=True, carry_h=True, tanh_slope=True, c_prev_for_f=True,
                 swap_ig=False, swap_go_blocks=False, dc0_times_f=True, bias="sum",
                 transpose_w=False, keep_dtype=True):
    def fn(x, h0, c0, p, dh_all):
        dt = x.dtype if keep_dtype else np.float64
        x, h0, c0, dh_all = cast(dt, x, h0, c0, dh_all)
        p = cast_p(p, dt)
        T = x.shape[0]
        H = h0.shape[1]
        hs, cs, cache = [h0], [c0], []
        for t in range(T):
            a = x[t] @ p["weight_ih"].T + hs[-1] @ p["weight_hh"].T + p["bias_ih"] + p["bias_hh"]
            i, f, g, o = (sig(a[:, :H]), sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]),
                          sig(a[:, 3 * H:]))
            cs.append(f * cs[-1] + i * g)
            hs.append(o * np.tanh(cs[-1]))
            cache.append((i, f, g, o))
        gw_ih, gw_hh = np.zeros_like(p["weight_ih"]), np.zeros_like(p["weight_hh"])
        gb = np.zeros((x.shape[1], 4 * H), dtype=dt) if bias == "batch" else \
            np.zeros(4 * H, dtype=dt)
        dx = np.empty_like(x)
        dh_n, dc_n = np.zeros_like(h0), np.zeros_like(c0)
        for t in reversed(range(T)):
            i, f, g, o = cache[t]
            tc = np.tanh(cs[t + 1])
            dh = dh_all[t] + (dh_n if carry_h else 0)
            dc = (dc_n if carry_c else 0) + dh * o * ((1 - tc ** 2) if tanh_slope else 1)
            di = dc * (i if swap_ig else g)
            dg = dc * (g if swap_ig else i)
            df = dc * (cs[t] if c_prev_for_f else cs[t + 1])
            do = dh * tc
            blocks = [di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)]
            if swap_go_blocks:  # forward right, but backward writes g's and o's rows swapped
                blocks[2], blocks[3] = blocks[3], blocks[2]
            da = np.concatenate(blocks, axis=1)
            gw_ih += da.T @ x[t]
            gw_hh += da.T @ hs[t]
            gb += da if bias == "batch" else da.sum(0)
            dx[t] = da @ p["weight_ih"]
            dh_n = da @ p["weight_hh"]
            dc_last = dc
            dc_n = dc * f
        if bias == "last_step":  # only the first step's (t = 0) contribution
            gb = da.sum(0)
        grads = {"weight_ih": gw_ih.T.copy() if transpose_w else gw_ih,
                 "weight_hh": gw_hh.T.copy() if transpose_w else gw_hh,
                 "bias_ih": gb, "bias_hh": gb.copy()}
        return dx, dh_n, dc_n if dc0_times_f else dc_last, grads
    return fn


def lstm_ok_torch(x, h0, c0, p, dh_all):
    """torch.nn.LSTM autograd, in the dtype of x."""
    td = torch_dtype(x.dtype)
    H, D = p["weight_hh"].shape[1], p["weight_ih"].shape[1]
    lstm = torch.nn.LSTM(D, H).to(td)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(lstm, name + "_l0").copy_(torch.tensor(p[name], dtype=td))
    xt = torch.tensor(x, dtype=td, requires_grad=True)
    h0t = torch.tensor(h0, dtype=td)[None].requires_grad_()
    c0t = torch.tensor(c0, dtype=td)[None].requires_grad_()
    out, _ = lstm(xt, (h0t, c0t))
    out.backward(torch.tensor(dh_all, dtype=td))
    grads = {name: getattr(lstm, name + "_l0").grad.numpy()
             for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    return xt.grad.numpy(), h0t.grad[0].numpy(), c0t.grad[0].numpy(), grads


def lstm_wrong_ifog_layout(x, h0, c0, p, dh_all):
    """Reads the rows as i, f, o, g everywhere: autograd of an LSTM given the swapped rows."""
    def swap(a):
        H = a.shape[0] // 4
        return np.concatenate([a[:2 * H], a[3 * H:], a[2 * H:3 * H]])
    dx, dh0, dc0, grads = lstm_ok_torch(x, h0, c0, {k: swap(v) for k, v in p.items()}, dh_all)
    return dx, dh0, dc0, {k: swap(v) for k, v in grads.items()}


LSTM_OK = [lstm_variant(), lstm_ok_torch]
LSTM_WRONG = {
    "cell gradient not carried through time": lstm_variant(carry_c=False),
    "hidden gradient not carried through time": lstm_variant(carry_h=False),
    "missing tanh' of the cell (missing factor)": lstm_variant(tanh_slope=False),
    "f paired with c_t (misplaced factor)": lstm_variant(c_prev_for_f=False),
    "i and g factors swapped (misplaced)": lstm_variant(swap_ig=True),
    "g and o gradients in each other's block": lstm_variant(swap_go_blocks=True),
    "rows read as i, f, o, g throughout": lstm_wrong_ifog_layout,
    "dc0 without the first forget gate": lstm_variant(dc0_times_f=False),
    "bias gradient not summed over the batch": lstm_variant(bias="batch"),
    "bias gradient of one step only": lstm_variant(bias="last_step"),
    "transposed weight gradients": lstm_variant(transpose_w=True),
    "always float64": lstm_variant(keep_dtype=False),
}
LSTM_HINTS = {
    "cell gradient not carried through time": "dc_{t+1} * f_{t+1}",
    "hidden gradient not carried through time": "dnet_{t+1} @ W_hh",
    "missing tanh' of the cell (missing factor)": "o * (1 - tanh(c_t)**2)",
    "f paired with c_t (misplaced factor)": "PREVIOUS cell",
    "g and o gradients in each other's block": "dLoss/da_g belongs in rows 2H..3H",
    "rows read as i, f, o, g throughout": "you used i, f, o, g",
    "dc0 without the first forget gate": "dc_1 * f_1",
    "bias gradient not summed over the batch": "giving shape (4H,)",
    "transposed weight gradients": "(4H, D) for weight_ih",
}


def lstm_wrong_no_sigmoid_slope(x, h0, c0, p, dh_all):
    """Forgets the sigmoid derivative of i, f, o: written with autograd on a model whose gates
    are 'straight-through' (identity derivative, sigmoid value)."""
    td = torch_dtype(x.dtype)
    P = {k: torch.tensor(np.asarray(v), dtype=td, requires_grad=True) for k, v in p.items()}
    xt = torch.tensor(x, dtype=td, requires_grad=True)
    h = torch.tensor(h0, dtype=td, requires_grad=True)
    c = torch.tensor(c0, dtype=td, requires_grad=True)
    h_first, c_first = h, c
    H = h.shape[1]

    def st_sigmoid(a):  # value of a sigmoid, derivative 1
        return a + (torch.sigmoid(a) - a).detach()

    outs = []
    for t in range(x.shape[0]):
        a = xt[t] @ P["weight_ih"].T + h @ P["weight_hh"].T + P["bias_ih"] + P["bias_hh"]
        i, f, g, o = (st_sigmoid(a[:, :H]), st_sigmoid(a[:, H:2 * H]),
                      torch.tanh(a[:, 2 * H:3 * H]), st_sigmoid(a[:, 3 * H:]))
        c = f * c + i * g
        h = o * torch.tanh(c)
        outs.append(h)
    torch.stack(outs).backward(torch.tensor(dh_all, dtype=td))
    return (xt.grad.numpy(), h_first.grad.numpy(), c_first.grad.numpy(),
            {k: v.grad.numpy() for k, v in P.items()})


LSTM_WRONG["sigmoid derivative of the gates missing"] = lstm_wrong_no_sigmoid_slope
LSTM_HINTS["sigmoid derivative of the gates missing"] = "s * (1 - s)"


# ====================================================================== gru_bptt
def gru_variant(direct=True, recursion=True, r_on_hidden=True, z_sign=1, swap_rz_blocks=False,
                tanh_slope=True, bias="sum", transpose_w=False, keep_dtype=True):
    def fn(x, h0, p, dh_all):
        dt = x.dtype if keep_dtype else np.float64
        x, h0, dh_all = cast(dt, x, h0, dh_all)
        p = cast_p(p, dt)
        T, B, _ = x.shape
        H = h0.shape[1]
        W_ir, W_iz, W_in = np.split(p["weight_ih"], 3)
        W_hr, W_hz, W_hn = np.split(p["weight_hh"], 3)
        b_ir, b_iz, b_in = np.split(p["bias_ih"], 3)
        b_hr, b_hz, b_hn = np.split(p["bias_hh"], 3)
        hs, cache = [h0], []
        for t in range(T):
            h = hs[-1]
            r = sig(x[t] @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
            z = sig(x[t] @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
            hn = h @ W_hn.T + b_hn
            n = np.tanh(x[t] @ W_in.T + b_in + r * hn)
            hs.append(n + z * (h - n))
            cache.append((r, z, n, hn))
        g = {k: np.zeros_like(v) for k, v in p.items()}
        if bias == "batch":
            g["bias_ih"] = np.zeros((B, 3 * H), dtype=dt)
            g["bias_hh"] = np.zeros((B, 3 * H), dtype=dt)
        dx = np.empty_like(x)
        dh_n = np.zeros_like(h0)
        for t in reversed(range(T)):
            r, z, n, hn = cache[t]
            h = hs[t]
            dh = dh_all[t] + (dh_n if recursion else 0)
            dn_pre = dh * (1 - z) * ((1 - n ** 2) if tanh_slope else 1)
            dz_pre = z_sign * dh * (h - n) * z * (1 - z)
            dhn = dn_pre * r if r_on_hidden else dn_pre
            dr_pre = dn_pre * hn * r * (1 - r)
            first, second = (dz_pre, dr_pre) if swap_rz_blocks else (dr_pre, dz_pre)
            d_in = np.concatenate([first, second, dn_pre], axis=1)
            d_hid = np.concatenate([first, second, dhn], axis=1)
            g["weight_ih"] += d_in.T @ x[t]
            g["weight_hh"] += d_hid.T @ h
            g["bias_ih"] += d_in if bias == "batch" else d_in.sum(0)
            g["bias_hh"] += d_hid if bias == "batch" else d_hid.sum(0)
            dx[t] = d_in @ p["weight_ih"]
            dh_n = (dh * z if direct else 0) + d_hid @ p["weight_hh"]
        if transpose_w:
            g["weight_ih"], g["weight_hh"] = g["weight_ih"].T.copy(), g["weight_hh"].T.copy()
        return dx, dh_n, g
    return fn


def gru_ok_torch(x, h0, p, dh_all):
    """torch.nn.GRU autograd, in the dtype of x."""
    td = torch_dtype(x.dtype)
    H, D = p["weight_hh"].shape[1], p["weight_ih"].shape[1]
    gru = torch.nn.GRU(D, H).to(td)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(gru, name + "_l0").copy_(torch.tensor(p[name], dtype=td))
    xt = torch.tensor(x, dtype=td, requires_grad=True)
    h0t = torch.tensor(h0, dtype=td)[None].requires_grad_()
    out, _ = gru(xt, h0t)
    out.backward(torch.tensor(dh_all, dtype=td))
    grads = {name: getattr(gru, name + "_l0").grad.numpy()
             for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    return xt.grad.numpy(), h0t.grad[0].numpy(), grads


def gru_wrong_reset_before(x, h0, p, dh_all):
    """The exact gradient of the original paper's reset-BEFORE candidate W_hn (r * h): a
    different model than PyTorch's."""
    td = torch_dtype(x.dtype)
    P = {k: torch.tensor(np.asarray(v), dtype=td, requires_grad=True) for k, v in p.items()}
    xt = torch.tensor(x, dtype=td, requires_grad=True)
    h = h_first = torch.tensor(h0, dtype=td, requires_grad=True)
    H = h.shape[1]
    outs = []
    for t in range(x.shape[0]):
        gi = xt[t] @ P["weight_ih"].T + P["bias_ih"]
        r = torch.sigmoid(gi[:, :H] + h @ P["weight_hh"][:H].T + P["bias_hh"][:H])
        z = torch.sigmoid(gi[:, H:2 * H] + h @ P["weight_hh"][H:2 * H].T + P["bias_hh"][H:2 * H])
        n = torch.tanh(gi[:, 2 * H:] + (r * h) @ P["weight_hh"][2 * H:].T + P["bias_hh"][2 * H:])
        h = (1 - z) * n + z * h
        outs.append(h)
    torch.stack(outs).backward(torch.tensor(dh_all, dtype=td))
    return xt.grad.numpy(), h_first.grad.numpy(), {k: v.grad.numpy() for k, v in P.items()}


def gru_wrong_zrn_layout(x, h0, p, dh_all):
    """Reads the rows as z, r, n everywhere: autograd of a GRU given the swapped rows."""
    def swap(a):
        H = a.shape[0] // 3
        return np.concatenate([a[H:2 * H], a[:H], a[2 * H:]])
    dx, dh0, grads = gru_ok_torch(x, h0, {k: swap(v) for k, v in p.items()}, dh_all)
    return dx, dh0, {k: swap(v) for k, v in grads.items()}


GRU_OK = [gru_variant(), gru_ok_torch]
GRU_WRONG = {
    "no direct path z * h_prev": gru_variant(direct=False),
    "no accumulation through time": gru_variant(recursion=False),
    "r missing on the hidden candidate (missing factor)": gru_variant(r_on_hidden=False),
    "dz with the wrong sign": gru_variant(z_sign=-1),
    "r and z gradients in each other's block": gru_variant(swap_rz_blocks=True),
    "rows read as z, r, n throughout": gru_wrong_zrn_layout,
    "missing tanh' of the candidate": gru_variant(tanh_slope=False),
    "bias gradient not summed over the batch": gru_variant(bias="batch"),
    "transposed weight gradients": gru_variant(transpose_w=True),
    "always float64": gru_variant(keep_dtype=False),
    "reset-before candidate (another model)": gru_wrong_reset_before,
}
GRU_HINTS = {
    "no direct path z * h_prev": "dh_t * z_t",
    "no accumulation through time": "flow back through time",
    "r missing on the hidden candidate (missing factor)": "carries the factor r",
    "dz with the wrong sign": "h_{t-1} - n_t",
    "r and z gradients in each other's block": "dLoss/da_r belongs in rows 0..H",
    "rows read as z, r, n throughout": "the reset gate is the FIRST block",
    "missing tanh' of the candidate": "1 - n**2",
    "bias gradient not summed over the batch": "giving shape (3H,)",
    "transposed weight gradients": "(3H, D) for weight_ih",
}


# ====================================================================== the tests
CHECKERS = {
    "conv_maxpool_backward": (checks.conv_maxpool_backward, CONV_OK, CONV_WRONG, CONV_HINTS),
    "rnn_classifier_grads": (checks.rnn_classifier_grads, CLF_OK, CLF_WRONG, CLF_HINTS),
    "lstm_bptt": (checks.lstm_bptt, LSTM_OK, LSTM_WRONG, LSTM_HINTS),
    "gru_bptt": (checks.gru_bptt, GRU_OK, GRU_WRONG, GRU_HINTS),
}
MODULES = {"conv_maxpool_backward": ch02_cnn, "rnn_classifier_grads": ch04_bptt,
           "lstm_bptt": ch06_lstm, "gru_bptt": ch07_gru}


@pytest.mark.parametrize("name, correct", [(n, f) for n, (_, oks, _, _) in CHECKERS.items()
                                           for f in oks])
def test_correct_implementations_written_differently_pass(name, correct, capsys):
    result = CHECKERS[name][0](correct)
    assert result, f"{name}: a correct implementation was rejected: {result.message}"


@pytest.mark.parametrize("name, label", [(n, w) for n, (_, _, wrongs, _) in CHECKERS.items()
                                         for w in wrongs])
def test_plausible_wrong_implementations_fail(name, label, capsys):
    checker, _, wrongs, hints = CHECKERS[name]
    result = checker(wrongs[label])
    assert not result, f"{name}: the wrong implementation '{label}' was accepted"
    assert result.status == "failed"
    if label in hints:
        assert "hint:" in result.message and hints[label] in result.message, result.message
    else:  # no known mistake matches: no hint may be shown
        assert "hint:" not in result.message, result.message


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_every_hint_is_reachable(name, capsys, monkeypatch):
    """Each Diagnosis of the checker is shown for at least one wrong implementation above."""
    checker, _, wrongs, hints = CHECKERS[name]
    module = MODULES[name]
    recorded = []

    def recording_run_check(*args, **kwargs):
        recorded.append(kwargs.get("diagnoses", ()))
        return real_run_check(*args, **kwargs)

    real_run_check = module.run_check
    monkeypatch.setattr(module, "run_check", recording_run_check)
    shown = set()
    for label, fragment in hints.items():
        if fragment in checker(wrongs[label]).message:
            shown.add(fragment)
    n_hints = len(recorded[0])  # the Diagnosis entries the checker passes to run_check
    assert n_hints == len(set(hints.values())) == len(shown), (n_hints, sorted(shown))


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_not_attempted_and_never_raises(name, capsys):
    checker = CHECKERS[name][0]

    def stub(*args):
        raise NotImplementedError

    assert checker(stub).status == "not attempted"
    assert checker(lambda *a: None).status == "failed"
    assert checker(lambda *a: 1 / 0).status == "failed"
    assert checker("not a function").status == "failed"
    assert checker(lambda *a: tuple(np.full(3, np.nan) for _ in range(4))).status == "failed"


def test_conv_cases_have_no_ties_and_cover_the_edges():
    cases = ch02_cnn.conv_backward_cases()
    kinds = set()
    for case in cases:
        x, w, b, dp = case.args
        maps = np.sort(ch02_cnn.cnn.conv1d(x.astype(float), w.astype(float), b.astype(float)), 0)
        top = maps[-1]
        assert np.all(np.abs(top) > 0.05)
        if len(maps) > 1:
            assert np.all((maps[-1] - maps[-2] > 0.05) | (top < 0))
        else:
            kinds.add("T = k")
        assert x.shape[0] >= w.shape[2]
        kinds.add((x.dtype.name, w.dtype.name))
        if x.shape[1] == 1:
            kinds.add("B = 1")
        if w.shape[2] == 1:
            kinds.add("k = 1")
        if np.any(top < 0):
            kinds.add("a filter switched off")
    assert {"T = k", "B = 1", "k = 1", "a filter switched off", ("float32", "float32"),
            ("float64", "float64"), ("float32", "float64")} <= kinds


def test_mixed_dtype_rule_is_tested(capsys):
    """The stubs say 'everything in the dtype of x': an answer that keeps float64 parameters'
    precision fails on the mixed case only, with a dtype message and no hint."""
    def lstm_upcast(x, h0, c0, p, dh_all):
        out = lstm_ok_torch(x, h0, c0, p, dh_all) if x.dtype == np.asarray(h0).dtype else \
            lstm_ok_torch(x.astype(np.float64), h0, c0, p, dh_all)
        return out
    result = checks.lstm_bptt(lstm_upcast)
    assert not result and "mixed dtypes" in result.message and "dtype float64" in result.message
    assert "hint:" not in result.message


def test_single_step_case_shows_no_misleading_hint(capsys):
    """On T = 1 a missing recursion is invisible, so a different error there gets no
    'recursion' hint (telling() hides hints a case cannot support)."""
    def wrong_only_on_single_steps(x, h0, p, dh_all):
        dx, dh0, grads = gru_ok_torch(x, h0, p, dh_all)
        if x.shape[0] == 1:
            dx = dx * 2
        return dx, dh0, grads
    result = checks.gru_bptt(wrong_only_on_single_steps)
    assert not result and "single time step" in result.message
    assert "hint:" not in result.message


def test_references_agree_with_torch():
    for case in ch06_lstm.lstm_bptt_cases():
        ref = ch06_lstm.lstm_bptt_reference(*case.args)
        got = lstm_ok_torch(*case.args)
        tol = 1e-4 if case.args[0].dtype == np.float32 else 1e-10
        for a, b in zip(ref[:3], got[:3], strict=True):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
        for k in ref[3]:
            np.testing.assert_allclose(ref[3][k], got[3][k], rtol=tol, atol=tol)


def test_autograd_is_refused_for_the_conv_backward(capsys):
    """Right values, but PyTorch derived them: the exercise asks for the derivation."""
    result = checks.conv_maxpool_backward(conv_ok_torch)
    assert not result and "torch.autograd.backward" in result.message
