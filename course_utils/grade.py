"""Grade exercise notebooks from the command line.

    python -m course_utils.grade PATH [PATH ...] [--timeout SECONDS]

PATH is a notebook or a folder of notebooks. Each notebook is copied to a temporary folder and
executed there (your file is never modified); every ``checks.NAME(...)`` call in it reports its
result, and one row per exercise is printed. Exit status: 0 when every exercise passed, 1 when
any failed or is not attempted yet, 2 when a notebook could not be read or run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course_utils.checking import FAILED, NOT_ATTEMPTED, PASSED, RESULTS_ENV
from course_utils.env import temporary_environ
from course_utils.exercises import MarkerError, read_notebook

CHECK_CALL = re.compile(r"\bchecks\.(\w+)\s*\(")


@dataclass
class Row:
    notebook: str
    exercise: str
    status: str
    message: str


def expected_exercises(nb) -> list[str]:
    """Exercise names in the order their check calls appear in the notebook."""
    names: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            for name in CHECK_CALL.findall(cell.source):
                if name not in names:
                    names.append(name)
    return names


def _first_error(nb) -> str:
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell {index} raised {out.get('ename')}: {out.get('evalue')}"
    return ""


def grade_notebook(path: Path, timeout: float) -> tuple[list[Row], str | None]:
    """Rows for one notebook, and a one-line reason when it could not be read or run."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        nb = read_notebook(path)
    except MarkerError as exc:
        return [], str(exc)
    names = expected_exercises(nb)
    if not names:
        return [], f"{path}: no `checks.NAME(...)` call found; is this an exercise notebook?"
    deadline = time.monotonic() + timeout
    failure = None
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        results_file = Path(tmp) / "results.jsonl"
        kernel_env = {RESULTS_ENV: str(results_file), "COURSE_PROGRESS": "0",
                      "MPLBACKEND": "Agg"}
        try:
            with temporary_environ(**kernel_env):
                client = NotebookClient(
                    nb, kernel_name="python3", allow_errors=True,
                    timeout_func=lambda _cell: max(1, int(deadline - time.monotonic())),
                    resources={"metadata": {"path": tmp}})
                client.execute()
        except CellTimeoutError:
            failure = f"{path}: timed out after {timeout:.0f} s"
        except DeadKernelError as exc:
            failure = f"{path}: the kernel died ({exc})"
        except Exception as exc:  # noqa: BLE001 - kernel start-up problems and the like
            failure = f"{path}: could not be run ({type(exc).__name__}: {exc})"
        results = {}
        if results_file.exists():
            for line in results_file.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    results[rec["exercise"]] = rec
                except (ValueError, KeyError):
                    continue
    error = _first_error(nb)
    rows = []
    for name in names:
        rec = results.get(name)
        if rec is None:
            why = "its check cell did not run" + (f" ({error})" if error else "")
            rows.append(Row(path.name, name, FAILED, why))
        else:
            rows.append(Row(path.name, name, rec["status"], rec["message"]))
    return rows, failure


def _collect(paths: list[Path]) -> tuple[list[Path], list[str]]:
    notebooks, problems = [], []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.ipynb"))
            if not found:
                problems.append(f"{p}: no notebooks in this folder")
            notebooks.extend(found)
        elif p.is_file():
            notebooks.append(p)
        else:
            problems.append(f"{p}: no such file or folder")
    return notebooks, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grade",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds allowed per notebook (default 300)")
    args = parser.parse_args(argv)
    notebooks, problems = _collect(args.paths)
    rows: list[Row] = []
    for nb_path in notebooks:
        nb_rows, failure = grade_notebook(nb_path, args.timeout)
        rows.extend(nb_rows)
        if failure:
            problems.append(failure)
    width = max([len(r.notebook) for r in rows] + [8])
    ex_width = max([len(r.exercise) for r in rows] + [8])
    for r in rows:
        first = r.message.splitlines()[0] if r.message else ""
        print(f"{r.notebook:<{width}}  {r.exercise:<{ex_width}}  {r.status:<13}  {first}")
    for p in problems:
        print(f"ERROR {p}")
    counts = {s: sum(r.status == s for r in rows) for s in (PASSED, FAILED, NOT_ATTEMPTED)}
    print(f"{counts[PASSED]} passed, {counts[FAILED]} failed, {counts[NOT_ATTEMPTED]} not "
          f"attempted, {len(problems)} notebook error(s)")
    if problems:
        return 2
    return 0 if rows and counts[PASSED] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
