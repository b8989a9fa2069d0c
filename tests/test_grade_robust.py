"""The grader survives a class: job failures, runaway check processes, time-outs, odd files.

Same tiny fake chapter as tests/test_grade.py (chapter 00's two softmax exercises).
"""

import csv
import os
import signal
import subprocess
import sys
import time

import cloudpickle
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from test_grade import (
    BACKWARD,
    CHAPTER,
    CHECK_BACKWARD,
    CHECK_SOFTMAX,
    HEADER,
    LEARNERS,
    SOFTMAX,
    write_notebook,
)

from course_utils.grading import grade, grade_check, nbrun

LIMITS = grade.Limits(notebook=120, cell=6, check=20)


@pytest.fixture(scope="module")
def solutions(tmp_path_factory):
    root = tmp_path_factory.mktemp("solutions")
    write_notebook(root / CHAPTER, LEARNERS["complete"])
    return root


def learner(tmp_path, name, sources):
    return write_notebook(tmp_path / name / "exercises" / CHAPTER, sources)


def by_exercise(rows):
    return {r.exercise: r for r in rows}


# ---- 1. one job's failure is one job's error rows; the CSV is there from the start ----------


def test_a_job_whose_grading_raises_costs_only_its_rows(solutions, tmp_path, monkeypatch):
    for name in ("first", "broken", "last"):
        learner(tmp_path, name, LEARNERS["complete"])
    real = grade.grade_notebook

    def flaky(path, solution, limits=None, learner="", collected=None):
        if learner == "broken":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, solution, limits, learner, collected)

    monkeypatch.setattr(grade, "grade_notebook", flaky)
    jobs, _ = grade.collect_jobs(sorted(tmp_path.iterdir()), solutions)
    for job in jobs:  # one learner's run is in this process, where the fault is planted
        job.learner = "broken" if "broken" in str(job.notebook) else job.learner
    seen = []
    rows = [r for job in jobs for r in grade.grade_jobs([job], LIMITS, on_rows=seen.append)]
    assert [(r.learner, r.status) for r in rows] == [
        ("broken", "error"), ("broken", "error"), ("first", "passed"), ("first", "passed"),
        ("last", "passed"), ("last", "passed")]
    assert rows[0].message.startswith("grader error: PermissionError")
    assert len(seen) == 3  # each job reported as it finished


def test_the_csv_is_checked_first_and_valid_after_every_job(solutions, tmp_path, monkeypatch,
                                                            capsys):
    def must_not_grade(*args, **kwargs):
        raise AssertionError("graded before the CSV path was checked")

    monkeypatch.setattr(grade, "grade_jobs", must_not_grade)
    assert grade.main([str(tmp_path), "--csv", str(tmp_path / "no" / "such" / "x.csv")]) == 2
    assert "cannot write the CSV file" in capsys.readouterr().err

    log = grade.CsvLog(tmp_path / "grades.csv")
    for n in range(3):
        log.append([grade.Row(f"learner{n}", "00_fake", "softmax", "passed", 'a "quoted",\nline',
                              1.5)])
        with open(log.path, newline="", encoding="utf-8") as fh:
            table = list(csv.DictReader(fh))
        assert [r["learner"] for r in table] == [f"learner{i}" for i in range(n + 1)]
        assert table[-1]["message"] == 'a "quoted",\nline'


# ---- 2. check processes: process group, limits, signals, infrastructure --------------------


def _check(tmp_path, fn, checker="softmax", **kwargs):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # as a notebook's function
    box = tmp_path / "box"
    box.mkdir(exist_ok=True)
    (box / "softmax.pkl").write_bytes(cloudpickle.dumps(fn))
    return grade_check.run_in_fresh_process(checker, (), box / "softmax.pkl", box,
                                            kwargs.pop("timeout", 60), grade._worker_env(),
                                            **kwargs)


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("finish", ["returns", "hangs"])
def test_processes_the_function_starts_do_not_outlive_its_check(tmp_path, finish):
    marker = f"{os.getpid() % 1000 + 7000}.{'1' if finish == 'returns' else '2'}"

    def softmax(z):
        import subprocess

        import numpy as np
        subprocess.Popen(["sleep", marker])
        if finish == "hangs":
            time.sleep(600)
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    outcome = _check(tmp_path, softmax, timeout=8)
    assert outcome.status == ("passed" if finish == "returns" else "failed"), outcome
    time.sleep(0.2)
    assert _processes_with(marker) == []


