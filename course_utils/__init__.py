"""Helpers for the course "Why recurrence? From TF-IDF to LSTM and GRU".

The package is flat, with one sub-package (``checks``, one module per chapter). Its modules
fall into three groups:

* learner-facing, imported by the chapter notebooks: ``env`` (seeding, device, thread limits),
  ``plotting``, ``diagrams`` (+ ``diagram_kit``), ``data``, ``text``, ``tasks``, ``bow``,
  ``cnn``, ``softmax``, ``scratch`` (the NumPy RNN, LSTM and GRU), ``models``, ``training``,
  ``pathologies``, ``gates``, ``wine``, ``capstone``, ``glossary``;
* exercise machinery: ``checking`` (runs a checker and reports its result), ``checks`` (the
  checkers: ``checks.NAME(your_function)``), ``exercises`` (builds ``exercises/`` from
  ``solutions/``), ``grade`` (``python -m course_utils.grade``; ``grade_check`` runs one
  check in a fresh process) and ``nbrun`` (the one notebook runner, used by ``grade`` and
  ``bench``);
* maintainer tools: ``bench`` (``python -m course_utils.bench``) and ``glossary`` run as a
  script (writes ``GLOSSARY.md``).

CONTRIBUTING.md has the same map and the rules for adding to it.
"""

__version__ = "0.1.0"
