"""One trusted check: a checker run on a learner's function in a fresh process of its own.

``course_utils.grading.grade`` copies each exercise's function out of the learner's kernel (with
cloudpickle) and calls :func:`run_in_fresh_process`, which starts
``python -m course_utils.grading.grade_check JOB.json``. That process loads the function, runs
``checks.<checker>(fn)``, counts (and drops) what the function prints, and writes its result to
a temporary name that is then renamed, so a half-written result is never read. It imports only
what a check needs, so it starts fast.

Containment: the check runs under a small "reaper" process of its own
(``python -m course_utils.grading.grade_check --reaper JOB.json``), started in a session (and
process group) of its own. On Linux the reaper is a "child subreaper"
(``prctl(PR_SET_CHILD_SUBREAPER)``): a process the learner's code started in a session of its
own (``start_new_session=True``, ``setsid``) stays in the reaper's tree when its parent dies, and
the reaper kills its whole tree when the check ends; when the check runs out of time the grader
kills the reaper's tree, never a process outside it. So the grading process adopts nothing and
kills nothing it did not start. Elsewhere (macOS, Windows), or where ``prctl`` is refused (the
reaper says so on its standard error), only the process group is killed, so such a process can
outlive its check. Before the learner's function is loaded, the process limits its own address space
(``Limits.memory_mb``), its CPU time (the check's time limit), the size of any file it writes,
its standard error included (``FILE_MB``), and, for a user other than root, how many more
processes it may start; the limits hold for the processes it starts too. Outcomes: a check
that dies by a signal is ``failed`` with the signal named (the learner's code, for example a
memory blow-up, a segmentation fault or 100 MB written to its standard error); a check that
could not start because the grader's own imports failed is ``error``; the last 2 kB of the
process's standard error are kept for the row's ``detail``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from course_utils.files import write_atomically
from course_utils.grading.checking import FAILED, NOT_ATTEMPTED, PASSED
from course_utils.grading.streams import CappedStream

ERROR = "error"          # the grader could not read or run something (exit status 2)
MESSAGE_LIMIT = 500      # characters of a checker message kept in a row
CHECK_OUTPUT_LIMIT = 100_000  # characters a function may print during its check before a note
STDERR_TAIL = 2048       # bytes of the check process's standard error kept for the row
MEMORY_MB = 4096         # address space of one check process (RLIMIT_AS), in MiB
EXTRA_PROCESSES = 64     # processes a check may start (RLIMIT_NPROC; not enforced for root)
FILE_MB = 32             # largest file a check process may write, stderr included (RLIMIT_FSIZE)
RESULT_LIMIT = 20_000    # characters of the checker's message written to the result file


@dataclass
class CheckOutcome:
    """What one trusted check gave: the row's status and message, its time and stderr tail."""

    status: str
    message: str
    seconds: float
    detail: str = ""


