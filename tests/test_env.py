"""Seeding, determinism and the device choice."""

import os
import random

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from course_utils import env


def draw():
    return np.random.rand(3), torch.rand(3), random.random()


def test_setup_makes_runs_repeatable():
    env.setup(seed=5)
    a = draw()
    env.setup(seed=5)
    b = draw()
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    assert torch.are_deterministic_algorithms_enabled()


def test_bad_seed_is_refused():
    with pytest.raises(ValueError, match="non-negative int"):
        env.seed_everything(-1)


def test_device_choice(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert env.device().type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE"):
        env.device()
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        env.device()
    # unset or "auto": CUDA exactly when PyTorch sees a device
    for auto in (None, "auto"):
        if auto is None:
            monkeypatch.delenv("COURSE_DEVICE")
        else:
            monkeypatch.setenv("COURSE_DEVICE", auto)
        assert env.device().type == "cpu"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        assert env.device().type == "cuda"
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_environment_report_lists_versions():
    report = env.environment_report()
    assert report["python"].startswith("3.11") and report["torch"].startswith("2.13.0")


def test_temporary_environ_restores_everything(monkeypatch):
    monkeypatch.setenv("COURSE_A", "old")
    monkeypatch.delenv("COURSE_B", raising=False)
    with env.temporary_environ(COURSE_A="new", COURSE_B="set"):
        assert os.environ["COURSE_A"] == "new" and os.environ["COURSE_B"] == "set"
    assert os.environ["COURSE_A"] == "old" and "COURSE_B" not in os.environ


def blas_threads():
    """Threads of every BLAS pool loaded (NumPy's OpenBLAS at least)."""
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_limit_threads_sets_and_restores_torch_and_blas():
    assert blas_threads(), "no BLAS pool found: the test would check nothing"
    torch_before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threadpool_limits(limits=2, user_api="blas"):  # a known starting point
            assert set(blas_threads()) == {2}
            with env.limit_threads(1):
                assert torch.get_num_threads() == 1
                assert set(blas_threads()) == {1}
            assert torch.get_num_threads() == 2
            assert set(blas_threads()) == {2}
            with env.limit_threads(None):  # no limit: nothing changes
                assert torch.get_num_threads() == 2
                assert set(blas_threads()) == {2}
    finally:
        torch.set_num_threads(torch_before)
