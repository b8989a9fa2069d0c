"""The exercise generator: markers, learner-work protection, check mode."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import exercises as ex

SOLVED = '''def add(a, b):
    """Add."""
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION'''


QUESTION = "Q?\n<!-- BEGIN SOLUTION -->\nAnswer.\n<!-- END SOLUTION -->"


def write_solution(path, code=SOLVED, md=QUESTION):
    nb = new_notebook(cells=[new_markdown_cell(md), new_code_cell(code)])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    nb.cells[1].execution_count = 3
    nbformat.write(nb, path)
    return path


def test_code_region_becomes_a_stub_naming_the_function():
    out = ex.strip_code(SOLVED, "nb, cell 1")
    assert "return a + b" not in out
    assert "    # YOUR CODE HERE" in out
    assert "raise NotImplementedError(\"Exercise 'add'" in out
    assert out.startswith('def add(a, b):\n    """Add."""')


def test_stub_names_the_innermost_enclosing_function():
    src = "def outer():\n    def inner(x):\n        ### BEGIN SOLUTION\n        return x\n" \
          "        ### END SOLUTION\n    return inner"
    assert "Exercise 'inner'" in ex.strip_code(src, "w")


def test_markdown_region_becomes_a_placeholder():
    out = ex.strip_markdown("Q?\n<!-- BEGIN SOLUTION -->\nsecret\n<!-- END SOLUTION -->\nend", "w")
    assert "secret" not in out and ex.MD_PLACEHOLDER in out and out.endswith("end")


@pytest.mark.parametrize("src, words", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION", "without a BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION", "nest"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "inside a function body"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n  ### END SOLUTION", "indented"),
])
def test_broken_code_markers_name_the_place_and_the_problem(src, words):
    with pytest.raises(ex.MarkerError) as info:
        ex.strip_code(src, "01_x.ipynb, cell 4")
    assert "01_x.ipynb, cell 4, line" in str(info.value) and words in str(info.value)


def test_broken_markdown_markers():
    with pytest.raises(ex.MarkerError, match="never closed"):
        ex.strip_markdown("<!-- BEGIN SOLUTION -->\nx", "w")
    with pytest.raises(ex.MarkerError, match="without a BEGIN"):
        ex.strip_markdown("x\n<!-- END SOLUTION -->", "w")


def test_generate_clears_outputs_and_needs_a_region(tmp_path):
    text = ex.generate(write_solution(tmp_path / "01_a.ipynb"))
    nb = nbformat.reads(text, as_version=4)
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    with pytest.raises(ex.MarkerError, match="no '### BEGIN SOLUTION' region"):
        ex.generate(write_solution(tmp_path / "02_b.ipynb", code="x = 1"))


def test_malformed_notebook_gives_one_line(tmp_path):
    bad = tmp_path / "03_bad.ipynb"
    bad.write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(ex.MarkerError) as info:
        ex.generate(bad)
    assert "not a readable notebook" in str(info.value) and "\n" not in str(info.value)


def test_build_protects_edited_notebooks_and_force_keeps_a_backup(tmp_path, capsys):
    sols, exs = tmp_path / "solutions", tmp_path / "exercises"
    sols.mkdir()
    sol = write_solution(sols / "01_a.ipynb")
    args = ["--solutions", str(sols), "--exercises", str(exs)]
    assert ex.main(["build", *args]) == 0
    target = exs / "01_a.ipynb"
    generated = target.read_text(encoding="utf-8")
    assert json.loads((exs / ex.MANIFEST).read_text())["01_a.ipynb"] == ex._sha(generated)

    # an unedited exercise follows changes of its solution
    write_solution(sol, code=SOLVED.replace("Add.", "Add two numbers."))
    assert ex.main(["build", *args]) == 0
    assert "Add two numbers." in target.read_text(encoding="utf-8")
    assert ex.main(["check", *args]) == 0

    # the learner edits the exercise; the solution changes again: the work is left alone
    learner = target.read_text(encoding="utf-8").replace("# YOUR CODE HERE", "return a + b  # mine")
    target.write_text(learner, encoding="utf-8")
    write_solution(sol, code=SOLVED.replace("Add.", "Sum."))
    capsys.readouterr()
    assert ex.main(["build", *args]) == 0
    assert target.read_text(encoding="utf-8") == learner
    assert "left alone" in capsys.readouterr().out
    assert ex.main(["check", *args]) == 1

    # --force rewrites it and keeps the learner's version in a timestamped .bak
    assert ex.main(["build", "--force", *args]) == 0
    assert "Sum." in target.read_text(encoding="utf-8")
    backups = sorted(exs.glob("01_a.ipynb.*.bak"))
    assert [b.read_text(encoding="utf-8") for b in backups] == [learner]
    assert ex.main(["check", *args]) == 0

    # edited again and forced again (within the same second): the first backup is kept too
    second = learner.replace("# mine", "# mine, version 2")
    target.write_text(second, encoding="utf-8")
    assert ex.main(["build", "--force", *args]) == 0
    kept = sorted(b.read_text(encoding="utf-8") for b in exs.glob("01_a.ipynb.*.bak"))
    assert kept == sorted([learner, second])
    assert "kept" in capsys.readouterr().out
    # nothing half-written or temporary is left in the folder
    assert sorted(p.name for p in exs.iterdir() if not p.name.endswith(".bak")) == [
        ex.MANIFEST, "01_a.ipynb"]


def test_backup_never_overwrites(tmp_path):
    nb = tmp_path / "01_a.ipynb"
    names = set()
    for version in range(3):
        nb.write_text(f"version {version}", encoding="utf-8")
        names.add(ex.backup(nb))
    assert len(names) == 3
    assert sorted(p.read_text() for p in names) == ["version 0", "version 1", "version 2"]


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "01_a.ipynb"
    target.write_text("learner's work", encoding="utf-8")

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(ex.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        ex.write_atomically(target, "new text")
    assert target.read_text(encoding="utf-8") == "learner's work"
    assert [p.name for p in tmp_path.iterdir()] == ["01_a.ipynb"]


def test_check_reports_missing_and_orphan_exercises(tmp_path, capsys):
    sols, exs = tmp_path / "solutions", tmp_path / "exercises"
    sols.mkdir()
    exs.mkdir()
    write_solution(sols / "01_a.ipynb")
    nbformat.write(new_notebook(), exs / "09_orphan.ipynb")
    assert ex.main(["check", "--solutions", str(sols), "--exercises", str(exs)]) == 1
    out = capsys.readouterr().out
    assert "01_a.ipynb: missing" in out and "09_orphan.ipynb: has no solution" in out


def test_build_reports_marker_errors_with_status_2(tmp_path, capsys):
    sols = tmp_path / "solutions"
    sols.mkdir()
    write_solution(sols / "01_a.ipynb", code="def f():\n    ### BEGIN SOLUTION\n    return 1")
    code = ex.main(["build", "--solutions", str(sols), "--exercises", str(tmp_path / "e")])
    assert code == 2
    assert "01_a.ipynb, cell 1, line 2: BEGIN SOLUTION is never closed" in capsys.readouterr().err


def test_repository_exercises_are_in_sync():
    assert ex.check(sorted((ex.ROOT / "solutions").glob("*.ipynb")), ex.ROOT / "exercises") == []
