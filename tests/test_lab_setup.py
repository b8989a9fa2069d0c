"""What `make setup` and `make lab` give a learner: the kernel every notebook asks for, and the
JupyterLab settings that keep the first start free of prompts."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from course_utils import REPO_ROOT

NOTEBOOKS = sorted(p for folder in ("notebooks", "exercises", "solutions")
                   for p in (REPO_ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
SETTINGS = REPO_ROOT / "jupyterlab-settings" / "overrides.json"
SCHEMAS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"


def installed_kernel():
    """Name and display name of the kernel `make setup` registers (read from the Makefile)."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    m = re.search(r'ipykernel install --sys-prefix --name (\S+) --display-name "([^"]+)"', makefile)
    assert m, "make setup no longer registers the course's kernel"
    return m.group(1), m.group(2)


def test_the_course_has_nine_chapters_in_three_folders():
    assert len(NOTEBOOKS) == 27, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_asks_for_the_kernel_make_setup_installs(path):
    name, display_name = installed_kernel()
    spec = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("kernelspec")
    assert spec == {"name": name, "display_name": display_name, "language": "python"}, spec


def test_shipped_jupyterlab_settings_turn_off_the_news_prompt_and_update_check():
    overrides = json.loads(SETTINGS.read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification["fetchNews"] == "false"            # the schema wants the string
    assert notification["checkForUpdates"] is False


def test_shipped_jupyterlab_settings_are_valid_for_the_installed_jupyterlab():
    """A misspelt plugin or setting, or a wrong type, would be ignored silently by JupyterLab."""
    for plugin, values in json.loads(SETTINGS.read_text()).items():
        package, _, name = plugin.partition(":")
        schema_file = SCHEMAS / package / f"{name}.json"
        assert schema_file.is_file(), f"no such JupyterLab setting: {plugin}"
        schema = json.loads(schema_file.read_text())
        jsonschema.validate(values, schema)
        assert set(values) <= set(schema["properties"]), plugin


def make_dry_run(*args):
    """The commands `make` would run (nothing is run: -n), for a fictitious environment."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    out = subprocess.run(["make", "-n", "-B", "VENV=/nonexistent/venv", *args], cwd=REPO_ROOT,
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout


def test_make_setup_installs_the_settings_where_jupyterlab_reads_them():
    out = make_dry_run("setup")
    assert ("cp jupyterlab-settings/overrides.json "
            "/nonexistent/venv/share/jupyter/lab/settings/overrides.json") in out, out
    assert "--extra-index-url" not in out


def test_torch_index_variable_adds_pytorchs_cpu_wheel_index():
    out = make_dry_run("setup", "TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert "-r requirements.txt" in out
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in out, out


def test_make_lab_opens_chapter_00_and_allows_root_only_as_root():
    out = make_dry_run("lab")
    lab = [ln for ln in out.splitlines() if "/bin/jupyter lab" in ln]
    assert lab and lab[-1].endswith("notebooks/00_start_here.ipynb"), out
    as_root = os.geteuid() == 0
    assert ("--allow-root" in lab[-1]) == as_root
    assert ("warning: running as root" in out) == as_root
    assert "Ctrl+C" in out


def test_make_test_without_chromium_prints_one_skip_line():
    out = make_dry_run("test", "CHROMIUM=")
    skipped = [ln for ln in out.splitlines() if ln.startswith("make test: browser tests skipped")]
    assert len(skipped) == 1 and "apt-get install chromium" in skipped[0], out
    assert "tests/browser" not in out


def test_make_test_with_chromium_runs_the_browser_tests():
    out = make_dry_run("test", "CHROMIUM=/usr/bin/chromium")
    run = [ln for ln in out.splitlines() if ln.endswith("-p no:cacheprovider tests/browser")]
    assert run and "COURSE_BROWSER_TESTS=1" in run[0] and "/usr/bin/chromium" in run[0], out
    assert not any(ln.startswith("make test: browser tests skipped") for ln in out.splitlines())
