"""Training until a target is reached: the benchmark's "how long until the LSTM solves the
adding problem", a thin wrapper over ``training.fit`` and its stopping rule."""

from __future__ import annotations

import time
from dataclasses import dataclass

from course_utils.capstone.profiles import Config
from course_utils.capstone.runner import build_model
from course_utils.capstone.suite import Task
from course_utils.env import limit_threads
from course_utils.training import budget, fit, reach


@dataclass
class TimeToTarget:
    """Outcome of :func:`train_to_target`.

    reached: whether the test metric got to the target; steps / examples: optimiser steps and
    training examples seen until then (or until giving up); cpu_seconds, wall_seconds: time
    spent, evaluations included; metric: the last test metric measured; curve: (step, metric)
    pairs of every evaluation.
    """

    reached: bool
    steps: int
    examples: int
    cpu_seconds: float
    wall_seconds: float
    metric: float
    curve: list


def train_to_target(task: Task, model: str, config: Config, target: float, *,
                    max_seconds: float = 300.0, eval_every: int = 50, n_eval: int = 500,
                    seed: int = 0, threads: int | None = 1) -> TimeToTarget:
    """Train like :func:`~course_utils.capstone.runner.run` (``training.fit``: Adam, the same
    batches, the same clipping) but test every ``eval_every`` steps on the first ``n_eval`` test
    examples, and stop as soon as the metric reaches ``target`` (MSE at most it, or accuracy at
    least it) or after ``max_seconds`` of CPU time (checked at each evaluation)."""
    with limit_threads(threads):
        net = build_model(task, model, config, seed=seed)
        wall0 = time.perf_counter()
        hist = fit(net, (task.x_train, task.y_train), (task.x_test[:n_eval], task.y_test[:n_eval]),
                   task=task.kind, epochs=None, batch_size=config.batch_size, lr=config.lr,
                   clip=config.clip, weight_decay=config.weight_decay, seed=seed,
                   show_progress=False, eval_every=eval_every,
                   stop_when=[reach(target), budget(cpu_seconds=max_seconds)])
        wall = time.perf_counter() - wall0
    reached = hist.stopped.startswith("target")
    curve = list(zip(hist.eval_steps, hist.test_metric, strict=True))
    return TimeToTarget(reached, hist.steps, hist.examples, hist.cpu_seconds, wall,
                        hist.final_metric, curve)
