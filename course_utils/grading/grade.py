"""Grade exercise notebooks, for one learner or a whole class.

    python -m course_utils.grading.grade exercises/                      # your own work
    python -m course_utils.grading.grade exercises/03_rnn_equations.ipynb
    python -m course_utils.grading.grade class/* --csv grades.csv -j 2   # one folder per learner
    python -m course_utils.grading.grade class/* --csv grades.csv --scheduler local:4       # Dask
    python -m course_utils.grading.grade class/* --csv grades.csv --scheduler tcp://host:8786

A PATH is a notebook, a folder of notebooks, or a learner's folder that holds ``exercises/``.
What is graded comes from ``solutions/`` (the single source), never from the learner's notebook:
the list of exercises of each chapter and the exact check each one runs are read from the
solution notebook with the same file name. The learner's notebook only provides the functions.

For each notebook the grader (1) executes a temporary copy in a fresh kernel (the learner's files
are never modified), cells that fail or run too long are recorded and the next cells still run;
(2) after the last cell, copies each exercise's function out of the kernel (with cloudpickle) and
shuts the kernel down; (3) runs each exercise's checker on that function in a fresh Python
process of its own, with a time limit, and reads the result from a folder created only after the
kernel is gone. So whatever the notebook did to its check cells or to the ``checks`` module in
its kernel does not change the grade. In the kernel the graded checkers are replaced by a stub
(the trusted check is the one that counts, so the kernel does not run each check a second time).
What this does not protect against is written in the README ("What the grade guarantees").

A class: each notebook is one job; a job whose grading fails for any reason becomes ``error``
rows ("grader error: ..."), never the end of the run. With ``--csv`` the file is created (and
so checked) before grading starts, and each job's rows are appended as soon as the job ends:
the file is a complete, valid CSV at any moment. Jobs run one at a time, ``-j N`` at a time in
local processes, or on a Dask ``distributed`` cluster (``--scheduler ADDRESS``, or
``--scheduler local:N`` for a ``LocalCluster`` of N one-thread workers; ``pip install
'course_utils[distributed]'``). Workers must see the same paths (a shared file system) and
have the course installed. A worker that dies costs only the job it ran: an ``error`` row.

Exit status: 0 when every exercise passed, 1 when any failed or is not attempted yet, 2 when a
notebook could not be read or run (or a solution is missing).
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from course_utils import REPO_ROOT
from course_utils.files import write_atomically
from course_utils.grading import checks, nbrun
from course_utils.grading.checking import DEFER_ENV, FAILED, NOT_ATTEMPTED, PASSED
from course_utils.grading.exercises import MarkerError, read_notebook
from course_utils.grading.grade_check import (  # noqa: F401  (parse_result: part of the grader's API)
    ERROR,
    EXTRA_PROCESSES,
    MEMORY_MB,
    clip,
    parse_result,
    run_in_fresh_process,
)
from course_utils.grading.nbrun import OUTPUT_LIMIT

STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, ERROR)
CHECK_CELL_MODIFIED = "check cell modified"
GRADER_ERROR = "grader error"
PROCESS_DIED = "the process grading this notebook died (did it kill its parent process?)"


@dataclass(frozen=True)
class Exercise:
    """One graded exercise, as the solution notebook defines it."""

    name: str                 # the checker's name in ``checks`` (the exercise's name)
    function: str             # the function the learner writes
    check_source: str         # the solution's check cell, to notice a modified copy
    kwargs: tuple = ()        # extra literal keyword arguments of the check call
    graded: bool = True


@dataclass
class Row:
    learner: str
    chapter: str
    exercise: str
    status: str
    message: str
    seconds: float = 0.0
    detail: str = ""          # the last 2 kB of the check process's stderr, when it had any


CSV_FIELDS = [f.name for f in fields(Row)]


# ---------------------------------------------------------------------------------------------
# Trusted expectations: the exercises of a chapter, read from its solution notebook


def is_graded(checker_name: str) -> bool:
    """A checker is graded unless it is a prediction (``predict_*``) or says ``graded = False``.

    "Predict, then run" exercises show the learner how their prediction compares with an
    experiment; they are never pass/fail, so the grader leaves them out.
    """
    if checker_name.startswith("predict_"):
        return False
    return getattr(getattr(checks, checker_name, None), "graded", True) is not False


def _check_calls(source: str):
    """(checker, function, kwargs) for every ``checks.NAME(function, key=literal)`` call."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "checks"
                and node.args and isinstance(node.args[0], ast.Name)):
            kwargs = []
            for kw in node.keywords:
                try:
                    kwargs.append((kw.arg, ast.literal_eval(kw.value)))
                except ValueError:
                    continue
            yield node.func.attr, node.args[0].id, tuple(kwargs)