def test_a_process_started_in_a_session_of_its_own_does_not_outlive_its_check(tmp_path):
    """``start_new_session=True`` leaves the check's process group; the check's reaper (a Linux
    child subreaper) still kills it, and what it started in turn."""
    marker = f"{os.getpid() % 1000 + 7000}.3"

    def softmax(z):
        import subprocess
        import sys

        import numpy as np
        code = f"import subprocess, time; subprocess.Popen(['sleep', '{marker}']); time.sleep(600)"
        subprocess.Popen([sys.executable, "-c", code, marker], start_new_session=True)
        subprocess.Popen(["sleep", marker], start_new_session=True)
        time.sleep(0.5)  # the grandchild has started
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    outcome = _check(tmp_path, softmax, timeout=20)
    assert outcome.status == "passed", outcome
    time.sleep(0.2)
    assert _processes_with(marker) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the reaper is Linux-only")
def test_a_session_of_its_own_dies_with_a_check_that_times_out(tmp_path):
    """When the check runs out of time the grader kills the reaper's tree, setsid'd processes
    included."""
    marker = f"{os.getpid() % 1000 + 7000}.4"

    def softmax(z):
        import subprocess
        subprocess.Popen(["sleep", marker], start_new_session=True)
        time.sleep(600)

    outcome = _check(tmp_path, softmax, timeout=4)
    assert outcome.status == "failed" and "timed out" in outcome.message, outcome
    time.sleep(0.2)
    assert _processes_with(marker) == []


def test_the_grader_kills_nothing_it_did_not_start_for_the_check(tmp_path):
    """A process the grading process starts itself, before or during a check, survives the
    check's clean-up and keeps its own exit status (the grader adopts and reaps nothing)."""
    import threading
    marker = f"{os.getpid() % 1000 + 7000}.5"
    before = subprocess.Popen(["sleep", marker])
    during = []
    starter = threading.Timer(0.5, lambda: during.append(subprocess.Popen(["sleep", marker])))

    def softmax(z):
        import numpy as np
        time.sleep(1.5)
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    starter.start()
    try:
        outcome = _check(tmp_path, softmax, timeout=30)
        starter.join()
        assert outcome.status == "passed", outcome
        assert before.poll() is None and during and during[0].poll() is None
        for proc in (before, *during):
            proc.terminate()
            assert proc.wait(timeout=10) == -signal.SIGTERM  # its owner reaps it, not the grader
    finally:
        for proc in (before, *during):
            proc.kill()


@pytest.mark.parametrize("how", ["print", "os.write"])
def test_writing_100_mb_to_stderr_is_stopped_and_the_row_says_why(tmp_path, how):
    def softmax(z):
        import os
        import sys
        chunk = "x" * 2**20
        for _ in range(100):  # 100 MiB to file descriptor 2, past the grader's streams
            if how == "print":
                print(chunk, file=sys.__stderr__, flush=True)
            else:
                os.write(2, chunk.encode())
        return z

    outcome = _check(tmp_path, softmax)
    assert outcome.status == "failed", outcome
    assert "killed by SIGXFSZ" in outcome.message, outcome.message
    assert f"more than {grade_check.FILE_MB} MiB" in outcome.message
    size = (tmp_path / "box" / "softmax.stderr").stat().st_size
    assert size <= grade_check.FILE_MB * 2**20, size


def test_a_grade_row_says_why_the_check_was_stopped(solutions, tmp_path):
    source = SOFTMAX.replace("    e = ", "    import os\n    for _ in range(100):\n"
                             "        os.write(2, b'x' * 2**20)\n    e = ", 1)
    assert source != SOFTMAX
    path = learner(tmp_path, "writer", [HEADER, source, CHECK_SOFTMAX, BACKWARD, CHECK_BACKWARD])
    rows = by_exercise(grade.grade_notebook(path, solutions / CHAPTER, LIMITS))
    assert rows["softmax"].status == "failed"
    assert "SIGXFSZ" in rows["softmax"].message and "MiB" in rows["softmax"].message
    assert rows["softmax_backward"].status == "passed", rows["softmax_backward"]


def test_cpu_time_is_limited_and_its_signal_named(tmp_path):
    """The check process gets RLIMIT_CPU: a process past it dies by SIGXCPU, and the row says
    it was the CPU-time limit of the check (its time limit)."""
    code = ("from course_utils.grading.grade_check import limit_resources\n"
            "print(limit_resources(None, None, cpu_seconds=1, file_mb=None), flush=True)\n"
            "while True:\n    pass")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=grade._worker_env())
    assert done.returncode == -signal.SIGXCPU, (done.returncode, done.stderr[-500:])
    assert "CPU 2 s" in done.stdout

    def softmax(z):
        import os
        import signal
        os.kill(os.getpid(), signal.SIGXCPU)

    outcome = _check(tmp_path, softmax, timeout=30)
    assert outcome.status == "failed"
    assert "killed by SIGXCPU" in outcome.message and "30 s of CPU time" in outcome.message


