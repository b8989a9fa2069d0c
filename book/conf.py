"""Sphinx configuration of the course as a book (`make book`; see README, "Read it as a book").

The source folder is the repository root (so the notebooks' and README's relative links work as
they are); only the README, the glossary, the contributor notes, the chapters and the exercise
stubs are read. Notebooks are never executed: their stored outputs are shown. MathJax and the
widget manager are served from ``_static/`` (see ``book/assets.py``); nothing is fetched when a
page is viewed.
"""

import json
import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes

# MyST-NB reads notebooks with nbformat, which imports jsonschema, which imports rfc3987-syntax
# when it is installed (JupyterLab's jupyter-events needs it) and builds a parser for IRIs at
# import: about 1.5 s of a 6 s build, for string formats that notebook validation never checks.
# Without it jsonschema only skips those formats; nothing else in the build imports it.
sys.modules.setdefault("rfc3987_syntax", None)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import assets  # noqa: E402

project = "Why recurrence? From TF-IDF to LSTM and GRU"
author = "the course authors"
copyright = "the course authors"
language = "en"

root_doc = "README"
include_patterns = ["README.md", "GLOSSARY.md", "CONTRIBUTING.md",
                    "notebooks/[0-9][0-9]_*.ipynb", "exercises/[0-9][0-9]_*.ipynb"]
# the solutions are not published; the rest is never read (and .venv is not even walked)
exclude_patterns = [".venv", ".git", "build", "data", "solutions", "tests", "course_utils",
                    "book", "jupyterlab-settings", "**/.ipynb_checkpoints"]

extensions = ["myst_nb"]
nb_execution_mode = "off"                   # stored outputs only
nb_output_folder = "book-outputs"           # build/book-outputs (images MyST-NB extracts)
nb_merge_streams = True                     # one block per cell for stdout, as JupyterLab shows
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3                    # README's [Data](#data) style links
nb_render_markdown_format = "myst"

# ---- offline front-end files ------------------------------------------------
html_static_path = [str(assets.prepare()), str(HERE / "static")]
# MathJax 3 (the major version JupyterLab 4 uses), from _static/, with the TeX extensions it
# autoloads
mathjax_path = "mathjax/es5/tex-chtml.js"
# the stand-alone widget embedder (standard widgets built in): renders each saved widget state
nb_ipywidgets_js = {"widgets/dist/embed.js": {}}
# MathJax 2's one call the widget manager makes, mapped onto MathJax 3 (runs after MathJax)
html_js_files = [("mathjax2-shim.js", {"defer": "defer", "priority": 900})]
html_css_files = ["course-book.css"]

# ---- theme --------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "Why recurrence?"
html_theme_options = {
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_show_sourcelink = False
html_copy_source = False                    # the notebooks are linked for download instead
html_show_search_summary = False            # summaries fetch pages, which file:// forbids
html_last_updated_fmt = None

# The table of contents, added to the README's page (the README itself stays plain markdown).
TOC = """

```{toctree}
:hidden:
:caption: Chapters
:glob:

notebooks/[0-9][0-9]_*
```

```{toctree}
:hidden:
:caption: Exercises (to download and do in JupyterLab)
:glob:

exercises/[0-9][0-9]_*
```

```{toctree}
:hidden:
:caption: Reference

GLOSSARY
CONTRIBUTING
```
"""

WIDGET_NOTE = ("This widget shows its saved state: moving it needs JupyterLab and a running "
               "kernel (open the notebook with ")
PROGRESS_NOTE = "A progress bar, shown as it stood when the notebook was saved."
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}


def add_toc(app, docname, source):
    if docname == root_doc:
        source[0] += TOC


def exercise_download(app, doctree):
    """At the top of each exercise page: a link to download the notebook itself."""
    docname = app.env.docname
    if not docname.startswith("exercises/"):
        return
    filename = docname.split("/")[-1] + ".ipynb"
    ref = addnodes.download_reference(
        "", "", nodes.literal(filename, filename), reftarget=f"/{docname}.ipynb",
        refdoc=docname, refexplicit=True)
    para = nodes.paragraph(
        "", "", nodes.Text("Download this exercise notebook: "), ref,
        nodes.Text(", and open it in JupyterLab ("), nodes.literal("make lab", "make lab"),
        nodes.Text(") to do the exercises; the checks run there."), classes=["exercise-download"])
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None:
        title = next(iter(section.findall(nodes.title)), None)
        section.insert(section.index(title) + 1 if title is not None else 0, para)
    else:
        doctree.insert(0, para)


def is_progress_bar(state, model_id):
    """True for a progress bar (tqdm's: a box holding a progress model), from the saved state."""
    model = state.get(model_id, {})
    if model.get("model_name") in PROGRESS_MODELS:
        return True
    children = model.get("state", {}).get("children", [])
    return any(is_progress_bar(state, c.removeprefix("IPY_MODEL_")) for c in children)


def widget_notes(app, doctree, docname):
    """Under each widget's output: one line saying that only JupyterLab makes it move."""
    views = [r for r in doctree.findall(nodes.raw)
             if "application/vnd.jupyter.widget-view+json" in r.astext()]
    if not views:
        return
    notebook = json.loads(Path(app.env.doc2path(docname)).read_text(encoding="utf-8"))
    state = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    for raw in views:
        model_id = json.loads(re.search(r">\s*(\{.*\})\s*<", raw.astext(), re.S)[1])["model_id"]
        if is_progress_bar(state, model_id):
            note = nodes.paragraph("", PROGRESS_NOTE, classes=["widget-note"])
        else:
            note = nodes.paragraph("", WIDGET_NOTE, nodes.literal("make lab", "make lab"),
                                   nodes.Text(")."), classes=["widget-note"])
        raw.parent.insert(raw.parent.index(raw) + 1, note)


def copy_front_page(app, exception):
    """``index.html`` is the README's page (same folder, so every link in it still works)."""
    if exception is None and app.builder.format == "html":
        out = Path(app.outdir)
        (out / "index.html").write_bytes((out / f"{root_doc}.html").read_bytes())


def setup(app):
    app.connect("source-read", add_toc)
    # before Sphinx's download collector (priority 500) reads the page's download links
    app.connect("doctree-read", exercise_download, priority=400)
    app.connect("doctree-resolved", widget_notes)
    app.connect("build-finished", copy_front_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
