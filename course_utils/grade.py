"""Grade exercise notebooks, for one learner or a whole class.

    python -m course_utils.grade exercises/                      # your own work
    python -m course_utils.grade exercises/03_rnn_equations.ipynb
    python -m course_utils.grade class/* --csv grades.csv -j 2   # one folder per learner

A PATH is a notebook, a folder of notebooks, or a learner's folder that holds ``exercises/``.
What is graded comes from ``solutions/`` (the single source), never from the learner's notebook:
the list of exercises of each chapter and the exact check each one runs are read from the
solution notebook with the same file name. The learner's notebook only provides the functions.

For each notebook the grader (1) executes a temporary copy in a fresh kernel (the learner's files
are never modified), cells that fail or run too long are recorded and the next cells still run;
(2) after the last cell, copies each exercise's function out of the kernel (with cloudpickle) and
shuts the kernel down; (3) runs each exercise's checker on that function in a fresh Python
process of its own, with a time limit, and reads the result from a folder created only after the
kernel is gone. So whatever the notebook did to its check cells, to a results file or to the
``checks`` module in its kernel does not change the grade. What this does not protect against is
written in the README ("What the grade guarantees").

Exit status: 0 when every exercise passed, 1 when any failed or is not attempted yet, 2 when a
notebook could not be read or run (or a solution is missing).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import re
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from course_utils.checking import DEFER_ENV, FAILED, NOT_ATTEMPTED, PASSED, RESULTS_ENV
from course_utils.grade_check import (  # noqa: F401  (parse_result: part of the grader's API)
    ERROR,
    clip,
    parse_result,
    run_check,
)

# Not imported from ``exercises``, which imports nbformat (seconds to import) at the top.
ROOT = Path(__file__).resolve().parent.parent

STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, ERROR)
CHECK_CELL_MODIFIED = "check cell modified"
NOTEBOOK_OUTPUT_LIMIT = 1_000_000  # characters of the notebook's printed output kept


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
    from course_utils import checks

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
    from course_utils.exercises import read_notebook

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


class _CourseCappedStream:
    def __init__(self, stream, limit):
        self._stream, self._limit, self.kept, self.total = stream, limit, 0, 0

    def write(self, text):
        self.total += len(text)
        room = self._limit - self.kept
        if room > 0:
            self.kept += min(room, len(text))
            self._stream.write(text[:room])
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


_course_sys.stdout = _CourseCappedStream(_course_sys.stdout, LIMIT)
_course_sys.stderr = _CourseCappedStream(_course_sys.stderr, LIMIT)
del _CourseCappedStream, _course_sys
'''

_COLLECT = r'''
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


@dataclass
class Job:
    learner: str
    notebook: Path | None     # None: the learner's notebook for this chapter is missing
    solution: Path
    chapter: str


def _kernel_env() -> dict[str, str]:
    # Design checkers train the learner's model; in the kernel that would only repeat the
    # trusted check's training, so they are told to leave it to the grader.
    return {"COURSE_PROGRESS": "0", "MPLBACKEND": "Agg", RESULTS_ENV: os.devnull,
            DEFER_ENV: "1"}


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop(RESULTS_ENV, None)
    env.pop(DEFER_ENV, None)
    env.update({"COURSE_PROGRESS": "0", "MPLBACKEND": "Agg", "OMP_NUM_THREADS":
                env.get("OMP_NUM_THREADS", "1"), "MKL_NUM_THREADS": env.get("MKL_NUM_THREADS",
                                                                             "1")})
    # The grader's own course_utils, never one a learner's folder might hold.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get(
        "PYTHONPATH", "").split(os.pathsep) if p])
    return env


def grade_notebook(path: Path, solution: Path, limits: Limits | None = None,
                   learner: str = "") -> list[Row]:
    """One row per graded exercise of ``solution``, for the learner's notebook ``path``."""
    from course_utils.exercises import MarkerError, read_notebook
    from course_utils.nbrun import run_notebook

    limits = limits or Limits()
    chapter = path.stem
    exercises = [e for e in expected_exercises(solution) if e.graded]

    def rows_all(status: str, message: str) -> list[Row]:
        return [Row(learner, chapter, e.name, status, message) for e in exercises]

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
            return _COLLECT.replace("NAMES", repr([e.function for e in exercises])).replace(
                "FOLDER", repr(str(boxes[0])))

        run = run_notebook(nb, cwd=work, env=_kernel_env(), cell_timeout=limits.cell,
                           timeout=limits.notebook, epilogue=[collect],
                           prologue=[_CAP_OUTPUT.replace("LIMIT", str(NOTEBOOK_OUTPUT_LIMIT))])
        # The kernel is shut down now. Results go to a folder made after that.
        collected = None
        if boxes and run.epilogue and not any(
                o.get("output_type") == "error" for o in run.epilogue[0]):
            box = boxes[0]
            try:
                collected = json.loads((box / "collected.json").read_text(encoding="utf-8"))
                if not isinstance(collected, dict):
                    raise ValueError("not a dict")
            except (OSError, ValueError):
                collected = None
        notes = []
        printed = collected.get("__printed__") if collected else None
        if run.capped or (isinstance(printed, int) and printed > NOTEBOOK_OUTPUT_LIMIT):
            amount = f"{printed:,} characters" if isinstance(printed, int) else "too much"
            notes.append(f"output capped: the notebook printed {amount}; the grader kept "
                         f"{NOTEBOOK_OUTPUT_LIMIT:,}")
        if collected is None:
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
                state = str(collected.get(e.function, "missing"))
                if state == "ok":
                    status, message, seconds = run_check(
                        e.name, e.kwargs, box / f"{e.function}.pkl", checks_dir, limits.check,
                        env)
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
                                message + (f" [{tail}]" if tail else ""), round(seconds, 2)))
    return rows


