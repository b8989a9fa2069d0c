"""Generate ``exercises/`` from ``solutions/``, and check that the two agree.

    python -m course_utils.exercises build [--force] [NOTEBOOK ...]
    python -m course_utils.exercises check

``solutions/NN_*.ipynb`` is the single source. In a code cell, the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (inside a function body) become a stub that
raises ``NotImplementedError`` naming the exercise; in a markdown cell, the text between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes an answer placeholder.
Outputs are cleared.

Learner work is never lost: ``build`` remembers (in ``exercises/.manifest.json``) the hash of
every file it wrote, and refuses to overwrite a file that was edited since, unless ``--force``
is given; with ``--force`` the edited file is first copied to a timestamped
``NAME.ipynb.YYYYMMDD-HHMMSS.bak`` (a new name every time: an earlier backup is never
overwritten). Every notebook and the manifest are written atomically (to a temporary file in the
same folder, then renamed), so an interrupted build never leaves a half-written notebook.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ".manifest.json"

CODE_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
CODE_END = re.compile(r"^(?P<indent>[ \t]*)### END SOLUTION[ \t]*$")
MD_BEGIN = re.compile(r"^[ \t]*<!-- BEGIN SOLUTION -->[ \t]*$")
MD_END = re.compile(r"^[ \t]*<!-- END SOLUTION -->[ \t]*$")
DEF = re.compile(r"^(?P<indent>[ \t]*)def (?P<name>\w+)\s*\(")

MD_PLACEHOLDER = "*Write your answer here, then compare it with the solution notebook.*"


class MarkerError(ValueError):
    """A solution notebook whose markers cannot be turned into an exercise."""


def _stub(indent: str, exercise: str) -> list[str]:
    return [f"{indent}# YOUR CODE HERE",
            f'{indent}raise NotImplementedError("Exercise \'{exercise}\': replace this line '
            f'with your code.")']


def strip_code(source: str, where: str) -> str:
    """Replace every solution region of a code cell's source with a stub."""
    lines = source.split("\n")
    out: list[str] = []
    region: tuple[int, str, str] | None = None  # (line number, indent, exercise)
    for number, line in enumerate(lines, start=1):
        begin, end = CODE_BEGIN.match(line), CODE_END.match(line)
        if begin:
            if region is not None:
                raise MarkerError(f"{where}, line {number}: BEGIN SOLUTION inside the region "
                                  f"opened at line {region[0]} (regions cannot nest)")
            indent = begin.group("indent")
            if not indent:
                raise MarkerError(f"{where}, line {number}: a solution region must sit inside "
                                  "a function body (indented), so the exercise notebook still "
                                  "runs top to bottom before the learner fills it in")
            enclosing = [m.group("name") for m in map(DEF.match, out)
                         if m and len(m.group("indent")) < len(indent)]
            region = (number, indent, enclosing[-1] if enclosing else "this exercise")
            continue
        if end:
            if region is None:
                raise MarkerError(f"{where}, line {number}: END SOLUTION without a BEGIN")
            if end.group("indent") != region[1]:
                raise MarkerError(f"{where}, line {number}: END SOLUTION is indented "
                                  f"differently from its BEGIN at line {region[0]}")
            out.extend(_stub(region[1], region[2]))
            region = None
            continue
        if region is None:
            out.append(line)
    if region is not None:
        raise MarkerError(f"{where}, line {region[0]}: BEGIN SOLUTION is never closed by "
                          "END SOLUTION")
    return "\n".join(out)


def strip_markdown(source: str, where: str) -> str:
    """Replace every answer region of a markdown cell with a placeholder line."""
    out: list[str] = []
    opened: int | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        if MD_BEGIN.match(line):
            if opened is not None:
                raise MarkerError(f"{where}, line {number}: BEGIN SOLUTION inside the region "
                                  f"opened at line {opened}")
            opened = number
            out.append(MD_PLACEHOLDER)
        elif MD_END.match(line):
            if opened is None:
                raise MarkerError(f"{where}, line {number}: END SOLUTION without a BEGIN")
            opened = None
        elif opened is None:
            out.append(line)
    if opened is not None:
        raise MarkerError(f"{where}, line {opened}: BEGIN SOLUTION is never closed")
    return "\n".join(out)


def read_notebook(path: Path):
    """Read a notebook, turning every way it can be broken into one ``MarkerError`` line."""
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - JSON, schema and I/O errors alike
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MarkerError(f"{path}: not a readable notebook ({reason})") from None


