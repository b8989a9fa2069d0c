"""One way to execute a notebook, shared by the grader (``grade``) and the benchmark (``bench``).

It lives with the grader, which it was written for; the maintainer tool
``course_utils.maintainer.bench`` reuses it. That import direction is allowed (maintainer tools
may import the exercise machinery); learner-facing modules never import anything from
``course_utils.grading``, this module included.

:func:`run_notebook` executes a copy of a notebook in a fresh kernel and says, cell by cell,
what happened, without ever raising because of what the notebook does:

- an error in a cell is recorded (``Run.errors``) and, unless ``stop_on_error``, the next
  cells still run;
- a cell that runs longer than ``cell_timeout`` is interrupted and recorded as timed out
  (``Run.timed_out``); the next cells still run, until the whole notebook's ``timeout`` is
  spent (``Run.stopped``);
- a kernel that dies is recorded (``Run.died``) and execution stops;
- output is capped: once the cells have produced ``output_limit`` characters (``OUTPUT_LIMIT``,
  the course's one output limit, counted in characters of text, not bytes) of output in total,
  further output is dropped and the cells that lost output are listed (``Run.capped``), and no
  single message from the kernel may exceed ``MAX_MESSAGE`` bytes (ZeroMQ drops a larger one
  unread), so a notebook that prints 100 MB does not fill the caller's memory;
- the kernel's own log lines (for example "Kernel is running over TCP without encryption")
  go to a file that nobody reads, not to the caller's terminal.

``prologue`` cells run before the notebook's cells (their outputs are not recorded); a prologue
cell that fails stops the run (``Run.stopped`` says which), since the notebook would otherwise run
without what the prologue sets up (the grader's output cap, for one); ``epilogue`` cells run after
them, in the same kernel, and their outputs are returned separately (``Run.epilogue``). An epilogue
item may also be a function that returns the cell's source: it is called only once the notebook's
cells have run (so a path in it can be made then). The benchmark uses an epilogue to read the
kernel's CPU time; the grader uses a prologue to cap what the notebook prints and an epilogue to
collect the learner's functions.
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

OUTPUT_LIMIT = 1_000_000  # characters of output kept per notebook run (text, not bytes)
MAX_MESSAGE = 8_000_000   # bytes: larger messages from the kernel are dropped unread
TIMEOUT_ENAME = "CellTimeout"

_QUIET = logging.getLogger("course_utils.grading.nbrun")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass
class Run:
    """What happened when a notebook was executed."""

    nb: object                                          # the executed copy (nbformat node)
    errors: dict[int, str] = field(default_factory=dict)  # cell index -> "Name: message"
    timed_out: list[int] = field(default_factory=list)  # cells interrupted after cell_timeout
    died: str | None = None                             # why the kernel died, if it did
    stopped: str | None = None                          # why execution stopped early, if it did
    capped: list[int] = field(default_factory=list)     # cells whose output was (partly) dropped
    epilogue: list[list] = field(default_factory=list)  # outputs of each epilogue cell
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every cell ran without error, timeout, death or early stop."""
        return not (self.errors or self.timed_out or self.died or self.stopped)

    def summary(self) -> str:
        """One line: the first thing that went wrong, or "ok"."""
        if self.died:
            return self.died
        if self.stopped:
            return self.stopped
        if self.timed_out:
            return f"cell {self.timed_out[0]} timed out"
        if self.errors:
            index = min(self.errors)
            return f"cell {index} raised {self.errors[index]}"
        return "ok"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """A NotebookClient that stops keeping output after ``limit`` characters."""

        limit = OUTPUT_LIMIT
        used = 0
        capped: list[int]
        exempt: frozenset = frozenset()  # cells (the caller's epilogue) whose output is kept

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            kind = msg.get("msg_type")
            if kind == "error" or cell_index in self.exempt:  # small, and needed: always kept
                return super().output(outs, msg, display_id, cell_index)
            size = len(str(content.get("text", ""))) + sum(
                len(str(v)) for v in (content.get("data") or {}).values())
            if self.used + size > self.limit:
                if cell_index not in self.capped:
                    self.capped.append(cell_index)
                room = self.limit - self.used
                if kind != "stream" or room <= 0:
                    return None
                msg = {**msg, "content": {**content, "text": content.get("text", "")[:room]}}
                size = room
            self.used += size
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