def expected_exercises(solution: Path) -> list[Exercise]:
    """The exercises of ``solution`` in the order of their check cells (graded or not)."""
    nb = read_notebook(solution)
    found: dict[str, Exercise] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for checker, function, kwargs in _check_calls(cell.source):
            if checker not in found:
                found[checker] = Exercise(checker, function, cell.source.strip(), kwargs,
                                          is_graded(checker))
    return list(found.values())


# ---------------------------------------------------------------------------------------------
# Running the learner's notebook and taking out the functions

# Runs before the learner's cells: keeps at most LIMIT characters of what the notebook prints
# (the rest is counted, not sent), so printing 100 MB costs neither time nor memory here.
_CAP_OUTPUT = r'''
import sys as _course_sys
from course_utils.grading.streams import CappedStream as _CourseCappedStream

_course_sys.stdout = _CourseCappedStream(_course_sys.stdout, LIMIT)
_course_sys.stderr = _CourseCappedStream(_course_sys.stderr, LIMIT)
del _CourseCappedStream, _course_sys
'''

# Runs after the output cap: the graded checkers in the kernel become stubs. The grade comes
# from the trusted check only, so running each check in the kernel as well would cost its time
# twice. A stub returns a falsy result that says where the check runs.
_STUB_CHECKS = r'''
def _course_stub_checks(names):
    from course_utils.grading import checking, checks

    def stub(name):
        def check(*args, **kwargs):
            return checking.CheckResult(name, checking.NOT_ATTEMPTED,
                                        "checked by the grader, outside this kernel")
        check.__name__ = name
        return check

    for name in names:
        setattr(checks, name, stub(name))
_course_stub_checks(NAMES)
del _course_stub_checks
'''

# Runs after the learner's cells (and, for ``make test``, in nbval's kernel: see grade_nbval):
# copies the named functions out of the kernel with cloudpickle into FOLDER.
COLLECT = r'''
def _course_grade_collect(names, folder):
    import cloudpickle, json, os, sys
    report = {"__printed__": sum(getattr(s, "total", 0) for s in (sys.stdout, sys.stderr))}
    space = globals()
    for name in names:
        if name not in space:
            report[name] = "missing"
            continue
        obj = space[name]
        module = getattr(obj, "__module__", "__main__")
        if callable(obj) and module not in ("__main__", None):
            report[name] = "imported:" + str(module)
            continue
        try:
            data = cloudpickle.dumps(obj)
        except Exception as exc:
            report[name] = "unpicklable:" + type(exc).__name__ + ": " + str(exc)[:200]
            continue
        with open(os.path.join(folder, name + ".pkl"), "wb") as fh:
            fh.write(data)
        report[name] = "ok"
    with open(os.path.join(folder, "collected.json"), "w") as fh:
        json.dump(report, fh)
    # the source of the notebook's cells, so that the checker can quote the failing line
    # (cloudpickle renames the code's file "<dynamic-code>"; each function gets its cell back)
    import linecache
    cells = {}
    for name in names:
        code = getattr(space.get(name), "__code__", None)
        entry = linecache.cache.get(getattr(code, "co_filename", None))
        if entry is not None and len(entry) == 4:
            cells[name] = "".join(entry[2])[:200_000]
    with open(os.path.join(folder, "cells.json"), "w") as fh:
        json.dump(cells, fh)
_course_grade_collect(NAMES, FOLDER)
del _course_grade_collect
'''


def _defining_cell(nb, function: str) -> int | None:
    pattern = re.compile(rf"^\s*def\s+{re.escape(function)}\s*\(", re.MULTILINE)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and pattern.search(cell.source):
            return index
    return None


def _why_undefined(nb, run, function: str) -> str:
    """One line on why ``function`` does not exist after the run, naming its cell."""
    cell = _defining_cell(nb, function)
    if cell is None:
        return f"`{function}` is missing: no cell defines `def {function}(...)`"
    if cell in run.errors:
        return f"`{function}` is not defined: cell {cell}, which defines it, raised " \
               f"{run.errors[cell]}"
    if cell in run.timed_out:
        return f"`{function}` is not defined: cell {cell}, which defines it, ran out of time"
    return f"`{function}` is not defined after running the notebook (cell {cell} defines it)"


