"""The package's layout is its design: learner-facing modules, the exercise machinery
(``course_utils/grading``) and maintainer tools (``course_utils/maintainer``), imported one way."""

import ast
import json

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


@pytest.mark.parametrize("folder", ["notebooks", "solutions", "exercises"])
def test_notebooks_import_checkers_only_through_checks(folder):
    """A notebook calls ``checks.NAME(fn)``; recipes live in the learner-facing modules, so no
    notebook imports a checker module's internals or a maintainer tool."""
    bad = []
    for nb in sorted((REPO_ROOT / folder).glob("*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            try:
                mods = imported_modules(source)
            except SyntaxError:  # a learner's half-written cell; the stubs parse
                continue
            bad += [f"{nb.name}: {m}" for m in mods
                    if m.startswith(("course_utils.grading.checks.", "course_utils.maintainer"))]
    assert bad == []
