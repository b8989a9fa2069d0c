"""A pytest plugin for ``make test``: nbval's run of a solution notebook also serves the grader.

``make notebooks`` runs strict nbval on ``solutions/`` with ``-p course_utils.grading.grade_nbval
--grade-collect build/collected``: after the last cell of each solution notebook, and before nbval
shuts its kernel down, the graded exercises' functions are copied out of that kernel exactly as
the grader copies them out of its own (``grade.COLLECT``), into ``build/collected/NAME/``, with
the sha256 of the notebook they came from. ``make grade-solutions`` (``--collected
build/collected``) then runs the trusted checks on them instead of executing every solution a
second time. A missing, failed or stale collection (the notebook changed since) is ignored and
the grader executes the notebook itself. Learners' notebooks never take this path.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

SHA_KEY = "__solution_sha256__"


def pytest_addoption(parser):
    parser.addoption("--grade-collect", metavar="DIR", default=None,
                     help="copy each solution notebook's exercise functions out of nbval's "
                          "kernel into DIR/NAME/ for "
                          "`python -m course_utils.grading.grade --collected`")


def collect_into(kernel, notebook: Path, folder: Path, timeout: float = 120) -> bool:
    """Copy ``notebook``'s graded functions out of the running nbval ``kernel``; True if done."""
    from course_utils.files import write_atomically
    from course_utils.grading import grade

    exercises = [e for e in grade.expected_exercises(notebook) if e.graded]
    if not exercises or not kernel.is_alive():
        return False
    box = folder.resolve() / notebook.stem
    shutil.rmtree(box, ignore_errors=True)
    box.mkdir(parents=True)
    code = grade.COLLECT.replace("NAMES", repr([e.function for e in exercises])).replace(
        "FOLDER", repr(str(box)))
    kernel.await_idle(kernel.execute_cell_input(code, allow_stdin=False), timeout)
    report = json.loads((box / "collected.json").read_text(encoding="utf-8"))
    report[SHA_KEY] = hashlib.sha256(notebook.read_bytes()).hexdigest()
    write_atomically(box / "collected.json", json.dumps(report))
    return True


@pytest.hookimpl(tryfirst=True)  # before nbval's own teardown stops the kernel
def pytest_runtest_teardown(item, nextitem):
    folder = item.config.getoption("--grade-collect")
    parent = getattr(item, "parent", None)
    kernel = getattr(parent, "kernel", None)
    if not folder or kernel is None or (nextitem is not None and nextitem.parent is parent):
        return
    notebook = Path(str(parent.path))
    if notebook.parent.name != "solutions":
        return
    try:
        collect_into(kernel, notebook, Path(folder))
    except Exception:  # noqa: BLE001 - the grader then executes the notebook itself
        shutil.rmtree(Path(folder).resolve() / notebook.stem, ignore_errors=True)