# ---------------------------------------------------------------------------------------------
# One notebook


@dataclass
class Limits:
    notebook: float = 600.0   # seconds for executing one notebook
    cell: float = 300.0       # seconds for one cell
    check: float = 300.0      # seconds for one check
    memory_mb: int | None = MEMORY_MB              # address space of one check process
    extra_processes: int | None = EXTRA_PROCESSES  # processes one check may start (not root)


@dataclass
class Job:
    learner: str
    notebook: Path | None     # None: the learner's notebook for this chapter is missing
    solution: Path
    chapter: str
    collected: Path | None = None  # functions nbval already collected (see grade_nbval)


def _kernel_env() -> dict[str, str]:
    # Design checkers train the learner's model; in the kernel that would only repeat the
    # trusted check's training, so they are told to leave it to the grader.
    return {"COURSE_PROGRESS": "0", "MPLBACKEND": "Agg", DEFER_ENV: "1"}


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop(DEFER_ENV, None)
    env.update({"COURSE_PROGRESS": "0", "MPLBACKEND": "Agg", "OMP_NUM_THREADS":
                env.get("OMP_NUM_THREADS", "1"), "MKL_NUM_THREADS": env.get("MKL_NUM_THREADS",
                                                                             "1")})
    # The grader's own course_utils, never one a learner's folder might hold.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in env.get(
        "PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _collected_box(folder: Path | None, path: Path) -> Path | None:
    """``folder`` if it holds functions collected from exactly the notebook ``path``."""
    if folder is None:
        return None
    from course_utils.grading.grade_nbval import SHA_KEY  # here: that plugin imports pytest

    try:
        report = json.loads((folder / "collected.json").read_text(encoding="utf-8"))
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, ValueError):
        return None
    return folder if isinstance(report, dict) and report.get(SHA_KEY) == sha else None


def grade_notebook(path: Path, solution: Path, limits: Limits | None = None,
                   learner: str = "", collected: Path | None = None) -> list[Row]:
    """One row per graded exercise of ``solution``, for the learner's notebook ``path``.

    ``collected``: a folder where ``course_utils.grading.grade_nbval`` put the functions of
    this very notebook (``make test`` grading ``solutions/``); the notebook is then not executed
    again.
    """
    limits = limits or Limits()
    chapter = path.stem
    exercises = [e for e in expected_exercises(solution) if e.graded]

    def rows_all(status: str, message: str) -> list[Row]:
        return [Row(learner, chapter, e.name, status, message) for e in exercises]

    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return rows_all(ERROR, f"notebook unreadable: it is not UTF-8 text (byte "
                               f"0x{exc.object[exc.start]:02X} at position {exc.start:,}); open "
                               "it in Jupyter and save it again")
    except OSError as exc:
        return rows_all(ERROR, f"notebook unreadable: {clip(exc, 200)}")
    try:
        nb = read_notebook(path)
    except MarkerError as exc:
        return rows_all(ERROR, f"notebook unreadable: {clip(str(exc).split(': ', 1)[-1], 200)}")
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        tmp = Path(tmp)
        work = tmp / "work"
        work.mkdir()
        boxes: list[Path] = []

        def collect() -> str:
            # A folder with a random name, made only now that the learner's cells have run,
            # so nothing the notebook did earlier can have put files in it.
            boxes.append(Path(tempfile.mkdtemp(prefix="functions-", dir=tmp)))
            return COLLECT.replace("NAMES", repr([e.function for e in exercises])).replace(
                "FOLDER", repr(str(boxes[0])))

        graded_names = repr([e.name for e in exercises])
        ready = _collected_box(collected, path)
        if ready is not None:  # nbval already ran this notebook and kept its functions
            run, boxes = nbrun.Run(nb), [ready]
            run.epilogue = [[]]
        else:
            run = nbrun.run_notebook(nb, cwd=work, env=_kernel_env(), cell_timeout=limits.cell,
                                     timeout=limits.notebook, epilogue=[collect],
                                     prologue=[_CAP_OUTPUT.replace("LIMIT", str(OUTPUT_LIMIT)),
                                               _STUB_CHECKS.replace("NAMES", graded_names)])
        # The kernel is shut down now. Results go to a folder made after that.
        report = None  # collected.json: {function: "ok" or why not, "__printed__": count}
        if boxes and run.epilogue and not any(
                o.get("output_type") == "error" for o in run.epilogue[0]):
            box = boxes[0]
            try:
                report = json.loads((box / "collected.json").read_text(encoding="utf-8"))
                if not isinstance(report, dict):
                    raise ValueError("not a dict")
            except (OSError, ValueError):
                report = None
        notes = []
        printed = report.get("__printed__") if report else None
        if run.capped or (isinstance(printed, int) and printed > OUTPUT_LIMIT):
            amount = f"{printed:,} characters" if isinstance(printed, int) else "too much"
            notes.append(f"output capped: the notebook printed {amount}; the grader kept "
                         f"{OUTPUT_LIMIT:,}")
        for cell in run.timed_out:
            notes.append(f"cell {cell} ran out of time ({limits.cell:.0f} s) and was "
                         "interrupted")
        if run.stopped and report is not None:
            notes.append(run.stopped)
        if report is None:
            why = run.died or run.stopped or (
                "the notebook's last cell did not finish" if run.timed_out else
                "the functions could not be collected")
            rows = rows_all(ERROR, why)
        else:
            checks_dir = Path(tempfile.mkdtemp(prefix="checks-", dir=tmp))
            rows = []
            sources = {c.source.strip() for c in nb.cells if c.cell_type == "code"}
            env = _worker_env()
            for e in exercises:
                state = str(report.get(e.function, "missing"))
                detail = ""
                if state == "ok":
                    outcome = run_in_fresh_process(e.name, e.kwargs, box / f"{e.function}.pkl",
                                                   checks_dir, limits.check, env,
                                                   limits.memory_mb, limits.extra_processes)
                    status, message = outcome.status, outcome.message
                    seconds, detail = outcome.seconds, outcome.detail
                elif state == "missing":
                    status, message, seconds = FAILED, _why_undefined(nb, run, e.function), 0.0
                elif state.startswith("imported:"):
                    status, message, seconds = FAILED, (
                        f"`{e.function}` comes from `{state.split(':', 1)[1]}`, not from a "
                        "`def` in this notebook"), 0.0
                else:
                    status, message, seconds = FAILED, clip(
                        f"`{e.function}` could not be copied out of the kernel for checking "
                        f"({state.split(':', 1)[-1]})"), 0.0
                extra = [] if e.check_source in sources else [CHECK_CELL_MODIFIED]
                tail = "; ".join(extra + notes)
                rows.append(Row(learner, chapter, e.name, status,
                                message + (f" [{tail}]" if tail else ""), round(seconds, 2),
                                detail))
    return rows


