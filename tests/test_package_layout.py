"""The package's layout is its design: learner-facing modules, the exercise machinery
(``course_utils/grading``) and maintainer tools (``course_utils/maintainer``), imported one way."""

import ast
import json
import re

import pytest

from course_utils import REPO_ROOT

PACKAGE = REPO_ROOT / "course_utils"
LEARNER_FACING = sorted(p for p in PACKAGE.rglob("*.py")
                        if not {"grading", "maintainer"} & set(p.relative_to(PACKAGE).parts))


def imported_modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_the_folder_shows_three_groups():
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert subpackages == ["capstone", "grading", "maintainer"]
    assert (PACKAGE / "grading" / "checks" / "__init__.py").is_file()
    assert not list(PACKAGE.glob("check*.py")) and not list(PACKAGE.glob("grade*.py"))
    assert len(LEARNER_FACING) > 20


@pytest.mark.parametrize("path", LEARNER_FACING, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_learner_facing_code_never_imports_grading_or_maintainer_tools(path):
    bad = sorted(m for m in imported_modules(path.read_text(encoding="utf-8"))
                 if m.startswith(("course_utils.grading", "course_utils.maintainer")))
    assert bad == [], f"{path.name} imports {bad}"


def test_the_detector_sees_such_an_import():
    assert "course_utils.grading.checking" in imported_modules(
        "def f():\n    from course_utils.grading import checking\n")


CHECKER_INTERNALS = re.compile(r"\bchecks\.(ch\d\d_\w+|common|course_answers)\b|"
                               r"\bcourse_utils\.maintainer\b|\bmaintainer\.bench\b")


def notebook_problems(cells) -> list[str]:
    """What a notebook's code cells reach that only the grading machinery should: a checker
    module (imported or read as ``checks.chNN_x.NAME``) or a maintainer tool."""
    bad = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        bad += [m.group(0) for m in CHECKER_INTERNALS.finditer(source)]
        # IPython magics and shell lines are not Python: blank them, keep the rest
        python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                            for line in source.splitlines())
        try:
            mods = imported_modules(python)
        except SyntaxError:  # a learner's half-written cell; the stubs parse
            continue
        bad += [m for m in mods
                if m.startswith(("course_utils.grading.checks.", "course_utils.maintainer"))]
    return bad


@pytest.mark.parametrize("folder", ["notebooks", "solutions", "exercises"])
def test_notebooks_use_checkers_only_through_checks(folder):
    """A notebook calls ``checks.NAME(fn)``; recipes live in the learner-facing modules, so no
    notebook reaches into a checker module or a maintainer tool."""
    bad = {nb.name: notebook_problems(json.loads(nb.read_text(encoding="utf-8"))["cells"])
           for nb in sorted((REPO_ROOT / folder).glob("*.ipynb"))}
    assert {name: found for name, found in bad.items() if found} == {}


@pytest.mark.parametrize("source", [
    "from course_utils.grading.checks import ch02_cnn\n",
    "torch.manual_seed(checks.ch02_cnn.ORDER_CNN_SEED)\n",
    "%time x = 1\nfrom course_utils.maintainer import bench\n",
    "import course_utils.maintainer.bench as b\n",
])
def test_the_notebook_scan_sees_each_route(source):
    assert notebook_problems([{"cell_type": "code", "source": [source]}])


def test_the_notebook_scan_lets_the_checks_call_through():
    cell = {"cell_type": "code", "source": ["%matplotlib inline\n",
                                            "from course_utils.grading import checks\n",
                                            "ok = checks.rnn_step(rnn_step)\n"]}
    assert notebook_problems([cell]) == []
