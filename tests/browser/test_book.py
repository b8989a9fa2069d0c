"""The course as a book (`make book`, build/book/): every page in Chromium, offline.

One browser context loads every page of the built book from ``file://``; every request that is
not a file of the book is refused and recorded. Each page must load with every formula typeset
(no MathJax error, no raw TeX outside code), every image loaded and no script error. Chapter
07's widget must show its saved state, the search must find a term in three chapters and the
glossary's Chinese terms, and a page with a broken formula and a missing image must fail the
same check (the negative control). Run with `make test-browser` (which builds the book first).
"""

import json
import os
import re
import shutil
from urllib.parse import quote, unquote

import pytest
from labpage import ENABLED, ROOT, SHOTS, SKIP_REASON

pytestmark = pytest.mark.skipif(not ENABLED, reason=SKIP_REASON)

BOOK = ROOT / "build" / "book"
# every page of the book (before it is built: the front page, which then fails to load)
PAGES = sorted(str(p.relative_to(BOOK)) for p in BOOK.glob("**/*.html")
               if not p.relative_to(BOOK).parts[0].startswith("_")) or ["index.html"]
FEEDBACK_MARK = "border-left: 6px solid"      # the check box course_utils.grading.checking draws

# What one page shows: formulas (in the HTML, typeset, errors), raw TeX left in the text,
# images (loaded or not), check boxes and their colours.
PROBE = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const main = document.querySelector('main') || document.body;
  const formulas = [...main.querySelectorAll('.math')];
  const raw = [];
  const tex = /\\\(|\\\[|\$\$|\\begin\{|\\frac|\\mathbf|\$[^$\s][^$]*\$/;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('code, pre, script, style, mjx-container, .highlight')) continue;
    if (tex.test(node.nodeValue)) raw.push(node.nodeValue.trim().slice(0, 120));
  }
  // MathJax 3 shows a TeX error as <mjx-merror>; an undefined macro as red text holding its
  // name (the noundefined extension), as the JupyterLab tests read it too.
  const errors = [...main.querySelectorAll('mjx-merror')]
    .map(e => 'MathJax error: ' + e.getAttribute('data-mjx-error'));
  for (const e of main.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')) {
    if (e.textContent.startsWith('\\')) errors.push('undefined TeX macro ' + e.textContent);
  }
  const images = [...document.images].map(i => ({src: i.getAttribute('src').slice(0, 80),
    ok: i.complete && i.naturalWidth > 0}));
  const boxes = [...main.querySelectorAll('.output div[style]')]
    .filter(e => getComputedStyle(e).borderLeftWidth === '6px')
    .map(e => [getComputedStyle(e).borderLeftColor, getComputedStyle(e).backgroundColor]);
  return {
    title: document.title,
    formulas: formulas.length,
    typeset: formulas.filter(f => f.querySelector('mjx-container')).length,
    raw, errors, images, boxes,
  };
}
"""


def problems(state, errors):
    """Everything wrong on a page, as sentences (empty: the page is fine).

    ``errors``: the page's script errors and its requests for files of the book that failed.
    """
    found = [f"{state['formulas'] - state['typeset']} of {state['formulas']} formulas not typeset"
             ] if state["typeset"] != state["formulas"] else []
    found += state["errors"]
    found += [f"raw TeX shown: {r!r}" for r in state["raw"]]
    found += [f"image not loaded: {i['src']}" for i in state["images"] if not i["ok"]]
    found += errors
    return found


@pytest.fixture(scope="module")
def book(browser):
    """One context for the whole book; requests outside the book are refused and recorded."""
    if not (BOOK / "index.html").exists():
        if shutil.which("npm") is None:
            message = "no book built, and `make book` needs npm once (apt-get install npm)"
            if os.environ.get("CI"):  # CI must test the book, not skip it (.ci/run installs npm)
                pytest.fail(message)
            pytest.skip(message)
        pytest.fail("no book built: run `make book` (make test-browser does)")
    root = BOOK.resolve().as_uri() + "/"
    outside, errors = [], []

    def only_the_book(route):
        url = route.request.url
        if url.startswith(root) or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context = browser.new_context(viewport={"width": 1300, "height": 900})
    context.route("**/*", only_the_book)
    context.on("request", lambda r: None if r.url.startswith((root, "data:", "blob:"))
               else outside.append(r.url))
    context.on("requestfailed", lambda r: errors.append(f"file not loaded: {r.url}")
               if r.url.startswith(root) else None)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield tab, root, outside, errors
    context.close()


def load(book, page_path):
    tab, root, outside, errors = book
    del errors[:]
    tab.goto(root + quote(page_path), wait_until="load")
    state = tab.evaluate(PROBE)
    return tab, state


@pytest.mark.parametrize("page_path", PAGES)
def test_page_loads_typeset_with_images_and_nothing_from_outside(book, page_path):
    tab, state = load(book, page_path)
    _, _, outside, errors = book
    html = (BOOK / page_path).read_text(encoding="utf-8")
    assert state["title"], f"{page_path}: no title"
    in_html = len(re.findall(r'class="[^"]*\bmath\b[^"]*"', html))
    assert state["formulas"] == in_html, f"{page_path}: {state['formulas']} of {in_html} formulas"
    assert problems(state, errors) == [], f"{page_path}: {problems(state, errors)}"
    assert outside == [], f"{page_path}: requests outside the book: {outside[:5]}"
    if page_path.startswith("notebooks/"):
        assert state["formulas"] > 0 and state["images"], f"{page_path}: no formula or no image"
    source = ROOT / page_path.replace(".html", ".ipynb")
    if source.exists() and "widgets" in json.loads(source.read_text(encoding="utf-8"))["metadata"]:
        # every progress bar in its saved (final) state
        saved = widget_states(source.relative_to(ROOT)).values()
        expected = sorted(f"{100 * b['state']['value'] / b['state']['max']:g}%" for b in saved
                          if b["model_name"] in ("FloatProgressModel", "IntProgressModel"))
        tab.wait_for_function("n => document.querySelectorAll('.widget-hprogress').length >= n",
                              arg=len(expected))
        shown = sorted(tab.evaluate("""() => [...document.querySelectorAll(
            '.widget-hprogress .progress-bar')].map(b => b.style.width)"""))
        assert shown == expected, f"{page_path}: progress bars {shown}, saved {expected}"
    if source.exists():
        # the coloured check boxes keep their colours (inline styles in the stored outputs)
        stored = source.read_text(encoding="utf-8").count(FEEDBACK_MARK)
        shown = len(state["boxes"])
        assert shown == stored, f"{page_path}: {shown} of {stored} check results shown as boxes"
        assert all(b != "rgba(0, 0, 0, 0)" for box in state["boxes"] for b in box)


def test_internal_links_resolve_and_no_solution_is_published():
    """Every link and source inside the book points to a file of the book; no solution ships."""
    broken = []
    for page_path in PAGES:
        html = (BOOK / page_path).read_text(encoding="utf-8")
        for target in re.findall(r'(?:href|src)="([^"#?][^"]*?)(?:[#?][^"]*)?"', html):
            if re.match(r"[a-z]+:", target):
                continue
            if not (BOOK / page_path).parent.joinpath(unquote(target)).resolve().exists():
                broken.append(f"{page_path} -> {target}")
    assert broken == []
    assert not (BOOK / "solutions").exists()
    # (CONTRIBUTING names the solution markers; the pages and files of the notebooks must not)
    leaked = [str(p.relative_to(BOOK)) for folder in ("notebooks", "exercises", "_downloads")
              for p in (BOOK / folder).rglob("*") if p.is_file()
              and "### BEGIN SOLUTION" in p.read_text(encoding="utf-8", errors="replace")]
    assert leaked == [], f"solution code in the book: {leaked}"
    downloads = sorted(p.name for p in (BOOK / "_downloads").rglob("*.ipynb"))
    assert downloads == sorted(p.name for p in (ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))


def test_negative_control_a_broken_formula_and_a_missing_image_fail(book):
    """The same check, on a copy of a chapter with one broken formula and one missing image."""
    good = BOOK / "notebooks" / "03_rnn_equations.html"
    bad = good.with_name("_negative_control.html")
    html = good.read_text(encoding="utf-8").replace(
        "<main", '<main><p>broken: <span class="math notranslate nohighlight">\\(x^^2\\)</span>, '
        '<span class="math notranslate nohighlight">\\(\\nosuchmacro x\\)</span>, '
        '<span class="math notranslate nohighlight">\\(\\frac{1}{\\)</span></p>'
        '<img src="../_images/no-such-image.png" alt="missing">'
        '<img src="https://cdn.invalid/logo.png" alt="outside"></main><main', 1)
    bad.write_text(html, encoding="utf-8")
    outside = book[2]
    try:
        tab, state = load(book, "notebooks/_negative_control.html")
        found = problems(state, book[3])
        refused = list(outside)
    finally:
        bad.unlink()
        del outside[:]
    # the request that leaves the book is refused (never sent) and recorded
    assert "https://cdn.invalid/logo.png" in refused, refused
    assert any("image not loaded: https://cdn.invalid/logo.png" in p for p in found), found
    assert any("MathJax error" in p for p in found), found
    assert any("undefined TeX macro" in p for p in found), found
    assert any("formulas not typeset" in p for p in found), found
    assert any(p.startswith("raw TeX shown") for p in found), found
    assert any("image not loaded: ../_images/no-such-image.png" in p for p in found), found
    assert any(p.startswith("file not loaded:") and p.endswith("/_images/no-such-image.png")
               for p in found), found


def widget_states(notebook):
    nb = json.loads((ROOT / notebook).read_text(encoding="utf-8"))
    return nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]


def test_chapter_07_widget_shows_its_saved_state_and_says_it_needs_jupyterlab(book):
    tab, state = load(book, "notebooks/07_gru_wine_mixing.html")
    tab.wait_for_selector(".widget-slider", state="attached")
    saved = widget_states("notebooks/07_gru_wine_mixing.ipynb").values()
    sliders = [s["state"] for s in saved if s["model_name"] == "FloatSliderModel"]
    assert len(sliders) == 2
    shown = tab.evaluate("""() => [...document.querySelectorAll('.widget-slider')].map(w => ({
        label: w.querySelector('.widget-label').textContent.trim(),
        readout: w.querySelector('.widget-readout').textContent.trim()}))""")
    expected = [{"label": s["description"], "readout": f"{s['value']:{s['readout_format']}}"}
                for s in sliders]
    assert sorted(shown, key=str) == sorted(expected, key=str)
    # the interactive output's saved figure is shown inside the widget
    outputs = [s["state"] for s in saved if s["model_name"] == "OutputModel"]
    assert any(o["outputs"] for o in outputs)
    assert tab.locator(".widget-output img").count() >= 1
    assert tab.locator(".widget-output img").first.evaluate("i => i.naturalWidth > 0")
    # a line under the widget saying that moving it needs JupyterLab; under the progress bar,
    # that it is shown as saved
    notes = tab.locator("p.widget-note").all_inner_texts()
    assert len(notes) == 2 and "moving it needs JupyterLab" in notes[0], notes
    assert "progress bar, shown as it stood when the notebook was saved" in notes[1], notes
    # the progress bar in its final (saved) state: its bar and its text
    bars = [s["state"] for s in saved if s["model_name"] == "FloatProgressModel"]
    width = tab.evaluate("""() => [...document.querySelectorAll('.widget-hprogress .progress-bar')]
        .map(b => b.style.width)""")
    assert width == [f"{100 * b['value'] / b['max']:g}%" for b in bars]
    texts = [s["state"]["value"] for s in saved if s["model_name"] == "HTMLModel"]
    page_text = tab.locator("main").inner_text().replace("\u2007", " ")
    for text in texts:
        plain = re.sub(r"<[^>]+>", "", text).replace("&lt;", "<").replace("\u2007", " ").strip()
        assert plain in page_text
    tab.screenshot(path=SHOTS / "book_07_widget.png", full_page=False)
    assert problems(state, book[3]) == []


def test_details_open_and_close(book):
    tab, _ = load(book, "exercises/00_start_here.html")
    details = tab.locator("main details").first
    summary, hint = details.locator("summary"), details.locator("p").first
    assert details.evaluate("d => !d.open") and not hint.is_visible()
    summary.click()
    assert details.evaluate("d => d.open") and hint.is_visible()
    assert hint.locator("mjx-container").count() > 0      # the hint's formulas are typeset
    summary.click()
    assert details.evaluate("d => !d.open") and not hint.is_visible()


def search(tab, root, term):
    tab.goto(f"{root}search.html?q={quote(term)}")
    tab.wait_for_function(
        "() => /Search finished|did not match/.test(document.querySelector('#search-results')"
        "?.innerText || '')")
    hrefs = tab.eval_on_selector_all("#search-results ul.search li a",
                                     "els => els.map(a => a.getAttribute('href'))")
    return {unquote(h).split("#")[0].split("?")[0].removesuffix(".html") for h in hrefs}


def test_search_finds_a_term_in_three_chapters(book):
    tab, root, outside, _ = book
    found = search(tab, root, "Jacobian")
    chapters = {p for p in found if p.startswith("notebooks/")}
    for chapter in ("notebooks/04_bptt", "notebooks/05_gradient_pathologies",
                    "notebooks/06_lstm_gating"):
        assert chapter in chapters, f"search for Jacobian: {sorted(found)}"
    assert outside == []


def glossary_chinese_terms():
    text = (ROOT / "GLOSSARY.md").read_text(encoding="utf-8")
    terms = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.search(r"[\u4e00-\u9fff]", cells[1]):
            for term in re.split(r"\s*/\s*|[（）()]", cells[1]):
                if re.search(r"[\u4e00-\u9fff]", term):
                    terms.append(term.strip())
    return terms


def test_search_finds_chinese_glossary_terms_as_whole_words(book):
    tab, root, _, _ = book
    terms = glossary_chinese_terms()
    assert len(terms) > 50
    for term in ("循环神经网络", "随时间反向传播", "梯度消失"):
        assert term in terms
        assert "GLOSSARY" in search(tab, root, term), term
    # every Chinese term, through the same query splitting and index the search page uses
    missing = tab.evaluate("""(terms) => terms.filter(term => {
        const words = splitQuery(term.toLowerCase()).filter(w => w);
        const glossary = Search._index.docnames.indexOf('GLOSSARY');
        return !words.every(w => {
          const hits = Search._index.terms[w];
          return hits !== undefined && [].concat(hits).includes(glossary);
        });
      })""", terms)
    assert missing == [], f"Chinese glossary terms the search does not find: {missing}"