# ---------------------------------------------------------------------------------------------
# Many notebooks, many learners


def _solution_for(notebook: Path, solutions: Path) -> Path | None:
    candidate = solutions / notebook.name
    return candidate if candidate.is_file() else None


def _solution_problem(solution: Path) -> str | None:
    """Why ``solution`` cannot define what to grade, or None when it can."""
    from course_utils.exercises import MarkerError

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
    return grade_notebook(job.notebook, job.solution, limits, job.learner)


def grade_jobs(jobs: list[Job], limits: Limits, workers: int = 1) -> list[Row]:
    """Rows of every job, in job order, graded ``workers`` notebooks at a time."""
    if workers <= 1 or len(jobs) <= 1:
        results = [_grade_job(j, limits) for j in jobs]
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_grade_job, jobs, [limits] * len(jobs)))
    return [row for rows in results for row in rows]


def write_csv(rows: list[Row], path: Path) -> None:
    """One CSV line per learner x exercise; written to a temporary name, then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_FIELDS)
        for r in rows:
            writer.writerow(astuple(r))
    os.replace(tmp, path)


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
    parser = argparse.ArgumentParser(prog="python -m course_utils.grade",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="a notebook, a folder of notebooks, or a learner's folder "
                             "holding exercises/")
    parser.add_argument("--csv", type=Path, help="also write the rows to this CSV file")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="notebooks graded at the same time (default 1)")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions",
                        help="where the exercises are defined (default: the course's solutions/)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds allowed to execute one notebook (default 600)")
    parser.add_argument("--cell-timeout", type=float, default=300,
                        help="seconds allowed for one cell; it is then interrupted (default 300)")
    parser.add_argument("--check-timeout", type=float, default=300,
                        help="seconds allowed for one exercise's check (default 300)")
    args = parser.parse_args(argv)
    limits = Limits(args.timeout, min(args.cell_timeout, args.timeout), args.check_timeout)
    jobs, problems = collect_jobs(args.paths, args.solutions)
    rows = grade_jobs(jobs, limits, max(1, args.jobs))
    print_table(rows)
    for p in problems:
        print(f"ERROR {p}")
    if args.csv:
        write_csv(rows, args.csv)
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    print(f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[NOT_ATTEMPTED]} not "
          f"attempted, {counts[ERROR]} could not be graded, {len(problems)} other error(s)")
    if problems or counts[ERROR]:
        return 2
    return 0 if rows and counts[PASSED] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
