"""Generate ``exercises/`` from ``solutions/``, and check that the two agree.

    python -m course_utils.grading.exercises build [--force] [NOTEBOOK ...]
    python -m course_utils.grading.exercises check [--committed]
    python -m course_utils.grading.exercises export DIR      # the shipped exercises, into DIR
    python -m course_utils.grading.exercises shipped-copy DIR  # the checkout, exercises as shipped
    python -m course_utils.grading.exercises learner-note    # one line: is exercises/ as shipped?

``solutions/NN_*.ipynb`` is the single source. In a code cell, the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (inside a function body) become a stub that
raises ``NotImplementedError`` naming the exercise; in a markdown cell, the text between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` becomes an answer placeholder: under a
"predict, then run" exercise (the first answer region after a ``checks.predict_*`` call) it asks
for the learner's reasoning, elsewhere for their answer. Outputs are cleared.

``make test`` tests the course as shipped, never a learner's work: ``check --committed`` compares
the generator's output with git's committed ``exercises/`` (a maintainer's regenerated, not yet
committed notebook also passes), ``shipped-copy`` copies the checkout to a scratch folder with
``exercises/`` generated, where the tests run, and ``learner-note`` prints one line saying
whether the learner's own ``exercises/`` were left untested.

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
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_utils import REPO_ROOT
from course_utils.files import write_atomically

MANIFEST = ".manifest.json"

CODE_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*$")
CODE_END = re.compile(r"^(?P<indent>[ \t]*)### END SOLUTION[ \t]*$")
MD_BEGIN = re.compile(r"^[ \t]*<!-- BEGIN SOLUTION -->[ \t]*$")
MD_END = re.compile(r"^[ \t]*<!-- END SOLUTION -->[ \t]*$")
DEF = re.compile(r"^(?P<indent>[ \t]*)def (?P<name>\w+)\s*\(")

MD_PLACEHOLDER = "*Write your answer here, then compare it with the solution notebook.*"
# Under a "predict, then run" exercise the answer asked for is the learner's reasoning.
PREDICT_PLACEHOLDER = ("*Why did it come out this way? Explain the outcome in a few sentences "
                       "(what in the model or the data makes it so, and was your prediction "
                       "close?), then compare with the solution notebook.*")
PREDICT_CALL = re.compile(r"\bchecks\.predict_\w+\s*\(")


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


def strip_markdown(source: str, where: str, placeholder: str = MD_PLACEHOLDER) -> str:
    """Replace every answer region of a markdown cell with a placeholder line."""
    out: list[str] = []
    opened: int | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        if MD_BEGIN.match(line):
            if opened is not None:
                raise MarkerError(f"{where}, line {number}: BEGIN SOLUTION inside the region "
                                  f"opened at line {opened}")
            opened = number
            out.append(placeholder)
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
    import nbformat  # here, not at the top: ``grade_check`` imports this module and starts fast

    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - JSON, schema and I/O errors alike
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MarkerError(f"{path}: not a readable notebook ({reason})") from None


def generate(solution: Path) -> str:
    """The exercise notebook (as JSON text) that ``solution`` produces."""
    import nbformat

    nb = read_notebook(solution)
    regions = 0
    after_prediction = False  # a predict_* check ran and its answer region is still to come
    for index, cell in enumerate(nb.cells):
        where = f"{solution.name}, cell {index}"
        if cell.cell_type == "code":
            new = strip_code(cell.source, where)
            regions += new != cell.source
            cell.source = new
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
            after_prediction = after_prediction or bool(PREDICT_CALL.search(cell.source))
        elif cell.cell_type == "markdown":
            has_region = any(MD_BEGIN.match(line) for line in cell.source.split("\n"))
            if after_prediction and cell.source.lstrip().startswith("#"):
                after_prediction = False  # a new heading: the prediction's answer is not here
            placeholder = PREDICT_PLACEHOLDER if after_prediction and has_region \
                else MD_PLACEHOLDER
            cell.source = strip_markdown(cell.source, where, placeholder)
            after_prediction = after_prediction and not has_region
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


def _git(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60, check=False)


def committed_text(path: Path) -> str | None:
    """``path`` as git's HEAD commit holds it; None outside a git checkout or if not committed."""
    try:
        top = _git("rev-parse", "--show-toplevel", cwd=path.parent)
        if top.returncode != 0:
            return None
        rel = path.resolve().relative_to(Path(top.stdout.decode().strip()).resolve())
        shown = _git("show", f"HEAD:{rel.as_posix()}", cwd=path.parent)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return shown.stdout.decode("utf-8", errors="replace") if shown.returncode == 0 else None


def check_committed(solutions: list[Path], exercises_dir: Path) -> tuple[list[str], bool]:
    """Like :func:`check`, against git's committed exercise notebooks (never the working copy).

    Returns (problems, in_git): outside a git checkout there is nothing committed to compare,
    and only the generator is checked (every solution must generate).
    """
    problems, in_git = [], _git("rev-parse", "--git-dir", cwd=exercises_dir.parent
                                ).returncode == 0 if exercises_dir.parent.is_dir() else False
    for sol in solutions:
        try:
            text = generate(sol)
        except MarkerError as exc:
            problems.append(str(exc))
            continue
        if not in_git:
            continue
        target = exercises_dir / sol.name
        if committed_text(target) == text:
            continue
        try:  # a maintainer's regenerated, not yet committed notebook is as good
            if target.read_text(encoding="utf-8") == text:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        problems.append(f"{_show(target)}: the committed version differs from what "
                        f"{_show(sol)} generates")
    return problems, in_git