# ---------------------------------------------------------------------------------------------
# Many notebooks, many learners


def _solution_for(notebook: Path, solutions: Path) -> Path | None:
    candidate = solutions / notebook.name
    return candidate if candidate.is_file() else None


def _solution_problem(solution: Path) -> str | None:
    """Why ``solution`` cannot define what to grade, or None when it can."""
    try:
        exercises = expected_exercises(solution)
    except MarkerError as exc:
        return str(exc)
    if not any(e.graded for e in exercises):
        return f"{solution}: no graded `checks.NAME(function)` call, so nothing to grade"
    return None


def collect_jobs(paths: list[Path], solutions: Path) -> tuple[list[Job], list[str]]:
    """Grading jobs for the command-line PATHs, and the problems found on the way."""
    jobs: list[Job] = []
    problems: list[str] = []
    usable: dict[Path, bool] = {}

    def usable_solution(sol: Path) -> bool:
        if sol not in usable:
            problem = _solution_problem(sol)
            usable[sol] = problem is None
            if problem:
                problems.append(problem)
        return usable[sol]

    for p in paths:
        if p.is_dir() and (p / "exercises").is_dir():
            # a learner's folder: every chapter of solutions/, missing notebooks included
            learner = p.name
            for sol in sorted(solutions.glob("*.ipynb")):
                if usable_solution(sol):
                    nb = p / "exercises" / sol.name
                    jobs.append(Job(learner, nb if nb.is_file() else None, sol, sol.stem))
            continue
        if p.is_dir():
            found = sorted(p.glob("*.ipynb"))
            if not found:
                problems.append(f"{p}: no notebooks in this folder")
            learner = p.resolve().name
        elif p.is_file():
            found, learner = [p], p.resolve().parent.name
        else:
            problems.append(f"{p}: no such file or folder")
            continue
        for nb in found:
            sol = _solution_for(nb, solutions)
            if sol is None:
                problems.append(f"{nb}: no solution notebook {solutions / nb.name}, so there "
                                "is nothing to grade it against")
                continue
            if usable_solution(sol):
                jobs.append(Job(learner, nb, sol, nb.stem))
    return jobs, problems


