"""The multi-seed record of the capstone, and the rule chapter 08 reads it with.

Chapter 08 trains every model once, live, with one seed; its verdicts rest on this record: every
model on every task trained with several seeds by exactly the code the chapter runs, with the
score of every test example kept, so that two models can be compared *paired*, on the same
examples. Regenerate it (about 3.5 CPU minutes for three seeds on one thread, on the machine that
wrote the committed record) with::

    python -m course_utils.capstone record --seeds 0 1 2    # the fast profile's record
    python -m course_utils.capstone record --profile full   # writes record_full.json

The record is written after every run (to a temporary file in the same folder, then renamed
over the old one, so the file on disk is always a whole record), and an interrupted command leaves
the finished runs. A run that diverged is recorded too: its metric is NaN and its ``"scores"``
null (it was never tested), so :func:`spreads` gives that pair no per-example scores.

The rule (:func:`compare`). Model A against model B on one task: d = mean(A) - mean(B), the
means over seeds of the test metric. Two independent sources of noise move d:

- the seeds (initial weights, batch order): SE_seeds^2 = s_A^2 / n_A + s_B^2 / n_B, from the
  sample standard deviations over seeds;
- the finite test set, the same for both models: SE_test^2 = var_i(e_i) / N, where
  e_i = (mean over seeds of A's score on example i) - (the same for B), and the score is 1/0 for
  a right/wrong class or the squared error. This is the paired standard error of the difference
  of two means over the same N examples (what a paired bootstrap over examples estimates too).

Independent sources add in variance: SE^2 = SE_seeds^2 + SE_test^2. A difference is called when
|d| > t x SE, t the 97.5 % quantile of Student's t with the Welch-Satterthwaite degrees of
freedom of SE (n - 1 = 2 per seed term with three seeds; N - 1 for the test term): an
approximate 95 % two-sided test. With three seeds, a comparison whose SE is mostly seed noise has
about 2 to 4 degrees of freedom, and t is then 4.30 (2) to 2.78 (4), not 2.

Pooled seed variance (``compare(..., pooled=pooled_seed_variance(S, task))``, the rule chapter
08 uses). One model's three-seed sd is itself very noisy: a small one by chance makes its
comparisons look sure. Assuming the neural models of one task share one seed variance, the pooled
estimate over the four of them has 8 degrees of freedom instead of 2. The assumption is a choice:
architectures can differ in how much they depend on the seed.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from course_utils.capstone.profiles import FAST, PROFILES
from course_utils.capstone.runner import run
from course_utils.capstone.suite import MODEL_NAMES, TASK_NAMES, load_task
from course_utils.files import write_atomically

RECORD_PATH = Path(__file__).with_name("record_fast.json")
DEFAULT_SEEDS = (0, 1, 2)
FIELDS = ("task", "model", "seed", "metric", "val_metric", "epochs", "best_epoch", "params",
          "cpu_seconds", "setting")
CONFIDENCE = 0.95


def record_path(profile="fast") -> Path:
    """Where the record of ``profile`` (a name or a ``Profile``) lives in the package."""
    name = getattr(profile, "name", profile)
    return RECORD_PATH.with_name(f"record_{name}.json")


def encode_scores(per_example, metric_name: str):
    """The per-example test scores in the record: a string of "0"/"1" (wrong or right) for an
    accuracy, a list of squared errors to 4 significant digits for an MSE. A NaN score (an
    example a broken model could not score) is "?" in the string and NaN in the list; None (a
    run that was never tested, e.g. one that diverged) stays None. An accuracy score other than
    0, 1 or NaN raises ValueError."""
    if per_example is None:
        return None
    v = np.asarray(per_example, dtype=np.float64).reshape(-1)
    if metric_name == "accuracy":
        bad = ~(np.isnan(v) | (v == 0) | (v == 1))
        if bad.any():
            raise ValueError(f"an accuracy score is 0, 1 or NaN, got {v[bad][0]!r}")
        return "".join("?" if math.isnan(x) else "1" if x == 1 else "0" for x in v)
    return [float(f"{x:.4g}") for x in v]


_SCORE_OF_BYTE = np.full(256, -1.0)  # -1 marks a character encode_scores never writes
_SCORE_OF_BYTE[[ord("0"), ord("1"), ord("?")]] = (0.0, 1.0, math.nan)


def decode_scores(stored) -> np.ndarray | None:
    """Inverse of :func:`encode_scores`: float64 (N,), or None for None."""
    if stored is None:
        return None
    if isinstance(stored, str):
        v = _SCORE_OF_BYTE[np.frombuffer(stored.encode("latin-1", "replace"), dtype=np.uint8)]
        if (v == -1).any():
            raise ValueError(f"stored accuracy scores hold characters other than 0, 1 and ?: "
                             f"{stored[:40]!r}")
        return v
    return np.asarray(stored, dtype=np.float64)


def record(seeds=DEFAULT_SEEDS, *, profile=None, path: Path | str | None = RECORD_PATH,
           tasks: dict | None = None, task_names=None, model_names=None, out=print) -> dict:
    """Run every model on every task once per seed (one thread), write the record as JSON to
    ``path`` after every run (None: do not write), and return it. Each run keeps its
    per-example test scores (``"scores"``, see :func:`encode_scores`)."""
    import torch

    profile = profile or FAST
    task_names = list(task_names or TASK_NAMES)
    model_names = list(model_names or MODEL_NAMES)
    tasks = dict(tasks or {})
    rec = {"profile": profile.name, "seeds": list(seeds), "threads": 1,
           "command": "python -m course_utils.capstone record --seeds "
                      + " ".join(str(s) for s in seeds)
                      + ("" if profile.name == "fast" else f" --profile {profile.name}"),
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
                row["scores"] = encode_scores(r.per_example, r.metric_name)
                rec["runs"].append(row)
                out(f"seed {seed} {t:<14} {m:<6} {r.metric:.4f} (val {r.val_metric:.4f}, "
                    f"{r.epochs} epochs, best {r.best_epoch}) {r.cpu_seconds:.1f} CPU s")
                if path is not None:
                    write_atomically(Path(path), json.dumps(rec, indent=1) + "\n")
    return rec


def load_record(path_or_profile: Path | str = RECORD_PATH) -> dict:
    """The record written by :func:`record`: a path, or a profile (``"fast"``, ``"full"`` or a
    ``Profile``) whose record is in the package. A missing record raises FileNotFoundError
    with the command that writes it."""
    if not isinstance(path_or_profile, Path) and (
            hasattr(path_or_profile, "configs") or path_or_profile in ("fast", "full")):
        name = getattr(path_or_profile, "name", path_or_profile)
        path = record_path(name)
        if not path.exists():
            raise FileNotFoundError(
                f"no record of the {name} profile in the package; write one with "
                f"`python -m course_utils.capstone record --profile {name}`")
    else:
        path = Path(path_or_profile)
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Spread:
    """The test metric of one (task, model) over seeds, and (if recorded) every seed's score
    on every test example, ``examples`` float64 (n_seeds, N)."""

    values: tuple
    metric_name: str = "accuracy"
    examples: object = field(default=None, compare=False, repr=False)

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
    "cpu_seconds") over its seeds; for "metric", with the per-example test scores if the
    record has them."""
    out: dict = {}
    scores: dict = {}
    for row in rec["runs"]:
        out.setdefault((row["task"], row["model"]), []).append(row[key])
        if row.get("scores") is not None:  # a diverged run has none
            scores.setdefault((row["task"], row["model"]), []).append(decode_scores(row["scores"]))
    names = {r["task"]: ("mse" if r["task"] == "adding" else "accuracy") for r in rec["runs"]}
    result = {}
    for k, v in out.items():
        examples = None
        if key == "metric" and k in scores and len(scores[k]) == len(v):
            examples = np.vstack(scores[k])
        result[k] = Spread(tuple(v), names[k[0]] if key in ("metric", "val_metric") else key,
                           examples)
    return result


