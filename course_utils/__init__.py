"""Helpers for the course "Why recurrence? From TF-IDF to LSTM and GRU".

The folder listing shows the three groups (CONTRIBUTING.md has the same map and its rules):

* ``course_utils/*.py`` and ``course_utils/capstone/``: what the chapter notebooks import.
  ``env`` (seeding, device, thread limits), ``plotting``, ``diagrams`` (+ ``diagram_kit``),
  ``data``, ``text``, ``tasks`` (every synthetic task, batch-first), ``bow``, ``cnn``,
  ``softmax``, ``scratch`` (the NumPy RNN, LSTM and GRU), ``models``, ``training`` (the one
  training loop), ``pathologies``, ``gates``, ``wine``, ``stats`` (paired tests of two
  classifiers), ``speed`` (NumPy vs PyTorch timings), ``errors`` (what went wrong in a learner's
  code), ``files`` (the one atomic writer), ``capstone`` (chapter 08's harness), ``glossary``.
* ``course_utils/grading/``: the exercise machinery. ``checking`` (runs a checker and reports
  its result), ``checks`` (the checkers, one module per chapter: ``checks.NAME(your_function)``),
  ``exercises`` (builds ``exercises/`` from ``solutions/``), ``grade``
  (``python -m course_utils.grading.grade``; ``grade_check`` runs one check in a fresh process,
  ``grade_nbval`` collects the solutions' functions during nbval) and ``nbrun`` (the one
  notebook runner).
* ``course_utils/maintainer/``: tools no notebook imports. ``bench``
  (``python -m course_utils.maintainer.bench``).

Learner-facing modules never import ``grading`` or ``maintainer``.
"""

from pathlib import Path

__version__ = "0.1.0"

# The repository's root folder (notebooks/, exercises/, solutions/, data/): defined here once.
REPO_ROOT = Path(__file__).resolve().parent.parent
