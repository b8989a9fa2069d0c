"""The README's table of exercises matches the solution notebooks: names, order, ★ and minutes."""

import json
import re

from course_utils import REPO_ROOT

LABEL = re.compile(r"\*Difficulty (★+) · about (\d+) minutes")
CHECK = re.compile(r"checks\.(\w+)\(")


def from_solutions():
    rows = []
    for path in sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        labels, names = [], []
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and text.startswith("## Exercise"):
                labels.append(LABEL.search(text).groups())
            elif cell["cell_type"] == "code":
                names += CHECK.findall(text)
        assert len(labels) == len(names), f"{path.name}: {len(labels)} labels, checks {names}"
        for number, ((stars, minutes), name) in enumerate(zip(labels, names, strict=True), 1):
            rows.append((path.name[:2], number, name.removeprefix("predict_"), stars, minutes))
    return rows


def from_readme():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("### The exercises", 1)[1]
    rows = []
    for m in re.finditer(r"^\| (\d\d) \| (\d+) (?:\*predict\* )?`(\w+)`[^|]*\| (★+) \| (\d+) \|",
                         table, flags=re.M):
        chapter, number, name, stars, minutes = m.groups()
        rows.append((chapter, int(number), name, stars, minutes))
    return rows


def test_readme_lists_every_exercise_as_the_notebooks_do():
    assert from_readme() == from_solutions()


def test_the_feedback_shown_in_the_readme_is_what_the_checker_prints(capsys):
    import numpy as np

    from course_utils.grading import checks

    def stub(x_t, h_prev, p):
        raise NotImplementedError

    def transposed(x_t, h_prev, p):
        a = x_t @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"] + p["bias_hh"]
        return np.tanh(a).astype(x_t.dtype)

    def right(x_t, h_prev, p):
        a = x_t @ p["weight_ih"].T + p["bias_ih"] + h_prev @ p["weight_hh"].T + p["bias_hh"]
        return np.tanh(a).astype(x_t.dtype)

    for fn in (stub, transposed, right):
        checks.rnn_step(fn)
    printed = capsys.readouterr().out.strip().splitlines()
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("**Doing an exercise.**", 1)[1].split("```\n", 2)[1]
    assert block.strip().splitlines() == printed
