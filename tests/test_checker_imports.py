"""Importing the checkers is cheap: no torch, no matplotlib, no scikit-learn at import time.

Every graded check runs in a fresh process (``course_utils.grading.grade_check``), which
imports ``course_utils.grading.checks`` first; importing torch alone takes seconds. So the
modules that ``checks`` imports (the checkers, ``checking``, and the course modules they use)
import these libraries inside the functions that need them, never at the top (CONTRIBUTING.md,
"Imports"). Each test runs in a new interpreter, because this one has long imported torch.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "matplotlib", "sklearn")


def heavy_modules_after(statement: str) -> list[str]:
    """The heavy top-level packages in sys.modules after ``statement`` in a fresh interpreter."""
    code = (f"import sys\n{statement}\n"
            f"import json; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["course_utils.grading.checks",
                                    "course_utils.grading.grade_check"])
def test_importing_the_checkers_imports_no_heavy_library(module):
    assert heavy_modules_after(f"import {module}") == []


def test_the_probe_sees_a_heavy_import():
    """The probe is not blind: the same import, after a top-level ``import torch`` in a checker
    module (simulated by importing torch first), reports torch."""
    assert heavy_modules_after("import torch\nimport course_utils.grading.checks") == ["torch"]
