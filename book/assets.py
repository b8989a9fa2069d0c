"""The book's front-end files (MathJax, the widget manager): fetched, checked, served locally.

The book must work offline: nothing is loaded from a CDN when a page is viewed. So at build time
each package below is fetched from the npm registry with npm itself (``npm pack NAME@VERSION``),
its tarball is checked against the sha512 integrity pinned here (the registry's own
``dist.integrity``, copied once), and only the files the book needs are unpacked into
``build/book-assets/static/``, which the Sphinx configuration serves as ``_static/``.

A tarball that is already in ``build/book-assets/`` and matches its pin is reused, so a second
build needs no network. A tarball that does not match its pin stops the build.

    python book/assets.py            # fetch (if needed), verify, unpack; prints the static folder
"""

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "book-assets"
STATIC = CACHE / "static"

# name -> (version, npm integrity, folder under _static/, files or folders to keep, relative
# to the package root; a folder keeps everything under it except source maps)
PACKAGES = {
    "mathjax": (
        "3.2.2",
        "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        "mathjax",
        # the TeX-to-HTML component (the one JupyterLab 4 uses is MathJax 3.2 too), the TeX
        # extensions it loads on demand (autoload), its fonts, its menu and accessibility parts
        ("LICENSE", "es5/tex-chtml.js", "es5/input/tex/extensions/", "es5/output/chtml/",
         "es5/ui/", "es5/a11y/", "es5/adaptors/"),
    ),
    "@jupyter-widgets/html-manager": (
        "1.0.15",   # the release that goes with ipywidgets 8.1.x (widget protocol 2)
        "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        "widgets",
        # the self-contained embedder (standard widgets built in; no require.js) and the icon
        # fonts its style sheet points to, in the same folder
        ("LICENSE", "dist/embed.js", "dist/embed.js.LICENSE.txt", "dist/*.woff2", "dist/*.woff",
         "dist/*.ttf", "dist/*.eot", "dist/*.svg"),
    ),
}


class IntegrityError(RuntimeError):
    pass


def integrity(path, algorithm="sha512"):
    digest = hashlib.new(algorithm, Path(path).read_bytes()).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def tarball_name(name, version):
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def fetch(name, version, expected, cache=CACHE):
    """The verified tarball of ``name@version`` in ``cache`` (fetched with npm if missing)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / tarball_name(name, version)
    if not (path.exists() and integrity(path) == expected):
        path.unlink(missing_ok=True)
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("make book: npm is needed once to fetch MathJax and the widget "
                             "manager (Debian/Ubuntu: apt-get install npm)")
        subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", str(cache),
                        "--ignore-scripts", "--silent"], check=True, stdout=subprocess.DEVNULL)
        got = integrity(path)
        if got != expected:
            path.unlink()
            raise IntegrityError(f"{name}@{version}: integrity {got} != pinned {expected}")
    return path


def wanted(member, keep):
    rel = member[len("package/"):]
    for pattern in keep:
        if pattern.endswith("/"):
            if rel.startswith(pattern) and not rel.endswith(".map"):
                return True
        elif Path(rel).match(pattern) and rel.count("/") == pattern.count("/"):
            return True
    return False


def unpack(tarball, dest, keep):
    """Unpack the kept files of an npm tarball into ``dest`` (paths below ``package/``)."""
    if dest.exists():
        shutil.rmtree(dest)
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/")
                   and ".." not in Path(m.name).parts and wanted(m.name, keep)]
        for m in members:
            m.name = m.name[len("package/"):]
        tar.extractall(dest, members=members, filter="data")
    return len(members)


def prepare(static=STATIC, cache=CACHE):
    """Fetch, verify and unpack every package; returns the static folder for Sphinx."""
    stamp = static / ".pins"
    pins = "\n".join(f"{n} {v} {i} {k}" for n, (v, i, _, k) in sorted(PACKAGES.items()))
    tarballs = {name: fetch(name, version, expected, cache)      # verified at every build
                for name, (version, expected, _, _) in PACKAGES.items()}
    if stamp.exists() and stamp.read_text() == pins:
        return static
    for name, (_, _, folder, keep) in PACKAGES.items():
        unpack(tarballs[name], static / folder, keep)
    stamp.write_text(pins)
    return static


if __name__ == "__main__":
    print(prepare())
    sys.exit(0)