def run_notebook(nb, *, cwd: Path | str, env: dict[str, str] | None = None,
                 cell_timeout: float | None = None, timeout: float | None = None,
                 stop_on_error: bool = False, output_limit: int = OUTPUT_LIMIT,
                 prologue: tuple[str, ...] | list[str] = (),
                 epilogue: tuple | list = (),
                 kernel_name: str = "python3") -> Run:
    """Execute a copy of ``nb`` (an nbformat notebook) with its working folder ``cwd``.

    ``env`` adds environment variables for the kernel (on top of this process's). A cell is
    interrupted after ``cell_timeout`` seconds; the whole run stops after ``timeout`` seconds.
    With ``stop_on_error`` the first failing cell ends the run (the benchmark's mode).
    """
    import zmq
    from nbclient.exceptions import DeadKernelError
    from nbformat.v4 import new_code_cell

    nb = copy.deepcopy(nb)
    n_cells = len(nb.cells)
    run = Run(nb)
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout

    def cell_budget(_cell=None) -> int | None:
        limits = [t for t in (cell_timeout,
                              None if deadline is None else deadline - time.monotonic())
                  if t is not None]
        return max(1, int(min(limits) + 0.999)) if limits else None

    kernel_env = dict(os.environ)
    kernel_env.update(env or {})
    client = _client_class()(
        nb, kernel_name=kernel_name, allow_errors=not stop_on_error,
        timeout_func=cell_budget, interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "the cell ran out of time"},
        resources={"metadata": {"path": str(cwd)}}, log=_QUIET)
    client.limit, client.used, client.capped = output_limit, 0, run.capped
    # No single message from the kernel may be larger than this: the kernel batches printed
    # text, and one huge message would cost its size (several times over) in memory here.
    # A larger message is dropped by ZeroMQ; the output cap below notes that output was lost.
    client.km = client.create_kernel_manager()
    client.km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)

    first = len(prologue)  # prologue cells come first; notebook cell i is at first + i

    prologue_failed: list[str] = []

    def on_cell_error(cell, cell_index, execute_reply):
        index = cell_index - first
        content = execute_reply.get("content", {})
        if index < 0:
            prologue_failed.append(_one_line(f"{content.get('ename')}: {content.get('evalue')}"))
            return
        if content.get("ename") == TIMEOUT_ENAME:
            run.timed_out.append(index)
        else:
            run.errors[index] = _one_line(f"{content.get('ename')}: {content.get('evalue')}")

    client.on_cell_error = on_cell_error
    nb.cells[:0] = [new_code_cell(source) for source in prologue]
    nb.cells.extend(new_code_cell("") for _ in epilogue)  # sources filled in when reached
    client.exempt = frozenset(range(first + n_cells, len(nb.cells)))
    with tempfile.TemporaryFile() as kernel_log:
        try:
            with client.setup_kernel(env=kernel_env, stdout=subprocess.DEVNULL,
                                     stderr=kernel_log):
                for position, cell in enumerate(nb.cells):
                    index = position - first
                    if index >= n_cells:  # an epilogue cell: a text, or made now by a call
                        source = epilogue[index - n_cells]
                        cell.source = source() if callable(source) else source
                    if cell.cell_type != "code":
                        continue
                    if index >= 0 and deadline is not None and time.monotonic() >= deadline:
                        run.stopped = (f"the notebook ran out of time ({timeout:.0f} s) "
                                       f"before cell {index}")
                        break
                    try:
                        client.execute_cell(cell, position)
                    except DeadKernelError:
                        run.died = f"the kernel died while running cell {index}"
                        break
                    except Exception:  # noqa: BLE001 - already recorded by on_cell_error
                        if index < 0 and not prologue_failed:
                            prologue_failed.append("the cell could not be executed")
                        if index >= 0 and index not in run.errors and index not in run.timed_out:
                            run.errors[index] = "the cell could not be executed"
                    if index < 0 and prologue_failed:
                        run.stopped = (f"the grader's prologue cell {position} failed "
                                       f"({prologue_failed[0]}); the notebook was not run")
                        break
                    if index >= n_cells:
                        run.epilogue.append(list(cell.get("outputs", [])))
                    elif stop_on_error and (index in run.errors or index in run.timed_out):
                        break
        except DeadKernelError:
            run.died = run.died or "the kernel died"
        except Exception as exc:  # noqa: BLE001 - the kernel could not start, and the like
            run.stopped = _one_line(f"could not run the notebook ({type(exc).__name__}: {exc})")
    del nb.cells[first + n_cells:]
    del nb.cells[:first]
    run.capped[:] = sorted({p - first for p in run.capped if 0 <= p - first < n_cells})
    run.wall_seconds = time.monotonic() - start
    return run
