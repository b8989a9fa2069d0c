"""Browser tests: the course as a learner meets it, in JupyterLab driven by a real Chromium.

The tests start their own JupyterLab server (free localhost port, random token, empty temporary
home and settings folders, a temporary copy of the notebooks) and drive it with Playwright
through Debian's Chromium (``/usr/bin/chromium``; no browser download). They run only when
``COURSE_BROWSER_TESTS=1`` (``make test-browser``, or ``make test`` when Chromium is present);
the normal unit run skips them. Screenshots go to ``build/browser/`` (not committed).
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from labpage import ENABLED, FOLDERS, ROOT, SETTINGS_FILE, SHOTS, SKIP_REASON, chromium_path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    course: Path       # the temporary copy of the notebooks the server serves
    log: Path
    proc: subprocess.Popen = field(repr=False)

    def api(self, path, method="GET"):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shut_down_sessions(self, path):
        """Shut down the kernels of every session on ``path`` (closing a tab leaves them)."""
        for session in self.api("/api/sessions"):
            if session["path"] == path:
                self.api(f"/api/sessions/{session['id']}", method="DELETE")


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on a free port, as `make lab` would start it, on a temporary copy."""
    if not ENABLED:
        pytest.skip(SKIP_REASON)
    tmp = tmp_path_factory.mktemp("lab")
    course = tmp / "course"
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, course / folder,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.bak"))
    # The settings the course ships, where `make setup` puts them: an application settings
    # folder next to JupyterLab's built assets (linked, so the app is the installed one).
    app_dir = tmp / "app"
    (app_dir / "settings").mkdir(parents=True)
    shutil.copy(SETTINGS_FILE, app_dir / "settings" / "overrides.json")
    static = Path(sys.prefix) / "share" / "jupyter" / "lab" / "static"
    if static.is_dir():
        (app_dir / "static").symlink_to(static)
    # One test-only user setting: attach every cell to the page at once, so that every
    # formula is typeset and can be checked (JupyterLab otherwise defers off-screen cells).
    tracker = tmp / "user-settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    for d in ("home", "config", "data", "runtime", "workspaces", "ipython", "mpl"):
        (tmp / d).mkdir()
    env = dict(os.environ, HOME=str(tmp / "home"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_DATA_DIR=str(tmp / "data"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), IPYTHONDIR=str(tmp / "ipython"),
               MPLCONFIGDIR=str(tmp / "mpl"),
               # the kernels import this repository's course_utils, whatever is installed
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.setdefault("COURSE_DATA_DIR", str(ROOT / "data"))
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={course}", f"--LabApp.app_settings_dir={app_dir / 'settings'}",
           "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp / "jupyterlab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", token, course, log, proc)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                server.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in 120 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)       # the server shuts its kernels down
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# Recorded from the first moment the page exists: every dialog and every toast notification
# that ever appears, so a prompt that comes and goes is still caught.
WATCH_POPUPS = """
window.__popups = [];
new MutationObserver(records => {
  for (const r of records) for (const n of r.addedNodes) {
    if (!(n instanceof Element)) continue;
    for (const el of [n, ...n.querySelectorAll('.jp-Dialog, .Toastify__toast')]) {
      if (el.matches('.jp-Dialog, .Toastify__toast')) {
        window.__popups.push((el.innerText || el.textContent || '').trim().slice(0, 200));
      }
    }
  }
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture(scope="session")
def browser():
    if not ENABLED:
        pytest.skip(SKIP_REASON)
    executable = chromium_path()
    if executable is None:
        pytest.fail("no Chromium found: apt-get install chromium (or set COURSE_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def page(lab, browser):
    """One browser tab for the whole session, opened the way `make lab` opens the course."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(WATCH_POPUPS)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.goto(f"{lab.url}/lab/tree/notebooks/00_start_here.ipynb?token={lab.token}")
    tab.wait_for_function("""() => {
        const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        return w && w.context && w.context.path === 'notebooks/00_start_here.ipynb';
    }""")
    yield tab
    context.close()
