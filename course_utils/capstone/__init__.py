"""The capstone harness: every model of the course on every task, trained one way and timed.

Chapter 08 and the benchmark (``python -m course_utils.maintainer.bench``) both call this
package, so the numbers in the chapter and the numbers the benchmark prints come from the same code.

Modules
    ``suite``     the four tasks of the comparison in one shape, their validation split,
                  published numbers;
    ``profiles``  the recipe: hyper-parameters per task and model (``FAST``, ``FULL``);
    ``runner``    building, training (``training.fit`` with a stopping rule on the validation
                  split) and testing one model; the whole grid; the word-shuffle probe;
    ``report``    tables and figures of one run and of the multi-seed record;
    ``record``    the multi-seed record (``python -m course_utils.capstone record``), with every
                  test example's score, and the rule chapter 08's verdicts follow (seed and
                  paired test-set noise added in variance, a t bar);
    ``target``    training until a target is reached (the benchmark's adding-problem timing).

Models (``MODEL_NAMES``)
    ``"tfidf"``  the linear baseline, a different linear model per task (see ``BASELINES``);
    ``"cnn"``    a Kim (2014)-style ``models.TextCNN`` (``models.SequenceCNN`` on the adding
                 problem: a linear input projection instead of an embedding);
    ``"rnn"``, ``"lstm"``, ``"gru"``  ``models.RecurrentModel``: a linear layer on the last state.

Two profiles exist: ``FAST`` (the default, so that chapter 08 runs in minutes on a 2-core laptop)
and ``FULL`` (longer training), selected with ``COURSE_CAPSTONE_FULL=1`` or ``profile="full"``.
"""

from course_utils.capstone import surnames
from course_utils.capstone.profiles import (
    ADDING_BENCH_CONFIG,
    FAST,
    FULL,
    PROFILES,
    Config,
    Profile,
    default_profile,
)
from course_utils.capstone.record import (
    RECORD_PATH,
    Comparison,
    Spread,
    compare,
    compare_models,
    load_record,
    paired_test_se,
    pooled_seed_variance,
    record,
    record_path,
    spreads,
)
from course_utils.capstone.report import (
    lookup,
    plot_curves,
    plot_results,
    plot_spreads,
    recipe_table,
    results_table,
    spread_table,
)
from course_utils.capstone.runner import (
    KeepBest,
    Result,
    accuracy_on,
    build_model,
    run,
    run_all,
    shuffle_tokens,
    train_model,
)
from course_utils.capstone.suite import (
    ADDING_LENGTH,
    ADDING_VARIANCE_BASELINE,
    BASELINES,
    FULL_ENV,
    MODEL_NAMES,
    MODEL_TITLES,
    ORDER_DISTANCE,
    ORDER_VOCAB,
    RECURRENT_KINDS,
    REFERENCES,
    REVIEW_MAX_LEN,
    SUITE_ORDER_LENGTH,
    TASK_NAMES,
    TASK_TITLES,
    Reference,
    Task,
    load_task,
)
from course_utils.capstone.target import TimeToTarget, train_to_target

__all__ = [
    "ADDING_BENCH_CONFIG", "ADDING_LENGTH", "ADDING_VARIANCE_BASELINE", "BASELINES", "Comparison",
    "Config", "FAST", "FULL", "FULL_ENV", "KeepBest", "MODEL_NAMES", "MODEL_TITLES",
    "ORDER_DISTANCE", "ORDER_VOCAB", "PROFILES", "Profile", "RECORD_PATH", "RECURRENT_KINDS",
    "REFERENCES", "REVIEW_MAX_LEN", "Reference", "Result", "SUITE_ORDER_LENGTH", "Spread",
    "TASK_NAMES", "TASK_TITLES", "Task", "TimeToTarget", "accuracy_on", "build_model", "compare",
    "compare_models", "default_profile", "load_record", "load_task", "lookup", "paired_test_se",
    "plot_curves",
    "plot_results", "plot_spreads", "pooled_seed_variance", "recipe_table", "record", "record_path",
    "results_table",
    "run", "run_all", "shuffle_tokens", "spread_table", "spreads", "surnames", "train_model",
    "train_to_target",
]
