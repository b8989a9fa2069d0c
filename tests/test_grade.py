"""The grader: expectations from solutions/, checks run outside the learner's kernel, tampering.

Everything here grades a tiny fake chapter (chapter 00's two softmax exercises) made in a
temporary folder, so the tests start a few light kernels and never run a heavy chapter.
"""

import csv
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.grading import grade

CHAPTER = "00_fake.ipynb"
HEADER = "import numpy as np\nfrom course_utils.grading import checks"
SOFTMAX = ("def softmax(z):\n    e = np.exp(z - z.max(-1, keepdims=True))\n"
           "    return e / e.sum(-1, keepdims=True)")
BACKWARD = ("def softmax_backward(s, ds):\n"
            "    return s * (ds - np.sum(s * ds, axis=-1, keepdims=True))")
SOFTMAX_STUB = "def softmax(z):\n    raise NotImplementedError('softmax')"
BACKWARD_STUB = "def softmax_backward(s, ds):\n    raise NotImplementedError('backward')"
CHECK_SOFTMAX = "ok_softmax = checks.softmax(softmax)"
CHECK_BACKWARD = "ok_backward = checks.softmax_backward(softmax_backward)"
FORGE = ("import json\n"
         "line = json.dumps({'exercise': 'softmax', 'status': 'passed', 'message': 'forged'})\n"
         "with open('results.jsonl', 'a') as fh:\n"
         "    fh.write(line + '\\n' + '{\"exercise\": \"softmax_backward\"}\\n')\n"
         "checks.softmax = checks.softmax_backward = lambda fn: True")

# Small check limit so the endless loop costs seconds, not minutes; the cell limit leaves room
# for a loaded machine (a cell timing out would add a note to the rows).
LIMITS = grade.Limits(notebook=180, cell=60, check=10)

LEARNERS = {
    "complete": [HEADER, SOFTMAX, CHECK_SOFTMAX, BACKWARD, CHECK_BACKWARD],
    "partial": [HEADER, SOFTMAX, CHECK_SOFTMAX, BACKWARD_STUB, CHECK_BACKWARD],
    # stubs only, but: the softmax check cell deleted, the backward check pointed at the
    # reference, forged result lines, and the checks module patched in the kernel
    "tampered": [HEADER, SOFTMAX_STUB, BACKWARD_STUB,
                 "from course_utils import softmax as reference\n"
                 "ok_backward = checks.softmax_backward(reference.softmax_backward)", FORGE],
    # an earlier cell fails; softmax renamed; the grader's working folder emptied at the end
    "renamed": [HEADER, "1 / 0", SOFTMAX.replace("def softmax(", "def my_softmax("),
                CHECK_SOFTMAX.replace("(softmax)", "(my_softmax)"), BACKWARD, CHECK_BACKWARD,
                "import os, shutil\nfor p in os.listdir('..'):\n"
                "    shutil.rmtree(os.path.join('..', p), ignore_errors=True)"],
    # 100 MB of output, then an endless loop in one exercise
    "loud": [HEADER, SOFTMAX, CHECK_SOFTMAX,
             "for _ in range(100):\n    print('x' * 1_000_000)",
             "def softmax_backward(s, ds):\n    while True:\n        pass", CHECK_BACKWARD],
    # the cell defining softmax raises before the def; the backward is imported, not written
    "broken": [HEADER, "raise ValueError('boom')\n" + SOFTMAX, CHECK_SOFTMAX,
               "from course_utils.softmax import softmax_backward", CHECK_BACKWARD],
    "raises": [HEADER, "def softmax(z):\n    y = 1\n    return z.nope", CHECK_SOFTMAX, BACKWARD,
               CHECK_BACKWARD],
    "died": [HEADER, SOFTMAX, CHECK_SOFTMAX, "import os\nos._exit(1)", BACKWARD,
             CHECK_BACKWARD],
}


