"""The course in JupyterLab, in a real browser: first screen, every notebook, the learner's loops.

Run with `make test-browser` (see conftest.py for the server and the browser these tests use).
"""

import json

import pytest
from labpage import (
    CURRENT,
    ENABLED,
    KERNEL_DISPLAY_NAME,
    ROOT,
    SHOTS,
    SKIP_REASON,
    cell,
    cell_count,
    close_notebook,
    course_notebooks,
    open_notebook,
    output_text,
    popups,
    replace_cell_code,
    wait_rendered,
)

pytestmark = pytest.mark.skipif(not ENABLED, reason=SKIP_REASON)

CHAPTER_00 = "notebooks/00_start_here.ipynb"
FEEDBACK_MARK = "border-left: 6px solid"      # the box course_utils.grading.checking draws


def assert_clean(state, path):
    assert state.dialogs == [], f"{path}: a dialog is open: {state.dialogs}"
    assert state.cells == cell_count(ROOT / path), f"{path}: only {state.cells} cells on the page"
    assert state.markdown == cell_count(ROOT / path, "markdown"), f"{path}: markdown not rendered"
    assert state.kernel == KERNEL_DISPLAY_NAME, f"{path}: kernel shown is {state.kernel!r}"
    assert state.status == "idle", f"{path}: kernel status {state.status!r}"
    assert state.math > 0, f"{path}: no formula was typeset"
    assert state.errors == [], f"{path}: {len(state.errors)} MathJax errors: {state.errors}"
    assert state.raw == [], f"{path}: TeX left untypeset (shown raw): {state.raw}"


def test_first_screen_is_chapter_00_with_the_course_kernel_and_no_prompt(page, lab):
    """What `make lab` shows first: chapter 00, the course's kernel, no dialog, no news prompt."""
    widget_id = page.evaluate(CURRENT)
    state = wait_rendered(page, widget_id, ROOT / CHAPTER_00)
    page.screenshot(path=SHOTS / "first_screen.png")
    assert page.locator(".jp-DirListing-item.jp-mod-selected, .lm-TabBar-tab.lm-mod-current") \
        .filter(has_text="00_start_here.ipynb").count() > 0
    assert_clean(state, CHAPTER_00)
    assert popups(page) == [], f"prompts shown on the first screen: {popups(page)}"


@pytest.mark.parametrize("path", course_notebooks())
def test_notebook_renders_with_the_course_kernel_and_no_mathjax_error(page, lab, path):
    seen = len(popups(page))
    widget_id = open_notebook(page, path)
    try:
        state = wait_rendered(page, widget_id, ROOT / path)
        page.screenshot(path=SHOTS / f"{path.replace('/', '__').removesuffix('.ipynb')}.png")
        assert popups(page)[seen:] == [], f"{path}: prompts shown: {popups(page)[seen:]}"
        assert_clean(state, path)
        # stored check results show as coloured boxes, even though the notebook is not trusted
        # (JupyterLab's sanitizer keeps the box's inline style)
        stored = (ROOT / path).read_text(encoding="utf-8").count(FEEDBACK_MARK)
        boxes = page.locator(f"#{widget_id} .jp-OutputArea .jp-RenderedHTMLCommon div")
        shown = boxes.evaluate_all(
            "els => els.filter(e => getComputedStyle(e).borderLeftWidth === '6px').length")
        assert shown == stored, f"{path}: {shown} of {stored} check results shown as boxes"
    finally:
        close_notebook(page, lab, widget_id, path)


WRONG_RNN_STEP = '''def rnn_step(x_t, h_prev, p):
    """One tanh RNN step, both biases forgotten."""
    return np.tanh(x_t @ p["weight_ih"].T + h_prev @ p["weight_hh"].T)'''

RIGHT_RNN_STEP = '''def rnn_step(x_t, h_prev, p):
    """One tanh RNN step, in the dtype of x_t."""
    pre = x_t @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]
    return np.tanh(pre).astype(x_t.dtype)'''


