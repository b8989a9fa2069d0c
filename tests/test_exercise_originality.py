"""No exercise's answer is printed, in substance, in its chapter (CONTRIBUTING.md's rule).

For every solution region of ``solutions/NN_*.ipynb``, the region's code lines (comments and
blank lines dropped, whitespace normalised, lines of fewer than four tokens ignored as too
generic) are looked up in chapter ``notebooks/NN_*.ipynb``: in the source of every code cell
and in every text output (so a chapter that prints a reference implementation with
``inspect.getsource`` counts as printing it). A region fails when more than a third of its
lines appear in the chapter, or when the chapter contains a run of three or more of its
consecutive lines. Renaming variables does not hide a copy: a second measure replaces every
name by one placeholder and fails a region when more than 40 % of its tokens lie in runs of ten
or more tokens that one chapter cell or output shares with it.
"""

from __future__ import annotations

import difflib
import io
import json
import keyword
import re
import textwrap
import tokenize
from pathlib import Path

import pytest

from course_utils import REPO_ROOT

BEGIN, END = re.compile(r"^\s*### BEGIN SOLUTION\s*$"), re.compile(r"^\s*### END SOLUTION\s*$")
MAX_SHARE, MAX_RUN, MIN_TOKENS = 1 / 3, 3, 4
MAX_SHAPE_SHARE, MIN_BLOCK = 0.4, 10
SKIP = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
        tokenize.ENDMARKER)


def normalise(line: str) -> str | None:
    """A code line as a space-joined token string, or None if it is a comment or too short."""
    try:
        toks = [t.string for t in tokenize.generate_tokens(io.StringIO(line.strip()).readline)
                if t.type not in SKIP]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        toks = line.split()
    if len(toks) < MIN_TOKENS:
        return None
    return " ".join(toks)


def solution_regions(path: Path):
    """(cell index, [code lines]) for every solution region of a solution notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        region = None
        for line in "".join(cell["source"]).split("\n"):
            if BEGIN.match(line):
                region = []
            elif END.match(line):
                yield i, region
                region = None
            elif region is not None:
                region.append(line)


def chapter_texts(path: Path) -> list[str]:
    """The source of every code cell and every text output of a chapter."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    texts = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts.append("".join(cell["source"]))
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            texts.append("".join(out.get("data", {}).get("text/plain", "")))
    return [t for t in texts if t]


def chapter_lines(texts: list[str]) -> list[str]:
    """Normalised lines of a chapter's texts."""
    return [n for text in texts for n in map(normalise, text.split("\n")) if n]


def shape(text: str) -> list[str]:
    """Tokens with every name (not keywords) as ``N`` and every string as ``S``."""
    out = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(text).readline):
            if t.type in SKIP:
                continue
            if t.type == tokenize.STRING:
                out.append("S")
            elif t.type == tokenize.NAME and not keyword.iskeyword(t.string):
                out.append("N")
            else:
                out.append(t.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = text.split()
    return out


def shape_share(region: list[str], texts: list[str]) -> float:
    """Largest share of the region's tokens in long runs shared with one chapter text."""
    a = shape(textwrap.dedent("\n".join(region)))
    best = 0.0
    for text in texts:
        sm = difflib.SequenceMatcher(None, a, shape(text), autojunk=False)
        matched = sum(b.size for b in sm.get_matching_blocks() if b.size >= MIN_BLOCK)
        best = max(best, matched / len(a) if a else 0.0)
    return best


def copied(region: list[str], chapter: set[str], chapter_seq: list[str]) -> tuple[float, int]:
    """(share of the region's lines found in the chapter, longest run found consecutively)."""
    lines = [n for n in map(normalise, region) if n]
    if not lines:
        return 0.0, 0
    share = sum(n in chapter for n in lines) / len(lines)
    joined = "\n".join(chapter_seq)
    run = 0
    for start in range(len(lines)):
        for stop in range(start + run + 1, len(lines) + 1):
            if "\n".join(lines[start:stop]) in joined:
                run = stop - start
            else:
                break
    return share, run


CHAPTERS = sorted(p.name for p in (REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("name", CHAPTERS)
def test_no_solution_is_printed_in_its_chapter(name):
    texts = chapter_texts(REPO_ROOT / "notebooks" / name)
    seq = chapter_lines(texts)
    chapter = set(seq)
    bad = []
    for cell, region in solution_regions(REPO_ROOT / "solutions" / name):
        share, run = copied(region, chapter, seq)
        renamed = shape_share(region, texts)
        if share > MAX_SHARE or run >= MAX_RUN or renamed > MAX_SHAPE_SHARE:
            bad.append(f"cell {cell}: {share:.0%} of its lines, a run of {run}, "
                       f"{renamed:.0%} of its tokens with names ignored")
    assert not bad, f"{name}: solution regions printed in the chapter: {bad}"


def test_the_detector_finds_a_copy_and_ignores_generic_lines():
    chapter = ["z = x @ W . T + b", "h = np . tanh ( z )", "return h , z"]
    assert copied(["    z = x @ W.T + b", "    h = np.tanh(z)", "    return h, z"],
                  set(chapter), chapter) == (1.0, 3)
    assert copied(["    return out", "    # a comment", "    y = np.maximum(x, 0.5 * x)"],
                  set(chapter), chapter) == (0.0, 0)


def test_renaming_does_not_hide_a_copy():
    chapter = ["def step(x, h, p):\n    a = x @ p['w'].T + h @ p['u'].T + p['b']\n"
               "    return np.tanh(a)"]
    region = ["    net = x_t @ params['weight_ih'].T + h_prev @ params['weight_hh'].T",
              "    net = net + params['bias']", "    return np.tanh(net)"]
    assert shape_share(region, chapter) > MAX_SHAPE_SHARE
    assert shape_share(["    return sorted(set(words), key=len)"], chapter) == 0.0
