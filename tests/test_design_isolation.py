"""A design check leaves the learner's session as it found it.

Every design checker (``checks.order_cnn``, ``checks.relu_rnn_init``, ``checks.surname_gru``)
trains inside ``env.isolated_run``: the global PyTorch random stream is forked,
NumPy's and Python's global random states are put back afterwards, and PyTorch and BLAS run on
one thread during the check and on as many as before afterwards. The learner functions below
take the fast path (they disturb every global state they can, note the thread counts they see,
then raise ``NotImplementedError``), so each check is cheap and still runs the checker's own
seeding (chapter 05's and chapter 08's checkers call ``torch.manual_seed`` before calling the
learner's function).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from course_utils import env
from course_utils.grading import checking, checks
from course_utils.grading.checking import NOT_ATTEMPTED


def blas_threads() -> dict[str, int]:
    """Threads of every BLAS and OpenMP pool loaded now, by library file."""
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}


def same_pools(before: dict[str, int], now: dict[str, int]) -> dict[str, int]:
    """``now`` restricted to the pools loaded at ``before`` (threadpoolctl limits only those; a
    library a check loads later, e.g. SciPy's OpenBLAS with the surnames, keeps its default)."""
    return {path: n for path, n in now.items() if path in before}


def snapshot() -> dict:
    """Every global state a design check might change."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch_rng": torch.get_rng_state().clone(),
            "numpy_rng": (kind, keys.copy(), pos, has_gauss, gauss),
            "python_rng": random.getstate(),
            "torch_threads": torch.get_num_threads(),
            "blas_threads": blas_threads()}


def assert_same(before: dict, after: dict) -> None:
    assert torch.equal(before["torch_rng"], after["torch_rng"]), "global torch RNG changed"
    b, a = before["numpy_rng"], after["numpy_rng"]
    assert b[0] == a[0] and np.array_equal(b[1], a[1]) and b[2:] == a[2:], \
        "NumPy's global RNG changed"
    assert before["python_rng"] == after["python_rng"], "Python's global RNG changed"
    assert before["torch_threads"] == after["torch_threads"], "torch thread count changed"
    assert same_pools(before["blas_threads"], after["blas_threads"]) == before["blas_threads"], \
        "BLAS thread count changed"


@pytest.fixture
def learner_session():
    """A learner's session: two torch and BLAS threads (whatever OMP_NUM_THREADS says, so that
    one thread during the check is seen), seeded and partly consumed random streams."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    torch.manual_seed(1234)
    torch.rand(3)
    np.random.seed(99)
    np.random.rand(5)
    random.seed(7)
    random.random()
    with threadpool_limits(limits=2):
        yield
    torch.set_num_threads(threads)


def disturbing(seen: list):
    """A learner function that notes the threads it runs on, draws from and reseeds every global
    random stream, changes the thread count, then says "not attempted"."""
    def fn(*args, **kwargs):
        seen.append((torch.get_num_threads(), blas_threads()))
        torch.rand(10)
        torch.manual_seed(42)
        np.random.rand(10)
        np.random.seed(42)
        random.random()
        random.seed(42)
        torch.set_num_threads(3)
        raise NotImplementedError("not yet")
    return fn


@pytest.mark.parametrize("name", ["order_cnn", "relu_rnn_init", "surname_gru"])
def test_a_design_check_leaves_random_state_and_threads_as_they_were(name, learner_session,
                                                                     monkeypatch):
    monkeypatch.delenv(checking.DEFER_ENV, raising=False)
    checker = getattr(checks, name)
    assert checker.design is True
    before = snapshot()
    seen: list = []
    result = checker(disturbing(seen))
    assert result.status == NOT_ATTEMPTED, result.message
    assert seen, "the learner's function was not called"
    torch_threads, blas = seen[0]
    assert torch_threads == 1, "the learner's code ran on more than one torch thread"
    during = same_pools(before["blas_threads"], blas)
    assert set(during.values()) == {1}, f"BLAS pools ran on {during} threads during the check"
    assert_same(before, snapshot())


def test_isolated_run_restores_everything_even_when_the_block_raises(learner_session):
    before = snapshot()
    with pytest.raises(ZeroDivisionError), env.isolated_run():
        assert torch.get_num_threads() == 1 and set(blas_threads().values()) == {1}
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)
        1 / 0  # noqa: B018
    assert_same(before, snapshot())



def test_the_trainers_a_learner_tunes_with_leave_the_session_too(learner_session):
    """The helpers that train "exactly as the checker does" (``pathologies.train_relu_rnn_adding``,
    ``capstone.surnames.train_surname_model``) are called from the notebook itself: they seed
    inside, and the learner's streams and thread count are as they were afterwards."""
    from torch import nn

    from course_utils import pathologies
    from course_utils.capstone import surnames

    before = snapshot()
    seen = []

    def identity_start(rnn):
        seen.append(torch.get_num_threads())
        with torch.no_grad():
            rnn.weight_hh_l0.copy_(torch.eye(rnn.hidden_size))

    out = pathologies.train_relu_rnn_adding(identity_start, seed=0, steps=3, batch=4, n_test=8)
    assert np.isfinite(out["test_mse"]) and seen == [1]
    assert_same(before, snapshot())

    class Tiny(nn.Module):
        def __init__(self, vocab, classes):
            super().__init__()
            self.embed, self.gru = nn.Embedding(vocab, 4), nn.GRU(4, 4, batch_first=True)
            self.head = nn.Linear(4, classes)

        def forward(self, x):
            return self.head(self.gru(self.embed(x))[1][-1])

    task = surnames.surname_task()
    before = snapshot()
    result = surnames.train_surname_model(
        lambda v, c: (Tiny(v, c), {"epochs": 1, "lr": 1e-2, "batch_size": 512}), seed=0, task=task)
    assert result.history.epochs == 1
    assert_same(before, snapshot())


def test_design_checker_itself_isolates(learner_session):
    """The wrapper alone, not the checkers' own isolation: a design checker that reseeds torch,
    draws from NumPy and Python and changes the thread count leaves no trace, and runs on one
    thread."""
    seen = []

    @checking.design_checker
    def untidy_checker(fn):
        seen.append((torch.get_num_threads(), sorted(set(blas_threads().values()))))
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)
        torch.set_num_threads(3)
        return checking.CheckResult("untidy", NOT_ATTEMPTED, "nothing checked")

    before = snapshot()
    untidy_checker(None)
    assert seen == [(1, [1])]
    assert_same(before, snapshot())


def test_a_learner_exit_in_the_surname_helper_is_a_learner_error():
    """``exit()`` in the learner's builder is reported like any other bug, not raised."""
    from course_utils.capstone import surnames
    from course_utils.errors import LearnerError

    def builder(vocab, classes):
        raise SystemExit(3)

    with pytest.raises(LearnerError, match="SystemExit"):
        surnames.train_surname_model(builder, task=surnames.surname_task())
