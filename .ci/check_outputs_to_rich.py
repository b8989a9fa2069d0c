"""One-off migration (issue 15, item 5): stored check results become rich displays.

`checking.report` now displays each result as a coloured box (display_data with text/plain and
text/html) instead of printing it (a stdout stream). Strict nbval compares stored outputs, so
the stored check lines of notebooks/ and solutions/ are rewritten here exactly as a fresh run
writes them, without re-executing anything. Idempotent: run it again after merging branches
that refreshed those notebooks (`python .ci/check_outputs_to_rich.py`); a full
`make refresh-outputs` gives the same check outputs.
"""

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.checking import FAILED, NOT_ATTEMPTED, PASSED, _Feedback  # noqa: E402

STATUS = {"\u2705": PASSED, "\u274c": FAILED, "\u23f3": NOT_ATTEMPTED}


def check_lines(text):
    """The check results in a stream's text, one string each, or None if it holds other text."""
    groups = []
    for line in text.splitlines():
        if line[:1] in STATUS:
            groups.append(line)
        elif line.startswith("   ") and groups:
            groups[-1] += "\n" + line
        else:
            return None
    return groups or None


def convert(nb):
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            groups = (check_lines(out.text) if out.output_type == "stream"
                      and out.name == "stdout" else None)
            if not groups:
                outputs.append(out)
                continue
            for text in groups:
                fb = _Feedback(STATUS[text[0]], text)
                outputs.append(nbformat.v4.new_output(
                    "display_data", data={"text/plain": repr(fb), "text/html": fb._repr_html_()}))
                changed += 1
        cell.outputs = outputs
    return changed


if __name__ == "__main__":
    paths = sys.argv[1:] or sorted(str(p) for d in ("notebooks", "solutions")
                                   for p in (ROOT / d).glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        n = convert(nb)
        if n:
            nbformat.write(nb, path)
            print(f"{path}: {n} check results")
