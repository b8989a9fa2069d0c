"""How every neural model of the capstone is built and trained: the recipe, per task.

One recipe per task: every neural model on a task gets the same optimiser (Adam), batch size,
learning rate, maximum number of epochs and stopping rule. The differences are disclosed here
and printed by chapter 08's recipe table: the recurrent models clip the gradient norm at 1
(chapter 05), and on the adding problem the CNN uses a smaller learning rate (see ``FAST``).

The number of epochs is never chosen on the test set. Training runs for at most ``epochs``
epochs on the training examples minus a fixed validation tenth (``Task.validation_split``); it
stops early once the validation metric reaches ``val_target`` or has not improved for
``patience`` epochs, and the weights of the best validation epoch are the ones tested.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from course_utils.capstone.suite import FULL_ENV, MODEL_NAMES


@dataclass(frozen=True)
class Config:
    """How one neural model is built and trained on one task (all of ``fit``'s knobs)."""

    hidden: int = 64          # recurrent state size, or CNN channels per filter width
    embed_dim: int = 32       # token embedding size (or input projection size for real input)
    widths: tuple = (3, 4, 5)  # CNN filter widths
    epochs: int = 5           # the most epochs a run may take
    batch_size: int = 64
    lr: float = 3e-3
    clip: float | None = None
    weight_decay: float = 0.0
    dropout: float = 0.5      # CNN only
    forget_bias: float | None = None  # LSTM only
    patience: int | None = None       # stop after this many epochs without a better validation
    val_target: float | None = None   # stop once the validation metric reaches this
    C: float = 1.0            # inverse regularisation of the linear baselines, if no grid
    C_grid: tuple = (0.25, 1.0, 4.0, 16.0)  # candidates, chosen on the validation split


@dataclass(frozen=True)
class Profile:
    """Hyper-parameters for every (task, model) pair; ``configs[task][model]``."""

    name: str
    configs: dict

    def config(self, task: str, model: str) -> Config:
        return self.configs[task][model]


def _grid(shared: dict, per_model: dict) -> dict:
    return {m: Config(**{**shared, **per_model.get(m, {})}) for m in MODEL_NAMES}


RNN_CLIP = 1.0
CLIPPED = {"clip": RNN_CLIP}
RECURRENT_CLIPPED = {"rnn": CLIPPED, "lstm": CLIPPED, "gru": CLIPPED}

# The fast profile. The learning rates are the course's defaults for each kind of data (fixed
# before the seeds were run, not tuned on the test set); the epochs are chosen per run on the
# validation split by the stopping rule. The adding problem's CNN keeps the smaller learning
# rate 3e-3 of chapter 02's CNN: it has no clipping to tame 2e-2. Its "solved" target, a
# validation MSE of 0.005 (3 % of the variance baseline 1/6), ends a run once the task is solved.
FAST = Profile("fast", {
    "movie_reviews": _grid(
        dict(embed_dim=64, hidden=64, epochs=4, lr=5e-3, batch_size=128, patience=1),
        {"cnn": dict(hidden=32), **RECURRENT_CLIPPED}),
    "surnames": _grid(
        dict(embed_dim=32, hidden=64, epochs=12, lr=5e-3, batch_size=128, patience=4,
             widths=(2, 3, 4)),
        RECURRENT_CLIPPED),
    "order": _grid(
        dict(embed_dim=16, hidden=32, epochs=4, lr=3e-3, patience=2, val_target=0.99),
        RECURRENT_CLIPPED),
    "adding": _grid(
        dict(embed_dim=16, hidden=32, epochs=8, lr=2e-2, clip=RNN_CLIP, val_target=0.005),
        {"cnn": dict(lr=3e-3, clip=None)}),
})

# The full profile: three times as many epochs at most and twice the patience.
FULL = Profile("full", {
    task: {m: replace(c, epochs=3 * c.epochs,
                      patience=None if c.patience is None else 2 * c.patience)
           for m, c in grid.items()}
    for task, grid in FAST.configs.items()
})

PROFILES = {"fast": FAST, "full": FULL}

# The benchmark's LSTM on the adding problem (``bench`` times how long it needs to reach a test
# MSE below 0.01).
ADDING_BENCH_CONFIG = FAST.config("adding", "lstm")


def default_profile() -> Profile:
    """``FULL`` when ``COURSE_CAPSTONE_FULL=1`` is set in the environment, else ``FAST``."""
    return FULL if os.environ.get(FULL_ENV, "").strip() in ("1", "true", "yes") else FAST
