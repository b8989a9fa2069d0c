"""The grading command: rows, exit status, untouched learner files, error paths."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils import grade

HEADER = "import numpy as np\nfrom course_utils import checks"
GOOD = ("def softmax(z):\n    e = np.exp(z - z.max(-1, keepdims=True))\n"
        "    return e / e.sum(-1, keepdims=True)")
STUB = "def softmax(z):\n    raise NotImplementedError('softmax')"


def notebook(path, *sources):
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade one folder holding a solved, an unsolved and a broken-in-the-middle notebook."""
    folder = tmp_path_factory.mktemp("nbs")
    notebook(folder / "a_solved.ipynb", HEADER, GOOD, "ok = checks.softmax(softmax)")
    notebook(folder / "b_unsolved.ipynb", HEADER, STUB, "ok = checks.softmax(softmax)")
    notebook(folder / "c_broken.ipynb", HEADER, "1 / 0", GOOD, "ok = checks.softmax(softmax)",
             "undefined_name", "checks.tfidf(softmax)")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    rows = {}
    for p in sorted(folder.iterdir()):
        nb_rows, failure = grade.grade_notebook(p, timeout=120)
        assert failure is None
        rows[p.name] = nb_rows
    return folder, before, rows


def test_rows_per_exercise(graded):
    _, _, rows = graded
    assert [(r.exercise, r.status) for r in rows["a_solved.ipynb"]] == [("softmax", "passed")]
    assert [(r.exercise, r.status) for r in rows["b_unsolved.ipynb"]] == [
        ("softmax", "not attempted")]
    broken = rows["c_broken.ipynb"]
    # an error in an earlier cell does not stop later exercises from being graded
    assert [(r.exercise, r.status) for r in broken] == [("softmax", "passed"), ("tfidf", "failed")]


def test_learner_files_are_never_modified(graded):
    folder, before, _ = graded
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_exit_status_and_table(tmp_path, capsys):
    solved = notebook(tmp_path / "s.ipynb", HEADER, GOOD, "ok = checks.softmax(softmax)")
    unsolved = notebook(tmp_path / "u.ipynb", HEADER, STUB, "ok = checks.softmax(softmax)")
    assert grade.main([str(solved)]) == 0
    assert "softmax" in capsys.readouterr().out
    assert grade.main([str(solved), str(unsolved)]) == 1
    out = capsys.readouterr().out
    assert "not attempted" in out and "1 passed, 0 failed, 1 not attempted" in out


def test_truncated_notebook_exits_2_with_one_line(tmp_path, capsys):
    good = notebook(tmp_path / "s.ipynb", HEADER, GOOD, "ok = checks.softmax(softmax)")
    bad = tmp_path / "bad.ipynb"
    bad.write_bytes(good.read_bytes()[:50])
    assert grade.main([str(bad)]) == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "not a readable notebook" in errors[0]


def test_missing_path_and_notebook_without_checks(tmp_path, capsys):
    plain = notebook(tmp_path / "plain.ipynb", "x = 1")
    assert grade.main([str(tmp_path / "nope.ipynb"), str(plain)]) == 2
    out = capsys.readouterr().out
    assert "no such file" in out and "no `checks.NAME(...)` call" in out


def test_timeout_exits_2(tmp_path, capsys):
    slow = notebook(tmp_path / "slow.ipynb", HEADER, "import time\ntime.sleep(30)",
                    "checks.softmax(None)")
    assert grade.main([str(slow), "--timeout", "4"]) == 2
    assert "timed out" in capsys.readouterr().out