def _grade_job(job: Job, limits: Limits) -> list[Row]:
    if job.notebook is None:
        return [Row(job.learner, job.chapter, e.name, NOT_ATTEMPTED,
                    f"exercises/{job.chapter}.ipynb is missing")
                for e in expected_exercises(job.solution) if e.graded]
    return grade_notebook(job.notebook, job.solution, limits, job.learner, job.collected)


def error_rows(job: Job, why: str) -> list[Row]:
    """``error`` rows for every graded exercise of ``job`` (one row if even that fails)."""
    message = clip(f"{GRADER_ERROR}: {why}")
    try:
        names = [e.name for e in expected_exercises(job.solution) if e.graded]
    except Exception:  # noqa: BLE001 - the solution itself may be what failed
        names = []
    return [Row(job.learner, job.chapter, name, ERROR, message) for name in names or ["*"]]


def grade_job(job: Job, limits: Limits) -> list[Row]:
    """The rows of one job; whatever goes wrong while grading it becomes its ``error`` rows."""
    try:
        return _grade_job(job, limits)
    except Exception as exc:  # noqa: BLE001 - one job's failure must not end the class's run
        where = traceback.extract_tb(exc.__traceback__)[-1:]
        at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
        return error_rows(job, f"{type(exc).__name__}: {exc}{at}")


def _local_pool(workers: int):
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"))


def _run_local(jobs, limits, workers, done) -> None:
    # Last chapter first: in this course the later chapters take longest (08's solution about
    # 54 s, the others 7-20 s), and a long job started last leaves the other workers idle.
    pending = sorted(range(len(jobs)), key=lambda i: jobs[i].chapter, reverse=True)
    while pending:
        with _local_pool(workers) as pool:
            futures = {pool.submit(grade_job, jobs[i], limits): i for i in pending}
            broken = []
            for future in as_completed(futures):
                i = futures[future]
                try:
                    done(i, future.result())
                except BrokenProcessPool:
                    broken.append(i)
                except Exception as exc:  # noqa: BLE001
                    done(i, error_rows(jobs[i], f"{type(exc).__name__}: {exc}"))
        if len(broken) == len(pending):
            # no job finished: grade the first alone, so a job that kills its process costs
            # only itself
            first, pending = broken[0], broken[1:]
            with _local_pool(1) as pool:
                try:
                    done(first, pool.submit(grade_job, jobs[first], limits).result())
                except Exception as exc:  # noqa: BLE001
                    done(first, error_rows(jobs[first], PROCESS_DIED if isinstance(
                        exc, BrokenProcessPool) else f"{type(exc).__name__}: {exc}"))
        else:
            pending = broken


