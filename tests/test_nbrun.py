"""The one notebook runner (used by grade and bench): errors, timeouts, output cap, quiet log."""

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.grading import nbrun


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    nb = new_notebook(cells=[
        new_code_cell("x = 2"),
        new_markdown_cell("text"),
        new_code_cell("1 / 0"),
        new_code_cell("import time\nwhile True:\n    time.sleep(0.05)"),
        new_code_cell("for _ in range(30):\n    print('y' * 100_000)"),
        new_code_cell("x = x + 10"),
    ])
    return nbrun.run_notebook(nb, cwd=tmp_path_factory.mktemp("nb"), cell_timeout=3,
                              timeout=120, output_limit=500_000,
                              prologue=["x = 1"],  # a failing prologue: test_grade_robust
                              epilogue=["print('epilogue', x)"])


def test_errors_and_timeouts_are_recorded_and_later_cells_still_run(run):
    assert run.errors == {2: "ZeroDivisionError: division by zero"}
    assert run.timed_out == [3]
    assert run.died is None and run.stopped is None and not run.ok
    assert run.summary() == "cell 3 timed out"
    assert run.epilogue[0][0]["text"] == "epilogue 12\n"  # the cells after them ran
    assert len(run.nb.cells) == 6  # prologue and epilogue cells are not left in the copy


def test_output_is_capped_but_the_epilogue_is_kept(run):
    assert run.capped == [4]
    kept = sum(len(o.get("text", "")) for o in run.nb.cells[4].outputs)
    assert 0 < kept <= 500_000
    assert run.epilogue == [[{"output_type": "stream", "name": "stdout",
                              "text": "epilogue 12\n"}]]


def test_dead_kernel_and_stop_on_error(tmp_path, capfd):
    nb = new_notebook(cells=[new_code_cell("import os\nos._exit(3)"), new_code_cell("1")])
    dead = nbrun.run_notebook(nb, cwd=tmp_path, timeout=60)
    assert dead.died == "the kernel died while running cell 0" and not dead.ok
    nb = new_notebook(cells=[new_code_cell("raise RuntimeError('boom')"),
                             new_code_cell("print('not reached')")])
    stopped = nbrun.run_notebook(nb, cwd=tmp_path, timeout=60, stop_on_error=True,
                                 epilogue=["print('epilogue')"])
    assert stopped.summary() == "cell 0 raised RuntimeError: boom"
    assert stopped.nb.cells[1].outputs == [] and stopped.epilogue == []
    err = capfd.readouterr().err
    assert "TCP" not in err and "encryption" not in err and "Kernel died" not in err
