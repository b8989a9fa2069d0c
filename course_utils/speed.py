"""How fast is the NumPy RNN, LSTM and GRU of ``course_utils.scratch`` next to PyTorch's?

Chapter 08 calls :func:`compare_speed`; the maintainer's benchmark
(``python -m course_utils.maintainer.bench``) prints the same comparison for all three models.
Forward + backward at batch 64, length 100, input 64, hidden 128, float32, in one process, the
two run alternately so that both see the same load; the median time of each, their ratio (the
course's goal: at most 1.2) and the implied GFLOP/s, counting the matrix products only.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from course_utils import scratch
from course_utils.env import limit_threads

# The shapes of the scratch-vs-PyTorch comparison (fixed by the course's performance goal).
T, B, D, H = 100, 64, 64, 128
GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}
SPEED_GOAL = 1.2


@dataclass
class SpeedRow:
    kind: str
    threads: int              # PyTorch threads, and BLAS threads for NumPy (set for both)
    numpy_seconds: float      # median wall time of one forward + backward pass
    torch_seconds: float
    ratio: float              # numpy / torch, wall time
    numpy_cpu_seconds: float  # median CPU time of the process for the same pass
    torch_cpu_seconds: float
    cpu_ratio: float          # numpy / torch, CPU time (robust to a shared machine at 1 thread)
    numpy_gflops: float       # matrix-product flops / wall time
    torch_gflops: float
    max_abs_diff: float       # largest difference of h_all and of the weight gradients


def flops(kind: str, t: int = T, b: int = B, d: int = D, h: int = H) -> float:
    """Matrix-product flops of one forward + backward pass: 3 * 2*T*B*G*H*(D+H)."""
    return 3 * 2 * t * b * GATE_BLOCKS[kind] * h * (d + h)


def _problem(kind: str, seed: int = 0):
    """A torch module and float32 NumPy inputs of the fixed benchmark shapes."""
    import torch

    torch.manual_seed(seed)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](D, H)
    p = {k: v.astype(np.float32) for k, v in scratch.params_from_torch(module).items()}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    h0 = np.zeros((B, H), np.float32)
    dh = rng.standard_normal((T, B, H)).astype(np.float32)
    return module, p, x, h0, dh


def _numpy_pass(kind, p, x, h0, dh):
    if kind == "rnn":
        h_all, cache = scratch.rnn_forward(x, h0, p)
        _, _, grads = scratch.rnn_backward(dh, cache)
    elif kind == "lstm":
        h_all, _, cache = scratch.lstm_forward(x, h0, h0, p)
        _, _, _, grads = scratch.lstm_backward(dh, cache)
    else:
        h_all, cache = scratch.gru_forward(x, h0, p)
        _, _, grads = scratch.gru_backward(dh, cache)
    return h_all, grads


def _torch_pass(module, x, h0, dh):
    import torch

    for prm in module.parameters():
        prm.grad = None
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0).unsqueeze(0).requires_grad_()
    state = (h0t, h0t) if isinstance(module, torch.nn.LSTM) else h0t
    out, _ = module(xt, state)
    out.backward(torch.from_numpy(dh))
    return out


def _timed(fn) -> tuple[float, float]:
    c, w = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def compare_speed(kind: str, repeats: int = 15, threads: int | None = None) -> SpeedRow:
    """Median time of forward + backward, NumPy scratch vs PyTorch, run alternately.

    threads: the number of PyTorch and BLAS threads, set with ``env.limit_threads``; None means
    PyTorch's default, ``torch.get_num_threads()``, for both.
    """
    import torch

    threads = torch.get_num_threads() if threads is None else threads
    module, p, x, h0, dh = _problem(kind)
    with limit_threads(threads):
        # correctness first: the two must compute the same thing
        h_np, g_np = _numpy_pass(kind, p, x, h0, dh)
        out = _torch_pass(module, x, h0, dh)
        diff = float(np.max(np.abs(h_np - out.detach().numpy())))
        for name, g in g_np.items():
            tg = getattr(module, name + "_l0").grad.numpy()
            diff = max(diff, float(np.max(np.abs(g - tg)) / max(1.0, np.max(np.abs(tg)))))
        for _ in range(2):  # warm-up
            _numpy_pass(kind, p, x, h0, dh)
            _torch_pass(module, x, h0, dh)
        t_np, t_torch = [], []
        for _ in range(repeats):
            t_np.append(_timed(lambda: _numpy_pass(kind, p, x, h0, dh)))
            t_torch.append(_timed(lambda: _torch_pass(module, x, h0, dh)))
    (wn, cn), (wt, ct) = ([statistics.median(col) for col in zip(*ts, strict=True)]
                          for ts in (t_np, t_torch))
    f = flops(kind)
    return SpeedRow(kind, threads, wn, wt, wn / wt, cn, ct, cn / ct, f / wn / 1e9,
                    f / wt / 1e9, diff)
