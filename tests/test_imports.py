"""Import rules of course_utils.

Every graded check runs in a fresh process that imports ``course_utils.grading.checks``; that
import must stay light, so the modules it reaches (``capstone``, ``env``, ``scratch``, ...)
import torch and matplotlib inside the functions that need them (scikit-learn too, through
``course_utils.data``). Elsewhere a module is imported at the top of its file.
"""

import subprocess
import sys

from course_utils import REPO_ROOT

HEAVY = ("torch", "matplotlib")


def test_importing_the_checkers_imports_neither_torch_nor_matplotlib():
    code = ("import sys, course_utils.grading.checks\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == [], f"importing the checkers imported {out.split()}"