def test_exercise_loop_through_the_ui(page, lab):
    """Run the exercise unsolved, then wrong (the hint shows), then right (the tick shows)."""
    path = "exercises/03_rnn_equations.ipynb"
    sources = ["".join(c["source"]) for c in json.loads((ROOT / path).read_text())["cells"]]
    stub = next(i for i, s in enumerate(sources) if "def rnn_step(" in s)
    check = next(i for i, s in enumerate(sources) if "checks.rnn_step(rnn_step)" in s)
    assert check == stub + 1, "the check cell must follow the exercise's function cell"
    assert "raise NotImplementedError" in (ROOT / path).read_text()
    widget_id = open_notebook(page, path)
    try:
        wait_rendered(page, widget_id, ROOT / path)
        cell(page, widget_id, 0).click()             # command mode on the first cell
        for _ in range(check + 1):                   # Shift+Enter down to the check cell
            page.keyboard.press("Shift+Enter")
        feedback = cell(page, widget_id, check).locator(".jp-OutputArea")
        feedback.filter(has_text="not attempted").wait_for()

        replace_cell_code(page, widget_id, stub, WRONG_RNN_STEP)
        page.keyboard.press("Shift+Enter")           # runs the function cell, moves to the check
        page.keyboard.press("Shift+Enter")           # runs the check
        feedback.filter(has_text="❌").wait_for()
        text = output_text(page, widget_id, check)
        assert "❌ rnn_step" in text and "hint:" in text and "bias" in text, text
        box = feedback.locator(f"div[style*='{FEEDBACK_MARK}']")
        assert box.evaluate("e => getComputedStyle(e).borderLeftColor") == "rgb(198, 40, 40)"
        box.scroll_into_view_if_needed()
        page.screenshot(path=SHOTS / "exercise_loop_failed.png")

        replace_cell_code(page, widget_id, stub, RIGHT_RNN_STEP)
        page.keyboard.press("Shift+Enter")
        page.keyboard.press("Shift+Enter")
        feedback.filter(has_text="✅").wait_for()
        text = output_text(page, widget_id, check)
        assert "✅ rnn_step: all" in text and "❌" not in text, text
        page.screenshot(path=SHOTS / "exercise_loop.png")
    finally:
        close_notebook(page, lab, widget_id, path)
    # the repository's notebook is untouched: the server works on a temporary copy
    assert "raise NotImplementedError" in (ROOT / path).read_text()


def test_wine_slider_changes_the_picture(page, lab):
    path = "notebooks/07_gru_wine_mixing.ipynb"
    imports, widget_cell = 1, 18
    widget_id = open_notebook(page, path)
    try:
        wait_rendered(page, widget_id, ROOT / path)
        assert "wine_widget" in cell(page, widget_id, widget_cell).inner_text()
        for index in (imports, widget_cell):
            cell(page, widget_id, index).locator(".jp-InputPrompt").click()
            page.keyboard.press("Shift+Enter")
        out = cell(page, widget_id, widget_cell).locator(".jp-OutputArea")
        image = out.locator("img")
        image.wait_for()
        before = image.get_attribute("src")
        slider = out.locator(".widget-slider", has_text="update z")
        handle = slider.locator(".noUi-handle")
        box = handle.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] - 80, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_function(
            """([id, index, before]) => {
                 const cell = document.querySelectorAll(`#${id} .jp-Notebook .jp-Cell`)[index];
                 const img = cell.querySelector('.jp-OutputArea img');
                 return img && img.getAttribute('src') !== before;
               }""", arg=[widget_id, widget_cell, before])
        after = image.get_attribute("src")
        readout = slider.locator(".widget-readout").inner_text()
        page.screenshot(path=SHOTS / "wine_slider.png")
        assert after != before and readout != "0.70", readout
    finally:
        close_notebook(page, lab, widget_id, path)


def test_restart_and_run_all_of_chapter_00_has_no_error_output(page, lab):
    path = CHAPTER_00
    widget_id = open_notebook(page, path)
    try:
        wait_rendered(page, widget_id, ROOT / path)
        page.locator(f"#{widget_id} [data-command='notebook:restart-run-all']").click()
        page.locator(".jp-Dialog .jp-mod-accept").click()   # "Restart" in the confirmation
        n_code = page.locator(f"#{widget_id} .jp-CodeCell").count()
        page.wait_for_function(
            """([id, n]) => {
                 const prompts = [...document.querySelectorAll(
                   `#${id} .jp-CodeCell .jp-InputPrompt`)].map(p => p.innerText.trim());
                 const done = prompts.filter(t => /^\\[\\d+\\]:$/.test(t));
                 const ind = document.querySelector(`#${id} .jp-Notebook-ExecutionIndicator`);
                 return done.length === n && ind && ind.getAttribute('data-status') === 'idle';
               }""", arg=[widget_id, n_code], timeout=120_000)
        errors = page.locator(f"#{widget_id} .jp-OutputArea-output"
                              "[data-mime-type='application/vnd.jupyter.stderr']")
        page.screenshot(path=SHOTS / "chapter_00_run_all.png")
        assert errors.count() == 0, errors.all_inner_texts()
        assert n_code > 0
    finally:
        close_notebook(page, lab, widget_id, path)
