"""Grading a class on Dask's distributed scheduler: same rows as -j, a dead worker costs one job.

A LocalCluster of two one-thread workers grades a three-learner class of the fake chapter of
tests/test_grade.py. One learner's notebook kills the process that grades it (its kernel's
parent): on Dask that is a worker, on -j a pool process; either way only that job is lost.
"""

import pytest
from test_grade import CHAPTER, LEARNERS, write_notebook

from course_utils import grade

pytest.importorskip("distributed")

KILL_PARENT = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"
LIMITS = grade.Limits(notebook=120, cell=30, check=30)


@pytest.fixture(scope="module")
def class_(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    write_notebook(root / "solutions" / CHAPTER, LEARNERS["complete"])
    for name, sources in (("complete", LEARNERS["complete"]), ("partial", LEARNERS["partial"]),
                          ("killer", LEARNERS["complete"][:2] + [KILL_PARENT])):
        write_notebook(root / "class" / name / "exercises" / CHAPTER, sources)
    jobs, problems = grade.collect_jobs(sorted((root / "class").iterdir()), root / "solutions")
    assert problems == [] and len(jobs) == 3
    return jobs


def comparable(rows):
    return [(r.learner, r.chapter, r.exercise, r.status, r.message) for r in rows]


def test_dask_local_cluster_gives_the_rows_of_j2_and_a_dead_worker_costs_one_job(class_):
    seen = []
    on_dask = grade.grade_jobs(class_, LIMITS, scheduler="local:2", on_rows=seen.append)
    local = grade.grade_jobs(class_, LIMITS, workers=2)
    assert comparable(on_dask) == comparable(local)
    assert [(r.learner, r.exercise, r.status) for r in on_dask] == [
        ("complete", "softmax", "passed"), ("complete", "softmax_backward", "passed"),
        ("killer", "softmax", "error"), ("killer", "softmax_backward", "error"),
        ("partial", "softmax", "passed"), ("partial", "softmax_backward", "not attempted")]
    assert all(r.message == f"grader error: {grade.PROCESS_DIED}"
               for r in on_dask if r.learner == "killer")
    assert len(seen) == 3