def test_the_check_process_runs_under_the_checks_cpu_limit(tmp_path):
    """The CPU limit reaches the check: the learner's function sees a finite RLIMIT_CPU no
    larger than the check's time limit plus one second (a wrong answer otherwise)."""
    def softmax(z):
        import resource

        import numpy as np
        soft, _hard = resource.getrlimit(resource.RLIMIT_CPU)
        if soft == resource.RLIM_INFINITY or soft > 31:
            return z  # wrong on purpose: the limit did not arrive
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    assert _check(tmp_path, softmax, timeout=30).status == "passed"


def test_the_command_line_limits_default_to_limits(monkeypatch, capsys):
    """One source for the limits' defaults: change Limits and --help follows."""
    from dataclasses import make_dataclass
    odd = make_dataclass("Limits", [("notebook", float, 611.0), ("cell", float, 322.0),
                                    ("check", float, 333.0), ("memory_mb", int, 4444),
                                    ("extra_processes", int, 64)])
    monkeypatch.setattr(grade, "Limits", odd)
    with pytest.raises(SystemExit):
        grade.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for number in ("611", "322", "333", "4444"):
        assert f"(default {number})" in text, number


def test_the_check_process_streams_are_real_streams(tmp_path):
    """What the learner's code may read of sys.stdout/stderr in the notebook (encoding,
    fileno(), buffer, ...) is there under the grader too, and what it prints is counted."""
    def softmax(z):
        import sys

        import numpy as np
        for stream in (sys.stdout, sys.stderr):
            assert stream.encoding and stream.errors and stream.fileno() in (1, 2)
            stream.buffer.write(b"")
            stream.writelines(["a", "b"])
            stream.flush()
        print("x" * 10)
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    outcome = _check(tmp_path, softmax)
    assert outcome.status == "passed", outcome


def test_one_capped_stream_class():
    from course_utils.grading import streams
    assert "CappedStream" in grade._CAP_OUTPUT and "class " not in grade._CAP_OUTPUT
    assert not hasattr(grade_check, "_CountingWriter")
    import io
    capped = streams.CappedStream(io.StringIO(), 3)
    assert capped.write("hello") == 5 and capped.getvalue() == "hel" and capped.total == 5


def test_a_signal_death_is_the_learners_failure_named(tmp_path):
    def softmax(z):
        import os
        import signal
        os.kill(os.getpid(), signal.SIGSEGV)

    outcome = _check(tmp_path, softmax)
    assert outcome.status == "failed"
    assert "killed by SIGSEGV" in outcome.message and "native code" in outcome.message


def test_memory_is_limited_before_the_learners_code_runs(tmp_path):
    def softmax(z):
        return bytearray(3 * 2**30)  # 3 GiB, over the 1 GiB given below

    outcome = _check(tmp_path, softmax, memory_mb=1024)
    assert outcome.status == "failed" and "MemoryError" in outcome.message, outcome


def test_a_grader_that_cannot_start_the_check_is_an_error_not_a_failure(tmp_path):
    outcome = _check(tmp_path, lambda z: z, checker="no_such_checker")
    assert outcome.status == "error"
    assert outcome.message.startswith("grader error: the check could not start (AttributeError")
    assert "Traceback" in outcome.detail and len(outcome.detail) <= grade_check.STDERR_TAIL


# ---- 3. 5. time-outs named, odd notebooks, huge messages, prologue failures ----------------


def test_a_timed_out_cell_is_named_even_when_the_functions_exist(solutions, tmp_path):
    nb = learner(tmp_path, "hung", [HEADER, SOFTMAX, CHECK_SOFTMAX, BACKWARD, CHECK_BACKWARD,
                                    "while True:\n    pass"])
    rows = grade.grade_notebook(nb, solutions / CHAPTER, grade.Limits(120, 4, 20), "hung")
    assert [r.status for r in rows] == ["passed", "passed"]
    assert all("cell 5 ran out of time (4 s)" in r.message for r in rows)


def test_a_notebook_that_is_not_utf8_gets_a_clear_row(solutions, tmp_path):
    nb = learner(tmp_path, "latin1", [HEADER, SOFTMAX + "\n# café"])
    nb.write_bytes(nb.read_bytes().replace("é".encode(), b"\xe9"))
    rows = grade.grade_notebook(nb, solutions / CHAPTER, LIMITS, "latin1")
    assert {r.status for r in rows} == {"error"}
    assert "not UTF-8 text (byte 0xE9" in rows[0].message and "save it again" in rows[0].message


