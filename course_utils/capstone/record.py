"""The multi-seed record of the capstone, and the 2-standard-error rule for reading it.

Chapter 08 trains every model once, live, with one seed; its verdicts rest on this record: every
model on every task trained with several seeds by exactly the code the chapter runs. Regenerate
it (about 2 CPU minutes per seed on one thread) with::

    python -m course_utils.capstone record                  # seeds 0-4, the fast profile
    python -m course_utils.capstone record --seeds 0 1 2    # fewer seeds

The record is written after every run, so an interrupted command leaves the finished runs.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

RECORD_PATH = Path(__file__).with_name("record_fast.json")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
FIELDS = ("task", "model", "seed", "metric", "val_metric", "epochs", "best_epoch", "params",
          "cpu_seconds", "setting")


def record(seeds=DEFAULT_SEEDS, *, profile=None, path: Path | str | None = RECORD_PATH,
           tasks: dict | None = None, task_names=None, model_names=None, out=print) -> dict:
    """Run every model on every task once per seed (one thread), write the record as JSON to
    ``path`` after every run (None: do not write), and return it."""
    import torch

    from course_utils.capstone.profiles import FAST
    from course_utils.capstone.runner import run
    from course_utils.capstone.tasks import MODEL_NAMES, TASK_NAMES, load_task

    profile = profile or FAST
    task_names = list(task_names or TASK_NAMES)
    model_names = list(model_names or MODEL_NAMES)
    tasks = dict(tasks or {})
    rec = {"profile": profile.name, "seeds": list(seeds), "threads": 1,
           "command": "python -m course_utils.capstone record --seeds "
                      + " ".join(str(s) for s in seeds),
           "torch": torch.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "date": time.strftime("%Y-%m-%d"), "runs": []}
    for seed in seeds:
        for t in task_names:
            if t not in tasks:
                tasks[t] = load_task(t)
            for m in model_names:
                r = run(tasks[t], m, profile=profile, seed=seed, threads=1)
                row = {k: getattr(r, k) for k in FIELDS}
                row = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
                rec["runs"].append(row)
                out(f"seed {seed} {t:<14} {m:<6} {r.metric:.4f} (val {r.val_metric:.4f}, "
                    f"{r.epochs} epochs, best {r.best_epoch}) {r.cpu_seconds:.1f} CPU s")
                if path is not None:
                    Path(path).write_text(json.dumps(rec, indent=1) + "\n")
    return rec


def load_record(path: Path | str = RECORD_PATH) -> dict:
    """The record written by :func:`record`."""
    return json.loads(Path(path).read_text())


@dataclass(frozen=True)
class Spread:
    """The test metric of one (task, model) over seeds."""

    values: tuple
    metric_name: str = "accuracy"

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def sd(self) -> float:
        """Sample standard deviation (n - 1); 0 for a single value."""
        if self.n < 2:
            return 0.0
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    @property
    def se(self) -> float:
        """Standard error of the mean over seeds."""
        return self.sd / math.sqrt(self.n)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def contains(self, value: float, slack: float = 0.0) -> bool:
        """Whether ``value`` lies in [min, max] of the recorded seeds, widened by ``slack``."""
        return self.low - slack <= value <= self.high + slack


def spreads(rec: dict, key: str = "metric") -> dict:
    """``{(task, model): Spread}`` of a record's ``key`` ("metric", "val_metric", "epochs",
    "cpu_seconds") over its seeds."""
    out: dict = {}
    for row in rec["runs"]:
        out.setdefault((row["task"], row["model"]), []).append(row[key])
    names = {r["task"]: ("mse" if r["task"] == "adding" else "accuracy") for r in rec["runs"]}
    return {k: Spread(tuple(v), names[k[0]] if key in ("metric", "val_metric") else key)
            for k, v in out.items()}


def compare(a: Spread, b: Spread, floor: float = 0.0) -> tuple[int, float, float]:
    """The 2-standard-error rule: ``(sign, difference, threshold)``.

    difference = mean(a) - mean(b); threshold = 2 x max(standard error of that difference
    over seeds, ``floor``). sign is +1 when a is *better* by more than the threshold (higher
    accuracy, or lower MSE), -1 when worse by more, 0 when the difference is not called.
    ``floor`` lets a caller add the test set's own sampling error (e.g. the binomial standard
    error of one accuracy), which the seeds alone do not show.
    """
    diff = a.mean - b.mean
    se = math.sqrt(a.se ** 2 + b.se ** 2)
    threshold = 2 * max(se, floor)
    better = diff if a.metric_name == "accuracy" else -diff
    sign = 1 if better > threshold else -1 if better < -threshold else 0
    return sign, diff, threshold


def main(argv=None) -> int:
    import argparse

    from course_utils.capstone.profiles import PROFILES

    p = argparse.ArgumentParser(prog="python -m course_utils.capstone",
                                description="Capstone tools (chapter 08).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record", help="train every model on every task with several seeds and "
                                      "write the record chapter 08 reads")
    r.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    r.add_argument("--profile", choices=sorted(PROFILES), default="fast")
    r.add_argument("--tasks", nargs="+", default=None, help="only these tasks (default: all)")
    r.add_argument("--out", type=Path, default=None,
                   help=f"where to write (default {RECORD_PATH.name} for the fast profile)")
    args = p.parse_args(argv)
    out = args.out or (RECORD_PATH if args.profile == "fast"
                       else RECORD_PATH.with_name(f"record_{args.profile}.json"))
    t0 = time.process_time()
    record(args.seeds, profile=PROFILES[args.profile], path=out, task_names=args.tasks)
    print(f"wrote {out} ({time.process_time() - t0:.0f} CPU s)")
    return 0