def export(solutions: list[Path], folder: Path) -> list[str]:
    """Write the generated exercise notebooks into ``folder`` (made empty first); errors."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    errors = []
    for sol in solutions:
        try:
            write_atomically(folder / sol.name, generate(sol))
        except MarkerError as exc:
            errors.append(str(exc))
    return errors


_NOT_SHIPPED = {".git", ".venv", "data", "build", "__pycache__", ".pytest_cache", ".ruff_cache",
                ".ipynb_checkpoints"}


def course_files(root: Path) -> list[Path]:
    """The checkout's files as git would ship them (tracked and new, not ignored).

    Only when ``root`` is the top of a git work tree: a copy inside another checkout (make
    test's ``build/shipped``, which that checkout's git ignores) is walked instead.
    """
    top = _git("rev-parse", "--show-toplevel", cwd=root)
    is_top = top.returncode == 0 and Path(
        top.stdout.decode("utf-8", "replace").strip()).resolve() == Path(root).resolve()
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=root)
    if is_top and listed.returncode == 0:
        names = [n for n in listed.stdout.decode("utf-8", "replace").split("\0") if n]
        return [Path(n) for n in names if (root / n).is_file()]
    return [p.relative_to(root) for p in root.rglob("*") if p.is_file()
            and not _NOT_SHIPPED.intersection(p.relative_to(root).parts)
            and not p.name.endswith(".bak")]


def shipped_copy(root: Path, dest: Path) -> Report:
    """Copy the checkout ``root`` to ``dest`` with ``exercises/`` as the generator writes it.

    What ``make test`` runs its tests in: the course's code, notebooks and solutions as they
    are in the checkout, but the exercise notebooks as shipped, never a learner's. Files keep
    their modification times (so ``make`` in the copy sees an up-to-date set-up). Nothing in
    ``root`` is written.
    """
    root, dest = root.resolve(), dest.resolve()
    if dest == root or dest in root.parents or (
            root in dest.parents and (root / "build") not in dest.parents):
        raise ValueError(f"{dest}: the copy goes outside the checkout or under its build/ "
                         "(it is deleted first)")
    shutil.rmtree(dest, ignore_errors=True)
    for rel in course_files(root):
        if rel.parts[0] == "exercises":  # the learner's folder: generated below instead
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    return build(sorted((dest / "solutions").glob("*.ipynb")), dest / "exercises", force=True)


def learner_note(solutions: list[Path], exercises_dir: Path) -> str:
    """One line: were the notebooks in ``exercises_dir`` the shipped ones, or the learner's?"""
    own = []
    for sol in solutions:
        target = exercises_dir / sol.name
        try:
            same = target.read_text(encoding="utf-8") == generate(sol)
        except (OSError, UnicodeDecodeError, MarkerError):
            same = False
        if not same:
            own.append(sol.stem.split("_", 1)[0])
    if not own:
        return "exercises/ is as shipped (no exercise done yet)"
    return (f"your own notebooks in exercises/ ({', '.join(own)}) were not tested: the tests ran "
            "the shipped versions; `make grade` grades yours")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading.exercises",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "check", "export", "shipped-copy",
                                            "learner-note"])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="solution notebooks (default: every solutions/*.ipynb); for "
                             "export: the folder to write, then solution notebooks")
    parser.add_argument("--committed", action="store_true",
                        help="check: compare with git's committed exercises/, not the working "
                             "copy (what `make test` does: a learner's edits are not tested)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite exercise notebooks you edited (a timestamped .bak copy is "
                             "kept)")
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=REPO_ROOT / "exercises")
    # intermixed: `build --force solutions/x.ipynb` and `build solutions/x.ipynb --force` alike
    args = parser.parse_intermixed_args(argv)
    target = None
    if args.command == "shipped-copy":
        if len(args.notebooks) != 1:
            parser.error("shipped-copy needs one folder")
        report = shipped_copy(REPO_ROOT, args.notebooks[0])
        for err in report.errors:
            print(f"error      {err}", file=sys.stderr)
        print(f"the course as shipped (exercises/ generated from solutions/): {args.notebooks[0]}")
        return 2 if report.errors else 0
    if args.command == "export":
        if not args.notebooks:
            parser.error("export needs a folder")
        target, args.notebooks = args.notebooks[0], args.notebooks[1:]
    solutions = args.notebooks or sorted(args.solutions.glob("*.ipynb"))
    if not solutions:
        print(f"no solution notebooks found in {args.solutions}", file=sys.stderr)
        return 2
    if args.command == "export":
        errors = export(solutions, target)
        for err in errors:
            print(f"error      {err}", file=sys.stderr)
        print(f"exported {len(solutions) - len(errors)} exercise notebooks to {target}")
        return 2 if errors else 0
    if args.command == "learner-note":
        print(learner_note(solutions, args.exercises))
        return 0
    if args.command == "check" and args.committed:
        problems, in_git = check_committed(solutions, args.exercises)
        for p in problems:
            print(f"out of date: {p}")
        if problems:
            print("run `python -m course_utils.grading.exercises build` and commit",
                  file=sys.stderr)
            return 1
        print(f"exercises as committed are up to date ({len(solutions)} notebooks)" if in_git
              else f"not a git checkout: {len(solutions)} exercise notebooks generate; the "
                   "shipped copies were not compared")
        return 0
    if args.command == "check":
        problems = check(solutions, args.exercises)
        for p in problems:
            print(f"out of date: {p}")
        if problems:
            print("run `python -m course_utils.grading.exercises build` to regenerate",
                  file=sys.stderr)
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
