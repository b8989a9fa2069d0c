"""The exercise generator: markers, learner-work protection, check mode."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import REPO_ROOT, files
from course_utils.grading import exercises as ex

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

    monkeypatch.setattr(files.os, "replace", crash)
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
    assert ex.check(sorted((REPO_ROOT / "solutions").glob("*.ipynb")),
                    REPO_ROOT / "exercises") == []


def test_the_answer_under_a_prediction_asks_for_reasoning(tmp_path):
    predict = "def predict_x():\n    ### BEGIN SOLUTION\n    return 0.5\n    ### END SOLUTION"
    cells = [new_code_cell(predict), new_code_cell("outcome = checks.predict_x(predict_x)"),
             new_markdown_cell("**What happened, and why.**\n\n" + QUESTION.split("\n", 1)[1]),
             new_markdown_cell("## Check your understanding\n\n" + QUESTION),
             new_code_cell("outcome = checks.predict_y(predict_y)"),
             new_markdown_cell("## Exercise 5\n\nA new exercise."),
             new_markdown_cell(QUESTION)]
    path = tmp_path / "01_p.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    md = [c.source for c in nbformat.reads(ex.generate(path), as_version=4).cells
          if c.cell_type == "markdown"]
    assert ex.PREDICT_PLACEHOLDER in md[0] and "Why did it come out this way?" in md[0]
    assert ex.MD_PLACEHOLDER not in md[0]
    # the next answer is an ordinary question, and a heading ends a prediction's answer
    assert ex.MD_PLACEHOLDER in md[1] and ex.PREDICT_PLACEHOLDER not in md[1]
    assert ex.MD_PLACEHOLDER in md[3] and ex.PREDICT_PLACEHOLDER not in md[3]


def test_every_prediction_of_the_course_asks_for_reasoning():
    for sol in sorted((REPO_ROOT / "solutions").glob("*.ipynb")):
        text = sol.read_text(encoding="utf-8")
        predictions = len(set(ex.PREDICT_CALL.findall(text)))
        generated = ex.generate(sol)
        assert generated.count("Why did it come out this way?") == predictions, sol.name


def _git_repo(tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    for name, code in (("01_a.ipynb", SOLVED), ("02_b.ipynb", SOLVED.replace("add", "mul"))):
        write_solution((repo / "solutions").mkdir(parents=True, exist_ok=True) or
                       repo / "solutions" / name, code=code)
    ex.build(sorted((repo / "solutions").glob("*.ipynb")), repo / "exercises")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(git[:1] + ["init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "course"], check=True)
    return repo


def test_learner_work_is_neither_tested_nor_touched(tmp_path, capsys):
    repo = _git_repo(tmp_path)
    sols, exs = sorted((repo / "solutions").glob("*.ipynb")), repo / "exercises"
    assert ex.check_committed(sols, exs) == ([], True)
    assert ex.learner_note(sols, exs).startswith("exercises/ is as shipped")
    (exs / "01_a.ipynb").write_text(
        (exs / "01_a.ipynb").read_text().replace("raise NotImplementedError", "return a + b #"))
    (exs / "02_b.ipynb").write_text("{ broken")  # a half-saved notebook
    (exs / "notes.ipynb.bak").write_text("mine")
    before = {p: p.read_bytes() for p in exs.iterdir()}
    assert ex.check_committed(sols, exs) == ([], True)  # what is committed is what counts
    note = ex.learner_note(sols, exs)
    assert "(01, 02) were not tested" in note and "make grade" in note
    copy = repo / "build" / "shipped"
    report = ex.shipped_copy(repo, copy)
    assert report.errors == [] and not (copy / "exercises" / "notes.ipynb.bak").exists()
    for sol in sols:
        assert (copy / "exercises" / sol.name).read_text() == ex.generate(sol)
    assert {p: p.read_bytes() for p in exs.iterdir()} == before
    with pytest.raises(ValueError):
        ex.shipped_copy(repo, repo / "exercises")


def test_a_stale_commit_fails_unless_the_file_is_regenerated(tmp_path):
    repo = _git_repo(tmp_path)
    sols, exs = sorted((repo / "solutions").glob("*.ipynb")), repo / "exercises"
    write_solution(sols[0], code=SOLVED.replace("a + b", "b + a"))
    problems, _ = ex.check_committed(sols, exs)
    assert len(problems) == 1 and "committed version differs" in problems[0]
    ex.build(sols, exs)  # a maintainer regenerates: passes before the commit too
    assert ex.check_committed(sols, exs) == ([], True)
