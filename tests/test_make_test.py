"""`make test` on a learner's checkout: solved, half-done and broken exercises pass untouched.

A copy of the course (the files git would ship) is committed to a fresh repository, its
exercises/ are then solved, half done and broken as a learner leaves them, and `make test` runs
there with its cheap stages (lint and the unit tests that read exercises/). The heavy stages run
the same shipped copy; they are exercised by `make test` itself.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import REPO_ROOT, data
from course_utils.grading import exercises as ex

UNIT = ("tests/test_ch03_ch04_exercises.py::"
        "test_exercise_stubs_state_types_dtype_rules_and_edge_cases")


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None,
                    reason="needs make and git")
def test_make_test_passes_on_a_learners_checkout_and_changes_nothing(tmp_path):
    if not data._is_valid(data.data_dir() / data.MR_ARCHIVE):
        pytest.skip("no movie-review archive in the cache (make data); this test never fetches")
    repo = tmp_path / "course"
    for rel in ex.course_files(REPO_ROOT):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, repo / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "the course as shipped"], check=True)

    exs = repo / "exercises"
    # solved: the learner's notebook holds the solution's code (and its outputs)
    shutil.copy(repo / "solutions" / "00_start_here.ipynb", exs / "00_start_here.ipynb")
    half = exs / "03_rnn_equations.ipynb"  # half done: one stub filled in
    half.write_text(half.read_text(encoding="utf-8").replace(
        "raise NotImplementedError", "return None  #", 1), encoding="utf-8")
    (exs / "04_bptt.ipynb").write_text('{"cells": [', encoding="utf-8")  # broken: half saved
    (exs / "Untitled.ipynb").write_text("{}", encoding="utf-8")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}

    env = {**os.environ, "PYTHONPATH": str(repo),
           "COURSE_DATA_DIR": str(data.data_dir())}
    venv = Path(sys.prefix)
    # -o: never re-run the install into this (shared) environment from the temporary copy,
    # whatever the timestamps say: it would point the editable install at a folder that is
    # about to be deleted
    proc = subprocess.run(["make", "--no-print-directory", "-o", str(venv / ".installed"),
                           "test", "STAGES=lint unit",
                           f"UNIT={UNIT}", f"VENV={venv}", "JOBS=0"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    notes = [line for line in out.splitlines() if "were not tested" in line]
    assert notes == ["make test: your own notebooks in exercises/ (00, 03, 04) were not tested: "
                     "the tests ran the shipped versions; `make grade` grades yours"], out[-3000:]
    assert "passed" in out and "make test: all checks passed" in out
    after = {p: p.read_bytes() for p in before}
    assert after == before
    assert not [p for p in exs.iterdir() if p not in before]
