"""Check results at a glance: a coloured box in notebooks, the same line everywhere else."""

import nbformat
import pytest
from nbclient import NotebookClient

from course_utils.grading import checking
from course_utils.grading.checking import FAILED, NOT_ATTEMPTED, PASSED, CheckResult

FAIL_TEXT = ("\u274c rnn_step: case 1 of 7 (float64, B=3, D=4, H=5): h_t: 15 of 15 elements "
             "differ; worst at [0, 2]: expected 0.61, got 0.043 <x>\n"
             "   hint: both biases, bias_ih and bias_hh, are added before the tanh.")


def test_outside_ipython_the_result_is_printed_as_before(capsys):
    checking.report(CheckResult("rnn_step", PASSED, "all 6 cases passed."))
    assert capsys.readouterr().out == "\u2705 rnn_step: all 6 cases passed.\n"


@pytest.mark.parametrize("status, colour", [(PASSED, "#2e7d32"), (FAILED, "#c62828"),
                                            (NOT_ATTEMPTED, "#757575")])
def test_each_status_has_its_colour_and_text_plain_is_the_line(status, colour):
    feedback = checking._Feedback(status, "line")
    assert repr(feedback) == "line"
    html = feedback._repr_html_()
    assert colour in html and ">line</div>" in html
    others = {"#2e7d32", "#c62828", "#757575"} - {colour}
    assert not any(c in html for c in others)


def test_the_hint_is_set_apart_and_the_text_is_escaped():
    html = checking._Feedback(FAILED, FAIL_TEXT)._repr_html_()
    main, _, hint_box = html.partition('<div style="margin-top')
    assert "&lt;x&gt;" in main and "<x>" not in html
    assert "hint:" not in main
    assert "hint: both biases" in hint_box


def test_in_a_kernel_the_result_is_a_rich_display_whose_text_is_the_printed_line():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from course_utils.grading import checking\n"
        "checking.report(checking.CheckResult('f', 'failed', 'wrong\\n   hint: look'))\n"
        "None")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    (out,) = nb.cells[0].outputs
    assert out.output_type == "display_data"
    assert out.data["text/plain"] == "\u274c f: wrong\n   hint: look"
    assert "#c62828" in out.data["text/html"] and "hint: look" in out.data["text/html"]