def clip(text, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as a string of at most ``limit`` characters (cut with "...")."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _user_tasks() -> int:
    """How many processes and threads this user runs now (what RLIMIT_NPROC counts)."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def _lower(resource, which, value: int) -> None:
    """Set the soft and hard limit ``which`` to ``value`` (never above the hard limit now)."""
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def limit_resources(memory_mb: int | None = MEMORY_MB,
                    extra_processes: int | None = EXTRA_PROCESSES,
                    cpu_seconds: float | None = None,
                    file_mb: int | None = FILE_MB) -> list[str]:
    """Limit this process's address space, CPU time, file size and processes; what was set.

    POSIX only (elsewhere nothing is set). Going over the CPU time kills the process with
    SIGXCPU; writing past ``file_mb`` MiB into any file (its standard error is one) kills it with
    SIGXFSZ, which Python ignores by default (the write would only raise, and code that catches
    the error could go on trying). RLIMIT_NPROC counts every process and thread of the user, so
    the limit is today's count plus ``extra_processes``; the kernel does not apply it to root,
    which CI runs as.
    """
    try:
        import resource
    except ImportError:  # Windows
        return []
    done = []
    if cpu_seconds:
        seconds = int(cpu_seconds) + 1
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            seconds = min(seconds, hard)
        # SIGXCPU at the soft limit; the kernel's SIGKILL at the hard one, should it be caught
        hard_cpu = hard if hard != resource.RLIM_INFINITY else seconds + 5
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, max(seconds, hard_cpu)))
        done.append(f"CPU {seconds} s")
    if file_mb:
        _lower(resource, resource.RLIMIT_FSIZE, file_mb * 1024 * 1024)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        done.append(f"files {file_mb} MiB")
    if memory_mb:
        size = memory_mb * 1024 * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            size = min(size, hard)
        resource.setrlimit(resource.RLIMIT_AS, (size, hard))
        done.append(f"memory {memory_mb} MiB")
    if extra_processes and os.getuid() != 0 and os.path.isdir("/proc"):
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        cap = _user_tasks() + extra_processes
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_NPROC, (cap, hard))
        done.append(f"{extra_processes} more processes")
    return done


def worker(job_path: str) -> int:
    """Run one check (``python -m course_utils.grading.grade_check JOB.json``) and write its result.

    The job names the checker, the pickled function, extra keyword arguments, the resource
    limits and the file for the result; the result is written atomically, so a half-written
    result is never read.
    """
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    out, err = CappedStream(sys.stdout, 0), CappedStream(sys.stderr, 0)  # keep none, count all
    real_stdout, real_stderr = sys.stdout, sys.stderr
    try:  # the grader's own imports: if they fail, the grader is broken, not the learner
        import linecache

        import cloudpickle

        from course_utils.grading import checks

        checker = getattr(checks, job["checker"])
    except BaseException as exc:  # noqa: BLE001
        write_atomically(Path(job["result"]), json.dumps({
            "status": ERROR, "message": f"grader error: the check could not start "
            f"({type(exc).__name__}: {clip(exc, 200)})"}))
        raise
    limit_resources(job.get("memory_mb", MEMORY_MB), job.get("extra_processes", EXTRA_PROCESSES),
                    job.get("cpu_seconds"), job.get("file_mb", FILE_MB))
    sys.stdout, sys.stderr = out, err
    try:
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
            result = checker(fn, **dict(job["kwargs"]))
            record = {"status": result.status, "message": result.message}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from learner code too
        record = {"status": FAILED, "message": f"the check stopped: {type(exc).__name__}: {exc}"}
    finally:
        sys.stdout, sys.stderr = real_stdout, real_stderr
    record["message"] = clip(record["message"], RESULT_LIMIT)  # the result file stays small
    record["printed"] = out.total + err.total
    write_atomically(Path(job["result"]), json.dumps(record))
    return 0


def parse_result(text: str) -> tuple[str, str]:
    """(status, message) from a checker process's result; a malformed one is a failed row."""
    try:
        record = json.loads(text)
        status, message = record["status"], record["message"]
        if status not in (PASSED, FAILED, NOT_ATTEMPTED, ERROR) or not isinstance(message, str):
            raise ValueError(f"unknown status {status!r}")
    except (ValueError, KeyError, TypeError) as exc:
        return ERROR, f"the checker's result could not be read ({clip(exc, 120)})"
    note = ""
    printed = record.get("printed", 0) if isinstance(record, dict) else 0
    if isinstance(printed, int) and printed > CHECK_OUTPUT_LIMIT:
        note = f" [your function printed {printed:,} characters during the check; not shown]"
    return status, clip(message) + note


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the check's whole process group (the check and whatever its code started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass
    try:
        proc.kill()
    except OSError:
        pass


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``).

    Only the reaper calls it: the grading process itself never adopts a process. True if it
    worked.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER = 36
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """{pid: parent pid} of every process visible in /proc (empty without /proc)."""
    found = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    found[int(name)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return found


def _descendants(root: int, parents: dict[int, int]) -> set[int]:
    """Every process below ``root`` in the process tree (``root`` itself left out)."""
    found, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found - {root}


def _reap_dead_children() -> None:
    """Reap this process's children that have died, never blocking (the reaper's: every child
    of the reaper belongs to the check)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tree(root: int, rounds: int = 20, reap: bool = False) -> int:
    """SIGKILL every descendant of ``root`` (not ``root``), round after round, so that a process
    forking meanwhile is caught too. ``reap``: also reap this process's dead children after each
    round (only the reaper may: the grading process must never collect another thread's child).
    Returns how many were signalled."""
    killed = set()
    for _ in range(rounds):
        targets = _descendants(root, _parents())
        if not targets:
            break
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # gone already, or not ours to kill: never wait on it
                pass
        killed |= targets
        time.sleep(0.02)
        if reap:
            _reap_dead_children()
    return len(killed)


def reaper(job_path: str) -> int:
    """``python -m course_utils.grading.grade_check --reaper JOB.json``: run the check as a child
    and, when it ends, kill everything the check left behind (the reaper's whole tree). Exits
    the way the check did, so the grader reads the check's exit status or signal."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a killed check leaves no core file
    except (ImportError, ValueError, OSError):
        pass
    if not become_subreaper() and sys.platform.startswith("linux"):
        print("grader note: prctl(PR_SET_CHILD_SUBREAPER) was refused; only the check's process "
              "group is killed when it ends", file=sys.stderr, flush=True)
    check = subprocess.Popen([sys.executable, "-m", "course_utils.grading.grade_check", job_path],
                             stdin=subprocess.DEVNULL)
    code = check.wait()
    kill_tree(os.getpid(), reap=True)
    if code < 0:  # die by the same signal, so the grader names it
        try:
            signal.signal(-code, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
            pass
        os.kill(os.getpid(), -code)
    return code


def _tail(path: Path, limit: int = STDERR_TAIL) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def run_in_fresh_process(checker: str, kwargs, pickled: Path, folder: Path, timeout: float,
                         env: dict[str, str], memory_mb: int | None = MEMORY_MB,
                         extra_processes: int | None = EXTRA_PROCESSES,
                         file_mb: int | None = FILE_MB) -> CheckOutcome:
    """Check one pickled function with ``checks.<checker>(fn, **kwargs)`` in a fresh process.

    The check runs under a reaper (see the module docstring) in a session of its own, with
    ``timeout`` seconds of CPU time and of wall time; when it ends or runs out of time its whole
    tree is killed: its process group and (on Linux) every process it started in a session of
    its own. Returns a :class:`CheckOutcome`.
    """
    result = folder / f"{checker}.result.json"
    job = folder / f"{checker}.job.json"
    stderr_path = folder / f"{checker}.stderr"
    job.write_text(json.dumps({"checker": checker, "function": str(pickled),
                               "cells": str(pickled.parent / "cells.json"),
                               "name": pickled.stem, "memory_mb": memory_mb,
                               "extra_processes": extra_processes,
                               "cpu_seconds": timeout, "file_mb": file_mb,
                               "kwargs": list(kwargs), "result": str(result)}),
                   encoding="utf-8")
    start = time.monotonic()
    timed_out, returncode = True, None  # until the wait below says otherwise
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.grading.grade_check",
                                 "--reaper", str(job)],
                                cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr,
                                start_new_session=True)
        try:
            returncode = proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out, returncode = True, None
        finally:
            if timed_out:  # the reaper is alive (so its pid is still its own): kill its tree
                kill_tree(proc.pid)
            _kill_group(proc)  # the process group, finished check or not (all there is off Linux)
            proc.wait()
    seconds = time.monotonic() - start
    detail = _tail(stderr_path)
    if timed_out:
        return CheckOutcome(FAILED, f"the check timed out after {timeout:.0f} s (an endless "
                            "loop?)", seconds, detail)
    if result.exists():
        status, message = parse_result(result.read_text(encoding="utf-8", errors="replace"))
        return CheckOutcome(status, message, seconds, detail)
    if returncode is not None and returncode < 0:
        name = _signal_name(-returncode)
        why = {"SIGKILL": " (out of memory, or killed)", "SIGSEGV": " (a crash in native code)",
               "SIGXCPU": f" (it used more than the {timeout:.0f} s of CPU time a check may use)",
               "SIGXFSZ": f" (it wrote more than {file_mb} MiB to a file or to its standard "
               "error)"}.get(name, "")
        return CheckOutcome(FAILED, f"the check process was killed by {name}{why} while "
                            "running your function", seconds, detail)
    return CheckOutcome(FAILED, f"the check process ended (exit status {returncode}) before "
                        "writing its result; did your function call exit()?", seconds, detail)


if __name__ == "__main__":
    if sys.argv[1] == "--reaper":
        sys.exit(reaper(sys.argv[2]))
    sys.exit(worker(sys.argv[1]))
