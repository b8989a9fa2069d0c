"""Run-time set-up shared by every notebook: determinism, device choice, an environment report.

Every chapter's first code cell calls :func:`setup`, so that a rerun of a notebook prints the
same numbers and draws the same figures.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

DEFAULT_SEED = 0


def seed_everything(seed: int = DEFAULT_SEED) -> int:
    """Seed Python, NumPy and PyTorch, and make PyTorch use deterministic algorithms.

    Returns the seed so a notebook can print it. NumPy code in the course also takes explicit
    ``np.random.default_rng(seed)`` generators; seeding the legacy global state here protects
    third-party code (scikit-learn's defaults, for example) that still reads it.
    """
    import torch

    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # cuBLAS needs this variable to be deterministic; it must be set before the first CUDA call.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    if hasattr(torch.backends, "cudnn"):
        torch.backends.cudnn.benchmark = False
    return seed


def device():
    """The device that training code should use: CUDA when present, otherwise the CPU.

    Set ``COURSE_DEVICE=cpu`` to force the CPU on a machine with a GPU (CI does so, and the
    stored notebook outputs come from the CPU).
    """
    import torch

    wanted = os.environ.get("COURSE_DEVICE", "").strip().lower()
    if wanted in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if wanted not in ("cpu", "cuda"):
        raise ValueError(f"COURSE_DEVICE must be 'cpu', 'cuda' or 'auto', got {wanted!r}")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("COURSE_DEVICE=cuda but PyTorch sees no CUDA device")
    return torch.device(wanted)


def setup(seed: int = DEFAULT_SEED, style: bool = True) -> None:
    """One call at the top of every notebook: seeds everything and sets the plotting style."""
    seed_everything(seed)
    if style:
        from course_utils.plotting import use_style

        use_style()


def environment_report() -> dict:
    """Versions, threads and devices, as a dict of strings (chapter 00 prints it)."""
    import matplotlib
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "matplotlib": matplotlib.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "cuda available": str(torch.cuda.is_available()),
        "device used": str(device()),
        "executable in a venv": str(sys.prefix != sys.base_prefix),
    }


@contextmanager
def temporary_environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a ``with`` block (kernels started inside
    inherit them), then restore the previous values exactly."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def limit_threads(n: int | None = 1) -> Iterator[None]:
    """Run the block with at most ``n`` PyTorch and BLAS threads, then restore the old settings.

    The course's models are tiny; for them waking and syncing worker threads costs more than it
    saves, so one thread is often several times faster. ``None`` means no limit.
    """
    if n is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def isolated_run(threads: int | None = 1) -> Iterator[None]:
    """Run a block with its own random streams and thread count, and give the notebook back its
    own afterwards.

    Inside the block the global PyTorch random stream is forked (``torch.random.fork_rng``, CPU
    only), so the block may call ``torch.manual_seed`` while the notebook keeps its own stream;
    PyTorch and the BLAS libraries run on ``threads`` threads (:func:`limit_threads`), so the
    arithmetic, and hence a trained model, is the same on every machine. Afterwards NumPy's and
    Python's global random states are put back too, in case the block drew from or reseeded
    them. The design checkers run inside it, and so do the helpers that train a learner's model
    "exactly as the checker does" (``pathologies.train_relu_rnn_adding``,
    ``capstone.surnames.train_surname_model``). Nesting is harmless. Other global settings (the
    default dtype, grad mode, NumPy's error state) are not saved: the course's code does not
    change them.
    """
    import torch

    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=[]), limit_threads(threads):
            yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