def test_one_kernel_message_over_8_mb_is_dropped_and_grading_goes_on(solutions, tmp_path):
    big = ("from IPython.display import display\n"
           f"display({{'text/plain': 'x' * {nbrun.MAX_MESSAGE + 1_000_000}}}, raw=True)")
    nb = learner(tmp_path, "huge", [HEADER, big, SOFTMAX, CHECK_SOFTMAX, BACKWARD,
                                    CHECK_BACKWARD])
    start = time.monotonic()
    rows = grade.grade_notebook(nb, solutions / CHAPTER, LIMITS, "huge")
    assert [r.status for r in rows] == ["passed", "passed"], rows
    assert time.monotonic() - start < 60


def test_a_failing_prologue_stops_the_run(tmp_path):
    nb = new_notebook(cells=[new_code_cell("open('ran', 'w').close()")])
    run = nbrun.run_notebook(nb, cwd=tmp_path, prologue=["raise RuntimeError('no cap')"],
                             cell_timeout=30, timeout=60)
    assert run.stopped and "prologue" in run.stopped and "no cap" in run.stopped
    assert not (tmp_path / "ran").exists()


def test_the_output_limit_is_defined_once_in_characters():
    assert grade.OUTPUT_LIMIT is nbrun.OUTPUT_LIMIT == 1_000_000
    assert "NOTEBOOK_OUTPUT_LIMIT" not in vars(grade)
    assert "characters" in nbrun.__doc__


def test_one_atomic_writer(tmp_path):
    """Every whole-file write of the course goes through ``files.write_atomically``; only the
    data download (a stream hashed as it arrives) renames a temporary file of its own. The
    writer's files get the permissions of a plain open(), not mkstemp's private 0600."""
    from course_utils import REPO_ROOT, files
    from course_utils.capstone import record as _  # noqa: F401 - the module, for sys.modules
    from course_utils.grading import exercises

    record_module = sys.modules["course_utils.capstone.record"]
    for module in (grade, grade_check, exercises, record_module):
        assert module.write_atomically is files.write_atomically, module
    renaming = sorted(str(p.relative_to(REPO_ROOT))
                      for p in (REPO_ROOT / "course_utils").rglob("*.py")
                      if "os.replace(" in p.read_text(encoding="utf-8"))
    assert renaming == ["course_utils/data.py", "course_utils/files.py"]
    mask = os.umask(0o022)
    try:
        files.write_atomically(tmp_path / "a.txt", "text")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_the_results_file_protocol_is_gone():
    from course_utils.grading import checking

    assert not hasattr(checking, "RESULTS_ENV")
    for module in (checking, grade, grade_check):
        assert "COURSE_RESULTS_FILE" not in open(module.__file__, encoding="utf-8").read()


def test_a_killed_check_process_group_signal_name():
    assert grade_check._signal_name(int(signal.SIGKILL)) == "SIGKILL"
    assert grade_check._signal_name(99) == "signal 99"


# ---- budget: nbval's run of a solution also serves grade-solutions -------------------------


def test_nbval_collects_the_solutions_functions_for_the_grader(tmp_path, monkeypatch):
    """`make notebooks` runs nbval with course_utils.grading.grade_nbval; the grader then only
    checks."""
    import hashlib

    from course_utils.grading import grade_nbval

    sol = write_notebook(tmp_path / "solutions" / CHAPTER, LEARNERS["complete"])
    folder = tmp_path / "collected"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--nbval-lax", "-p", "course_utils.grading.grade_nbval",
                           "--grade-collect",
                           str(folder), str(sol)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COURSE_DEFER_DESIGN_CHECKS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    box = folder / sol.stem
    assert (box / "softmax.pkl").is_file() and (box / "softmax_backward.pkl").is_file()

    def must_not_run(*args, **kwargs):
        raise AssertionError("executed again")

    monkeypatch.setattr(nbrun, "run_notebook", must_not_run)
    rows = grade.grade_notebook(sol, sol, LIMITS, "solutions", box)
    assert [r.status for r in rows] == ["passed", "passed"]
    # a collection from another version of the notebook is ignored: the grader runs it itself
    report = (box / "collected.json").read_text(encoding="utf-8")
    (box / "collected.json").write_text(report.replace(
        hashlib.sha256(sol.read_bytes()).hexdigest(), "0" * 64), encoding="utf-8")
    with pytest.raises(AssertionError, match="executed again"):
        grade.grade_notebook(sol, sol, LIMITS, "solutions", box)
    assert grade_nbval.SHA_KEY in report