def write_notebook(path, sources):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A solutions folder with one fake chapter and one folder per learner."""
    root = tmp_path_factory.mktemp("course")
    write_notebook(root / "solutions" / CHAPTER, LEARNERS["complete"])
    for name, sources in LEARNERS.items():
        write_notebook(root / "class" / name / "exercises" / CHAPTER, sources)
    bad = root / "class" / "unreadable" / "exercises" / CHAPTER
    bad.parent.mkdir(parents=True)
    bad.write_text('{"cells": [', encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def graded(course):
    """Every learner graded once, two notebooks at a time; rows by learner."""
    before = {p: p.read_bytes() for p in (course / "class").rglob("*") if p.is_file()}
    jobs, problems = grade.collect_jobs(sorted((course / "class").iterdir()),
                                        course / "solutions")
    assert problems == []
    rows = grade.grade_jobs(jobs, LIMITS, workers=2)
    by_learner = {}
    for r in rows:
        by_learner.setdefault(r.learner, {})[r.exercise] = r
    return before, by_learner


def status(graded, learner):
    return {name: r.status for name, r in graded[1][learner].items()}


def test_expectations_come_from_the_solution(course):
    exercises = grade.expected_exercises(course / "solutions" / CHAPTER)
    assert [(e.name, e.function) for e in exercises] == [
        ("softmax", "softmax"), ("softmax_backward", "softmax_backward")]
    assert all(e.graded for e in exercises)


def test_predictions_are_not_graded(monkeypatch):
    assert not grade.is_graded("predict_vanishing")
    assert grade.is_graded("rnn_step")
    from course_utils.grading import checks

    monkeypatch.setattr(checks.rnn_step, "graded", False, raising=False)
    assert not grade.is_graded("rnn_step")


def test_complete_and_partial(graded):
    assert status(graded, "complete") == {"softmax": "passed", "softmax_backward": "passed"}
    assert status(graded, "partial") == {"softmax": "passed",
                                         "softmax_backward": "not attempted"}
    assert "check cell modified" not in graded[1]["complete"]["softmax"].message


def test_deleted_edited_check_cells_forged_results_and_patched_checks_change_nothing(graded):
    rows = graded[1]["tampered"]
    assert status(graded, "tampered") == {"softmax": "not attempted",
                                          "softmax_backward": "not attempted"}
    assert all("check cell modified" in r.message for r in rows.values())


def test_renamed_function_gets_its_own_reason_and_deleted_work_folders_are_harmless(graded):
    rows = graded[1]["renamed"]
    assert rows["softmax"].status == "failed"
    assert "`softmax` is missing" in rows["softmax"].message
    assert "ZeroDivisionError" not in rows["softmax"].message  # not another cell's error
    assert rows["softmax_backward"].status == "passed"


def test_huge_output_is_capped_and_an_endless_loop_times_out_alone(graded):
    rows = graded[1]["loud"]
    assert rows["softmax"].status == "passed"
    assert "output capped: the notebook printed 100,0" in rows["softmax"].message
    assert rows["softmax_backward"].status == "failed"
    assert "timed out after 10 s" in rows["softmax_backward"].message


def test_defining_cell_error_and_imported_reference(graded):
    rows = graded[1]["broken"]
    assert rows["softmax"].status == "failed"
    assert "cell 1, which defines it, raised ValueError: boom" in rows["softmax"].message
    assert rows["softmax_backward"].status == "failed"
    assert "comes from `course_utils.softmax`" in rows["softmax_backward"].message


def test_function_that_raises_is_quoted_on_its_own_row(graded):
    rows = graded[1]["raises"]
    assert rows["softmax"].status == "failed"
    assert "your function raised AttributeError" in rows["softmax"].message
    assert "(raised at line 3: `return z.nope`)" in rows["softmax"].message
    assert rows["softmax_backward"].status == "passed"


def test_dead_kernel_and_unreadable_notebook_are_errors_on_every_row(graded):
    for learner, words in (("died", "the kernel died while running cell 3"),
                           ("unreadable", "notebook unreadable")):
        rows = graded[1][learner]
        assert set(rows) == {"softmax", "softmax_backward"}
        assert all(r.status == "error" and words in r.message for r in rows.values())


def test_learner_files_are_never_modified(graded):
    before, _ = graded
    assert {p: p.read_bytes() for p in before} == before
    assert all(p.exists() for p in before)


@pytest.mark.parametrize("text, words", [
    ('{"exercise": "softmax"}', "could not be read"),
    ('{"status": "great", "message": "x"}', "unknown status"),
    ("not json", "could not be read"),
    ('["a list"]', "could not be read"),
])
def test_malformed_results_are_reported_not_crashed_on(text, words):
    status_, message = grade.parse_result(text)
    assert status_ == grade.ERROR and words in message


def test_printing_during_the_check_gets_a_note():
    status_, message = grade.parse_result(json.dumps(
        {"status": "passed", "message": "ok", "printed": 10**8}))
    assert status_ == "passed" and "printed 100,000,000 characters" in message


def test_csv_for_a_class_and_serial_equals_parallel(course, graded, tmp_path, capsys):
    """-j 1 through the command line gives the rows the `graded` fixture got with -j 2."""
    learners = [str(course / "class" / n) for n in ("complete", "partial", "tampered")]
    one = tmp_path / "one.csv"
    assert grade.main([*learners, "--solutions", str(course / "solutions"), "--cell-timeout",
                       "30", "--csv", str(one), "-j", "1"]) == 1
    out = capsys.readouterr().out
    assert "TCP" not in out and "encryption" not in out
    with open(one, newline="", encoding="utf-8") as fh:
        table = sorted(csv.DictReader(fh), key=lambda r: (r["learner"], r["exercise"]))
    assert all(float(r.pop("seconds")) >= 0 for r in table)
    assert [(r["learner"], r["chapter"], r["exercise"], r["status"]) for r in table] == [
        ("complete", "00_fake", "softmax", "passed"),
        ("complete", "00_fake", "softmax_backward", "passed"),
        ("partial", "00_fake", "softmax", "passed"),
        ("partial", "00_fake", "softmax_backward", "not attempted"),
        ("tampered", "00_fake", "softmax", "not attempted"),
        ("tampered", "00_fake", "softmax_backward", "not attempted"),
    ]
    with_j2 = sorted((r for name in ("complete", "partial", "tampered")
                      for r in graded[1][name].values()), key=lambda r: (r.learner, r.exercise))
    assert [(r["learner"], r["exercise"], r["status"], r["message"]) for r in table] == [
        (r.learner, r.exercise, r.status, r.message) for r in with_j2]
    assert list(csv.reader(open(one, encoding="utf-8")))[0] == [
        "learner", "chapter", "exercise", "status", "message", "seconds", "detail"]


def test_exit_status_table_and_missing_solution(course, tmp_path, capsys):
    solutions = ["--solutions", str(course / "solutions")]
    complete = course / "class" / "complete" / "exercises" / CHAPTER
    assert grade.main([str(complete), *solutions]) == 0
    out = capsys.readouterr().out
    assert "softmax_backward" in out and "2 passed, 0 failed" in out
    assert "TCP" not in out and "encryption" not in out
    orphan = write_notebook(tmp_path / "99_orphan.ipynb", [HEADER])
    assert grade.main([str(orphan), str(tmp_path / "nope.ipynb"), *solutions]) == 2
    out = capsys.readouterr().out
    assert "no such file" in out and "no solution notebook" in out
    # a solution without check cells, or a broken one, is reported and grades nothing
    sols = tmp_path / "solutions"
    write_notebook(sols / "01_plain.ipynb", [HEADER, SOFTMAX])
    (sols / "02_broken.ipynb").write_text("{", encoding="utf-8")
    learner = tmp_path / "learner"
    (learner / "exercises").mkdir(parents=True)
    jobs, problems = grade.collect_jobs([learner], sols)
    assert jobs == [] and len(problems) == 2
    assert "nothing to grade" in problems[0] and "not a readable notebook" in problems[1]


def test_missing_chapter_of_a_learner_is_not_attempted(course, tmp_path):
    (tmp_path / "learner" / "exercises").mkdir(parents=True)
    jobs, problems = grade.collect_jobs([tmp_path / "learner"], course / "solutions")
    rows = grade.grade_jobs(jobs, LIMITS)
    assert problems == [] and [(r.exercise, r.status) for r in rows] == [
        ("softmax", "not attempted"), ("softmax_backward", "not attempted")]
    assert "is missing" in rows[0].message


def test_notebook_out_of_time_is_an_error_on_every_row(course, tmp_path):
    slow = write_notebook(tmp_path / CHAPTER, [HEADER, SOFTMAX, "import time\ntime.sleep(60)"])
    rows = grade.grade_notebook(slow, course / "solutions" / CHAPTER,
                                grade.Limits(notebook=8, cell=60, check=5), "slow")
    assert [(r.exercise, r.status) for r in rows] == [("softmax", "error"),
                                                      ("softmax_backward", "error")]
    assert all("ran out of time (8 s)" in r.message for r in rows)


def test_files_planted_by_the_notebook_are_not_read(course, tmp_path):
    """A notebook that forges the grader's files, then never finishes, passes nothing."""
    plant = ("import cloudpickle, json, os, pathlib\n"
             "from course_utils.softmax import softmax as reference\n"
             "for d in [pathlib.Path('..'), *pathlib.Path('..').iterdir(), pathlib.Path('.')]:\n"
             "    if d.is_dir():\n"
             "        (d / 'collected.json').write_text(json.dumps({'softmax': 'ok'}))\n"
             "        (d / 'softmax.pkl').write_bytes(cloudpickle.dumps(reference))")
    forged = write_notebook(tmp_path / CHAPTER, [HEADER, SOFTMAX_STUB, plant,
                                                 "import time\ntime.sleep(60)"])
    rows = grade.grade_notebook(forged, course / "solutions" / CHAPTER,
                                grade.Limits(notebook=10, cell=60, check=5), "forger")
    assert {r.status for r in rows} == {"error"}
    assert not any(r.status == "passed" for r in rows)


