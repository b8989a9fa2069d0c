"""The set-up files agree with each other: one set of exact pins, one glossary."""

import ast
import re
import sys
import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement
from test_lab_setup import make_dry_run

import course_utils
from course_utils import REPO_ROOT, glossary

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pins(lines):
    return {ln.strip() for ln in lines if re.match(r"^[A-Za-z0-9_.\-\[\]]+==\S+$", ln.strip())}


def test_requirements_are_exact_pins_that_pypi_and_the_cpu_only_torch_both_satisfy():
    """One pin for both builds (README, "What make setup downloads"): PyPI's 2.13.0 and the
    CPU-only 2.13.0+cpu that ``make setup TORCH_INDEX=...`` makes pip pick."""
    lines = [ln for ln in (REPO_ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines and all("==" in ln for ln in lines), "every requirement must be pinned with =="
    torch_pins = [Requirement(ln) for ln in lines if Requirement(ln).name == "torch"]
    assert len(torch_pins) == 1, torch_pins
    spec = torch_pins[0].specifier
    assert spec.contains("2.13.0") and spec.contains("2.13.0+cpu"), spec
    assert not spec.contains("2.13.1") and not spec.contains("2.12.0"), spec
    # TORCH_INDEX reaches the pip command that installs requirements.txt
    dry_run = make_dry_run("setup", f"TORCH_INDEX={CPU_INDEX}")
    pip_lines = [ln for ln in dry_run.replace("\\\n", " ").splitlines()
                 if "pip install" in ln and "-r requirements.txt" in ln]
    assert len(pip_lines) == 1 and f"--extra-index-url {CPU_INDEX}" in pip_lines[0], dry_run
    assert f"make setup TORCH_INDEX={CPU_INDEX}" in (REPO_ROOT / "README.md").read_text()


def test_environment_yml_has_the_same_pins_as_requirements():
    req = pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    env_lines = [ln.strip().removeprefix("- ").strip()
                 for ln in (REPO_ROOT / "environment.yml").read_text().splitlines()]
    env = pins(env_lines)
    assert env == req, f"only in requirements.txt: {sorted(req - env)}; " \
                       f"only in environment.yml: {sorted(env - req)}"
    assert "python=3.11" in env_lines


def test_glossary_file_is_generated_from_the_module():
    assert (REPO_ROOT / "GLOSSARY.md").read_text(encoding="utf-8") == glossary.glossary_markdown()


def test_glossary_covers_the_key_terms_of_the_source_article():
    zh = " ".join(t[1] for t in glossary.TERMS)
    for term in ["循环神经网络", "梯度消失", "梯度爆炸", "遗忘门", "输入门", "输出门", "更新门",
                 "重置门", "梯度裁剪", "雅可比矩阵", "残差网络", "池化", "滑动窗口"]:
        assert term in zh, term


def shell_commands(script):
    """The command lines of a shell script or a code block: comments and blank lines dropped."""
    lines = (re.sub(r"(^|\s)#.*$", "", ln).strip() for ln in script.splitlines())
    return [ln for ln in lines if ln]


def readme_commands():
    """The command lines of the README's fenced bash blocks."""
    blocks = re.findall(r"^```bash\n(.*?)^```", (REPO_ROOT / "README.md").read_text(), re.M | re.S)
    return [cmd for block in blocks for cmd in shell_commands(block)]


def test_ci_runs_the_readme_test_command():
    assert "make test" in readme_commands()
    assert "make test" in shell_commands((REPO_ROOT / ".ci" / "run").read_text())


# import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "IPython": "ipython", "zmq": "pyzmq",
                 "faker": "Faker", "yaml": "PyYAML"}


def _project():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _name(requirement):
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _runtime_imports():
    """Top-level third-party modules that course_utils imports (importlib strings too)."""
    found = set()
    for path in (REPO_ROOT / "course_utils").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module"
                  and node.args and isinstance(node.args[0], ast.JoinedStr | ast.Constant)):
                first = node.args[0].values[0] if isinstance(node.args[0], ast.JoinedStr) \
                    else node.args[0]
                found.add(str(first.value).split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "course_utils"}


def test_pyproject_declares_every_runtime_import():
    project = _project()
    declared = {_name(r) for r in project["dependencies"]}
    extra = {_name(r) for r in project["optional-dependencies"]["distributed"]}
    # course_utils.grading.grade_nbval is a pytest plugin, loaded only by pytest (pinned in
    # requirements)
    for module in sorted(_runtime_imports() - {"pytest"}):
        dist = DISTRIBUTIONS.get(module, module).lower()
        assert dist in declared or dist in extra, f"{module} ({dist}) is not in pyproject.toml"
    assert {"cloudpickle", "faker", "ipykernel", "filelock"} <= declared


def test_the_version_is_written_once():
    project = _project()
    assert "version" not in project and project["dynamic"] == ["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", course_utils.__version__)
    assert version("course_utils") == course_utils.__version__


def test_the_distributed_extra_is_pinned_and_moves_no_pin_of_requirements():
    req = {_name(p): p for p in pins((REPO_ROOT / "requirements.txt").read_text().splitlines())}
    extra = _project()["optional-dependencies"]["distributed"]
    assert extra and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==\S+", r) for r in extra), extra
    assert {"dask", "distributed"} <= {_name(r) for r in extra}
    for r in extra:  # a package pinned in both must have the same pin
        assert _name(r) not in req or req[_name(r)] == r, r
    assert "-e '.[distributed]'" in (REPO_ROOT / "Makefile").read_text()


def test_no_module_installs_packages_or_shells_out_to_pip():
    for path in (REPO_ROOT / "course_utils").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""["']-m["'],\s*["']pip["']|["']pip["'],""", text), path
        assert "pip download" not in text, path
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")) + sorted(
            (REPO_ROOT / "solutions").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert "!pip" not in text and "%pip" not in text, path