@dataclass(frozen=True)
class Comparison:
    """Model A against model B on one task, by the rule of this module.

    diff: mean(A) - mean(B) (metric units); gain: the same signed so that positive means A is
    better (higher accuracy, lower MSE); se_seeds, se_test, se: the standard errors (se^2 =
    se_seeds^2 + se_test^2); df: Welch-Satterthwaite degrees of freedom of se; t: the
    ``confidence`` two-sided quantile of Student's t with df; threshold = t x se; sign: +1 when A
    is better by more than the threshold, -1 when worse by more, 0 when not distinguishable.
    """

    diff: float
    gain: float
    se_seeds: float
    se_test: float
    se: float
    df: float
    t: float
    threshold: float
    sign: int

    @property
    def ratio(self) -> float:
        """gain / se: how many standard errors A is ahead (negative: behind)."""
        return self.gain / self.se if self.se > 0 else math.copysign(math.inf, self.gain)


def paired_test_se(a: Spread, b: Spread) -> float:
    """Standard error, from the finite test set, of mean(A) - mean(B): both are scored on the
    same N examples, so it is the standard deviation of the per-example differences of the
    seed-averaged scores over sqrt(N)."""
    if a.examples is None or b.examples is None:
        raise ValueError("the record has no per-example test scores for every seed of both "
                         "models (a run that diverged has none; a record written before they "
                         "were kept: regenerate it with `python -m course_utils.capstone "
                         "record`)")
    e = np.asarray(a.examples).mean(axis=0) - np.asarray(b.examples).mean(axis=0)
    return float(np.std(e, ddof=1) / math.sqrt(len(e)))


NEURAL_MODELS = ("cnn", "rnn", "lstm", "gru")


