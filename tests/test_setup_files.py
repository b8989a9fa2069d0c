"""The set-up files agree with each other: one set of exact pins, one glossary."""

import re
from pathlib import Path

from course_utils import glossary

ROOT = Path(__file__).resolve().parent.parent


def pins(lines):
    return {ln.strip() for ln in lines if re.match(r"^[A-Za-z0-9_.\-\[\]]+==\S+$", ln.strip())}


def test_requirements_are_exact_pins_including_the_cpu_torch():
    lines = [ln for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines and all("==" in ln for ln in lines), "every requirement must be pinned with =="
    assert "torch==2.13.0" in lines


def test_environment_yml_has_the_same_pins_as_requirements():
    req = pins((ROOT / "requirements.txt").read_text().splitlines())
    env_lines = [ln.strip().removeprefix("- ").strip()
                 for ln in (ROOT / "environment.yml").read_text().splitlines()]
    env = pins(env_lines)
    assert env == req, f"only in requirements.txt: {sorted(req - env)}; " \
                       f"only in environment.yml: {sorted(env - req)}"
    assert "python=3.11" in env_lines


def test_glossary_file_is_generated_from_the_module():
    assert (ROOT / "GLOSSARY.md").read_text(encoding="utf-8") == glossary.glossary_markdown()


def test_glossary_covers_the_key_terms_of_the_source_article():
    zh = " ".join(t[1] for t in glossary.TERMS)
    for term in ["循环神经网络", "梯度消失", "梯度爆炸", "遗忘门", "输入门", "输出门", "更新门",
                 "重置门", "梯度裁剪", "雅可比矩阵", "残差网络", "池化", "滑动窗口"]:
        assert term in zh, term


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make test" in (ROOT / "README.md").read_text()