def _dask_client(scheduler: str):
    """A ``distributed.Client`` for ``ADDRESS``, or for a new ``LocalCluster`` (``local:N``)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise SystemExit("--scheduler needs Dask's distributed: pip install "
                         "'course_utils[distributed]' (make setup installs it)") from exc
    # A job whose worker died is not tried again on another worker: it becomes an error row.
    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    if scheduler.startswith("local:"):
        n = int(scheduler.split(":", 1)[1])
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    return Client(scheduler), None


def _run_dask(jobs, limits, scheduler, done) -> None:
    from distributed import as_completed as finished  # optional: only with --scheduler

    client, cluster = _dask_client(scheduler)
    try:
        order = sorted(range(len(jobs)), key=lambda i: jobs[i].chapter, reverse=True)
        futures = {client.submit(grade_job, jobs[i], limits, pure=False,
                                 key=f"grade-{i}-{jobs[i].learner}-{jobs[i].chapter}"): i
                   for i in order}
        for future in finished(futures):
            i = futures[future]
            try:
                done(i, future.result())
            except Exception as exc:  # noqa: BLE001 - KilledWorker and the like
                name = type(exc).__name__
                done(i, error_rows(jobs[i], PROCESS_DIED if name == "KilledWorker"
                                   else f"{name}: {exc}"))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def grade_jobs(jobs: list[Job], limits: Limits, workers: int = 1, scheduler: str | None = None,
               on_rows=None) -> list[Row]:
    """Rows of every job, in job order.

    Graded one at a time, ``workers`` notebooks at a time in local processes, or on a Dask
    cluster (``scheduler``). ``on_rows(rows)`` is called with each job's rows as soon as the job
    ends (in the order jobs end).
    """
    results: dict[int, list[Row]] = {}

    def done(i: int, rows: list[Row]) -> None:
        results[i] = rows
        if on_rows is not None:
            on_rows(rows)

    if scheduler:
        _run_dask(jobs, limits, scheduler, done)
    elif workers <= 1 and len({job.learner for job in jobs}) <= 1:
        # one learner's own work: in this process (a notebook that kills it ends only its run)
        for i, job in enumerate(jobs):
            done(i, grade_job(job, limits))
    else:  # a class: every job in a process of the pool, so one cannot end the others
        _run_local(jobs, limits, max(1, workers), done)
    return [row for i in range(len(jobs)) for row in results[i]]


def _csv_text(rows: list[Row], header: bool = False) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(CSV_FIELDS)
    for r in rows:
        writer.writerow(astuple(r))
    return buffer.getvalue()


class CsvLog:
    """The class's CSV: created with its header before grading, one append per finished job.

    The header is written atomically; each job's rows are appended with a single write and
    flushed to disk, so the file is a complete, valid CSV at any moment.
    """

    def __init__(self, path: Path):
        self.path = path
        write_atomically(path, _csv_text([], header=True))

    def append(self, rows: list[Row]) -> None:
        if not rows:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, _csv_text(rows).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def write_csv(rows: list[Row], path: Path) -> None:
    """One CSV line per learner x exercise, written atomically."""
    write_atomically(path, _csv_text(rows, header=True))


def print_table(rows: list[Row], out=print) -> None:
    learners = len({r.learner for r in rows}) > 1
    cols = [("learner", [r.learner for r in rows])] if learners else []
    cols += [("notebook", [r.chapter for r in rows]), ("exercise", [r.exercise for r in rows])]
    widths = [max([len(v) for v in vals] + [len(name)]) for name, vals in cols]
    for i, r in enumerate(rows):
        first = r.message.splitlines()[0] if r.message else ""
        lead = "  ".join(f"{vals[i]:<{w}}" for (_, vals), w in zip(cols, widths, strict=True))
        out(f"{lead}  {r.status:<13}  {first}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading.grade",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="a notebook, a folder of notebooks, or a learner's folder "
                             "holding exercises/")
    parser.add_argument("--csv", type=Path, help="also write the rows to this CSV file")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="notebooks graded at the same time (default 1)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on a Dask distributed cluster: a scheduler's address "
                             "(tcp://host:8786) or local:N for a LocalCluster of N workers")
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions",
                        help="where the exercises are defined (default: the course's solutions/)")
    default = Limits()  # the one place the limits' defaults are written
    parser.add_argument("--timeout", type=float, default=default.notebook,
                        help=f"seconds allowed to execute one notebook (default "
                             f"{default.notebook:.0f})")
    parser.add_argument("--cell-timeout", type=float, default=default.cell,
                        help=f"seconds allowed for one cell; it is then interrupted (default "
                             f"{default.cell:.0f})")
    parser.add_argument("--check-timeout", type=float, default=default.check,
                        help=f"seconds allowed for one exercise's check, of wall time and of "
                             f"CPU time (default {default.check:.0f})")
    parser.add_argument("--collected", type=Path, metavar="DIR",
                        help="functions nbval already copied out of these notebooks' kernels "
                             "(make test; see course_utils.grading.grade_nbval); stale ones are "
                             "ignored")
    parser.add_argument("--check-memory", type=int, default=default.memory_mb, metavar="MIB",
                        help=f"address space of one check process, MiB (default "
                             f"{default.memory_mb})")
    args = parser.parse_args(argv)
    limits = Limits(args.timeout, min(args.cell_timeout, args.timeout), args.check_timeout,
                    args.check_memory)
    log = None
    if args.csv:  # before any grading: a wrong path fails now, not after hours
        try:
            log = CsvLog(args.csv)
        except OSError as exc:
            print(f"ERROR cannot write the CSV file {args.csv}: {exc}", file=sys.stderr)
            return 2
    jobs, problems = collect_jobs(args.paths, args.solutions)
    if args.collected:
        for job in jobs:
            job.collected = args.collected.resolve() / job.chapter  # check processes run elsewhere
    rows = grade_jobs(jobs, limits, max(1, args.jobs), args.scheduler,
                      on_rows=log.append if log else None)
    print_table(rows)
    for p in problems:
        print(f"ERROR {p}")
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    print(f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[NOT_ATTEMPTED]} not "
          f"attempted, {counts[ERROR]} could not be graded, {len(problems)} other error(s)")
    if problems or counts[ERROR]:
        return 2
    return 0 if rows and counts[PASSED] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