KILL_PARENT = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"


def test_dask_cluster_gives_the_rows_of_j2_and_a_dead_worker_costs_only_its_job(course, graded):
    """A LocalCluster of 2 one-thread workers grades a three-learner class.

    One learner's notebook kills the process that grades it (its kernel's parent, a worker):
    that job becomes error rows, the other two are the rows -j 2 gave (the `graded` fixture).
    """
    pytest.importorskip("distributed")
    killer = course / "class-dask" / "killer" / "exercises" / CHAPTER
    write_notebook(killer, LEARNERS["complete"][:2] + [KILL_PARENT])
    paths = [course / "class" / "complete", course / "class" / "partial", killer.parent.parent]
    jobs, problems = grade.collect_jobs(paths, course / "solutions")
    assert problems == [] and len(jobs) == 3
    seen = []
    rows = grade.grade_jobs(jobs, LIMITS, scheduler="local:2", on_rows=seen.append)
    assert len(seen) == 3

    def comparable(rs):
        return [(r.learner, r.chapter, r.exercise, r.status, r.message) for r in rs]

    with_j2 = [graded[1][learner][name] for learner in ("complete", "partial")
               for name in ("softmax", "softmax_backward")]
    assert comparable(rows[:4]) == comparable(with_j2)
    assert [(r.learner, r.status, r.message) for r in rows[4:]] == [
        ("killer", "error", f"grader error: {grade.PROCESS_DIED}")] * 2
