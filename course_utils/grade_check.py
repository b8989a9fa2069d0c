"""One trusted check: a checker run on a learner's function in a fresh process of its own.

``course_utils.grade`` copies each exercise's function out of the learner's kernel (with
cloudpickle) and calls :func:`run_check`, which starts ``python -m course_utils.grade_check
JOB.json``. That process loads the function, runs ``checks.<checker>(fn)``, counts (and drops)
what the function prints, and writes its result to a temporary name that is then renamed, so a
half-written result is never read. It imports only what a check needs, so it starts fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from course_utils.checking import FAILED, NOT_ATTEMPTED, PASSED, RESULTS_ENV

ERROR = "error"          # the grader could not read or run something (exit status 2)
MESSAGE_LIMIT = 500      # characters of a checker message kept in a row
CHECK_OUTPUT_LIMIT = 100_000  # characters a function may print during its check before a note


def clip(text, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as a string of at most ``limit`` characters (cut with "...")."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _CountingWriter:
    """A stand-in for stdout/stderr that keeps nothing and counts characters."""

    def __init__(self):
        self.count = 0

    def write(self, text):
        self.count += len(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def worker(job_path: str) -> int:
    """Run one check (``python -m course_utils.grade_check JOB.json``) and write its result.

    The job names the checker, the pickled function, extra keyword arguments and the file for
    the result; the result is written to a temporary name and renamed, so a half-written result
    is never read.
    """
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    os.environ.pop(RESULTS_ENV, None)
    out = _CountingWriter()
    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    try:
        import linecache

        import cloudpickle

        from course_utils import checks

        try:  # the notebook's cell sources, for the line quoted when the function raises
            text = json.loads(Path(job["cells"]).read_text(encoding="utf-8"))[job["name"]]
            linecache.cache["<dynamic-code>"] = (len(text), None, text.splitlines(True),
                                                 "<dynamic-code>")
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            pass
        try:
            with open(job["function"], "rb") as fh:
                fn = cloudpickle.load(fh)
        except Exception as exc:  # noqa: BLE001 - e.g. a module the kernel had and we lack
            record = {"status": FAILED, "message": f"your function could not be loaded for "
                      f"checking ({type(exc).__name__}: {exc})"}
        else:
            result = getattr(checks, job["checker"])(fn, **dict(job["kwargs"]))
            record = {"status": result.status, "message": result.message}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from learner code too
        record = {"status": FAILED, "message": f"the check stopped: {type(exc).__name__}: {exc}"}
    finally:
        sys.stdout, sys.stderr = real_stdout, real_stderr
    record["printed"] = out.count
    tmp = Path(job["result"] + ".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, job["result"])
    return 0


def parse_result(text: str) -> tuple[str, str]:
    """(status, message) from a checker process's result; a malformed one is a failed row."""
    try:
        record = json.loads(text)
        status, message = record["status"], record["message"]
        if status not in (PASSED, FAILED, NOT_ATTEMPTED) or not isinstance(message, str):
            raise ValueError(f"unknown status {status!r}")
    except (ValueError, KeyError, TypeError) as exc:
        return ERROR, f"the checker's result could not be read ({clip(exc, 120)})"
    note = ""
    printed = record.get("printed", 0) if isinstance(record, dict) else 0
    if isinstance(printed, int) and printed > CHECK_OUTPUT_LIMIT:
        note = f" [your function printed {printed:,} characters during the check; not shown]"
    return status, clip(message) + note


def run_check(checker: str, kwargs, pickled: Path, folder: Path, timeout: float,
              env: dict[str, str]) -> tuple[str, str, float]:
    """Check one pickled function with ``checks.<checker>(fn, **kwargs)`` in a fresh process;
    returns (status, message, seconds)."""
    result = folder / f"{checker}.result.json"
    job = folder / f"{checker}.job.json"
    job.write_text(json.dumps({"checker": checker, "function": str(pickled),
                               "cells": str(pickled.parent / "cells.json"),
                               "name": pickled.stem,
                               "kwargs": list(kwargs), "result": str(result)}),
                   encoding="utf-8")
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "course_utils.grade_check", str(job)],
                              cwd=folder, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return FAILED, f"the check timed out after {timeout:.0f} s (an endless loop?)", \
            time.monotonic() - start
    seconds = time.monotonic() - start
    if not result.exists():
        return ERROR, f"the checker process died (exit status {proc.returncode})", seconds
    status, message = parse_result(result.read_text(encoding="utf-8", errors="replace"))
    return status, message, seconds


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
