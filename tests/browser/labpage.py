"""What the browser tests do in a JupyterLab page, and how they read what it shows."""

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("notebooks", "exercises", "solutions")
SHOTS = ROOT / "build" / "browser"
SETTINGS_FILE = ROOT / "jupyterlab-settings" / "overrides.json"
KERNEL_DISPLAY_NAME = "Python 3 (course)"
ENABLED = os.environ.get("COURSE_BROWSER_TESTS") == "1"
SKIP_REASON = ("browser tests run with `make test-browser` (needs Chromium: "
               "apt-get install chromium), or with COURSE_BROWSER_TESTS=1")


def chromium_path():
    for candidate in (os.environ.get("COURSE_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def course_notebooks():
    """Every notebook of the course, as paths relative to the repository root."""
    return [f"{folder}/{p.name}" for folder in FOLDERS
            for p in sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))]



# The state of one open notebook, read from the page: cells attached, formulas typeset,
# MathJax errors, raw TeX left untypeset, the kernel's name and status.
PROBE = r"""
(id) => {
  const root = document.getElementById(id);
  if (!root) return null;
  const raw = [];
  for (const md of root.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown')) {
    const walker = document.createTreeWalker(md, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (node.parentElement.closest('code, pre, mjx-container')) continue;
      if (node.nodeValue.includes('$')) raw.push(node.nodeValue.trim().slice(0, 120));
    }
  }
  // MathJax 3 shows a TeX error as an <mjx-merror> (red text, its message in data-mjx-error);
  // an undefined macro as red text holding the macro's name (the noundefined extension).
  const errors = [...root.querySelectorAll('mjx-container mjx-merror')]
    .map(e => 'MathJax error: ' + e.getAttribute('data-mjx-error') + ' in ' + e.textContent);
  for (const e of root.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')) {
    if (e.textContent.startsWith('\\')) errors.push('undefined TeX macro ' + e.textContent);
  }
  const name = root.querySelector('.jp-Toolbar-kernelName');
  const indicator = root.querySelector('.jp-Notebook-ExecutionIndicator');
  return {
    cells: root.querySelectorAll('.jp-Notebook .jp-Cell').length,
    markdown: root.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown').length,
    math: root.querySelectorAll('mjx-container').length,
    raw, errors,
    kernel: name ? name.innerText.trim() : null,
    status: indicator ? indicator.getAttribute('data-status') : null,
    dialogs: [...document.querySelectorAll('.jp-Dialog')]
      .map(d => (d.innerText || '').trim().slice(0, 200) || d.outerHTML.slice(0, 200)),
  };
}
"""

OPEN = """
async (path) => {
  const widget = await window.jupyterapp.commands.execute('docmanager:open', {path});
  return widget.id;
}
"""

# Close without the "Save your work" question: the server works on a throwaway copy, and
# opening a notebook can already change it (JupyterLab fills in metadata.language_info).
CLOSE = """
(id) => {
  for (const w of window.jupyterapp.shell.widgets('main')) {
    if (w.id === id) { w.context.model.dirty = false; w.close(); }
  }
}
"""

CURRENT = "() => window.jupyterapp.shell.currentWidget.id"


@dataclass
class Rendered:
    cells: int
    markdown: int
    math: int
    raw: list
    errors: list
    kernel: str
    status: str
    dialogs: list
    seconds: float


def cell_count(path, kind=None):
    with open(path, encoding="utf-8") as f:
        cells = json.load(f)["cells"]
    return sum(1 for c in cells if kind in (None, c["cell_type"]))


def open_notebook(page, path):
    """Open ``path`` (relative to the server's root) as a learner would; returns its widget id."""
    return page.evaluate(OPEN, path)


def close_notebook(page, lab, widget_id, path):
    page.evaluate(CLOSE, widget_id)
    lab.shut_down_sessions(path)


def wait_rendered(page, widget_id, path, timeout=90.0, settle=5.0):
    """Wait until all cells are rendered, every formula is typeset and the kernel is idle.

    ``path`` is the notebook's file (for its number of cells). A dialog ends the wait at once.

    Returns the final state. A formula MathJax cannot typeset stays raw: once the page has
    typeset something and nothing changed for ``settle`` seconds, the state is returned as is
    (the caller's assertions then say what is wrong) instead of waiting for the timeout.
    """
    n_cells, n_markdown = cell_count(path), cell_count(path, "markdown")
    start = time.monotonic()
    last, since = None, time.monotonic()
    while True:
        state = page.evaluate(PROBE, widget_id)
        now = time.monotonic()
        if state is not None:
            if state["dialogs"]:
                break
            key = (state["cells"], state["markdown"], state["math"], len(state["raw"]),
                   state["kernel"], state["status"])
            if key != last:
                last, since = key, now
            complete = (state["cells"] == n_cells and state["markdown"] == n_markdown
                        and state["kernel"] == KERNEL_DISPLAY_NAME and state["status"] == "idle")
            if complete and not state["raw"]:
                break
            if complete and state["math"] and now - since > settle:
                break
        if now - start > timeout:
            break
        page.wait_for_timeout(250)
    state = state or {"cells": 0, "markdown": 0, "math": 0, "raw": [], "errors": [], "kernel": None,
                      "status": None, "dialogs": []}
    return Rendered(seconds=round(time.monotonic() - start, 1), **state)


def popups(page):
    """Text of every dialog and toast notification that appeared since the page was opened."""
    return page.evaluate("() => window.__popups.slice()")


def cell(page, widget_id, index):
    return page.locator(f"#{widget_id} .jp-Notebook .jp-Cell").nth(index)


def replace_cell_code(page, widget_id, index, code):
    """Click into a code cell, select everything and type ``code`` in its place (as a paste)."""
    editor = cell(page, widget_id, index).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)


def output_text(page, widget_id, index):
    return cell(page, widget_id, index).locator(".jp-OutputArea").inner_text()