def pooled_seed_variance(spread_of: dict, task: str, models=NEURAL_MODELS) -> tuple:
    """``(variance, df)``: the seed variance of one run pooled over ``models`` on ``task``,
    sum_m (n_m - 1) s_m^2 / sum_m (n_m - 1), and its degrees of freedom sum_m (n_m - 1)
    (8 for four models with three seeds each). ``spread_of`` is what :func:`spreads` returns."""
    ss = [spread_of[(task, m)] for m in models if (task, m) in spread_of]
    df = sum(s.n - 1 for s in ss if s.n >= 2)
    if df == 0:
        raise ValueError(f"no model of {task!r} has two seeds to pool")
    return sum((s.n - 1) * s.sd ** 2 for s in ss if s.n >= 2) / df, df


def compare(a: Spread, b: Spread, confidence: float = CONFIDENCE, *,
            pooled: tuple | None = None, seeded: tuple | None = None) -> Comparison:
    """Compare model A with model B on one task (see the module's docstring for the rule).

    ``pooled``: ``(variance, df)`` from :func:`pooled_seed_variance`. Given, every seeded model
    takes the pooled variance instead of its own three-seed estimate, and the seed term, one
    estimate, counts with the pooled df. ``seeded``: two booleans, whether A and B depend on the
    seed (default: whether their seeds differ; a linear baseline is deterministic).
    Chapter 08 uses it (through :func:`compare_models`): with three seeds, one model's own sd
    is too noisy to trust, and an sd that is small by chance makes its comparisons look sure."""
    from scipy.stats import t as student_t

    diff = a.mean - b.mean
    gain = diff if a.metric_name == "accuracy" else -diff
    if pooled is None:
        seed_terms = [(s.sd ** 2 / s.n, s.n - 1) for s in (a, b) if s.n >= 2]
    else:
        var_p, df_p = pooled
        seeded = (s.n >= 2 and s.sd > 0 for s in (a, b)) if seeded is None else seeded
        inv_n = sum(1 / s.n for s, on in zip((a, b), seeded, strict=True) if on)
        seed_terms = [(var_p * inv_n, df_p)] if inv_n > 0 else []
    se_test = paired_test_se(a, b)
    n_test = np.asarray(a.examples).shape[1]
    terms = seed_terms + [(se_test ** 2, n_test - 1)]
    var = sum(v for v, _ in terms)
    se = math.sqrt(var)
    denom = sum(v ** 2 / dof for v, dof in terms if dof > 0)
    df = var ** 2 / denom if denom > 0 else float(n_test - 1)
    t = float(student_t.ppf(0.5 + confidence / 2, df))
    threshold = t * se
    sign = 1 if gain > threshold else -1 if gain < -threshold else 0
    se_seeds = math.sqrt(sum(v for v, _ in seed_terms))
    return Comparison(diff, gain, se_seeds, se_test, se, df, t, threshold, sign)


def compare_models(spread_of: dict, task: str, a: str, b: str,
                   confidence: float = CONFIDENCE, *, floor: bool = False) -> Comparison:
    """Chapter 08's rule: model ``a`` against model ``b`` on ``task`` with the seed variance
    pooled over the task's neural models; the linear baseline ("tfidf") has no seed term.

    ``floor=True`` is the more cautious variant: each neural model keeps its own variance
    where it exceeds the pooled one (with its own n - 1 degrees of freedom), and takes the
    pooled one otherwise."""
    sa, sb = spread_of[(task, a)], spread_of[(task, b)]
    pooled = pooled_seed_variance(spread_of, task)
    if not floor:
        return compare(sa, sb, confidence, pooled=pooled,
                       seeded=(a in NEURAL_MODELS, b in NEURAL_MODELS))
    # floor: build each model's variance as max(own, pooled) and reuse compare's arithmetic
    from scipy.stats import t as student_t

    base = compare(sa, sb, confidence, pooled=(0.0, 1), seeded=(False, False))
    terms = [(base.se_test ** 2, np.asarray(sa.examples).shape[1] - 1)]
    for s, m in ((sa, a), (sb, b)):
        if m in NEURAL_MODELS:
            own = s.sd ** 2
            terms.append((max(own, pooled[0]) / s.n, s.n - 1 if own > pooled[0] else pooled[1]))
    var = sum(v for v, _ in terms)
    df = var ** 2 / sum(v ** 2 / d for v, d in terms if v > 0)
    t = float(student_t.ppf(0.5 + confidence / 2, df))
    se = math.sqrt(var)
    sign = 1 if base.gain > t * se else -1 if base.gain < -t * se else 0
    return Comparison(base.diff, base.gain, math.sqrt(var - terms[0][0]), base.se_test, se, df,
                      t, t * se, sign)


def main(argv=None) -> int:
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
    out = args.out or record_path(args.profile)
    t0 = time.process_time()
    record(args.seeds, profile=PROFILES[args.profile], path=out, task_names=args.tasks)
    print(f"wrote {out} ({time.process_time() - t0:.0f} CPU s)")
    return 0
