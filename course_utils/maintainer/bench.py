"""The course's benchmark: what things cost on the machine it runs on (a script, not a test).

    python -m course_utils.maintainer.bench                       # everything (several minutes)
    python -m course_utils.maintainer.bench --no-notebooks        # skip executing the notebooks
    python -m course_utils.maintainer.bench --only 08 --only 00   # notebooks named like these
    python -m course_utils.maintainer.bench --json bench.json     # also write the figures as JSON

It prints three things:

1. **Notebooks.** Every ``notebooks/*.ipynb`` and ``solutions/*.ipynb`` is executed in turn with
   nbclient (from a temporary copy: the files are never modified), and its wall time, the CPU
   time of its kernel and its budget (60 s per chapter, 180 s for the capstone) are printed,
   with the totals. The CPU time is what an idle machine would need at most with one busy
   thread; on a shared machine the wall time is inflated and only the CPU time means much.
2. **NumPy from scratch vs PyTorch.** Forward + backward of ``course_utils.scratch``'s RNN, LSTM
   and GRU against ``torch.nn.RNN/LSTM/GRU`` on the CPU, at batch 64, length 100, input 64,
   hidden 128, float32, in the same process, run alternately so that both see the same load;
   the median time of each, their ratio (goal: at most 1.2) and the implied GFLOP/s, counting
   the matrix products only: forward 2*T*B*G*H*(D+H) flops (G = 1, 4, 3 gate blocks), backward
   twice that. The thread count is set explicitly for both PyTorch and NumPy's BLAS with
   ``env.limit_threads``: first PyTorch's default (``torch.get_num_threads()``, normally the
   number of cores), then one thread; the table says which.
3. **LSTM on the adding problem.** CPU and wall seconds for the capstone's LSTM to reach a test
   MSE below 0.01 on the adding problem at length 100 (the variance baseline is 0.167).

The machine (CPU model, cores, threads, versions, load average before and after) is printed
first, because every figure depends on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import numpy as np
import torch

from course_utils import REPO_ROOT, capstone
from course_utils.grading.nbrun import run_notebook
from course_utils.speed import SPEED_GOAL, B, D, H, SpeedRow, T, compare_speed

NOTEBOOK_DIRS = ("notebooks", "solutions")
CHAPTER_BUDGET, CAPSTONE_BUDGET = 60.0, 180.0
CPU_MARKER = "__COURSE_BENCH_CPU__"

ADDING_TARGET = 0.01


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (OSError, AttributeError):
        return "n/a"


def _busy() -> str:
    """A warning text when the 1-minute load average says the machine is already busy."""
    try:
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
    except (OSError, AttributeError):
        return ""
    return f"the machine is busy (load {load:.1f} on {cores} cores)" if load > 0.5 * cores else ""


def machine_info() -> dict:
    """CPU, cores, threads, versions and the current load average, as strings."""
    return {
        "cpu": _cpu_model(),
        "cores (os.cpu_count)": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "load average (1, 5, 15 min)": _load(),
    }


# ---------------------------------------------------------------------------------------------
# 1. Notebooks
# ---------------------------------------------------------------------------------------------


@dataclass
class NotebookTime:
    path: str
    wall_seconds: float
    cpu_seconds: float | None  # the kernel's own CPU time (all its threads), None if unknown
    budget: float
    status: str                # "ok" or a one-line error


def budget_for(path: Path) -> float:
    """60 s for a chapter notebook, 180 s for the capstone (chapter 08)."""
    return CAPSTONE_BUDGET if path.name.startswith("08_") else CHAPTER_BUDGET


def find_notebooks(only: list[str] | None = None, root: Path = REPO_ROOT) -> list[Path]:
    """notebooks/*.ipynb then solutions/*.ipynb, sorted; with ``only``, those whose path
    (relative to the repository) contains one of the given strings."""
    found = [p for d in NOTEBOOK_DIRS for p in sorted((root / d).glob("*.ipynb"))]
    if only:
        found = [p for p in found if any(s in str(p.relative_to(root)) for s in only)]
    return found


_CPU_CELL = (
    "import json as _bench_json, os as _bench_os\n"
    "_bench_t = _bench_os.times()\n"
    f"print('{CPU_MARKER}' + _bench_json.dumps(_bench_t.user + _bench_t.system))"
)


def _read_cpu(outputs) -> float | None:
    for out in outputs:
        text = out.get("text", "")
        m = re.search(re.escape(CPU_MARKER) + r"([0-9.eE+-]+)", text)
        if m:
            return float(m.group(1))
    return None


def time_notebook(path: Path, timeout: float = 900.0) -> NotebookTime:
    """Execute one notebook (a copy, in a temporary folder next to nothing of the learner's)
    and return its wall time, its kernel's CPU time and a status. Never raises for a failing
    notebook: the error is the status."""
    budget = budget_for(path)
    rel = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else path.name
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is a row, not a crash
        return NotebookTime(rel, 0.0, None, budget, f"unreadable: {exc}")
    # Run in the notebook's own folder, as Jupyter and nbval do, so relative paths work.
    run = run_notebook(nb, cwd=path.parent, env={"COURSE_PROGRESS": "0", "MPLBACKEND": "Agg"},
                       timeout=timeout, stop_on_error=True, epilogue=[_CPU_CELL])
    status = "ok" if run.ok else f"failed: {run.summary()[:160]}"
    cpu = _read_cpu(run.epilogue[0]) if run.epilogue else None
    return NotebookTime(rel, run.wall_seconds, cpu, budget, status)


def bench_notebooks(paths: list[Path], out=print) -> list[NotebookTime]:
    """Time every notebook in ``paths`` sequentially and print one row each, then totals."""
    out(f"{'notebook':<40} {'wall s':>8} {'CPU s':>8} {'budget':>7}  status")
    rows = []
    for p in paths:
        r = time_notebook(p)
        rows.append(r)
        cpu = f"{r.cpu_seconds:8.1f}" if r.cpu_seconds is not None else f"{'?':>8}"
        over = max(r.wall_seconds, r.cpu_seconds or 0.0) > r.budget
        flag = "  OVER BUDGET (wall)" if r.wall_seconds > r.budget else ""
        if r.cpu_seconds is not None and r.cpu_seconds > r.budget:
            flag = "  OVER BUDGET (CPU)"
        out(f"{r.path:<40} {r.wall_seconds:8.1f} {cpu} {r.budget:7.0f}  {r.status}"
            f"{flag if over else ''}")
    total_wall = sum(r.wall_seconds for r in rows)
    total_cpu = sum(r.cpu_seconds or 0.0 for r in rows)
    out(f"{'total (' + str(len(rows)) + ' notebooks)':<40} {total_wall:8.1f} {total_cpu:8.1f}")
    return rows


# ---------------------------------------------------------------------------------------------
# 2. NumPy from scratch vs PyTorch
# ---------------------------------------------------------------------------------------------


def bench_scratch(repeats: int = 15, out=print) -> list[SpeedRow]:
    """The comparison for the three models, with PyTorch's default thread count and with one
    thread, both set explicitly for PyTorch and for NumPy's BLAS."""
    default = torch.get_num_threads()
    out(f"shapes: T={T}, B={B}, D={D}, H={H}, float32; median of {repeats} alternating runs; "
        f"goal: NumPy / PyTorch <= {SPEED_GOAL}")
    out(f"threads: set with env.limit_threads for PyTorch and NumPy's BLAS alike, first "
        f"{default} (PyTorch's default here), then 1. GF/s = matrix-product flops / wall time.")
    out(f"{'model':<6} {'threads':>8} {'NumPy ms':>9} {'torch ms':>9} {'ratio':>6} "
        f"{'CPU ratio':>9} {'NumPy GF/s':>10} {'torch GF/s':>10}  check")
    rows = []
    for threads in (default, 1):
        for kind in ("rnn", "lstm", "gru"):
            r = compare_speed(kind, repeats, threads)
            rows.append(r)
            verdict = "meets goal" if r.ratio <= SPEED_GOAL else "slower than goal"
            ok = "same result" if r.max_abs_diff < 1e-3 else f"DIFFER by {r.max_abs_diff:.1e}"
            out(f"{kind:<6} {threads:>8} {1e3 * r.numpy_seconds:9.1f} "
                f"{1e3 * r.torch_seconds:9.1f} {r.ratio:6.2f} {r.cpu_ratio:9.2f} "
                f"{r.numpy_gflops:10.1f} {r.torch_gflops:10.1f}  {ok}; {verdict}")
    return rows


def closing_note(rows: list[dict]) -> str:
    """One line per thread count: the NumPy / PyTorch wall-time ratios against the goal."""
    lines = [f"NumPy / PyTorch, forward + backward (goal <= {SPEED_GOAL}):"]
    for threads in dict.fromkeys(r["threads"] for r in rows):
        ratios = ", ".join(f"{r['kind']} {r['ratio']:.2f}" for r in rows
                           if r["threads"] == threads)
        lines.append(f"  {threads} thread{'s' if threads != 1 else ''}: {ratios}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# 3. LSTM on the adding problem
# ---------------------------------------------------------------------------------------------


def bench_adding(seeds=(0,), max_seconds: float = 600.0, out=print) -> list[dict]:
    """Time for the capstone's LSTM to reach test MSE < 0.01 on the adding problem, T = 100."""
    task = capstone.load_task("adding")
    config = capstone.ADDING_BENCH_CONFIG
    out(f"LSTM, hidden {config.hidden}, Adam lr {config.lr}, batch {config.batch_size}, clip "
        f"{config.clip}; {len(task.y_train)} training sequences; test MSE on 500 sequences every "
        f"50 steps; one thread; give up after {max_seconds:.0f} CPU s")
    rows = []
    for seed in seeds:
        r = capstone.train_to_target(task, "lstm", config, ADDING_TARGET,
                                     max_seconds=max_seconds, seed=seed)
        rows.append({"seed": seed, **asdict(r)})
        what = "reached" if r.reached else "NOT reached"
        out(f"seed {seed}: {what} MSE {r.metric:.4f} after {r.steps} steps ({r.examples} "
            f"sequences): {r.cpu_seconds:.1f} CPU s, {r.wall_seconds:.1f} wall s")
    return rows


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.maintainer.bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-notebooks", action="store_true",
                        help="skip executing the notebooks")
    parser.add_argument("--only", action="append", metavar="TEXT",
                        help="time only notebooks whose path contains TEXT (repeatable)")
    parser.add_argument("--no-scratch", action="store_true",
                        help="skip the NumPy-vs-PyTorch comparison")
    parser.add_argument("--no-adding", action="store_true",
                        help="skip the LSTM adding-problem timing")
    parser.add_argument("--repeats", type=int, default=15,
                        help="timed runs per model in the NumPy-vs-PyTorch comparison")
    parser.add_argument("--seeds", default="0",
                        help="comma-separated seeds for the adding-problem timing (default 0)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)

    report: dict = {"machine": machine_info()}
    print("== machine ==")
    for k, v in report["machine"].items():
        print(f"{k:>28}: {v}")
    busy = _busy()
    if busy:
        print(f"WARNING: {busy}; wall times will be inflated, trust the CPU columns more.")
    status = 0
    if not args.no_notebooks:
        print("\n== notebooks (executed sequentially with nbclient) ==")
        paths = find_notebooks(args.only)
        if not paths:
            print("no notebook matched")
            status = 1
        rows = bench_notebooks(paths)
        report["notebooks"] = [asdict(r) for r in rows]
        if any(r.status != "ok" for r in rows):
            status = 1
    if not args.no_scratch:
        print("\n== NumPy from scratch vs PyTorch CPU: forward + backward ==")
        report["scratch"] = [asdict(r) for r in bench_scratch(args.repeats)]
    if not args.no_adding:
        print("\n== PyTorch LSTM: time to test MSE < 0.01 on the adding problem, T = 100 ==")
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        report["adding"] = bench_adding(seeds)
    report["machine"]["load average at the end"] = _load()
    print(f"\nload average at the end: {report['machine']['load average at the end']}")
    if "scratch" in report:
        print(closing_note(report["scratch"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