def generate(solution: Path) -> str:
    """The exercise notebook (as JSON text) that ``solution`` produces."""
    nb = read_notebook(solution)
    regions = 0
    for index, cell in enumerate(nb.cells):
        where = f"{solution.name}, cell {index}"
        if cell.cell_type == "code":
            new = strip_code(cell.source, where)
            regions += new != cell.source
            cell.source = new
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            cell.source = strip_markdown(cell.source, where)
    # Keep only what a learner's kernel needs, so re-executing a solution (which rewrites
    # language_info and the like) does not make its exercise look out of date.
    nb.metadata = {"kernelspec": nb.metadata.get("kernelspec", {
        "display_name": "Python 3", "language": "python", "name": "python3"}),
        "language_info": {"name": "python"}}
    if not regions:
        raise MarkerError(f"{solution.name}: no '### BEGIN SOLUTION' region found; a solution "
                          "notebook must hold at least one exercise")
    return nbformat.writes(nb) + "\n"


def _show(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Report:
    written: list[str]
    unchanged: list[str]
    left_alone: list[str]
    errors: list[str]
    backups: list[str] = field(default_factory=list)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def backup(path: Path) -> Path:
    """Copy ``path`` to a new ``NAME.YYYYMMDD-HHMMSS[-N].bak`` next to it; never overwrites."""
    data = path.read_bytes()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        target = path.with_name(f"{path.name}.{stamp}{f'-{n}' if n else ''}.bak")
        try:
            with open(target, "xb") as fh:  # "x": fails if the name is taken
                fh.write(data)
            return target
        except FileExistsError:
            continue
    raise OSError(f"{path}: could not find a free backup name")


def _load_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def build(solutions: list[Path], exercises_dir: Path, force: bool = False) -> Report:
    """Write the exercise notebook of each solution, protecting edited exercise notebooks."""
    exercises_dir.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(exercises_dir)
    report = Report([], [], [], [])
    for sol in solutions:
        target = exercises_dir / sol.name
        try:
            text = generate(sol)
        except MarkerError as exc:
            report.errors.append(str(exc))
            continue
        if target.exists():
            current = target.read_text(encoding="utf-8")
            if current == text:
                manifest[sol.name] = _sha(text)
                report.unchanged.append(_show(target))
                continue
            if _sha(current) != manifest.get(sol.name):
                if not force:
                    report.left_alone.append(_show(target))
                    continue
                report.backups.append(_show(backup(target)))
        write_atomically(target, text)
        manifest[sol.name] = _sha(text)
        report.written.append(_show(target))
    write_atomically(exercises_dir / MANIFEST,
                     json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return report


def check(solutions: list[Path], exercises_dir: Path) -> list[str]:
    """Differences between ``exercises_dir`` and what :func:`build` would write."""
    problems = []
    for sol in solutions:
        target = exercises_dir / sol.name
        try:
            text = generate(sol)
        except MarkerError as exc:
            problems.append(str(exc))
            continue
        if not target.exists():
            problems.append(f"{_show(target)}: missing")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{_show(target)}: differs from what {_show(sol)} generates")
    names = {s.name for s in solutions}
    for extra in sorted(exercises_dir.glob("*.ipynb")):
        if extra.name not in names:
            problems.append(f"{_show(extra)}: has no solution notebook")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.exercises",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="solution notebooks (default: every solutions/*.ipynb)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite exercise notebooks you edited (a timestamped .bak copy is "
                             "kept)")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    # intermixed: `build --force solutions/x.ipynb` and `build solutions/x.ipynb --force` alike
    args = parser.parse_intermixed_args(argv)
    solutions = args.notebooks or sorted(args.solutions.glob("*.ipynb"))
    if not solutions:
        print(f"no solution notebooks found in {args.solutions}", file=sys.stderr)
        return 2
    if args.command == "check":
        problems = check(solutions, args.exercises)
        for p in problems:
            print(f"out of date: {p}")
        if problems:
            print("run `python -m course_utils.exercises build` to regenerate", file=sys.stderr)
            return 1
        print(f"exercises up to date ({len(solutions)} notebooks)")
        return 0
    report = build(solutions, args.exercises, force=args.force)
    for path in report.written:
        print(f"wrote      {path}")
    for path in report.unchanged:
        print(f"up to date {path}")
    for path in report.backups:
        print(f"kept       {path} (your edited version, before --force overwrote it)")
    for path in report.left_alone:
        print(f"left alone {path}: you edited it since it was generated "
              "(use --force to overwrite; a timestamped .bak copy is kept)")
    for err in report.errors:
        print(f"error      {err}", file=sys.stderr)
    return 2 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
